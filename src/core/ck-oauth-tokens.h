/* ck-oauth-tokens.h: an OAuth login as Claude Code stores it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define CK_TYPE_OAUTH_TOKENS (ck_oauth_tokens_get_type ())

/* The fields of Claude Code's "claudeAiOauth" object, plus the account and
 * organization the token endpoint and profile report. Members this code
 * does not know are kept in @extra so that import and export are lossless.
 * Reference counted; the last unref wipes the secrets.
 */
typedef struct
{
  char       *access_token;
  char       *refresh_token;
  gint64      expires_at_ms;      /* unix milliseconds, 0 = unknown */
  gboolean    expiry_assumed;     /* the server gave no usable expires_in */
  char      **scopes;
  char       *subscription_type;
  char       *rate_limit_tier;
  char       *account_uuid;
  char       *account_email;
  char       *organization_uuid;
  char       *organization_name;
  JsonObject *extra;
} CkOAuthTokens;

GType          ck_oauth_tokens_get_type                (void) G_GNUC_CONST;
CkOAuthTokens *ck_oauth_tokens_new                     (void);
CkOAuthTokens *ck_oauth_tokens_ref                     (CkOAuthTokens  *self);
void           ck_oauth_tokens_unref                   (CkOAuthTokens  *self);
CkOAuthTokens *ck_oauth_tokens_copy                    (const CkOAuthTokens *self);
CkOAuthTokens *ck_oauth_tokens_new_from_json           (const char     *json,
                                                        gssize          length,
                                                        GError        **error);
CkOAuthTokens *ck_oauth_tokens_new_from_credentials_file (const char   *contents,
                                                          gssize        length,
                                                          GError      **error);
CkOAuthTokens *ck_oauth_tokens_new_from_token_response (const char     *body,
                                                        gssize          length,
                                                        gint64          now_ms,
                                                        GError        **error);
/* Fills in what GET /api/oauth/profile reports (account, organization,
 * plan, rate limit tier); members it leaves out or empty keep their value.
 * On failure @self is unchanged. */
gboolean       ck_oauth_tokens_apply_profile           (CkOAuthTokens  *self,
                                                        const char     *body,
                                                        gssize          length,
                                                        GError        **error);
char          *ck_oauth_tokens_to_json                 (const CkOAuthTokens *self);
gboolean       ck_oauth_tokens_equal                   (const CkOAuthTokens *a,
                                                        const CkOAuthTokens *b);
void           ck_oauth_tokens_assume_lifetime         (CkOAuthTokens  *self,
                                                        gint64          now_ms);
gboolean       ck_oauth_tokens_valid_for               (const CkOAuthTokens *self,
                                                        gint64          now_ms,
                                                        guint           seconds);
char          *ck_oauth_tokens_dup_scopes_string       (const CkOAuthTokens *self);

/* The lifetime given to a token whose reply had no usable expires_in
 * but a refresh token: short enough that it is refreshed in time. */
#define CK_OAUTH_ASSUMED_LIFETIME_SEC 3600

/* The "error" member of an OAuth error reply (RFC 6749 §5.2), if it is
 * one of @known (NULL-terminated): then that entry of @known, so never
 * text from the server. */
const char    *ck_oauth_reply_find_error               (const char     *body,
                                                        gssize          length,
                                                        const char * const *known);

/* Overwrites a secret string with zeros and frees it. */
void           ck_secret_free                          (char           *secret);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CkOAuthTokens, ck_oauth_tokens_unref)

G_END_DECLS
