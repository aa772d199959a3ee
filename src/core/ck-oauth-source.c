/* ck-oauth-source.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-oauth-source"

#include "config.h"

#include "ck-oauth-source.h"

G_DEFINE_INTERFACE (CkOAuthSource, ck_oauth_source, G_TYPE_OBJECT)

static void
ck_oauth_source_default_init (CkOAuthSourceInterface *iface)
{
}

void
ck_oauth_source_get_tokens_async (CkOAuthSource       *self,
                                  guint                min_validity,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_return_if_fail (CK_IS_OAUTH_SOURCE (self));

  CK_OAUTH_SOURCE_GET_IFACE (self)->get_tokens_async (self, min_validity, cancellable,
                                                      callback, user_data);
}

CkOAuthTokens *
ck_oauth_source_get_tokens_finish (CkOAuthSource  *self,
                                   GAsyncResult   *result,
                                   GError        **error)
{
  g_return_val_if_fail (CK_IS_OAUTH_SOURCE (self), NULL);

  return CK_OAUTH_SOURCE_GET_IFACE (self)->get_tokens_finish (self, result, error);
}

void
ck_oauth_source_invalidate_token (CkOAuthSource *self,
                                  const char    *access_token)
{
  CkOAuthSourceInterface *iface;

  g_return_if_fail (CK_IS_OAUTH_SOURCE (self));
  g_return_if_fail (access_token != NULL);

  iface = CK_OAUTH_SOURCE_GET_IFACE (self);
  if (iface->invalidate_token != NULL)
    iface->invalidate_token (self, access_token);
}

/* Borrowed: lives as long as @self. */
CkOAuthSource *
ck_oauth_source_for_account (CkOAuthSource *self,
                             const char    *id)
{
  CkOAuthSourceInterface *iface;

  g_return_val_if_fail (CK_IS_OAUTH_SOURCE (self), NULL);

  iface = CK_OAUTH_SOURCE_GET_IFACE (self);
  if (id == NULL || iface->for_account == NULL)
    return self;
  return iface->for_account (self, id);
}
