/* fuzz-callback.c: the loopback server's view of a browser redirect,
 * ck_loopback_parse_callback(). The input is a request target,
 * "PATH?QUERY", split at the first '?'.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "fuzz-common.h"

#include "ck-loopback-server.h"
#include "ck-oauth-tokens.h"

#define STATE "fuzz-state-0123456789abcdef"

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *path = NULL;
  g_autofree char *query = NULL;
  g_autoptr(GError) error = NULL;
  char *code = NULL;
  gboolean ok;

  fuzz_init ();
  fuzz_split (data, size, '?', &path, &query);

  ok = ck_loopback_parse_callback (path, query, STATE, &code, &error);
  if (ok)
    {
      g_assert_no_error (error);
      g_assert_nonnull (code);
      g_assert_cmpstr (code, !=, "");
    }
  else
    {
      g_assert_null (code);
      g_assert_nonnull (error);
      g_assert_true (error->domain == CK_LOOPBACK_ERROR);
      /* Messages never carry the state (nor anything else from the query). */
      g_assert_null (strstr (error->message, STATE));
    }
  ck_secret_free (code);
  return 0;
}
