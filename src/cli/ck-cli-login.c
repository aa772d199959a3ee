/* ck-cli-login.c: `claude-keyring login`
 *
 * The agent does the OAuth work; this command starts it, prints the
 * authorize URL at once and waits for LoginFinished. It never blocks on
 * standard input: from a terminal a pasted code is read asynchronously,
 * while the browser may finish the login at the same time.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <glib-unix.h>
#include <gio/gunixinputstream.h>

#include "ck-cli.h"
#include "ck-error.h"

#define LOGIN_CALL_TIMEOUT_MS  (30 * 1000)
#define CANCEL_TIMEOUT_MS      (5 * 1000)
#define LOGIN_WAIT_SECONDS     (6 * 60)
#define CODE_WAIT_SECONDS      60
#define SPINNER_INTERVAL_MS    100

typedef struct
{
  GMainLoop        *loop;
  GDBusConnection  *bus;
  GCancellable     *cancellable;
  GDataInputStream *input;
  const char       *progress;
  const char      **spinner_frames;
  guint             spinner_frame;
  guint             finished_id;
  guint             watch_id;
  guint             timeout_id;
  guint             sigint_id;
  guint             sigterm_id;
  guint             spinner_id;
  guint             wait_seconds;
  guint             we_started : 1;
  guint             done : 1;
  int               exit_status;
} Login;

static const char *unicode_frames[] = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", NULL };
static const char *ascii_frames[] = { "|", "/", "-", "\\", NULL };

static void read_code (Login *self);

static gboolean
locale_is_utf8 (void)
{
  return g_get_charset (NULL);
}

static void
stop_spinner (Login *self)
{
  if (self->spinner_id == 0)
    return;

  g_clear_handle_id (&self->spinner_id, g_source_remove);
  fputs ("\r\033[K", stderr);
  fflush (stderr);
}

static gboolean
spinner_tick (gpointer user_data)
{
  Login *self = user_data;
  const char *frame = self->spinner_frames[self->spinner_frame];

  if (self->spinner_frames[++self->spinner_frame] == NULL)
    self->spinner_frame = 0;

  fprintf (stderr, "\r%s %s", frame, self->progress);
  fflush (stderr);

  return G_SOURCE_CONTINUE;
}

/* A spinner on a terminal, else the progress line once. The spinner is left
 * out while a pasted code is read from the terminal: redrawing the line
 * would garble what the user types. */
static void
show_progress (Login      *self,
               const char *progress,
               gboolean    animate)
{
  self->progress = progress;

  if (animate && isatty (STDERR_FILENO))
    {
      self->spinner_frames = locale_is_utf8 () ? unicode_frames : ascii_frames;
      spinner_tick (self);
      self->spinner_id = g_timeout_add (SPINNER_INTERVAL_MS, spinner_tick, self);
    }
  else
    {
      g_printerr ("%s\n", progress);
    }
}

static void
finish (Login *self,
        int    exit_status)
{
  if (self->done)
    return;

  stop_spinner (self);
  self->done = TRUE;
  self->exit_status = exit_status;
  g_cancellable_cancel (self->cancellable);
  g_main_loop_quit (self->loop);
}

/* Abandons the login at the agent, when this command started it. */
static void
cancel_login (Login *self)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  if (!self->we_started)
    return;

  reply = ck_cli_call ("CancelLogin", NULL, G_VARIANT_TYPE_UNIT,
                       CANCEL_TIMEOUT_MS, &error);
  if (reply == NULL)
    g_debug ("CancelLogin failed: %s", error->message);
}

static void
on_login_finished (GDBusConnection *bus,
                   const char      *sender_name,
                   const char      *object_path,
                   const char      *interface_name,
                   const char      *signal_name,
                   GVariant        *parameters,
                   gpointer         user_data)
{
  Login *self = user_data;
  const char *message = NULL;
  gboolean ok = FALSE;

  if (self->done || !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(bs)")))
    return;

  g_variant_get (parameters, "(b&s)", &ok, &message);
  stop_spinner (self);

  if (ok)
    {
      if (message[0] != '\0')
        printf ("Logged in as %s.\n", message);
      else
        printf ("Logged in.\n");
      fflush (stdout);
      finish (self, CK_EXIT_OK);
    }
  else
    {
      ck_cli_error ("the login failed: %s",
                    message[0] != '\0' ? message : "the agent gave no reason; run 'claude-keyring login' again");
      finish (self, CK_EXIT_FAILURE);
    }
}

static void
on_agent_vanished (GDBusConnection *bus,
                   const char      *name,
                   gpointer         user_data)
{
  Login *self = user_data;

  stop_spinner (self);
  ck_cli_error ("the agent stopped before the login finished; run 'claude-keyring login' again");
  finish (self, CK_EXIT_FAILURE);
}

static gboolean
on_timeout (gpointer user_data)
{
  Login *self = user_data;

  self->timeout_id = 0;
  stop_spinner (self);
  cancel_login (self);

  if (self->we_started)
    ck_cli_error ("the login did not finish within %u minutes; run 'claude-keyring login' again",
                  self->wait_seconds / 60);
  else
    ck_cli_error ("the agent accepted the code but did not report the result within %u s; run 'claude-keyring status'",
                  self->wait_seconds);

  finish (self, CK_EXIT_FAILURE);
  return G_SOURCE_REMOVE;
}

static gboolean
on_signal (gpointer user_data,
           int      signum)
{
  Login *self = user_data;

  stop_spinner (self);

  if (self->we_started)
    {
      cancel_login (self);
      ck_cli_error ("the login was cancelled");
    }
  else
    {
      /* With --code the agent already has the code: only the wait ends. */
      ck_cli_error ("stopped waiting; the agent finishes the login on its own, see 'claude-keyring status'");
    }

  finish (self, 128 + signum);

  return G_SOURCE_REMOVE;
}

static gboolean
on_sigint (gpointer user_data)
{
  Login *self = user_data;

  self->sigint_id = 0;
  return on_signal (self, SIGINT);
}

static gboolean
on_sigterm (gpointer user_data)
{
  Login *self = user_data;

  self->sigterm_id = 0;
  return on_signal (self, SIGTERM);
}

static void
complete_login_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Login *self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (object), result, &error);

  if (self->done)
    return;

  if (reply != NULL)
    {
      /* LoginFinished follows once the agent has redeemed the code. */
      g_printerr ("Code accepted; finishing the login%s\n",
                  locale_is_utf8 () ? "…" : "...");
      return;
    }

  if (g_dbus_error_is_remote_error (error))
    g_dbus_error_strip_remote_error (error);

  /* A mistyped code leaves the login pending: let the user paste again. */
  if (g_error_matches (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT))
    {
      ck_cli_error ("%s", error->message);
      g_printerr ("Paste the code again, or approve in the browser.\n");
      read_code (self);
      return;
    }

  ck_cli_print_error (error);
  finish (self, CK_EXIT_FAILURE);
}

static void
read_line_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Login *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (object),
                                               result, NULL, &error);
  if (self->done)
    return;

  if (line == NULL)
    {
      /* End of input or a read error: keep waiting for the browser. */
      if (error != NULL)
        g_debug ("Reading a code failed: %s", error->message);
      return;
    }

  g_strstrip (line);
  if (line[0] == '\0' || !g_utf8_validate (line, -1, NULL))
    {
      read_code (self);
      return;
    }

  g_dbus_connection_call (self->bus,
                          APP_ID,
                          OBJECT_PATH,
                          DBUS_INTERFACE,
                          "CompleteLogin",
                          g_variant_new ("(s)", line),
                          G_VARIANT_TYPE_UNIT,
                          G_DBUS_CALL_FLAGS_NONE,
                          LOGIN_CALL_TIMEOUT_MS,
                          self->cancellable,
                          complete_login_cb,
                          self);
}

static void
read_code (Login *self)
{
  if (self->input == NULL)
    {
      g_autoptr(GInputStream) stdin_stream = g_unix_input_stream_new (STDIN_FILENO, FALSE);

      self->input = g_data_input_stream_new (stdin_stream);
      g_data_input_stream_set_newline_type (self->input, G_DATA_STREAM_NEWLINE_TYPE_ANY);
    }

  g_data_input_stream_read_line_async (self->input,
                                       G_PRIORITY_DEFAULT,
                                       self->cancellable,
                                       read_line_cb,
                                       self);
}

static void
login_init (Login *self,
            guint  wait_seconds)
{
  self->loop = g_main_loop_new (NULL, FALSE);
  self->cancellable = g_cancellable_new ();
  self->wait_seconds = wait_seconds;
  self->exit_status = CK_EXIT_FAILURE;

  /* Subscribed before the first call so that no LoginFinished is missed. */
  self->finished_id =
    g_dbus_connection_signal_subscribe (self->bus,
                                        APP_ID,
                                        DBUS_INTERFACE,
                                        "LoginFinished",
                                        OBJECT_PATH,
                                        NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE,
                                        on_login_finished,
                                        self,
                                        NULL);

  /* Ctrl+C during the first call is handled once the loop runs. */
  self->sigint_id = g_unix_signal_add (SIGINT, on_sigint, self);
  self->sigterm_id = g_unix_signal_add (SIGTERM, on_sigterm, self);
}

/* Waits for LoginFinished, the agent going away, a signal or the timeout. */
static int
login_run (Login *self)
{
  self->watch_id = g_bus_watch_name_on_connection (self->bus,
                                                   APP_ID,
                                                   G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                   NULL,
                                                   on_agent_vanished,
                                                   self,
                                                   NULL);
  self->timeout_id = g_timeout_add_seconds (self->wait_seconds, on_timeout, self);

  g_main_loop_run (self->loop);

  return self->exit_status;
}

static void
login_clear (Login *self)
{
  stop_spinner (self);

  if (self->finished_id != 0)
    g_dbus_connection_signal_unsubscribe (self->bus, self->finished_id);
  g_clear_handle_id (&self->watch_id, g_bus_unwatch_name);
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  g_clear_handle_id (&self->sigint_id, g_source_remove);
  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->input);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->loop, g_main_loop_unref);
}

static int
complete_with_code (const char *code)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  Login self = { 0 };
  int status;

  if (!(self.bus = ck_cli_get_bus (&error)))
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  login_init (&self, CODE_WAIT_SECONDS);

  reply = ck_cli_call ("CompleteLogin", g_variant_new ("(s)", code),
                       G_VARIANT_TYPE_UNIT, LOGIN_CALL_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      if (g_error_matches (error, CK_ERROR, CK_ERROR_NOT_LOGGED_IN) ||
          g_error_matches (error, CK_ERROR, CK_ERROR_LOGIN_FAILED) ||
          g_error_matches (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT))
        ck_cli_error ("the code was not accepted: %s", error->message);
      else
        ck_cli_print_error (error);
      login_clear (&self);
      return CK_EXIT_FAILURE;
    }

  g_printerr ("Code accepted; finishing the login%s\n", locale_is_utf8 () ? "…" : "...");
  status = login_run (&self);
  login_clear (&self);

  return status;
}

int
ck_cli_login (int    argc,
              char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *code = NULL;
  g_autofree char *progress = NULL;
  GVariantBuilder options;
  gboolean console = FALSE;
  gboolean no_browser = FALSE;
  g_autofree char *as_name = NULL;
  gboolean manual = FALSE;
  gboolean open_browser;
  gboolean stdin_is_tty;
  gboolean has_display;
  const char *ellipsis;
  const char *url = NULL;
  Login self = { 0 };
  int status;
  const GOptionEntry entries[] = {
    { "console", 0, 0, G_OPTION_ARG_NONE, &console, "Log in with an Anthropic Console account (API usage billing)", NULL },
    { "no-browser", 0, 0, G_OPTION_ARG_NONE, &no_browser, "Do not open a browser; only print the link", NULL },
    { "manual", 0, 0, G_OPTION_ARG_NONE, &manual, "Show the code on the web page and paste it here (for remote machines)", NULL },
    { "as", 0, 0, G_OPTION_ARG_STRING, &as_name, "Log in as the account NAME: a new account of that name, or new tokens for the account of that name (default: the login's email address)", "NAME" },
    { "code", 0, 0, G_OPTION_ARG_STRING, &code, "Complete a pending login with the code the web page showed (or the localhost address the browser was sent to)", "CODE#STATE" },
    { NULL }
  };

  context = ck_cli_option_context_new ("login", NULL,
                                       "Logs in to Claude through the agent: prints the link to open, then waits\n"
                                       "until you approve in the browser. Without a display the page shows a code\n"
                                       "to paste here instead, or to pass to 'claude-keyring login --code'.",
                                       entries);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;

  if (argc > 1)
    {
      ck_cli_error ("login takes no arguments; to complete a login use --code 'CODE#STATE'");
      return CK_EXIT_USAGE;
    }

  if (code != NULL)
    {
      g_strstrip (code);
      if (code[0] == '\0')
        {
          ck_cli_error ("--code needs the code the web page showed, as 'CODE#STATE'");
          return CK_EXIT_USAGE;
        }
      return complete_with_code (code);
    }

  stdin_is_tty = isatty (STDIN_FILENO);
  has_display = g_getenv ("DISPLAY") != NULL || g_getenv ("WAYLAND_DISPLAY") != NULL;
  ellipsis = locale_is_utf8 () ? "…" : "...";

  /* Over SSH the browser is on another machine: it can neither be opened
   * from here nor reach the loopback redirect, so the page shows a code. */
  open_browser = !no_browser && has_display;
  if (!has_display && stdin_is_tty)
    manual = TRUE;

  if (!(self.bus = ck_cli_get_bus (&error)))
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  login_init (&self, LOGIN_WAIT_SECONDS);

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (as_name != NULL)
    g_variant_builder_add (&options, "{sv}", "name", g_variant_new_string (as_name));
  g_variant_builder_add (&options, "{sv}", "mode",
                         g_variant_new_string (console ? "console" : "claude-ai"));
  g_variant_builder_add (&options, "{sv}", "open-browser",
                         g_variant_new_boolean (open_browser));
  g_variant_builder_add (&options, "{sv}", "manual",
                         g_variant_new_boolean (manual));

  reply = ck_cli_call ("Login", g_variant_new ("(a{sv})", &options),
                       G_VARIANT_TYPE ("(s)"), LOGIN_CALL_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      if (g_error_matches (error, CK_ERROR, CK_ERROR_LOGIN_IN_PROGRESS))
        ck_cli_error ("a login is already in progress; finish it in the browser, "
                      "complete it with 'claude-keyring login --code CODE#STATE', "
                      "or wait until it times out");
      else
        ck_cli_print_error (error);
      login_clear (&self);
      return CK_EXIT_FAILURE;
    }

  self.we_started = TRUE;
  g_variant_get (reply, "(&s)", &url);

  /* The URL alone on stdout, at once, for a person or a script to open. */
  printf ("%s\n", url);
  fflush (stdout);

  if (manual)
    {
      if (stdin_is_tty)
        g_printerr ("Open the link above in a browser on any machine and approve; then paste the code\n"
                    "the page shows here and press Enter (or run 'claude-keyring login --code CODE#STATE'\n"
                    "in another terminal).\n");
      else
        g_printerr ("Open the link above in a browser on any machine and approve; then run\n"
                    "'claude-keyring login --code CODE#STATE' with the code the page shows.\n");
      progress = g_strdup_printf ("Waiting for the code%s (Ctrl+C to cancel)", ellipsis);
    }
  else
    {
      if (!open_browser)
        g_printerr ("Open the link above in a browser on this machine.\n");
      if (stdin_is_tty)
        g_printerr ("If the page shows a code instead, paste it here and press Enter.\n");
      progress = g_strdup_printf ("Waiting for you to approve in the browser%s (Ctrl+C to cancel)",
                                  ellipsis);
    }

  show_progress (&self, progress, !stdin_is_tty);

  /* Only a terminal is read: a pipe or file may never end, and a script
   * that wants to pass a code uses --code. */
  if (stdin_is_tty)
    read_code (&self);

  status = login_run (&self);
  login_clear (&self);

  return status;
}
