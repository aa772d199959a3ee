/* test-oauth-manager.c: CkOAuthManager (and its CkLoginFlow) against
 * tests/support/fake-oauth-server.py and the real keyring of the test
 * session
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#define G_SETTINGS_ENABLE_BACKEND
#include <gio/gsettingsbackend.h>
#include <libsoup/soup.h>

#include "ck-error.h"
#include "ck-loopback-server.h"
#include "ck-oauth-manager.h"
#include "ck-test-core.h"

#define N_CALLERS 10

static GPtrArray *log_messages;

typedef struct
{
  GSettings      *settings;
  CkTokenStore   *store;
  CkOAuthManager *manager;
  /* "1:message" or "0:message" for each ::login-finished */
  GPtrArray      *finished;
  gboolean        finished_flag;
} Fixture;

static void
on_login_finished (CkOAuthManager *manager,
                   gboolean        ok,
                   const char     *message,
                   Fixture        *fixture)
{
  g_ptr_array_add (fixture->finished, g_strdup_printf ("%d:%s", ok, message));
  fixture->finished_flag = TRUE;
}

/* The message of the next ::login-finished, "1:" or "0:" first. */
static const char *
wait_finished (Fixture *fixture)
{
  ck_test_run_until (&fixture->finished_flag);
  fixture->finished_flag = FALSE;
  return g_ptr_array_index (fixture->finished, fixture->finished->len - 1);
}

/* What the keyring itself holds, read by a store of its own. */
static CkOAuthTokens *
keyring_tokens (void)
{
  g_autoptr(CkTokenStore) store = ck_token_store_new ();
  CkOAuthTokens *tokens;

  ck_test_store_load (store);
  tokens = ck_token_store_get_oauth (store);
  return tokens != NULL ? ck_oauth_tokens_ref (tokens) : NULL;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GSettingsBackend) backend = g_memory_settings_backend_new ();
  g_autofree char *authorize_url = ck_fake_oauth_url ("/oauth/authorize");
  g_autofree char *token_url = ck_fake_oauth_url ("/v1/oauth/token");
  g_autofree char *manual_url = ck_fake_oauth_url ("/oauth/code/callback");

  ck_fake_oauth_reset ();

  fixture->settings = g_settings_new_with_backend (APP_ID, backend);
  g_settings_set_string (fixture->settings, "authorize-url", authorize_url);
  g_settings_set_string (fixture->settings, "token-url", token_url);
  g_settings_set_string (fixture->settings, "manual-redirect-url", manual_url);
  g_settings_set_string (fixture->settings, "api-base-url", ck_fake_oauth_get_base ());
  g_settings_set_string (fixture->settings, "client-id", CK_FAKE_OAUTH_CLIENT_ID);
  g_settings_set_uint (fixture->settings, "http-timeout", 5);
  /* Callers ask for more validity than the background refresh, so that
   * only the tests' own calls refresh. */
  g_settings_set_uint (fixture->settings, "refresh-margin", 0);

  fixture->store = ck_token_store_new ();
  ck_test_store_clear (fixture->store);
  fixture->manager = ck_oauth_manager_new (fixture->settings, fixture->store);
  fixture->finished = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (fixture->manager, "login-finished", G_CALLBACK (on_login_finished), fixture);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_signal_handlers_disconnect_by_data (fixture->manager, fixture);
  g_assert_finalize_object (fixture->manager);
  g_clear_object (&fixture->store);
  g_clear_object (&fixture->settings);
  g_clear_pointer (&fixture->finished, g_ptr_array_unref);
}

static char *
start_login (Fixture  *fixture,
             gboolean  manual)
{
  g_autoptr(GError) error = NULL;
  char *url;

  url = ck_oauth_manager_start_login (fixture->manager, CK_LOGIN_MODE_CLAUDE_AI, manual, FALSE,
                                      &error);
  g_assert_no_error (error);
  g_assert_nonnull (url);
  g_assert_true (ck_oauth_manager_get_login_pending (fixture->manager));
  return url;
}

static char *
url_param (const char *url,
           const char *name)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);
  g_autoptr(GHashTable) params = NULL;

  g_assert_nonnull (uri);
  params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_NONE, NULL);
  g_assert_nonnull (params);
  return g_strdup (g_hash_table_lookup (params, name));
}

static const char *
last_token_request (JsonObject *stats,
                    const char *member)
{
  return json_object_get_string_member (json_object_get_object_member (stats, "last_token_request"),
                                        member);
}

/* A browser login through the loopback redirect. */
static void
log_in (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = start_login (fixture, FALSE);
  g_autofree char *location = ck_fake_oauth_authorize (url);

  g_assert_cmpuint (ck_fake_oauth_browse (location, &error), ==, SOUP_STATUS_OK);
  g_assert_no_error (error);
  g_assert_cmpstr (wait_finished (fixture), ==, "1:tester@example.com");
}

/* Stores the login again as one that expires in a minute: within what
 * the tests' callers ask for, outside the background refresh's margin. */
static CkOAuthTokens *
expire_soon (Fixture *fixture)
{
  g_autoptr(CkOAuthTokens) tokens = ck_oauth_tokens_copy (ck_token_store_get_oauth (fixture->store));

  tokens->expires_at_ms = g_get_real_time () / 1000 + 60 * 1000;
  ck_test_store_set_oauth (fixture->store, tokens);
  return g_steal_pointer (&tokens);
}

static void
assert_no_secret (const char *message)
{
  g_assert_null (strstr (message, CK_FAKE_OAUTH_PREFIX));
}

/* Refresh */

typedef struct
{
  Fixture       *fixture;
  gboolean       done;
  CkOAuthTokens *tokens;
  GError        *error;
  /* Whether the keyring copy was the new login when the caller got it. */
  gboolean       saved_first;
} Call;

static void
on_tokens (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Call *call = user_data;
  CkOAuthTokens *stored = ck_token_store_get_oauth (call->fixture->store);

  call->tokens = ck_oauth_source_get_tokens_finish (CK_OAUTH_SOURCE (object), result, &call->error);
  call->saved_first = call->tokens != NULL && stored != NULL &&
                      g_strcmp0 (stored->access_token, call->tokens->access_token) == 0;
  call->done = TRUE;
}

static void
call_start (Fixture *fixture,
            Call    *call)
{
  call->fixture = fixture;
  ck_oauth_source_get_tokens_async (CK_OAUTH_SOURCE (fixture->manager), 300, NULL,
                                    on_tokens, call);
}

static void
call_clear (Call *call)
{
  g_clear_pointer (&call->tokens, ck_oauth_tokens_unref);
  g_clear_error (&call->error);
  call->done = FALSE;
}

static CkOAuthTokens *
get_tokens (Fixture  *fixture,
            GError  **error)
{
  Call call = { 0 };

  call_start (fixture, &call);
  ck_test_run_until (&call.done);
  if (call.error != NULL)
    g_propagate_error (error, g_steal_pointer (&call.error));
  return g_steal_pointer (&call.tokens);
}

static gboolean
late_caller_cb (gpointer data)
{
  Call *late = data;

  /* Still the first request on the wire. */
  g_assert_true (ck_oauth_manager_get_refreshing (late->fixture->manager));
  call_start (late->fixture, late);
  return G_SOURCE_REMOVE;
}

static void
test_refresh_single_flight (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autoptr(CkOAuthTokens) old = NULL;
  g_autoptr(CkOAuthTokens) kept = NULL;
  g_autoptr(JsonObject) stats = NULL;
  Call calls[N_CALLERS + 1] = { { 0 } };
  Call *late = &calls[N_CALLERS];

  log_in (fixture);
  old = expire_soon (fixture);

  /* Slow enough that a caller can come while the request is out. */
  ck_fake_oauth_set_mode ("{\"delay_ms\": 300}");
  for (guint i = 0; i < N_CALLERS; i++)
    call_start (fixture, &calls[i]);
  g_assert_true (ck_oauth_manager_get_refreshing (fixture->manager));
  late->fixture = fixture;
  g_timeout_add (100, late_caller_cb, late);

  for (guint i = 0; i <= N_CALLERS; i++)
    {
      ck_test_run_until (&calls[i].done);
      g_assert_no_error (calls[i].error);
      g_assert_nonnull (calls[i].tokens);
      g_assert_true (calls[i].tokens == calls[0].tokens);
      g_assert_true (calls[i].saved_first);
    }
  g_assert_cmpstr (calls[0].tokens->access_token, !=, old->access_token);
  g_assert_cmpstr (calls[0].tokens->refresh_token, !=, old->refresh_token);
  /* What the refresh reply leaves out is carried over. */
  g_assert_cmpstr (calls[0].tokens->subscription_type, ==, "max");

  stats = ck_fake_oauth_get_stats ();
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "refresh_calls"), ==, 1);
  g_assert_cmpuint (ck_oauth_manager_get_refresh_count (fixture->manager), ==, 1);
  g_assert_cmpint (ck_oauth_manager_get_last_refresh (fixture->manager), >, 0);
  g_assert_null (ck_oauth_manager_get_last_refresh_error (fixture->manager));
  g_assert_false (ck_oauth_manager_get_refreshing (fixture->manager));

  /* The rotated refresh token is in the keyring, not just in memory. */
  kept = keyring_tokens ();
  g_assert_true (ck_oauth_tokens_equal (kept, calls[0].tokens));

  /* Fresh enough now: the next caller is answered without a request. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(CkOAuthTokens) again = get_tokens (fixture, &error);
    g_autoptr(JsonObject) after = ck_fake_oauth_get_stats ();

    g_assert_no_error (error);
    g_assert_cmpstr (again->access_token, ==, calls[0].tokens->access_token);
    g_assert_cmpint (ck_fake_oauth_stat_int (after, "refresh_calls"), ==, 1);
  }

  for (guint i = 0; i <= N_CALLERS; i++)
    call_clear (&calls[i]);
}

/* With the fake's refresh @mode: reported at once, the old login kept. */
static void
assert_refresh_fails (Fixture             *fixture,
                      const char          *mode,
                      const char          *in_message,
                      const CkOAuthTokens *old)
{
  g_autofree char *json = g_strdup_printf ("{\"refresh\": \"%s\"}", mode);
  g_autoptr(CkOAuthTokens) fresh = NULL;
  g_autoptr(CkOAuthTokens) kept = NULL;
  g_autoptr(GError) error = NULL;

  ck_fake_oauth_set_mode (json);
  fresh = get_tokens (fixture, &error);
  g_assert_null (fresh);
  g_assert_error (error, CK_ERROR, CK_ERROR_REFRESH_FAILED);
  g_assert_nonnull (strstr (error->message, in_message));
  assert_no_secret (error->message);
  g_assert_true (ck_oauth_tokens_equal (ck_token_store_get_oauth (fixture->store), old));
  kept = keyring_tokens ();
  g_assert_true (ck_oauth_tokens_equal (kept, old));
  g_assert_nonnull (ck_oauth_manager_get_last_refresh_error (fixture->manager));
  g_assert_false (ck_oauth_manager_get_refreshing (fixture->manager));
}

static void
test_refresh_failure (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(CkOAuthTokens) old = NULL;
  g_autoptr(CkOAuthTokens) fresh = NULL;
  g_autoptr(GError) error = NULL;

  log_in (fixture);
  old = expire_soon (fixture);

  /* A transient failure, and a refused refresh token: log in again. */
  assert_refresh_fails (fixture, "500", "no new login is needed", old);
  assert_refresh_fails (fixture, "invalid_grant", "claude-keyring login", old);

  /* No back-off on the caller's path: the next call tries again. */
  ck_fake_oauth_set_mode ("{\"refresh\": \"ok\"}");
  fresh = get_tokens (fixture, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (fresh->access_token, !=, old->access_token);
  g_assert_null (ck_oauth_manager_get_last_refresh_error (fixture->manager));
  g_assert_cmpuint (ck_oauth_manager_get_refresh_count (fixture->manager), ==, 3);
}

/* Logout */

static void
logout (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  CkTestAsync async = { 0 };

  ck_oauth_manager_logout_async (fixture->manager, NULL, ck_test_async_cb, &async);
  g_assert_true (ck_oauth_manager_logout_finish (fixture->manager, ck_test_async_wait (&async),
                                                 &error));
  g_assert_no_error (error);
  ck_test_async_clear (&async);
}

static void
test_logout (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(JsonObject) stats = NULL;
  g_autoptr(CkOAuthTokens) kept = NULL;
  g_autoptr(CkOAuthTokens) tokens = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;

  log_in (fixture);
  logout (fixture);

  /* Revoked at the server, gone from memory and from the keyring. */
  stats = ck_fake_oauth_get_stats ();
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "revokes"), ==, 1);
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "revoked_families"), ==, 1);
  g_assert_null (ck_token_store_get_oauth (fixture->store));
  kept = keyring_tokens ();
  g_assert_null (kept);
  tokens = get_tokens (fixture, &error);
  g_assert_null (tokens);
  g_assert_error (error, CK_ERROR, CK_ERROR_NOT_LOGGED_IN);
  g_clear_error (&error);

  /* A server that cannot revoke does not keep the login here. */
  log_in (fixture);
  ck_fake_oauth_set_mode ("{\"revoke\": \"500\"}");
  logout (fixture);
  g_assert_null (ck_token_store_get_oauth (fixture->store));

  /* A logout ends a login in progress. */
  url = start_login (fixture, FALSE);
  logout (fixture);
  g_assert_false (ck_oauth_manager_get_login_pending (fixture->manager));
  g_assert_cmpstr (wait_finished (fixture), ==, "0:The login was cancelled by a logout.");
}

/* Login */

static void
test_login_loopback (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) stats = NULL;
  g_autofree char *url = start_login (fixture, FALSE);
  g_autofree char *redirect_uri = url_param (url, "redirect_uri");
  g_autofree char *state = url_param (url, "state");
  g_autofree char *start = NULL;
  g_autofree char *location = NULL;
  CkOAuthTokens *tokens;

  g_assert_true (g_str_has_prefix (redirect_uri, "http://localhost:"));
  g_assert_cmpuint (strlen (state), >=, 16);

  /* What a browser is given instead: the loopback server sends it on. */
  start = ck_loopback_dup_start_uri (url);
  g_assert_nonnull (start);
  location = ck_fake_oauth_authorize (start);
  g_assert_cmpstr (location, ==, url);
  g_free (location);

  location = ck_fake_oauth_authorize (url);
  g_assert_true (g_str_has_prefix (location, redirect_uri));
  g_assert_true (ck_oauth_manager_get_login_pending (fixture->manager));

  g_assert_cmpuint (ck_fake_oauth_browse (location, &error), ==, SOUP_STATUS_OK);
  g_assert_no_error (error);
  g_assert_cmpstr (wait_finished (fixture), ==, "1:tester@example.com");
  g_assert_false (ck_oauth_manager_get_login_pending (fixture->manager));

  /* Exchanged with the same redirect URI, completed by the profile. */
  stats = ck_fake_oauth_get_stats ();
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "exchange_ok"), ==, 1);
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "profile_calls"), ==, 1);
  g_assert_cmpstr (last_token_request (stats, "redirect_uri"), ==, redirect_uri);
  tokens = ck_token_store_get_oauth (fixture->store);
  g_assert_true (g_str_has_prefix (tokens->access_token, CK_FAKE_OAUTH_PREFIX "access-"));
  g_assert_cmpstr (tokens->account_email, ==, "tester@example.com");
  g_assert_cmpstr (tokens->subscription_type, ==, "max");
  g_assert_cmpstr (tokens->rate_limit_tier, ==, "default_claude_max_20x");

  /* One callback, then the server is gone. */
  g_assert_cmpuint (ck_fake_oauth_browse (location, &error), ==, 0);
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* Without the profile the login works all the same. */
  ck_fake_oauth_set_mode ("{\"profile\": \"500\"}");
  g_free (url);
  url = start_login (fixture, FALSE);
  g_free (location);
  location = ck_fake_oauth_authorize (url);
  g_assert_cmpuint (ck_fake_oauth_browse (location, &error), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (wait_finished (fixture), ==, "1:tester@example.com");
}

static void
test_login_manual (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) stats = NULL;
  g_autofree char *manual_url = ck_fake_oauth_url ("/oauth/code/callback");
  g_autofree char *url = start_login (fixture, TRUE);
  g_autofree char *redirect_uri = url_param (url, "redirect_uri");
  g_autofree char *location = NULL;
  g_autofree char *code = NULL;
  g_autofree char *state = NULL;
  g_autofree char *pasted = NULL;

  g_assert_cmpstr (redirect_uri, ==, manual_url);

  /* The fake has no manual page: the code and state are in the address
   * the browser is sent to, as the page would show them. */
  location = ck_fake_oauth_authorize (url);
  code = url_param (location, "code");
  state = url_param (location, "state");

  g_assert_false (ck_oauth_manager_complete_login (fixture->manager,
                                                   "fake-code-x#another-login-state-0123456789",
                                                   &error));
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  assert_no_secret (error->message);
  g_clear_error (&error);
  g_assert_true (ck_oauth_manager_get_login_pending (fixture->manager));

  /* As a terminal pastes it. */
  pasted = g_strdup_printf ("  %s#%s\n", code, state);
  g_assert_true (ck_oauth_manager_complete_login (fixture->manager, pasted, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (wait_finished (fixture), ==, "1:tester@example.com");
  g_assert_false (ck_oauth_manager_get_login_pending (fixture->manager));

  stats = ck_fake_oauth_get_stats ();
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "exchange_ok"), ==, 1);
  g_assert_cmpstr (last_token_request (stats, "redirect_uri"), ==, manual_url);
  g_assert_nonnull (ck_token_store_get_oauth (fixture->store));
}

static void
test_login_refused (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = start_login (fixture, FALSE);
  g_autofree char *location = ck_fake_oauth_authorize (url);
  const char *message;

  ck_fake_oauth_set_mode ("{\"exchange\": \"invalid_grant\"}");
  g_assert_cmpuint (ck_fake_oauth_browse (location, &error), ==, SOUP_STATUS_OK);
  message = wait_finished (fixture);
  g_assert_true (g_str_has_prefix (message, "0:The server refused the login code"));
  assert_no_secret (message);
  g_assert_false (ck_oauth_manager_get_login_pending (fixture->manager));
  g_assert_null (ck_token_store_get_oauth (fixture->store));
}

static gboolean
exchange_requested (void)
{
  g_autoptr(JsonObject) stats = ck_fake_oauth_get_stats ();

  return ck_fake_oauth_stat_int (stats, "token_requests.authorization_code") > 0;
}

static void
test_login_cancel (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) stats = NULL;
  g_autofree char *url = start_login (fixture, FALSE);
  g_autofree char *location = ck_fake_oauth_authorize (url);

  ck_oauth_manager_cancel_login (fixture->manager);
  g_assert_false (ck_oauth_manager_get_login_pending (fixture->manager));
  g_assert_cmpstr (wait_finished (fixture), ==, "0:The login was cancelled.");

  /* The browser comes back too late: nobody listens, nothing is redeemed. */
  g_assert_cmpuint (ck_fake_oauth_browse (location, &error), ==, 0);
  g_assert_nonnull (error);
  g_clear_error (&error);
  stats = ck_fake_oauth_get_stats ();
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "token_requests.authorization_code"), ==, 0);

  g_assert_false (ck_oauth_manager_complete_login (fixture->manager, location, &error));
  g_assert_error (error, CK_ERROR, CK_ERROR_LOGIN_FAILED);
  g_clear_error (&error);

  /* Nothing left to cancel, nothing reported. */
  ck_oauth_manager_cancel_login (fixture->manager);
  g_assert_cmpuint (fixture->finished->len, ==, 1);
  g_assert_null (ck_token_store_get_oauth (fixture->store));

  /* Cancelled while the code is being exchanged: the answer that comes
   * afterwards is dropped, nothing is stored or reported. */
  ck_fake_oauth_set_mode ("{\"delay_ms\": 300}");
  g_free (url);
  url = start_login (fixture, FALSE);
  g_free (location);
  location = ck_fake_oauth_authorize (url);
  g_assert_cmpuint (ck_fake_oauth_browse (location, &error), ==, SOUP_STATUS_OK);
  while (!exchange_requested ())
    ck_test_run_for (20);
  ck_oauth_manager_cancel_login (fixture->manager);
  g_assert_cmpstr (wait_finished (fixture), ==, "0:The login was cancelled.");
  ck_test_run_for (1000);
  g_assert_cmpuint (fixture->finished->len, ==, 2);
  g_assert_false (ck_oauth_manager_get_login_pending (fixture->manager));
  g_assert_null (ck_token_store_get_oauth (fixture->store));
}

static void
test_login_replaced (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) stats = NULL;
  g_autofree char *first_url = start_login (fixture, FALSE);
  g_autofree char *first = ck_fake_oauth_authorize (first_url);
  g_autofree char *second_url = NULL;
  g_autofree char *second = NULL;
  char *url;

  /* One attempt at a time. */
  url = ck_oauth_manager_start_login (fixture->manager, CK_LOGIN_MODE_CONSOLE, TRUE, FALSE, &error);
  g_assert_null (url);
  g_assert_error (error, CK_ERROR, CK_ERROR_LOGIN_IN_PROGRESS);
  g_clear_error (&error);
  g_assert_cmpuint (fixture->finished->len, ==, 0);

  ck_oauth_manager_cancel_login (fixture->manager);
  g_assert_cmpstr (wait_finished (fixture), ==, "0:The login was cancelled.");
  second_url = start_login (fixture, FALSE);
  g_assert_cmpstr (second_url, !=, first_url);
  second = ck_fake_oauth_authorize (second_url);

  /* The first attempt's code is not the second's. */
  g_assert_false (ck_oauth_manager_complete_login (fixture->manager, first, &error));
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpuint (ck_fake_oauth_browse (first, &error), ==, 0);
  g_clear_error (&error);
  g_assert_true (ck_oauth_manager_get_login_pending (fixture->manager));

  /* The address the browser could not open, pasted. */
  g_assert_true (ck_oauth_manager_complete_login (fixture->manager, second, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (wait_finished (fixture), ==, "1:tester@example.com");
  g_assert_cmpuint (fixture->finished->len, ==, 2);

  stats = ck_fake_oauth_get_stats ();
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "token_requests.authorization_code"), ==, 1);
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "exchange_ok"), ==, 1);
}

/* Runs last: nothing logged during the whole run holds a secret. */
static void
test_logs (void)
{
  g_assert_cmpuint (log_messages->len, >, 0);
  for (guint i = 0; i < log_messages->len; i++)
    assert_no_secret (g_ptr_array_index (log_messages, i));
}

#define add_test(path, func) \
  g_test_add ("/oauth-manager/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

int
main (int   argc,
      char *argv[])
{
  int status;

  log_messages = ck_fake_oauth_test_init (&argc, &argv);

  add_test ("refresh-single-flight", test_refresh_single_flight);
  add_test ("refresh-failure", test_refresh_failure);
  add_test ("logout", test_logout);
  add_test ("login-loopback", test_login_loopback);
  add_test ("login-manual", test_login_manual);
  add_test ("login-refused", test_login_refused);
  add_test ("login-cancel", test_login_cancel);
  add_test ("login-replaced", test_login_replaced);
  g_test_add_func ("/oauth-manager/logs", test_logs);

  ck_fake_oauth_start ();
  status = g_test_run ();
  ck_fake_oauth_stop ();

  return status;
}
