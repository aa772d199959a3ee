/* ck-resolver.h: picks the credential claude should use
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-credential.h"
#include "ck-helper-runner.h"
#include "ck-oauth-source.h"
#include "ck-token-store.h"

G_BEGIN_DECLS

#define CK_TYPE_RESOLVER (ck_resolver_get_type ())

G_DECLARE_FINAL_TYPE (CkResolver, ck_resolver, CK, RESOLVER, GObject)

CkResolver   *ck_resolver_new                   (CkTokenStore         *store,
                                                 CkHelperRunner       *helper);
void          ck_resolver_set_oauth_source      (CkResolver           *self,
                                                 CkOAuthSource        *source);
gboolean      ck_resolver_resolve_now           (CkResolver           *self,
                                                 const char           *env_api_key,
                                                 CkCredentialKind      kind,
                                                 guint                 min_validity,
                                                 CkCredential        **credential,
                                                 GError              **error);
void          ck_resolver_get_credential_async  (CkResolver           *self,
                                                 const char           *env_api_key,
                                                 CkCredentialKind      kind,
                                                 guint                 min_validity,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
CkCredential *ck_resolver_get_credential_finish (CkResolver           *self,
                                                 GAsyncResult         *result,
                                                 GError              **error);
/* The same for one account (@account: its id; NULL as above). The
 * environment's API key still wins; the helper serves only when no
 * account is named. */
gboolean      ck_resolver_resolve_for_now       (CkResolver           *self,
                                                 const char           *account,
                                                 const char           *env_api_key,
                                                 CkCredentialKind      kind,
                                                 guint                 min_validity,
                                                 CkCredential        **credential,
                                                 GError              **error);
void          ck_resolver_get_credential_for_async (CkResolver        *self,
                                                 const char           *account,
                                                 const char           *env_api_key,
                                                 CkCredentialKind      kind,
                                                 guint                 min_validity,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
/* The API answered 401 to @token: refresh before serving it again. */
void          ck_resolver_invalidate            (CkResolver           *self,
                                                 const char           *token);

G_END_DECLS
