/* ck-credential.h: the answer to "what should claude authenticate with?"
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef enum
{
  CK_CREDENTIAL_KIND_ANY,
  CK_CREDENTIAL_KIND_API_KEY,
  CK_CREDENTIAL_KIND_OAUTH,
} CkCredentialKind;

#define CK_TYPE_CREDENTIAL (ck_credential_get_type ())

typedef struct
{
  CkCredentialKind  kind;
  char             *token;
  gint64            expires_at;  /* unix seconds, 0 = does not expire */
  const char       *source;      /* "environment", "helper", "keyring", "oauth" */
  char             *account;     /* email or "" */
} CkCredential;

GType         ck_credential_get_type      (void) G_GNUC_CONST;
CkCredential *ck_credential_new           (CkCredentialKind    kind,
                                           const char         *token,
                                           gint64              expires_at,
                                           const char         *source,
                                           const char         *account);
CkCredential *ck_credential_copy          (const CkCredential *self);
void          ck_credential_free          (CkCredential       *self);
const char   *ck_credential_kind_to_string (CkCredentialKind   kind);
gboolean      ck_credential_kind_from_string (const char        *string,
                                              CkCredentialKind  *kind);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CkCredential, ck_credential_free)

G_END_DECLS
