/* ck-cli-token.c: `claude-keyring token`
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include "ck-cli.h"

/* A refresh may happen on the way, so give it time, but never hang. */
#define TOKEN_TIMEOUT_MS (20 * 1000)

/* A few seconds of validity are enough for a caller that uses the token
 * right away; the full refresh margin is the agent's business. */
#define TOKEN_MIN_VALIDITY 30

int
ck_cli_token (int    argc,
              char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) credential = NULL;
  g_autoptr(GError) error = NULL;
  const char *token = NULL;
  g_autofree char *account = NULL;
  const GOptionEntry entries[] = {
    CK_CLI_ACCOUNT_ENTRY (account),
    { NULL }
  };

  context = ck_cli_option_context_new ("token", NULL,
                                       "Prints the current token (API key or OAuth access token) alone on standard output.\n"
                                       "ANTHROPIC_API_KEY in the environment wins, as it does for claude.",
                                       entries);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;
  ck_cli_set_account (account);

  if (argc > 1)
    {
      ck_cli_error ("token takes no arguments; see 'claude-keyring token --help'");
      return CK_EXIT_USAGE;
    }

  if ((token = ck_cli_get_env_api_key ()) != NULL)
    {
      ck_cli_error ("note: printing ANTHROPIC_API_KEY from the environment, not the keyring's credential");
      if (!ck_cli_print_secret (token, &error))
        {
          ck_cli_print_error (error);
          return CK_EXIT_FAILURE;
        }
      return CK_EXIT_OK;
    }

  credential = ck_cli_get_credential (TOKEN_MIN_VALIDITY, NULL, TOKEN_TIMEOUT_MS, &error);
  if (credential == NULL)
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  if (!g_variant_lookup (credential, "token", "&s", &token) || token[0] == '\0')
    {
      ck_cli_error ("the agent returned no token; run 'claude-keyring status' to see why");
      return CK_EXIT_FAILURE;
    }

  if (!ck_cli_print_secret (token, &error))
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  return CK_EXIT_OK;
}
