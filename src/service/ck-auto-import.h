/* ck-auto-import.h: claude's logins into the keyring as claude writes them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-oauth-manager.h"
#include "ck-token-store.h"

G_BEGIN_DECLS

#define CK_TYPE_AUTO_IMPORT (ck_auto_import_get_type ())

G_DECLARE_FINAL_TYPE (CkAutoImport, ck_auto_import, CK, AUTO_IMPORT, GObject)

CkAutoImport *ck_auto_import_new        (GSettings       *settings,
                                         CkTokenStore    *store,
                                         CkOAuthManager  *oauth);
/* Watches the directories the settings name (auto-import,
 * claude-config-dirs) from now on, and imports what is there already. */
void          ck_auto_import_start      (CkAutoImport    *self);
void          ck_auto_import_stop       (CkAutoImport    *self);
/* A CkDoctorChecksFunc: what is watched, and every file left in place. */
void          ck_auto_import_add_checks (gpointer         self,
                                         GVariantBuilder *builder);

G_END_DECLS
