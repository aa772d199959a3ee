/* ck-service-private.h: CkService's instance, shared by the files that
 * each implement one aspect of it, as GNOME Text Editor splits its large
 * types: ck-service.c (the core objects, the skeleton and the method
 * handlers) and ck-service-status.c (the status dictionary, its expiry
 * timer and StatusChanged). Not an API: nothing outside CkService
 * includes it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "ck-access-control.h"
#include "ck-dbus-generated.h"
#include "ck-doctor.h"
#include "ck-fast-path.h"
#include "ck-oauth-manager.h"
#include "ck-read-log.h"
#include "ck-service.h"

G_BEGIN_DECLS

struct _CkService
{
  GObject             parent_instance;

  GSettings          *settings;
  CkDBusCredentials1 *skeleton;
  CkAccessControl    *access;
  CkTokenStore       *store;
  CkHelperRunner     *helper;
  CkResolver         *resolver;
  CkDoctor           *doctor;
  CkOAuthManager     *oauth;
  CkReadLog          *read_log;
  CkFastPath         *fast_path;

  /* ck-service-status.c */
  GVariant           *last_status;
  guint               expiry_timer;
};

void _ck_service_update_status (CkService *self);
void _ck_service_status_clear  (CkService *self);
void _ck_service_emit_to_permitted (CkService  *self,
                                    const char *signal_name,
                                    GVariant   *parameters);

G_END_DECLS
