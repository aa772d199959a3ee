/* ck-api-key-dialog.h: store or remove an API key, set the helper
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

#include "ck-ui.h"

G_BEGIN_DECLS

#define CK_TYPE_API_KEY_DIALOG (ck_api_key_dialog_get_type ())

G_DECLARE_FINAL_TYPE (CkApiKeyDialog, ck_api_key_dialog, CK, API_KEY_DIALOG, AdwWindow)

CkApiKeyDialog *ck_api_key_dialog_new     (CkUi           *ui);
void            ck_api_key_dialog_present (CkApiKeyDialog *self);

G_END_DECLS
