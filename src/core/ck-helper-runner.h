/* ck-helper-runner.h: runs the API key helper command
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The most a helper may print, in bytes, before it is killed. */
#define CK_HELPER_OUTPUT_MAX (64 * 1024)

#define CK_TYPE_HELPER_RUNNER (ck_helper_runner_get_type ())

/* Runs the configured API key helper (`/bin/sh -c COMMAND`, stdin
 * /dev/null, stderr discarded, CLAUDE_KEYRING_HELPER=1, its own process
 * group, under a reaper that adopts its orphans) and caches its key for
 * "ttl" seconds. Callers that arrive while a run is in flight share it. A
 * run is killed, with everything it started, when it exceeds "timeout"
 * milliseconds (0: no limit) or CK_HELPER_OUTPUT_MAX bytes, when every
 * caller waiting for it has cancelled, or on dispose. When the helper
 * exits, whatever it left running is killed too, in its group or not, and
 * its output counts at once (at most a short grace period later, should
 * something outside it still hold its stdout).
 *
 * Use it from one thread. Errors are CK_ERROR_HELPER_FAILED, or
 * G_IO_ERROR_CANCELLED for a cancelled caller; keys returned by
 * ck_helper_runner_get_key_finish() and ck_helper_output_parse() are freed
 * with ck_secret_free().
 */

G_DECLARE_FINAL_TYPE (CkHelperRunner, ck_helper_runner, CK, HELPER_RUNNER, GObject)

CkHelperRunner *ck_helper_runner_new            (void);
const char     *ck_helper_runner_get_command    (CkHelperRunner       *self);
void            ck_helper_runner_set_command    (CkHelperRunner       *self,
                                                 const char           *command);
guint           ck_helper_runner_get_ttl        (CkHelperRunner       *self);
void            ck_helper_runner_set_ttl        (CkHelperRunner       *self,
                                                 guint                 seconds);
guint           ck_helper_runner_get_timeout    (CkHelperRunner       *self);
void            ck_helper_runner_set_timeout    (CkHelperRunner       *self,
                                                 guint                 msec);
gboolean        ck_helper_runner_is_configured  (CkHelperRunner       *self);
void            ck_helper_runner_invalidate     (CkHelperRunner       *self);
void            ck_helper_runner_get_key_async  (CkHelperRunner       *self,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
char           *ck_helper_runner_get_key_finish (CkHelperRunner       *self,
                                                 GAsyncResult         *result,
                                                 GError              **error);

/* Trims @output and checks that it is one line of printable ASCII. */
gboolean        ck_helper_output_parse          (const char           *output,
                                                 gsize                 length,
                                                 char                **key,
                                                 GError              **error);

G_END_DECLS
