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

  if (!ck_token_store_set_oauth_finish (CK_TOKEN_STORE (object), result, &error))
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
  ck_token_store_set_oauth_async (self->store, self->unsaved, NULL, on_saved,
                                  refresh_data_new (self));
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

  if ((old = ck_token_store_get_oauth (self->store)) != NULL)
    merge_tokens (fresh, old);
  self->unsaved = g_steal_pointer (&fresh);
  save_unsaved (self);
}

static void
start_refresh (CkOAuthManager *self)
{
  g_autoptr(CkOAuthClient) client = NULL;
  g_autoptr(GError) error = NULL;
  CkOAuthTokens *tokens = ck_token_store_get_oauth (self->store);

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
  g_debug ("Refreshing the login (request %u)", self->refresh_count);
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
  CkOAuthTokens *tokens = ck_token_store_get_oauth (self->store);

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
  CkOAuthTokens *tokens = ck_token_store_get_oauth (self->store);

  if (tokens == NULL || !ck_pkce_state_equal (tokens->access_token, access_token))
    return;
  g_clear_pointer (&self->rejected, ck_secret_free);
  self->rejected = g_strdup (access_token);
}

static void
ck_oauth_manager_source_init (CkOAuthSourceInterface *iface)
{
  iface->get_tokens_async = ck_oauth_manager_get_tokens_async;
  iface->get_tokens_finish = ck_oauth_manager_get_tokens_finish;
  iface->invalidate_token = ck_oauth_manager_invalidate_token;
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
  CkOAuthTokens *tokens = ck_token_store_get_oauth (self->store);
  gint64 delay_ms, due_ms, since_last_ms;
  guint margin;

  g_clear_handle_id (&self->background_id, g_source_remove);
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
supersede (CkOAuthManager *self)
{
  self->generation++;
  g_clear_pointer (&self->unsaved, ck_oauth_tokens_unref);
}

static void
forget_failures (CkOAuthManager *self)
{
  self->failures = 0;
  g_clear_pointer (&self->last_refresh_error, g_free);
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

  if (!ck_token_store_set_oauth_finish (CK_TOKEN_STORE (object), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  forget_failures (self);
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

  g_return_if_fail (CK_IS_OAUTH_MANAGER (self));
  g_return_if_fail (tokens != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ck_oauth_manager_import_async);
  supersede (self);
  ck_token_store_set_oauth_async (self->store, tokens, cancellable, on_import_saved, task);
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
} LoginData;

static void
login_data_free (LoginData *data)
{
  g_object_unref (data->self);
  g_weak_ref_clear (&data->login);
  ck_oauth_tokens_unref (data->tokens);
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

  if (!ck_token_store_set_oauth_finish (CK_TOKEN_STORE (object), result, &error))
    {
      message = g_strdup_printf ("The login worked but could not be saved to the keyring: %s",
                                 error->message);
      if (current)
        finish_login (self, FALSE, message);
      return;
    }
  forget_failures (self);
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

  if (login != self->login)
    return;
  if (tokens == NULL)
    {
      finish_login (self, FALSE, message);
      return;
    }

  supersede (self);

  data = g_new0 (LoginData, 1);
  data->self = g_object_ref (self);
  g_weak_ref_init (&data->login, login);
  data->tokens = ck_oauth_tokens_ref (tokens);
  ck_token_store_set_oauth_async (self->store, tokens, NULL, on_login_saved, data);
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
  const char *url;

  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (self), NULL);

  if (self->login != NULL)
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_LOGIN_IN_PROGRESS,
                           "A login is already in progress; finish it in the browser, paste its "
                           "code with “claude-keyring login --code”, or cancel it.");
      return NULL;
    }

  if (!(self->login = ck_login_flow_new (self->settings, mode, manual, error)))
    return NULL;
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

static void
on_cleared (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!ck_token_store_clear_finish (CK_TOKEN_STORE (object), result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
clear_store (GTask *task)
{
  CkOAuthManager *self = g_task_get_source_object (task);

  ck_token_store_clear_async (self->store, NULL, g_task_get_cancellable (task),
                              on_cleared, task);
}

static void
on_revoked (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  /* Not every server can revoke; local state is cleared all the same. */
  if (!ck_oauth_client_revoke_finish (CK_OAUTH_CLIENT (object), result, &error))
    g_debug ("The server did not revoke the login: %s", error->message);
  clear_store (user_data);
}

void
ck_oauth_manager_logout_async (CkOAuthManager      *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  GTask *task;
  g_autoptr(CkOAuthClient) client = NULL;
  g_autoptr(CkOAuthTokens) tokens = NULL;
  const char *token;

  g_return_if_fail (CK_IS_OAUTH_MANAGER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ck_oauth_manager_logout_async);

  finish_login (self, FALSE, "The login was cancelled by a logout.");
  self->generation++;
  tokens = self->unsaved != NULL ? g_steal_pointer (&self->unsaved)
                                 : (ck_token_store_get_oauth (self->store) != NULL
                                      ? ck_oauth_tokens_ref (ck_token_store_get_oauth (self->store))
                                      : NULL);
  self->failures = 0;
  g_clear_pointer (&self->last_refresh_error, g_free);
  g_clear_handle_id (&self->background_id, g_source_remove);

  token = tokens == NULL ? NULL
        : tokens->refresh_token != NULL ? tokens->refresh_token : tokens->access_token;
  if (token != NULL && (client = ck_oauth_client_new_for_settings (self->settings, NULL)))
    {
      ck_oauth_client_set_timeout (client, MIN (LOGOUT_TIMEOUT_SEC,
                                                g_settings_get_uint (self->settings, "http-timeout")));
      ck_oauth_client_revoke_async (client, token, cancellable, on_revoked, task);
      return;
    }
  clear_store (task);
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

/* Accessors */

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

  return self->refreshing;
}

gint64
ck_oauth_manager_get_last_refresh (CkOAuthManager *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (self), 0);

  return self->last_refresh;
}

const char *
ck_oauth_manager_get_last_refresh_error (CkOAuthManager *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (self), NULL);

  return self->last_refresh_error;
}

guint
ck_oauth_manager_get_refresh_count (CkOAuthManager *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (self), 0);

  return self->refresh_count;
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
}
