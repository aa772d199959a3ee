/* ck-oauth-manager.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Refresh is single-flight: every caller that needs a fresher token while
 * a refresh is under way waits for that one request. The rotated tokens
 * are written to the keyring before anyone sees the new access token; if
 * the keyring refuses them they are kept in memory (the old refresh token
 * is spent) and saved on the next request, and callers get RefreshFailed.
 * A failed request leaves the stored tokens as they were.
 *
 * A login attempt is a CkLoginFlow of its own; the manager holds at most
 * one, saves what it brings, and ends the attempt by dropping it.
 *
 * Each account refreshes on its own: the manager the service holds keeps
 * one child manager per OAuth account (its "account" set), and a child's
 * refresh, waiters, failures and back-off are its account's alone. The
 * parent logs in, imports and logs out, and as a CkOAuthSource serves the
 * account chosen when none is named, through that account's child.
 */

#define G_LOG_DOMAIN "ck-oauth-manager"

#include "config.h"

#include <string.h>

#include "ck-error.h"
#include "ck-loopback-server.h"
#include "ck-oauth-client.h"
#include "ck-oauth-manager.h"
#include "ck-pkce.h"

#define MIN_BACKGROUND_INTERVAL_SEC 30
#define MAX_BACKOFF_SEC             (15 * 60)
#define LOGOUT_TIMEOUT_SEC          5

struct _CkOAuthManager
{
  GObject           parent_instance;

  GSettings        *settings;
  CkTokenStore     *store;
  guint             generation;
  char             *account;         /* a child's account id; NULL: the parent */
  GHashTable       *children;        /* the parent's: account id → child */
  char             *login_as;        /* the name the login in progress is for */

  /* Refresh */
  GPtrArray        *waiters;
  gboolean          refreshing;
  CkOAuthTokens    *unsaved;
  gint64            last_refresh;
  char             *last_refresh_error;
  guint             refresh_count;
  char             *rejected;        /* an access token the API refused */
  guint             failures;
  guint             background_id;
  gint64            last_background;

  /* The login attempt in progress, if any */
  CkLoginFlow      *login;
};

static void ck_oauth_manager_source_init (CkOAuthSourceInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (CkOAuthManager, ck_oauth_manager, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (CK_TYPE_OAUTH_SOURCE,
                                                      ck_oauth_manager_source_init))

enum {
  PROP_0,
  PROP_LOGIN_PENDING,
  PROP_REFRESHING,
  N_PROPS
};

enum {
  LOGIN_FINISHED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void schedule_background (CkOAuthManager *self);
static void ck_oauth_manager_get_tokens_async (CkOAuthSource       *source,
                                               guint                min_validity,
                                               GCancellable        *cancellable,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

/* The account's tokens; the parent's are the ones chosen by default. */
static CkOAuthTokens *
tokens_of (CkOAuthManager *self)
{
  return ck_token_store_get_oauth_for (self->store, self->account);
}

static const char *
default_oauth_id (CkOAuthManager *self)
{
  CkOAuthTokens *tokens = ck_token_store_get_oauth (self->store);
  GPtrArray *accounts = ck_token_store_get_accounts (self->store);

  for (guint i = 0; tokens != NULL && i < accounts->len; i++)
    {
      CkAccount *account = g_ptr_array_index (accounts, i);

      if (account->oauth == tokens)
        return account->id;
    }
  return NULL;
}

static void
on_child_refreshing (CkOAuthManager *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REFRESHING]);
}

static CkOAuthManager *
child_for (CkOAuthManager *self,
           const char     *id)
{
  CkOAuthManager *child;

  g_assert (self->account == NULL);

  if ((child = g_hash_table_lookup (self->children, id)) != NULL)
    return child;
  child = ck_oauth_manager_new (self->settings, self->store);
  child->account = g_strdup (id);
  g_signal_connect_object (child, "notify::refreshing", G_CALLBACK (on_child_refreshing), self,
                           G_CONNECT_SWAPPED);
  g_hash_table_insert (self->children, g_strdup (id), child);
  return child;
}

/* Refresh */

static void
set_refreshing (CkOAuthManager *self,
                gboolean        refreshing)
{
  if (self->refreshing != refreshing)
    {
      self->refreshing = refreshing;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REFRESHING]);
    }
}

static void
complete_waiters (CkOAuthManager *self,
                  CkOAuthTokens  *tokens,
                  const GError   *error)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->waiters);

  self->waiters = g_ptr_array_new ();
  set_refreshing (self, FALSE);

  for (guint i = 0; i < waiters->len; i++)
    {
      g_autoptr(GTask) task = g_ptr_array_index (waiters, i);

      if (tokens != NULL)
        g_task_return_pointer (task, ck_oauth_tokens_ref (tokens),
                               (GDestroyNotify) ck_oauth_tokens_unref);
      else
        g_task_return_error (task, g_error_copy (error));
    }

  schedule_background (self);
}

static void
fail_refresh (CkOAuthManager *self,
              GError         *error)
{
  g_autoptr(GError) owned = error;

  self->failures++;
  g_free (self->last_refresh_error);
  self->last_refresh_error = g_strdup (error->message);
  g_message ("Refreshing the login failed: %s", error->message);
  complete_waiters (self, NULL, error);
}

/* Carry over what a refresh reply may leave out. */
static void
merge_tokens (CkOAuthTokens       *fresh,
              const CkOAuthTokens *old)
{
#define KEEP(field) if (fresh->field == NULL && old->field != NULL) fresh->field = g_strdup (old->field)
  KEEP (refresh_token);
  KEEP (subscription_type);
  KEEP (rate_limit_tier);
  KEEP (account_uuid);
  KEEP (account_email);
  KEEP (organization_uuid);
  KEEP (organization_name);
#undef KEEP
  /* A reply without expires_in may still leave us the old refresh token. */
  ck_oauth_tokens_assume_lifetime (fresh, g_get_real_time () / 1000);
  if ((fresh->scopes == NULL || fresh->scopes[0] == NULL) && old->scopes != NULL)
    {
      g_strfreev (fresh->scopes);
      fresh->scopes = g_strdupv (old->scopes);
    }
  if (fresh->extra == NULL && old->extra != NULL)
    fresh->extra = json_object_ref (old->extra);
}

typedef struct
{
  CkOAuthManager *self;
  guint           generation;
} RefreshData;

static RefreshData *
refresh_data_new (CkOAuthManager *self)
{
  RefreshData *data = g_new0 (RefreshData, 1);

  data->self = g_object_ref (self);
  data->generation = self->generation;
  return data;
}

static void
refresh_data_free (RefreshData *data)
{
  g_object_unref (data->self);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (RefreshData, refresh_data_free)

static gboolean
refresh_is_stale (RefreshData *data)
{
  /* A logout or a new login happened meanwhile: this result is not wanted. */
  if (data->generation == data->self->generation)
    return FALSE;
  complete_waiters (data->self, NULL,
                    &(GError) { CK_ERROR, CK_ERROR_NOT_LOGGED_IN,
                                (char *) "The login changed while it was being refreshed; try again." });
  return TRUE;
}

static void
on_saved (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(RefreshData) data = user_data;
  CkOAuthManager *self = data->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(CkOAuthTokens) tokens = NULL;

  if (refresh_is_stale (data))
    return;

  if (!ck_token_store_op_finish (CK_TOKEN_STORE (object), result, &error))
    {
      fail_refresh (self, g_error_new (CK_ERROR, CK_ERROR_REFRESH_FAILED,
                                       "The refreshed login could not be saved to the keyring (%s); "
                                       "it is kept in memory and saved on the next request.",
                                       error->message));
      return;
    }

  tokens = g_steal_pointer (&self->unsaved);
  self->failures = 0;
  g_clear_pointer (&self->last_refresh_error, g_free);
  g_debug ("Login refreshed and saved");
  complete_waiters (self, tokens, NULL);
}

static void
save_unsaved (CkOAuthManager *self)
{
  CkAccount *account = ck_token_store_find_account (self->store, self->account);

  ck_token_store_set_oauth_for_async (self->store, self->account,
                                      account != NULL ? account->name : self->account,
                                      self->unsaved, NULL, on_saved, refresh_data_new (self));
}

static void
on_refreshed (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(RefreshData) data = user_data;
  CkOAuthManager *self = data->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(CkOAuthTokens) fresh = NULL;
  CkOAuthTokens *old;

  fresh = ck_oauth_client_refresh_finish (CK_OAUTH_CLIENT (object), result, &error);
  if (refresh_is_stale (data))
    return;

  if (fresh == NULL)
    {
      if (g_error_matches (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_INVALID_GRANT))
        fail_refresh (self, g_error_new_literal (CK_ERROR, CK_ERROR_REFRESH_FAILED,
                                                 "Refreshing the login failed: the server no "
                                                 "longer accepts it; run “claude-keyring login” again."));
      else
        fail_refresh (self, g_error_new (CK_ERROR, CK_ERROR_REFRESH_FAILED,
                                         "Refreshing the login failed (%s); it is tried again on "
                                         "the next request, no new login is needed yet.",
                                         error->message));
      return;
    }

  if ((old = tokens_of (self)) != NULL)
    merge_tokens (fresh, old);
  self->unsaved = g_steal_pointer (&fresh);
  save_unsaved (self);
}

static void
start_refresh (CkOAuthManager *self)
{
  g_autoptr(CkOAuthClient) client = NULL;
  g_autoptr(GError) error = NULL;
  CkOAuthTokens *tokens = tokens_of (self);

  set_refreshing (self, TRUE);

  if (self->unsaved != NULL)
    {
      save_unsaved (self);
      return;
    }

  if (tokens->refresh_token == NULL || tokens->refresh_token[0] == '\0')
    {
      fail_refresh (self, g_error_new_literal (CK_ERROR, CK_ERROR_REFRESH_FAILED,
                                               "The login has expired and cannot be refreshed; "
                                               "run “claude-keyring login” again."));
      return;
    }

  if (!(client = ck_oauth_client_new_for_settings (self->settings, &error)))
    {
      fail_refresh (self, g_error_new (CK_ERROR, CK_ERROR_REFRESH_FAILED,
                                       "Refreshing the login failed: %s", error->message));
      return;
    }

  self->refresh_count++;
  self->last_refresh = now_ms () / 1000;
  g_debug ("Refreshing the login of account %s (request %u)", self->account, self->refresh_count);
  ck_oauth_client_refresh_async (client, tokens->refresh_token, NULL, on_refreshed,
                                 refresh_data_new (self));
}

static void
ck_oauth_manager_get_tokens_async (CkOAuthSource       *source,
                                   guint                min_validity,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  CkOAuthManager *self = CK_OAUTH_MANAGER (source);
  g_autoptr(GTask) task = NULL;
  CkOAuthTokens *tokens = tokens_of (self);
  const char *id;

  /* The parent serves the default login through its account's child. */
  if (self->account == NULL && (id = default_oauth_id (self)) != NULL)
    {
      ck_oauth_manager_get_tokens_async (CK_OAUTH_SOURCE (child_for (self, id)), min_validity,
                                         cancellable, callback, user_data);
      return;
    }

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ck_oauth_manager_get_tokens_async);

  if (tokens == NULL)
    {
      g_task_return_new_error (task, CK_ERROR, CK_ERROR_NOT_LOGGED_IN,
                               "Not logged in; run “claude-keyring login”.");
      return;
    }

  if (self->unsaved == NULL && ck_oauth_tokens_valid_for (tokens, now_ms (), min_validity) &&
      !ck_pkce_state_equal (tokens->access_token, self->rejected))
    {
      g_task_return_pointer (task, ck_oauth_tokens_ref (tokens),
                             (GDestroyNotify) ck_oauth_tokens_unref);
      return;
    }

  g_ptr_array_add (self->waiters, g_steal_pointer (&task));
  if (!self->refreshing)
    start_refresh (self);
}

static CkOAuthTokens *
ck_oauth_manager_get_tokens_finish (CkOAuthSource  *source,
                                    GAsyncResult   *result,
                                    GError        **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The API refused the current access token (revoked, or expired early):
 * the next get_tokens refreshes, single-flight as any other refresh. A
 * refreshed token differs, so the mark goes stale by itself. */
static void
ck_oauth_manager_invalidate_token (CkOAuthSource *source,
                                   const char    *access_token)
{
  CkOAuthManager *self = CK_OAUTH_MANAGER (source);
  CkOAuthTokens *tokens = tokens_of (self);
  const char *id;

  if (self->account == NULL && (id = default_oauth_id (self)) != NULL)
    {
      ck_oauth_manager_invalidate_token (CK_OAUTH_SOURCE (child_for (self, id)), access_token);
      return;
    }
  if (tokens == NULL || !ck_pkce_state_equal (tokens->access_token, access_token))
    return;
  g_clear_pointer (&self->rejected, ck_secret_free);
  self->rejected = g_strdup (access_token);
}

static CkOAuthSource *
ck_oauth_manager_for_account (CkOAuthSource *source,
                              const char    *id)
{
  CkOAuthManager *self = CK_OAUTH_MANAGER (source);

  if (self->account != NULL)
    return g_str_equal (self->account, id) ? source : NULL;
  return CK_OAUTH_SOURCE (child_for (self, id));
}

static void
ck_oauth_manager_source_init (CkOAuthSourceInterface *iface)
{
  iface->get_tokens_async = ck_oauth_manager_get_tokens_async;
  iface->get_tokens_finish = ck_oauth_manager_get_tokens_finish;
  iface->invalidate_token = ck_oauth_manager_invalidate_token;
  iface->for_account = ck_oauth_manager_for_account;
}

/* Background refresh, so a long-running claude is not the one to find the
 * token expired. Backs off after failures; never a hot loop. */

static void
on_background_done (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(CkOAuthTokens) tokens = NULL;

  /* Failures were logged and are in the status; nothing else to do. */
  tokens = ck_oauth_source_get_tokens_finish (CK_OAUTH_SOURCE (object), result, NULL);
}

static gboolean
on_background (gpointer user_data)
{
  CkOAuthManager *self = user_data;

  self->background_id = 0;
  self->last_background = g_get_monotonic_time ();
  ck_oauth_manager_get_tokens_async (CK_OAUTH_SOURCE (self),
                                     g_settings_get_uint (self->settings, "refresh-margin"),
                                     NULL, on_background_done, NULL);
  return G_SOURCE_REMOVE;
}

static void
schedule_background (CkOAuthManager *self)
{
  CkOAuthTokens *tokens = tokens_of (self);
  gint64 delay_ms, due_ms, since_last_ms;
  guint margin;

  g_clear_handle_id (&self->background_id, g_source_remove);
  /* Each account's child refreshes it in the background. */
  if (self->account == NULL)
    {
      if (self->children == NULL)
        return;
      GPtrArray *accounts = ck_token_store_get_accounts (self->store);

      for (guint i = 0; i < accounts->len; i++)
        {
          CkAccount *account = g_ptr_array_index (accounts, i);

          if (account->oauth != NULL)
            child_for (self, account->id);
        }
      return;
    }
  if (tokens == NULL || tokens->expires_at_ms == 0 || self->refreshing || self->login != NULL)
    return;
  if (self->unsaved == NULL && (tokens->refresh_token == NULL || tokens->refresh_token[0] == '\0'))
    return;

  margin = g_settings_get_uint (self->settings, "refresh-margin");
  /* Compared this way round so that no expiry, however odd, overflows. */
  due_ms = now_ms () + (gint64) margin * 1000;
  delay_ms = tokens->expires_at_ms <= due_ms ? 0 : tokens->expires_at_ms - due_ms;

  if (self->failures > 0)
    delay_ms = MAX (delay_ms, (gint64) MIN (MIN_BACKGROUND_INTERVAL_SEC << MIN (self->failures - 1, 10),
                                            MAX_BACKOFF_SEC) * 1000);
  if (self->last_background != 0)
    {
      since_last_ms = (g_get_monotonic_time () - self->last_background) / 1000;
      delay_ms = MAX (delay_ms, MIN_BACKGROUND_INTERVAL_SEC * 1000 - since_last_ms);
    }

  delay_ms = MIN (delay_ms, (gint64) G_MAXINT32);
  g_debug ("Next background refresh in %" G_GINT64_FORMAT " s", delay_ms / 1000);
  self->background_id = g_timeout_add_full (G_PRIORITY_LOW, (guint) delay_ms,
                                            on_background, self, NULL);
}

/* New tokens from elsewhere (a login, an import) replace the stored ones:
 * a refresh in flight is dropped when it answers, and a refreshed login
 * still waiting to be saved is forgotten, so neither can overwrite them. */
static void
supersede (CkOAuthManager *self,
           const char     *id)
{
  self->generation++;
  g_clear_pointer (&self->unsaved, ck_oauth_tokens_unref);
  if (self->account == NULL && id != NULL)
    supersede (child_for (self, id), NULL);
}

static void
forget_failures (CkOAuthManager *self,
                 const char     *id)
{
  self->failures = 0;
  g_clear_pointer (&self->last_refresh_error, g_free);
  if (self->account == NULL && id != NULL)
    forget_failures (child_for (self, id), NULL);
}

/* Import */

static void
on_import_saved (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  CkOAuthManager *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (!ck_token_store_op_finish (CK_TOKEN_STORE (object), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  forget_failures (self, g_task_get_task_data (task));
  schedule_background (self);
  g_task_return_boolean (task, TRUE);
}

void
ck_oauth_manager_import_async (CkOAuthManager      *self,
                               CkOAuthTokens       *tokens,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  GTask *task;
  g_autofree char *id = NULL;
  g_autofree char *name = NULL;
  GError *error = NULL;

  g_return_if_fail (CK_IS_OAUTH_MANAGER (self));
  g_return_if_fail (tokens != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ck_oauth_manager_import_async);
  if (!ck_token_store_pick_oauth_account (self->store, tokens, NULL, &id, &name, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_task_set_task_data (task, g_strdup (id), g_free);
  supersede (self, id);
  ck_token_store_set_oauth_for_async (self->store, id, name, tokens, cancellable,
                                      on_import_saved, task);
}

gboolean
ck_oauth_manager_import_finish (CkOAuthManager  *self,
                                GAsyncResult    *result,
                                GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_oauth_manager_import_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Login */

static void
finish_login (CkOAuthManager *self,
              gboolean        ok,
              const char     *message)
{
  if (self->login == NULL)
    return;

  /* Dropping the flow ends the attempt: its server closes, its requests
   * are cancelled. */
  g_clear_object (&self->login);

  g_message ("Login %s", ok ? "finished" : "failed");
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOGIN_PENDING]);
  g_signal_emit (self, signals[LOGIN_FINISHED], 0, ok, message);
  schedule_background (self);
}

typedef struct
{
  CkOAuthManager *self;
  GWeakRef        login;
  CkOAuthTokens  *tokens;
  char           *id;
} LoginData;

static void
login_data_free (LoginData *data)
{
  g_object_unref (data->self);
  g_weak_ref_clear (&data->login);
  ck_oauth_tokens_unref (data->tokens);
  g_free (data->id);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LoginData, login_data_free)

static void
on_login_saved (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(LoginData) data = user_data;
  CkOAuthManager *self = data->self;
  g_autoptr(CkLoginFlow) login = g_weak_ref_get (&data->login);
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;
  /* Otherwise the attempt was cancelled while it was being saved, and
   * reported then. */
  gboolean current = login != NULL && login == self->login;

  if (!ck_token_store_op_finish (CK_TOKEN_STORE (object), result, &error))
    {
      message = g_strdup_printf ("The login worked but could not be saved to the keyring: %s",
                                 error->message);
      if (current)
        finish_login (self, FALSE, message);
      return;
    }
  forget_failures (self, data->id);
  if (current)
    finish_login (self, TRUE,
                  data->tokens->account_email != NULL ? data->tokens->account_email
                                                      : "your Claude account");
}

static void
on_login_finished (CkLoginFlow    *login,
                   CkOAuthTokens  *tokens,
                   const char     *message,
                   CkOAuthManager *self)
{
  LoginData *data;
  g_autofree char *name = NULL;
  g_autoptr(GError) error = NULL;

  if (login != self->login)
    return;
  if (tokens == NULL)
    {
      finish_login (self, FALSE, message);
      return;
    }

  data = g_new0 (LoginData, 1);
  if (!ck_token_store_pick_oauth_account (self->store, tokens, self->login_as, &data->id, &name,
                                          &error))
    {
      g_free (data);
      finish_login (self, FALSE, error->message);
      return;
    }
  supersede (self, data->id);

  data->self = g_object_ref (self);
  g_weak_ref_init (&data->login, login);
  data->tokens = ck_oauth_tokens_ref (tokens);
  ck_token_store_set_oauth_for_async (self->store, data->id, name, tokens, NULL,
                                      on_login_saved, data);
}

static void
on_browser_launched (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!g_app_info_launch_default_for_uri_finish (result, &error))
    g_message ("Could not open a web browser (%s); open the login URL by hand.", error->message);
}

char *
ck_oauth_manager_start_login (CkOAuthManager  *self,
                              CkLoginMode      mode,
                              gboolean         manual,
                              gboolean         open_browser,
                              GError         **error)
{
  return ck_oauth_manager_start_login_as (self, NULL, mode, manual, open_browser, error);
}

/* @as_name: the account the login is for (a new one of that name, or an
 * existing one whose tokens it replaces); NULL: by the login's account. */
char *
ck_oauth_manager_start_login_as (CkOAuthManager  *self,
                                 const char      *as_name,
                                 CkLoginMode      mode,
                                 gboolean         manual,
                                 gboolean         open_browser,
                                 GError         **error)
{
  const char *url;
  CkAccount *existing;

  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (self), NULL);

  if (as_name != NULL && (existing = ck_token_store_find_account (self->store, as_name)) != NULL &&
      existing->oauth == NULL)
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "“%s” is the name of an API key; choose another name for the login.", as_name);
      return NULL;
    }

  if (self->login != NULL)
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_LOGIN_IN_PROGRESS,
                           "A login is already in progress; finish it in the browser, paste its "
                           "code with “claude-keyring login --code”, or cancel it.");
      return NULL;
    }

  if (!(self->login = ck_login_flow_new (self->settings, mode, manual, error)))
    return NULL;
  g_free (self->login_as);
  self->login_as = g_strdup (as_name);
  g_signal_connect_object (self->login, "finished", G_CALLBACK (on_login_finished), self, 0);
  g_clear_handle_id (&self->background_id, g_source_remove);

  url = ck_login_flow_get_authorize_url (self->login);
  if (open_browser)
    {
      /* Other users can read the browser's command line: give it /start. */
      g_autofree char *browser_url = ck_loopback_dup_start_uri (url);

      g_app_info_launch_default_for_uri_async (browser_url ? browser_url : url, NULL, NULL,
                                               on_browser_launched, NULL);
    }

  g_message ("Login started (%s, %s redirect)",
             mode == CK_LOGIN_MODE_CONSOLE ? "console" : "claude.ai",
             manual ? "manual" : "loopback");
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOGIN_PENDING]);
  return g_strdup (url);
}

gboolean
ck_oauth_manager_complete_login (CkOAuthManager  *self,
                                 const char      *pasted,
                                 GError         **error)
{
  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (self), FALSE);

  if (self->login == NULL)
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_LOGIN_FAILED,
                           "No login is in progress; start one with “claude-keyring login”.");
      return FALSE;
    }
  return ck_login_flow_complete (self->login, pasted, error);
}

void
ck_oauth_manager_cancel_login (CkOAuthManager *self)
{
  g_return_if_fail (CK_IS_OAUTH_MANAGER (self));

  finish_login (self, FALSE, "The login was cancelled.");
}

/* Logout */

typedef struct
{
  GPtrArray *tokens;     /* to revoke, one after the other */
  char      *remove_id;  /* one account; NULL: every credential */
} LogoutData;

static void
logout_data_free (LogoutData *data)
{
  g_ptr_array_unref (data->tokens);
  g_free (data->remove_id);
  g_free (data);
}

static void
on_cleared (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!ck_token_store_op_finish (CK_TOKEN_STORE (object), result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void revoke_next (GTask *task);

static void
on_revoked (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  /* Not every server can revoke; local state is cleared all the same. */
  if (!ck_oauth_client_revoke_finish (CK_OAUTH_CLIENT (object), result, &error))
    g_debug ("The server did not revoke the login: %s", error->message);
  revoke_next (user_data);
}

static void
revoke_next (GTask *task)
{
  CkOAuthManager *self = g_task_get_source_object (task);
  LogoutData *data = g_task_get_task_data (task);
  g_autoptr(CkOAuthClient) client = NULL;

  if (data->tokens->len > 0 && (client = ck_oauth_client_new_for_settings (self->settings, NULL)))
    {
      g_autofree char *token = g_ptr_array_steal_index (data->tokens, data->tokens->len - 1);

      ck_oauth_client_set_timeout (client, MIN (LOGOUT_TIMEOUT_SEC,
                                                g_settings_get_uint (self->settings, "http-timeout")));
      ck_oauth_client_revoke_async (client, token, g_task_get_cancellable (task), on_revoked, task);
      ck_secret_free (g_steal_pointer (&token));
      return;
    }

  if (data->remove_id != NULL)
    ck_token_store_remove_account_async (self->store, data->remove_id,
                                         g_task_get_cancellable (task), on_cleared, task);
  else
    ck_token_store_clear_async (self->store, NULL, g_task_get_cancellable (task),
                                on_cleared, task);
}

/* Ends whatever @self (a child, or the parent) does for its account and
 * adds the token to revoke. */
static void
forget_account (CkOAuthManager *self,
                GPtrArray      *revoke)
{
  g_autoptr(CkOAuthTokens) tokens = NULL;
  const char *token;

  self->generation++;
  tokens = self->unsaved != NULL ? g_steal_pointer (&self->unsaved)
         : tokens_of (self) != NULL ? ck_oauth_tokens_ref (tokens_of (self)) : NULL;
  self->failures = 0;
  g_clear_pointer (&self->last_refresh_error, g_free);
  g_clear_handle_id (&self->background_id, g_source_remove);

  token = tokens == NULL ? NULL
        : tokens->refresh_token != NULL ? tokens->refresh_token : tokens->access_token;
  if (token != NULL)
    g_ptr_array_add (revoke, g_strdup (token));
}

static void
logout (CkOAuthManager      *self,
        const char          *id,
        GCancellable        *cancellable,
        GAsyncReadyCallback  callback,
        gpointer             user_data,
        gpointer             source_tag)
{
  GTask *task;
  LogoutData *data;
  GHashTableIter iter;
  gpointer key, child;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, source_tag);
  data = g_new0 (LogoutData, 1);
  data->tokens = g_ptr_array_new_with_free_func ((GDestroyNotify) ck_secret_free);
  data->remove_id = g_strdup (id);
  g_task_set_task_data (task, data, (GDestroyNotify) logout_data_free);

  if (id == NULL)
    {
      finish_login (self, FALSE, "The login was cancelled by a logout.");
      self->generation++;
      g_clear_pointer (&self->unsaved, ck_oauth_tokens_unref);
      self->failures = 0;
      g_clear_pointer (&self->last_refresh_error, g_free);
      g_clear_handle_id (&self->background_id, g_source_remove);
      schedule_background (self);  /* a child for every login */
      g_hash_table_iter_init (&iter, self->children);
      while (g_hash_table_iter_next (&iter, &key, &child))
        forget_account (child, data->tokens);
    }
  else if (ck_token_store_get_oauth_for (self->store, id) != NULL)
    forget_account (child_for (self, id), data->tokens);

  revoke_next (task);
}

void
ck_oauth_manager_logout_async (CkOAuthManager      *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_return_if_fail (CK_IS_OAUTH_MANAGER (self));

  logout (self, NULL, cancellable, callback, user_data, ck_oauth_manager_logout_async);
}

gboolean
ck_oauth_manager_logout_finish (CkOAuthManager  *self,
                                GAsyncResult    *result,
                                GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_oauth_manager_logout_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* One account: a login is revoked at the server when it can be, its
 * items removed; the other accounts are not touched. */
void
ck_oauth_manager_remove_account_async (CkOAuthManager      *self,
                                       const char          *id,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  g_return_if_fail (CK_IS_OAUTH_MANAGER (self));
  g_return_if_fail (id != NULL);

  logout (self, id, cancellable, callback, user_data, ck_oauth_manager_remove_account_async);
}

gboolean
ck_oauth_manager_remove_account_finish (CkOAuthManager  *self,
                                        GAsyncResult    *result,
                                        GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* The refresh state of one account, for its row in the status. */
gboolean
ck_oauth_manager_get_account_refreshing (CkOAuthManager *self,
                                         const char     *id)
{
  CkOAuthManager *child = g_hash_table_lookup (self->children, id);

  return child != NULL && child->refreshing;
}

const char *
ck_oauth_manager_get_account_refresh_error (CkOAuthManager *self,
                                            const char     *id)
{
  CkOAuthManager *child = g_hash_table_lookup (self->children, id);

  return child != NULL ? child->last_refresh_error : NULL;
}

guint
ck_oauth_manager_get_account_refresh_count (CkOAuthManager *self,
                                            const char     *id)
{
  CkOAuthManager *child = g_hash_table_lookup (self->children, id);

  return child != NULL ? child->refresh_count : 0;
}

/* Accessors */

/* The parent's refresh state is that of the account chosen by default. */
static CkOAuthManager *
default_child (CkOAuthManager *self)
{
  const char *id;

  if (self->account != NULL)
    return self;
  id = default_oauth_id (self);
  return id != NULL ? child_for (self, id) : self;
}

gboolean
ck_oauth_manager_get_login_pending (CkOAuthManager *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (self), FALSE);

  return self->login != NULL;
}

gboolean
ck_oauth_manager_get_refreshing (CkOAuthManager *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (self), FALSE);

  return default_child (self)->refreshing;
}

gint64
ck_oauth_manager_get_last_refresh (CkOAuthManager *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (self), 0);

  return default_child (self)->last_refresh;
}

const char *
ck_oauth_manager_get_last_refresh_error (CkOAuthManager *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (self), NULL);

  return default_child (self)->last_refresh_error;
}

guint
ck_oauth_manager_get_refresh_count (CkOAuthManager *self)
{
  GHashTableIter iter;
  gpointer child;
  guint count;

  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (self), 0);

  /* Every account's refreshes. */
  count = self->refresh_count;
  if (self->children != NULL)
    {
      g_hash_table_iter_init (&iter, self->children);
      while (g_hash_table_iter_next (&iter, NULL, &child))
        count += CK_OAUTH_MANAGER (child)->refresh_count;
    }
  return count;
}

static void
on_store_changed (CkOAuthManager *self)
{
  if (!self->refreshing)
    schedule_background (self);
}

CkOAuthManager *
ck_oauth_manager_new (GSettings    *settings,
                      CkTokenStore *store)
{
  CkOAuthManager *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  g_return_val_if_fail (CK_IS_TOKEN_STORE (store), NULL);

  self = g_object_new (CK_TYPE_OAUTH_MANAGER, NULL);
  self->settings = g_object_ref (settings);
  self->store = g_object_ref (store);
  g_signal_connect_object (store, "changed", G_CALLBACK (on_store_changed), self,
                           G_CONNECT_SWAPPED);
  return self;
}

static void
ck_oauth_manager_dispose (GObject *object)
{
  CkOAuthManager *self = (CkOAuthManager *) object;

  g_clear_handle_id (&self->background_id, g_source_remove);
  g_clear_object (&self->login);
  g_clear_pointer (&self->children, g_hash_table_unref);
  g_clear_object (&self->store);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (ck_oauth_manager_parent_class)->dispose (object);
}

static void
ck_oauth_manager_finalize (GObject *object)
{
  CkOAuthManager *self = (CkOAuthManager *) object;

  g_assert (self->waiters->len == 0);
  g_clear_pointer (&self->waiters, g_ptr_array_unref);
  g_clear_pointer (&self->unsaved, ck_oauth_tokens_unref);
  g_clear_pointer (&self->last_refresh_error, g_free);
  g_clear_pointer (&self->rejected, ck_secret_free);
  g_clear_pointer (&self->account, g_free);
  g_clear_pointer (&self->login_as, g_free);

  G_OBJECT_CLASS (ck_oauth_manager_parent_class)->finalize (object);
}

static void
ck_oauth_manager_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  CkOAuthManager *self = CK_OAUTH_MANAGER (object);

  switch (prop_id)
    {
    case PROP_LOGIN_PENDING:
      g_value_set_boolean (value, ck_oauth_manager_get_login_pending (self));
      break;

    case PROP_REFRESHING:
      g_value_set_boolean (value, self->refreshing);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_oauth_manager_class_init (CkOAuthManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_oauth_manager_dispose;
  object_class->finalize = ck_oauth_manager_finalize;
  object_class->get_property = ck_oauth_manager_get_property;

  properties[PROP_LOGIN_PENDING] =
    g_param_spec_boolean ("login-pending", NULL, NULL, FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  properties[PROP_REFRESHING] =
    g_param_spec_boolean ("refreshing", NULL, NULL, FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * CkOAuthManager::login-finished:
   * @ok: whether the login succeeded
   * @message: the account on success, the reason on failure
   */
  signals[LOGIN_FINISHED] =
    g_signal_new ("login-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_BOOLEAN, G_TYPE_STRING);
}

static void
ck_oauth_manager_init (CkOAuthManager *self)
{
  self->waiters = g_ptr_array_new ();
  self->children = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}
