/* ck-status-window.h: the status and diagnostics window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

#include "ck-ui.h"

G_BEGIN_DECLS

#define CK_TYPE_STATUS_WINDOW (ck_status_window_get_type ())

G_DECLARE_FINAL_TYPE (CkStatusWindow, ck_status_window, CK, STATUS_WINDOW, AdwWindow)

CkStatusWindow *ck_status_window_new              (CkUi           *ui);
void            ck_status_window_run_checks       (CkStatusWindow *self);
char           *ck_status_window_dup_diagnostics  (CkStatusWindow *self);

G_END_DECLS
