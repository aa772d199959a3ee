/* ck-dbus-menu.h: a GMenuModel served as com.canonical.dbusmenu
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define CK_TYPE_DBUS_MENU (ck_dbus_menu_get_type ())

G_DECLARE_FINAL_TYPE (CkDBusMenu, ck_dbus_menu, CK, DBUS_MENU, GObject)

CkDBusMenu *ck_dbus_menu_new          (GMenuModel       *model,
                                       GActionGroup     *actions);
gboolean    ck_dbus_menu_export       (CkDBusMenu       *self,
                                       GDBusConnection  *connection,
                                       const char       *object_path,
                                       GError          **error);
void        ck_dbus_menu_unexport     (CkDBusMenu       *self);
guint       ck_dbus_menu_get_revision (CkDBusMenu       *self);

G_END_DECLS
