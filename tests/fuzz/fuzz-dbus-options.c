/* fuzz-dbus-options.c: the a{sv} options of GetCredential, built from
 * untrusted bytes (wrong types, non-normal data, odd keys) and parsed the
 * way the service parses them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "fuzz-common.h"

#include "ck-credential-options.h"
#include "ck-error.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GError) error = NULL;
  CkCredentialKind kind = 99;
  guint min_validity = 12345;
  char *copy;

  fuzz_init ();
  copy = fuzz_copy_exact (data, size);
  options = g_variant_ref_sink (g_variant_new_from_data (G_VARIANT_TYPE_VARDICT, copy, size,
                                                         FALSE, free, copy));

  if (ck_credential_options_parse (options, &min_validity, &kind, &error))
    {
      g_assert_no_error (error);
      g_assert_cmpuint (min_validity, <=, 86400 * 30);
      g_assert_true (kind == CK_CREDENTIAL_KIND_ANY || kind == CK_CREDENTIAL_KIND_API_KEY ||
                     kind == CK_CREDENTIAL_KIND_OAUTH);
    }
  else
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == CK_ERROR);
      g_assert_cmpint (error->code, ==, CK_ERROR_INVALID_ARGUMENT);
    }

  /* The account options (issue 19): a string each, cwd absolute. */
  {
    g_autoptr(GError) account_error = NULL;
    const char *account, *cwd;

    if (ck_credential_options_parse_account (options, &account, &cwd, &account_error))
      g_assert_true ((account == NULL || account[0] != '\0') && (cwd == NULL || cwd[0] == '/'));
    else
      g_assert_error (account_error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  }

  /* What a D-Bus round trip would make of the same bytes parses alike. */
  {
    g_autoptr(GVariant) normal = g_variant_get_normal_form (options);
    g_autoptr(GError) normal_error = NULL;
    CkCredentialKind normal_kind;
    guint normal_min;

    g_assert_true (ck_credential_options_parse (normal, &normal_min, &normal_kind, &normal_error) ==
                   (error == NULL));
  }
  return 0;
}
