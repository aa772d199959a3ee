/* ck-cli-set-api-key.c: `claude-keyring set-api-key [--clear]`
 *
 * The key comes from standard input only: an argument would be visible to
 * every process of the machine in /proc/PID/cmdline and in shell history.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ck-cli.h"

#define SET_API_KEY_TIMEOUT_MS (20 * 1000)

/* Far more than any API key; input beyond it is refused, not cut. */
#define MAX_KEY_INPUT 4096

/* The terminal settings to put back when a signal ends the prompt while
 * echo is off. */
static struct termios saved_termios;
static volatile sig_atomic_t echo_off;

static void
restore_echo_and_die (int signum)
{
  if (echo_off)
    tcsetattr (STDIN_FILENO, TCSANOW, &saved_termios);
  signal (signum, SIG_DFL);
  raise (signum);
}

static void
wipe_and_free (gpointer data)
{
  char *buffer = data;

  explicit_bzero (buffer, MAX_KEY_INPUT + 1);
  g_free (buffer);
}

/* Reads standard input into a MAX_KEY_INPUT + 1 byte buffer: up to the end
 * of the first line from a terminal, up to end of file otherwise. Returns
 * the number of bytes, or -1 with @error set. */
static gssize
read_input (char     *buffer,
            gboolean  from_terminal,
            GError  **error)
{
  gsize len = 0;

  for (;;)
    {
      gssize n = read (STDIN_FILENO, buffer + len, MAX_KEY_INPUT + 1 - len);

      if (n < 0)
        {
          int errsv = errno;

          if (errsv == EINTR)
            continue;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                       "could not read the key from standard input: %s",
                       g_strerror (errsv));
          return -1;
        }

      if (n == 0)
        break;

      len += n;

      if (len > MAX_KEY_INPUT)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                       "the input is longer than %d bytes and cannot be an API key; pipe in the key alone",
                       MAX_KEY_INPUT);
          return -1;
        }

      if (from_terminal && memchr (buffer, '\n', len) != NULL)
        break;
    }

  buffer[len] = '\0';
  return len;
}

/* Prompts on stderr and reads one line with echo off. */
static gssize
read_from_terminal (char    *buffer,
                    GError **error)
{
  struct sigaction action = { 0 };
  struct sigaction old_int, old_term, old_hup, old_quit;
  struct termios quiet;
  gboolean have_termios;
  gssize len;

  have_termios = tcgetattr (STDIN_FILENO, &saved_termios) == 0;

  action.sa_handler = restore_echo_and_die;
  sigemptyset (&action.sa_mask);
  sigaction (SIGINT, &action, &old_int);
  sigaction (SIGTERM, &action, &old_term);
  sigaction (SIGHUP, &action, &old_hup);
  sigaction (SIGQUIT, &action, &old_quit);

  if (have_termios)
    {
      quiet = saved_termios;
      quiet.c_lflag &= ~(ECHO | ECHONL);
      quiet.c_lflag |= ICANON;
      echo_off = tcsetattr (STDIN_FILENO, TCSANOW, &quiet) == 0;
    }

  g_printerr ("Paste the API key and press Enter (it is not shown): ");

  len = read_input (buffer, TRUE, error);

  if (echo_off)
    {
      tcsetattr (STDIN_FILENO, TCSANOW, &saved_termios);
      echo_off = FALSE;
    }

  sigaction (SIGINT, &old_int, NULL);
  sigaction (SIGTERM, &old_term, NULL);
  sigaction (SIGHUP, &old_hup, NULL);
  sigaction (SIGQUIT, &old_quit, NULL);

  /* The Enter the user typed was not echoed. */
  g_printerr ("\n");

  return len;
}

/* Trims surrounding white space in place and checks that one line of text
 * is left. Returns the key inside @buffer, or NULL with a message printed. */
static const char *
check_key (char  *buffer,
           gsize  len)
{
  char *start = buffer;
  char *end = buffer + len;

  if (memchr (buffer, '\0', len) != NULL)
    {
      ck_cli_error ("the input holds a NUL byte and cannot be an API key; pipe in the key alone");
      return NULL;
    }

  while (start < end && g_ascii_isspace (*start))
    start++;
  while (end > start && g_ascii_isspace (end[-1]))
    end--;
  *end = '\0';

  if (start == end)
    {
      ck_cli_error ("no API key on standard input; pipe it in, e.g. 'claude-keyring set-api-key < key.txt'");
      return NULL;
    }

  if (strpbrk (start, "\r\n") != NULL)
    {
      ck_cli_error ("the input has more than one line; pipe in the key alone, on one line");
      return NULL;
    }

  if (!g_utf8_validate (start, end - start, NULL))
    {
      ck_cli_error ("the input is not valid UTF-8 text and cannot be an API key");
      return NULL;
    }

  return start;
}

static int
clear_api_key (void)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = ck_cli_call ("ClearApiKey", NULL, G_VARIANT_TYPE_UNIT,
                       SET_API_KEY_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  g_printerr ("Removed the API key from the keyring.\n");
  return CK_EXIT_OK;
}

int
ck_cli_set_api_key (int    argc,
                    char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *key_variant;
  gboolean clear = FALSE;
  g_autofree char *as_name = NULL;
  const char *key;
  char *buffer;
  gssize len;
  const GOptionEntry entries[] = {
    { "clear", 0, 0, G_OPTION_ARG_NONE, &clear, "Remove the stored API key instead", NULL },
    { "as", 0, 0, G_OPTION_ARG_STRING, &as_name, "Store the key as the account NAME (default: api-key)", "NAME" },
    { NULL }
  };

  /* Checked before parsing so that a key given by mistake, as a word or
   * an option, is never echoed back in an error message. */
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--as") == 0 && i + 1 < argc)
        {
          i++;
          continue;
        }
      if (strcmp (argv[i], "--clear") != 0 &&
          strncmp (argv[i], "--as=", 5) != 0 &&
          strcmp (argv[i], "--help") != 0 &&
          strcmp (argv[i], "-h") != 0 &&
          strcmp (argv[i], "-?") != 0 &&
          strcmp (argv[i], "--help-all") != 0)
        {
          ck_cli_error ("set-api-key reads the key from standard input, never from the command line; "
                        "pipe it in or paste it at the prompt (only --clear and --as NAME are accepted)");
          return CK_EXIT_USAGE;
        }
    }

  context = ck_cli_option_context_new ("set-api-key", NULL,
                                       "Stores an Anthropic API key in the keyring. The key is read from standard\n"
                                       "input (one line; a prompt without echo on a terminal), never from the\n"
                                       "command line. With --clear, removes the stored key.",
                                       entries);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;

  if (clear)
    return clear_api_key ();

  buffer = g_malloc0 (MAX_KEY_INPUT + 1);

  if (isatty (STDIN_FILENO))
    len = read_from_terminal (buffer, &error);
  else
    len = read_input (buffer, FALSE, &error);

  if (len < 0)
    {
      wipe_and_free (buffer);
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  if (!(key = check_key (buffer, len)))
    {
      wipe_and_free (buffer);
      return CK_EXIT_FAILURE;
    }

  /* The variant points into @buffer, so the wipe covers it too once the
   * message is sent. */
  key_variant = g_variant_new_from_data (G_VARIANT_TYPE_STRING,
                                         key, strlen (key) + 1,
                                         TRUE, wipe_and_free, buffer);
  reply = ck_cli_call (as_name != NULL ? "SetApiKeyAs" : "SetApiKey",
                       as_name != NULL ? g_variant_new ("(s@s)", as_name, key_variant)
                                       : g_variant_new_tuple (&key_variant, 1),
                       G_VARIANT_TYPE_UNIT,
                       SET_API_KEY_TIMEOUT_MS,
                       &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  g_printerr ("Stored the API key in the keyring.\n");

  if (ck_cli_get_env_api_key () != NULL)
    ck_cli_error ("note: ANTHROPIC_API_KEY is set in this environment, and claude uses it instead");

  return CK_EXIT_OK;
}
