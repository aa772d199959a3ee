/* fuzz-manual-code.c: the "code#state" text a user pastes,
 * ck_pkce_parse_manual_code().
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "fuzz-common.h"

#include "ck-oauth-tokens.h"
#include "ck-pkce.h"

#define STATE "fuzz-state-0123456789abcdef"

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *pasted = NULL;
  g_autoptr(GError) error = NULL;
  char *code = NULL;

  fuzz_init ();
  pasted = fuzz_copy_string (data, size);
  if (ck_pkce_parse_manual_code (pasted, STATE, &code, &error))
    {
      g_assert_no_error (error);
      g_assert_nonnull (code);
      g_assert_cmpstr (code, !=, "");
      for (const char *p = code; *p != '\0'; p++)
        g_assert_false (g_ascii_isspace (*p));
      ck_secret_free (code);
    }
  else
    {
      g_assert_null (code);
      g_assert_nonnull (error);
      g_assert_null (strstr (error->message, STATE));
    }
  return 0;
}
