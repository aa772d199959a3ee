/* ck-ui.h: the agent's tray icon, windows and notifications
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-dbus-generated.h"
#include "ck-service.h"
#include "ck-status.h"

G_BEGIN_DECLS

#define CK_TYPE_UI (ck_ui_get_type ())

G_DECLARE_FINAL_TYPE (CkUi, ck_ui, CK, UI, GObject)

CkUi               *ck_ui_new              (GApplication  *application,
                                            CkService     *service,
                                            GError       **error);
GApplication       *ck_ui_get_application  (CkUi          *self);
CkService          *ck_ui_get_service      (CkUi          *self);
GActionGroup       *ck_ui_get_actions      (CkUi          *self);
CkStatus           *ck_ui_get_status       (CkUi          *self);
CkDBusCredentials1 *ck_ui_get_proxy        (CkUi          *self);
GSettings          *ck_ui_get_settings     (CkUi          *self);
void                ck_ui_show_status      (CkUi          *self);
void                ck_ui_show_login       (CkUi          *self);
void                ck_ui_show_add_account (CkUi          *self);
void                ck_ui_show_api_key     (CkUi          *self);
void                ck_ui_shutdown         (CkUi          *self);

/* The introspection of an interface the UI exports, from its GResource:
 * interfaces[0] is @interface_name. */
GDBusNodeInfo      *ck_ui_load_introspection (const char *interface_name);

G_END_DECLS
