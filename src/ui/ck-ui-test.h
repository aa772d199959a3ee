/* ck-ui-test.h: what the UI shows, as text, for the tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "ck-status-window.h"
#include "ck-tray.h"
#include "ck-ui.h"

G_BEGIN_DECLS

void ck_ui_test_dump (CkUi           *ui,
                      const char     *path,
                      gboolean        gtk_ready,
                      CkStatusWindow *status_window,
                      CkTray         *tray);

gboolean ck_ui_test_click (const char     *row_title,
                           const char     *button_label);

G_END_DECLS
