/* ck-pkce.h: PKCE (RFC 7636) and state for one browser login
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One login attempt's secrets. @verifier is sent only to the token
 * endpoint, @challenge (S256 of the verifier) and @state go into the
 * authorize URL. All three are base64url without padding.
 */
typedef struct
{
  char *verifier;
  char *challenge;
  char *state;
} CkPkce;

CkPkce   *ck_pkce_new                       (void);
char     *ck_pkce_random_token              (void);
void      ck_pkce_free                      (CkPkce       *pkce);
char     *ck_pkce_challenge_for_verifier    (const char   *verifier);
char     *ck_pkce_build_authorize_url       (const CkPkce *pkce,
                                             const char   *authorize_url,
                                             const char   *client_id,
                                             const char   *redirect_uri,
                                             const char   *scopes);
gboolean  ck_pkce_state_equal               (const char   *a,
                                             const char   *b);
gboolean  ck_pkce_parse_manual_code         (const char   *pasted,
                                             const char   *expected_state,
                                             char        **code,
                                             GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CkPkce, ck_pkce_free)

G_END_DECLS
