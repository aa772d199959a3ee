/* fuzz-token-response.c: the token endpoint's JSON reply,
 * ck_oauth_tokens_new_from_token_response() and, for an error reply,
 * ck_oauth_reply_find_error(), on a buffer with no terminator (as a
 * network reply is), then what the agent does with the result: store it
 * as JSON and read it back, losslessly.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "fuzz-common.h"
#include "fuzz-tokens.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(CkOAuthTokens) tokens = NULL;
  static const char *codes[] = { "invalid_grant", "server_error", NULL };
  g_autoptr(GError) error = NULL;
  const char *code;
  char *body;

  fuzz_init ();
  if (fuzz_json_glib_would_leak (data, size))
    return 0;
  body = fuzz_copy_exact (data, size);
  tokens = ck_oauth_tokens_new_from_token_response (body, size, FUZZ_NOW_MS, &error);
  code = ck_oauth_reply_find_error (body, size, codes);
  free (body);

  /* Only ever one of the known codes, never the reply's own text. */
  g_assert_true (code == NULL || code == codes[0] || code == codes[1]);

  if (tokens == NULL)
    g_assert_nonnull (error);
  else
    fuzz_check_tokens (tokens);
  return 0;
}
