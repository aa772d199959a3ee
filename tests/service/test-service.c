/* test-service.c: the real agent, D-Bus-activated on the test session's bus
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <signal.h>
#include <string.h>

#include "ck-error.h"

static GDBusConnection *bus;

static GVariant *
call (const char  *method,
      GVariant    *parameters,
      GError     **error)
{
  return g_dbus_connection_call_sync (bus, APP_ID, OBJECT_PATH, DBUS_INTERFACE, method,
                                      parameters, NULL, G_DBUS_CALL_FLAGS_NONE, 20000,
                                      NULL, error);
}

static GVariant *
get_credential (const char  *options_text,
                GError     **error)
{
  g_autoptr(GVariant) options = g_variant_parse (G_VARIANT_TYPE_VARDICT,
                                                 options_text, NULL, NULL, NULL);
  g_autoptr(GVariant) reply = call ("GetCredential", g_variant_new ("(@a{sv})", options), error);
  GVariant *dict = NULL;

  if (reply != NULL)
    g_variant_get (reply, "(@a{sv})", &dict);
  return dict;
}

static char *
lookup_string (GVariant   *dict,
               const char *key)
{
  char *value = NULL;

  g_assert_true (g_variant_lookup (dict, key, "s", &value));
  return value;
}

static char *
status_field (const char *key)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call ("GetStatus", NULL, &error);
  g_autoptr(GVariant) dict = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(@a{sv})", &dict);
  return lookup_string (dict, key);
}

static void
set_api_key (const char *key)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call ("SetApiKey", g_variant_new ("(s)", key), &error);

  g_assert_no_error (error);
}

static void
logout (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call ("Logout", NULL, &error);

  g_assert_no_error (error);
}

static guint32
agent_pid (void)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  guint32 pid;

  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                                       g_variant_new ("(s)", APP_ID), G_VARIANT_TYPE ("(u)"),
                                       G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &pid);
  return pid;
}

static gboolean
name_has_owner (void)
{
  g_autoptr(GVariant) reply = NULL;
  gboolean has_owner = FALSE;

  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner",
                                       g_variant_new ("(s)", APP_ID), G_VARIANT_TYPE ("(b)"),
                                       G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  if (reply != NULL)
    g_variant_get (reply, "(b)", &has_owner);
  return has_owner;
}

static void
wait_until_gone (guint32  pid,
                 gboolean name_too)
{
  for (guint i = 0; i < 200; i++)
    {
      if (kill (pid, 0) != 0 && (!name_too || !name_has_owner ()))
        return;
      g_usleep (25000);
    }
  g_error ("Agent %u did not exit", pid);
}

static void
on_status_changed (GDBusConnection *connection,
                   const char      *sender,
                   const char      *path,
                   const char      *interface,
                   const char      *signal,
                   GVariant        *parameters,
                   gpointer         user_data)
{
  GPtrArray *states = user_data;
  g_autoptr(GVariant) dict = NULL;

  g_variant_get (parameters, "(@a{sv})", &dict);
  g_ptr_array_add (states, lookup_string (dict, "state"));
}

static void
test_api_key (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) credential = NULL;
  g_autoptr(GPtrArray) states = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *token = NULL;
  g_autofree char *source = NULL;
  g_autofree char *kind = NULL;
  g_autofree char *state = NULL;
  guint id;

  id = g_dbus_connection_signal_subscribe (bus, APP_ID, DBUS_INTERFACE, "StatusChanged",
                                           OBJECT_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                           on_status_changed, states, NULL);

  /* Activation starts the agent; nothing is stored yet. */
  credential = get_credential ("{}", &error);
  g_assert_error (error, CK_ERROR, CK_ERROR_NOT_LOGGED_IN);
  g_clear_error (&error);
  state = status_field ("state");
  g_assert_cmpstr (state, ==, "logged-out");

  set_api_key ("test-api-key-0001");
  credential = get_credential ("{'min-validity': <uint32 30>}", &error);
  g_assert_no_error (error);
  token = lookup_string (credential, "token");
  source = lookup_string (credential, "source");
  kind = lookup_string (credential, "kind");
  g_assert_cmpstr (token, ==, "test-api-key-0001");
  g_assert_cmpstr (source, ==, "keyring");
  g_assert_cmpstr (kind, ==, "api-key");

  /* Asking for OAuth only does not return the key. */
  g_clear_pointer (&credential, g_variant_unref);
  credential = get_credential ("{'kind': <'oauth'>}", &error);
  g_assert_error (error, CK_ERROR, CK_ERROR_NOT_LOGGED_IN);
  g_clear_error (&error);

  g_clear_pointer (&state, g_free);
  state = status_field ("state");
  g_assert_cmpstr (state, ==, "logged-in");

  /* The signal arrived, in order. */
  while (states->len == 0 ||
         !g_str_equal (g_ptr_array_index (states, states->len - 1), "logged-in"))
    g_main_context_iteration (NULL, TRUE);

  {
    g_autoptr(GVariant) reply = call ("ClearApiKey", NULL, &error);
    g_assert_no_error (error);
  }
  credential = get_credential ("{}", &error);
  g_assert_error (error, CK_ERROR, CK_ERROR_NOT_LOGGED_IN);
  g_clear_error (&error);

  g_dbus_connection_signal_unsubscribe (bus, id);
}

static void
test_invalid_arguments (void)
{
  const char *bad_options[] = {
    "{'min-validity': <'soon'>}",
    "{'min-validity': <int32 5>}",
    "{'kind': <'password'>}",
    "{'kind': <uint32 1>}",
  };
  const char *bad_keys[] = { "", "two words", "line\nbreak", "tab\tkey" };

  for (guint i = 0; i < G_N_ELEMENTS (bad_options); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) credential = get_credential (bad_options[i], &error);

      g_assert_null (credential);
      g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad_keys); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = call ("SetApiKey", g_variant_new ("(s)", bad_keys[i]), &error);

      g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
      if (bad_keys[i][0] != '\0')
        g_assert_null (strstr (error->message, bad_keys[i]));
    }

  /* Unknown options are ignored, for newer callers. */
  set_api_key ("test-api-key-0002");
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) credential = get_credential ("{'future-option': <true>}", &error);

    g_assert_no_error (error);
  }
  logout ();
}

static void
test_restart_keeps_key (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) credential = NULL;
  g_autofree char *token = NULL;
  guint32 first, second;

  set_api_key ("test-api-key-0003");
  first = agent_pid ();
  g_assert_cmpint (kill (first, SIGTERM), ==, 0);
  wait_until_gone (first, TRUE);

  /* The next call activates a new agent, which reads the keyring. */
  credential = get_credential ("{}", &error);
  g_assert_no_error (error);
  token = lookup_string (credential, "token");
  g_assert_cmpstr (token, ==, "test-api-key-0003");
  second = agent_pid ();
  g_assert_cmpuint (first, !=, second);
  logout ();
}

static void
test_replace (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) replacement = NULL;
  guint32 first;

  set_api_key ("test-api-key-0004");
  first = agent_pid ();

  replacement = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                  &error, g_getenv ("CK_AGENT"), "--headless", "--replace", NULL);
  g_assert_no_error (error);
  wait_until_gone (first, FALSE);

  for (guint i = 0; i < 200 && !name_has_owner (); i++)
    g_usleep (25000);
  {
    g_autofree char *pid = g_strdup_printf ("%u", agent_pid ());

    g_assert_cmpstr (g_subprocess_get_identifier (replacement), ==, pid);
  }
  {
    g_autoptr(GVariant) credential = get_credential ("{}", &error);
    g_autofree char *token = NULL;

    g_assert_no_error (error);
    token = lookup_string (credential, "token");
    g_assert_cmpstr (token, ==, "test-api-key-0004");
  }
  logout ();
  g_subprocess_send_signal (replacement, SIGTERM);
  g_subprocess_wait (replacement, NULL, NULL);
}

static void
wait_for_source (const char *expected)
{
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *source = status_field ("source");

      if (g_str_equal (source, expected))
        return;
      g_usleep (25000);
    }
  g_error ("The agent did not switch to source %s", expected);
}

static void
test_helper_precedence (void)
{
  g_autoptr(GSettings) settings = g_settings_new (APP_ID);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) credential = NULL;
  g_autofree char *token = NULL;
  g_autofree char *source = NULL;

  set_api_key ("test-api-key-0005");

  /* The helper wins over the stored key, as in Claude Code. */
  g_settings_set_string (settings, "api-key-helper", "printf 'test-helper-key\\n'");
  g_settings_sync ();
  wait_for_source ("helper");
  credential = get_credential ("{}", &error);
  g_assert_no_error (error);
  token = lookup_string (credential, "token");
  source = lookup_string (credential, "source");
  g_assert_cmpstr (token, ==, "test-helper-key");
  g_assert_cmpstr (source, ==, "helper");

  /* A failing helper is an error, not a fallback. */
  g_clear_pointer (&credential, g_variant_unref);
  g_settings_set_string (settings, "api-key-helper", "exit 3");
  g_settings_sync ();
  for (guint i = 0; i < 200; i++)
    {
      credential = get_credential ("{}", &error);
      if (error != NULL)
        break;
      g_clear_pointer (&credential, g_variant_unref);
      g_usleep (25000);
    }
  g_assert_error (error, CK_ERROR, CK_ERROR_HELPER_FAILED);
  g_clear_error (&error);

  g_settings_reset (settings, "api-key-helper");
  g_settings_sync ();
  wait_for_source ("keyring");
  logout ();
}

static const char credentials_file[] =
  "{\"claudeAiOauth\":{\"accessToken\":\"test-oauth-access-0001\","
  "\"refreshToken\":\"test-oauth-refresh-0001\",\"expiresAt\":4102444800000,"
  "\"scopes\":[\"user:inference\",\"user:profile\"],\"subscriptionType\":\"max\"}}";

static void
test_import (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) credential = NULL;
  g_autofree char *token = NULL;
  g_autofree char *kind = NULL;
  g_autofree char *state = NULL;
  gint64 expires_at = 0;

  reply = call ("ImportCredentials", g_variant_new ("(s)", "{\"claudeAiOauth\":"), &error);
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  state = status_field ("state");
  g_assert_cmpstr (state, ==, "logged-out");

  reply = call ("ImportCredentials", g_variant_new ("(s)", credentials_file), &error);
  g_assert_no_error (error);

  credential = get_credential ("{}", &error);
  g_assert_no_error (error);
  token = lookup_string (credential, "token");
  kind = lookup_string (credential, "kind");
  g_assert_cmpstr (token, ==, "test-oauth-access-0001");
  g_assert_cmpstr (kind, ==, "oauth");
  g_assert_true (g_variant_lookup (credential, "expires-at", "x", &expires_at));
  g_assert_cmpint (expires_at, ==, 4102444800);
  logout ();
}

static void
lock_keyring (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  const char *paths[] = { "/org/freedesktop/secrets/collection/login" };

  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.secrets", "/org/freedesktop/secrets",
                                       "org.freedesktop.Secret.Service", "Lock",
                                       g_variant_new ("(@ao)", g_variant_new_objv (paths, 1)),
                                       NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  g_assert_no_error (error);
}

/* How soon a locked keyring must be reported: well before the keyring
 * deadline (keyring-timeout, 5 s) that waiting on an unlock prompt would
 * run into. Under ASan (CK_TEST_SLOW) the agent is several times slower
 * and the deadline is 15 s (tests/support/ck-test-session): 9 s there. */
static gint64
quick_usec (void)
{
  return (g_getenv ("CK_TEST_SLOW") != NULL ? 9 : 3) * G_USEC_PER_SEC;
}

/* Last: nothing here can unlock the keyring again without a prompt. */
static void
test_locked (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) credential = NULL;
  g_autofree char *state = NULL;
  gint64 start;

  set_api_key ("test-api-key-0006");
  lock_keyring ();

  /* Until the agent has seen the lock, it answers from memory. */
  start = g_get_monotonic_time ();
  while (g_get_monotonic_time () - start < quick_usec ())
    {
      credential = get_credential ("{}", &error);
      if (error != NULL)
        break;
      g_clear_pointer (&credential, g_variant_unref);
      g_usleep (20000);
    }
  g_assert_error (error, CK_ERROR, CK_ERROR_KEYRING_LOCKED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, quick_usec ());
  state = status_field ("state");
  g_assert_cmpstr (state, ==, "locked");
  g_clear_error (&error);

  /* Writing fails quickly too, instead of waiting on an unlock prompt. */
  start = g_get_monotonic_time ();
  {
    g_autoptr(GVariant) reply = call ("SetApiKey", g_variant_new ("(s)", "test-api-key-0007"), &error);
  }
  g_assert_error (error, CK_ERROR, CK_ERROR_KEYRING_LOCKED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, quick_usec ());
}

int
main (int argc, char *argv[])
{
  g_autoptr(GError) error = NULL;

  g_test_init (&argc, &argv, NULL);
  ck_error_quark ();
  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);

  g_test_add_func ("/service/api-key", test_api_key);
  g_test_add_func ("/service/invalid-arguments", test_invalid_arguments);
  g_test_add_func ("/service/restart-keeps-key", test_restart_keeps_key);
  g_test_add_func ("/service/replace", test_replace);
  g_test_add_func ("/service/helper-precedence", test_helper_precedence);
  g_test_add_func ("/service/import", test_import);
  g_test_add_func ("/service/locked", test_locked);
  return g_test_run ();
}
