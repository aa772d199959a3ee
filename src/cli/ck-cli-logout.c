/* ck-cli-logout.c: `claude-keyring logout`
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <stdio.h>

#include "ck-cli.h"

/* The agent revokes the tokens at the server first when it can. */
#define LOGOUT_TIMEOUT_MS (30 * 1000)

/* The account a call from here would use, as "NAME" and why. */
static gboolean
resolve_here (char   **id,
              char   **name,
              char   **why,
              GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) account = NULL;
  const char *reason = "", *rule = NULL;
  GVariantBuilder options;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  ck_cli_add_account_options (&options);
  reply = ck_cli_call ("ResolveAccount", g_variant_new ("(a{sv})", &options),
                       G_VARIANT_TYPE ("(a{sv})"), LOGOUT_TIMEOUT_MS, error);
  if (reply == NULL)
    return FALSE;
  account = g_variant_get_child_value (reply, 0);
  if (!g_variant_lookup (account, "id", "s", id) || !g_variant_lookup (account, "name", "s", name))
    return TRUE;
  g_variant_lookup (account, "reason", "&s", &reason);
  g_variant_lookup (account, "rule", "&s", &rule);
  *why = g_str_equal (reason, "rule") ? g_strdup_printf ("bound to %s", rule)
       : g_str_equal (reason, "option") ? g_strdup ("CLAUDE_KEYRING_ACCOUNT")
       : g_strdup ("the default account");
  return TRUE;
}

int
ck_cli_logout (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  g_autofree char *name = NULL;
  g_autofree char *why = NULL;
  gboolean all = FALSE;
  const GOptionEntry entries[] = {
    { "all", 0, 0, G_OPTION_ARG_NONE, &all, "Log out of every account and remove every stored credential", NULL },
    { NULL }
  };

  context = ck_cli_option_context_new ("logout", "[NAME | --all]",
                                       "Logs out of the account NAME: revokes its tokens at the server when it\n"
                                       "can and removes it from the keyring. Without NAME, the account this\n"
                                       "directory uses (named in the output); with --all, every credential.",
                                       entries);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;

  if (argc > 2 || (all && argc > 1))
    {
      ck_cli_error ("logout takes one account name or --all; see 'claude-keyring logout --help'");
      return CK_EXIT_USAGE;
    }

  if (!all)
    {
      if (argc == 2)
        name = g_strdup (argv[1]);
      else if (!resolve_here (&id, &name, &why, &error))
        {
          ck_cli_print_error (error);
          return CK_EXIT_FAILURE;
        }
      if (name == NULL)
        {
          printf ("No credentials are stored.\n");
          return CK_EXIT_OK;
        }
      reply = ck_cli_call ("RemoveAccount", g_variant_new ("(s)", id != NULL ? id : name),
                           G_VARIANT_TYPE_UNIT, LOGOUT_TIMEOUT_MS, &error);
      if (reply == NULL)
        {
          ck_cli_print_error (error);
          return CK_EXIT_FAILURE;
        }
      if (why != NULL)
        printf ("Logged out of %s (%s); it was removed from the keyring.\n", name, why);
      else
        printf ("Logged out of %s; it was removed from the keyring.\n", name);
      return CK_EXIT_OK;
    }

  reply = ck_cli_call ("Logout", NULL, G_VARIANT_TYPE_UNIT, LOGOUT_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  printf ("Logged out; the stored credentials were removed.\n");
  if (ck_cli_get_env_api_key () != NULL)
    ck_cli_error ("note: ANTHROPIC_API_KEY is still set in this environment, and claude uses it");

  return CK_EXIT_OK;
}
