/* ck-access-control.h: who may read credentials
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* What the bus and /proc tell about the process behind one connection. */
typedef struct
{
  char       *sender;
  guint32     uid;
  guint32     pid;
  gboolean    sandboxed;
  const char *sandbox;  /* which kind of sandbox, for the log; NULL when not */
  char       *app_id;   /* Flatpak application ID or snap profile, or NULL */
  char       *exe;      /* executable path, or NULL when unknown */
} CkCaller;

CkCaller *ck_caller_ref   (CkCaller *caller);
void      ck_caller_unref (CkCaller *caller);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CkCaller, ck_caller_unref)

#define CK_TYPE_ACCESS_CONTROL (ck_access_control_get_type ())

G_DECLARE_FINAL_TYPE (CkAccessControl, ck_access_control, CK, ACCESS_CONTROL, GObject)

CkAccessControl *ck_access_control_new                 (GDBusConnection      *connection);
gboolean         ck_access_control_get_allow_sandboxed (CkAccessControl      *self);
void             ck_access_control_set_allow_sandboxed (CkAccessControl      *self,
                                                        gboolean              allow);
CkCaller        *ck_access_control_dup_caller          (CkAccessControl      *self,
                                                        const char           *sender);
void             ck_access_control_identify_async      (CkAccessControl      *self,
                                                        const char           *sender,
                                                        GCancellable         *cancellable,
                                                        GAsyncReadyCallback   callback,
                                                        gpointer              user_data);
CkCaller        *ck_access_control_identify_finish     (CkAccessControl      *self,
                                                        GAsyncResult         *result,
                                                        GError              **error);
gboolean         ck_access_control_permits             (CkAccessControl      *self,
                                                        const CkCaller       *caller);
GStrv            ck_access_control_dup_permitted       (CkAccessControl      *self);
gboolean         ck_access_control_allows              (CkAccessControl      *self,
                                                        const CkCaller       *caller,
                                                        GError              **error);

/* The parts of identifying a caller that the tests drive directly. */
int              ck_pidfd_get_pid                      (int                   pidfd);
gboolean         ck_pidfd_is_alive                     (int                   pidfd);
char            *ck_apparmor_label_get_snap            (const char           *label);

G_END_DECLS
