/* test-oauth-tokens.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "ck-error.h"
#include "ck-oauth-tokens.h"

static const char credentials_file[] =
  "{\"claudeAiOauth\":{\"accessToken\":\"test-access-token-1\","
  "\"refreshToken\":\"test-refresh-token-1\",\"expiresAt\":1764000000000,"
  "\"scopes\":[\"user:inference\",\"user:profile\"],"
  "\"subscriptionType\":\"max\",\"rateLimitTier\":\"default_claude_max_20x\","
  "\"futureField\":{\"nested\":[1,2,3]}},\"otherTopLevel\":true}";

static void
test_credentials_file_round_trip (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkOAuthTokens) tokens = NULL;
  g_autoptr(CkOAuthTokens) again = NULL;
  g_autofree char *json = NULL;
  JsonNode *future;

  tokens = ck_oauth_tokens_new_from_credentials_file (credentials_file, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tokens->access_token, ==, "test-access-token-1");
  g_assert_cmpstr (tokens->refresh_token, ==, "test-refresh-token-1");
  g_assert_cmpint (tokens->expires_at_ms, ==, 1764000000000);
  g_assert_cmpuint (g_strv_length (tokens->scopes), ==, 2);
  g_assert_cmpstr (tokens->subscription_type, ==, "max");
  g_assert_cmpstr (tokens->rate_limit_tier, ==, "default_claude_max_20x");

  /* Members we do not know survive a store and a load. */
  json = ck_oauth_tokens_to_json (tokens);
  again = ck_oauth_tokens_new_from_json (json, -1, &error);
  g_assert_no_error (error);
  g_assert_true (ck_oauth_tokens_equal (tokens, again));
  g_assert_nonnull (again->extra);
  future = json_object_get_member (again->extra, "futureField");
  g_assert_nonnull (future);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (future));

  /* A copy is deep and equal. */
  {
    g_autoptr(CkOAuthTokens) copy = ck_oauth_tokens_copy (tokens);

    g_assert_true (ck_oauth_tokens_equal (tokens, copy));
    g_assert_true (copy->access_token != tokens->access_token);
  }
}

static void
test_malformed (void)
{
  const char *bad[] = {
    "", "{", "[]", "null", "{\"claudeAiOauth\":5}", "{\"other\":{}}",
    "{\"claudeAiOauth\":{\"refreshToken\":\"x\"}}",
    "{\"claudeAiOauth\":{\"accessToken\":7}}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CkOAuthTokens) tokens = NULL;

      tokens = ck_oauth_tokens_new_from_credentials_file (bad[i], -1, &error);
      g_assert_null (tokens);
      g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
      /* The message never echoes the file's contents. */
      g_assert_null (strstr (error->message, "refreshToken"));
    }
}

static void
test_token_response (void)
{
  static const char body[] =
    "{\"access_token\":\"a-1\",\"refresh_token\":\"r-1\",\"expires_in\":3600,"
    "\"scope\":\"user:inference  user:profile\",\"token_type\":\"Bearer\","
    "\"account\":{\"uuid\":\"acc-uuid\",\"email_address\":\"user@example.org\"},"
    "\"organization\":{\"uuid\":\"org-uuid\",\"name\":\"Example Org\"}}";
  g_autoptr(GError) error = NULL;
  g_autoptr(CkOAuthTokens) tokens = NULL;

  tokens = ck_oauth_tokens_new_from_token_response (body, -1, 1000000, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tokens->access_token, ==, "a-1");
  g_assert_cmpstr (tokens->refresh_token, ==, "r-1");
  g_assert_cmpint (tokens->expires_at_ms, ==, 1000000 + 3600 * 1000);
  g_assert_cmpuint (g_strv_length (tokens->scopes), ==, 2);
  g_assert_cmpstr (tokens->account_email, ==, "user@example.org");
  g_assert_cmpstr (tokens->organization_name, ==, "Example Org");

  g_assert_true (ck_oauth_tokens_valid_for (tokens, 1000000, 300));
  g_assert_false (ck_oauth_tokens_valid_for (tokens, 1000000 + 3400 * 1000, 300));

  g_clear_pointer (&tokens, ck_oauth_tokens_unref);
  tokens = ck_oauth_tokens_new_from_token_response ("{\"error\":\"invalid_grant\"}", -1, 0, &error);
  g_assert_null (tokens);
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
}

/* A reply without a usable expires_in: the token is refreshed after an hour
 * rather than never, when it can be refreshed at all, and that is kept
 * across a store and a load so that the doctor can say so later. */
static void
test_token_response_bad_expiry (void)
{
  const char *bad[] = {
    "", ",\"expires_in\":0", ",\"expires_in\":-5", ",\"expires_in\":\"3600\"",
    ",\"expires_in\":null", ",\"expires_in\":1e300", ",\"expires_in\":{}",
    ",\"expires_in\":9223372036854775807",
  };
  const gint64 now_ms = 1700000000000;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *with_refresh = g_strdup_printf ("{\"access_token\":\"a-1\",\"refresh_token\":\"r-1\"%s}", bad[i]);
      g_autofree char *without_refresh = g_strdup_printf ("{\"access_token\":\"a-1\"%s}", bad[i]);
      g_autoptr(GError) error = NULL;
      g_autoptr(CkOAuthTokens) tokens = NULL;
      g_autoptr(CkOAuthTokens) again = NULL;
      g_autofree char *json = NULL;

      g_test_message ("expires_in member: %s", bad[i]);
      tokens = ck_oauth_tokens_new_from_token_response (with_refresh, -1, now_ms, &error);
      g_assert_no_error (error);
      g_assert_cmpint (tokens->expires_at_ms, ==, now_ms + CK_OAUTH_ASSUMED_LIFETIME_SEC * 1000);
      g_assert_true (tokens->expiry_assumed);
      g_assert_false (ck_oauth_tokens_valid_for (tokens, now_ms + 3500 * 1000, 300));

      json = ck_oauth_tokens_to_json (tokens);
      again = ck_oauth_tokens_new_from_json (json, -1, &error);
      g_assert_no_error (error);
      g_assert_true (again->expiry_assumed);
      g_assert_null (again->extra);
      g_assert_true (ck_oauth_tokens_equal (tokens, again));

      /* Nothing can refresh it: "unknown" as before, not cut short. */
      g_clear_pointer (&tokens, ck_oauth_tokens_unref);
      tokens = ck_oauth_tokens_new_from_token_response (without_refresh, -1, now_ms, &error);
      g_assert_no_error (error);
      g_assert_cmpint (tokens->expires_at_ms, ==, 0);
      g_assert_false (tokens->expiry_assumed);
    }
}

/* A refresh reply that leaves out both expires_in and the refresh token:
 * once the old refresh token is carried over, the lifetime is assumed. */
static void
test_assume_lifetime (void)
{
  g_autoptr(CkOAuthTokens) tokens = ck_oauth_tokens_new ();

  tokens->access_token = g_strdup ("a-2");
  ck_oauth_tokens_assume_lifetime (tokens, 1000);
  g_assert_cmpint (tokens->expires_at_ms, ==, 0);

  tokens->refresh_token = g_strdup ("");
  ck_oauth_tokens_assume_lifetime (tokens, 1000);
  g_assert_cmpint (tokens->expires_at_ms, ==, 0);

  g_free (tokens->refresh_token);
  tokens->refresh_token = g_strdup ("r-2");
  ck_oauth_tokens_assume_lifetime (tokens, 1000);
  g_assert_cmpint (tokens->expires_at_ms, ==, 1000 + CK_OAUTH_ASSUMED_LIFETIME_SEC * 1000);
  g_assert_true (tokens->expiry_assumed);

  /* A known expiry is never replaced. */
  tokens->expires_at_ms = 5000;
  tokens->expiry_assumed = FALSE;
  ck_oauth_tokens_assume_lifetime (tokens, 1000);
  g_assert_cmpint (tokens->expires_at_ms, ==, 5000);
  g_assert_false (tokens->expiry_assumed);
}

static void
test_profile (void)
{
  static const char body[] =
    "{\"account\":{\"uuid\":\"acc-uuid\",\"email\":\"user@example.org\"},"
    "\"organization\":{\"uuid\":\"org-uuid\",\"name\":\"Example Org\","
    "\"organization_type\":\"claude_pro\",\"rate_limit_tier\":\"default_claude_pro\"}}";
  static const char *refused[] = {
    "", "{", "[]", "{\"display_name\":\"x\"}", "{\"account\":5,\"organization\":[]}",
    /* json-glib would turn this into text that cannot be stored. */
    "{\"account\":{\"email\":\"a\\ud800b@example.org\"}}",
  };
  g_autoptr(CkOAuthTokens) tokens = ck_oauth_tokens_new ();
  g_autoptr(CkOAuthTokens) before = NULL;
  g_autoptr(GError) error = NULL;

  tokens->access_token = g_strdup ("test-access");
  tokens->account_email = g_strdup ("old@example.org");
  tokens->subscription_type = g_strdup ("max");

  g_assert_true (ck_oauth_tokens_apply_profile (tokens, body, -1, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (tokens->access_token, ==, "test-access");
  g_assert_cmpstr (tokens->account_uuid, ==, "acc-uuid");
  g_assert_cmpstr (tokens->account_email, ==, "user@example.org");
  g_assert_cmpstr (tokens->organization_uuid, ==, "org-uuid");
  g_assert_cmpstr (tokens->organization_name, ==, "Example Org");
  g_assert_cmpstr (tokens->subscription_type, ==, "pro");
  g_assert_cmpstr (tokens->rate_limit_tier, ==, "default_claude_pro");

  /* The older member name; an unknown plan as it is; empty keeps. */
  g_assert_true (ck_oauth_tokens_apply_profile (tokens,
                                                "{\"account\":{\"email_address\":\"b@example.org\"},"
                                                "\"organization\":{\"organization_type\":\"claude_x\","
                                                "\"name\":\"\"}}",
                                                -1, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (tokens->account_email, ==, "b@example.org");
  g_assert_cmpstr (tokens->subscription_type, ==, "claude_x");
  g_assert_cmpstr (tokens->organization_name, ==, "Example Org");

  /* Not a profile: nothing changes. */
  before = ck_oauth_tokens_copy (tokens);
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_assert_false (ck_oauth_tokens_apply_profile (tokens, refused[i], -1, &error));
      g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
      g_assert_true (ck_oauth_tokens_equal (tokens, before));
    }
}

static void
test_reply_error (void)
{
  static const char *known[] = { "invalid_grant", "server_error", NULL };
  static const char grant[] = "{\"error\":\"invalid_grant\",\"error_description\":\"x\"}";
  const char *found;

  found = ck_oauth_reply_find_error (grant, sizeof grant - 1, known);
  g_assert_true (found == known[0]);
  /* Only a code from the list, never the server's own text. */
  g_assert_null (ck_oauth_reply_find_error ("{\"error\":\"made_up\"}", -1, known));
  g_assert_null (ck_oauth_reply_find_error ("{\"error\":{\"type\":\"invalid_grant\"}}", -1, known));
  g_assert_null (ck_oauth_reply_find_error ("<html>", -1, known));
  g_assert_null (ck_oauth_reply_find_error (grant, 0, known));
  g_assert_null (ck_oauth_reply_find_error (NULL, 0, known));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/oauth-tokens/credentials-file", test_credentials_file_round_trip);
  g_test_add_func ("/oauth-tokens/malformed", test_malformed);
  g_test_add_func ("/oauth-tokens/token-response", test_token_response);
  g_test_add_func ("/oauth-tokens/token-response-bad-expiry", test_token_response_bad_expiry);
  g_test_add_func ("/oauth-tokens/assume-lifetime", test_assume_lifetime);
  g_test_add_func ("/oauth-tokens/profile", test_profile);
  g_test_add_func ("/oauth-tokens/reply-error", test_reply_error);
  return g_test_run ();
}
