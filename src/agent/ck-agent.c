/* ck-agent.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A GApplication so that the bus name, uniqueness, --replace and "a second
 * start shows the window" work the way they do for every GNOME app. The
 * credentials object is exported in dbus_register, before the name is
 * owned, so a call queued by D-Bus activation never finds it missing.
 *
 * GApplication also serves org.gtk.Application, org.freedesktop.Application
 * and org.gtk.Actions on our object path, to anyone. A CkBusGuard gives
 * them the check of Credentials1: only a permitted caller (same user, not
 * sandboxed) may activate the agent (show the status window, as a launcher
 * or a second start does) or one of its actions (those that notifications
 * carry, src/ui/ck-ui.c); any other gets AccessDenied and nothing happens.
 */

#define G_LOG_DOMAIN "ck-agent"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <gmodule.h>

#include "ck-agent.h"
#include "ck-bus-guard.h"
#include "ck-service.h"

struct _CkAgent
{
  GApplication  parent_instance;

  GSettings    *settings;
  CkService    *service;
  CkBusGuard   *guard;
  gboolean      headless;
  int           listener_fd;  /* from systemd, -1 if none */
};

G_DEFINE_FINAL_TYPE (CkAgent, ck_agent, G_TYPE_APPLICATION)

/* SD_LISTEN_FDS_START: the first socket systemd hands over. */
#define LISTEN_FDS_START 3

/* TRUE when @fd is a listening stream socket bound to a loopback address:
 * the gateway serves on nothing else. */
static gboolean
is_loopback_listener (int fd)
{
  struct sockaddr_storage address = { 0 };
  socklen_t length = sizeof address;
  int type = 0;
  int accepting = 0;
  socklen_t size = sizeof type;

  if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &size) < 0 || type != SOCK_STREAM)
    return FALSE;
  size = sizeof accepting;
  if (getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) < 0 || !accepting)
    return FALSE;
  if (getsockname (fd, (struct sockaddr *) &address, &length) < 0)
    return FALSE;

  if (address.ss_family == AF_INET)
    return (ntohl (((struct sockaddr_in *) &address)->sin_addr.s_addr) >> 24) == 127;
  if (address.ss_family == AF_INET6)
    {
      const struct in6_addr *in6 = &((struct sockaddr_in6 *) &address)->sin6_addr;

      return IN6_IS_ADDR_LOOPBACK (in6) || (IN6_IS_ADDR_V4MAPPED (in6) && in6->s6_addr[12] == 127);
    }
  return FALSE;
}

/* The gateway's listening socket when systemd handed one over
 * (claude-keyring-gateway.socket), else -1. The sd_listen_fds() protocol,
 * by hand: LISTEN_PID must be ours, and the variables go so that nothing
 * we start believes the sockets are its own. */
static int
take_listen_fd (void)
{
  const char *pid_string = g_getenv ("LISTEN_PID");
  const char *fds_string = g_getenv ("LISTEN_FDS");
  guint64 pid = 0;
  guint64 fds = 0;
  int fd = -1;

  if (pid_string == NULL || fds_string == NULL)
    return -1;

  if (g_ascii_string_to_unsigned (pid_string, 10, 1, G_MAXINT, &pid, NULL) &&
      pid == (guint64) getpid () &&
      g_ascii_string_to_unsigned (fds_string, 10, 1, 64, &fds, NULL))
    {
      for (int i = LISTEN_FDS_START; i < LISTEN_FDS_START + (int) fds; i++)
        fcntl (i, F_SETFD, FD_CLOEXEC);

      if (is_loopback_listener (LISTEN_FDS_START))
        fd = LISTEN_FDS_START;
      else
        {
          g_warning ("The socket systemd handed over is not a listening TCP socket on the loopback "
                     "interface; the gateway does not serve it (check ListenStream= in "
                     "claude-keyring-gateway.socket)");
          close (LISTEN_FDS_START);
        }
    }

  g_unsetenv ("LISTEN_PID");
  g_unsetenv ("LISTEN_FDS");
  g_unsetenv ("LISTEN_FDNAMES");
  return fd;
}

/* The entry point of the UI module (src/ui/ck-ui-module.c). */
typedef gboolean (*CkUiModuleInit) (GApplication  *application,
                                    CkService     *service,
                                    GError       **error);

static gboolean
on_quit_signal (gpointer user_data)
{
  g_application_quit (G_APPLICATION (user_data));
  return G_SOURCE_CONTINUE;
}

static GSettings *
load_settings (GError **error)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, APP_ID, TRUE);
  if (schema == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "The settings schema %s is not installed; install claude-keyring "
                   "or set GSETTINGS_SCHEMA_DIR to the build's data directory.", APP_ID);
      return NULL;
    }
  return g_settings_new_full (schema, NULL, NULL);
}

static gboolean
ck_agent_dbus_register (GApplication     *application,
                        GDBusConnection  *connection,
                        const char       *object_path,
                        GError          **error)
{
  CkAgent *self = CK_AGENT (application);

  if (!G_APPLICATION_CLASS (ck_agent_parent_class)->dbus_register (application, connection,
                                                                    object_path, error))
    return FALSE;

  if (self->settings == NULL && !(self->settings = load_settings (error)))
    return FALSE;

  self->service = ck_service_new (self->settings);
  if (!ck_service_export (self->service, connection, OBJECT_PATH, error))
    return FALSE;

  if (self->guard == NULL)
    {
      static const char * const interfaces[] = {
        "org.gtk.Application", "org.freedesktop.Application", "org.gtk.Actions", NULL
      };

      self->guard = ck_bus_guard_new (connection, ck_service_get_access_control (self->service),
                                      object_path, interfaces);
    }
  return TRUE;
}

static void
ck_agent_dbus_unregister (GApplication    *application,
                          GDBusConnection *connection,
                          const char      *object_path)
{
  CkAgent *self = CK_AGENT (application);

  if (self->service != NULL)
    ck_service_unexport (self->service);

  G_APPLICATION_CLASS (ck_agent_parent_class)->dbus_unregister (application, connection,
                                                                object_path);
}

/* GTK is only ever mapped through this module, so a headless agent stays
 * small. Without it (not installed, no display) the agent runs headless. */
static void
load_ui (CkAgent *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  const char *dir = g_getenv ("CK_UI_MODULE_DIR");
  CkUiModuleInit init = NULL;
  GModule *module;

  path = g_module_build_path (dir != NULL ? dir : CK_UI_MODULE_DIR, "ck-ui");
  module = g_module_open (path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  if (module == NULL)
    {
      g_message ("No tray icon or windows, running headless: %s", g_module_error ());
      self->headless = TRUE;
      return;
    }

  /* It registers GTypes, which can never be unloaded. */
  g_module_make_resident (module);

  if (!g_module_symbol (module, "ck_ui_module_init", (gpointer *) &init) || init == NULL)
    {
      g_message ("No tray icon or windows, running headless: %s", g_module_error ());
      self->headless = TRUE;
      return;
    }

  if (!init (G_APPLICATION (self), self->service, &error))
    {
      g_message ("No tray icon or windows, running headless: %s", error->message);
      self->headless = TRUE;
    }
}

static void
ck_agent_startup (GApplication *application)
{
  CkAgent *self = CK_AGENT (application);

  G_APPLICATION_CLASS (ck_agent_parent_class)->startup (application);

  /* A service: it stays until the session ends or it is replaced. */
  g_application_hold (application);
  g_unix_signal_add (SIGTERM, on_quit_signal, application);
  g_unix_signal_add (SIGINT, on_quit_signal, application);

  if (self->listener_fd >= 0)
    {
      g_autoptr(GError) error = NULL;

      if (!ck_service_start_gateway_on (self->service, self->listener_fd, &error))
        g_warning ("The gateway cannot serve the socket from systemd: %s", error->message);
      self->listener_fd = -1;
    }

  if (!self->headless)
    load_ui (self);

  g_message ("claude-keyring-agent %s serving %s%s", PACKAGE_VERSION, APP_ID,
             self->headless ? " (headless)" : "");
}

static void
ck_agent_activate (GApplication *application)
{
  /* Without a display there is no window to show; with one, the UI
   * module handles "activate" (a second start shows the status window). */
}

/* Whether an agent owns the bus name, asked on a connection of our own:
 * after a failed registration the application has none. */
static gboolean
agent_is_running (void)
{
  g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr(GVariant) reply = NULL;
  gboolean has_owner = FALSE;

  if (bus != NULL)
    reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus", "NameHasOwner",
                                         g_variant_new ("(s)", APP_ID), G_VARIANT_TYPE ("(b)"),
                                         G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  if (reply != NULL)
    g_variant_get (reply, "(b)", &has_owner);
  return has_owner;
}

/* A second start: the running agent shows its window. */
static int
activate_remote (GApplication *application)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_sync (g_application_get_dbus_connection (application), APP_ID,
                                       OBJECT_PATH, "org.gtk.Application", "Activate",
                                       g_variant_new ("(a{sv})", NULL), NULL,
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_printerr ("The running agent did not show its window: %s\n", error->message);
      return 1;
    }
  return 0;
}

static int
ck_agent_handle_local_options (GApplication *application,
                               GVariantDict *options)
{
  CkAgent *self = CK_AGENT (application);
  g_autoptr(GError) error = NULL;

  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("claude-keyring-agent %s\n", PACKAGE_VERSION);
      return 0;
    }

  if (g_variant_dict_contains (options, "replace"))
    g_application_set_flags (application,
                             g_application_get_flags (application) | G_APPLICATION_REPLACE);

  self->headless = g_variant_dict_contains (options, "headless") ||
                   (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL);

  /* Registered here, as GApplication would do next, for a second start to
   * wait for the running agent's answer where GApplication sends Activate
   * and exits: the agent identifies the caller first (CkBusGuard), and a
   * caller that is gone by then cannot be identified, so it is refused. */
  if (!g_application_register (application, NULL, &error))
    {
      /* --gapplication-service (the autostart entry, D-Bus activation, the
       * systemd unit) while an agent already serves the session: GLib fails
       * a service that cannot own its name, but nothing is left to do, and
       * a session start must not show the running agent's window. */
      if ((g_application_get_flags (application) & G_APPLICATION_IS_SERVICE) &&
          agent_is_running ())
        {
          g_message ("An agent already serves %s", APP_ID);
          return 0;
        }
      g_printerr ("Failed to register: %s\n", error->message);
      return 1;
    }
  if (g_application_get_is_remote (application))
    return activate_remote (application);

  return -1;
}

static void
ck_agent_shutdown (GApplication *application)
{
  CkAgent *self = CK_AGENT (application);

  g_clear_object (&self->service);

  G_APPLICATION_CLASS (ck_agent_parent_class)->shutdown (application);
}

static void
ck_agent_finalize (GObject *object)
{
  CkAgent *self = (CkAgent *) object;

  /* Not before: GApplication's objects outlive dbus_unregister. */
  g_clear_pointer (&self->guard, ck_bus_guard_free);
  g_clear_object (&self->service);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (ck_agent_parent_class)->finalize (object);
}

static void
ck_agent_class_init (CkAgentClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = ck_agent_finalize;
  app_class->dbus_register = ck_agent_dbus_register;
  app_class->dbus_unregister = ck_agent_dbus_unregister;
  app_class->startup = ck_agent_startup;
  app_class->activate = ck_agent_activate;
  app_class->handle_local_options = ck_agent_handle_local_options;
  app_class->shutdown = ck_agent_shutdown;
}

static void
ck_agent_init (CkAgent *self)
{
  static const GOptionEntry entries[] = {
    { "headless", 0, 0, G_OPTION_ARG_NONE, NULL,
      "Run without tray icon and windows", NULL },
    { "replace", 0, 0, G_OPTION_ARG_NONE, NULL,
      "Replace the running agent", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL,
      "Print the version and exit", NULL },
    { NULL }
  };

  g_application_add_main_option_entries (G_APPLICATION (self), entries);
  /* Before any thread runs: it changes the environment. */
  self->listener_fd = take_listen_fd ();
}

CkAgent *
ck_agent_new (void)
{
  return g_object_new (CK_TYPE_AGENT,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_ALLOW_REPLACEMENT,
                       NULL);
}
