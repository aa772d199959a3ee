/* ck-oauth-manager.h: browser login, refresh and logout
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-login-flow.h"
#include "ck-oauth-source.h"
#include "ck-token-store.h"

G_BEGIN_DECLS

#define CK_TYPE_OAUTH_MANAGER (ck_oauth_manager_get_type ())

G_DECLARE_FINAL_TYPE (CkOAuthManager, ck_oauth_manager, CK, OAUTH_MANAGER, GObject)

CkOAuthManager *ck_oauth_manager_new                 (GSettings            *settings,
                                                      CkTokenStore         *store);
gboolean        ck_oauth_manager_get_login_pending   (CkOAuthManager       *self);
gboolean        ck_oauth_manager_get_refreshing      (CkOAuthManager       *self);
/* Unix seconds of the last refresh attempt, 0 if none, and its error. */
gint64          ck_oauth_manager_get_last_refresh    (CkOAuthManager       *self);
const char     *ck_oauth_manager_get_last_refresh_error (CkOAuthManager    *self);
guint           ck_oauth_manager_get_refresh_count   (CkOAuthManager       *self);

/* Returns the authorize URL; the result arrives as ::login-finished. */
char           *ck_oauth_manager_start_login         (CkOAuthManager       *self,
                                                      CkLoginMode           mode,
                                                      gboolean              manual,
                                                      gboolean              open_browser,
                                                      GError              **error);
char           *ck_oauth_manager_start_login_as      (CkOAuthManager       *self,
                                                      const char           *as_name,
                                                      CkLoginMode           mode,
                                                      gboolean              manual,
                                                      gboolean              open_browser,
                                                      GError              **error);
/* Accepts "code#state" or the URL the browser was sent to. */
gboolean        ck_oauth_manager_complete_login      (CkOAuthManager       *self,
                                                      const char           *pasted,
                                                      GError              **error);
void            ck_oauth_manager_cancel_login        (CkOAuthManager       *self);

/* Stores imported tokens in place of the login, ordered with refreshes. */
void            ck_oauth_manager_import_async        (CkOAuthManager       *self,
                                                      CkOAuthTokens        *tokens,
                                                      GCancellable         *cancellable,
                                                      GAsyncReadyCallback   callback,
                                                      gpointer              user_data);
gboolean        ck_oauth_manager_import_finish       (CkOAuthManager       *self,
                                                      GAsyncResult         *result,
                                                      GError              **error);
void            ck_oauth_manager_logout_async        (CkOAuthManager       *self,
                                                      GCancellable         *cancellable,
                                                      GAsyncReadyCallback   callback,
                                                      gpointer              user_data);
gboolean        ck_oauth_manager_logout_finish       (CkOAuthManager       *self,
                                                      GAsyncResult         *result,
                                                      GError              **error);
void            ck_oauth_manager_remove_account_async  (CkOAuthManager     *self,
                                                        const char         *id,
                                                        GCancellable       *cancellable,
                                                        GAsyncReadyCallback callback,
                                                        gpointer            user_data);
gboolean        ck_oauth_manager_remove_account_finish (CkOAuthManager     *self,
                                                        GAsyncResult       *result,
                                                        GError            **error);
gboolean        ck_oauth_manager_get_account_refreshing    (CkOAuthManager *self,
                                                            const char     *id);
const char     *ck_oauth_manager_get_account_refresh_error (CkOAuthManager *self,
                                                            const char     *id);
guint           ck_oauth_manager_get_account_refresh_count (CkOAuthManager *self,
                                                            const char     *id);

G_END_DECLS
