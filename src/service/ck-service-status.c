/* ck-service-status.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * CkService's status: the dictionary GetStatus returns and StatusChanged
 * carries. Whatever may change it calls _ck_service_update_status(), which
 * emits StatusChanged only when the dictionary differs from the last one
 * sent, and wakes up by itself when the OAuth login expires so the state
 * flips on time without a caller asking.
 *
 * StatusChanged (like LoginFinished) is not broadcast: it names the
 * account, organization, scopes and expiry, and any connection on the bus
 * could read a broadcast with a match rule, a refused sandboxed app
 * included. It goes to each connection that has called us and is
 * permitted now, addressed to it (clients call GetStatus first, then
 * follow the signal). A refused app learns nothing, not even that
 * something changed.
 */

#define G_LOG_DOMAIN "ck-service-status"

#include "config.h"

#include "ck-config.h"
#include "ck-service-private.h"

static gboolean
on_expiry (gpointer user_data)
{
  CkService *self = user_data;

  self->expiry_timer = 0;
  _ck_service_update_status (self);
  return G_SOURCE_REMOVE;
}

/* The account the default-account setting names, if it exists. */
static CkAccount *
set_default_account (CkService *self)
{
  g_autofree char *named = g_settings_get_string (self->settings, "default-account");

  return ck_token_store_find_account (self->store, named);
}

CkAccount *
_ck_service_default_account (CkService *self)
{
  CkAccount *account = set_default_account (self);

  return account != NULL ? account : ck_token_store_get_fallback_account (self->store);
}

char *
_ck_service_choose_account (CkService   *self,
                            const char  *named,
                            const char  *cwd,
                            const char **reason,
                            char       **rule_dir)
{
  g_autofree char *ruled = NULL;
  const char *why;
  char *chosen;

  if (named != NULL && named[0] != '\0')
    {
      why = "option";
      chosen = g_strdup (named);
    }
  else if ((ruled = ck_config_match_account_rule (self->settings, cwd, rule_dir)) != NULL)
    {
      why = "rule";
      chosen = g_steal_pointer (&ruled);
    }
  else
    {
      g_autofree char *setting = g_settings_get_string (self->settings, "default-account");

      /* Named but not stored (yet, or any more): as if none were set. */
      why = setting[0] != '\0' && (!ck_token_store_is_loaded (self->store) ||
                                   set_default_account (self) != NULL)
            ? "default" : "fallback";
      chosen = g_str_equal (why, "default") ? g_steal_pointer (&setting) : NULL;
    }
  if (reason != NULL)
    *reason = why;
  return chosen;
}

static gboolean
rule_names (const CkAccount *account,
            const char      *value)
{
  return g_str_equal (value, account->id) || g_str_equal (value, account->name);
}

GVariant *
_ck_service_dup_accounts (CkService *self)
{
  GPtrArray *accounts = ck_token_store_get_accounts (self->store);
  CkAccount *chosen = _ck_service_default_account (self);
  g_autoptr(GVariant) rules = g_settings_get_value (self->settings, "account-rules");
  gint64 now_ms = g_get_real_time () / 1000;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < accounts->len; i++)
    {
      CkAccount *account = g_ptr_array_index (accounts, i);
      CkOAuthTokens *tokens = account->oauth;
      const char *refresh_error = tokens != NULL && self->oauth != NULL
        ? ck_oauth_manager_get_account_refresh_error (self->oauth, account->id) : NULL;
      const char *state = "stored";
      GVariantBuilder dirs;
      GVariantIter iter;
      const char *dir, *value;

      if (tokens != NULL)
        state = self->oauth != NULL && ck_oauth_manager_get_account_refreshing (self->oauth, account->id)
                ? "refreshing"
                : !ck_oauth_tokens_valid_for (tokens, now_ms, 0) ? "expired" : "logged-in";

      g_variant_builder_init (&dirs, G_VARIANT_TYPE_STRING_ARRAY);
      g_variant_iter_init (&iter, rules);
      while (g_variant_iter_next (&iter, "{&s&s}", &dir, &value))
        if (rule_names (account, value))
          g_variant_builder_add (&dirs, "s", dir);

      g_variant_builder_open (&builder, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&builder, "{sv}", "id", g_variant_new_string (account->id));
      g_variant_builder_add (&builder, "{sv}", "name", g_variant_new_string (account->name));
      g_variant_builder_add (&builder, "{sv}", "kind", g_variant_new_string (account->kind));
      g_variant_builder_add (&builder, "{sv}", "email",
                             g_variant_new_string (tokens != NULL && tokens->account_email != NULL
                                                   ? tokens->account_email : ""));
      g_variant_builder_add (&builder, "{sv}", "organization",
                             g_variant_new_string (tokens != NULL && tokens->organization_name != NULL
                                                   ? tokens->organization_name : ""));
      g_variant_builder_add (&builder, "{sv}", "state", g_variant_new_string (state));
      g_variant_builder_add (&builder, "{sv}", "expires",
                             g_variant_new_int64 (tokens != NULL ? tokens->expires_at_ms / 1000 : 0));
      g_variant_builder_add (&builder, "{sv}", "default", g_variant_new_boolean (account == chosen));
      g_variant_builder_add (&builder, "{sv}", "rules", g_variant_builder_end (&dirs));
      if (refresh_error != NULL)
        g_variant_builder_add (&builder, "{sv}", "last-refresh-error",
                               g_variant_new_string (refresh_error));
      g_variant_builder_close (&builder);
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

GVariant *
ck_service_dup_status (CkService *self)
{
  GVariantBuilder builder;
  CkOAuthTokens *tokens = ck_token_store_get_oauth (self->store);
  CkAccount *chosen = set_default_account (self);
  g_autoptr(GVariant) rows = _ck_service_dup_accounts (self);
  const char *state = "logged-out";
  const char *source = "";
  const char *keyring = "unknown";
  gint64 now_ms = g_get_real_time () / 1000;

  switch (ck_token_store_get_state (self->store))
    {
    case CK_KEYRING_STATE_READY:
      keyring = "unlocked";
      break;
    case CK_KEYRING_STATE_LOCKED:
      keyring = "locked";
      state = "locked";
      break;
    case CK_KEYRING_STATE_UNAVAILABLE:
      keyring = "unavailable";
      state = "error";
      break;
    case CK_KEYRING_STATE_UNKNOWN:
    default:
      break;
    }

  /* A default chosen by the user: that account, whatever else is stored. */
  if (chosen != NULL)
    {
      tokens = chosen->oauth;
      source = tokens != NULL ? "oauth" : "keyring";
      state = tokens == NULL || ck_oauth_tokens_valid_for (tokens, now_ms, 0) ? "logged-in" : "expired";
    }
  else if (ck_helper_runner_is_configured (self->helper))
    {
      state = "logged-in";
      source = "helper";
    }
  else if (ck_token_store_get_api_key (self->store) != NULL)
    {
      state = "logged-in";
      source = "keyring";
    }
  else if (tokens != NULL)
    {
      source = "oauth";
      state = ck_oauth_tokens_valid_for (tokens, now_ms, 0) ? "logged-in" : "expired";
    }

  if (self->oauth != NULL && ck_oauth_manager_get_login_pending (self->oauth))
    state = "login-pending";
  else if (self->oauth != NULL && ck_oauth_manager_get_refreshing (self->oauth))
    state = "refreshing";

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "state", g_variant_new_string (state));
  g_variant_builder_add (&builder, "{sv}", "source", g_variant_new_string (source));
  g_variant_builder_add (&builder, "{sv}", "keyring", g_variant_new_string (keyring));
  if (ck_token_store_get_state_message (self->store) != NULL)
    g_variant_builder_add (&builder, "{sv}", "detail",
                           g_variant_new_string (ck_token_store_get_state_message (self->store)));
  if (self->oauth != NULL && ck_oauth_manager_get_last_refresh (self->oauth) != 0)
    {
      const char *refresh_error = ck_oauth_manager_get_last_refresh_error (self->oauth);

      g_variant_builder_add (&builder, "{sv}", "last-refresh",
                             g_variant_new_int64 (ck_oauth_manager_get_last_refresh (self->oauth)));
      g_variant_builder_add (&builder, "{sv}", "last-refresh-error",
                             g_variant_new_string (refresh_error != NULL ? refresh_error : ""));
    }
  if (tokens != NULL)
    {
      g_variant_builder_add (&builder, "{sv}", "account",
                             g_variant_new_string (tokens->account_email ?: ""));
      g_variant_builder_add (&builder, "{sv}", "organization",
                             g_variant_new_string (tokens->organization_name ?: ""));
      g_variant_builder_add (&builder, "{sv}", "subscription",
                             g_variant_new_string (tokens->subscription_type ?: ""));
      g_variant_builder_add (&builder, "{sv}", "expires-at",
                             g_variant_new_int64 (tokens->expires_at_ms / 1000));
      g_variant_builder_add (&builder, "{sv}", "scopes",
                             g_variant_new_strv ((const char * const *) tokens->scopes, -1));
    }
  g_variant_builder_add (&builder, "{sv}", "accounts", rows);
  _ck_service_gateway_add_status (self, &builder);
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

/* A signal for each connection that has called us and is permitted now,
 * addressed to it: what the service announces names the account. */
void
_ck_service_emit_to_permitted (CkService  *self,
                               const char *signal_name,
                               GVariant   *parameters)
{
  GDBusInterfaceSkeleton *skeleton = G_DBUS_INTERFACE_SKELETON (self->skeleton);
  GDBusConnection *connection = g_dbus_interface_skeleton_get_connection (skeleton);
  g_auto(GStrv) permitted = NULL;
  g_autoptr(GVariant) owned = g_variant_ref_sink (parameters);

  if (connection == NULL)
    return;
  permitted = ck_access_control_dup_permitted (self->access);
  for (guint i = 0; permitted[i] != NULL; i++)
    g_dbus_connection_emit_signal (connection, permitted[i],
                                   g_dbus_interface_skeleton_get_object_path (skeleton),
                                   "io.github.claudekeyring.Credentials1", signal_name,
                                   owned, NULL);
}

void
_ck_service_update_status (CkService *self)
{
  g_autoptr(GVariant) status = ck_service_dup_status (self);
  GPtrArray *accounts = ck_token_store_get_accounts (self->store);
  gint64 now_ms = g_get_real_time () / 1000;
  gint64 next_ms = 0;

  /* Wake up when a login expires, so its state flips on time. */
  for (guint i = 0; i < accounts->len; i++)
    {
      CkOAuthTokens *tokens = ((CkAccount *) g_ptr_array_index (accounts, i))->oauth;

      if (tokens != NULL && tokens->expires_at_ms > now_ms &&
          (next_ms == 0 || tokens->expires_at_ms < next_ms))
        next_ms = tokens->expires_at_ms;
    }
  g_clear_handle_id (&self->expiry_timer, g_source_remove);
  if (next_ms != 0)
    self->expiry_timer = g_timeout_add_seconds ((guint) MIN ((next_ms - now_ms) / 1000 + 1,
                                                             G_MAXUINT / 2),
                                                on_expiry, self);

  if (self->last_status != NULL && g_variant_equal (status, self->last_status))
    return;
  g_clear_pointer (&self->last_status, g_variant_unref);
  self->last_status = g_variant_ref (status);
  _ck_service_emit_to_permitted (self, "StatusChanged", g_variant_new_tuple (&status, 1));
}

/* From dispose: no timer may fire on a service that is going away. */
void
_ck_service_status_clear (CkService *self)
{
  g_clear_handle_id (&self->expiry_timer, g_source_remove);
  g_clear_pointer (&self->last_status, g_variant_unref);
}
