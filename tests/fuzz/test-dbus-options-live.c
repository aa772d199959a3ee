/* test-dbus-options-live.c: the fuzz corpus of D-Bus option dicts, sent
 * to the activated agent as GetCredential and Login options. Every call
 * must be answered (a D-Bus error of our own domain is fine), and the
 * agent must be the same process at the end: no crash, no restart.
 * Login gets "open-browser" forced to false so nothing is launched, and
 * a login that starts is cancelled at once.
 *
 *   test-dbus-options-live CORPUS-DIR
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <gio/gio.h>

#define BUS_NAME    "io.github.claudekeyring.ClaudeKeyring"
#define OBJECT_PATH "/io/github/claudekeyring/ClaudeKeyring"
#define INTERFACE   "io.github.claudekeyring.Credentials1"
#define ERROR_PREFIX "io.github.claudekeyring.Error."

static GDBusConnection *bus;

static guint32
agent_pid (void)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  guint32 pid;

  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                                       g_variant_new ("(s)", BUS_NAME), G_VARIANT_TYPE ("(u)"),
                                       G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &pid);
  return pid;
}

static GVariant *
call (const char  *method,
      GVariant    *parameters,
      GError     **error)
{
  return g_dbus_connection_call_sync (bus, BUS_NAME, OBJECT_PATH, INTERFACE, method,
                                      parameters, NULL, G_DBUS_CALL_FLAGS_NONE, 20000,
                                      NULL, error);
}

/* An answer, or one of our errors: anything else means the agent broke. */
static void
check_answer (const char *what,
              const char *path,
              GVariant   *reply,
              GError     *error)
{
  g_autofree char *name = NULL;

  if (reply != NULL)
    return;
  /* GVariants D-Bus cannot carry (maybe types, empty tuples) are refused
   * by GDBus before they are sent: nothing reached the agent. */
  if (!g_dbus_error_is_remote_error (error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
    return;
  name = g_dbus_error_get_remote_error (error);
  if (name == NULL || !g_str_has_prefix (name, ERROR_PREFIX))
    g_error ("%s with the options of %s: %s (%s)", what, path, error->message,
             name != NULL ? name : "not a remote error");
}

static GVariant *
options_from_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) raw = NULL;
  char *contents;
  gsize length;

  if (!g_file_get_contents (path, &contents, &length, &error))
    g_error ("%s", error->message);
  raw = g_variant_ref_sink (g_variant_new_from_data (G_VARIANT_TYPE_VARDICT, contents, length,
                                                     FALSE, g_free, contents));
  /* What goes over the wire is the normal form. */
  return g_variant_get_normal_form (raw);
}

static GVariant *
without_browser (GVariant *options)
{
  GVariantBuilder builder;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      if (!g_str_equal (key, "open-browser"))
        g_variant_builder_add (&builder, "{sv}", key, value);
      g_variant_unref (value);
    }
  g_variant_builder_add (&builder, "{sv}", "open-browser", g_variant_new_boolean (FALSE));
  return g_variant_builder_end (&builder);
}

static void
send_options (const char *path)
{
  g_autoptr(GVariant) options = options_from_file (path);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = call ("GetCredential", g_variant_new ("(@a{sv})", options), &error);
  check_answer ("GetCredential", path, reply, error);
  g_clear_pointer (&reply, g_variant_unref);
  g_clear_error (&error);

  reply = call ("Login", g_variant_new ("(@a{sv})", without_browser (options)), &error);
  check_answer ("Login", path, reply, error);
  if (reply != NULL)
    {
      g_autoptr(GVariant) cancelled = NULL;

      g_clear_error (&error);
      cancelled = call ("CancelLogin", NULL, &error);
      g_assert_no_error (error);
    }
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GVariant) pong = NULL;
  const char *name;
  guint32 pid;
  guint count = 0;

  if (argc != 2)
    {
      g_printerr ("usage: %s CORPUS-DIR\n", argv[0]);
      return 2;
    }

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);

  /* Activate the agent and note who it is. */
  g_variant_unref (call ("GetStatus", NULL, &error));
  g_assert_no_error (error);
  pid = agent_pid ();

  dir = g_dir_open (argv[1], 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (argv[1], name, NULL);

      if (name[0] == '.')
        continue;
      send_options (path);
      count++;
    }
  g_assert_cmpuint (count, >, 0);

  pong = g_dbus_connection_call_sync (bus, BUS_NAME, OBJECT_PATH, "org.freedesktop.DBus.Peer",
                                      "Ping", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL,
                                      &error);
  g_assert_no_error (error);
  g_assert_cmpuint (agent_pid (), ==, pid);
  g_print ("%u option dicts sent; agent %u still serving\n", count, pid);
  return 0;
}
