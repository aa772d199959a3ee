/* ck-fast-path.h: answers GetCredential without leaving GDBus's thread
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-access-control.h"
#include "ck-credential.h"
#include "ck-read-log.h"
#include "ck-token-store.h"

G_BEGIN_DECLS

typedef struct _CkFastPath CkFastPath;

CkFastPath *ck_fast_path_new    (GDBusConnection    *connection,
                                 const char         *object_path,
                                 CkAccessControl    *access,
                                 CkTokenStore       *store,
                                 CkReadLog          *read_log);
void        ck_fast_path_free   (CkFastPath         *self);
void        ck_fast_path_learn  (CkFastPath         *self,
                                 CkCredentialKind    kind,
                                 const CkCredential *credential,
                                 GVariant           *reply,
                                 guint               store_generation);
void        ck_fast_path_forget (CkFastPath         *self);
void        ck_fast_path_set_has_rules (CkFastPath  *self,
                                        gboolean     has_rules);

G_END_DECLS
