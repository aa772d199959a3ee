/* ck-oauth-client.h: the token, profile and revoke endpoints
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-oauth-tokens.h"

G_BEGIN_DECLS

#define CK_OAUTH_ERROR (ck_oauth_error_quark ())

/* Messages are one sentence with the endpoint's host and, where there is
 * one, the HTTP status; never a response body, a token or a code.
 */
typedef enum
{
  CK_OAUTH_ERROR_INVALID_GRANT, /* the code or refresh token was refused: log in again */
  CK_OAUTH_ERROR_HTTP,          /* any other HTTP error status, or an unsupported endpoint */
  CK_OAUTH_ERROR_MALFORMED,     /* a 2xx reply that is not what the endpoint promises */
  CK_OAUTH_ERROR_NETWORK,       /* no HTTP reply at all: DNS, connection, TLS */
  CK_OAUTH_ERROR_TIMEOUT,       /* no complete reply within CkOAuthClient:timeout */
} CkOAuthError;

#define CK_OAUTH_CLIENT_DEFAULT_TIMEOUT 30

#define CK_TYPE_OAUTH_CLIENT (ck_oauth_client_get_type ())

G_DECLARE_FINAL_TYPE (CkOAuthClient, ck_oauth_client, CK, OAUTH_CLIENT, GObject)

GQuark         ck_oauth_error_quark                  (void);
CkOAuthClient *ck_oauth_client_new                   (const char           *token_url,
                                                      const char           *revoke_url,
                                                      const char           *api_base_url,
                                                      const char           *client_id);
CkOAuthClient *ck_oauth_client_new_for_settings      (GSettings            *settings,
                                                      GError              **error);
const char    *ck_oauth_client_get_token_url         (CkOAuthClient        *self);
const char    *ck_oauth_client_get_revoke_url        (CkOAuthClient        *self);
const char    *ck_oauth_client_get_api_base_url      (CkOAuthClient        *self);
const char    *ck_oauth_client_get_client_id         (CkOAuthClient        *self);
guint          ck_oauth_client_get_timeout           (CkOAuthClient        *self);
void           ck_oauth_client_set_timeout           (CkOAuthClient        *self,
                                                      guint                 timeout);
void           ck_oauth_client_exchange_code_async   (CkOAuthClient        *self,
                                                      const char           *code,
                                                      const char           *verifier,
                                                      const char           *redirect_uri,
                                                      const char           *state,
                                                      GCancellable         *cancellable,
                                                      GAsyncReadyCallback   callback,
                                                      gpointer              user_data);
CkOAuthTokens *ck_oauth_client_exchange_code_finish  (CkOAuthClient        *self,
                                                      GAsyncResult         *result,
                                                      GError              **error);
void           ck_oauth_client_refresh_async         (CkOAuthClient        *self,
                                                      const char           *refresh_token,
                                                      GCancellable         *cancellable,
                                                      GAsyncReadyCallback   callback,
                                                      gpointer              user_data);
CkOAuthTokens *ck_oauth_client_refresh_finish        (CkOAuthClient        *self,
                                                      GAsyncResult         *result,
                                                      GError              **error);
void           ck_oauth_client_fetch_profile_async   (CkOAuthClient        *self,
                                                      const CkOAuthTokens  *tokens,
                                                      GCancellable         *cancellable,
                                                      GAsyncReadyCallback   callback,
                                                      gpointer              user_data);
CkOAuthTokens *ck_oauth_client_fetch_profile_finish  (CkOAuthClient        *self,
                                                      GAsyncResult         *result,
                                                      GError              **error);
void           ck_oauth_client_revoke_async          (CkOAuthClient        *self,
                                                      const char           *token,
                                                      GCancellable         *cancellable,
                                                      GAsyncReadyCallback   callback,
                                                      gpointer              user_data);
gboolean       ck_oauth_client_revoke_finish         (CkOAuthClient        *self,
                                                      GAsyncResult         *result,
                                                      GError              **error);

G_END_DECLS
