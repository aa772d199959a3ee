/* ck-ui-module.c: the entry point claude-keyring-agent loads
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The agent stays a small GIO program and maps GTK only through this
 * module, only when there is a display and no --headless. It looks up
 * ck_ui_module_init() and calls it once from its startup. Even then GTK
 * itself starts only when a window is first shown: the tray icon and the
 * notifications need D-Bus alone, and an agent that only sits in the
 * tray should cost little more than a headless one.
 */

#define G_LOG_DOMAIN "ck-ui"

#include "config.h"

#include <gmodule.h>

#include "ck-ui.h"

G_MODULE_EXPORT gboolean ck_ui_module_init (GApplication  *application,
                                            CkService     *service,
                                            GError       **error);

gboolean
ck_ui_module_init (GApplication  *application,
                   CkService     *service,
                   GError       **error)
{
  g_autoptr(CkUi) ui = NULL;

  g_return_val_if_fail (G_IS_APPLICATION (application), FALSE);

  /* The tray is D-Bus only; GTK is started with the first window. */
  if (!(ui = ck_ui_new (application, service, error)))
    return FALSE;

  g_object_set_data_full (G_OBJECT (application), "ck-ui", g_steal_pointer (&ui), g_object_unref);
  return TRUE;
}
