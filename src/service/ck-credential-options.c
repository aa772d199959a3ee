/* ck-credential-options.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * One parser for the service's main loop and the fast path's worker
 * thread, so both read a call the same way; the fuzz target
 * (tests/fuzz/fuzz-dbus-options.c) drives it with untrusted bytes.
 */

#define G_LOG_DOMAIN "ck-credential-options"

#include "config.h"

#include "ck-credential-options.h"
#include "ck-error.h"

/* Parses GetCredential's a{sv} options: "min-validity" u (capped at 30
 * days, default 300) and "kind" s; unknown keys are ignored, a known key
 * of the wrong type is CK_ERROR_INVALID_ARGUMENT. */
gboolean
ck_credential_options_parse (GVariant          *options,
                             guint             *min_validity,
                             CkCredentialKind  *kind,
                             GError           **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  *min_validity = CK_CREDENTIAL_OPTIONS_DEFAULT_MIN_VALIDITY;
  *kind = CK_CREDENTIAL_KIND_ANY;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) owned = value;

      if (g_str_equal (key, "min-validity"))
        {
          if (!g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
            {
              g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                   "The option min-validity must be an unsigned 32-bit integer (u).");
              return FALSE;
            }
          *min_validity = MIN (g_variant_get_uint32 (value), CK_CREDENTIAL_OPTIONS_MAX_MIN_VALIDITY);
        }
      else if (g_str_equal (key, "kind"))
        {
          if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ||
              !ck_credential_kind_from_string (g_variant_get_string (value, NULL), kind))
            {
              g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                   "The option kind must be the string “api-key” or “oauth”.");
              return FALSE;
            }
        }
      /* Unknown options are ignored so newer callers work with this agent. */
    }
  return TRUE;
}

/* A string option, borrowed from @options (its children share its data). */
static gboolean
lookup_string (GVariant    *options,
               const char  *key,
               const char **out)
{
  g_autoptr(GVariant) value = g_variant_lookup_value (options, key, NULL);

  if (value == NULL)
    return TRUE;
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return FALSE;
  *out = g_variant_get_string (value, NULL);
  return TRUE;
}

gboolean
ck_credential_options_parse_account (GVariant     *options,
                                     const char  **account,
                                     const char  **cwd,
                                     GError      **error)
{
  *account = NULL;
  *cwd = NULL;

  if (!lookup_string (options, "account", account))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "The option account must be a string (s).");
      return FALSE;
    }
  if (!lookup_string (options, "cwd", cwd) || (*cwd != NULL && (*cwd)[0] != '/'))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "The option cwd must be an absolute directory (s).");
      return FALSE;
    }
  if (*account != NULL && (*account)[0] == '\0')
    *account = NULL;
  return TRUE;
}
