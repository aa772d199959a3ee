/* main.c: claude-keyring, the command line client of the agent
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "ck-cli.h"

static const CkCliCommand commands[] = {
  { "login",        "Log in to Claude in the browser and store the tokens", ck_cli_login },
  { "logout",       "Log out and remove the stored credentials", ck_cli_logout },
  { "status",       "Show the credential state (exit 0 when usable)", ck_cli_status },
  { "token",        "Print the current token on standard output", ck_cli_token },
  { "set-api-key",  "Store an API key read from standard input", ck_cli_set_api_key },
  { "helper",       "API key helper for Claude Code (apiKeyHelper)", ck_cli_helper },
  { "run",          "Run claude (or a command) with the credential", ck_cli_run },
  { "ssh",          "Run claude on another machine over ssh with this login", ck_cli_ssh },
  { "setup-claude", "Set or remove apiKeyHelper, or the gateway, in Claude Code's settings", ck_cli_setup_claude },
  { "import",       "Move ~/.claude/.credentials.json into the keyring", ck_cli_import },
  { "doctor",       "Check the setup and say what breaks claude", ck_cli_doctor },
  { "accounts",     "List the stored accounts (logins and API keys)", ck_cli_accounts },
  { "switch",       "Make an account the default", ck_cli_switch },
  { "bind",         "Use an account for a directory and everything below it", ck_cli_bind },
  { "unbind",       "Remove a directory's account rule", ck_cli_unbind },
  { "rename",       "Rename an account", ck_cli_rename },
};

static void
print_usage (FILE *stream)
{
  fprintf (stream,
           "Usage:\n"
           "  claude-keyring COMMAND [OPTION…]\n"
           "\n"
           "Keeps Claude Code's credentials in the desktop keyring.\n"
           "\n"
           "Commands:\n");

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (stream, "  %-14s %s\n", commands[i].name, commands[i].summary);

  fprintf (stream,
           "\n"
           "Options:\n"
           "  -h, --help     Show this help\n"
           "  --version      Show the version\n"
           "\n"
           "Run 'claude-keyring COMMAND --help' for the options of a command.\n");
}

static const CkCliCommand *
find_command (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      if (strcmp (commands[i].name, name) == 0)
        return &commands[i];
    }

  return NULL;
}

static int
unknown_command (const char *what,
                 const char *name)
{
  g_autoptr(GString) names = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      if (i > 0)
        g_string_append (names, ", ");
      g_string_append (names, commands[i].name);
    }

  /* A long word is more likely a pasted key than a typo: never echo it. */
  if (strlen (name) > 32)
    ck_cli_error ("unknown %s; commands: %s (see 'claude-keyring --help')",
                  what, names->str);
  else
    ck_cli_error ("unknown %s '%s'; commands: %s (see 'claude-keyring --help')",
                  what, name, names->str);
  return CK_EXIT_USAGE;
}

int
main (int   argc,
      char *argv[])
{
  const CkCliCommand *command;
  const char *name;

  setlocale (LC_ALL, "");
  g_log_writer_default_set_use_stderr (TRUE);
  g_set_prgname ("claude-keyring");

  if (argc < 2)
    {
      print_usage (stderr);
      return CK_EXIT_USAGE;
    }

  name = argv[1];

  if (strcmp (name, "--help") == 0 || strcmp (name, "-h") == 0 ||
      strcmp (name, "-?") == 0 || strcmp (name, "--help-all") == 0)
    {
      print_usage (stdout);
      return CK_EXIT_OK;
    }

  if (strcmp (name, "--version") == 0 || strcmp (name, "-V") == 0 ||
      strcmp (name, "version") == 0)
    {
      printf ("claude-keyring %s\n", PACKAGE_VERSION);
      return CK_EXIT_OK;
    }

  /* `claude-keyring help [COMMAND]` is `claude-keyring COMMAND --help`. */
  if (strcmp (name, "help") == 0)
    {
      char *help_argv[] = { NULL, (char *) "--help", NULL };

      if (argc < 3)
        {
          print_usage (stdout);
          return CK_EXIT_OK;
        }

      if (!(command = find_command (argv[2])))
        return unknown_command ("command", argv[2]);

      help_argv[0] = (char *) command->name;
      return command->func (2, help_argv);
    }

  if (name[0] == '-')
    return unknown_command ("option", name);

  if (!(command = find_command (name)))
    return unknown_command ("command", name);

  return command->func (argc - 1, argv + 1);
}
