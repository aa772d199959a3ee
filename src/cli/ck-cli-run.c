/* ck-cli-run.c: `claude-keyring run [--env] [--direct] [--] [COMMAND…]`
 *
 * Runs claude (or any command) through the agent's gateway: the agent
 * opens a session, claude gets ANTHROPIC_BASE_URL pointing at the
 * gateway and the session's token in place of a credential, and the
 * gateway puts the current credential on each request. claude never
 * holds the credential, and a session outlives any one access token. The
 * session ends when this process does, so it waits for the command,
 * keeping its bus connection open, and passes on its exit status and the
 * signals sent to this process alone (a terminal signals both already).
 *
 * With --direct, the credential itself goes to the command, as before the
 * gateway: the command replaces this process (execvp).
 *
 * Either way the token goes through a pipe whose read end the command
 * inherits, named by CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR or
 * CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR: claude reads it once, and it
 * never shows in /proc/PID/environ or on disk.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "ck-claude-settings.h"
#include "ck-cli.h"
#include "ck-error.h"

/* A refresh may happen on the way. */
#define RUN_TIMEOUT_MS (30 * 1000)

/* claude cannot refresh a token it was handed, so a session should start
 * with one that lasts; when a refresh is impossible right now, a shorter
 * validity still lets the user work. */
#define RUN_MIN_VALIDITY 3600
#define RUN_MIN_VALIDITY_FALLBACK 120

#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

/* The signals this process passes on to the command. */
static const int forwarded_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 };

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t pending_signal;

extern char **environ;

static gboolean
env_is_set (const char *name)
{
  const char *value = g_getenv (name);

  return value != NULL && value[0] != '\0';
}

/* Says which inherited variables would beat what this run passes. */
static void
warn_about_overrides (gboolean is_oauth,
                      gboolean use_env)
{
  if (env_is_set ("ANTHROPIC_AUTH_TOKEN"))
    ck_cli_error (is_oauth
                  ? "warning: ANTHROPIC_AUTH_TOKEN is set and claude sends it instead of the login (without the OAuth header, so requests fail); unset it"
                  : "warning: ANTHROPIC_AUTH_TOKEN is set and claude sends it as well, as a Bearer token; unset it");

  if (!is_oauth)
    {
      g_autofree char *helper = NULL;
      g_autofree char *path = NULL;

      /* Ours prints the same key; another one adds its own as a Bearer. */
      if (ck_claude_settings_find_api_key_helper (&helper, &path) &&
          !ck_claude_settings_is_our_helper (helper))
        ck_cli_error ("warning: %s sets an apiKeyHelper of another program, and claude sends its key as well; "
                      "run 'claude-keyring setup-claude' or remove it", path);
    }
  else
    {
      if (env_is_set ("CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR"))
        ck_cli_error ("warning: CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR is set and claude prefers it to the login; unset it");
      if (!use_env && env_is_set ("CLAUDE_CODE_OAUTH_TOKEN"))
        ck_cli_error ("warning: CLAUDE_CODE_OAUTH_TOKEN is set and claude prefers it to the login passed by claude-keyring; unset it");
    }
}

/* With an OAuth login, a configured apiKeyHelper wins in claude even when
 * it fails, so the login would never be used: refuse, and say how to fix. */
static gboolean
check_no_helper (void)
{
  g_autofree char *helper = NULL;
  g_autofree char *path = NULL;
  g_autofree char *user_path = NULL;

  if (!ck_claude_settings_find_api_key_helper (&helper, &path))
    return TRUE;

  user_path = ck_claude_settings_get_default_path ();
  if (g_strcmp0 (path, user_path) == 0)
    ck_cli_error ("Claude Code's settings (%s) set an apiKeyHelper, which claude would use instead of your Claude login; "
                  "run: claude-keyring setup-claude --remove", path);
  else
    ck_cli_error ("%s sets an apiKeyHelper, which claude would use instead of your Claude login; "
                  "remove apiKeyHelper from that file", path);
  return FALSE;
}

/* The read end of a pipe that already holds @token, open across exec and
 * numbered 3 or above so it never stands in for stdin/stdout/stderr. */
static int
make_token_pipe (const char  *token,
                 GError     **error)
{
  gsize len = strlen (token);
  gsize done = 0;
  int fds[2];
  int read_fd;

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, error))
    return -1;

  while (done < len)
    {
      gssize n = write (fds[1], token + done, len - done);

      if (n < 0)
        {
          int errsv = errno;

          if (errsv == EINTR)
            continue;

          close (fds[0]);
          close (fds[1]);
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                       "could not pass the credential through a pipe: %s",
                       g_strerror (errsv));
          return -1;
        }
      done += n;
    }

  /* The command sees end of file after the token. */
  close (fds[1]);

  read_fd = fds[0];
  if (read_fd < 3)
    {
      read_fd = fcntl (fds[0], F_DUPFD_CLOEXEC, 3);
      close (fds[0]);
      if (read_fd < 0)
        {
          int errsv = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                       "could not pass the credential through a pipe: %s",
                       g_strerror (errsv));
          return -1;
        }
    }

  if (fcntl (read_fd, F_SETFD, 0) != 0)
    {
      int errsv = errno;

      close (read_fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "could not pass the credential through a pipe: %s",
                   g_strerror (errsv));
      return -1;
    }

  return read_fd;
}

/* Says why @command could not be started; returns the exit status for it. */
static int
report_exec_error (char **command,
                   int    errsv)
{
  if (errsv == ENOENT)
    {
      if (strchr (command[0], '/') == NULL)
        ck_cli_error ("cannot run %s: command not found in PATH%s", command[0],
                      g_str_equal (command[0], "claude")
                      ? "; install Claude Code, or name the command: claude-keyring run -- /path/to/claude"
                      : "");
      else
        ck_cli_error ("cannot run %s: no such file", command[0]);
      return EXIT_NOT_FOUND;
    }

  ck_cli_error ("cannot run %s: %s", command[0], g_strerror (errsv));
  return EXIT_NOT_EXECUTABLE;
}

/* Replaces this process with @command, in @env when not NULL. */
static int
exec_command (char **command,
              char **env)
{
  fflush (stdout);
  fflush (stderr);

  if (env != NULL)
    environ = env;
  execvp (command[0], command);
  return report_exec_error (command, errno);
}

/* A terminal signals its whole foreground group, the command included,
 * so what it sends (SI_KERNEL) is not sent again: Ctrl-C reaches claude
 * once. What another process sends to this one alone is passed on. Runs
 * in whichever thread the kernel picks; kill() is async-signal-safe. */
static void
on_signal (int        signum,
           siginfo_t *info,
           void      *context)
{
  if (info != NULL && info->si_code == SI_KERNEL)
    return;
  if (child_pid > 0)
    kill (child_pid, signum);
  else
    pending_signal = signum;
}

static void
set_signal_handlers (gboolean forward)
{
  struct sigaction action = { 0 };

  if (forward)
    {
      action.sa_sigaction = on_signal;
      action.sa_flags = SA_SIGINFO | SA_RESTART;
    }
  else
    action.sa_handler = SIG_DFL;
  sigemptyset (&action.sa_mask);
  for (guint i = 0; i < G_N_ELEMENTS (forwarded_signals); i++)
    sigaction (forwarded_signals[i], &action, NULL);
}

/* Ends this process the way the command ended: the same exit status, or
 * killed by the same signal, so that a shell sees what it would have
 * seen without us. */
static int
pass_on_status (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);

  if (WIFSIGNALED (status))
    {
      int signum = WTERMSIG (status);
      struct rlimit no_core = { 0, 0 };
      sigset_t set;

      /* The command dumped its core already, if any. */
      setrlimit (RLIMIT_CORE, &no_core);
      signal (signum, SIG_DFL);
      sigemptyset (&set);
      sigaddset (&set, signum);
      sigprocmask (SIG_UNBLOCK, &set, NULL);
      fflush (stdout);
      fflush (stderr);
      raise (signum);
      return 128 + signum;
    }

  return CK_EXIT_FAILURE;
}

/* Runs @command with @env as a child and waits for it, passing signals
 * on; returns what this process should exit with. The command inherits
 * everything else: the terminal, its process group (so job control and
 * Ctrl-C work as for claude alone) and the token pipe. */
static int
spawn_and_wait (char **command,
                char **env)
{
  sigset_t all, saved;
  int report[2];
  int errsv = 0;
  int status = 0;
  gssize n;
  pid_t pid;

  /* exec() failing in the child comes back through this pipe, which a
   * successful exec() closes. */
  if (!g_unix_open_pipe (report, FD_CLOEXEC, NULL))
    {
      ck_cli_error ("cannot run %s: %s", command[0], g_strerror (errno));
      return EXIT_NOT_EXECUTABLE;
    }

  fflush (stdout);
  fflush (stderr);

  /* No handler may run in the child before exec() resets them. */
  sigfillset (&all);
  sigprocmask (SIG_BLOCK, &all, &saved);
  set_signal_handlers (TRUE);

  pid = fork ();
  if (pid == 0)
    {
      /* Only async-signal-safe calls from here: the bus thread may hold
       * any lock of the parent's. */
      struct sigaction action = { 0 };

      action.sa_handler = SIG_DFL;
      sigemptyset (&action.sa_mask);
      for (guint i = 0; i < G_N_ELEMENTS (forwarded_signals); i++)
        sigaction (forwarded_signals[i], &action, NULL);
      sigprocmask (SIG_SETMASK, &saved, NULL);
      close (report[0]);
      environ = env;
      execvp (command[0], command);
      errsv = errno;
      while (write (report[1], &errsv, sizeof errsv) < 0 && errno == EINTR)
        ;
      _exit (EXIT_NOT_EXECUTABLE);
    }

  errsv = errno;
  if (pid > 0)
    child_pid = pid;
  sigprocmask (SIG_SETMASK, &saved, NULL);
  close (report[1]);

  if (pid < 0)
    {
      close (report[0]);
      set_signal_handlers (FALSE);
      ck_cli_error ("cannot run %s: %s", command[0], g_strerror (errsv));
      return EXIT_NOT_EXECUTABLE;
    }

  if (pending_signal != 0)
    kill (pid, pending_signal);

  do
    n = read (report[0], &errsv, sizeof errsv);
  while (n < 0 && errno == EINTR);
  close (report[0]);

  for (;;)
    {
      pid_t done = waitpid (pid, &status, WUNTRACED);

      if (done < 0 && errno == EINTR)
        continue;
      if (done < 0)
        {
          ck_cli_error ("lost track of %s: %s", command[0], g_strerror (errno));
          return CK_EXIT_FAILURE;
        }
      /* Stopped (Ctrl-Z in claude, which stops itself): stop too, so the
       * shell sees the job stopped; fg continues us both. */
      if (WIFSTOPPED (status))
        {
          kill (getpid (), WSTOPSIG (status) == SIGSTOP ? SIGSTOP : SIGTSTP);
          kill (pid, SIGCONT);
          continue;
        }
      break;
    }

  set_signal_handlers (FALSE);
  if (n == sizeof errsv)
    return report_exec_error (command, errsv);
  return pass_on_status (status);
}

static GVariant *
get_credential (GError **error)
{
  g_autoptr(GError) local_error = NULL;
  GVariant *credential;

  credential = ck_cli_get_credential (RUN_MIN_VALIDITY, NULL, RUN_TIMEOUT_MS, &local_error);
  if (credential != NULL)
    return credential;

  /* The token could not be refreshed now; one that is still valid for a
   * while is better than no session. */
  if (g_error_matches (local_error, CK_ERROR, CK_ERROR_REFRESH_FAILED) ||
      g_error_matches (local_error, CK_ERROR, CK_ERROR_NETWORK))
    {
      credential = ck_cli_get_credential (RUN_MIN_VALIDITY_FALLBACK, NULL, RUN_TIMEOUT_MS, NULL);
      if (credential != NULL)
        {
          gint64 expires_at = 0;

          if (g_variant_lookup (credential, "expires-at", "x", &expires_at) && expires_at > 0)
            {
              gint64 left = expires_at - g_get_real_time () / G_USEC_PER_SEC;

              ck_cli_error ("warning: the login could not be refreshed (%s); its token expires in %" G_GINT64_FORMAT " min, "
                            "and claude cannot refresh it: restart claude-keyring run then",
                            local_error->message, MAX (left, 0) / 60);
            }
          return credential;
        }
    }

  g_propagate_error (error, g_steal_pointer (&local_error));
  return NULL;
}

/* Puts @token where claude looks for it, in @env: the variable itself
 * with --env, else a pipe the command inherits. */
static gboolean
pass_token (char       ***env,
            const char   *token,
            gboolean      is_oauth,
            gboolean      use_env)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *fd_string = NULL;
  int fd;

  if (use_env)
    {
      *env = g_environ_setenv (*env, is_oauth ? "CLAUDE_CODE_OAUTH_TOKEN" : "ANTHROPIC_API_KEY",
                               token, TRUE);
      return TRUE;
    }

  if ((fd = make_token_pipe (token, &error)) < 0)
    {
      ck_cli_print_error (error);
      return FALSE;
    }

  fd_string = g_strdup_printf ("%d", fd);
  *env = g_environ_setenv (*env, is_oauth ? "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR"
                                          : "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR",
                           fd_string, TRUE);
  return TRUE;
}

/* Checks @reply (GetCredential's or OpenGatewaySession's) and puts its
 * token in @env for the command, with @base_url as ANTHROPIC_BASE_URL
 * unless NULL; FALSE (said) when the command must not run. */
static gboolean
prepare_env (GVariant     *reply,
             const char   *base_url,
             gboolean      use_env,
             char       ***env)
{
  const char *token = NULL;
  gboolean is_oauth;

  if (!ck_cli_lookup_token (reply, &token, &is_oauth))
    return FALSE;

  if (is_oauth && !check_no_helper ())
    return FALSE;

  warn_about_overrides (is_oauth, use_env);

  if (base_url != NULL)
    *env = g_environ_setenv (*env, "ANTHROPIC_BASE_URL", base_url, TRUE);
  return pass_token (env, token, is_oauth, use_env);
}

/* The credential itself to the command, which replaces this process. */
static int
run_direct (char     **command,
            gboolean   use_env)
{
  g_autoptr(GVariant) credential = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) env = g_get_environ ();

  if (!(credential = get_credential (&error)))
    {
      ck_cli_print_credential_error (error);
      return CK_EXIT_FAILURE;
    }

  if (!prepare_env (credential, NULL, use_env, &env))
    return CK_EXIT_FAILURE;

  return exec_command (command, env);
}

/* OpenGatewaySession for @command; the session lives as long as this
 * process (and its bus connection). */
static GVariant *
open_gateway_session (char    **command,
                      GError  **error)
{
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *display = ck_cli_display_command (command);
  const char *base_url = g_getenv ("ANTHROPIC_BASE_URL");
  GVariantBuilder options;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "command", g_variant_new_string (display));
  /* Where claude would have gone: the session's upstream, not bypassed. */
  if (base_url != NULL && base_url[0] != '\0')
    g_variant_builder_add (&options, "{sv}", "upstream", g_variant_new_string (base_url));
  ck_cli_add_account_options (&options);

  reply = ck_cli_call ("OpenGatewaySession", g_variant_new ("(a{sv})", &options),
                       G_VARIANT_TYPE ("(a{sv})"), RUN_TIMEOUT_MS, error);
  if (reply == NULL)
    return NULL;
  return g_variant_get_child_value (reply, 0);
}

/* claude gets the gateway and a session token; this process stays, so
 * that the session lives exactly as long as the command. */
static int
run_through_gateway (char     **command,
                     gboolean   use_env)
{
  g_autoptr(GVariant) session = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) env = g_get_environ ();
  g_autofree char *helper = NULL;
  const char *url = NULL;

  /* Our own helper gives claude the API key itself (and beats an OAuth
   * login): the gateway would add nothing, so run as before it. */
  if (ck_claude_settings_find_api_key_helper (&helper, NULL) &&
      ck_claude_settings_is_our_helper (helper))
    {
      ck_cli_error ("note: Claude Code's settings use claude-keyring's apiKeyHelper, which hands claude the key itself; "
                    "running without the gateway (as --direct). To use the gateway, run: claude-keyring setup-claude --remove");
      return run_direct (command, use_env);
    }

  if (!(session = open_gateway_session (command, &error)))
    {
      ck_cli_print_credential_error (error);
      return CK_EXIT_FAILURE;
    }

  if (!g_variant_lookup (session, "url", "&s", &url) ||
      !(g_str_has_prefix (url, "http://127.0.0.1:") || g_str_has_prefix (url, "http://[::1]:")))
    {
      ck_cli_error ("the agent returned no gateway address; run 'claude-keyring doctor'");
      return CK_EXIT_FAILURE;
    }

  if (!prepare_env (session, url, use_env, &env))
    return CK_EXIT_FAILURE;

  return spawn_and_wait (command, env);
}

int
ck_cli_run (int    argc,
            char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  char *default_command[] = { (char *) "claude", NULL };
  char **command = default_command;
  gboolean use_env = FALSE;
  gboolean direct = FALSE;
  g_autofree char *account = NULL;
  const GOptionEntry entries[] = {
    CK_CLI_ACCOUNT_ENTRY (account),
    { "env", 0, 0, G_OPTION_ARG_NONE, &use_env,
      "Pass the token in CLAUDE_CODE_OAUTH_TOKEN or ANTHROPIC_API_KEY, for programs that read no file descriptor", NULL },
    { "direct", 0, 0, G_OPTION_ARG_NONE, &direct,
      "Pass the credential itself instead of using the gateway (Claude Code turns Remote Control off for a gateway)", NULL },
    { NULL }
  };

  context = ck_cli_option_context_new ("run", "[--] [COMMAND…]",
                                       "Runs claude (or COMMAND) through the agent's gateway: claude gets\n"
                                       "ANTHROPIC_BASE_URL pointing at the gateway on 127.0.0.1 and a session\n"
                                       "token, in CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR for an OAuth login\n"
                                       "(claude stays in subscription mode) or CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR\n"
                                       "for an API key (an inherited pipe, not the environment). The gateway puts\n"
                                       "the current credential on every request, so claude never holds it and the\n"
                                       "session outlives any one access token; the token dies with the command.\n"
                                       "An ANTHROPIC_BASE_URL already set is where the gateway sends requests.\n"
                                       "\n"
                                       "Claude Code turns Remote Control off for a base URL that is not\n"
                                       "Anthropic's: --direct hands claude the credential itself instead, as\n"
                                       "before the gateway (claude cannot refresh it). The command's exit\n"
                                       "status and signals are passed through.\n"
                                       "Example: claude-keyring run -- claude --continue",
                                       entries);
  /* Options after the command are the command's own. */
  g_option_context_set_strict_posix (context, TRUE);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;
  ck_cli_set_account (account);

  if (argc > 1)
    {
      command = argv + 1;
      if (g_str_equal (command[0], "--"))
        command++;
      if (command[0] == NULL)
        command = default_command;
    }

  /* claude ranks ANTHROPIC_API_KEY above everything, so whatever this
   * run passed would be ignored. */
  if (ck_cli_get_env_api_key () != NULL)
    {
      ck_cli_error ("warning: ANTHROPIC_API_KEY is set in the environment and claude uses it instead of the keyring's credential; "
                    "running with it (unset it to use claude-keyring)");
      return exec_command (command, NULL);
    }

  if (direct)
    return run_direct (command, use_env);
  return run_through_gateway (command, use_env);
}
