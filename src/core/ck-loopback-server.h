/* ck-loopback-server.h: the redirect target of a browser login
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <sys/types.h>

#include <gio/gio.h>

G_BEGIN_DECLS

#define CK_LOOPBACK_ERROR (ck_loopback_error_quark ())

/* Why ck_loopback_parse_callback() refused a request. Only
 * %CK_LOOPBACK_ERROR_DECLINED ends a login; the others get an error page
 * and the server keeps waiting.
 */
typedef enum
{
  CK_LOOPBACK_ERROR_NOT_FOUND,       /* not the callback path */
  CK_LOOPBACK_ERROR_STATE_MISMATCH,  /* state missing or not this login's */
  CK_LOOPBACK_ERROR_MALFORMED,       /* no code, repeated or undecodable parameters */
  CK_LOOPBACK_ERROR_DECLINED,        /* an OAuth error for this login, e.g. access_denied */
} CkLoopbackError;

#define CK_LOOPBACK_CALLBACK_PATH "/callback"
/* Redirects the user's own browser to the authorize URL, which therefore
 * never appears on a command line that other users can read.
 */
#define CK_LOOPBACK_START_PATH    "/start"

#define CK_TYPE_LOOPBACK_SERVER (ck_loopback_server_get_type ())

G_DECLARE_FINAL_TYPE (CkLoopbackServer, ck_loopback_server, CK, LOOPBACK_SERVER, GObject)

GQuark            ck_loopback_error_quark              (void);
gboolean          ck_loopback_parse_callback           (const char           *path,
                                                        const char           *query,
                                                        const char           *expected_state,
                                                        char                **code,
                                                        GError              **error);
char             *ck_loopback_dup_start_uri            (const char           *authorize_url);
/* Whether the peer of a loopback TCP connection runs as this process's
 * user (its uid in @uid, -1 when unknown). */
gboolean          ck_loopback_peer_is_us               (GSocketAddress       *local,
                                                        GSocketAddress       *remote,
                                                        uid_t                *uid);
gboolean          ck_loopback_peer_uid_from_proc_net   (const char           *table,
                                                        GInetSocketAddress   *local,
                                                        GInetSocketAddress   *remote,
                                                        uid_t                *uid);
/* Whether the socket listening on @server (a loopback address that a
 * client connected to) is this process's user's (its uid in @uid, -1
 * when unknown). */
gboolean          ck_loopback_listener_is_us           (GInetSocketAddress   *server,
                                                        uid_t                *uid);
gboolean          ck_loopback_listener_from_proc_net   (const char           *tcp,
                                                        const char           *tcp6,
                                                        GInetSocketAddress   *server,
                                                        uid_t                *uid);
/* Of @connections (GIOStreams, each marked by g_object_set_data() under
 * @key with whether it is our user's), how many are open of @own's kind;
 * forgets those seen closed. */
guint             ck_loopback_count_open               (GPtrArray            *connections,
                                                        const char           *key,
                                                        gboolean              own);
CkLoopbackServer *ck_loopback_server_new               (const char           *expected_state,
                                                        GError              **error);
guint             ck_loopback_server_get_port          (CkLoopbackServer     *self);
char             *ck_loopback_server_dup_redirect_uri  (CkLoopbackServer     *self);
void              ck_loopback_server_set_authorize_url (CkLoopbackServer     *self,
                                                        const char           *authorize_url);
void              ck_loopback_server_wait_async        (CkLoopbackServer     *self,
                                                        guint                 timeout_seconds,
                                                        GCancellable         *cancellable,
                                                        GAsyncReadyCallback   callback,
                                                        gpointer              user_data);
char             *ck_loopback_server_wait_finish       (CkLoopbackServer     *self,
                                                        GAsyncResult         *result,
                                                        GError              **error);

G_END_DECLS
