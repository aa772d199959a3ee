/* test-config.c: CkConfig, the endpoints from GSettings and the
 * environment
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#define G_SETTINGS_ENABLE_BACKEND
#include <gio/gsettingsbackend.h>

#include "ck-config.h"
#include "ck-error.h"

static const char *overrides[] = {
  "CLAUDE_KEYRING_AUTHORIZE_URL", "CLAUDE_KEYRING_CONSOLE_AUTHORIZE_URL",
  "CLAUDE_KEYRING_TOKEN_URL", "CLAUDE_KEYRING_MANUAL_REDIRECT_URL",
  "CLAUDE_KEYRING_API_BASE_URL", "ANTHROPIC_BASE_URL", "CLAUDE_KEYRING_CLIENT_ID",
  "CLAUDE_KEYRING_REVOKE_URL",
};

typedef struct
{
  GSettings *settings;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GSettingsBackend) backend = g_memory_settings_backend_new ();

  for (guint i = 0; i < G_N_ELEMENTS (overrides); i++)
    g_unsetenv (overrides[i]);
  fixture->settings = g_settings_new_with_backend (APP_ID, backend);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  for (guint i = 0; i < G_N_ELEMENTS (overrides); i++)
    g_unsetenv (overrides[i]);
  g_clear_object (&fixture->settings);
}

static void
assert_endpoint (GSettings  *settings,
                 CkEndpoint  endpoint,
                 const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = ck_config_dup_endpoint (settings, endpoint, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (url, ==, expected);
}

static void
assert_refused (GSettings  *settings,
                CkEndpoint  endpoint)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = ck_config_dup_endpoint (settings, endpoint, &error);

  g_assert_null (url);
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
}

static void
test_defaults (Fixture       *fixture,
               gconstpointer  data)
{
  GSettings *settings = fixture->settings;
  g_autofree char *client_id = ck_config_dup_client_id (settings);
  g_autofree char *scopes = ck_config_dup_scopes (settings, FALSE);
  g_autofree char *console_scopes = ck_config_dup_scopes (settings, TRUE);

  /* DESIGN.md's table. */
  assert_endpoint (settings, CK_ENDPOINT_AUTHORIZE, "https://claude.com/cai/oauth/authorize");
  assert_endpoint (settings, CK_ENDPOINT_CONSOLE_AUTHORIZE, "https://platform.claude.com/oauth/authorize");
  assert_endpoint (settings, CK_ENDPOINT_TOKEN, "https://platform.claude.com/v1/oauth/token");
  assert_endpoint (settings, CK_ENDPOINT_MANUAL_REDIRECT,
                   "https://platform.claude.com/oauth/code/callback");
  assert_endpoint (settings, CK_ENDPOINT_API_BASE, "https://api.anthropic.com");
  assert_endpoint (settings, CK_ENDPOINT_REVOKE, "https://platform.claude.com/v1/oauth/revoke");
  g_assert_cmpstr (client_id, ==, "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
  g_assert_cmpstr (scopes, ==,
                   "user:profile user:inference user:sessions:claude_code user:mcp_servers "
                   "user:file_upload");
  g_assert_cmpstr (console_scopes, ==,
                   "user:profile user:inference user:sessions:claude_code user:mcp_servers "
                   "user:file_upload " CK_CONSOLE_EXTRA_SCOPE);
}

static void
test_settings (Fixture       *fixture,
               gconstpointer  data)
{
  GSettings *settings = fixture->settings;
  g_autofree char *console_scopes = NULL;

  g_settings_set_string (settings, "token-url", "https://auth.example.org/oauth2/token");
  assert_endpoint (settings, CK_ENDPOINT_TOKEN, "https://auth.example.org/oauth2/token");
  /* The revoke endpoint follows the token endpoint, until it is set. */
  assert_endpoint (settings, CK_ENDPOINT_REVOKE, "https://auth.example.org/oauth2/revoke");
  g_settings_set_string (settings, "revoke-url", "https://revoke.example.org/r");
  assert_endpoint (settings, CK_ENDPOINT_REVOKE, "https://revoke.example.org/r");
  g_settings_reset (settings, "revoke-url");

  /* A slash in the query is not the path's last segment. */
  g_settings_set_string (settings, "token-url", "https://auth.example.org/token?next=/x");
  assert_endpoint (settings, CK_ENDPOINT_REVOKE, "https://auth.example.org/token?next=/x");

  /* Paths are joined to the API base: one trailing slash goes. */
  g_settings_set_string (settings, "api-base-url", "https://api.example.org/");
  assert_endpoint (settings, CK_ENDPOINT_API_BASE, "https://api.example.org");

  g_settings_set_string (settings, "scopes", "user:inference " CK_CONSOLE_EXTRA_SCOPE);
  console_scopes = ck_config_dup_scopes (settings, TRUE);
  g_assert_cmpstr (console_scopes, ==, "user:inference " CK_CONSOLE_EXTRA_SCOPE);

  g_settings_set_string (settings, "authorize-url", "http://www.example.org/authorize");
  assert_refused (settings, CK_ENDPOINT_AUTHORIZE);
}

/* Sets @variable to @value and expects @endpoint to be @expected then. */
static void
assert_override (GSettings  *settings,
                 const char *variable,
                 const char *value,
                 CkEndpoint  endpoint,
                 const char *expected)
{
  g_setenv (variable, value, TRUE);
  assert_endpoint (settings, endpoint, expected);
}

static void
test_environment (Fixture       *fixture,
                  gconstpointer  data)
{
  GSettings *settings = fixture->settings;
  g_autofree char *client_id = NULL;

  g_settings_set_string (settings, "token-url", "https://setting.example.org/token");
  assert_override (settings, "CLAUDE_KEYRING_TOKEN_URL", "http://127.0.0.1:8080/v1/oauth/token",
                   CK_ENDPOINT_TOKEN, "http://127.0.0.1:8080/v1/oauth/token");
  assert_endpoint (settings, CK_ENDPOINT_REVOKE, "http://127.0.0.1:8080/v1/oauth/revoke");
  assert_override (settings, "CLAUDE_KEYRING_REVOKE_URL", "http://localhost:8080/gone",
                   CK_ENDPOINT_REVOKE, "http://localhost:8080/gone");

  /* An empty variable is no override. */
  assert_override (settings, "CLAUDE_KEYRING_TOKEN_URL", "",
                   CK_ENDPOINT_TOKEN, "https://setting.example.org/token");

  /* The API base: ours, then Claude Code's own variable, then the setting. */
  assert_override (settings, "ANTHROPIC_BASE_URL", "https://gateway.example.org/",
                   CK_ENDPOINT_API_BASE, "https://gateway.example.org");
  assert_override (settings, "CLAUDE_KEYRING_API_BASE_URL", "http://[::1]:9000",
                   CK_ENDPOINT_API_BASE, "http://[::1]:9000");

  assert_override (settings, "CLAUDE_KEYRING_AUTHORIZE_URL", "http://127.0.0.1:1/authorize",
                   CK_ENDPOINT_AUTHORIZE, "http://127.0.0.1:1/authorize");
  assert_override (settings, "CLAUDE_KEYRING_CONSOLE_AUTHORIZE_URL", "http://127.0.0.1:2/authorize",
                   CK_ENDPOINT_CONSOLE_AUTHORIZE, "http://127.0.0.1:2/authorize");
  assert_override (settings, "CLAUDE_KEYRING_MANUAL_REDIRECT_URL", "http://127.0.0.1:3/callback",
                   CK_ENDPOINT_MANUAL_REDIRECT, "http://127.0.0.1:3/callback");

  g_setenv ("CLAUDE_KEYRING_CLIENT_ID", "test-client", TRUE);
  client_id = ck_config_dup_client_id (settings);
  g_assert_cmpstr (client_id, ==, "test-client");

  /* An override obeys the same rule as a setting... */
  g_setenv ("CLAUDE_KEYRING_TOKEN_URL", "http://tokens.example.org/token", TRUE);
  assert_refused (settings, CK_ENDPOINT_TOKEN);
  /* ... and so does the revoke URL derived from it. */
  g_unsetenv ("CLAUDE_KEYRING_REVOKE_URL");
  assert_refused (settings, CK_ENDPOINT_REVOKE);
}

static void
test_loopback_only (Fixture       *fixture,
                    gconstpointer  data)
{
  static const char *allowed[] = {
    "https://example.org/x", "HTTPS://EXAMPLE.ORG/", "https://10.0.0.1/",
    "http://localhost:8080/callback", "http://LocalHost/", "http://127.0.0.1:1/",
    "http://127.8.9.10/", "http://[::1]:8080/",
  };
  static const char *refused[] = {
    "http://example.org/", "http://10.0.0.1/", "http://localhost.example.org/",
    "http://127.0.0.1.example.org/", "http://0.0.0.0/", "http://[::]/",
    "ftp://localhost/", "file:///etc/passwd", "https://", "not a url", "",
    "javascript:alert(1)",
  };

  for (guint i = 0; i < G_N_ELEMENTS (allowed); i++)
    {
      g_autoptr(GError) error = NULL;

      g_test_message ("allowed: %s", allowed[i]);
      g_assert_true (ck_config_check_url (allowed[i], &error));
      g_assert_no_error (error);
    }

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(GError) error = NULL;

      g_test_message ("refused: %s", refused[i]);
      g_assert_false (ck_config_check_url (refused[i], &error));
      g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
      /* The message names what to fix. */
      g_assert_nonnull (strstr (error->message, refused[i]));
    }
}

/* account-rules: the longest directory that holds the path, a whole
 * component at a time (issue 19). */
static void
assert_rule (GSettings  *settings,
             const char *cwd,
             const char *account,
             const char *dir)
{
  g_autofree char *matched_dir = NULL;
  g_autofree char *matched = ck_config_match_account_rule (settings, cwd, &matched_dir);

  g_assert_cmpstr (matched, ==, account);
  g_assert_cmpstr (matched_dir, ==, dir);
}

static void
test_account_rules (Fixture       *fixture,
                    gconstpointer  data)
{
  GSettings *settings = fixture->settings;

  assert_rule (settings, "/home/me/work", NULL, NULL);
  g_settings_set_value (settings, "account-rules",
                        g_variant_new_parsed ("{'/home/me/work': 'work', '/home/me/work/oss': 'personal', "
                                              "'/srv/ci/': 'ci', 'relative': 'nobody', '/': 'root'}"));
  assert_rule (settings, "/home/me/work", "work", "/home/me/work");
  assert_rule (settings, "/home/me/work/a/b", "work", "/home/me/work");
  assert_rule (settings, "/home/me/work/oss", "personal", "/home/me/work/oss");
  assert_rule (settings, "/home/me/work/oss/x", "personal", "/home/me/work/oss");
  /* A string prefix is not a parent directory. */
  assert_rule (settings, "/home/me/workshop", "root", "/");
  assert_rule (settings, "/home/me/work/ossify", "work", "/home/me/work");
  /* A trailing slash in the rule is the same directory. */
  assert_rule (settings, "/srv/ci", "ci", "/srv/ci/");
  assert_rule (settings, "/srv/ci/job", "ci", "/srv/ci/");
  assert_rule (settings, "/srv/cinema", "root", "/");
  /* No cwd, or a relative one, matches nothing. */
  assert_rule (settings, NULL, NULL, NULL);
  assert_rule (settings, "relative", NULL, NULL);

  /* Junk written into the setting by hand, and a cwd that is not
   * canonical: matched a whole component at a time all the same. */
  g_settings_set_value (settings, "account-rules",
                        g_variant_new_parsed ("{'/p/a////': 'outer', '/p/a/b': 'inner', "
                                              "'/q/./x/../y': 'q', '/': 'root'}"));
  assert_rule (settings, "/p/a/b/c", "inner", "/p/a/b");
  assert_rule (settings, "/p/a/c", "outer", "/p/a////");
  assert_rule (settings, "/p/a/b/../c", "outer", "/p/a////");
  assert_rule (settings, "/p/a/b/..", "outer", "/p/a////");
  assert_rule (settings, "/q/y/z", "q", "/q/./x/../y");
  assert_rule (settings, "/q/x", "root", "/");
}

#define add_test(path, func) \
  g_test_add ("/config/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  add_test ("defaults", test_defaults);
  add_test ("settings", test_settings);
  add_test ("environment", test_environment);
  add_test ("loopback-only", test_loopback_only);
  add_test ("account-rules", test_account_rules);

  return g_test_run ();
}
