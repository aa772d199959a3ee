/* ck-gateway.h: the loopback gateway that puts the credential on claude's
 * requests, so that claude holds only a local, per-session token
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-credential.h"
#include "ck-resolver.h"

G_BEGIN_DECLS

/* One client's capability: a random token that the gateway accepts in
 * place of a credential, for as long as the session lives. Reference
 * counted and thread-safe to read; the token is wiped when the last
 * reference goes. */
typedef struct _CkGatewaySession CkGatewaySession;

#define CK_TYPE_GATEWAY_SESSION (ck_gateway_session_get_type ())

GType             ck_gateway_session_get_type     (void) G_GNUC_CONST;
/* @kind: what the client is told it holds (API_KEY or OAUTH); the
 * gateway serves the resolver's credential whatever it is.
 * @upstream: the API base URL for this session, or NULL for the
 * api-base-url setting (an ANTHROPIC_BASE_URL of the caller). */
CkGatewaySession *ck_gateway_session_new          (CkCredentialKind  kind,
                                                   const char       *upstream);
/* Restores a stored (persistent) session: the same id and token. */
CkGatewaySession *ck_gateway_session_new_full     (const char       *id,
                                                   const char       *token,
                                                   CkCredentialKind  kind,
                                                   const char       *upstream,
                                                   gint64            created);
void              ck_gateway_session_set_account  (CkGatewaySession *self,
                                                   const char       *account);
const char       *ck_gateway_session_get_account  (CkGatewaySession *self); /* NULL: the default */
CkGatewaySession *ck_gateway_session_ref          (CkGatewaySession *self);
void              ck_gateway_session_unref        (CkGatewaySession *self);
const char       *ck_gateway_session_get_id       (CkGatewaySession *self);
/* The secret: 32 bytes from the CSPRNG, base64url without padding. */
const char       *ck_gateway_session_get_token    (CkGatewaySession *self);
CkCredentialKind  ck_gateway_session_get_kind     (CkGatewaySession *self);
const char       *ck_gateway_session_get_upstream (CkGatewaySession *self);
gint64            ck_gateway_session_get_created  (CkGatewaySession *self); /* unix s */
guint64           ck_gateway_session_get_requests (CkGatewaySession *self);
guint64           ck_gateway_session_get_bytes    (CkGatewaySession *self); /* response bytes */
/* SHA-256 of the token, lowercase hex: lets a client that holds a token
 * find its session without the token being shown. */
const char       *ck_gateway_session_get_digest   (CkGatewaySession *self);
/* A remote session (`claude-keyring ssh`) is served only on its own Unix
 * socket (ck_gateway_listen_session()), never on the TCP port. @remote
 * names the destination, for display; set before the session is added. */
void              ck_gateway_session_set_remote   (CkGatewaySession *self,
                                                   const char       *remote);
const char       *ck_gateway_session_get_remote   (CkGatewaySession *self); /* NULL: local */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CkGatewaySession, ck_gateway_session_unref)

#define CK_TYPE_GATEWAY (ck_gateway_get_type ())

G_DECLARE_FINAL_TYPE (CkGateway, ck_gateway, CK, GATEWAY, GObject)

/* Reads gateway-port, api-base-url (ck_config_dup_endpoint) and
 * http-timeout from @settings. */
CkGateway  *ck_gateway_new             (GSettings         *settings,
                                        CkResolver        *resolver);
/* Listens on 127.0.0.1 and ::1 (the port of gateway-port, 0 = any free
 * one, the same for both); idempotent. @listener_fd, when >= 0, is a
 * listening socket handed over by systemd (claude-keyring-gateway.socket)
 * and used instead. */
gboolean    ck_gateway_start           (CkGateway         *self,
                                        int                listener_fd,
                                        GError           **error);
void        ck_gateway_stop            (CkGateway         *self);
guint16     ck_gateway_get_port        (CkGateway         *self);
/* "http://127.0.0.1:PORT", what ANTHROPIC_BASE_URL is set to. */
char       *ck_gateway_dup_url         (CkGateway         *self);
/* Seconds the upstream may take to begin its answer once the request is
 * sent (connecting is bounded by http-timeout); then 504. Default 600. */
void        ck_gateway_set_response_timeout (CkGateway    *self,
                                             guint         seconds);
void        ck_gateway_add_session     (CkGateway         *self,
                                        CkGatewaySession  *session);
/* FALSE when no session has that id. A removed session's token is
 * refused from the next request on; requests in flight finish. */
gboolean    ck_gateway_remove_session  (CkGateway         *self,
                                        const char        *id);
CkGatewaySession *ck_gateway_lookup_session (CkGateway   *self,
                                             const char  *id);
/* Every session, oldest first (a new array of new references). */
GPtrArray  *ck_gateway_dup_sessions    (CkGateway         *self);
/* Listens for the remote session @id alone on
 * $XDG_RUNTIME_DIR/claude-keyring/gateway-ID.sock (directory 0700,
 * socket 0600): a socket left there is replaced, anything else refused;
 * a socket the session had is closed first. Needs the gateway started.
 * Returns the path. */
char       *ck_gateway_listen_session  (CkGateway         *self,
                                        const char        *id,
                                        GError           **error);
/* Closes and removes that socket (the connections it accepted stay);
 * removing a session does too. */
void        ck_gateway_unlisten_session (CkGateway        *self,
                                         const char       *id);
/* The path while the session's socket listens, else NULL. */
const char *ck_gateway_get_session_socket (CkGateway      *self,
                                           const char     *id);

/* Signal "session-request" (CkGatewaySession *session): emitted on the
 * main thread once per request a session made, after it was answered,
 * for the read audit and the status. */

G_END_DECLS
