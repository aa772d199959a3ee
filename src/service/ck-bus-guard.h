/* ck-bus-guard.h: the access check for D-Bus objects that have none of their own
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-access-control.h"

G_BEGIN_DECLS

typedef struct _CkBusGuard CkBusGuard;

CkBusGuard *ck_bus_guard_new  (GDBusConnection    *connection,
                               CkAccessControl    *access,
                               const char         *object_path,
                               const char * const *interfaces);
void        ck_bus_guard_free (CkBusGuard         *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CkBusGuard, ck_bus_guard_free)

G_END_DECLS
