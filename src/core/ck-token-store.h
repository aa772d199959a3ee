/* ck-token-store.h: the credentials kept in the Secret Service
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-oauth-tokens.h"

G_BEGIN_DECLS

#define CK_SECRET_SCHEMA_NAME "io.github.claudekeyring.ClaudeKeyring.Credential"

typedef enum
{
  CK_KEYRING_STATE_UNKNOWN,      /* not read yet */
  CK_KEYRING_STATE_READY,
  CK_KEYRING_STATE_LOCKED,       /* our items, or the default collection, are locked */
  CK_KEYRING_STATE_UNAVAILABLE,  /* no Secret Service, or it does not answer */
} CkKeyringState;

/* One stored credential: an OAuth login or an API key, under a short name
 * the user chose (or the login's email, or "api-key"). @id is the item's
 * "account" attribute, unique across kinds once stored by this version. */
typedef struct
{
  char          *id;
  char          *name;
  char          *kind;       /* "oauth" or "api-key" */
  char          *api_key;    /* kind "api-key" */
  CkOAuthTokens *oauth;      /* kind "oauth" */
} CkAccount;

#define CK_TYPE_TOKEN_STORE (ck_token_store_get_type ())

G_DECLARE_FINAL_TYPE (CkTokenStore, ck_token_store, CK, TOKEN_STORE, GObject)

CkTokenStore   *ck_token_store_new                (void);
guint           ck_token_store_get_timeout        (CkTokenStore         *self);
void            ck_token_store_set_timeout        (CkTokenStore         *self,
                                                   guint                 msec);
guint           ck_token_store_get_generation     (CkTokenStore         *self);
gboolean        ck_token_store_is_loaded          (CkTokenStore         *self);
CkKeyringState  ck_token_store_get_state          (CkTokenStore         *self);
const char     *ck_token_store_get_state_message  (CkTokenStore         *self);
const char     *ck_token_store_get_api_key        (CkTokenStore         *self);
CkOAuthTokens  *ck_token_store_get_oauth          (CkTokenStore         *self);
GError         *ck_token_store_dup_state_error    (CkTokenStore         *self);

/* Accounts, sorted by name; the pointers stay valid until the next read. */
GPtrArray      *ck_token_store_get_accounts       (CkTokenStore         *self);
CkAccount      *ck_token_store_find_account       (CkTokenStore         *self,
                                                   const char           *name_or_id);
/* A name a user can type and read back: 1 to 64 bytes of UTF-8, no
 * space, control, format (bidi, zero width) characters or “/”. */
gboolean        ck_account_name_is_valid          (const char           *name);
/* The account chosen when nothing names one: as before accounts, a stored
 * API key, else the login (the latest expiry among several). */
CkAccount      *ck_token_store_get_fallback_account (CkTokenStore       *self);
CkOAuthTokens  *ck_token_store_get_oauth_for      (CkTokenStore         *self,
                                                   const char           *id);
/* Which account a login goes to: the one named @as_name, else the one of
 * the same account uuid or email, else a new one (its id and name are
 * returned). Fails when @as_name is an API key's name. */
gboolean        ck_token_store_pick_oauth_account (CkTokenStore         *self,
                                                   const CkOAuthTokens  *tokens,
                                                   const char           *as_name,
                                                   char                **id,
                                                   char                **name,
                                                   GError              **error);
void            ck_token_store_set_oauth_for_async  (CkTokenStore       *self,
                                                     const char         *id,
                                                     const char         *name,
                                                     CkOAuthTokens      *tokens,
                                                     GCancellable       *cancellable,
                                                     GAsyncReadyCallback callback,
                                                     gpointer            user_data);
/* @name NULL: "api-key". An API key account of that name gets the key. */
void            ck_token_store_set_api_key_as_async (CkTokenStore       *self,
                                                     const char         *name,
                                                     const char         *api_key,
                                                     GCancellable       *cancellable,
                                                     GAsyncReadyCallback callback,
                                                     gpointer            user_data);
void            ck_token_store_remove_account_async (CkTokenStore       *self,
                                                     const char         *id,
                                                     GCancellable       *cancellable,
                                                     GAsyncReadyCallback callback,
                                                     gpointer            user_data);
void            ck_token_store_rename_account_async (CkTokenStore       *self,
                                                     const char         *id,
                                                     const char         *name,
                                                     GCancellable       *cancellable,
                                                     GAsyncReadyCallback callback,
                                                     gpointer            user_data);
/* For every operation above. */
gboolean        ck_token_store_op_finish          (CkTokenStore         *self,
                                                   GAsyncResult         *result,
                                                   GError              **error);

void            ck_token_store_load_async         (CkTokenStore         *self,
                                                   GCancellable         *cancellable,
                                                   GAsyncReadyCallback   callback,
                                                   gpointer              user_data);
gboolean        ck_token_store_load_finish        (CkTokenStore         *self,
                                                   GAsyncResult         *result,
                                                   GError              **error);
void            ck_token_store_set_api_key_async  (CkTokenStore         *self,
                                                   const char           *api_key,
                                                   GCancellable         *cancellable,
                                                   GAsyncReadyCallback   callback,
                                                   gpointer              user_data);
gboolean        ck_token_store_set_api_key_finish (CkTokenStore         *self,
                                                   GAsyncResult         *result,
                                                   GError              **error);
void            ck_token_store_set_oauth_async    (CkTokenStore         *self,
                                                   CkOAuthTokens        *tokens,
                                                   GCancellable         *cancellable,
                                                   GAsyncReadyCallback   callback,
                                                   gpointer              user_data);
gboolean        ck_token_store_set_oauth_finish   (CkTokenStore         *self,
                                                   GAsyncResult         *result,
                                                   GError              **error);
void            ck_token_store_clear_async        (CkTokenStore         *self,
                                                   const char           *kind,
                                                   GCancellable         *cancellable,
                                                   GAsyncReadyCallback   callback,
                                                   gpointer              user_data);
gboolean        ck_token_store_clear_finish       (CkTokenStore         *self,
                                                   GAsyncResult         *result,
                                                   GError              **error);

/* The gateway's persistent sessions (kind "gateway", one item each, the
 * session id as "account"): id → the secret stored for it. A clear of
 * every kind (logout) leaves them. */
GHashTable     *ck_token_store_get_gateway_sessions          (CkTokenStore         *self);
void            ck_token_store_set_gateway_session_async     (CkTokenStore         *self,
                                                              const char           *id,
                                                              const char           *label,
                                                              const char           *secret,
                                                              GCancellable         *cancellable,
                                                              GAsyncReadyCallback   callback,
                                                              gpointer              user_data);
gboolean        ck_token_store_set_gateway_session_finish    (CkTokenStore         *self,
                                                              GAsyncResult         *result,
                                                              GError              **error);
void            ck_token_store_remove_gateway_session_async  (CkTokenStore         *self,
                                                              const char           *id,
                                                              GCancellable         *cancellable,
                                                              GAsyncReadyCallback   callback,
                                                              gpointer              user_data);
gboolean        ck_token_store_remove_gateway_session_finish (CkTokenStore         *self,
                                                              GAsyncResult         *result,
                                                              GError              **error);

G_END_DECLS
