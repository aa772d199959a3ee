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

#include "ck-service-private.h"

static gboolean
on_expiry (gpointer user_data)
{
  CkService *self = user_data;

  self->expiry_timer = 0;
  _ck_service_update_status (self);
  return G_SOURCE_REMOVE;
}

GVariant *
ck_service_dup_status (CkService *self)
{
  GVariantBuilder builder;
  CkOAuthTokens *tokens = ck_token_store_get_oauth (self->store);
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

  if (ck_helper_runner_is_configured (self->helper))
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
  CkOAuthTokens *tokens = ck_token_store_get_oauth (self->store);
  gint64 now_ms = g_get_real_time () / 1000;

  /* Wake up when the login expires, so the state flips on time. */
  g_clear_handle_id (&self->expiry_timer, g_source_remove);
  if (tokens != NULL && tokens->expires_at_ms > now_ms)
    self->expiry_timer = g_timeout_add_seconds ((guint) MIN ((tokens->expires_at_ms - now_ms) / 1000 + 1,
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
