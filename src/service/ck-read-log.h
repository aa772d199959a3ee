/* ck-read-log.h: who read a credential, for the status window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib-object.h>

#include "ck-access-control.h"

G_BEGIN_DECLS

/* The most recent reads kept; the count covers them all. */
#define CK_READ_LOG_MAX_READS 50

/* One credential read: never the token. */
typedef struct
{
  gint64  time;       /* unix microseconds */
  guint32 pid;
  char   *exe;
  char   *source;
} CkRead;

#define CK_TYPE_READ_LOG (ck_read_log_get_type ())

G_DECLARE_FINAL_TYPE (CkReadLog, ck_read_log, CK, READ_LOG, GObject)

CkReadLog *ck_read_log_new       (void);
void       ck_read_log_record    (CkReadLog      *self,
                                  const CkCaller *caller,
                                  const char     *source,
                                  gboolean        in_bus_thread);
GPtrArray *ck_read_log_dup_reads (CkReadLog      *self);
guint      ck_read_log_get_count (CkReadLog      *self);

G_END_DECLS
