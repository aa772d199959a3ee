/* ck-cli-accounts.c: `claude-keyring accounts`, `switch`, `bind`,
 * `unbind` and `rename`
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each is one call to the agent, which keeps the accounts, the default
 * (setting default-account) and the directory rules (account-rules).
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <json-glib/json-glib.h>

#include "ck-cli.h"

#define ACCOUNTS_TIMEOUT_MS (30 * 1000)

static gboolean
call_simple (const char *method,
             GVariant   *parameters)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = ck_cli_call (method, parameters, G_VARIANT_TYPE_UNIT, ACCOUNTS_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return FALSE;
    }
  return TRUE;
}

static void
print_row (GVariant *row)
{
  const char *name = "", *kind = "", *email = "", *organization = "", *state = "";
  g_autofree const char **rules = NULL;
  g_autofree char *who = NULL;
  g_autofree char *expiry = NULL;
  gboolean is_default = FALSE;
  gint64 expires = 0;

  g_variant_lookup (row, "name", "&s", &name);
  g_variant_lookup (row, "kind", "&s", &kind);
  g_variant_lookup (row, "email", "&s", &email);
  g_variant_lookup (row, "organization", "&s", &organization);
  g_variant_lookup (row, "state", "&s", &state);
  g_variant_lookup (row, "default", "b", &is_default);
  g_variant_lookup (row, "expires", "x", &expires);
  g_variant_lookup (row, "rules", "^a&s", &rules);

  who = organization[0] != '\0' ? g_strdup_printf ("%s (%s)", email, organization) : g_strdup (email);
  if (expires > 0)
    {
      g_autoptr(GDateTime) time = g_date_time_new_from_unix_local (expires);

      expiry = g_date_time_format (time, "expires %Y-%m-%d %H:%M");
    }
  printf ("%s %-24s %-8s %-10s %s%s%s", is_default ? "*" : " ", name, kind, state,
          who, who[0] != '\0' && expiry != NULL ? ", " : "", expiry != NULL ? expiry : "");
  for (guint i = 0; rules != NULL && rules[i] != NULL; i++)
    printf ("%s%s", i == 0 ? "; bound to " : ", ", rules[i]);
  printf ("\n");
}

int
ck_cli_accounts (int    argc,
                 char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(GError) error = NULL;
  gboolean json = FALSE;
  gboolean names = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the accounts as a JSON array", NULL },
    { "names", 0, 0, G_OPTION_ARG_NONE, &names, "Print only the names, one a line (for shell completion)", NULL },
    { NULL }
  };

  context = ck_cli_option_context_new ("accounts", NULL,
                                       "Lists the stored accounts: name, kind, state, email and organization,\n"
                                       "expiry, and the directories bound to each. * marks the default.",
                                       entries);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;
  if (argc > 1)
    {
      ck_cli_error ("accounts takes no arguments; see 'claude-keyring accounts --help'");
      return CK_EXIT_USAGE;
    }

  reply = ck_cli_call ("ListAccounts", NULL, G_VARIANT_TYPE ("(aa{sv})"), ACCOUNTS_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }
  rows = g_variant_get_child_value (reply, 0);

  if (json)
    {
      g_autoptr(JsonNode) node = json_gvariant_serialize (rows);
      g_autofree char *text = json_to_string (node, TRUE);

      printf ("%s\n", text);
      return CK_EXIT_OK;
    }

  for (gsize i = 0; names && i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);
      const char *name = "";

      g_variant_lookup (row, "name", "&s", &name);
      printf ("%s\n", name);
    }
  if (names)
    return CK_EXIT_OK;

  if (g_variant_n_children (rows) == 0)
    {
      printf ("No accounts; add one with 'claude-keyring login' or 'claude-keyring set-api-key'.\n");
      return CK_EXIT_OK;
    }
  for (gsize i = 0; i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);

      print_row (row);
    }
  return CK_EXIT_OK;
}

int
ck_cli_switch (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;

  context = ck_cli_option_context_new ("switch", "NAME",
                                       "Makes the account NAME the default: what claude gets wherever no\n"
                                       "directory rule, --account or CLAUDE_KEYRING_ACCOUNT chooses another.",
                                       NULL);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;
  if (argc != 2)
    {
      ck_cli_error ("switch takes one account name; see 'claude-keyring accounts'");
      return CK_EXIT_USAGE;
    }
  if (!call_simple ("SetDefaultAccount", g_variant_new ("(s)", argv[1])))
    return CK_EXIT_FAILURE;
  printf ("The default account is now %s.\n", argv[1]);
  return CK_EXIT_OK;
}

/* @given, or the working directory, made absolute and, where it exists,
 * with its symlinks resolved: callers pass their physical working
 * directory (ck_cli_add_account_options), which a rule must contain. */
static char *
dup_directory (const char *given)
{
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *path = g_canonicalize_filename (given != NULL ? given : cwd, cwd);
  char *physical = realpath (path, NULL);

  return physical != NULL ? physical : g_steal_pointer (&path);
}

int
ck_cli_bind (int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autofree char *dir = NULL;

  context = ck_cli_option_context_new ("bind", "[DIR] NAME",
                                       "Uses the account NAME for DIR (default: the current directory) and every\n"
                                       "directory below it; the longest bound directory wins.",
                                       NULL);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;
  if (argc != 2 && argc != 3)
    {
      ck_cli_error ("bind takes [DIR] NAME; see 'claude-keyring bind --help'");
      return CK_EXIT_USAGE;
    }
  dir = dup_directory (argc == 3 ? argv[1] : NULL);
  if (!call_simple ("SetAccountRule", g_variant_new ("(ss)", dir, argv[argc - 1])))
    return CK_EXIT_FAILURE;
  printf ("%s and below now use %s.\n", dir, argv[argc - 1]);
  return CK_EXIT_OK;
}

int
ck_cli_unbind (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autofree char *dir = NULL;

  context = ck_cli_option_context_new ("unbind", "[DIR]",
                                       "Removes the account rule of DIR (default: the current directory).",
                                       NULL);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;
  if (argc > 2)
    {
      ck_cli_error ("unbind takes at most one directory");
      return CK_EXIT_USAGE;
    }
  dir = dup_directory (argc == 2 ? argv[1] : NULL);
  if (!call_simple ("SetAccountRule", g_variant_new ("(ss)", dir, "")))
    return CK_EXIT_FAILURE;
  /* A rule written as the path was typed, through a symlink, by hand or
   * by an earlier version, goes too. */
  {
    g_autofree char *cwd = g_get_current_dir ();
    g_autofree char *typed = g_canonicalize_filename (argc == 2 ? argv[1] : cwd, cwd);

    if (!g_str_equal (typed, dir) && !call_simple ("SetAccountRule", g_variant_new ("(ss)", typed, "")))
      return CK_EXIT_FAILURE;
  }
  printf ("%s has no account rule now.\n", dir);
  return CK_EXIT_OK;
}

int
ck_cli_rename (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;

  context = ck_cli_option_context_new ("rename", "OLD NEW",
                                       "Renames an account; its directory rules and the default follow.",
                                       NULL);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;
  if (argc != 3)
    {
      ck_cli_error ("rename takes OLD NEW; see 'claude-keyring accounts'");
      return CK_EXIT_USAGE;
    }
  if (!call_simple ("RenameAccount", g_variant_new ("(ss)", argv[1], argv[2])))
    return CK_EXIT_FAILURE;
  printf ("Renamed %s to %s.\n", argv[1], argv[2]);
  return CK_EXIT_OK;
}
