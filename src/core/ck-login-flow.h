/* ck-login-flow.h: one browser login attempt
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-oauth-tokens.h"

G_BEGIN_DECLS

typedef enum
{
  CK_LOGIN_MODE_CLAUDE_AI,
  CK_LOGIN_MODE_CONSOLE,
} CkLoginMode;

#define CK_TYPE_LOGIN_FLOW (ck_login_flow_get_type ())

G_DECLARE_FINAL_TYPE (CkLoginFlow, ck_login_flow, CK, LOGIN_FLOW, GObject)

/* Starts waiting for the browser (or, @manual, for a pasted code) at once;
 * the outcome arrives as ::finished, from the main loop. */
CkLoginFlow *ck_login_flow_new               (GSettings    *settings,
                                              CkLoginMode   mode,
                                              gboolean      manual,
                                              GError      **error);
const char  *ck_login_flow_get_authorize_url (CkLoginFlow  *self);
/* Accepts "code#state" or the URL the browser was sent to. */
gboolean     ck_login_flow_complete          (CkLoginFlow  *self,
                                              const char   *pasted,
                                              GError      **error);

G_END_DECLS
