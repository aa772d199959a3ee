/* ck-cli-ssh.c: `claude-keyring ssh [--persist] [--account NAME] [SSH OPTIONS…] DESTINATION [-- COMMAND…]`
 *
 * Runs claude (or COMMAND) on another machine with this desktop's login,
 * the way ssh-agent forwarding lends a key: the credential never leaves
 * the desktop. The agent opens a *remote* gateway session that listens on
 * a Unix socket of its own, the system's ssh forwards a port on the remote
 * host's loopback to that socket, and the remote command gets
 * ANTHROPIC_BASE_URL pointing at the port and the session's token on file
 * descriptor 3, as `run` hands it over locally.
 *
 * The token travels inside the ssh connection only, never in a remote argv
 * or a file with content. This command starts a ControlMaster of its own
 * (ssh authenticates as usual, prompts included) and runs two sessions
 * over it:
 *  1. the lifeline, without a terminal: on the remote host it makes a
 *     private directory with two FIFOs, takes the second session's script
 *     and then the token on its stdin, and writes the token into a FIFO
 *     only once the second session has opened it. It then stays, passing
 *     on the signals this process gets and hanging the command up when
 *     this process or the connection goes (a session without a terminal
 *     is not hung up by sshd).
 *  2. the user's session (with a terminal when ssh would give one): its
 *     script opens the FIFO as fd 3, tells the lifeline its PID, removes
 *     the directory and execs the command.
 * Both remote commands are plain words every login shell passes to sh
 * unchanged; the user's command words are quoted for sh in the script,
 * which goes through stdin. docs/architecture.md ("Remote sessions over
 * SSH") says why this delivery.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "ck-cli.h"
#include "ck-error.h"

/* A refresh may happen on the way. */
#define SSH_DBUS_TIMEOUT_MS (30 * 1000)

/* How long the lifeline may take to end once told to, and `ssh -O exit`. */
#define SSH_CLEANUP_TIMEOUT_MS 3000

/* The lifeline's "ck-ready" comes within a second or two over a master
 * that is up; a startup file of the remote shell that reads its input
 * would make it wait for ever. */
#define SSH_READY_TIMEOUT_MS (20 * 1000)

/* The master outlives its last session by this much at most: if this
 * process is killed outright, the remote command hangs up and the
 * connection goes soon after. */
#define SSH_CONTROL_PERSIST "5"

/* OpenSSH's options (9.x): those that take an argument, and flags. */
#define SSH_ARGUMENT_OPTIONS "BbcDEeFIiJLlmOoPpQRSWw"
#define SSH_FLAG_OPTIONS "46AaCfGgKkMNnqsTtVvXxYy"

#define EXIT_NOT_FOUND 127

/* The options this command sets itself, and why the user's cannot be. */
static const struct
{
  char        option;
  const char *why;
} refused_options[] = {
  { 'M', "claude-keyring ssh runs a ControlMaster of its own" },
  { 'S', "claude-keyring ssh uses a control socket of its own" },
  { 'O', "claude-keyring ssh controls its own master connection" },
  { 'N', "claude-keyring ssh always runs a remote command" },
  { 'f', "claude-keyring ssh stays in the foreground, for the session lives as long as it" },
  { 'W', "stdio forwarding would replace the remote command" },
  { 'G', "it only prints the configuration; run ssh -G" },
  { 's', "a subsystem cannot be handed the token" },
  { 'V', "it only prints the version; run ssh -V" },
  { 'Q', "it only prints a list; run ssh -Q" },
};

/* The lifeline's remote command, run by `sh -c` (see the top of this
 * file). One line without ', \ or !, so that any login shell (sh, bash,
 * zsh, fish, csh) passes it to sh unchanged inside single quotes. A
 * watchdog removes the directory and ends the script when the user's
 * session has not come for the token within a minute (when the connection
 * dropped in between, say). Then: the script length and the script, the
 * token length and the token on stdin; "ck-ready PID DIR" and
 * "ck-delivered" on stdout; then a signal name per line for the command's
 * process group, "done" when it ended, end of file (this process or the
 * connection gone) hangs it up. */
static const char lifeline_script[] =
  "umask 077; d=$(mktemp -d) || exit 1; "
  "stop() { kill $! 2>/dev/null; exit 0; }; "
  "(trap stop TERM; sleep 60 & wait; rm -rf \"$d\"; kill $$) >/dev/null 2>&1 </dev/null & w=$!; "
  "fail() { kill $w 2>/dev/null; rm -rf \"$d\"; exit 1; }; "
  "mkfifo \"$d/t\" \"$d/p\" || fail; "
  "read -r n && dd bs=1 count=\"$n\" of=\"$d/s\" 2>/dev/null || fail; "
  "echo \"ck-ready $$ $d\"; "
  "read -r n || fail; "
  "exec 4>\"$d/t\"; dd bs=1 count=\"$n\" >&4 2>/dev/null; exec 4>&-; "
  "read -r pid <\"$d/p\"; kill $w 2>/dev/null; echo ck-delivered; "
  "while read -r sig; do case $sig in "
  "INT|TERM|HUP) kill -s \"$sig\" -- \"-$pid\" 2>/dev/null;; *) exit 0;; esac; done; "
  "kill -s HUP -- \"-$pid\" 2>/dev/null";

/* What remote claude could prefer to the session's token. */
#define REMOTE_UNSET \
  "unset ANTHROPIC_API_KEY ANTHROPIC_AUTH_TOKEN CLAUDE_CODE_OAUTH_TOKEN " \
  "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR\n"

typedef struct
{
  GPtrArray  *master_options;    /* the user's ssh options for the connection */
  GPtrArray  *session_options;   /* …for the sessions over it: no forwards */
  GPtrArray  *tty_options;       /* -t / -T as given */
  const char *destination;
  char      **command;           /* NULL: the default */
  gboolean    persist;
  gboolean    help;
} SshArgs;

typedef struct
{
  SshArgs           args;
  char             *ssh;

  GVariant         *session;      /* OpenGatewaySession's reply */
  const char       *session_id;
  gboolean          session_ended;
  const char       *token;
  gboolean          is_oauth;
  guint             remote_port;

  char             *control_dir;
  char             *control_path;
  gboolean          master_up;

  /* What a signal ends while this process waits for it. */
  GSubprocess      *waiting;

  GSubprocess      *lifeline;
  GOutputStream    *lifeline_in;
  GDataInputStream *lifeline_out;
  GCancellable     *lifeline_cancellable;
  gboolean          lifeline_reading;
  gboolean          lifeline_eof;
  gboolean          lifeline_exited;
  char             *remote_pid;
  char             *remote_dir;
  gboolean          delivered;

  GSubprocess      *user_session;
  gboolean          user_session_exited;

  int               signal;       /* the last signal this process got */
  int               forwarded;    /* the last one passed to the remote command */
  gboolean          timed_out;
} CkSsh;

static void
ssh_args_clear (SshArgs *args)
{
  g_clear_pointer (&args->master_options, g_ptr_array_unref);
  g_clear_pointer (&args->session_options, g_ptr_array_unref);
  g_clear_pointer (&args->tty_options, g_ptr_array_unref);
}

/* Parsing ssh's command line */

static const char *
refused_reason (char option)
{
  for (guint i = 0; i < G_N_ELEMENTS (refused_options); i++)
    {
      if (refused_options[i].option == option)
        return refused_options[i].why;
    }
  return NULL;
}

/* One option of the user's, sorted to where it applies: forwards to the
 * connection only, -t/-T to the user's session only, the rest to both. */
static void
add_option (SshArgs    *args,
            char        option,
            const char *value)
{
  g_autofree char *name = g_strdup_printf ("-%c", option);

  if (option == 't' || option == 'T')
    {
      g_ptr_array_add (args->tty_options, g_steal_pointer (&name));
      return;
    }

  if (strchr ("LRDw", option) == NULL)
    {
      g_ptr_array_add (args->session_options, g_strdup (name));
      if (value != NULL)
        g_ptr_array_add (args->session_options, g_strdup (value));
    }
  g_ptr_array_add (args->master_options, g_steal_pointer (&name));
  if (value != NULL)
    g_ptr_array_add (args->master_options, g_strdup (value));
}

/* A cluster of ssh's short options (`-4Cv`, `-p22`, `-p 22`) at argv[*i];
 * moves *i past the argument it took. FALSE (said) on a bad one. */
static gboolean
parse_cluster (SshArgs  *args,
               int       argc,
               char    **argv,
               int      *i)
{
  const char *arg = argv[*i];

  for (const char *p = arg + 1; *p != '\0'; p++)
    {
      const char *why = refused_reason (*p);

      if (why != NULL)
        {
          ck_cli_error ("ssh's -%c is not available here: %s", *p, why);
          return FALSE;
        }

      if (strchr (SSH_ARGUMENT_OPTIONS, *p) != NULL)
        {
          const char *value = p + 1;

          if (*value == '\0')
            {
              if (*i + 1 >= argc)
                {
                  ck_cli_error ("ssh's option -%c needs an argument; see 'claude-keyring ssh --help'", *p);
                  return FALSE;
                }
              value = argv[++*i];
            }
          add_option (args, *p, value);
          return TRUE;
        }

      if (strchr (SSH_FLAG_OPTIONS, *p) == NULL || g_ascii_isspace (*p))
        {
          ck_cli_error ("unknown ssh option -%c; see 'claude-keyring ssh --help'", *p);
          return FALSE;
        }
      add_option (args, *p, NULL);
    }
  return TRUE;
}

/* ssh's own syntax, options after the destination included (OpenSSH reads
 * them there too), then the command, after `--` or not. */
static gboolean
parse_args (int       argc,
            char    **argv,
            SshArgs  *args)
{
  int i;

  args->master_options = g_ptr_array_new_with_free_func (g_free);
  args->session_options = g_ptr_array_new_with_free_func (g_free);
  args->tty_options = g_ptr_array_new_with_free_func (g_free);

  for (i = 1; i < argc; i++)
    {
      const char *arg = argv[i];

      if (g_str_equal (arg, "--"))
        {
          i++;
          if (args->destination == NULL && i < argc)
            args->destination = argv[i++];
          break;
        }
      if (g_str_equal (arg, "--persist"))
        args->persist = TRUE;
      else if (g_str_equal (arg, "--account") || g_str_has_prefix (arg, "--account="))
        {
          const char *name = arg[9] == '=' ? arg + 10 : (i + 1 < argc ? argv[++i] : NULL);

          if (name == NULL || name[0] == '\0')
            {
              ck_cli_error ("--account needs the name of an account; see 'claude-keyring accounts'");
              return FALSE;
            }
          ck_cli_set_account (name);
        }
      else if (g_str_equal (arg, "--help") || g_str_equal (arg, "-h") || g_str_equal (arg, "-?"))
        {
          args->help = TRUE;
          return TRUE;
        }
      else if (g_str_has_prefix (arg, "--"))
        {
          ck_cli_error ("unknown option %s; see 'claude-keyring ssh --help'", arg);
          return FALSE;
        }
      else if (arg[0] == '-' && arg[1] != '\0')
        {
          if (!parse_cluster (args, argc, argv, &i))
            return FALSE;
        }
      else if (args->destination == NULL)
        args->destination = arg;
      else
        break;
    }

  if (args->destination == NULL || args->destination[0] == '\0')
    {
      ck_cli_error ("a destination is needed, as for ssh: claude-keyring ssh [SSH OPTIONS…] DESTINATION [-- COMMAND…]");
      return FALSE;
    }
  /* It goes to ssh after the options, where one would be read as an
   * option (-oProxyCommand=…), and no host name begins so. */
  if (args->destination[0] == '-')
    {
      ck_cli_error ("the destination %s begins with '-': no host name does", args->destination);
      return FALSE;
    }

  if (i < argc && g_str_equal (argv[i], "--"))
    i++;
  if (i < argc)
    args->command = argv + i;
  return TRUE;
}

/* The remote side */

/* The user's session's script: takes the token from the lifeline's FIFO,
 * removes the directory, then execs the command with the gateway's
 * address and the token. With --persist the token goes into the
 * environment (the login shell, and tmux started from it, keep it). */
static char *
build_session_script (CkSsh *self)
{
  GString *script = g_string_new (NULL);
  char **command = self->args.command;

  g_string_append (script,
                   "d=${0%/*}\n"
                   "exec 3<\"$d/t\" || exit 1\n"
                   "echo $$ >\"$d/p\"\n"
                   "rm -rf \"$d\"\n"
                   REMOTE_UNSET);
  g_string_append_printf (script,
                          "ANTHROPIC_BASE_URL=http://127.0.0.1:%u; export ANTHROPIC_BASE_URL\n",
                          self->remote_port);

  if (self->args.persist)
    {
      const char *name = self->is_oauth ? "CLAUDE_CODE_OAUTH_TOKEN" : "ANTHROPIC_API_KEY";

      /* (The token has no newline: read stops at the end of the FIFO.) */
      g_string_append_printf (script,
                              "IFS= read -r %s <&3\n"
                              "exec 3<&-\n"
                              "export %s\n",
                              name, name);
      if (command == NULL)
        {
          g_string_append (script, "exec \"${SHELL:-/bin/sh}\" -l\n");
          return g_string_free (script, FALSE);
        }
    }
  else
    {
      const char *name = self->is_oauth ? "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR"
                                        : "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR";

      /* claude opens /proc/self/fd/3 anew, which for a FIFO whose writer
       * has gone waits for ever: the command gets a pipe instead, fed by
       * cat. This shell stays to wait for it: it lets the signals the
       * command gets pass (a trap, unlike ignoring, is not inherited) and
       * exits with its status. */
      g_string_append_printf (script,
                              "%s=3; export %s\n"
                              "trap : INT TERM HUP QUIT\n"
                              "exec 4<&0\n"
                              "cat <&3 | { exec 3<&0 0<&4 4<&-; exec",
                              name, name);
    }

  /* Each word as it was given, whatever it holds: quoted for sh. */
  if (self->args.persist)
    g_string_append (script, "exec");
  if (command == NULL)
    g_string_append (script, " claude");
  else
    {
      for (guint i = 0; command[i] != NULL; i++)
        {
          g_autofree char *quoted = g_shell_quote (command[i]);

          g_string_append_c (script, ' ');
          g_string_append (script, quoted);
        }
    }
  g_string_append (script, self->args.persist ? "\n" : "; }\n");
  return g_string_free (script, FALSE);
}

/* A path the remote shell may see unquoted: what mktemp -d gives. */
static gboolean
is_plain_path (const char *path)
{
  return path[0] == '/' &&
         path[strspn (path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-")] == '\0';
}

/* Processes */

static void
child_setup (gpointer user_data)
{
  gboolean own_group = GPOINTER_TO_INT (user_data);

  /* This process ignores SIGPIPE (it writes to the lifeline); ssh gets
   * the default back. */
  signal (SIGPIPE, SIG_DFL);
  /* Out of the terminal's foreground group, a terminal's signals go to
   * this process alone, which passes them on through the lifeline. */
  if (own_group)
    setpgid (0, 0);
}

/* Runs the system's ssh with @args (NULL-terminated by this function). */
static GSubprocess *
spawn_ssh (CkSsh             *self,
           GPtrArray         *args,
           GSubprocessFlags   flags,
           gboolean           own_group,
           GError           **error)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);

  g_ptr_array_insert (args, 0, g_strdup (self->ssh));
  g_ptr_array_add (args, NULL);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, GINT_TO_POINTER (own_group), NULL);
  return g_subprocess_launcher_spawnv (launcher, (const char * const *) args->pdata, error);
}

/* `ssh -S CONTROL` for a session over the master, with the user's options
 * that apply to sessions; for the user's session, its -t/-T too. */
static GPtrArray *
session_args (CkSsh      *self,
              gboolean    user_session)
{
  GPtrArray *args = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (args, g_strdup ("-S"));
  g_ptr_array_add (args, g_strdup (self->control_path));
  /* First value wins in ssh: these beat the user's configuration. */
  g_ptr_array_add (args, g_strdup ("-oControlMaster=no"));
  g_ptr_array_add (args, g_strdup ("-oRemoteCommand=none"));

  if (user_session)
    {
      if (self->args.tty_options->len > 0)
        {
          for (guint i = 0; i < self->args.tty_options->len; i++)
            g_ptr_array_add (args, g_strdup (g_ptr_array_index (self->args.tty_options, i)));
        }
      else
        g_ptr_array_add (args, g_strdup (isatty (STDIN_FILENO) && isatty (STDOUT_FILENO) ? "-t" : "-T"));
    }

  for (guint i = 0; i < self->args.session_options->len; i++)
    {
      const char *option = g_ptr_array_index (self->args.session_options, i);

      /* The lifeline's stdin is the protocol. */
      if (!user_session && g_str_equal (option, "-n"))
        continue;
      g_ptr_array_add (args, g_strdup (option));
    }

  if (!user_session)
    {
      /* Last, over the user's -A/-X: nothing else in the lifeline. */
      g_ptr_array_add (args, g_strdup ("-T"));
      g_ptr_array_add (args, g_strdup ("-a"));
      g_ptr_array_add (args, g_strdup ("-x"));
    }

  g_ptr_array_add (args, g_strdup (self->args.destination));
  return args;
}

/* A GSubprocess wait's callback: sets the gboolean it is given. */
static void
on_flag_async_done (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  gboolean *done = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *done = TRUE;
}

static gboolean
on_timeout (gpointer user_data)
{
  CkSsh *self = user_data;

  self->timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

/* Waits for @process, a signal ending it (see on_signal()), at most
 * @timeout_ms when not -1; TRUE when it exited. */
static gboolean
wait_process (CkSsh       *self,
              GSubprocess *process,
              int          timeout_ms)
{
  gboolean done = FALSE;
  guint timeout = 0;

  self->timed_out = FALSE;
  if (timeout_ms >= 0)
    timeout = g_timeout_add (timeout_ms, on_timeout, self);
  self->waiting = process;
  g_subprocess_wait_async (process, NULL, on_flag_async_done, &done);
  while (!done && !self->timed_out)
    g_main_context_iteration (NULL, TRUE);
  self->waiting = NULL;
  if (timeout != 0 && !self->timed_out)
    g_source_remove (timeout);

  /* The callback holds &done: let it run before returning. */
  if (!done)
    {
      g_subprocess_force_exit (process);
      while (!done)
        g_main_context_iteration (NULL, TRUE);
      return FALSE;
    }
  return TRUE;
}

/* The exit status a shell would give for @process. */
static int
process_status (GSubprocess *process)
{
  if (g_subprocess_get_if_signaled (process))
    return 128 + g_subprocess_get_term_sig (process);
  return g_subprocess_get_exit_status (process);
}

/* The lifeline */

static void read_lifeline (CkSsh *self);

static void
on_lifeline_line (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  CkSsh *self = user_data;
  g_autofree char *line = NULL;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  self->lifeline_reading = FALSE;
  if (line == NULL)
    {
      self->lifeline_eof = TRUE;
      return;
    }

  /* Anything else is the remote login shell's own chatter. */
  if (self->remote_dir == NULL && g_str_has_prefix (line, "ck-ready "))
    {
      g_auto(GStrv) words = g_strsplit (line + strlen ("ck-ready "), " ", 2);

      if (g_strv_length (words) == 2 && words[0][0] != '\0' &&
          words[0][strspn (words[0], "0123456789")] == '\0')
        {
          self->remote_pid = g_strdup (words[0]);
          self->remote_dir = g_strdup (words[1]);
        }
    }
  else if (self->remote_dir != NULL && g_str_equal (line, "ck-delivered"))
    self->delivered = TRUE;

  read_lifeline (self);
}

static void
read_lifeline (CkSsh *self)
{
  if (self->lifeline_reading || self->lifeline_eof)
    return;
  self->lifeline_reading = TRUE;
  g_data_input_stream_read_line_async (self->lifeline_out, G_PRIORITY_DEFAULT,
                                       self->lifeline_cancellable, on_lifeline_line, self);
}

/* Writes "LENGTH\nDATA" to the lifeline; the copy is wiped. */
static gboolean
send_to_lifeline (CkSsh       *self,
                  const char  *data,
                  GError     **error)
{
  g_autofree char *message = g_strdup_printf ("%zu\n%s", strlen (data), data);
  gboolean ok;

  ok = g_output_stream_write_all (self->lifeline_in, message, strlen (message), NULL, NULL, error) &&
       g_output_stream_flush (self->lifeline_in, NULL, error);
  explicit_bzero (message, strlen (message));
  return ok;
}

/* Passes @signum to the remote command's process group; FALSE when the
 * lifeline is gone. */
static gboolean
signal_remote (CkSsh *self,
               int    signum)
{
  const char *line = signum == SIGINT ? "INT\n" : signum == SIGTERM ? "TERM\n" : "HUP\n";

  if (self->lifeline_in == NULL || !self->delivered || self->lifeline_eof)
    return FALSE;
  if (!g_output_stream_write_all (self->lifeline_in, line, strlen (line), NULL, NULL, NULL) ||
      !g_output_stream_flush (self->lifeline_in, NULL, NULL))
    return FALSE;
  self->forwarded = signum;
  return TRUE;
}

static gboolean
on_signal (CkSsh *self,
           int    signum)
{
  self->signal = signum;

  /* The remote command is in no process group of this machine: the
   * lifeline passes the signal on. (With a remote terminal, Ctrl-C
   * travels as a keystroke instead and never reaches this process.) */
  if (self->user_session != NULL && !self->user_session_exited)
    {
      if (!signal_remote (self, signum))
        g_subprocess_send_signal (self->user_session, SIGTERM);
    }
  else if (self->waiting != NULL)
    g_subprocess_send_signal (self->waiting, SIGTERM);
  return G_SOURCE_CONTINUE;
}

static CkSsh *signal_target;

static gboolean on_sigint (gpointer data) { return on_signal (signal_target, SIGINT); }
static gboolean on_sigterm (gpointer data) { return on_signal (signal_target, SIGTERM); }
static gboolean on_sighup (gpointer data) { return on_signal (signal_target, SIGHUP); }

/* The steps */

static gboolean
open_session (CkSsh *self)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *display = NULL;
  const char *base_url = g_getenv ("ANTHROPIC_BASE_URL");
  const char *socket = NULL;
  GVariantBuilder options;

  if (self->args.command != NULL)
    display = ck_cli_display_command (self->args.command);
  else
    display = g_strdup (self->args.persist ? "login shell" : "claude");
  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "command", g_variant_new_string (display));
  g_variant_builder_add (&options, "{sv}", "remote", g_variant_new_string (self->args.destination));
  if (self->args.persist)
    g_variant_builder_add (&options, "{sv}", "persistent", g_variant_new_boolean (TRUE));
  /* Where claude would have gone from here: the session's upstream. */
  if (base_url != NULL && base_url[0] != '\0')
    g_variant_builder_add (&options, "{sv}", "upstream", g_variant_new_string (base_url));
  /* CLAUDE_KEYRING_ACCOUNT, or this directory's account. */
  ck_cli_add_account_options (&options);

  reply = ck_cli_call ("OpenGatewaySession", g_variant_new ("(a{sv})", &options),
                       G_VARIANT_TYPE ("(a{sv})"), SSH_DBUS_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_credential_error (error);
      return FALSE;
    }
  self->session = g_variant_get_child_value (reply, 0);

  if (!g_variant_lookup (self->session, "id", "&s", &self->session_id) ||
      !ck_cli_lookup_token (self->session, &self->token, &self->is_oauth))
    {
      if (self->session_id == NULL)
        ck_cli_error ("the agent returned no session; run 'claude-keyring doctor'");
      return FALSE;
    }

  if (!g_variant_lookup (self->session, "socket", "&s", &socket))
    {
      ck_cli_error ("the running agent has no remote sessions; update claude-keyring and restart the agent with claude-keyring-agent --replace");
      return FALSE;
    }
  /* ssh reads it as [bind:]port:path, and expands % and ${} in it. */
  if (!g_path_is_absolute (socket) || strpbrk (socket, ":%$ \t\r\n") != NULL)
    {
      ck_cli_error ("the agent's socket path %s cannot be forwarded by ssh; set XDG_RUNTIME_DIR to a plain path", socket);
      return FALSE;
    }
  g_variant_lookup (self->session, "remote-port", "u", &self->remote_port);
  return TRUE;
}

/* For --persist: the agent keeps the remote port the forward got, so that
 * the next connection asks for the same one. */
static void
store_remote_port (CkSsh *self)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) session = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder options;
  const char *id = NULL;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "remote", g_variant_new_string (self->args.destination));
  g_variant_builder_add (&options, "{sv}", "persistent", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&options, "{sv}", "remote-port", g_variant_new_uint32 (self->remote_port));
  reply = ck_cli_call ("OpenGatewaySession", g_variant_new ("(a{sv})", &options),
                       G_VARIANT_TYPE ("(a{sv})"), SSH_DBUS_TIMEOUT_MS, &error);
  if (reply != NULL)
    {
      session = g_variant_get_child_value (reply, 0);
      g_variant_lookup (session, "id", "&s", &id);
    }
  if (g_strcmp0 (id, self->session_id) != 0)
    ck_cli_error ("warning: the agent did not keep the remote port %u; the next --persist connection may get another one",
                  self->remote_port);
}

static gboolean
make_control_dir (CkSsh *self)
{
  g_autoptr(GError) error = NULL;
  const char *base = g_getenv ("XDG_RUNTIME_DIR");
  g_autofree char *template = NULL;

  /* Private (0700), and short: a socket path has 108 bytes, and ssh adds
   * a suffix of its own while it binds. */
  if (base == NULL || !g_path_is_absolute (base) || strlen (base) > 60)
    base = g_get_tmp_dir ();
  template = g_build_filename (base, "claude-keyring-ssh-XXXXXX", NULL);
  self->control_dir = g_mkdtemp (g_steal_pointer (&template));
  if (self->control_dir == NULL)
    {
      ck_cli_error ("cannot make a private directory for ssh's control socket in %s: %s", base, g_strerror (errno));
      return FALSE;
    }
  self->control_path = g_build_filename (self->control_dir, "ctl", NULL);
  return TRUE;
}

/* The master connection: ssh authenticates (prompts included) and goes to
 * the background only then. Returns 0 or the exit status to end with. */
static int
start_master (CkSsh *self)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocess) master = NULL;
  g_autoptr(GError) error = NULL;
  int status;

  g_ptr_array_add (args, g_strdup ("-M"));
  g_ptr_array_add (args, g_strdup ("-S"));
  g_ptr_array_add (args, g_strdup (self->control_path));
  g_ptr_array_add (args, g_strdup ("-f"));
  g_ptr_array_add (args, g_strdup ("-N"));
  g_ptr_array_add (args, g_strdup ("-oExitOnForwardFailure=yes"));
  g_ptr_array_add (args, g_strdup ("-oControlPersist=" SSH_CONTROL_PERSIST));
  for (guint i = 0; i < self->args.master_options->len; i++)
    g_ptr_array_add (args, g_strdup (g_ptr_array_index (self->args.master_options, i)));
  g_ptr_array_add (args, g_strdup (self->args.destination));

  if (!(master = spawn_ssh (self, args, G_SUBPROCESS_FLAGS_STDIN_INHERIT, FALSE, &error)))
    {
      ck_cli_error ("cannot run %s: %s", self->ssh, error->message);
      return CK_EXIT_FAILURE;
    }
  wait_process (self, master, -1);
  status = process_status (master);
  /* ssh said why (authentication, host key, unknown host). */
  if (status != 0)
    return self->signal != 0 ? 128 + self->signal : status;
  self->master_up = TRUE;
  return 0;
}

/* `ssh -O forward -R 127.0.0.1:PORT:SOCKET`: the remote host's loopback
 * PORT (0: any) to the session's socket. FALSE with ssh's message in
 * @ssh_error when the server refused. */
static gboolean
request_forward (CkSsh   *self,
                 guint    port,
                 char   **ssh_error)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  const char *socket = NULL;
  guint64 allocated = 0;

  g_variant_lookup (self->session, "socket", "&s", &socket);
  /* The master has all it needs: no configuration to read again. */
  g_ptr_array_add (args, g_strdup ("-F/dev/null"));
  g_ptr_array_add (args, g_strdup ("-S"));
  g_ptr_array_add (args, g_strdup (self->control_path));
  g_ptr_array_add (args, g_strdup ("-Oforward"));
  g_ptr_array_add (args, g_strdup ("-R"));
  g_ptr_array_add (args, g_strdup_printf ("127.0.0.1:%u:%s", port, socket));
  g_ptr_array_add (args, g_strdup (self->args.destination));

  if (!(process = spawn_ssh (self, args, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                             TRUE, &error)) ||
      !g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error))
    {
      *ssh_error = g_strdup (error->message);
      return FALSE;
    }

  if (!g_subprocess_get_if_exited (process) || g_subprocess_get_exit_status (process) != 0)
    {
      *ssh_error = g_strdup (g_strstrip (err != NULL ? err : ""));
      return FALSE;
    }

  /* A port of its choice is printed; a given one is not. */
  if (port == 0 &&
      !g_ascii_string_to_unsigned (g_strstrip (out != NULL ? out : ""), 10, 1, 65535, &allocated, NULL))
    {
      *ssh_error = g_strdup ("ssh did not say which remote port it forwards");
      return FALSE;
    }
  self->remote_port = port != 0 ? port : (guint) allocated;
  return TRUE;
}

static gboolean
is_forwarding_refused (const char *ssh_error)
{
  return strstr (ssh_error, "forwarding failed") != NULL ||
         strstr (ssh_error, "forward request failed") != NULL;
}

/* --persist, the last connection's port taken: whoever holds it may have
 * been sent the token by a remote claude started then, which has to be
 * started again anyway. The session ends, and this connection gets a new
 * one, with a new token. */
static gboolean
renew_session (CkSsh *self)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = ck_cli_call ("CloseGatewaySession", g_variant_new ("(s)", self->session_id),
                       NULL, SSH_DBUS_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_credential_error (error);
      return FALSE;
    }
  g_clear_pointer (&self->session, g_variant_unref);
  self->session_id = NULL;
  self->token = NULL;
  self->remote_port = 0;
  return open_session (self);
}

static gboolean
forward_port (CkSsh *self)
{
  g_autofree char *ssh_error = NULL;
  guint stored = self->remote_port;

  /* --persist: the port of the last connection, where a remote claude in
   * tmux still sends its requests. */
  if (stored != 0 && !request_forward (self, stored, &ssh_error))
    {
      if (!is_forwarding_refused (ssh_error))
        {
          ck_cli_error ("cannot forward a port on %s to the agent: %s", self->args.destination, ssh_error);
          return FALSE;
        }
      g_clear_pointer (&ssh_error, g_free);
      stored = 0;
      ck_cli_error ("warning: port %u on %s, which the last connection had, is taken "
                    "(the server may not have noticed yet that the old connection is gone, "
                    "or another user there holds it): this connection gets a new port and token, "
                    "and a remote claude started then must be started again",
                    self->remote_port, self->args.destination);
      if (!renew_session (self))
        return FALSE;
    }

  if (stored == 0 && !request_forward (self, 0, &ssh_error))
    {
      if (is_forwarding_refused (ssh_error))
        ck_cli_error ("%s does not allow remote port forwarding (sshd_config: AllowTcpForwarding): "
                      "ask its administrator to set it to yes or remote", self->args.destination);
      else
        ck_cli_error ("cannot forward a port on %s to the agent: %s", self->args.destination, ssh_error);
      return FALSE;
    }

  if (self->args.persist && stored == 0)
    store_remote_port (self);
  return TRUE;
}

/* Starts the lifeline and waits for its "ck-ready": the remote directory
 * exists and holds the user's session's script. */
static gboolean
start_lifeline (CkSsh *self)
{
  g_autoptr(GPtrArray) args = session_args (self, FALSE);
  g_autoptr(GError) error = NULL;
  g_autofree char *script = build_session_script (self);
  g_autofree char *remote_command = g_strdup_printf ("exec sh -c '%s'", lifeline_script);
  guint timeout;

  g_ptr_array_add (args, g_steal_pointer (&remote_command));
  self->lifeline = spawn_ssh (self, args, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                              TRUE, &error);
  if (self->lifeline == NULL)
    {
      ck_cli_error ("cannot run %s: %s", self->ssh, error->message);
      return FALSE;
    }
  self->lifeline_in = g_object_ref (g_subprocess_get_stdin_pipe (self->lifeline));
  self->lifeline_out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (self->lifeline));
  self->lifeline_cancellable = g_cancellable_new ();
  g_subprocess_wait_async (self->lifeline, NULL, on_flag_async_done, &self->lifeline_exited);

  if (!send_to_lifeline (self, script, &error))
    {
      ck_cli_error ("cannot start the session on %s: %s", self->args.destination, error->message);
      return FALSE;
    }

  self->waiting = self->lifeline;
  self->timed_out = FALSE;
  timeout = g_timeout_add (SSH_READY_TIMEOUT_MS, on_timeout, self);
  read_lifeline (self);
  while (self->remote_dir == NULL && !self->lifeline_eof && !self->timed_out)
    g_main_context_iteration (NULL, TRUE);
  self->waiting = NULL;
  if (!self->timed_out)
    g_source_remove (timeout);

  if (self->signal != 0)
    return FALSE;
  if (self->remote_dir == NULL && self->timed_out)
    {
      ck_cli_error ("the remote shell on %s did not start the session within %d s: "
                    "does a startup file there (~/.bashrc, ~/.zshenv) read its input?",
                    self->args.destination, SSH_READY_TIMEOUT_MS / 1000);
      return FALSE;
    }
  if (self->remote_dir == NULL)
    {
      /* The remote shell said why on stderr, or ssh did. */
      ck_cli_error ("cannot prepare the session on %s: it needs a POSIX sh with mktemp, mkfifo and dd",
                    self->args.destination);
      return FALSE;
    }
  if (!is_plain_path (self->remote_dir))
    {
      ck_cli_error ("the temporary directory on %s (%s) has characters this command does not pass to a shell; set TMPDIR there",
                    self->args.destination, self->remote_dir);
      return FALSE;
    }

  /* Waits in the remote pipe until the user's session opens the FIFO. */
  if (!send_to_lifeline (self, self->token, &error))
    {
      ck_cli_error ("cannot start the session on %s: %s", self->args.destination, error->message);
      return FALSE;
    }
  return TRUE;
}

/* Runs the user's session to its end; returns the exit status. */
static int
run_user_session (CkSsh *self)
{
  g_autoptr(GPtrArray) args = session_args (self, TRUE);
  g_autoptr(GError) error = NULL;
  gboolean failed = FALSE;
  /* With a terminal on stdin ssh must stay in its foreground group to
   * read it; otherwise a terminal's Ctrl-C reaches this process alone,
   * and the remote command hears it through the lifeline and its exit
   * status still comes back. */
  gboolean own_group = !isatty (STDIN_FILENO);
  int status;

  g_ptr_array_add (args, g_strdup_printf ("exec sh %s/s", self->remote_dir));
  self->user_session = spawn_ssh (self, args, G_SUBPROCESS_FLAGS_STDIN_INHERIT, own_group, &error);
  if (self->user_session == NULL)
    {
      ck_cli_error ("cannot run %s: %s", self->ssh, error->message);
      return CK_EXIT_FAILURE;
    }
  g_subprocess_wait_async (self->user_session, NULL, on_flag_async_done, &self->user_session_exited);

  while (!self->user_session_exited)
    {
      g_main_context_iteration (NULL, TRUE);

      /* The lifeline ended before the token was taken: the session would
       * wait for it for ever. */
      if (!failed && !self->delivered && self->lifeline_eof && !self->user_session_exited)
        {
          failed = TRUE;
          ck_cli_error ("the session on %s did not get its token; the connection may be gone", self->args.destination);
          g_subprocess_send_signal (self->user_session, SIGTERM);
        }
    }

  status = process_status (self->user_session);
  /* ssh says 255 when the remote command was killed by a signal. */
  if (status == 255 && self->forwarded != 0)
    status = 128 + self->forwarded;
  else if (status == 255 && self->signal != 0 && g_subprocess_get_if_exited (self->user_session))
    status = 128 + self->signal;
  else if (failed)
    status = CK_EXIT_FAILURE;
  return status;
}

/* `ssh -O COMMAND` to the master, silent; TRUE when it succeeded. */
static gboolean
control_master (CkSsh      *self,
                const char *command)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocess) process = NULL;

  g_ptr_array_add (args, g_strdup ("-F/dev/null"));
  g_ptr_array_add (args, g_strdup ("-S"));
  g_ptr_array_add (args, g_strdup (self->control_path));
  g_ptr_array_add (args, g_strdup (command));
  g_ptr_array_add (args, g_strdup (self->args.destination));
  process = spawn_ssh (self, args, G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                       TRUE, NULL);
  return process != NULL && wait_process (self, process, SSH_CLEANUP_TIMEOUT_MS) &&
         g_subprocess_get_if_exited (process) && g_subprocess_get_exit_status (process) == 0;
}

/* Says what a 127 from the remote shell means. */
static void
explain_not_found (CkSsh *self)
{
  g_autofree char *name = g_path_get_basename (self->args.command != NULL ? self->args.command[0] : "claude");

  if (g_str_equal (name, "claude"))
    ck_cli_error ("claude was not found on %s: install Claude Code there, or name its path: "
                  "claude-keyring ssh %s -- /path/to/claude", self->args.destination, self->args.destination);
  else
    ck_cli_error ("%s was not found on %s (exit status 127)", self->args.command[0], self->args.destination);
}

/* Refuses the token from now on (a persistent session stays, without its
 * socket once this process goes). The agent also ends it when this
 * process goes; this is sooner. */
static void
end_session (CkSsh *self)
{
  g_autoptr(GVariant) reply = NULL;

  if (self->session_id == NULL || self->args.persist || self->session_ended)
    return;
  self->session_ended = TRUE;
  reply = ck_cli_call ("CloseGatewaySession", g_variant_new ("(s)", self->session_id),
                       NULL, SSH_CLEANUP_TIMEOUT_MS, NULL);
}

/* Ends what is left, in this order: the token (at once), the remote
 * command's lifeline, the master, the control directory. */
static void
cleanup (CkSsh *self)
{
  end_session (self);

  if (self->user_session != NULL && !self->user_session_exited)
    {
      g_subprocess_send_signal (self->user_session, SIGTERM);
      wait_process (self, self->user_session, SSH_CLEANUP_TIMEOUT_MS);
      while (!self->user_session_exited)
        g_main_context_iteration (NULL, TRUE);
    }

  if (self->lifeline != NULL)
    {
      /* "done": the command ended, nothing to hang up. Not after a signal
       * that came before the lifeline could pass it on (the user's ssh was
       * ended here instead, which leaves a command without a terminal
       * running): the end of file then hangs it up. */
      if (self->user_session_exited && self->delivered && !self->lifeline_eof &&
          (self->signal == 0 || self->forwarded != 0))
        g_output_stream_write_all (self->lifeline_in, "done\n", 5, NULL, NULL, NULL);
      g_output_stream_close (self->lifeline_in, NULL, NULL);
      if (!self->lifeline_exited)
        wait_process (self, self->lifeline, SSH_CLEANUP_TIMEOUT_MS);
      while (!self->lifeline_exited)
        g_main_context_iteration (NULL, TRUE);
      g_cancellable_cancel (self->lifeline_cancellable);
      while (self->lifeline_reading)
        g_main_context_iteration (NULL, TRUE);
    }

  /* Gone already when the connection dropped: nothing to say then. */
  if (self->master_up)
    control_master (self, "-Oexit");

  if (self->control_dir != NULL)
    {
      g_unlink (self->control_path);
      g_rmdir (self->control_dir);
    }

  g_clear_object (&self->lifeline_in);
  g_clear_object (&self->lifeline_out);
  g_clear_object (&self->lifeline_cancellable);
  g_clear_object (&self->lifeline);
  g_clear_object (&self->user_session);
  g_clear_pointer (&self->remote_pid, g_free);
  g_clear_pointer (&self->remote_dir, g_free);
  g_clear_pointer (&self->control_path, g_free);
  g_clear_pointer (&self->control_dir, g_free);
  g_clear_pointer (&self->session, g_variant_unref);
  g_clear_pointer (&self->ssh, g_free);
  ssh_args_clear (&self->args);
}

static int
run (CkSsh *self)
{
  int status;

  if (!open_session (self) || self->signal != 0)
    return CK_EXIT_FAILURE;
  if (!make_control_dir (self))
    return CK_EXIT_FAILURE;
  if ((status = start_master (self)) != 0)
    return status;
  if (self->signal != 0 || !forward_port (self))
    return self->signal != 0 ? 128 + self->signal : CK_EXIT_FAILURE;
  if (!start_lifeline (self))
    return self->signal != 0 ? 128 + self->signal : CK_EXIT_FAILURE;

  status = run_user_session (self);
  end_session (self);
  if (status == EXIT_NOT_FOUND)
    explain_not_found (self);
  /* ssh's mux client says nothing when the connection goes. */
  else if (status == 255 && self->signal == 0 && !control_master (self, "-Ocheck"))
    {
      ck_cli_error ("the connection to %s was closed; its session has ended", self->args.destination);
      self->master_up = FALSE;
    }
  return status;
}

static void
print_help (void)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autofree char *help = NULL;
  gboolean persist = FALSE;
  g_autofree char *account = NULL;
  const GOptionEntry entries[] = {
    { "persist", 0, 0, G_OPTION_ARG_NONE, &persist,
      "Keep the session for the next connection to DESTINATION; COMMAND defaults to the login shell", NULL },
    CK_CLI_ACCOUNT_ENTRY (account),
    { NULL }
  };

  context = ck_cli_option_context_new ("ssh", "[SSH OPTIONS…] DESTINATION [-- COMMAND…]",
                                       "Runs claude (or COMMAND) on another machine with this desktop's login,\n"
                                       "which never leaves the desktop. The system's ssh connects (your options,\n"
                                       "~/.ssh/config and keys work as always) and forwards a port on the remote\n"
                                       "host's loopback to a gateway session of the agent; COMMAND gets\n"
                                       "ANTHROPIC_BASE_URL pointing at that port and the session's token on a file\n"
                                       "descriptor, as with 'run'. The token reaches it through the ssh connection\n"
                                       "alone: it is in no remote argv, file or environment, works only through\n"
                                       "this forward (another user there gets 401), and is refused once the\n"
                                       "connection ends. COMMAND gets a terminal when stdin and stdout are\n"
                                       "terminals (-T/-t decide otherwise); its exit status and signals come back.\n"
                                       "\n"
                                       "The remote host needs claude, a POSIX sh with mktemp, mkfifo and dd, and\n"
                                       "an sshd that allows TCP forwarding (sshd_config AllowTcpForwarding yes or\n"
                                       "remote; if not, this says so and stops).\n"
                                       "\n"
                                       "--persist is for claude in tmux on the remote host: COMMAND defaults to\n"
                                       "your login shell there, with ANTHROPIC_BASE_URL and the token\n"
                                       "(CLAUDE_CODE_OAUTH_TOKEN or ANTHROPIC_API_KEY) in its environment, so\n"
                                       "tmux started from it keeps them. The session, its token and its remote\n"
                                       "port are kept for the next 'claude-keyring ssh --persist' to the same\n"
                                       "DESTINATION. While none runs (the laptop sleeps, the connection\n"
                                       "dropped) requests fail with the gateway's error; the remote claude\n"
                                       "recovers on its next request once it runs again.\n"
                                       "\n"
                                       "ssh's -M -S -O -N -f -W -G -s are this command's own.\n"
                                       "Example: claude-keyring ssh -p 2222 me@build-server -- claude --continue",
                                       entries);
  g_option_context_set_help_enabled (context, FALSE);
  help = g_option_context_get_help (context, TRUE, NULL);
  fputs (help, stdout);
}

int
ck_cli_ssh (int    argc,
            char **argv)
{
  CkSsh self = { 0 };
  int status;

  if (!parse_args (argc, argv, &self.args))
    {
      ssh_args_clear (&self.args);
      return CK_EXIT_USAGE;
    }
  if (self.args.help)
    {
      ssh_args_clear (&self.args);
      print_help ();
      return CK_EXIT_OK;
    }

  if (!(self.ssh = g_find_program_in_path ("ssh")))
    {
      ssh_args_clear (&self.args);
      ck_cli_error ("ssh was not found in PATH; install OpenSSH's client (Debian, Ubuntu: openssh-client)");
      return EXIT_NOT_FOUND;
    }

  /* Written to the lifeline, whose end may go at any time. */
  signal (SIGPIPE, SIG_IGN);
  signal_target = &self;
  g_unix_signal_add (SIGINT, on_sigint, NULL);
  g_unix_signal_add (SIGTERM, on_sigterm, NULL);
  g_unix_signal_add (SIGHUP, on_sighup, NULL);

  status = run (&self);
  cleanup (&self);
  return status;
}
