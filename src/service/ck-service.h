/* ck-service.h: the io.github.claudekeyring.Credentials1 object
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-access-control.h"
#include "ck-auto-import.h"
#include "ck-read-log.h"
#include "ck-resolver.h"
#include "ck-token-store.h"

G_BEGIN_DECLS

#define CK_TYPE_SERVICE (ck_service_get_type ())

G_DECLARE_FINAL_TYPE (CkService, ck_service, CK, SERVICE, GObject)

CkService    *ck_service_new          (GSettings        *settings);
gboolean      ck_service_export       (CkService        *self,
                                       GDBusConnection  *connection,
                                       const char       *object_path,
                                       GError          **error);
void          ck_service_unexport     (CkService        *self);
CkTokenStore *ck_service_get_store    (CkService        *self);
CkReadLog    *ck_service_get_read_log (CkService        *self);
GVariant     *ck_service_dup_status   (CkService        *self);
/* Starts the gateway at once on @listener_fd, a listening socket on the
 * loopback interface handed over by systemd (claude-keyring-gateway.socket),
 * which it then owns. */
gboolean      ck_service_start_gateway_on (CkService  *self,
                                           int         listener_fd,
                                           GError    **error);
/* The import of claude's logins as claude writes them (::imported). */
CkAutoImport *ck_service_get_auto_import (CkService *self);
/* Who may call; only while the service is exported. */
CkAccessControl *ck_service_get_access_control (CkService *self);

G_END_DECLS
