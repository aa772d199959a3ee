/* fuzz-token-response.c: the token endpoint's JSON reply,
 * ck_oauth_tokens_new_from_token_response(), on a buffer with no
 * terminator (as a network reply is), then what the agent does with the
 * result: store it as JSON and read it back, losslessly.
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
  g_autoptr(GError) error = NULL;
  char *body;

  fuzz_init ();
  if (fuzz_json_glib_would_leak (data, size))
    return 0;
  body = fuzz_copy_exact (data, size);
  tokens = ck_oauth_tokens_new_from_token_response (body, size, FUZZ_NOW_MS, &error);
  free (body);

  if (tokens == NULL)
    g_assert_nonnull (error);
  else
    fuzz_check_tokens (tokens);
  return 0;
}
