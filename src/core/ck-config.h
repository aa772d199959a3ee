/* ck-config.h: endpoints from GSettings, with environment overrides
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  CK_ENDPOINT_AUTHORIZE,
  CK_ENDPOINT_CONSOLE_AUTHORIZE,
  CK_ENDPOINT_TOKEN,
  CK_ENDPOINT_MANUAL_REDIRECT,
  CK_ENDPOINT_API_BASE,
  CK_ENDPOINT_REVOKE,
} CkEndpoint;

#define CK_CONSOLE_EXTRA_SCOPE "org:create_api_key"

char     *ck_config_dup_endpoint  (GSettings   *settings,
                                   CkEndpoint   endpoint,
                                   GError     **error);
char     *ck_config_dup_client_id (GSettings   *settings);
char     *ck_config_dup_scopes    (GSettings   *settings,
                                   gboolean     console);
gboolean  ck_config_check_url     (const char  *url,
                                   GError     **error);
/* The account the longest "account-rules" directory holding @cwd names
 * (a whole path component at a time), or NULL; @dir gets the directory. */
char     *ck_config_match_account_rule (GSettings   *settings,
                                        const char  *cwd,
                                        char       **dir);

G_END_DECLS
