/* test-resolver.c: Claude Code's order of credentials
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "ck-error.h"
#include "ck-resolver.h"

typedef struct
{
  CkTokenStore   *store;
  CkHelperRunner *helper;
  CkResolver     *resolver;
} Fixture;

static void
on_done (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  GAsyncResult *result = NULL;
  g_autoptr(GError) error = NULL;

  fixture->store = ck_token_store_new ();
  fixture->helper = ck_helper_runner_new ();
  fixture->resolver = ck_resolver_new (fixture->store, fixture->helper);

  ck_token_store_clear_async (fixture->store, NULL, NULL, on_done, &result);
  g_assert_true (ck_token_store_clear_finish (fixture->store, wait_result (&result), &error));
  g_assert_no_error (error);
  g_clear_object (&result);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_clear_object (&fixture->resolver);
  g_clear_object (&fixture->helper);
  g_clear_object (&fixture->store);
}

static CkCredential *
resolve (Fixture           *fixture,
         const char        *env_key,
         CkCredentialKind   kind,
         GError           **error)
{
  GAsyncResult *result = NULL;
  CkCredential *credential;

  ck_resolver_get_credential_async (fixture->resolver, env_key, kind, 300, NULL, on_done, &result);
  credential = ck_resolver_get_credential_finish (fixture->resolver, wait_result (&result), error);
  g_object_unref (result);
  return credential;
}

static void
store_api_key (Fixture    *fixture,
               const char *key)
{
  GAsyncResult *result = NULL;
  g_autoptr(GError) error = NULL;

  ck_token_store_set_api_key_async (fixture->store, key, NULL, on_done, &result);
  g_assert_true (ck_token_store_set_api_key_finish (fixture->store, wait_result (&result), &error));
  g_assert_no_error (error);
  g_object_unref (result);
}

static void
store_oauth_full (Fixture    *fixture,
                  const char *access_token,
                  gint64      expires_at_ms)
{
  GAsyncResult *result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CkOAuthTokens) tokens = ck_oauth_tokens_new ();

  tokens->access_token = g_strdup (access_token);
  tokens->refresh_token = g_strdup ("test-oauth-refresh");
  tokens->expires_at_ms = expires_at_ms;
  tokens->account_email = g_strdup ("user@example.org");
  ck_token_store_set_oauth_async (fixture->store, tokens, NULL, on_done, &result);
  g_assert_true (ck_token_store_set_oauth_finish (fixture->store, wait_result (&result), &error));
  g_assert_no_error (error);
  g_object_unref (result);
}

static void
store_oauth (Fixture *fixture,
             gint64   expires_at_ms)
{
  store_oauth_full (fixture, "test-oauth-access", expires_at_ms);
}

static void
store_oauth_token (Fixture    *fixture,
                   const char *access_token)
{
  store_oauth_full (fixture, access_token, 4102444800000);
}

#define assert_credential(c, tok, src) G_STMT_START { \
  g_assert_nonnull (c); \
  g_assert_cmpstr ((c)->token, ==, tok); \
  g_assert_cmpstr ((c)->source, ==, src); \
} G_STMT_END

static void
test_order (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  CkCredential *credential;

  /* Nothing at all. */
  credential = resolve (fixture, NULL, CK_CREDENTIAL_KIND_ANY, &error);
  g_assert_null (credential);
  g_assert_error (error, CK_ERROR, CK_ERROR_NOT_LOGGED_IN);
  g_clear_error (&error);

  /* OAuth alone. */
  store_oauth (fixture, 4102444800000);
  credential = resolve (fixture, NULL, CK_CREDENTIAL_KIND_ANY, &error);
  assert_credential (credential, "test-oauth-access", "oauth");
  g_assert_cmpint (credential->kind, ==, CK_CREDENTIAL_KIND_OAUTH);
  g_assert_cmpstr (credential->account, ==, "user@example.org");
  ck_credential_free (credential);

  /* A stored API key beats OAuth... */
  store_api_key (fixture, "test-keyring-key");
  credential = resolve (fixture, NULL, CK_CREDENTIAL_KIND_ANY, &error);
  assert_credential (credential, "test-keyring-key", "keyring");
  ck_credential_free (credential);

  /* ...unless OAuth is asked for. */
  credential = resolve (fixture, NULL, CK_CREDENTIAL_KIND_OAUTH, &error);
  assert_credential (credential, "test-oauth-access", "oauth");
  ck_credential_free (credential);

  /* The helper beats the stored key. */
  ck_helper_runner_set_command (fixture->helper, "echo test-helper-key");
  credential = resolve (fixture, NULL, CK_CREDENTIAL_KIND_ANY, &error);
  assert_credential (credential, "test-helper-key", "helper");
  ck_credential_free (credential);

  /* The caller's ANTHROPIC_API_KEY beats everything. */
  credential = resolve (fixture, "test-env-key", CK_CREDENTIAL_KIND_ANY, &error);
  assert_credential (credential, "test-env-key", "environment");
  ck_credential_free (credential);

  /* ...but not when OAuth is asked for. */
  credential = resolve (fixture, "test-env-key", CK_CREDENTIAL_KIND_OAUTH, &error);
  assert_credential (credential, "test-oauth-access", "oauth");
  ck_credential_free (credential);

  /* A failing helper is an error, never a silent fallback. */
  ck_helper_runner_set_command (fixture->helper, "exit 1");
  credential = resolve (fixture, NULL, CK_CREDENTIAL_KIND_ANY, &error);
  g_assert_null (credential);
  g_assert_error (error, CK_ERROR, CK_ERROR_HELPER_FAILED);
  g_clear_error (&error);
}

static void
test_expired_without_refresher (Fixture       *fixture,
                                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkCredential) credential = NULL;

  /* Without an OAuth source nothing can refresh: say so. */
  store_oauth (fixture, 1000);
  credential = resolve (fixture, NULL, CK_CREDENTIAL_KIND_ANY, &error);
  g_assert_null (credential);
  g_assert_error (error, CK_ERROR, CK_ERROR_REFRESH_FAILED);
  g_assert_null (strstr (error->message, "test-oauth"));
}

static void
test_invalidate (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  CkCredential *credential;

  store_oauth (fixture, 4102444800000);

  /* A token that is not the current one changes nothing. */
  ck_resolver_invalidate (fixture->resolver, "test-oauth-other");
  credential = resolve (fixture, NULL, CK_CREDENTIAL_KIND_ANY, &error);
  assert_credential (credential, "test-oauth-access", "oauth");
  ck_credential_free (credential);

  /* The current one is never served again, valid or not: with nothing to
   * refresh it, that is an error, and the stored login stays. */
  ck_resolver_invalidate (fixture->resolver, "test-oauth-access");
  credential = resolve (fixture, NULL, CK_CREDENTIAL_KIND_ANY, &error);
  g_assert_null (credential);
  g_assert_error (error, CK_ERROR, CK_ERROR_REFRESH_FAILED);
  g_clear_error (&error);
  g_assert_nonnull (ck_token_store_get_oauth (fixture->store));

  /* A new token (a refresh, a login) is served at once. */
  store_oauth_token (fixture, "test-oauth-new");
  credential = resolve (fixture, NULL, CK_CREDENTIAL_KIND_ANY, &error);
  assert_credential (credential, "test-oauth-new", "oauth");
  ck_credential_free (credential);
}

static void
test_resolve_now (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  CkCredential *credential = NULL;

  store_api_key (fixture, "test-keyring-key");
  /* Answered from memory, without a main loop turn. */
  g_assert_true (ck_resolver_resolve_now (fixture->resolver, NULL, CK_CREDENTIAL_KIND_ANY, 300,
                                          &credential, &error));
  g_assert_no_error (error);
  assert_credential (credential, "test-keyring-key", "keyring");
  ck_credential_free (credential);
  credential = NULL;

  /* The helper always needs the loop. */
  ck_helper_runner_set_command (fixture->helper, "echo test-helper-key");
  g_assert_false (ck_resolver_resolve_now (fixture->resolver, NULL, CK_CREDENTIAL_KIND_ANY, 300,
                                           &credential, &error));
  g_assert_null (credential);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/resolver/order", Fixture, NULL, fixture_set_up, test_order, fixture_tear_down);
  g_test_add ("/resolver/expired-without-refresher", Fixture, NULL, fixture_set_up,
              test_expired_without_refresher, fixture_tear_down);
  g_test_add ("/resolver/invalidate", Fixture, NULL, fixture_set_up, test_invalidate,
              fixture_tear_down);
  g_test_add ("/resolver/resolve-now", Fixture, NULL, fixture_set_up, test_resolve_now,
              fixture_tear_down);
  return g_test_run ();
}
