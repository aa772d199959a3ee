/* ck-login-dialog.h: the browser login, step by step
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

#include "ck-ui.h"

G_BEGIN_DECLS

#define CK_TYPE_LOGIN_DIALOG (ck_login_dialog_get_type ())

G_DECLARE_FINAL_TYPE (CkLoginDialog, ck_login_dialog, CK, LOGIN_DIALOG, AdwWindow)

CkLoginDialog *ck_login_dialog_new         (CkUi          *ui);
void           ck_login_dialog_start       (CkLoginDialog *self);
void           ck_login_dialog_add_account (CkLoginDialog *self);
gboolean       ck_login_dialog_is_waiting  (CkLoginDialog *self);

G_END_DECLS
