/* ck-cli-run.c: `claude-keyring run [--env] [--] [COMMAND…]`
 *
 * Runs claude (or any command) with the stored credential. By default the
 * credential goes through a pipe whose read end the command inherits,
 * named by CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR or
 * CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR: claude reads it once, and it
 * never shows in /proc/PID/environ or on disk. The command replaces this
 * process (execvp), so its exit status and signals are its own.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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

/* Far beyond any real token, and well inside a pipe's buffer, so the
 * write below can never block. */
#define MAX_TOKEN_LENGTH 16384

#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

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

static int
exec_command (char **command)
{
  int errsv;

  fflush (stdout);
  fflush (stderr);

  execvp (command[0], command);
  errsv = errno;

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

int
ck_cli_run (int    argc,
            char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) credential = NULL;
  g_autoptr(GError) error = NULL;
  char *default_command[] = { (char *) "claude", NULL };
  char **command = default_command;
  gboolean use_env = FALSE;
  const char *token = NULL;
  const char *kind = NULL;
  gboolean is_oauth;
  const GOptionEntry entries[] = {
    { "env", 0, 0, G_OPTION_ARG_NONE, &use_env,
      "Pass the credential in ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN, for programs that read no file descriptor", NULL },
    { NULL }
  };

  context = ck_cli_option_context_new ("run", "[--] [COMMAND…]",
                                       "Runs claude (or COMMAND) with the stored credential: an API key in\n"
                                       "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR, an OAuth login in\n"
                                       "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR (an inherited pipe, not the\n"
                                       "environment). The command's exit status is passed through.\n"
                                       "Example: claude-keyring run -- claude --continue",
                                       entries);
  /* Options after the command are the command's own. */
  g_option_context_set_strict_posix (context, TRUE);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;

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
      return exec_command (command);
    }

  if (!(credential = get_credential (&error)))
    {
      if (g_error_matches (error, CK_ERROR, CK_ERROR_NOT_LOGGED_IN))
        ck_cli_error ("no credentials are stored; run: claude-keyring login (or claude-keyring set-api-key)");
      else
        ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  if (!g_variant_lookup (credential, "token", "&s", &token) || token[0] == '\0' ||
      !g_variant_lookup (credential, "kind", "&s", &kind))
    {
      ck_cli_error ("the agent returned no token; run 'claude-keyring status' to see why");
      return CK_EXIT_FAILURE;
    }

  if (strlen (token) > MAX_TOKEN_LENGTH || strpbrk (token, "\r\n") != NULL)
    {
      ck_cli_error ("the agent returned a token claude could not use; run 'claude-keyring doctor'");
      return CK_EXIT_FAILURE;
    }

  is_oauth = g_str_equal (kind, "oauth");
  if (!is_oauth && !g_str_equal (kind, "api-key"))
    {
      ck_cli_error ("the agent returned a credential of unknown kind; update claude-keyring");
      return CK_EXIT_FAILURE;
    }

  if (is_oauth && !check_no_helper ())
    return CK_EXIT_FAILURE;

  warn_about_overrides (is_oauth, use_env);

  if (use_env)
    {
      g_setenv (is_oauth ? "CLAUDE_CODE_OAUTH_TOKEN" : "ANTHROPIC_API_KEY", token, TRUE);
    }
  else
    {
      g_autofree char *fd_string = NULL;
      int fd;

      if ((fd = make_token_pipe (token, &error)) < 0)
        {
          ck_cli_print_error (error);
          return CK_EXIT_FAILURE;
        }

      fd_string = g_strdup_printf ("%d", fd);
      g_setenv (is_oauth ? "CLAUDE_CODE_OAUTH_TOKEN_FILE_DESCRIPTOR"
                         : "CLAUDE_CODE_API_KEY_FILE_DESCRIPTOR",
                fd_string, TRUE);
    }

  return exec_command (command);
}
