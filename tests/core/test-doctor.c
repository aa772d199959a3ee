/* test-doctor.c: CkDoctor's checks, with the real keyring of the test
 * session and an API server in this process
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>
#define G_SETTINGS_ENABLE_BACKEND
#include <gio/gsettingsbackend.h>
#include <libsoup/soup.h>

#include "ck-claude-settings.h"
#include "ck-doctor.h"
#include "ck-test-core.h"

#define API_KEY "test-doctor-key"

typedef struct
{
  GSettings      *settings;
  CkTokenStore   *store;
  CkHelperRunner *helper;
  CkResolver     *resolver;
  CkDoctor       *doctor;
  char           *claude_dir;
  /* What the last run_doctor() found. */
  GVariant       *checks;

  /* The API: answers /v1/models with @status, remembers what came. */
  SoupServer     *server;
  guint           status;
  guint           calls;
  char           *api_key;
  char           *authorization;
  char           *beta;
  char           *version;
} Fixture;

static void
on_models (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  Fixture *fixture = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  fixture->calls++;
  g_free (fixture->api_key);
  fixture->api_key = g_strdup (soup_message_headers_get_one (headers, "x-api-key"));
  g_free (fixture->authorization);
  fixture->authorization = g_strdup (soup_message_headers_get_one (headers, "Authorization"));
  g_free (fixture->beta);
  fixture->beta = g_strdup (soup_message_headers_get_one (headers, "anthropic-beta"));
  g_free (fixture->version);
  fixture->version = g_strdup (soup_message_headers_get_one (headers, "anthropic-version"));

  soup_server_message_set_status (msg, fixture->status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC, "{}", 2);
}

static void
store_oauth (Fixture    *fixture,
             gint64      expires_at_ms,
             gboolean    expiry_assumed,
             const char *refresh_token)
{
  g_autoptr(CkOAuthTokens) tokens = ck_oauth_tokens_new ();

  tokens->access_token = g_strdup ("test-doctor-access");
  tokens->refresh_token = g_strdup (refresh_token);
  tokens->expires_at_ms = expires_at_ms;
  tokens->expiry_assumed = expiry_assumed;
  tokens->account_email = g_strdup ("user@example.org");
  ck_test_store_set_oauth (fixture->store, tokens);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GSettingsBackend) backend = g_memory_settings_backend_new ();
  g_autoptr(GError) error = NULL;
  g_autoslist(GUri) uris = NULL;
  g_autofree char *base = NULL;

  fixture->status = SOUP_STATUS_OK;
  fixture->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (fixture->server, "/v1/models", on_models, fixture, NULL);
  g_assert_true (soup_server_listen_local (fixture->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY,
                                           &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (fixture->server);
  base = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (uris->data));

  fixture->settings = g_settings_new_with_backend (APP_ID, backend);
  g_settings_set_string (fixture->settings, "api-base-url", base);

  /* Claude Code's own files, one folder per test. */
  fixture->claude_dir = g_dir_make_tmp ("ck-doctor-XXXXXX", &error);
  g_assert_no_error (error);
  g_setenv ("CLAUDE_CONFIG_DIR", fixture->claude_dir, TRUE);

  fixture->store = ck_token_store_new ();
  ck_test_store_clear (fixture->store);
  fixture->helper = ck_helper_runner_new ();
  fixture->resolver = ck_resolver_new (fixture->store, fixture->helper);
  fixture->doctor = ck_doctor_new (fixture->settings, fixture->store, fixture->helper,
                                   fixture->resolver);
}

static void
remove_file (const char *dir,
             const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  g_unlink (path);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  /* Not asserted to be finalized: its file reads run in a thread, which
   * may let go of it a moment after the result came. */
  g_clear_object (&fixture->doctor);
  g_clear_object (&fixture->resolver);
  g_clear_object (&fixture->helper);
  g_clear_object (&fixture->store);
  g_clear_object (&fixture->settings);
  g_clear_object (&fixture->server);

  remove_file (fixture->claude_dir, "settings.json");
  remove_file (fixture->claude_dir, ".credentials.json");
  g_rmdir (fixture->claude_dir);
  g_unsetenv ("CLAUDE_CONFIG_DIR");
  g_clear_pointer (&fixture->claude_dir, g_free);
  g_clear_pointer (&fixture->checks, g_variant_unref);
  g_clear_pointer (&fixture->api_key, g_free);
  g_clear_pointer (&fixture->authorization, g_free);
  g_clear_pointer (&fixture->beta, g_free);
  g_clear_pointer (&fixture->version, g_free);
}

/* No check ever carries a secret. */
static void
assert_no_secrets (GVariant *checks)
{
  g_autofree char *text = g_variant_print (checks, FALSE);

  g_assert_null (strstr (text, API_KEY));
  g_assert_null (strstr (text, "test-doctor-access"));
  g_assert_null (strstr (text, "test-helper-key"));
  g_assert_null (strstr (text, "test-secret-in-argv"));
}

static void
run_doctor (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  CkTestAsync async = { 0 };

  g_clear_pointer (&fixture->checks, g_variant_unref);
  ck_doctor_run_async (fixture->doctor, NULL, ck_test_async_cb, &async);
  fixture->checks = ck_doctor_run_finish (fixture->doctor, ck_test_async_wait (&async), &error);
  g_assert_no_error (error);
  ck_test_async_clear (&async);
  g_assert_true (g_variant_is_of_type (fixture->checks, G_VARIANT_TYPE ("aa{sv}")));
  assert_no_secrets (fixture->checks);
}

/* The dict of the check @id, NULL when the doctor did not report it. */
static GVariantDict *
find_check (GVariant   *checks,
            const char *id)
{
  for (gsize i = 0; i < g_variant_n_children (checks); i++)
    {
      g_autoptr(GVariant) child = g_variant_get_child_value (checks, i);
      g_autoptr(GVariantDict) dict = g_variant_dict_new (child);
      const char *child_id = NULL;

      if (g_variant_dict_lookup (dict, "id", "&s", &child_id) && g_str_equal (child_id, id))
        return g_steal_pointer (&dict);
    }
  return NULL;
}

static char *
check_field (GVariant   *checks,
             const char *id,
             const char *field)
{
  g_autoptr(GVariantDict) dict = find_check (checks, id);
  char *value = NULL;

  if (dict == NULL)
    return NULL;
  g_assert_true (g_variant_dict_lookup (dict, field, "s", &value));
  return value;
}

/* On what the last run_doctor() of @fixture found. */
#define assert_check(id, status) G_STMT_START {                           \
  g_autofree char *_status = check_field (fixture->checks, (id), "status"); \
  g_assert_cmpstr (_status, ==, (status));                                 \
} G_STMT_END

#define assert_in_check(id, field, text) G_STMT_START {                   \
  g_autofree char *_value = check_field (fixture->checks, (id), (field));  \
  g_assert_nonnull (_value);                                               \
  g_assert_nonnull (strstr (_value, (text)));                              \
} G_STMT_END

static void
test_nothing_stored (Fixture       *fixture,
                     gconstpointer  data)
{
  run_doctor (fixture);

  assert_check ("keyring", "ok");
  assert_check ("credential", "fail");
  assert_in_check ("credential", "detail", "claude-keyring login");
  assert_check ("oauth", NULL);
  assert_check ("api", NULL);
  assert_check ("helper", NULL);
  assert_check ("claude-settings", NULL);
  assert_check ("plaintext-credentials", NULL);
  g_assert_cmpuint (fixture->calls, ==, 0);
}

static void
test_api_key (Fixture       *fixture,
              gconstpointer  data)
{
  ck_test_store_set_api_key (fixture->store, API_KEY);
  run_doctor (fixture);
  assert_check ("credential", "ok");
  assert_check ("api", "ok");
  /* The request claude itself would send with a key. */
  g_assert_cmpuint (fixture->calls, ==, 1);
  g_assert_cmpstr (fixture->api_key, ==, API_KEY);
  g_assert_null (fixture->authorization);
  g_assert_null (fixture->beta);
  g_assert_cmpstr (fixture->version, ==, "2023-06-01");

  fixture->status = SOUP_STATUS_UNAUTHORIZED;
  run_doctor (fixture);
  assert_check ("api", "fail");
  assert_in_check ("api", "summary", "HTTP 401");

  fixture->status = SOUP_STATUS_SERVICE_UNAVAILABLE;
  run_doctor (fixture);
  assert_check ("api", "warn");
  assert_in_check ("api", "summary", "HTTP 503");

  /* Nobody listening. */
  soup_server_disconnect (fixture->server);
  run_doctor (fixture);
  assert_check ("api", "warn");
  assert_in_check ("api", "summary", "Cannot reach");
}

static void
test_oauth (Fixture       *fixture,
            gconstpointer  data)
{
  gint64 now_ms = g_get_real_time () / 1000;

  store_oauth (fixture, now_ms + 3600 * 1000, FALSE, "test-doctor-refresh");
  run_doctor (fixture);
  assert_check ("oauth", "ok");
  assert_in_check ("oauth", "summary", "user@example.org");
  assert_check ("credential", NULL);
  assert_check ("api", "ok");
  /* As claude sends an OAuth token. */
  g_assert_cmpstr (fixture->authorization, ==, "Bearer test-doctor-access");
  g_assert_cmpstr (fixture->beta, ==, "oauth-2025-04-20");
  g_assert_null (fixture->api_key);

  /* A lifetime the server did not give, only assumed: said so. */
  store_oauth (fixture, now_ms + 3600 * 1000, TRUE, "test-doctor-refresh");
  run_doctor (fixture);
  assert_check ("oauth", "warn");
  assert_in_check ("oauth", "detail", "expires_in");

  /* Expired: a refresh may still save it... */
  store_oauth (fixture, now_ms - 1000, FALSE, "test-doctor-refresh");
  run_doctor (fixture);
  assert_check ("oauth", "warn");
  assert_in_check ("oauth", "summary", "expired");

  /* ... or nothing can. */
  store_oauth (fixture, now_ms - 1000, FALSE, NULL);
  run_doctor (fixture);
  assert_check ("oauth", "fail");
  assert_in_check ("oauth", "detail", "claude-keyring login");
}

static void
test_helper (Fixture       *fixture,
             gconstpointer  data)
{
  ck_test_store_set_api_key (fixture->store, API_KEY);
  ck_helper_runner_set_command (fixture->helper, "echo test-helper-key");
  run_doctor (fixture);
  assert_check ("helper", "ok");
  /* The helper wins, as in claude: the stored key is not looked at. */
  assert_check ("credential", NULL);
  assert_check ("api", "ok");
  g_assert_cmpstr (fixture->api_key, ==, "test-helper-key");

  ck_helper_runner_set_command (fixture->helper, "exit 3");
  run_doctor (fixture);
  assert_check ("helper", "fail");
  assert_check ("api", NULL);
  g_assert_cmpuint (fixture->calls, ==, 1);
}

static void
write_claude_file (Fixture    *fixture,
                   const char *name,
                   const char *contents)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (fixture->claude_dir, name, NULL);

  g_assert_true (g_file_set_contents (path, contents, -1, &error));
  g_assert_no_error (error);
}

static void
test_claude_files (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autofree char *credentials = ck_claude_settings_get_credentials_path ();

  /* Another helper: named by its program only, its arguments may be a key. */
  write_claude_file (fixture, "settings.json",
                     "{\"apiKeyHelper\": \"/opt/tools/other-helper --token test-secret-in-argv\"}");
  run_doctor (fixture);
  assert_check ("claude-settings", "warn");
  assert_in_check ("claude-settings", "detail", "other-helper");

  /* Ours, with only an OAuth login: the helper would hide it from claude. */
  write_claude_file (fixture, "settings.json", "{\"apiKeyHelper\": \"claude-keyring helper\"}");
  store_oauth (fixture, g_get_real_time () / 1000 + 3600 * 1000, FALSE, "test-doctor-refresh");
  run_doctor (fixture);
  assert_check ("claude-settings", "fail");
  assert_in_check ("claude-settings", "detail", "claude-keyring run");

  /* Ours, with a key to serve. */
  ck_test_store_set_api_key (fixture->store, API_KEY);
  run_doctor (fixture);
  assert_check ("claude-settings", "ok");
  assert_check ("plaintext-credentials", NULL);

  /* A plaintext login left behind. */
  write_claude_file (fixture, ".credentials.json", "{\"claudeAiOauth\": {}}");
  run_doctor (fixture);
  assert_check ("plaintext-credentials", "warn");
  assert_in_check ("plaintext-credentials", "detail", credentials);
  assert_in_check ("plaintext-credentials", "detail", "claude-keyring import");
}

#define add_test(path, func) \
  g_test_add ("/doctor/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

int
main (int   argc,
      char *argv[])
{
  /* No proxy lookups for the loopback API. */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_init (&argc, &argv, NULL);

  add_test ("nothing-stored", test_nothing_stored);
  add_test ("api-key", test_api_key);
  add_test ("oauth", test_oauth);
  add_test ("helper", test_helper);
  add_test ("claude-files", test_claude_files);

  return g_test_run ();
}
