/* test-token-store.c: CkTokenStore on the real GNOME Keyring of the test session
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "ck-error.h"
#include "ck-token-store.h"

typedef struct
{
  GMainLoop    *loop;
  GAsyncResult *result;
} Wait;

static void
on_done (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Wait *wait = user_data;

  wait->result = g_object_ref (result);
  g_main_loop_quit (wait->loop);
}

static GAsyncResult *
wait_for (Wait *wait)
{
  g_main_loop_run (wait->loop);
  return wait->result;
}

#define WAIT_INIT { g_main_loop_new (NULL, FALSE), NULL }

static void
wait_clear (Wait *wait)
{
  g_clear_pointer (&wait->loop, g_main_loop_unref);
  g_clear_object (&wait->result);
}

static void
load (CkTokenStore *store)
{
  Wait wait = WAIT_INIT;
  g_autoptr(GError) error = NULL;

  ck_token_store_load_async (store, NULL, on_done, &wait);
  g_assert_true (ck_token_store_load_finish (store, wait_for (&wait), &error));
  g_assert_no_error (error);
  wait_clear (&wait);
}

static void
set_api_key (CkTokenStore *store,
             const char   *key)
{
  Wait wait = WAIT_INIT;
  g_autoptr(GError) error = NULL;

  ck_token_store_set_api_key_async (store, key, NULL, on_done, &wait);
  ck_token_store_set_api_key_finish (store, wait_for (&wait), &error);
  g_assert_no_error (error);
  wait_clear (&wait);
}

static void
clear (CkTokenStore *store,
       const char   *kind)
{
  Wait wait = WAIT_INIT;
  g_autoptr(GError) error = NULL;

  ck_token_store_clear_async (store, kind, NULL, on_done, &wait);
  ck_token_store_clear_finish (store, wait_for (&wait), &error);
  g_assert_no_error (error);
  wait_clear (&wait);
}

static CkOAuthTokens *
make_tokens (const char *account,
             const char *access)
{
  CkOAuthTokens *tokens = ck_oauth_tokens_new ();

  tokens->access_token = g_strdup (access);
  tokens->refresh_token = g_strdup ("test-refresh-token");
  tokens->expires_at_ms = 4102444800000;
  tokens->account_uuid = g_strdup (account);
  tokens->account_email = g_strdup ("user@example.org");
  return tokens;
}

static void
set_oauth (CkTokenStore  *store,
           CkOAuthTokens *tokens)
{
  Wait wait = WAIT_INIT;
  g_autoptr(GError) error = NULL;

  ck_token_store_set_oauth_async (store, tokens, NULL, on_done, &wait);
  ck_token_store_set_oauth_finish (store, wait_for (&wait), &error);
  g_assert_no_error (error);
  wait_clear (&wait);
}

static char *
secret_tool_lookup (const char *kind)
{
  g_autofree char *out = NULL;
  g_autofree char *command =
    g_strdup_printf ("secret-tool lookup xdg:schema " CK_SECRET_SCHEMA_NAME " kind %s", kind);

  g_assert_true (g_spawn_command_line_sync (command, &out, NULL, NULL, NULL));
  return g_steal_pointer (&out);
}

static void
test_api_key_round_trip (void)
{
  g_autoptr(CkTokenStore) store = ck_token_store_new ();
  g_autoptr(CkTokenStore) other = ck_token_store_new ();
  g_autofree char *stored = NULL;

  load (store);
  g_assert_cmpint (ck_token_store_get_state (store), ==, CK_KEYRING_STATE_READY);
  g_assert_null (ck_token_store_get_api_key (store));

  set_api_key (store, "test-api-key-0001");
  g_assert_cmpstr (ck_token_store_get_api_key (store), ==, "test-api-key-0001");

  /* It is in the Secret Service under our schema, not just in memory. */
  stored = secret_tool_lookup ("api-key");
  g_assert_cmpstr (stored, ==, "test-api-key-0001");

  /* A second store (a restarted agent) reads it back. */
  load (other);
  g_assert_cmpstr (ck_token_store_get_api_key (other), ==, "test-api-key-0001");

  /* Replacing keeps one item. */
  set_api_key (store, "test-api-key-0002");
  load (other);
  g_assert_cmpstr (ck_token_store_get_api_key (other), ==, "test-api-key-0002");

  clear (store, "api-key");
  g_assert_null (ck_token_store_get_api_key (store));
  g_clear_pointer (&stored, g_free);
  stored = secret_tool_lookup ("api-key");
  g_assert_cmpstr (stored, ==, "");
}

static void
test_oauth_replace (void)
{
  g_autoptr(CkTokenStore) store = ck_token_store_new ();
  g_autoptr(CkTokenStore) other = ck_token_store_new ();
  g_autoptr(CkOAuthTokens) first = make_tokens ("account-1", "test-access-1");
  g_autoptr(CkOAuthTokens) second = make_tokens ("account-2", "test-access-2");
  g_autoptr(CkOAuthTokens) second_of_first = make_tokens ("account-1", "test-access-1b");
  g_autofree char *json = NULL;

  load (store);
  set_oauth (store, first);
  g_assert_true (ck_oauth_tokens_equal (ck_token_store_get_oauth (store), first));

  /* A new login of the same account replaces its tokens ... */
  set_oauth (store, second_of_first);
  load (other);
  g_assert_cmpstr (ck_token_store_get_oauth (other)->access_token, ==, "test-access-1b");
  g_assert_cmpuint (ck_token_store_get_accounts (other)->len, ==, 1);
  json = secret_tool_lookup ("oauth");
  g_assert_nonnull (strstr (json, "\"accessToken\":\"test-access-1b\""));

  /* ... a login of another account is an account of its own (issue 19). */
  second->expires_at_ms = 1;
  second->account_email = (g_free (second->account_email), g_strdup ("other@example.org"));
  set_oauth (store, second);
  load (other);
  g_assert_cmpuint (ck_token_store_get_accounts (other)->len, ==, 2);
  g_assert_cmpstr (ck_token_store_get_oauth_for (other, "account-2")->access_token, ==, "test-access-2");
  g_assert_cmpstr (ck_token_store_find_account (other, "other@example.org")->id, ==, "account-2");
  g_assert_cmpstr (ck_token_store_get_oauth (other)->access_token, ==, "test-access-1b");

  /* Clearing everything leaves nothing. */
  set_api_key (store, "test-api-key-0003");
  clear (store, NULL);
  load (other);
  g_assert_null (ck_token_store_get_api_key (other));
  g_assert_null (ck_token_store_get_oauth (other));
}

static void
set_gateway (CkTokenStore *store,
             const char   *id,
             const char   *secret)
{
  Wait wait = WAIT_INIT;
  g_autoptr(GError) error = NULL;

  ck_token_store_set_gateway_session_async (store, id, NULL, secret, NULL, on_done, &wait);
  ck_token_store_set_gateway_session_finish (store, wait_for (&wait), &error);
  g_assert_no_error (error);
  wait_clear (&wait);
}

static void
remove_gateway (CkTokenStore *store,
                const char   *id)
{
  Wait wait = WAIT_INIT;
  g_autoptr(GError) error = NULL;

  ck_token_store_remove_gateway_session_async (store, id, NULL, on_done, &wait);
  ck_token_store_remove_gateway_session_finish (store, wait_for (&wait), &error);
  g_assert_no_error (error);
  wait_clear (&wait);
}

/* Persistent gateway sessions: read back by a restarted agent, each
 * removed on its own, and left by a logout (a clear of every kind). */
static void
test_gateway_sessions (void)
{
  g_autoptr(CkTokenStore) store = ck_token_store_new ();
  g_autoptr(CkTokenStore) other = ck_token_store_new ();
  g_autoptr(CkOAuthTokens) tokens = make_tokens ("account-1", "test-access-1");
  guint generation;
  GHashTable *sessions;

  load (store);
  clear (store, NULL);
  g_assert_cmpuint (g_hash_table_size (ck_token_store_get_gateway_sessions (store)), ==, 0);

  /* Not a credential: the fast path's answers stay good. */
  set_api_key (store, "test-api-key-0004");
  generation = ck_token_store_get_generation (store);
  set_gateway (store, "session-1", "{\"token\":\"test-gateway-token-1\"}");
  set_gateway (store, "session-2", "{\"token\":\"test-gateway-token-2\"}");
  g_assert_cmpuint (ck_token_store_get_generation (store), ==, generation);
  g_assert_cmpstr (ck_token_store_get_api_key (store), ==, "test-api-key-0004");

  load (other);
  sessions = ck_token_store_get_gateway_sessions (other);
  g_assert_cmpuint (g_hash_table_size (sessions), ==, 2);
  g_assert_cmpstr (g_hash_table_lookup (sessions, "session-1"), ==, "{\"token\":\"test-gateway-token-1\"}");
  g_assert_cmpstr (g_hash_table_lookup (sessions, "session-2"), ==, "{\"token\":\"test-gateway-token-2\"}");

  /* A logout removes the credentials, not the sessions. */
  set_oauth (store, tokens);
  clear (store, NULL);
  load (other);
  g_assert_null (ck_token_store_get_api_key (other));
  g_assert_null (ck_token_store_get_oauth (other));
  g_assert_cmpuint (g_hash_table_size (ck_token_store_get_gateway_sessions (other)), ==, 2);

  /* Only sessions left: still read, the keyring unlocked. */
  g_assert_cmpint (ck_token_store_get_state (other), ==, CK_KEYRING_STATE_READY);

  remove_gateway (store, "session-1");
  load (other);
  sessions = ck_token_store_get_gateway_sessions (other);
  g_assert_cmpuint (g_hash_table_size (sessions), ==, 1);
  g_assert_true (g_hash_table_contains (sessions, "session-2"));
  g_assert_cmpuint (g_hash_table_size (ck_token_store_get_gateway_sessions (store)), ==, 1);

  remove_gateway (store, "session-2");
  g_assert_cmpuint (g_hash_table_size (ck_token_store_get_gateway_sessions (store)), ==, 0);
}

static void
on_changed (CkTokenStore *store,
            GMainLoop    *loop)
{
  if (ck_token_store_get_api_key (store) != NULL)
    g_main_loop_quit (loop);
}

static gboolean
on_too_late (gpointer user_data)
{
  g_error ("The store did not notice a change made by another program");
  return G_SOURCE_REMOVE;
}

static void
test_external_change (void)
{
  g_autoptr(CkTokenStore) store = ck_token_store_new ();
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GError) error = NULL;
  const char *argv[] = {
    "secret-tool", "store", "--label=Claude Code API key", "xdg:schema",
    CK_SECRET_SCHEMA_NAME, "kind", "api-key", "account", "default", NULL
  };
  g_autoptr(GSubprocess) tool = NULL;
  guint timeout_id;

  load (store);
  g_assert_null (ck_token_store_get_api_key (store));

  g_signal_connect (store, "changed", G_CALLBACK (on_changed), loop);
  tool = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (tool, "test-api-key-external", NULL, NULL, NULL, &error);
  g_assert_no_error (error);

  timeout_id = g_timeout_add_seconds (10, on_too_late, NULL);
  g_main_loop_run (loop);
  g_source_remove (timeout_id);
  g_assert_cmpstr (ck_token_store_get_api_key (store), ==, "test-api-key-external");
  /* The store rewrites that key (written as before accounts) under an id
   * of its own, and may outlive the test meanwhile: not with our loop. */
  g_signal_handlers_disconnect_by_data (store, loop);
  clear (store, NULL);
}

/* A keyring that changes under the store's feet, faked by rewriting its
 * replies on the test's connection (in GDBus's worker thread):
 * - the SearchItems reply names the items in @extra too, which do not
 *   exist: items another program deleted right after the search;
 * - with @locked_as_unlocked, it names the locked items as unlocked: the
 *   keyring locked right after the search;
 * - with @slow_alias, the ReadAlias reply (whether the collection is
 *   locked) comes 300 ms late. */
typedef struct
{
  const char * const *extra;
  gboolean            locked_as_unlocked;
  gboolean            slow_alias;
  guint               search_serial;
  guint               alias_serial;
} FakeChange;

static GDBusMessage *
fake_change (GDBusConnection *connection,
             GDBusMessage    *message,
             gboolean         incoming,
             gpointer         user_data)
{
  FakeChange *change = user_data;
  g_autoptr(GDBusMessage) copy = NULL;
  g_autofree const char **found = NULL;
  g_autofree const char **locked = NULL;
  g_autoptr(GStrvBuilder) unlocked = g_strv_builder_new ();
  g_auto(GStrv) unlocked_paths = NULL;
  guint reply_serial;

  if (!incoming)
    {
      const char *member = g_dbus_message_get_member (message);

      if (g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL)
        return message;
      if (g_strcmp0 (member, "SearchItems") == 0)
        g_atomic_int_set (&change->search_serial, g_dbus_message_get_serial (message));
      else if (g_strcmp0 (member, "ReadAlias") == 0)
        g_atomic_int_set (&change->alias_serial, g_dbus_message_get_serial (message));
      return message;
    }
  if (g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_METHOD_RETURN)
    return message;

  reply_serial = g_dbus_message_get_reply_serial (message);
  if (change->slow_alias && reply_serial == (guint) g_atomic_int_get (&change->alias_serial))
    {
      g_usleep (300 * 1000);
      return message;
    }
  if (reply_serial != (guint) g_atomic_int_get (&change->search_serial))
    return message;

  g_variant_get (g_dbus_message_get_body (message), "(^a&o^a&o)", &found, &locked);
  g_strv_builder_addv (unlocked, found);
  if (change->extra != NULL)
    g_strv_builder_addv (unlocked, (const char **) change->extra);
  if (change->locked_as_unlocked)
    {
      g_strv_builder_addv (unlocked, locked);
      locked[0] = NULL;
    }
  unlocked_paths = g_strv_builder_end (unlocked);

  copy = g_dbus_message_copy (message, NULL);
  g_dbus_message_set_body (copy, g_variant_new ("(^ao^ao)", unlocked_paths, locked));
  g_object_unref (message);
  return g_steal_pointer (&copy);
}

/* Items deleted between the keyring's search and the store's reading
 * them are not there: the read succeeds with what is left. (libsecret's
 * secret_service_search() returned its task twice when two item proxies
 * failed, and failed the read for one.) */
static void
test_vanished_items (void)
{
  g_autoptr(CkTokenStore) store = ck_token_store_new ();
  g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  const char *vanished[] = { "/org/freedesktop/secrets/collection/login/vanished1",
                             "/org/freedesktop/secrets/collection/login/vanished2", NULL };
  FakeChange change = { .extra = vanished };
  guint filter_id;

  load (store);
  set_api_key (store, "test-api-key-vanished");

  filter_id = g_dbus_connection_add_filter (bus, fake_change, &change, NULL);
  load (store);
  g_dbus_connection_remove_filter (bus, filter_id);

  g_assert_cmpint (ck_token_store_get_state (store), ==, CK_KEYRING_STATE_READY);
  g_assert_cmpstr (ck_token_store_get_api_key (store), ==, "test-api-key-vanished");
  clear (store, NULL);
}

static void
lock_keyring (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_autoptr(GVariant) reply = NULL;
  const char *paths[] = { "/org/freedesktop/secrets/collection/login" };

  g_assert_no_error (error);
  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.secrets",
                                       "/org/freedesktop/secrets",
                                       "org.freedesktop.Secret.Service", "Lock",
                                       g_variant_new ("(@ao)", g_variant_new_objv (paths, 1)),
                                       NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  g_assert_no_error (error);
}

/* The agent's own main loop stalled (busy, stopped, a sanitizer build):
 * the keyring's replies came in time and wait behind the stall, so the
 * deadline must not call the keyring late or locked. */
static void
test_stalled_loop (void)
{
  g_autoptr(CkTokenStore) store = ck_token_store_new ();
  g_autoptr(CkTokenStore) stalled = ck_token_store_new ();
  g_autoptr(GError) error = NULL;
  Wait wait = WAIT_INIT;
  /* The stall is longer than the deadline; what the deadline leaves
   * after it (a tick adds at most 200 ms) is ample for the few round
   * trips of a read, even when a sanitizer build is slow. */
  guint deadline_ms = g_getenv ("CK_TEST_SLOW") != NULL ? 2000 : 1000;
  gboolean loaded;

  load (store);
  set_api_key (store, "test-api-key-stalled");

  g_object_set (stalled, "timeout", deadline_ms, NULL);
  ck_token_store_load_async (stalled, NULL, on_done, &wait);
  g_usleep (deadline_ms * 3 / 2 * 1000);
  loaded = ck_token_store_load_finish (stalled, wait_for (&wait), &error);
  g_assert_no_error (error);
  g_assert_true (loaded);
  g_assert_cmpint (ck_token_store_get_state (stalled), ==, CK_KEYRING_STATE_READY);
  g_assert_cmpstr (ck_token_store_get_api_key (stalled), ==, "test-api-key-stalled");
  wait_clear (&wait);

  clear (store, NULL);
}

/* Whether a store ever looked logged out while watched. */
typedef struct
{
  CkTokenStore *store;
  gboolean      seen;
} LoggedOutWatch;

static gboolean
watch_for_logged_out (gpointer user_data)
{
  LoggedOutWatch *watch = user_data;

  if (ck_token_store_get_state (watch->store) == CK_KEYRING_STATE_READY &&
      ck_token_store_get_api_key (watch->store) == NULL &&
      ck_token_store_get_oauth (watch->store) == NULL)
    watch->seen = TRUE;
  return G_SOURCE_CONTINUE;
}

/* Runs last in this binary: nothing here can unlock without a prompt. */
static void
test_locked (void)
{
  g_autoptr(CkTokenStore) store = ck_token_store_new ();
  g_autoptr(CkTokenStore) fresh = ck_token_store_new ();
  g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr(GError) error = NULL;
  Wait wait = WAIT_INIT;
  FakeChange change = { .locked_as_unlocked = TRUE, .slow_alias = TRUE };
  LoggedOutWatch watch = { store, FALSE };
  guint filter_id, watch_id;
  gint64 start;

  load (store);
  set_api_key (store, "test-api-key-locked");
  lock_keyring ();

  /* The store that had the key drops it when the lock is noticed, even
   * when the lock lands between its search and its reading the secrets;
   * and it never shows "logged out" on the way, which a caller asking
   * meanwhile would be told (a flake of /service/locked under ASan). */
  filter_id = g_dbus_connection_add_filter (bus, fake_change, &change, NULL);
  watch_id = g_timeout_add (5, watch_for_logged_out, &watch);
  load (store);
  g_source_remove (watch_id);
  g_dbus_connection_remove_filter (bus, filter_id);
  g_assert_false (watch.seen);
  g_assert_cmpint (ck_token_store_get_state (store), ==, CK_KEYRING_STATE_LOCKED);
  g_assert_null (ck_token_store_get_api_key (store));

  /* Reading never prompts: the store reports the lock at once. */
  start = g_get_monotonic_time ();
  ck_token_store_load_async (fresh, NULL, on_done, &wait);
  g_assert_true (ck_token_store_load_finish (fresh, wait_for (&wait), &error));
  g_assert_cmpint (ck_token_store_get_state (fresh), ==, CK_KEYRING_STATE_LOCKED);
  g_assert_null (ck_token_store_get_api_key (fresh));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  wait_clear (&wait);

  /* Writing fails fast with KeyringLocked instead of waiting on a prompt. */
  wait = (Wait) WAIT_INIT;
  start = g_get_monotonic_time ();
  ck_token_store_set_api_key_async (fresh, "test-api-key-other", NULL, on_done, &wait);
  g_assert_false (ck_token_store_set_api_key_finish (fresh, wait_for (&wait), &error));
  g_assert_error (error, CK_ERROR, CK_ERROR_KEYRING_LOCKED);
  g_assert_null (strstr (error->message, "test-api-key"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  wait_clear (&wait);
  g_clear_error (&error);
}

typedef gboolean (*FinishFunc) (CkTokenStore  *self,
                                GAsyncResult  *result,
                                GError       **error);

/* Each _finish takes its own operation's result only: handing it
 * another's is a programming error, reported at once. */
static void
test_finish_source_tag (void)
{
  g_autoptr(CkTokenStore) store = ck_token_store_new ();
  g_autoptr(CkOAuthTokens) tokens = make_tokens ("test-account-tag", "test-access-tag");
  static const FinishFunc finish[] = {
    ck_token_store_load_finish,
    ck_token_store_set_api_key_finish,
    ck_token_store_set_oauth_finish,
    ck_token_store_clear_finish,
  };
  static const char * const async_name[] = {
    "ck_token_store_load_async",
    "ck_token_store_set_api_key_async",
    "ck_token_store_set_oauth_async",
    "ck_token_store_clear_async",
  };
  Wait wait[G_N_ELEMENTS (finish)];

  for (guint i = 0; i < G_N_ELEMENTS (wait); i++)
    wait[i] = (Wait) WAIT_INIT;
  ck_token_store_load_async (store, NULL, on_done, &wait[0]);
  wait_for (&wait[0]);
  ck_token_store_set_api_key_async (store, "test-api-key-tag", NULL, on_done, &wait[1]);
  wait_for (&wait[1]);
  ck_token_store_set_oauth_async (store, tokens, NULL, on_done, &wait[2]);
  wait_for (&wait[2]);
  ck_token_store_clear_async (store, NULL, NULL, on_done, &wait[3]);
  wait_for (&wait[3]);

  for (guint i = 0; i < G_N_ELEMENTS (finish); i++)
    {
      guint other = (i + 1) % G_N_ELEMENTS (finish);
      g_autofree char *pattern = g_strdup_printf ("*source_tag*== %s*", async_name[i]);
      g_autoptr(GError) error = NULL;

      g_test_expect_message ("ck-token-store", G_LOG_LEVEL_CRITICAL, pattern);
      g_assert_false (finish[i] (store, wait[other].result, &error));
      g_test_assert_expected_messages ();
      g_assert_no_error (error);

      g_assert_true (finish[i] (store, wait[i].result, &error));
      g_assert_no_error (error);
    }

  for (guint i = 0; i < G_N_ELEMENTS (wait); i++)
    wait_clear (&wait[i]);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/token-store/api-key", test_api_key_round_trip);
  g_test_add_func ("/token-store/oauth-replace", test_oauth_replace);
  g_test_add_func ("/token-store/gateway-sessions", test_gateway_sessions);
  g_test_add_func ("/token-store/external-change", test_external_change);
  g_test_add_func ("/token-store/vanished-items", test_vanished_items);
  g_test_add_func ("/token-store/stalled-loop", test_stalled_loop);
  g_test_add_func ("/token-store/finish-source-tag", test_finish_source_tag);
  /* Last: it leaves the keyring locked. */
  g_test_add_func ("/token-store/locked", test_locked);
  return g_test_run ();
}
