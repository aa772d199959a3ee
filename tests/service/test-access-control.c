/* test-access-control.c: CkAccessControl's caller identity, in process
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Debian 12's dbus-daemon (1.14) does not offer ProcessFD, so the test
 * brings a bus of its own: a GDBusServer that answers the few
 * org.freedesktop.DBus calls a client makes, and GetConnectionCredentials
 * with whatever PID and pidfd the test sets. The processes behind them
 * are real children (sleep), alive, exited, or reaped.
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>

#include "ck-access-control.h"
#include "ck-error.h"

static const char bus_xml[] =
  "<node>"
  "  <interface name='org.freedesktop.DBus'>"
  "    <method name='Hello'><arg type='s' direction='out'/></method>"
  "    <method name='AddMatch'><arg type='s' direction='in'/></method>"
  "    <method name='RemoveMatch'><arg type='s' direction='in'/></method>"
  "    <method name='GetConnectionCredentials'>"
  "      <arg type='s' direction='in'/><arg type='a{sv}' direction='out'/>"
  "    </method>"
  "  </interface>"
  "</node>";

typedef struct
{
  GDBusServer     *server;
  GDBusConnection *peer;       /* the bus's end of the client's connection */
  GDBusNodeInfo   *info;
  GDBusConnection *client;
  CkAccessControl *access;
  guint            n_credentials;
  /* What GetConnectionCredentials answers next. */
  guint32          pid;        /* 0: no ProcessID */
  int              pidfd;      /* -1: no ProcessFD */
} Fixture;

static void
bus_method_call (GDBusConnection       *connection,
                 const char            *sender,
                 const char            *object_path,
                 const char            *interface_name,
                 const char            *method_name,
                 GVariant              *parameters,
                 GDBusMethodInvocation *invocation,
                 gpointer               user_data)
{
  Fixture *fixture = user_data;
  g_autoptr(GUnixFDList) fd_list = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder builder;

  if (g_str_equal (method_name, "Hello"))
    {
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(s)", ":1.1"));
      return;
    }
  if (!g_str_equal (method_name, "GetConnectionCredentials"))
    {
      g_dbus_method_invocation_return_value (invocation, NULL);
      return;
    }

  fixture->n_credentials++;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "UnixUserID", g_variant_new_uint32 (getuid ()));
  if (fixture->pid != 0)
    g_variant_builder_add (&builder, "{sv}", "ProcessID", g_variant_new_uint32 (fixture->pid));
  if (fixture->pidfd >= 0)
    {
      fd_list = g_unix_fd_list_new ();
      g_variant_builder_add (&builder, "{sv}", "ProcessFD",
                             g_variant_new_handle (g_unix_fd_list_append (fd_list, fixture->pidfd,
                                                                          &error)));
      g_assert_no_error (error);
    }
  g_dbus_method_invocation_return_value_with_unix_fd_list (invocation,
                                                           g_variant_new ("(a{sv})", &builder),
                                                           fd_list);
}

static const GDBusInterfaceVTable bus_vtable = { bus_method_call, NULL, NULL, { 0 } };

static gboolean
on_new_connection (GDBusServer     *server,
                   GDBusConnection *connection,
                   gpointer         user_data)
{
  Fixture *fixture = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_null (fixture->peer);
  fixture->peer = g_object_ref (connection);
  g_dbus_connection_register_object (connection, "/org/freedesktop/DBus",
                                     fixture->info->interfaces[0], &bus_vtable,
                                     fixture, NULL, &error);
  g_assert_no_error (error);
  return TRUE;
}

static void
on_result (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *guid = g_dbus_generate_guid ();
  g_autofree char *address = g_strdup_printf ("unix:tmpdir=%s", g_get_tmp_dir ());

  fixture->pidfd = -1;
  fixture->info = g_dbus_node_info_new_for_xml (bus_xml, &error);
  g_assert_no_error (error);
  fixture->server = g_dbus_server_new_sync (address, G_DBUS_SERVER_FLAGS_NONE, guid,
                                            NULL, NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (fixture->server, "new-connection", G_CALLBACK (on_new_connection), fixture);
  g_dbus_server_start (fixture->server);

  /* Asynchronously: the client's Hello needs this thread to answer it. */
  g_dbus_connection_new_for_address (g_dbus_server_get_client_address (fixture->server),
                                     G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                     G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                     NULL, NULL, on_result, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  fixture->client = g_dbus_connection_new_for_address_finish (result, &error);
  g_assert_no_error (error);
  g_assert_true (g_dbus_connection_get_capabilities (fixture->client) &
                 G_DBUS_CAPABILITY_FLAGS_UNIX_FD_PASSING);
  fixture->access = ck_access_control_new (fixture->client);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_clear_object (&fixture->access);
  g_dbus_connection_close_sync (fixture->client, NULL, NULL);
  g_clear_object (&fixture->client);
  g_clear_object (&fixture->peer);
  g_dbus_server_stop (fixture->server);
  g_clear_object (&fixture->server);
  g_clear_pointer (&fixture->info, g_dbus_node_info_unref);
  if (fixture->pidfd >= 0)
    close (fixture->pidfd);
}

static CkCaller *
identify (Fixture     *fixture,
          const char  *sender,
          GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  ck_access_control_identify_async (fixture->access, sender, NULL, on_result, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return ck_access_control_identify_finish (fixture->access, result, error);
}

/* The caller behind @sender cannot be identified: refused, and not kept. */
static void
assert_refused (Fixture    *fixture,
                const char *sender)
{
  g_autoptr(CkCaller) caller = NULL;
  g_autoptr(GError) error = NULL;

  caller = identify (fixture, sender, &error);
  g_assert_error (error, CK_ERROR, CK_ERROR_ACCESS_DENIED);
  g_assert_null (caller);
  g_assert_null (ck_access_control_dup_caller (fixture->access, sender));
}

/* Also when a failed assertion ends the test: a child left behind would
 * keep the test's output open, and meson waiting. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* A child that lives until it is killed, and a pidfd for it. */
static GPid
spawn_sleeper (int *pidfd)
{
  const char *argv[] = { "sleep", "600", NULL };
  g_autoptr(GError) error = NULL;
  GPid pid;

  g_spawn_async (NULL, (char **) argv, NULL,
                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                 die_with_parent, NULL, &pid, &error);
  g_assert_no_error (error);
  *pidfd = pidfd_open (pid, 0);
  g_assert_cmpint (*pidfd, >=, 0);
  return pid;
}

/* Kills the child and waits until it has exited; a zombie until reaped. */
static void
kill_sleeper (GPid pid,
              int  pidfd)
{
  struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  g_assert_cmpint (poll (&pfd, 1, 10000), ==, 1);
}

static void
reap_sleeper (GPid pid)
{
  g_assert_cmpint (waitpid (pid, NULL, 0), ==, pid);
}

static void
test_pidfd (void)
{
  int pidfd, pipe_fds[2];
  GPid pid = spawn_sleeper (&pidfd);

  g_assert_cmpint (ck_pidfd_get_pid (pidfd), ==, pid);
  g_assert_true (ck_pidfd_is_alive (pidfd));

  kill_sleeper (pid, pidfd);
  g_assert_false (ck_pidfd_is_alive (pidfd));
  reap_sleeper (pid);
  g_assert_cmpint (ck_pidfd_get_pid (pidfd), ==, -1);
  g_assert_false (ck_pidfd_is_alive (pidfd));
  close (pidfd);

  /* Not a pidfd: no PID. */
  g_assert_cmpint (pipe (pipe_fds), ==, 0);
  g_assert_cmpint (ck_pidfd_get_pid (pipe_fds[0]), ==, -1);
  close (pipe_fds[0]);
  close (pipe_fds[1]);
}

static void
test_apparmor_label (void)
{
  const struct { const char *label, *snap; } cases[] = {
    { "snap.firefox.firefox (enforce)\n", "snap.firefox.firefox" },
    { "snap.code.code (complain)", "snap.code.code" },
    { "snap.lxd.hook.configure (enforce)\n", "snap.lxd.hook.configure" },
    { "snap.firefox.firefox//&:ns:unconfined (enforce)\n", "snap.firefox.firefox//&:ns:unconfined" },
    { "unconfined\n", NULL },
    { "snapd (enforce)\n", NULL },
    { "snap-update-ns.firefox (enforce)\n", NULL },
    { "/usr/bin/evince (enforce)\n", NULL },
    { "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023", NULL },
    { "snap.", NULL },
    { "", NULL },
    { NULL, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *snap = ck_apparmor_label_get_snap (cases[i].label);

      g_assert_cmpstr (snap, ==, cases[i].snap);
    }
}

/* The bus's pidfd names the caller, whatever PID it reports beside it. */
static void
test_process_fd (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(CkCaller) caller = NULL;
  g_autoptr(CkCaller) again = NULL;
  g_autoptr(GError) error = NULL;
  GPid pid = spawn_sleeper (&fixture->pidfd);

  fixture->pid = getpid ();
  caller = identify (fixture, ":1.7", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (caller->pid, ==, pid);
  g_assert_true (g_str_has_suffix (caller->exe, "/sleep"));
  g_assert_false (caller->sandboxed);
  g_assert_true (ck_access_control_allows (fixture->access, caller, &error));

  /* Once per connection. */
  again = identify (fixture, ":1.7", &error);
  g_assert_no_error (error);
  g_assert_true (again == caller);
  g_assert_cmpuint (fixture->n_credentials, ==, 1);

  kill_sleeper (pid, fixture->pidfd);
  reap_sleeper (pid);
}

/* A caller that is gone, its PID perhaps another process's by now (here:
 * ours, as unsandboxed as can be), is refused. */
static void
test_process_fd_exited (Fixture       *fixture,
                        gconstpointer  data)
{
  GPid pid = spawn_sleeper (&fixture->pidfd);

  fixture->pid = getpid ();
  kill_sleeper (pid, fixture->pidfd);
  reap_sleeper (pid);
  assert_refused (fixture, ":1.8");
}

/* Exited but not reaped: its PID is still its own and /proc still has an
 * entry, but the pidfd says it is gone. */
static void
test_process_fd_zombie (Fixture       *fixture,
                        gconstpointer  data)
{
  GPid pid = spawn_sleeper (&fixture->pidfd);

  kill_sleeper (pid, fixture->pidfd);
  fixture->pid = pid;
  assert_refused (fixture, ":1.9");
  reap_sleeper (pid);
}

/* Without ProcessFD (dbus-daemon 1.14): the PID, pinned at once. */
static void
test_process_id (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(CkCaller) caller = NULL;
  g_autoptr(GError) error = NULL;
  int pidfd;
  GPid pid = spawn_sleeper (&pidfd);

  fixture->pid = pid;
  caller = identify (fixture, ":1.10", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (caller->pid, ==, pid);
  g_assert_true (g_str_has_suffix (caller->exe, "/sleep"));
  g_assert_false (caller->sandboxed);

  /* Gone before we looked: refused, not taken for a sandbox. */
  kill_sleeper (pid, pidfd);
  reap_sleeper (pid);
  close (pidfd);
  assert_refused (fixture, ":1.11");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/access-control/pidfd", test_pidfd);
  g_test_add_func ("/access-control/apparmor-label", test_apparmor_label);
  g_test_add ("/access-control/process-fd", Fixture, NULL,
              fixture_set_up, test_process_fd, fixture_tear_down);
  g_test_add ("/access-control/process-fd-exited", Fixture, NULL,
              fixture_set_up, test_process_fd_exited, fixture_tear_down);
  g_test_add ("/access-control/process-fd-zombie", Fixture, NULL,
              fixture_set_up, test_process_fd_zombie, fixture_tear_down);
  g_test_add ("/access-control/process-id", Fixture, NULL,
              fixture_set_up, test_process_id, fixture_tear_down);
  return g_test_run ();
}
