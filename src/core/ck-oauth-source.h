/* ck-oauth-source.h: where the resolver gets a fresh OAuth token
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-oauth-tokens.h"

G_BEGIN_DECLS

#define CK_TYPE_OAUTH_SOURCE (ck_oauth_source_get_type ())

G_DECLARE_INTERFACE (CkOAuthSource, ck_oauth_source, CK, OAUTH_SOURCE, GObject)

struct _CkOAuthSourceInterface
{
  GTypeInterface parent_iface;

  /* Tokens valid for at least @min_validity seconds, refreshed first when
   * needed; NULL with CK_ERROR_NOT_LOGGED_IN when there is no login. */
  void           (*get_tokens_async)  (CkOAuthSource        *self,
                                       guint                 min_validity,
                                       GCancellable         *cancellable,
                                       GAsyncReadyCallback   callback,
                                       gpointer              user_data);
  CkOAuthTokens *(*get_tokens_finish) (CkOAuthSource        *self,
                                       GAsyncResult         *result,
                                       GError              **error);
  /* Optional. The API refused @access_token: if it is still the current
   * one, the next get_tokens refreshes whatever its expiry says. */
  void           (*invalidate_token)  (CkOAuthSource        *self,
                                       const char           *access_token);
  /* Optional. The source of one account's tokens (see CkAccount), or
   * NULL when @self does not know @id; without it, @self serves all. */
  CkOAuthSource *(*for_account)       (CkOAuthSource        *self,
                                       const char           *id);
};

void           ck_oauth_source_get_tokens_async  (CkOAuthSource        *self,
                                                  guint                 min_validity,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
CkOAuthTokens *ck_oauth_source_get_tokens_finish (CkOAuthSource        *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);
void           ck_oauth_source_invalidate_token  (CkOAuthSource        *self,
                                                  const char           *access_token);
CkOAuthSource *ck_oauth_source_for_account       (CkOAuthSource        *self,
                                                  const char           *id);

G_END_DECLS
