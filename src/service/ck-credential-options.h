/* ck-credential-options.h: the a{sv} options of GetCredential
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

#include "ck-credential.h"

G_BEGIN_DECLS

#define CK_CREDENTIAL_OPTIONS_DEFAULT_MIN_VALIDITY 300
#define CK_CREDENTIAL_OPTIONS_MAX_MIN_VALIDITY     (86400 * 30)

gboolean ck_credential_options_parse (GVariant          *options,
                                      guint             *min_validity,
                                      CkCredentialKind  *kind,
                                      GError           **error);
/* Which account: "account" s (a name or id) and "cwd" s (the caller's
 * working directory, absolute); borrowed from @options, NULL if absent. */
gboolean ck_credential_options_parse_account (GVariant     *options,
                                              const char  **account,
                                              const char  **cwd,
                                              GError      **error);

G_END_DECLS
