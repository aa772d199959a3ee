/* ck-status.h: the agent's status as the UI shows it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  CK_STATE_UNKNOWN,        /* GetStatus has not answered yet */
  CK_STATE_LOGGED_OUT,
  CK_STATE_LOGGED_IN,
  CK_STATE_EXPIRED,
  CK_STATE_REFRESHING,
  CK_STATE_LOGIN_PENDING,
  CK_STATE_LOCKED,
  CK_STATE_ERROR,
} CkState;

#define CK_TYPE_STATUS (ck_status_get_type ())

G_DECLARE_FINAL_TYPE (CkStatus, ck_status, CK, STATUS, GObject)

CkStatus           *ck_status_new                    (void);
gboolean            ck_status_update                 (CkStatus   *self,
                                                      GVariant   *dict);
CkState             ck_status_get_state              (CkStatus   *self);
const char         *ck_status_get_state_name         (CkStatus   *self);
const char         *ck_status_get_source             (CkStatus   *self);
const char         *ck_status_get_account            (CkStatus   *self);
const char         *ck_status_get_organization       (CkStatus   *self);
const char         *ck_status_get_subscription       (CkStatus   *self);
gint64              ck_status_get_expires_at         (CkStatus   *self);
const char * const *ck_status_get_scopes             (CkStatus   *self);
const char         *ck_status_get_keyring            (CkStatus   *self);
const char         *ck_status_get_detail             (CkStatus   *self);
gint64              ck_status_get_last_refresh       (CkStatus   *self);
const char         *ck_status_get_last_refresh_error (CkStatus   *self);
GVariant           *ck_status_get_accounts           (CkStatus   *self);
const char         *ck_status_get_default_account_id (CkStatus   *self);
guint               ck_status_get_gateway_sessions   (CkStatus   *self);
char               *ck_status_dup_gateway_summary    (CkStatus   *self);
gboolean            ck_status_has_credentials        (CkStatus   *self);
gboolean            ck_status_needs_login            (CkStatus   *self);
gboolean            ck_status_offers_login           (CkStatus   *self);
gboolean            ck_status_needs_attention        (CkStatus   *self);
const char         *ck_status_get_icon_name          (CkStatus   *self);
const char         *ck_status_get_symbolic_icon_name (CkStatus   *self);
const char         *ck_status_get_title              (CkStatus   *self);
char               *ck_status_dup_summary            (CkStatus   *self);
const char         *ck_status_get_source_label       (CkStatus   *self);
const char         *ck_status_get_subscription_label (CkStatus   *self);
const char         *ck_status_get_keyring_label      (CkStatus   *self);

const char         *ck_accounts_find_name            (GVariant   *accounts,
                                                      const char *email);

char               *ck_format_time                   (gint64      unix_seconds);
char               *ck_format_duration               (gint64      seconds);

G_END_DECLS
