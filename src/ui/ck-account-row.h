/* ck-account-row.h: one row of ListAccounts, read once
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The keys of a ListAccounts row (docs/dbus-api.md); a key a row lacks is
 * "" (or FALSE, 0, an empty list). The strings point into the row, which
 * must outlive this. */
typedef struct
{
  const char  *id;
  const char  *name;
  const char  *kind;
  const char  *email;
  const char  *organization;
  const char  *state;
  const char  *last_refresh_error;
  const char **rules;
  gint64       expires;
  gboolean     is_default;
} CkAccountRow;

void ck_account_row_init  (CkAccountRow *self,
                           GVariant     *row);
void ck_account_row_clear (CkAccountRow *self);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CkAccountRow, ck_account_row_clear)

G_END_DECLS
