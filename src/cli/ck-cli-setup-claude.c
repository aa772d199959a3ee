/* ck-cli-setup-claude.c: `claude-keyring setup-claude [--remove] [--settings PATH]`
 *
 * Points Claude Code's apiKeyHelper at `claude-keyring helper`, or removes
 * it. claude ranks a configured helper above an OAuth login and does not
 * fall back when it fails, and it sends the helper's output as an API key:
 * so a helper is only right when an API key is stored. OAuth logins go
 * through `claude-keyring run` instead.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <string.h>

#include "ck-claude-settings.h"
#include "ck-cli.h"
#include "ck-error.h"

#define SETUP_TIMEOUT_MS (15 * 1000)

/* Names what a helper command runs without printing the command itself,
 * which may hold a key (`echo sk-…` is a common helper). */
static char *
describe_helper (const char *command)
{
  g_auto(GStrv) argv = NULL;
  g_autofree char *base = NULL;

  if (ck_claude_settings_is_our_helper (command))
    return g_strdup ("claude-keyring helper");

  if (!g_shell_parse_argv (command, NULL, &argv, NULL) || argv[0] == NULL)
    return g_strdup ("another command");

  base = g_path_get_basename (argv[0]);
  if (strlen (base) > 40)
    return g_strdup ("another command");
  return g_strdup_printf ("'%s'", base);
}

/* The apiKeyHelper value that runs @program as a helper. claude runs it
 * with /bin/sh: quote only when sh would split or expand it, so the common
 * case stays readable. */
static char *
helper_command (const char *program)
{
  for (const char *p = program; *p; p++)
    {
      if (!g_ascii_isalnum (*p) && strchr ("/._-+,:@%=", *p) == NULL)
        {
          g_autofree char *quoted = g_shell_quote (program);

          return g_strdup_printf ("%s helper", quoted);
        }
    }

  return g_strdup_printf ("%s helper", program);
}

static char *
get_own_path (GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *path = g_file_read_link ("/proc/self/exe", &local_error);

  if (path == NULL)
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "cannot find this program's own path (%s)", local_error->message);
      return NULL;
    }

  if (g_str_has_suffix (path, " (deleted)"))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "this claude-keyring was deleted or replaced while running; run the installed one");
      return NULL;
    }

  return g_steal_pointer (&path);
}

/* FALSE (after saying why) when a helper would break claude: only an
 * OAuth login is stored. */
static gboolean
check_api_key_available (void)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  const char *state = "";
  const char *source = "";

  reply = ck_cli_call ("GetStatus", NULL, G_VARIANT_TYPE ("(a{sv})"),
                       SETUP_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return FALSE;
    }

  status = g_variant_get_child_value (reply, 0);
  g_variant_lookup (status, "state", "&s", &state);
  g_variant_lookup (status, "source", "&s", &source);

  /* "helper" and "keyring" both hand claude an API key; the agent ranks
   * them above OAuth, so "oauth" means no API key is stored. */
  if (g_str_equal (source, "oauth"))
    {
      ck_cli_error ("only a Claude login (OAuth) is stored, and claude cannot use it through an apiKeyHelper "
                    "(a helper would also override the login); start claude with: claude-keyring run "
                    "(or store an API key first: claude-keyring set-api-key)");
      return FALSE;
    }

  if (g_str_equal (state, "locked"))
    ck_cli_error ("note: the keyring is locked, so whether an API key is stored is unknown; "
                  "claude gets a key once it is unlocked");
  else if (!g_str_equal (source, "helper") && !g_str_equal (source, "keyring"))
    ck_cli_error ("note: no API key is stored yet; claude fails until you run: claude-keyring set-api-key");

  return TRUE;
}

int
ck_cli_setup_claude (int    argc,
                     char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *settings = NULL;
  g_autofree char *path = NULL;
  g_autofree char *program = NULL;
  g_autofree char *command = NULL;
  g_autofree char *previous = NULL;
  gboolean remove = FALSE;
  gboolean changed = FALSE;
  const GOptionEntry entries[] = {
    { "remove", 0, 0, G_OPTION_ARG_NONE, &remove,
      "Remove apiKeyHelper instead of setting it", NULL },
    { "settings", 0, 0, G_OPTION_ARG_FILENAME, &settings,
      "Claude Code's settings file (default: ~/.claude/settings.json, or in $CLAUDE_CONFIG_DIR)", "PATH" },
    { NULL }
  };

  context = ck_cli_option_context_new ("setup-claude", NULL,
                                       "Sets apiKeyHelper in Claude Code's settings to 'claude-keyring helper',\n"
                                       "so that claude gets the stored API key on every start. Every other\n"
                                       "setting is kept. For a Claude login (OAuth), use 'claude-keyring run'.",
                                       entries);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;

  if (argc > 1)
    {
      ck_cli_error ("setup-claude takes no arguments; see 'claude-keyring setup-claude --help'");
      return CK_EXIT_USAGE;
    }

  if (settings != NULL && settings[0] == '\0')
    {
      ck_cli_error ("--settings needs a file name");
      return CK_EXIT_USAGE;
    }

  path = settings != NULL ? g_canonicalize_filename (settings, NULL)
                          : ck_claude_settings_get_default_path ();

  if (remove)
    {
      g_autofree char *what = NULL;

      if (!ck_claude_settings_set_api_key_helper (path, NULL, &previous, &changed, &error))
        {
          ck_cli_error ("%s; nothing changed", error->message);
          return CK_EXIT_FAILURE;
        }

      if (!changed)
        {
          ck_cli_error ("no apiKeyHelper in %s; nothing changed", path);
          return CK_EXIT_OK;
        }

      what = previous != NULL ? describe_helper (previous) : g_strdup ("a value that was not a string");
      ck_cli_error ("removed apiKeyHelper from %s (it ran %s)", path, what);
      return CK_EXIT_OK;
    }

  if (!(program = get_own_path (&error)))
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }
  command = helper_command (program);

  if (!check_api_key_available ())
    return CK_EXIT_FAILURE;

  if (!ck_claude_settings_set_api_key_helper (path, command, &previous, &changed, &error))
    {
      ck_cli_error ("%s; nothing changed", error->message);
      return CK_EXIT_FAILURE;
    }

  if (!changed)
    {
      ck_cli_error ("apiKeyHelper in %s already runs %s; nothing changed", path, command);
      return CK_EXIT_OK;
    }

  if (previous != NULL && !g_str_equal (previous, command))
    {
      g_autofree char *what = describe_helper (previous);

      ck_cli_error ("set apiKeyHelper in %s to: %s (it ran %s before)", path, command, what);
    }
  else
    {
      ck_cli_error ("set apiKeyHelper in %s to: %s", path, command);
    }

  return CK_EXIT_OK;
}
