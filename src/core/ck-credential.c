/* ck-credential.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-credential"

#include "config.h"

#include "ck-credential.h"
#include "ck-oauth-tokens.h"

G_DEFINE_BOXED_TYPE (CkCredential, ck_credential, ck_credential_copy, ck_credential_free)

static const char *source_names[] = { "environment", "helper", "keyring", "oauth" };

CkCredential *
ck_credential_new (CkCredentialKind  kind,
                   const char       *token,
                   gint64            expires_at,
                   const char       *source,
                   const char       *account)
{
  CkCredential *self = g_new0 (CkCredential, 1);

  self->kind = kind;
  self->token = g_strdup (token);
  self->expires_at = expires_at;
  /* Interned from a fixed list, so the struct needs no copy of it. */
  self->source = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (source_names); i++)
    if (g_strcmp0 (source, source_names[i]) == 0)
      self->source = source_names[i];
  g_assert (self->source != NULL);
  self->account = g_strdup (account != NULL ? account : "");
  return self;
}

CkCredential *
ck_credential_copy (const CkCredential *self)
{
  return ck_credential_new (self->kind, self->token, self->expires_at,
                            self->source, self->account);
}

void
ck_credential_free (CkCredential *self)
{
  if (self == NULL)
    return;
  ck_secret_free (self->token);
  g_free (self->account);
  g_free (self);
}

const char *
ck_credential_kind_to_string (CkCredentialKind kind)
{
  switch (kind)
    {
    case CK_CREDENTIAL_KIND_API_KEY:
      return "api-key";
    case CK_CREDENTIAL_KIND_OAUTH:
      return "oauth";
    case CK_CREDENTIAL_KIND_ANY:
    default:
      return "";
    }
}

gboolean
ck_credential_kind_from_string (const char       *string,
                                CkCredentialKind *kind)
{
  if (string == NULL || string[0] == '\0')
    *kind = CK_CREDENTIAL_KIND_ANY;
  else if (g_str_equal (string, "api-key"))
    *kind = CK_CREDENTIAL_KIND_API_KEY;
  else if (g_str_equal (string, "oauth"))
    *kind = CK_CREDENTIAL_KIND_OAUTH;
  else
    return FALSE;
  return TRUE;
}
