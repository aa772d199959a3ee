/* ck-resolver.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Claude Code's order: ANTHROPIC_API_KEY in the caller's environment, then
 * the API key helper, then a stored API key, then the OAuth login. Most
 * answers come from memory (ck_resolver_resolve_now); only the helper, a
 * first read of the keyring and a refresh need to wait.
 */

#define G_LOG_DOMAIN "ck-resolver"

#include "config.h"

#include "ck-error.h"
#include "ck-pkce.h"
#include "ck-resolver.h"

struct _CkResolver
{
  GObject         parent_instance;

  CkTokenStore   *store;
  CkHelperRunner *helper;
  CkOAuthSource  *oauth;
  /* An access token the API refused (ck_resolver_invalidate): never
   * served from memory again, whatever its expiry says. */
  char           *rejected;
};

G_DEFINE_FINAL_TYPE (CkResolver, ck_resolver, G_TYPE_OBJECT)

typedef struct
{
  char             *account;
  char             *env_api_key;
  CkCredentialKind  kind;
  guint             min_validity;
  gboolean          loaded_once;
} Request;

static void
request_free (Request *request)
{
  ck_secret_free (request->env_api_key);
  g_free (request->account);
  g_free (request);
}

static CkCredential *
credential_from_tokens (const CkOAuthTokens *tokens)
{
  return ck_credential_new (CK_CREDENTIAL_KIND_OAUTH, tokens->access_token,
                            tokens->expires_at_ms / 1000, "oauth",
                            tokens->account_email);
}

static GError *
nothing_stored_error (CkResolver       *self,
                      CkCredentialKind  kind)
{
  GError *state_error = ck_token_store_dup_state_error (self->store);

  if (state_error != NULL)
    return state_error;

  switch (kind)
    {
    case CK_CREDENTIAL_KIND_API_KEY:
      return g_error_new_literal (CK_ERROR, CK_ERROR_NOT_LOGGED_IN,
                                  "No API key is stored; run “claude-keyring set-api-key”.");
    case CK_CREDENTIAL_KIND_OAUTH:
      return g_error_new_literal (CK_ERROR, CK_ERROR_NOT_LOGGED_IN,
                                  "Not logged in; run “claude-keyring login”.");
    case CK_CREDENTIAL_KIND_ANY:
    default:
      return g_error_new_literal (CK_ERROR, CK_ERROR_NOT_LOGGED_IN,
                                  "No credentials are stored; run “claude-keyring login” "
                                  "or “claude-keyring set-api-key”.");
    }
}

gboolean
ck_resolver_resolve_now (CkResolver        *self,
                         const char        *env_api_key,
                         CkCredentialKind   kind,
                         guint              min_validity,
                         CkCredential     **credential,
                         GError           **error)
{
  return ck_resolver_resolve_for_now (self, NULL, env_api_key, kind, min_validity,
                                      credential, error);
}

static gboolean
resolve_account_now (CkResolver        *self,
                     const char        *id,
                     CkCredentialKind   kind,
                     guint              min_validity,
                     CkCredential     **credential,
                     GError           **error)
{
  CkAccount *account = ck_token_store_find_account (self->store, id);
  GError *state_error;

  if (account == NULL && (state_error = ck_token_store_dup_state_error (self->store)) != NULL)
    {
      g_propagate_error (error, state_error);
      return TRUE;
    }
  if (account == NULL)
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "There is no account “%s”; see “claude-keyring accounts”.", id);
      return TRUE;
    }
  if ((account->api_key != NULL && kind == CK_CREDENTIAL_KIND_OAUTH) ||
      (account->oauth != NULL && kind == CK_CREDENTIAL_KIND_API_KEY))
    {
      g_set_error (error, CK_ERROR, CK_ERROR_NOT_LOGGED_IN,
                   "The account “%s” holds %s; ask for it without a kind, or choose another account.",
                   account->name, account->api_key != NULL ? "an API key" : "a login");
      return TRUE;
    }
  if (account->api_key != NULL)
    {
      *credential = ck_credential_new (CK_CREDENTIAL_KIND_API_KEY, account->api_key, 0,
                                       "keyring", NULL);
      return TRUE;
    }
  if (!ck_oauth_tokens_valid_for (account->oauth, g_get_real_time () / 1000, min_validity) ||
      ck_pkce_state_equal (account->oauth->access_token, self->rejected))
    return FALSE;
  *credential = credential_from_tokens (account->oauth);
  return TRUE;
}

gboolean
ck_resolver_resolve_for_now (CkResolver        *self,
                             const char        *account,
                             const char        *env_api_key,
                             CkCredentialKind   kind,
                             guint              min_validity,
                             CkCredential     **credential,
                             GError           **error)
{
  gboolean want_key = kind != CK_CREDENTIAL_KIND_OAUTH;
  gboolean want_oauth = kind != CK_CREDENTIAL_KIND_API_KEY;
  CkOAuthTokens *tokens;

  g_return_val_if_fail (CK_IS_RESOLVER (self), FALSE);
  g_return_val_if_fail (credential != NULL && *credential == NULL, FALSE);

  if (want_key && env_api_key != NULL && env_api_key[0] != '\0')
    {
      *credential = ck_credential_new (CK_CREDENTIAL_KIND_API_KEY, env_api_key, 0,
                                       "environment", NULL);
      return TRUE;
    }

  if (account == NULL && want_key && ck_helper_runner_is_configured (self->helper))
    return FALSE;

  if (!ck_token_store_is_loaded (self->store))
    return FALSE;

  if (account != NULL)
    return resolve_account_now (self, account, kind, min_validity, credential, error);

  if (want_key && ck_token_store_get_api_key (self->store) != NULL)
    {
      *credential = ck_credential_new (CK_CREDENTIAL_KIND_API_KEY,
                                       ck_token_store_get_api_key (self->store),
                                       0, "keyring", NULL);
      return TRUE;
    }

  tokens = ck_token_store_get_oauth (self->store);
  if (want_oauth && tokens != NULL)
    {
      gint64 now_ms = g_get_real_time () / 1000;

      if (!ck_oauth_tokens_valid_for (tokens, now_ms, min_validity) ||
          ck_pkce_state_equal (tokens->access_token, self->rejected))
        return FALSE;
      *credential = credential_from_tokens (tokens);
      return TRUE;
    }

  g_propagate_error (error, nothing_stored_error (self, kind));
  return TRUE;
}

static void resolve (GTask *task);

static void
on_tokens (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(CkOAuthTokens) tokens = NULL;
  GError *error = NULL;

  tokens = ck_oauth_source_get_tokens_finish (CK_OAUTH_SOURCE (object), result, &error);
  if (tokens == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, credential_from_tokens (tokens),
                           (GDestroyNotify) ck_credential_free);
}

static void
on_helper_key (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  char *key;

  key = ck_helper_runner_get_key_finish (CK_HELPER_RUNNER (object), result, &error);
  if (key == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task,
                         ck_credential_new (CK_CREDENTIAL_KIND_API_KEY, key, 0, "helper", NULL),
                         (GDestroyNotify) ck_credential_free);
  ck_secret_free (key);
}

static void
on_loaded (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  /* A failed read leaves the store's state saying why; resolve reports it. */
  if (!ck_token_store_load_finish (CK_TOKEN_STORE (object), result, &error))
    {
      if (g_error_matches (error, CK_ERROR, CK_ERROR_CANCELLED))
        {
          g_task_return_error (task, error);
          return;
        }
      g_error_free (error);
    }
  resolve (g_steal_pointer (&task));
}

static void
resolve (GTask *task)
{
  CkResolver *self = g_task_get_source_object (task);
  Request *request = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  CkCredential *credential = NULL;
  GError *error = NULL;

  if (ck_resolver_resolve_for_now (self, request->account, request->env_api_key, request->kind,
                                   request->min_validity, &credential, &error))
    {
      if (error != NULL)
        g_task_return_error (task, error);
      else
        g_task_return_pointer (task, credential, (GDestroyNotify) ck_credential_free);
      g_object_unref (task);
      return;
    }

  if (request->account == NULL && request->kind != CK_CREDENTIAL_KIND_OAUTH &&
      ck_helper_runner_is_configured (self->helper))
    {
      ck_helper_runner_get_key_async (self->helper, cancellable, on_helper_key, task);
      return;
    }

  if (!ck_token_store_is_loaded (self->store) && !request->loaded_once)
    {
      request->loaded_once = TRUE;
      ck_token_store_load_async (self->store, cancellable, on_loaded, task);
      return;
    }

  if (request->account != NULL && self->oauth != NULL)
    {
      CkAccount *account = ck_token_store_find_account (self->store, request->account);
      CkOAuthSource *source = account != NULL && account->oauth != NULL
                              ? ck_oauth_source_for_account (self->oauth, account->id) : NULL;

      if (source != NULL)
        {
          ck_oauth_source_get_tokens_async (source, request->min_validity, cancellable,
                                            on_tokens, task);
          return;
        }
    }

  if (request->account == NULL && self->oauth != NULL && ck_token_store_get_oauth (self->store) != NULL)
    {
      ck_oauth_source_get_tokens_async (self->oauth, request->min_validity,
                                        cancellable, on_tokens, task);
      return;
    }

  if (ck_token_store_get_oauth (self->store) != NULL)
    g_task_return_new_error (task, CK_ERROR, CK_ERROR_REFRESH_FAILED,
                             "The login has expired; run “claude-keyring login”.");
  else
    g_task_return_error (task, nothing_stored_error (self, request->kind));
  g_object_unref (task);
}

void
ck_resolver_get_credential_async (CkResolver          *self,
                                  const char          *env_api_key,
                                  CkCredentialKind     kind,
                                  guint                min_validity,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  ck_resolver_get_credential_for_async (self, NULL, env_api_key, kind, min_validity,
                                        cancellable, callback, user_data);
}

void
ck_resolver_get_credential_for_async (CkResolver          *self,
                                      const char          *account,
                                      const char          *env_api_key,
                                      CkCredentialKind     kind,
                                      guint                min_validity,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  GTask *task;
  Request *request;

  g_return_if_fail (CK_IS_RESOLVER (self));

  request = g_new0 (Request, 1);
  request->account = g_strdup (account);
  request->env_api_key = g_strdup (env_api_key);
  request->kind = kind;
  request->min_validity = min_validity;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ck_resolver_get_credential_async);
  g_task_set_task_data (task, request, (GDestroyNotify) request_free);
  resolve (task);
}

CkCredential *
ck_resolver_get_credential_finish (CkResolver    *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * ck_resolver_invalidate:
 * @self: a #CkResolver
 * @token: a credential the API answered 401 to
 *
 * When @token is the current OAuth access token, the next request for a
 * credential refreshes the login first (once, for every caller waiting),
 * whatever its expiry says. A token that is no longer current, or an API
 * key, changes nothing: the stored credentials are never dropped here.
 */
void
ck_resolver_invalidate (CkResolver *self,
                        const char *token)
{
  GPtrArray *accounts;

  g_return_if_fail (CK_IS_RESOLVER (self));
  g_return_if_fail (token != NULL);

  /* Whichever account's current token it is. */
  accounts = ck_token_store_get_accounts (self->store);
  for (guint i = 0; i < accounts->len; i++)
    {
      CkAccount *account = g_ptr_array_index (accounts, i);
      CkOAuthSource *source;

      if (account->oauth == NULL || !ck_pkce_state_equal (account->oauth->access_token, token))
        continue;

      g_debug ("The API refused the current access token; refreshing before the next use");
      g_clear_pointer (&self->rejected, ck_secret_free);
      self->rejected = g_strdup (token);
      if (self->oauth != NULL && (source = ck_oauth_source_for_account (self->oauth, account->id)) != NULL)
        ck_oauth_source_invalidate_token (source, token);
      return;
    }
}

void
ck_resolver_set_oauth_source (CkResolver    *self,
                              CkOAuthSource *source)
{
  g_return_if_fail (CK_IS_RESOLVER (self));

  g_set_object (&self->oauth, source);
}

CkResolver *
ck_resolver_new (CkTokenStore   *store,
                 CkHelperRunner *helper)
{
  CkResolver *self;

  g_return_val_if_fail (CK_IS_TOKEN_STORE (store), NULL);
  g_return_val_if_fail (CK_IS_HELPER_RUNNER (helper), NULL);

  self = g_object_new (CK_TYPE_RESOLVER, NULL);
  self->store = g_object_ref (store);
  self->helper = g_object_ref (helper);
  return self;
}

static void
ck_resolver_dispose (GObject *object)
{
  CkResolver *self = (CkResolver *) object;

  g_clear_object (&self->store);
  g_clear_object (&self->helper);
  g_clear_object (&self->oauth);

  G_OBJECT_CLASS (ck_resolver_parent_class)->dispose (object);
}

static void
ck_resolver_finalize (GObject *object)
{
  CkResolver *self = (CkResolver *) object;

  g_clear_pointer (&self->rejected, ck_secret_free);

  G_OBJECT_CLASS (ck_resolver_parent_class)->finalize (object);
}

static void
ck_resolver_class_init (CkResolverClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = ck_resolver_dispose;
  G_OBJECT_CLASS (klass)->finalize = ck_resolver_finalize;
}

static void
ck_resolver_init (CkResolver *self)
{
}
