/* fuzz-credentials.c: Claude Code's .credentials.json as
 * ImportCredentials receives it (ck_oauth_tokens_new_from_credentials_file)
 * and the login as stored in the keyring (ck_oauth_tokens_new_from_json),
 * each followed by the store/load round trip, which must be lossless.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "fuzz-common.h"
#include "fuzz-tokens.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(CkOAuthTokens) imported = NULL;
  g_autoptr(CkOAuthTokens) stored = NULL;
  g_autoptr(GError) import_error = NULL;
  g_autoptr(GError) stored_error = NULL;
  char *contents;

  fuzz_init ();
  if (fuzz_json_glib_would_leak (data, size))
    return 0;
  contents = fuzz_copy_exact (data, size);
  imported = ck_oauth_tokens_new_from_credentials_file (contents, size, &import_error);
  stored = ck_oauth_tokens_new_from_json (contents, size, &stored_error);
  free (contents);

  if (imported == NULL)
    g_assert_nonnull (import_error);
  else
    fuzz_check_tokens (imported);

  if (stored == NULL)
    g_assert_nonnull (stored_error);
  else
    fuzz_check_tokens (stored);
  return 0;
}
