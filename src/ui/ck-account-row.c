/* ck-account-row.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The tray, the status window, the notifications and the diagnostics all
 * read the same rows of ListAccounts (also the "accounts" of GetStatus):
 * one reader, so that a key's name and its default live in one place. In
 * the UI module: the agent links only what it uses itself.
 */

#define G_LOG_DOMAIN "ck-account-row"

#include "config.h"

#include <string.h>

#include "ck-account-row.h"

static const char *empty_rules[] = { NULL };

void
ck_account_row_init (CkAccountRow *self,
                     GVariant     *row)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (row != NULL && g_variant_is_of_type (row, G_VARIANT_TYPE_VARDICT));

  memset (self, 0, sizeof *self);
  if (!g_variant_lookup (row, "id", "&s", &self->id))
    self->id = "";
  if (!g_variant_lookup (row, "name", "&s", &self->name))
    self->name = "";
  if (!g_variant_lookup (row, "kind", "&s", &self->kind))
    self->kind = "";
  if (!g_variant_lookup (row, "email", "&s", &self->email))
    self->email = "";
  if (!g_variant_lookup (row, "organization", "&s", &self->organization))
    self->organization = "";
  if (!g_variant_lookup (row, "state", "&s", &self->state))
    self->state = "";
  if (!g_variant_lookup (row, "last-refresh-error", "&s", &self->last_refresh_error))
    self->last_refresh_error = "";
  if (!g_variant_lookup (row, "rules", "^a&s", &self->rules))
    self->rules = NULL;
  g_variant_lookup (row, "expires", "x", &self->expires);
  g_variant_lookup (row, "default", "b", &self->is_default);
  if (self->rules == NULL)
    self->rules = g_memdup2 (empty_rules, sizeof empty_rules);
}

void
ck_account_row_clear (CkAccountRow *self)
{
  g_clear_pointer (&self->rules, g_free);
}
