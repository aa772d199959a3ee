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

int
ck_cli_logout (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  context = ck_cli_option_context_new ("logout", NULL,
                                       "Revokes the tokens at the server when it can and removes every stored\n"
                                       "credential (OAuth tokens and API key) from the keyring.",
                                       NULL);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;

  if (argc > 1)
    {
      ck_cli_error ("logout takes no arguments; see 'claude-keyring logout --help'");
      return CK_EXIT_USAGE;
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
