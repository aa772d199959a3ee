/* ck-fake-notifications.c: a notification server for the UI tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 *   ck-fake-notifications LOG
 *
 * Owns org.freedesktop.Notifications on the session bus and appends one
 * line per call to LOG:
 *
 *   notify<TAB>ID<TAB>SUMMARY<TAB>BODY<TAB>ACTION-KEY,ACTION-KEY,…
 *   close<TAB>ID
 *
 * A test presses a notification's button with
 *   gdbus call … --dest org.freedesktop.Notifications
 *     --object-path /org/freedesktop/Notifications
 *     --method io.github.claudekeyring.Test.Notifications.InvokeAction ID KEY
 * which emits ActionInvoked from the server's name, as a real one does.
 */

#include <stdio.h>
#include <stdlib.h>

#include <gio/gio.h>

static const char introspection[] =
  "<node>"
  "  <interface name='org.freedesktop.Notifications'>"
  "    <method name='GetCapabilities'><arg type='as' direction='out'/></method>"
  "    <method name='Notify'>"
  "      <arg type='s' direction='in'/><arg type='u' direction='in'/>"
  "      <arg type='s' direction='in'/><arg type='s' direction='in'/>"
  "      <arg type='s' direction='in'/><arg type='as' direction='in'/>"
  "      <arg type='a{sv}' direction='in'/><arg type='i' direction='in'/>"
  "      <arg type='u' direction='out'/>"
  "    </method>"
  "    <method name='CloseNotification'><arg type='u' direction='in'/></method>"
  "    <method name='GetServerInformation'>"
  "      <arg type='s' direction='out'/><arg type='s' direction='out'/>"
  "      <arg type='s' direction='out'/><arg type='s' direction='out'/>"
  "    </method>"
  "    <signal name='NotificationClosed'><arg type='u'/><arg type='u'/></signal>"
  "    <signal name='ActionInvoked'><arg type='u'/><arg type='s'/></signal>"
  "  </interface>"
  "  <interface name='io.github.claudekeyring.Test.Notifications'>"
  "    <method name='InvokeAction'>"
  "      <arg type='u' direction='in'/><arg type='s' direction='in'/>"
  "    </method>"
  "  </interface>"
  "</node>";

static FILE *log_file;
static guint32 last_id;

static void
log_line (const char *format,
          ...)
{
  va_list args;

  va_start (args, format);
  vfprintf (log_file, format, args);
  va_end (args);
  fflush (log_file);
}

static void
handle_method_call (GDBusConnection       *connection,
                    const char            *sender,
                    const char            *object_path,
                    const char            *interface_name,
                    const char            *method_name,
                    GVariant              *parameters,
                    GDBusMethodInvocation *invocation,
                    gpointer               user_data)
{
  if (g_str_equal (method_name, "GetCapabilities"))
    {
      const char *caps[] = { "actions", "body", NULL };

      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(^as)", caps));
    }
  else if (g_str_equal (method_name, "Notify"))
    {
      g_autofree const char **actions = NULL;
      g_autoptr(GString) keys = g_string_new (NULL);
      const char *summary, *body;
      guint32 replaces_id, id;

      g_variant_get (parameters, "(&su&s&s&s^a&s@a{sv}i)", NULL, &replaces_id, NULL,
                     &summary, &body, &actions, NULL, NULL);
      for (guint i = 0; actions[i] != NULL && actions[i + 1] != NULL; i += 2)
        g_string_append_printf (keys, "%s%s", keys->len > 0 ? "," : "", actions[i]);
      id = replaces_id != 0 ? replaces_id : ++last_id;
      log_line ("notify\t%u\t%s\t%s\t%s\n", id, summary, body, keys->str);
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(u)", id));
    }
  else if (g_str_equal (method_name, "CloseNotification"))
    {
      guint32 id;

      g_variant_get (parameters, "(u)", &id);
      log_line ("close\t%u\n", id);
      g_dbus_connection_emit_signal (connection, NULL, object_path, "org.freedesktop.Notifications",
                                     "NotificationClosed", g_variant_new ("(uu)", id, 3), NULL);
      g_dbus_method_invocation_return_value (invocation, NULL);
    }
  else if (g_str_equal (method_name, "GetServerInformation"))
    {
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(ssss)", "ck-fake-notifications",
                                                            "claude-keyring", "1", "1.2"));
    }
  else if (g_str_equal (method_name, "InvokeAction"))
    {
      const char *key;
      guint32 id;

      g_variant_get (parameters, "(u&s)", &id, &key);
      g_dbus_connection_emit_signal (connection, NULL, object_path, "org.freedesktop.Notifications",
                                     "ActionInvoked", g_variant_new ("(us)", id, key), NULL);
      g_dbus_method_invocation_return_value (invocation, NULL);
    }
}

static const GDBusInterfaceVTable vtable = { handle_method_call, NULL, NULL };

static void
on_bus_acquired (GDBusConnection *connection,
                 const char      *name,
                 gpointer         user_data)
{
  GDBusNodeInfo *info = user_data;

  for (guint i = 0; info->interfaces[i] != NULL; i++)
    g_dbus_connection_register_object (connection, "/org/freedesktop/Notifications",
                                       info->interfaces[i], &vtable, NULL, NULL, NULL);
}

static void
on_name_lost (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  g_printerr ("ck-fake-notifications: could not own %s\n", name);
  exit (1);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GMainLoop) loop = NULL;
  GDBusNodeInfo *info;

  if (argc != 2)
    {
      g_printerr ("usage: ck-fake-notifications LOG\n");
      return 2;
    }

  if (!(log_file = fopen (argv[1], "a")))
    {
      g_printerr ("ck-fake-notifications: cannot open %s\n", argv[1]);
      return 1;
    }

  info = g_dbus_node_info_new_for_xml (introspection, NULL);
  g_bus_own_name (G_BUS_TYPE_SESSION, "org.freedesktop.Notifications", G_BUS_NAME_OWNER_FLAGS_NONE,
                  on_bus_acquired, NULL, on_name_lost, info, NULL);

  loop = g_main_loop_new (NULL, FALSE);
  g_main_loop_run (loop);
  return 0;
}
