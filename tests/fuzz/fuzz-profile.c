/* fuzz-profile.c: the profile endpoint's JSON reply,
 * ck_oauth_tokens_apply_profile(), on a buffer with no terminator (as a
 * network reply is), applied to a login that already has an account; then
 * what the agent does with the result: store it as JSON and read it back,
 * losslessly.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "fuzz-common.h"
#include "fuzz-tokens.h"

static CkOAuthTokens *
logged_in (void)
{
  CkOAuthTokens *tokens = ck_oauth_tokens_new ();

  tokens->access_token = g_strdup ("fake-access-fuzz");
  tokens->refresh_token = g_strdup ("fake-refresh-fuzz");
  tokens->expires_at_ms = FUZZ_NOW_MS + 3600 * 1000;
  tokens->account_uuid = g_strdup ("fuzz-account");
  tokens->account_email = g_strdup ("fuzz@example.org");
  return tokens;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(CkOAuthTokens) tokens = NULL;
  g_autoptr(CkOAuthTokens) before = NULL;
  g_autoptr(GError) error = NULL;
  gboolean applied;
  char *body;

  fuzz_init ();
  if (fuzz_json_glib_would_leak (data, size))
    return 0;

  tokens = logged_in ();
  before = ck_oauth_tokens_copy (tokens);
  body = fuzz_copy_exact (data, size);
  applied = ck_oauth_tokens_apply_profile (tokens, body, size, &error);
  free (body);

  if (!applied)
    {
      /* A reply that is not a profile changes nothing. */
      g_assert_nonnull (error);
      g_assert_true (ck_oauth_tokens_equal (tokens, before));
    }
  else
    {
      /* The profile never touches the secrets. */
      g_assert_no_error (error);
      g_assert_cmpstr (tokens->access_token, ==, before->access_token);
      g_assert_cmpstr (tokens->refresh_token, ==, before->refresh_token);
      g_assert_cmpint (tokens->expires_at_ms, ==, before->expires_at_ms);
    }
  fuzz_check_tokens (tokens);
  return 0;
}
