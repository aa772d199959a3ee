/* fuzz-helper-output.c: what an API key helper printed,
 * ck_helper_output_parse(), on a buffer without a terminator (as the
 * runner's read buffer is).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "fuzz-common.h"

#include "ck-helper-runner.h"
#include "ck-oauth-tokens.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GError) error = NULL;
  char *output = fuzz_copy_exact (data, size);
  char *key = NULL;

  fuzz_init ();
  if (ck_helper_output_parse (output, size, &key, &error))
    {
      gsize len;

      g_assert_no_error (error);
      g_assert_nonnull (key);
      len = strlen (key);
      g_assert_cmpuint (len, >, 0);
      /* One line of printable ASCII: fit for an HTTP header. */
      for (gsize i = 0; i < len; i++)
        g_assert_true (key[i] > ' ' && key[i] < 0x7f);
      /* The key is the output, trimmed, not a rewrite of it. */
      g_assert_nonnull (memmem (output, size, key, len));
      ck_secret_free (key);
    }
  else
    {
      g_assert_null (key);
      g_assert_nonnull (error);
    }
  free (output);
  return 0;
}
