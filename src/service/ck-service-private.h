/* ck-service-private.h: CkService's instance, shared by the files that
 * each implement one aspect of it, as GNOME Text Editor splits its large
 * types: ck-service.c (the core objects, the skeleton and the method
 * handlers), ck-service-status.c (the status dictionary, its expiry
 * timer and StatusChanged) and ck-service-gateway.c (the gateway and its
 * sessions). Not an API: nothing outside CkService includes it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "ck-access-control.h"
#include "ck-auto-import.h"
#include "ck-dbus-generated.h"
#include "ck-doctor.h"
#include "ck-fast-path.h"
#include "ck-gateway.h"
#include "ck-oauth-manager.h"
#include "ck-read-log.h"
#include "ck-service.h"

G_BEGIN_DECLS

struct _CkService
{
  GObject             parent_instance;

  GSettings          *settings;
  CkDBusCredentials1 *skeleton;
  CkAccessControl    *access;
  CkTokenStore       *store;
  CkHelperRunner     *helper;
  CkResolver         *resolver;
  CkDoctor           *doctor;
  CkOAuthManager     *oauth;
  CkReadLog          *read_log;
  CkFastPath         *fast_path;
  CkAutoImport       *auto_import;

  /* ck-service-status.c */
  GVariant           *last_status;
  guint               expiry_timer;

  /* ck-service-gateway.c */
  CkGateway          *gateway;            /* created on first use */
  gboolean            gateway_listening;
  int                 gateway_listener_fd; /* from systemd, until the store is read */
  GHashTable         *gateway_opened;     /* session id → what opened it */
  GHashTable         *gateway_revoked;    /* ids of closed persistent sessions
                                           * whose keyring item is not gone yet */
};

typedef void (*CkServiceCallerFunc) (CkService             *self,
                                     GDBusMethodInvocation *invocation,
                                     CkCaller              *caller);

/* ck-service.c: a method's handler runs @func once its caller is known
 * and allowed (as for GetCredential); errors cross the bus as CK_ERROR. */
gboolean _ck_service_with_caller  (CkService             *self,
                                   GDBusMethodInvocation *invocation,
                                   CkServiceCallerFunc    func);
void     _ck_service_return_error (GDBusMethodInvocation *invocation,
                                   GError                *error);

void _ck_service_update_status (CkService *self);

/* ck-service-status.c: accounts. The account a caller gets (a name or
 * id, NULL for the choice made before accounts: helper, key, login) and
 * why ("option", "rule" with @rule_dir, "default", "fallback"). */
char      *_ck_service_choose_account  (CkService   *self,
                                        const char  *named,
                                        const char  *cwd,
                                        const char **reason,
                                        char       **rule_dir);
CkAccount *_ck_service_default_account (CkService   *self);
GVariant  *_ck_service_dup_accounts    (CkService   *self);
void _ck_service_status_clear  (CkService *self);
void _ck_service_emit_to_permitted (CkService  *self,
                                    const char *signal_name,
                                    GVariant   *parameters);

void _ck_service_gateway_init       (CkService       *self);
void _ck_service_gateway_sync       (CkService       *self);
void _ck_service_gateway_add_status (CkService       *self,
                                     GVariantBuilder *builder);
void _ck_service_gateway_clear      (CkService       *self);

G_END_DECLS
