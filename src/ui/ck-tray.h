/* ck-tray.h: the tray icon, a StatusNotifierItem
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-access-control.h"

G_BEGIN_DECLS

#define CK_TYPE_TRAY (ck_tray_get_type ())

G_DECLARE_FINAL_TYPE (CkTray, ck_tray, CK, TRAY, GObject)

CkTray     *ck_tray_new            (GDBusConnection  *connection,
                                    CkAccessControl  *access,
                                    GMenuModel       *menu,
                                    GActionGroup     *actions);
gboolean    ck_tray_start          (CkTray           *self,
                                    GError          **error);
void        ck_tray_stop           (CkTray           *self);
void        ck_tray_set_icon       (CkTray           *self,
                                    const char       *icon_name,
                                    gboolean          needs_attention);
void        ck_tray_set_tooltip    (CkTray           *self,
                                    const char       *title,
                                    const char       *description);
gboolean    ck_tray_get_registered (CkTray           *self);
const char *ck_tray_get_bus_name   (CkTray           *self);

G_END_DECLS
