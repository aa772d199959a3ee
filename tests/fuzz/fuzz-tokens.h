/* fuzz-tokens.h: checks every parsed CkOAuthTokens must pass
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "ck-oauth-tokens.h"

/* 2023-11-14, a fixed "now" so a crash reproduces. */
#define FUZZ_NOW_MS G_GINT64_CONSTANT (1700000000000)

/* What the agent does with a parsed login: decide whether it is valid for
 * a caller, write it to the keyring as JSON and read it back, copy it for
 * a refresh. The keyring copy must mean the same login. */
static inline void
fuzz_check_tokens (const CkOAuthTokens *tokens)
{
  g_autoptr(CkOAuthTokens) reread = NULL;
  g_autoptr(CkOAuthTokens) copy = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  g_autofree char *scopes = NULL;

  g_assert_nonnull (tokens->access_token);
  g_assert_cmpstr (tokens->access_token, !=, "");

  (void) ck_oauth_tokens_valid_for (tokens, FUZZ_NOW_MS, 0);
  (void) ck_oauth_tokens_valid_for (tokens, FUZZ_NOW_MS, 300);
  (void) ck_oauth_tokens_valid_for (tokens, FUZZ_NOW_MS, 86400 * 30);
  scopes = ck_oauth_tokens_dup_scopes_string (tokens);

  json = ck_oauth_tokens_to_json (tokens);
  g_assert_nonnull (json);
  reread = ck_oauth_tokens_new_from_json (json, -1, &error);
  g_assert_no_error (error);
  g_assert_nonnull (reread);
  g_assert_true (ck_oauth_tokens_equal (tokens, reread));
  g_assert_cmpint (tokens->expires_at_ms, ==, reread->expires_at_ms);
  g_assert_cmpstr (tokens->access_token, ==, reread->access_token);
  g_assert_cmpstr (tokens->refresh_token, ==, reread->refresh_token);

  copy = ck_oauth_tokens_copy (tokens);
  g_assert_true (ck_oauth_tokens_equal (tokens, copy));
}
