/* ck-cli-helper.c: `claude-keyring helper`, Claude Code's apiKeyHelper
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <string.h>

#include "ck-cli.h"
#include "ck-error.h"

/* claude runs this on every start and waits for it without a timeout of
 * its own (a hanging helper hangs claude), and fails within seconds when
 * it exits non-zero. So: a bounded wait, then a clean failure. */
#define HELPER_TIMEOUT_MS (10 * 1000)

#define NO_API_KEY \
  "no API key is stored; run: claude-keyring set-api-key (or use claude-keyring run for an OAuth login)"

/* claude sends whatever a helper prints as the key and retries the 401s
 * for minutes: print only what can be a key. */
static gboolean
looks_like_key (const char *token)
{
  if (token == NULL || token[0] == '\0')
    return FALSE;

  for (const char *p = token; *p; p++)
    {
      if ((guchar) *p <= ' ' || (guchar) *p == 0x7f)
        return FALSE;
    }

  return TRUE;
}

int
ck_cli_helper (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) credential = NULL;
  g_autoptr(GError) error = NULL;
  const char *token = NULL;
  const char *kind = NULL;

  g_autofree char *account = NULL;
  const GOptionEntry entries[] = {
    CK_CLI_ACCOUNT_ENTRY (account),
    { NULL }
  };

  context = ck_cli_option_context_new ("helper", NULL,
                                       "Prints the stored API key for Claude Code's apiKeyHelper setting\n"
                                       "(set it with 'claude-keyring setup-claude'). Prints nothing and exits 1\n"
                                       "when no API key is available.",
                                       entries);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;
  ck_cli_set_account (account);

  if (argc > 1)
    {
      ck_cli_error ("helper takes no arguments; see 'claude-keyring helper --help'");
      return CK_EXIT_USAGE;
    }

  /* The agent's own helper runner sets this: configured as the agent's
   * helper, we would ask the agent, which would run us again. */
  if (g_getenv ("CLAUDE_KEYRING_HELPER") != NULL)
    {
      ck_cli_error ("refusing to run as the agent's own API key helper (that would call itself); "
                    "set the agent's api-key-helper setting to another command, or clear it");
      return CK_EXIT_FAILURE;
    }

  credential = ck_cli_get_credential (0, "api-key", HELPER_TIMEOUT_MS, &error);
  if (credential == NULL)
    {
      if (g_error_matches (error, CK_ERROR, CK_ERROR_NOT_LOGGED_IN))
        ck_cli_error (NO_API_KEY);
      else
        ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  /* Defensive: the agent honours "kind", but an OAuth token printed here
   * would go out as an API key and fail in confusing ways. */
  if (g_variant_lookup (credential, "kind", "&s", &kind) &&
      g_strcmp0 (kind, "api-key") != 0)
    {
      ck_cli_error (NO_API_KEY);
      return CK_EXIT_FAILURE;
    }

  if (!g_variant_lookup (credential, "token", "&s", &token) || !looks_like_key (token))
    {
      ck_cli_error ("the agent returned no usable API key; run: claude-keyring status");
      return CK_EXIT_FAILURE;
    }

  if (!ck_cli_print_secret (token, &error))
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  return CK_EXIT_OK;
}
