/* test-oauth-client.c: CkOAuthClient against tests/support/fake-oauth-server.py
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include <libsoup/soup.h>

#include "ck-error.h"
#include "ck-loopback-server.h"
#include "ck-oauth-client.h"
#include "ck-pkce.h"
#include "ck-test-core.h"

#define CLIENT_ID   CK_FAKE_OAUTH_CLIENT_ID
#define FAKE_PREFIX CK_FAKE_OAUTH_PREFIX
#define SCOPES      "user:profile user:inference"

static GPtrArray *log_messages;

static CkOAuthClient *
client_new (void)
{
  g_autofree char *token_url = ck_fake_oauth_url ("/v1/oauth/token");

  /* No revoke URL: it is derived from the token URL, as in DESIGN.md. */
  return ck_oauth_client_new (token_url, NULL, ck_fake_oauth_get_base (), CLIENT_ID);
}

static void
assert_no_secret (const GError *error)
{
  g_assert_nonnull (error);
  g_test_message ("error: %s", error->message);
  g_assert_null (strstr (error->message, FAKE_PREFIX));
  g_assert_null (strstr (error->message, "{"));
}

/* A browser login against the fake server */

typedef struct
{
  char *code;
  char *redirect_uri;
  char *verifier;
  char *state;
} Authorization;

static void
authorization_clear (Authorization *auth)
{
  g_clear_pointer (&auth->code, ck_secret_free);
  g_clear_pointer (&auth->redirect_uri, g_free);
  g_clear_pointer (&auth->verifier, ck_secret_free);
  g_clear_pointer (&auth->state, ck_secret_free);
}

/* The "browser": opens the authorize URL, follows the one redirect to the
 * loopback server, and returns what the loopback server received.
 */
static void
authorize (Authorization *auth)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkPkce) pkce = ck_pkce_new ();
  g_autoptr(CkLoopbackServer) server = NULL;
  g_autofree char *authorize_url = ck_fake_oauth_url ("/oauth/authorize");
  g_autofree char *url = NULL;
  g_autofree char *location = NULL;
  CkTestAsync wait = { 0 };

  server = ck_loopback_server_new (pkce->state, &error);
  g_assert_no_error (error);
  auth->redirect_uri = ck_loopback_server_dup_redirect_uri (server);
  url = ck_pkce_build_authorize_url (pkce, authorize_url, CLIENT_ID, auth->redirect_uri, SCOPES);
  ck_loopback_server_wait_async (server, 20, NULL, ck_test_async_cb, &wait);

  location = ck_fake_oauth_authorize (url);
  g_assert_true (g_str_has_prefix (location, auth->redirect_uri));
  g_assert_cmpuint (ck_fake_oauth_browse (location, &error), ==, SOUP_STATUS_OK);
  g_assert_no_error (error);

  auth->code = ck_loopback_server_wait_finish (server, ck_test_async_wait (&wait), &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (auth->code, FAKE_PREFIX "code-"));
  ck_test_async_clear (&wait);

  auth->verifier = g_strdup (pkce->verifier);
  auth->state = g_strdup (pkce->state);
}

static CkOAuthTokens *
exchange (CkOAuthClient  *client,
          Authorization  *auth,
          GError        **error)
{
  CkTestAsync async = { 0 };
  CkOAuthTokens *tokens;

  ck_oauth_client_exchange_code_async (client, auth->code, auth->verifier, auth->redirect_uri,
                                       auth->state, NULL, ck_test_async_cb, &async);
  tokens = ck_oauth_client_exchange_code_finish (client, ck_test_async_wait (&async), error);
  ck_test_async_clear (&async);

  return tokens;
}

static CkOAuthTokens *
login (CkOAuthClient *client)
{
  g_autoptr(GError) error = NULL;
  Authorization auth = { 0 };
  CkOAuthTokens *tokens;

  authorize (&auth);
  tokens = exchange (client, &auth, &error);
  g_assert_no_error (error);
  authorization_clear (&auth);

  return tokens;
}

static CkOAuthTokens *
refresh (CkOAuthClient  *client,
         const char     *refresh_token,
         GError        **error)
{
  CkTestAsync async = { 0 };
  CkOAuthTokens *tokens;

  ck_oauth_client_refresh_async (client, refresh_token, NULL, ck_test_async_cb, &async);
  tokens = ck_oauth_client_refresh_finish (client, ck_test_async_wait (&async), error);
  ck_test_async_clear (&async);

  return tokens;
}

static CkOAuthTokens *
fetch_profile (CkOAuthClient        *client,
               const CkOAuthTokens  *tokens,
               GError              **error)
{
  CkTestAsync async = { 0 };
  CkOAuthTokens *result;

  ck_oauth_client_fetch_profile_async (client, tokens, NULL, ck_test_async_cb, &async);
  result = ck_oauth_client_fetch_profile_finish (client, ck_test_async_wait (&async), error);
  ck_test_async_clear (&async);

  return result;
}

static gboolean
revoke_token (CkOAuthClient  *client,
              const char     *token,
              GError        **error)
{
  CkTestAsync async = { 0 };
  gboolean ok;

  ck_oauth_client_revoke_async (client, token, NULL, ck_test_async_cb, &async);
  ok = ck_oauth_client_revoke_finish (client, ck_test_async_wait (&async), error);
  ck_test_async_clear (&async);

  return ok;
}

/* Tests */

static void
test_properties (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autofree char *revoke_url = ck_fake_oauth_url ("/v1/oauth/revoke");
  guint timeout = 0;

  g_assert_cmpstr (ck_oauth_client_get_revoke_url (client), ==, revoke_url);
  g_assert_cmpstr (ck_oauth_client_get_client_id (client), ==, CLIENT_ID);
  g_object_get (client, "timeout", &timeout, NULL);
  g_assert_cmpuint (timeout, ==, 30);
  ck_oauth_client_set_timeout (client, 5);
  g_assert_cmpuint (ck_oauth_client_get_timeout (client), ==, 5);
}

static void
test_exchange (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(CkOAuthTokens) tokens = NULL;
  g_autoptr(JsonObject) stats = NULL;
  JsonObject *headers;
  JsonObject *request;
  gint64 now_ms = g_get_real_time () / 1000;

  ck_fake_oauth_reset ();
  tokens = login (client);

  g_assert_true (g_str_has_prefix (tokens->access_token, FAKE_PREFIX "access-"));
  g_assert_true (g_str_has_prefix (tokens->refresh_token, FAKE_PREFIX "refresh-"));
  g_assert_cmpint (tokens->expires_at_ms, >=, now_ms + 3590 * 1000);
  g_assert_cmpint (tokens->expires_at_ms, <=, now_ms + 3610 * 1000);
  g_assert_true (g_strv_contains ((const char * const *) tokens->scopes, "user:inference"));
  g_assert_cmpstr (tokens->account_email, ==, "tester@example.com");
  g_assert_cmpstr (tokens->account_uuid, ==, "4a3b2c1d-0000-4000-8000-00000000fa7e");
  g_assert_cmpstr (tokens->organization_name, ==, "Fake Org");

  stats = ck_fake_oauth_get_stats ();
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "token_requests.authorization_code"), ==, 1);
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "exchange_ok"), ==, 1);

  /* What went over the wire: a JSON body with every member of the grant. */
  request = json_object_get_object_member (stats, "last_token_request");
  g_assert_cmpstr (json_object_get_string_member (request, "client_id"), ==, CLIENT_ID);
  {
    JsonArray *keys = json_object_get_array_member (request, "keys");
    const char *expected[] = { "client_id", "code", "code_verifier", "grant_type", "redirect_uri", "state" };

    g_assert_cmpuint (json_array_get_length (keys), ==, G_N_ELEMENTS (expected));
    for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
      g_assert_cmpstr (json_array_get_string_element (keys, i), ==, expected[i]);
  }
  headers = json_object_get_object_member (stats, "last_request_headers");
  g_assert_cmpstr (json_object_get_string_member (headers, "Content-Type"), ==, "application/json");
  g_assert_cmpstr (json_object_get_string_member (headers, "User-Agent"), ==,
                   "claude-keyring/" PACKAGE_VERSION);
}

static void
test_exchange_refused (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(CkOAuthTokens) tokens = NULL;
  Authorization auth = { 0 };

  ck_fake_oauth_reset ();

  /* Another login's verifier. */
  authorize (&auth);
  g_clear_pointer (&auth.verifier, ck_secret_free);
  auth.verifier = g_strdup ("wrong-verifier-0123456789abcdefghijklmnopqrstuvwxyz");
  tokens = exchange (client, &auth, &error);
  g_assert_null (tokens);
  g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_INVALID_GRANT);
  g_assert_nonnull (strstr (error->message, "400"));
  assert_no_secret (error);
  g_clear_error (&error);
  authorization_clear (&auth);

  /* A redirect URI other than the one in the authorize URL. */
  authorize (&auth);
  g_free (auth.redirect_uri);
  auth.redirect_uri = g_strdup ("http://localhost:1/callback");
  tokens = exchange (client, &auth, &error);
  g_assert_null (tokens);
  g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_INVALID_GRANT);
  assert_no_secret (error);
  g_clear_error (&error);
  authorization_clear (&auth);

  /* A code redeemed twice. */
  authorize (&auth);
  tokens = exchange (client, &auth, &error);
  g_assert_no_error (error);
  g_clear_pointer (&tokens, ck_oauth_tokens_unref);
  tokens = exchange (client, &auth, &error);
  g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_INVALID_GRANT);
  assert_no_secret (error);
  authorization_clear (&auth);
}

static void
test_refresh_rotates (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(CkOAuthTokens) first = NULL;
  g_autoptr(CkOAuthTokens) second = NULL;
  g_autoptr(CkOAuthTokens) third = NULL;
  g_autoptr(JsonObject) stats = NULL;
  JsonObject *request;

  ck_fake_oauth_reset ();
  first = login (client);

  second = refresh (client, first->refresh_token, &error);
  g_assert_no_error (error);
  g_assert_nonnull (second->refresh_token);
  g_assert_cmpstr (second->refresh_token, !=, first->refresh_token);
  g_assert_cmpstr (second->access_token, !=, first->access_token);
  g_assert_cmpint (second->expires_at_ms, >, 0);

  third = refresh (client, second->refresh_token, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (third->refresh_token, !=, second->refresh_token);

  stats = ck_fake_oauth_get_stats ();
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "refresh_ok"), ==, 2);
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "token_requests.refresh_token"), ==, 2);
  request = json_object_get_object_member (stats, "last_token_request");
  g_assert_cmpstr (json_object_get_string_member (request, "client_id"), ==, CLIENT_ID);
  g_assert_cmpstr (json_object_get_string_member (request, "grant_type"), ==, "refresh_token");
}

static void
test_refresh_reuse (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(CkOAuthTokens) first = NULL;
  g_autoptr(CkOAuthTokens) second = NULL;
  g_autoptr(CkOAuthTokens) again = NULL;
  g_autoptr(JsonObject) stats = NULL;

  ck_fake_oauth_reset ();
  first = login (client);
  second = refresh (client, first->refresh_token, &error);
  g_assert_no_error (error);

  /* The spent token: the server takes it as stolen. */
  again = refresh (client, first->refresh_token, &error);
  g_assert_null (again);
  g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_INVALID_GRANT);
  g_assert_nonnull (strstr (error->message, "log in again"));
  assert_no_secret (error);
  g_clear_error (&error);

  /* ... and ends the whole login, the newest token too. */
  again = refresh (client, second->refresh_token, &error);
  g_assert_null (again);
  g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_INVALID_GRANT);
  g_clear_error (&error);

  stats = ck_fake_oauth_get_stats ();
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "reuse_detected"), ==, 1);
}

static void
test_refresh_without_rotation (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(CkOAuthTokens) first = NULL;
  g_autoptr(CkOAuthTokens) second = NULL;
  g_autoptr(CkOAuthTokens) third = NULL;

  ck_fake_oauth_reset ();
  first = login (client);
  ck_fake_oauth_set_mode ("{\"rotate\": false}");

  /* No refresh_token in the reply: the caller keeps the old one. */
  second = refresh (client, first->refresh_token, &error);
  g_assert_no_error (error);
  g_assert_null (second->refresh_token);
  g_assert_nonnull (second->access_token);

  third = refresh (client, first->refresh_token, &error);
  g_assert_no_error (error);
}

static void
test_refresh_faults (void)
{
  static const struct {
    const char *mode;
    int         code;
    const char *in_message;
  } faults[] = {
    { "{\"refresh\": \"500\"}", CK_OAUTH_ERROR_HTTP, "HTTP 500" },
    { "{\"refresh\": \"malformed\"}", CK_OAUTH_ERROR_MALFORMED, "not a token response" },
    { "{\"refresh\": \"invalid_grant\"}", CK_OAUTH_ERROR_INVALID_GRANT, "HTTP 400" },
  };
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(CkOAuthTokens) tokens = NULL;

  ck_fake_oauth_reset ();
  tokens = login (client);

  for (guint i = 0; i < G_N_ELEMENTS (faults); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CkOAuthTokens) result = NULL;

      ck_fake_oauth_set_mode (faults[i].mode);
      result = refresh (client, tokens->refresh_token, &error);
      g_assert_null (result);
      g_assert_error (error, CK_OAUTH_ERROR, faults[i].code);
      g_assert_nonnull (strstr (error->message, faults[i].in_message));
      g_assert_nonnull (strstr (error->message, "127.0.0.1"));
      assert_no_secret (error);
    }

  /* The failures spent nothing: the token still works. */
  ck_fake_oauth_set_mode ("{\"refresh\": \"ok\"}");
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(CkOAuthTokens) result = refresh (client, tokens->refresh_token, &error);

    g_assert_no_error (error);
  }
}

static void
test_refresh_fail_every (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(CkOAuthTokens) tokens = NULL;
  guint failures = 0;

  ck_fake_oauth_reset ();
  tokens = login (client);
  ck_fake_oauth_set_mode ("{\"refresh\": \"fail-every-2\"}");

  for (guint i = 0; i < 4; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CkOAuthTokens) result = refresh (client, tokens->refresh_token, &error);

      if (result != NULL)
        {
          g_clear_pointer (&tokens, ck_oauth_tokens_unref);
          tokens = g_steal_pointer (&result);
        }
      else
        {
          g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_HTTP);
          assert_no_secret (error);
          failures++;
        }
    }

  g_assert_cmpuint (failures, ==, 2);
}

static void
test_refresh_timeout (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(CkOAuthTokens) tokens = NULL;
  g_autoptr(CkOAuthTokens) result = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start;
  gint64 elapsed;

  ck_fake_oauth_reset ();
  tokens = login (client);
  ck_fake_oauth_set_mode ("{\"refresh\": \"hang\"}");
  ck_oauth_client_set_timeout (client, 1);

  start = g_get_monotonic_time ();
  result = refresh (client, tokens->refresh_token, &error);
  elapsed = g_get_monotonic_time () - start;

  g_assert_null (result);
  g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_TIMEOUT);
  g_assert_nonnull (strstr (error->message, "1 second"));
  assert_no_secret (error);
  g_assert_cmpint (elapsed, >=, G_USEC_PER_SEC / 2);
  g_assert_cmpint (elapsed, <, 3 * G_USEC_PER_SEC);
}

static gboolean
cancel_cb (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static void
test_refresh_cancel (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(CkOAuthTokens) tokens = NULL;
  g_autoptr(CkOAuthTokens) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  CkTestAsync async = { 0 };
  gint64 start;

  ck_fake_oauth_reset ();
  tokens = login (client);
  ck_fake_oauth_set_mode ("{\"refresh\": \"hang\"}");

  start = g_get_monotonic_time ();
  ck_oauth_client_refresh_async (client, tokens->refresh_token, cancellable, ck_test_async_cb, &async);
  g_timeout_add (100, cancel_cb, cancellable);
  result = ck_oauth_client_refresh_finish (client, ck_test_async_wait (&async), &error);
  ck_test_async_clear (&async);

  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
}

static void
test_network_error (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(CkOAuthClient) client = NULL;
  g_autoptr(CkOAuthTokens) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;

  /* A port that was free a moment ago and has nobody listening. */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, address, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  url = g_strdup_printf ("http://127.0.0.1:%u/v1/oauth/token",
                         g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));

  client = ck_oauth_client_new (url, NULL, ck_fake_oauth_get_base (), CLIENT_ID);
  result = refresh (client, FAKE_PREFIX "refresh-never-sent", &error);
  g_assert_null (result);
  g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_NETWORK);
  assert_no_secret (error);
}

static void
test_profile (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(CkOAuthTokens) tokens = NULL;
  g_autoptr(CkOAuthTokens) profile = NULL;
  g_autoptr(JsonObject) stats = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *headers;

  ck_fake_oauth_reset ();
  tokens = login (client);

  /* What the token reply had is in; the profile adds the rest. */
  g_assert_null (tokens->subscription_type);
  g_assert_null (tokens->rate_limit_tier);

  profile = fetch_profile (client, tokens, &error);
  g_assert_no_error (error);
  g_assert_true (profile != tokens);
  g_assert_cmpstr (profile->access_token, ==, tokens->access_token);
  g_assert_cmpstr (profile->refresh_token, ==, tokens->refresh_token);
  g_assert_cmpint (profile->expires_at_ms, ==, tokens->expires_at_ms);
  g_assert_cmpstr (profile->account_uuid, ==, "4a3b2c1d-0000-4000-8000-00000000fa7e");
  g_assert_cmpstr (profile->account_email, ==, "tester@example.com");
  g_assert_cmpstr (profile->organization_uuid, ==, "0f0e0d0c-0000-4000-8000-00000000fa7e");
  g_assert_cmpstr (profile->organization_name, ==, "Fake Org");
  g_assert_cmpstr (profile->subscription_type, ==, "max");
  g_assert_cmpstr (profile->rate_limit_tier, ==, "default_claude_max_20x");
  /* The input is untouched. */
  g_assert_null (tokens->subscription_type);

  stats = ck_fake_oauth_get_stats ();
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "profile_calls"), ==, 1);
  headers = json_object_get_object_member (stats, "last_request_headers");
  g_assert_cmpstr (json_object_get_string_member (headers, "anthropic-beta"), ==, "oauth-2025-04-20");
}

static void
test_profile_errors (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(CkOAuthTokens) tokens = NULL;
  g_autoptr(CkOAuthTokens) bogus = NULL;

  ck_fake_oauth_reset ();
  tokens = login (client);

  /* The fake checks the bearer token. */
  bogus = ck_oauth_tokens_copy (tokens);
  g_free (bogus->access_token);
  bogus->access_token = g_strdup (FAKE_PREFIX "access-unknown");
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(CkOAuthTokens) profile = fetch_profile (client, bogus, &error);

    g_assert_null (profile);
    g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_HTTP);
    g_assert_nonnull (strstr (error->message, "401"));
    assert_no_secret (error);
  }

  ck_fake_oauth_set_mode ("{\"profile\": \"malformed\"}");
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(CkOAuthTokens) profile = fetch_profile (client, tokens, &error);

    g_assert_null (profile);
    g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_MALFORMED);
    assert_no_secret (error);
  }

  ck_fake_oauth_set_mode ("{\"profile\": \"500\"}");
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(CkOAuthTokens) profile = fetch_profile (client, tokens, &error);

    g_assert_null (profile);
    g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_HTTP);
    g_assert_nonnull (strstr (error->message, "500"));
    assert_no_secret (error);
  }
}

static void
test_revoke (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(CkOAuthTokens) tokens = NULL;
  g_autoptr(JsonObject) stats = NULL;
  g_autoptr(GError) error = NULL;

  ck_fake_oauth_reset ();
  tokens = login (client);

  g_assert_true (revoke_token (client, tokens->refresh_token, &error));
  g_assert_no_error (error);

  stats = ck_fake_oauth_get_stats ();
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "revokes"), ==, 1);
  g_assert_cmpint (ck_fake_oauth_stat_int (stats, "revoked_families"), ==, 1);

  /* Revoked for real: neither token works any more. */
  {
    g_autoptr(CkOAuthTokens) result = refresh (client, tokens->refresh_token, &error);

    g_assert_null (result);
    g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_INVALID_GRANT);
    g_clear_error (&error);
  }
  {
    g_autoptr(CkOAuthTokens) result = fetch_profile (client, tokens, &error);

    g_assert_null (result);
    g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_HTTP);
    g_clear_error (&error);
  }
}

static void
test_revoke_unsupported (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(GError) error = NULL;

  ck_fake_oauth_reset ();

  ck_fake_oauth_set_mode ("{\"revoke\": \"404\"}");
  g_assert_false (revoke_token (client, FAKE_PREFIX "refresh-x", &error));
  g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_HTTP);
  g_assert_nonnull (strstr (error->message, "does not support"));
  assert_no_secret (error);
  g_clear_error (&error);

  ck_fake_oauth_set_mode ("{\"revoke\": \"500\"}");
  g_assert_false (revoke_token (client, FAKE_PREFIX "refresh-x", &error));
  g_assert_error (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_HTTP);
  g_assert_nonnull (strstr (error->message, "500"));
  assert_no_secret (error);
}

/* Runs last: nothing logged during the whole run holds a secret. */
static void
test_logs (void)
{
  g_autoptr(CkOAuthClient) client = client_new ();
  g_autoptr(CkOAuthTokens) tokens = NULL;
  g_autoptr(CkOAuthTokens) result = NULL;
  g_autoptr(GError) error = NULL;
  gboolean saw_status = FALSE;

  /* At least one full round, also when this test runs alone. */
  ck_fake_oauth_reset ();
  tokens = login (client);
  result = refresh (client, tokens->refresh_token, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (log_messages->len, >, 0);
  for (guint i = 0; i < log_messages->len; i++)
    {
      const char *message = g_ptr_array_index (log_messages, i);

      g_assert_null (strstr (message, FAKE_PREFIX));
      if (strstr (message, "HTTP 200") != NULL)
        saw_status = TRUE;
    }

  /* The capture works: the client's own status lines are in it. */
  g_assert_true (saw_status);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  log_messages = ck_fake_oauth_test_init (&argc, &argv);

  g_test_add_func ("/oauth-client/properties", test_properties);
  g_test_add_func ("/oauth-client/exchange", test_exchange);
  g_test_add_func ("/oauth-client/exchange-refused", test_exchange_refused);
  g_test_add_func ("/oauth-client/refresh-rotates", test_refresh_rotates);
  g_test_add_func ("/oauth-client/refresh-reuse", test_refresh_reuse);
  g_test_add_func ("/oauth-client/refresh-without-rotation", test_refresh_without_rotation);
  g_test_add_func ("/oauth-client/refresh-faults", test_refresh_faults);
  g_test_add_func ("/oauth-client/refresh-fail-every", test_refresh_fail_every);
  g_test_add_func ("/oauth-client/refresh-timeout", test_refresh_timeout);
  g_test_add_func ("/oauth-client/refresh-cancel", test_refresh_cancel);
  g_test_add_func ("/oauth-client/network-error", test_network_error);
  g_test_add_func ("/oauth-client/profile", test_profile);
  g_test_add_func ("/oauth-client/profile-errors", test_profile_errors);
  g_test_add_func ("/oauth-client/revoke", test_revoke);
  g_test_add_func ("/oauth-client/revoke-unsupported", test_revoke_unsupported);
  g_test_add_func ("/oauth-client/logs", test_logs);

  ck_fake_oauth_start ();
  status = g_test_run ();
  ck_fake_oauth_stop ();

  return status;
}
