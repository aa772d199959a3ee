/* ck-service.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Every method first identifies its caller (once per connection, see
 * CkAccessControl), then answers from memory where it can: the keyring is
 * read at start and when it changes, never per call. The status lives in
 * ck-service-status.c, the record of reads in CkReadLog.
 */

#define G_LOG_DOMAIN "ck-service"

#include "config.h"

#include <string.h>

#include "ck-credential-options.h"
#include "ck-error.h"
#include "ck-service-private.h"

#define MAX_API_KEY_LENGTH 4096

G_DEFINE_FINAL_TYPE (CkService, ck_service, G_TYPE_OBJECT)

typedef CkServiceCallerFunc CallerFunc;

#define ACCOUNT_NAME_RULE "An account name is 1 to 64 printable characters without spaces, control characters or “/”."

static gboolean account_name_is_valid (const char *name);

/* Caller identification */

typedef struct
{
  CkService             *self;
  GDBusMethodInvocation *invocation;
  CallerFunc             func;
} Pending;

static void
on_identified (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Pending *pending = user_data;
  g_autoptr(CkCaller) caller = NULL;
  g_autoptr(GError) error = NULL;

  caller = ck_access_control_identify_finish (CK_ACCESS_CONTROL (object), result, &error);
  if (caller == NULL || !ck_access_control_allows (CK_ACCESS_CONTROL (object), caller, &error))
    g_dbus_method_invocation_return_gerror (pending->invocation, error);
  else
    pending->func (pending->self, pending->invocation, caller);

  g_object_unref (pending->self);
  g_free (pending);
}

static gboolean
with_caller (CkService             *self,
             GDBusMethodInvocation *invocation,
             CallerFunc             func)
{
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  g_autoptr(CkCaller) caller = ck_access_control_dup_caller (self->access, sender);
  g_autoptr(GError) error = NULL;
  Pending *pending;

  if (caller != NULL)
    {
      if (!ck_access_control_allows (self->access, caller, &error))
        g_dbus_method_invocation_return_gerror (invocation, error);
      else
        func (self, invocation, caller);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }

  pending = g_new0 (Pending, 1);
  pending->self = g_object_ref (self);
  pending->invocation = invocation;
  pending->func = func;
  ck_access_control_identify_async (self->access, sender, NULL, on_identified, pending);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
return_error (GDBusMethodInvocation *invocation,
              GError                *error)
{
  /* Only our own domain crosses the bus, so callers see the names of
   * DESIGN.md and never an unmapped GError. */
  if (error->domain != CK_ERROR)
    {
      g_autoptr(GError) mapped = g_error_new_literal (CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                                      error->message);
      g_dbus_method_invocation_return_gerror (invocation, mapped);
    }
  else
    g_dbus_method_invocation_return_gerror (invocation, error);
}

/* For the other aspects of CkService (ck-service-private.h). */
gboolean
_ck_service_with_caller (CkService             *self,
                         GDBusMethodInvocation *invocation,
                         CkServiceCallerFunc    func)
{
  return with_caller (self, invocation, func);
}

void
_ck_service_return_error (GDBusMethodInvocation *invocation,
                          GError                *error)
{
  return_error (invocation, error);
}

/* GetCredential */

typedef struct
{
  CkService             *self;
  GDBusMethodInvocation *invocation;
  CkCaller              *caller;
} Call;

static Call *
call_new (CkService             *self,
          GDBusMethodInvocation *invocation,
          CkCaller              *caller)
{
  Call *call = g_new0 (Call, 1);

  call->self = g_object_ref (self);
  call->invocation = invocation;
  call->caller = caller != NULL ? ck_caller_ref (caller) : NULL;
  return call;
}

static void
call_free (Call *call)
{
  g_object_unref (call->self);
  g_clear_pointer (&call->caller, ck_caller_unref);
  g_free (call);
}

static GVariant *
credential_reply (const CkCredential *credential)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "kind",
                         g_variant_new_string (ck_credential_kind_to_string (credential->kind)));
  g_variant_builder_add (&builder, "{sv}", "token", g_variant_new_string (credential->token));
  g_variant_builder_add (&builder, "{sv}", "expires-at", g_variant_new_int64 (credential->expires_at));
  g_variant_builder_add (&builder, "{sv}", "source", g_variant_new_string (credential->source));
  g_variant_builder_add (&builder, "{sv}", "account", g_variant_new_string (credential->account));
  return g_variant_ref_sink (g_variant_new ("(@a{sv})", g_variant_builder_end (&builder)));
}

/* Returns the reply sent. */
static GVariant *
return_credential (CkService             *self,
                   GDBusMethodInvocation *invocation,
                   const CkCaller        *caller,
                   const CkCredential    *credential)
{
  GVariant *reply = credential_reply (credential);

  ck_read_log_record (self->read_log, caller, credential->source, FALSE);
  g_dbus_method_invocation_return_value (invocation, reply);
  return reply;
}

static void
on_credential (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Call *call = user_data;
  g_autoptr(CkCredential) credential = NULL;
  g_autoptr(GError) error = NULL;

  credential = ck_resolver_get_credential_finish (CK_RESOLVER (object), result, &error);
  if (credential == NULL)
    return_error (call->invocation, error);
  else
    g_variant_unref (return_credential (call->self, call->invocation, call->caller, credential));
  call_free (call);
}

static void
get_credential (CkService             *self,
                GDBusMethodInvocation *invocation,
                CkCaller              *caller)
{
  g_autoptr(CkCredential) credential = NULL;
  g_autoptr(GError) error = NULL;
  guint generation = ck_token_store_get_generation (self->store);
  g_autoptr(GVariant) options = NULL;
  g_autofree char *account = NULL;
  CkCredentialKind kind;
  guint min_validity;
  const char *named, *cwd;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  if (!ck_credential_options_parse (options, &min_validity, &kind, &error) ||
      !ck_credential_options_parse_account (options, &named, &cwd, &error))
    {
      return_error (invocation, error);
      return;
    }
  account = _ck_service_choose_account (self, named, cwd, NULL, NULL);

  /* The common case answers from memory without going back to the loop. */
  if (ck_resolver_resolve_for_now (self->resolver, account, NULL, kind, min_validity,
                                   &credential, &error))
    {
      g_autoptr(GVariant) reply = NULL;

      if (error != NULL)
        {
          return_error (invocation, error);
          return;
        }

      reply = return_credential (self, invocation, caller, credential);
      /* An answer from the store alone is the fast path's to give next
       * time; the helper's and the environment's are not, nor one for an
       * account chosen by name, rule or setting. */
      if (self->fast_path != NULL && account == NULL &&
          (g_str_equal (credential->source, "keyring") || g_str_equal (credential->source, "oauth")))
        ck_fast_path_learn (self->fast_path, kind, credential, reply, generation);
      return;
    }

  ck_resolver_get_credential_for_async (self->resolver, account, NULL, kind, min_validity, NULL,
                                        on_credential, call_new (self, invocation, caller));
}

static gboolean
handle_get_credential (CkDBusCredentials1    *skeleton,
                       GDBusMethodInvocation *invocation,
                       GVariant              *options,
                       CkService             *self)
{
  return with_caller (self, invocation, get_credential);
}

/* GetStatus */

static void
on_loaded_for_status (GObject      *object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  Call *call = user_data;
  g_autoptr(GVariant) status = NULL;

  /* A failed read is part of the status, not an error of this call. */
  ck_token_store_load_finish (CK_TOKEN_STORE (object), result, NULL);
  status = ck_service_dup_status (call->self);
  ck_dbus_credentials1_complete_get_status (call->self->skeleton, call->invocation, status);
  call_free (call);
}

static void
get_status (CkService             *self,
            GDBusMethodInvocation *invocation,
            CkCaller              *caller)
{
  g_autoptr(GVariant) status = NULL;

  /* Right after start the keyring may not have been read yet. */
  if (!ck_token_store_is_loaded (self->store))
    {
      ck_token_store_load_async (self->store, NULL, on_loaded_for_status,
                                 call_new (self, invocation, NULL));
      return;
    }

  status = ck_service_dup_status (self);
  ck_dbus_credentials1_complete_get_status (self->skeleton, invocation, status);
}

static gboolean
handle_get_status (CkDBusCredentials1    *skeleton,
                   GDBusMethodInvocation *invocation,
                   CkService             *self)
{
  return with_caller (self, invocation, get_status);
}

/* SetApiKey, ClearApiKey, Logout */

/* Ends @call with an empty reply, or with @error unless @ok. */
static void
call_return_empty (Call     *call,
                   gboolean  ok,
                   GError   *error)
{
  if (!ok)
    return_error (call->invocation, error);
  else
    g_dbus_method_invocation_return_value (call->invocation, NULL);
  call_free (call);
}

static void
on_api_key_set (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = ck_token_store_set_api_key_finish (CK_TOKEN_STORE (object), result, &error);

  call_return_empty (user_data, ok, error);
}

static void
on_api_key_set_as (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = ck_token_store_op_finish (CK_TOKEN_STORE (object), result, &error);

  call_return_empty (user_data, ok, error);
}

static void
on_api_key_cleared (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = ck_token_store_clear_finish (CK_TOKEN_STORE (object), result, &error);

  call_return_empty (user_data, ok, error);
}

static gboolean
api_key_is_valid (const char *key)
{
  gsize length = strlen (key);

  if (length == 0 || length > MAX_API_KEY_LENGTH)
    return FALSE;
  for (gsize i = 0; i < length; i++)
    if (key[i] <= ' ' || key[i] >= 0x7f)
      return FALSE;
  return TRUE;
}

static void
set_api_key (CkService             *self,
             GDBusMethodInvocation *invocation,
             CkCaller              *caller)
{
  const char *key;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &key);
  if (!api_key_is_valid (key))
    {
      g_dbus_method_invocation_return_error_literal (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                                     "An API key is one line of printable "
                                                     "characters without spaces.");
      return;
    }
  ck_token_store_set_api_key_async (self->store, key, NULL, on_api_key_set,
                                    call_new (self, invocation, NULL));
}

static void
set_api_key_as (CkService             *self,
                GDBusMethodInvocation *invocation,
                CkCaller              *caller)
{
  const char *name, *key;
  CkAccount *account;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s&s)", &name, &key);
  if (!api_key_is_valid (key))
    {
      g_dbus_method_invocation_return_error_literal (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                                     "An API key is one line of printable "
                                                     "characters without spaces.");
      return;
    }
  if (!account_name_is_valid (name))
    {
      g_dbus_method_invocation_return_error_literal (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                                     ACCOUNT_NAME_RULE);
      return;
    }
  if ((account = ck_token_store_find_account (self->store, name)) != NULL && account->api_key == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                             "“%s” is the name of a login; choose another name "
                                             "for the key.", name);
      return;
    }
  ck_token_store_set_api_key_as_async (self->store, account != NULL ? account->name : name, key,
                                       NULL, on_api_key_set_as, call_new (self, invocation, NULL));
}

static gboolean
handle_set_api_key_as (CkDBusCredentials1    *skeleton,
                       GDBusMethodInvocation *invocation,
                       const char            *name,
                       const char            *key,
                       CkService             *self)
{
  return with_caller (self, invocation, set_api_key_as);
}

static gboolean
handle_set_api_key (CkDBusCredentials1    *skeleton,
                    GDBusMethodInvocation *invocation,
                    const char            *key,
                    CkService             *self)
{
  return with_caller (self, invocation, set_api_key);
}

static void
clear_api_key (CkService             *self,
               GDBusMethodInvocation *invocation,
               CkCaller              *caller)
{
  ck_token_store_clear_async (self->store, "api-key", NULL, on_api_key_cleared,
                              call_new (self, invocation, NULL));
}

static gboolean
handle_clear_api_key (CkDBusCredentials1    *skeleton,
                      GDBusMethodInvocation *invocation,
                      CkService             *self)
{
  return with_caller (self, invocation, clear_api_key);
}

static void
on_logged_out (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = ck_oauth_manager_logout_finish (CK_OAUTH_MANAGER (object), result, &error);

  call_return_empty (user_data, ok, error);
}

static void
logout (CkService             *self,
        GDBusMethodInvocation *invocation,
        CkCaller              *caller)
{
  ck_helper_runner_invalidate (self->helper);
  ck_oauth_manager_logout_async (self->oauth, NULL, on_logged_out,
                                 call_new (self, invocation, NULL));
}

static gboolean
handle_logout (CkDBusCredentials1    *skeleton,
               GDBusMethodInvocation *invocation,
               CkService             *self)
{
  return with_caller (self, invocation, logout);
}

/* ImportCredentials */

static void
on_imported (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  Call *call = user_data;
  g_autoptr(GError) error = NULL;
  CkOAuthTokens *tokens;

  if (!ck_oauth_manager_import_finish (CK_OAUTH_MANAGER (object), result, &error))
    return_error (call->invocation, error);
  else
    {
      tokens = ck_token_store_get_oauth (call->self->store);
      g_dbus_method_invocation_return_value (call->invocation,
                                             g_variant_new ("(s)",
                                                            tokens != NULL && tokens->account_email != NULL
                                                              ? tokens->account_email : ""));
    }
  call_free (call);
}

static void
import_credentials (CkService             *self,
                    GDBusMethodInvocation *invocation,
                    CkCaller              *caller)
{
  g_autoptr(CkOAuthTokens) tokens = NULL;
  g_autoptr(GError) error = NULL;
  const char *contents;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &contents);
  tokens = ck_oauth_tokens_new_from_credentials_file (contents, -1, &error);
  if (tokens == NULL)
    {
      return_error (invocation, error);
      return;
    }
  /* Through the manager, so that a refresh in flight cannot overwrite it. */
  ck_oauth_manager_import_async (self->oauth, tokens, NULL, on_imported,
                                 call_new (self, invocation, NULL));
}

static gboolean
handle_import_credentials (CkDBusCredentials1    *skeleton,
                           GDBusMethodInvocation *invocation,
                           const char            *contents,
                           CkService             *self)
{
  return with_caller (self, invocation, import_credentials);
}

/* Login, CompleteLogin, CancelLogin */

static void
login (CkService             *self,
       GDBusMethodInvocation *invocation,
       CkCaller              *caller)
{
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  const char *mode = "claude-ai";
  const char *name = NULL;
  gboolean open_browser = TRUE;
  gboolean manual = FALSE;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) owned = value;
      const GVariantType *expected = g_str_equal (key, "mode") || g_str_equal (key, "name")
                                     ? G_VARIANT_TYPE_STRING
                                   : g_str_equal (key, "open-browser") || g_str_equal (key, "manual")
                                     ? G_VARIANT_TYPE_BOOLEAN : NULL;

      if (expected == NULL)
        continue;
      if (!g_variant_is_of_type (value, expected))
        {
          g_dbus_method_invocation_return_error (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                                 "The option %s must have the type %s.", key,
                                                 g_variant_type_peek_string (expected));
          return;
        }
      if (g_str_equal (key, "mode"))
        mode = g_variant_get_string (value, NULL);
      else if (g_str_equal (key, "name"))
        name = g_variant_get_string (value, NULL);
      else if (g_str_equal (key, "open-browser"))
        open_browser = g_variant_get_boolean (value);
      else
        manual = g_variant_get_boolean (value);
    }

  if (!g_str_equal (mode, "claude-ai") && !g_str_equal (mode, "console"))
    {
      g_dbus_method_invocation_return_error_literal (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                                     "The login mode must be “claude-ai” or “console”.");
      return;
    }

  if (name != NULL && !account_name_is_valid (name))
    {
      g_dbus_method_invocation_return_error_literal (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                                     ACCOUNT_NAME_RULE);
      return;
    }

  url = ck_oauth_manager_start_login_as (self->oauth, name,
                                         g_str_equal (mode, "console") ? CK_LOGIN_MODE_CONSOLE
                                                                       : CK_LOGIN_MODE_CLAUDE_AI,
                                         manual, open_browser, &error);
  if (url == NULL)
    return_error (invocation, error);
  else
    ck_dbus_credentials1_complete_login (self->skeleton, invocation, url);
}

static gboolean
handle_login (CkDBusCredentials1    *skeleton,
              GDBusMethodInvocation *invocation,
              GVariant              *options,
              CkService             *self)
{
  return with_caller (self, invocation, login);
}

static void
complete_login (CkService             *self,
                GDBusMethodInvocation *invocation,
                CkCaller              *caller)
{
  g_autoptr(GError) error = NULL;
  const char *code;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &code);
  if (!ck_oauth_manager_complete_login (self->oauth, code, &error))
    return_error (invocation, error);
  else
    ck_dbus_credentials1_complete_complete_login (self->skeleton, invocation);
}

static gboolean
handle_complete_login (CkDBusCredentials1    *skeleton,
                       GDBusMethodInvocation *invocation,
                       const char            *code,
                       CkService             *self)
{
  return with_caller (self, invocation, complete_login);
}

static void
cancel_login (CkService             *self,
              GDBusMethodInvocation *invocation,
              CkCaller              *caller)
{
  ck_oauth_manager_cancel_login (self->oauth);
  ck_dbus_credentials1_complete_cancel_login (self->skeleton, invocation);
}

static gboolean
handle_cancel_login (CkDBusCredentials1    *skeleton,
                     GDBusMethodInvocation *invocation,
                     CkService             *self)
{
  return with_caller (self, invocation, cancel_login);
}

static void
on_login_finished (CkService  *self,
                   gboolean    ok,
                   const char *message)
{
  /* On success the message is the account: only for permitted callers. */
  _ck_service_emit_to_permitted (self, "LoginFinished", g_variant_new ("(bs)", ok, message));
}

/* Accounts */

static gboolean
account_name_is_valid (const char *name)
{
  return ck_account_name_is_valid (name);
}

static CkAccount *
find_account_or_error (CkService             *self,
                       GDBusMethodInvocation *invocation,
                       const char            *name)
{
  CkAccount *account = ck_token_store_find_account (self->store, name);

  if (account == NULL)
    g_dbus_method_invocation_return_error (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                           "There is no account “%s”; see “claude-keyring accounts”.",
                                           name);
  return account;
}

/* Rules and the default follow an account renamed (@to) or removed (NULL). */
static void
retarget_settings (CkService  *self,
                   const char *id,
                   const char *name,
                   const char *to)
{
  g_autoptr(GVariant) rules = g_settings_get_value (self->settings, "account-rules");
  g_autofree char *named = g_settings_get_string (self->settings, "default-account");
  GVariantBuilder builder;
  GVariantIter iter;
  const char *dir, *value;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  g_variant_iter_init (&iter, rules);
  while (g_variant_iter_next (&iter, "{&s&s}", &dir, &value))
    if (!g_str_equal (value, name) && !g_str_equal (value, id))
      g_variant_builder_add (&builder, "{ss}", dir, value);
    else if (to != NULL)
      g_variant_builder_add (&builder, "{ss}", dir, g_str_equal (value, id) ? id : to);
  g_settings_set_value (self->settings, "account-rules", g_variant_builder_end (&builder));

  if (g_str_equal (named, name) || g_str_equal (named, id))
    g_settings_set_string (self->settings, "default-account",
                           to == NULL ? "" : g_str_equal (named, id) ? id : to);
}

static void
on_loaded_for_accounts (GObject      *object,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  Call *call = user_data;
  g_autoptr(GVariant) rows = NULL;

  /* A failed read shows as no accounts; GetStatus says why. */
  ck_token_store_load_finish (CK_TOKEN_STORE (object), result, NULL);
  rows = _ck_service_dup_accounts (call->self);
  ck_dbus_credentials1_complete_list_accounts (call->self->skeleton, call->invocation, rows);
  call_free (call);
}

static void
list_accounts (CkService             *self,
               GDBusMethodInvocation *invocation,
               CkCaller              *caller)
{
  g_autoptr(GVariant) rows = NULL;

  /* Right after start the keyring may not have been read yet. */
  if (!ck_token_store_is_loaded (self->store))
    {
      ck_token_store_load_async (self->store, NULL, on_loaded_for_accounts,
                                 call_new (self, invocation, NULL));
      return;
    }
  rows = _ck_service_dup_accounts (self);
  ck_dbus_credentials1_complete_list_accounts (self->skeleton, invocation, rows);
}

static gboolean
handle_list_accounts (CkDBusCredentials1    *skeleton,
                      GDBusMethodInvocation *invocation,
                      CkService             *self)
{
  return with_caller (self, invocation, list_accounts);
}

static void resolve_account (CkService             *self,
                             GDBusMethodInvocation *invocation,
                             CkCaller              *caller);

static void
on_loaded_for_resolve (GObject      *object,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  Call *call = user_data;

  ck_token_store_load_finish (CK_TOKEN_STORE (object), result, NULL);
  /* Loaded now, or failed: either way it answers this time. */
  if (!ck_token_store_is_loaded (call->self->store))
    return_error (call->invocation, ck_token_store_dup_state_error (call->self->store)
                                    ?: g_error_new_literal (CK_ERROR, CK_ERROR_KEYRING_UNAVAILABLE,
                                                            "The keyring could not be read."));
  else
    resolve_account (call->self, call->invocation, call->caller);
  call_free (call);
}

static void
resolve_account (CkService             *self,
                 GDBusMethodInvocation *invocation,
                 CkCaller              *caller)
{
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *chosen = NULL;
  g_autofree char *rule_dir = NULL;
  const char *named, *cwd, *reason;
  CkAccount *account;
  GVariantBuilder builder;

  if (!ck_token_store_is_loaded (self->store))
    {
      ck_token_store_load_async (self->store, NULL, on_loaded_for_resolve,
                                 call_new (self, invocation, caller));
      return;
    }
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  if (!ck_credential_options_parse_account (options, &named, &cwd, &error))
    {
      return_error (invocation, error);
      return;
    }
  chosen = _ck_service_choose_account (self, named, cwd, &reason, &rule_dir);
  account = chosen != NULL ? ck_token_store_find_account (self->store, chosen)
                           : _ck_service_default_account (self);
  if (account == NULL && chosen != NULL)
    {
      g_dbus_method_invocation_return_error (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                             "There is no account “%s”%s%s; see “claude-keyring accounts”.",
                                             chosen, rule_dir != NULL ? ", named by the rule for " : "",
                                             rule_dir != NULL ? rule_dir : "");
      return;
    }

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "reason", g_variant_new_string (reason));
  if (account != NULL)
    {
      g_variant_builder_add (&builder, "{sv}", "id", g_variant_new_string (account->id));
      g_variant_builder_add (&builder, "{sv}", "name", g_variant_new_string (account->name));
    }
  if (rule_dir != NULL)
    g_variant_builder_add (&builder, "{sv}", "rule", g_variant_new_string (rule_dir));
  ck_dbus_credentials1_complete_resolve_account (self->skeleton, invocation,
                                                 g_variant_builder_end (&builder));
}

static gboolean
handle_resolve_account (CkDBusCredentials1    *skeleton,
                        GDBusMethodInvocation *invocation,
                        GVariant              *options,
                        CkService             *self)
{
  return with_caller (self, invocation, resolve_account);
}

static void
set_default_account (CkService             *self,
                     GDBusMethodInvocation *invocation,
                     CkCaller              *caller)
{
  const char *name;
  CkAccount *account = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &name);
  if (name[0] != '\0' && (account = find_account_or_error (self, invocation, name)) == NULL)
    return;
  g_settings_set_string (self->settings, "default-account", account != NULL ? account->id : "");
  ck_dbus_credentials1_complete_set_default_account (self->skeleton, invocation);
}

static gboolean
handle_set_default_account (CkDBusCredentials1    *skeleton,
                            GDBusMethodInvocation *invocation,
                            const char            *account,
                            CkService             *self)
{
  return with_caller (self, invocation, set_default_account);
}

typedef struct
{
  Call *call;
  char *id;
  char *name;
  char *to;
} AccountCall;

static void
account_call_free (AccountCall *data)
{
  g_free (data->id);
  g_free (data->name);
  g_free (data->to);
  g_free (data);
}

static AccountCall *
account_call_new (CkService             *self,
                  GDBusMethodInvocation *invocation,
                  const CkAccount       *account,
                  const char            *to)
{
  AccountCall *data = g_new0 (AccountCall, 1);

  data->call = call_new (self, invocation, NULL);
  data->id = g_strdup (account->id);
  data->name = g_strdup (account->name);
  data->to = g_strdup (to);
  return data;
}

static void
on_account_changed (AccountCall *data,
                    gboolean     ok,
                    GError      *error)
{
  if (ok)
    retarget_settings (data->call->self, data->id, data->name, data->to);
  call_return_empty (data->call, ok, error);
  account_call_free (data);
}

static void
on_account_removed (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = ck_oauth_manager_remove_account_finish (CK_OAUTH_MANAGER (object), result, &error);

  on_account_changed (user_data, ok, error);
}

static void
remove_account (CkService             *self,
                GDBusMethodInvocation *invocation,
                CkCaller              *caller)
{
  const char *name;
  CkAccount *account;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &name);
  if ((account = find_account_or_error (self, invocation, name)) == NULL)
    return;
  ck_oauth_manager_remove_account_async (self->oauth, account->id, NULL, on_account_removed,
                                         account_call_new (self, invocation, account, NULL));
}

static gboolean
handle_remove_account (CkDBusCredentials1    *skeleton,
                       GDBusMethodInvocation *invocation,
                       const char            *account,
                       CkService             *self)
{
  return with_caller (self, invocation, remove_account);
}

static void
on_account_renamed (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = ck_token_store_op_finish (CK_TOKEN_STORE (object), result, &error);

  on_account_changed (user_data, ok, error);
}

static void
rename_account (CkService             *self,
                GDBusMethodInvocation *invocation,
                CkCaller              *caller)
{
  const char *name, *to;
  CkAccount *account, *other;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s&s)", &name, &to);
  if ((account = find_account_or_error (self, invocation, name)) == NULL)
    return;
  if (!account_name_is_valid (to))
    {
      g_dbus_method_invocation_return_error_literal (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                                     ACCOUNT_NAME_RULE);
      return;
    }
  if ((other = ck_token_store_find_account (self->store, to)) != NULL && other != account)
    {
      g_dbus_method_invocation_return_error (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                             "Another account is already called “%s”.", to);
      return;
    }
  ck_token_store_rename_account_async (self->store, account->id, to, NULL, on_account_renamed,
                                       account_call_new (self, invocation, account, to));
}

static gboolean
handle_rename_account (CkDBusCredentials1    *skeleton,
                       GDBusMethodInvocation *invocation,
                       const char            *account,
                       const char            *name,
                       CkService             *self)
{
  return with_caller (self, invocation, rename_account);
}

static void
set_account_rule (CkService             *self,
                  GDBusMethodInvocation *invocation,
                  CkCaller              *caller)
{
  g_autoptr(GVariant) rules = g_settings_get_value (self->settings, "account-rules");
  g_autofree char *dir = NULL;
  const char *given, *name, *rule_dir, *value;
  CkAccount *account = NULL;
  GVariantBuilder builder;
  GVariantIter iter;
  gsize length;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s&s)", &given, &name);
  if (given[0] != '/')
    {
      g_dbus_method_invocation_return_error_literal (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                                     "The directory must be absolute.");
      return;
    }
  if (name[0] != '\0' && (account = find_account_or_error (self, invocation, name)) == NULL)
    return;

  dir = g_canonicalize_filename (given, NULL);
  length = strlen (dir);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  g_variant_iter_init (&iter, rules);
  while (g_variant_iter_next (&iter, "{&s&s}", &rule_dir, &value))
    if (strncmp (rule_dir, dir, length) != 0 || (rule_dir[length] != '\0' &&
                                                  g_strcmp0 (rule_dir + length, "/") != 0))
      g_variant_builder_add (&builder, "{ss}", rule_dir, value);
  /* Rules name the account as the user does: a name reads well in the
   * setting, and a rename carries it along. */
  if (account != NULL)
    g_variant_builder_add (&builder, "{ss}", dir, account->name);
  g_settings_set_value (self->settings, "account-rules", g_variant_builder_end (&builder));
  ck_dbus_credentials1_complete_set_account_rule (self->skeleton, invocation);
}

static gboolean
handle_set_account_rule (CkDBusCredentials1    *skeleton,
                         GDBusMethodInvocation *invocation,
                         const char            *directory,
                         const char            *account,
                         CkService             *self)
{
  return with_caller (self, invocation, set_account_rule);
}

static void
on_accounts_settings_changed (CkService *self)
{
  g_autoptr(GVariant) rules = g_settings_get_value (self->settings, "account-rules");

  /* What the fast path learnt may now belong to another account. */
  if (self->fast_path != NULL)
    {
      ck_fast_path_forget (self->fast_path);
      ck_fast_path_set_has_rules (self->fast_path, g_variant_n_children (rules) > 0);
    }
  _ck_service_update_status (self);
}

/* Doctor */

static void
on_doctor (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Call *call = user_data;
  g_autoptr(GVariant) checks = NULL;
  g_autoptr(GError) error = NULL;

  checks = ck_doctor_run_finish (CK_DOCTOR (object), result, &error);
  if (checks == NULL)
    return_error (call->invocation, error);
  else
    ck_dbus_credentials1_complete_doctor (call->self->skeleton, call->invocation, checks);
  call_free (call);
}

static void
doctor (CkService             *self,
        GDBusMethodInvocation *invocation,
        CkCaller              *caller)
{
  ck_doctor_run_async (self->doctor, NULL, on_doctor, call_new (self, invocation, NULL));
}

static gboolean
handle_doctor (CkDBusCredentials1    *skeleton,
               GDBusMethodInvocation *invocation,
               CkService             *self)
{
  return with_caller (self, invocation, doctor);
}

/* Setup */

static gboolean
seconds_to_msec (GValue   *value,
                 GVariant *variant,
                 gpointer  user_data)
{
  g_value_set_uint (value, g_variant_get_uint32 (variant) * 1000);
  return TRUE;
}

static void
on_helper_changed (CkService *self)
{
  /* With a helper, the store's answers are no longer the right ones. */
  if (self->fast_path != NULL)
    ck_fast_path_forget (self->fast_path);
  _ck_service_update_status (self);
}

CkService *
ck_service_new (GSettings *settings)
{
  CkService *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  self = g_object_new (CK_TYPE_SERVICE, NULL);
  self->settings = g_object_ref (settings);

  g_settings_bind (settings, "api-key-helper", self->helper, "command", G_SETTINGS_BIND_GET);
  g_settings_bind (settings, "api-key-helper-ttl", self->helper, "ttl", G_SETTINGS_BIND_GET);
  g_settings_bind_with_mapping (settings, "api-key-helper-timeout", self->helper, "timeout",
                                G_SETTINGS_BIND_GET, seconds_to_msec, NULL, NULL, NULL);
  g_signal_connect_object (self->helper, "notify::command",
                           G_CALLBACK (on_helper_changed), self, G_CONNECT_SWAPPED);
  /* Bound before ck_service_export() starts the first keyring read. */
  g_settings_bind_with_mapping (settings, "keyring-timeout", self->store, "timeout",
                                G_SETTINGS_BIND_GET, seconds_to_msec, NULL, NULL, NULL);

  self->doctor = ck_doctor_new (settings, self->store, self->helper, self->resolver);
  self->oauth = ck_oauth_manager_new (settings, self->store);
  ck_resolver_set_oauth_source (self->resolver, CK_OAUTH_SOURCE (self->oauth));
  g_signal_connect_object (self->oauth, "login-finished",
                           G_CALLBACK (on_login_finished), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->oauth, "notify::login-pending",
                           G_CALLBACK (_ck_service_update_status), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->oauth, "notify::refreshing",
                           G_CALLBACK (_ck_service_update_status), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (settings, "changed::default-account",
                           G_CALLBACK (on_accounts_settings_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (settings, "changed::account-rules",
                           G_CALLBACK (on_accounts_settings_changed), self, G_CONNECT_SWAPPED);

  self->auto_import = ck_auto_import_new (settings, self->store, self->oauth);
  ck_doctor_set_extra_checks (self->doctor, ck_auto_import_add_checks,
                              g_object_ref (self->auto_import), g_object_unref);

  return self;
}

gboolean
ck_service_export (CkService        *self,
                   GDBusConnection  *connection,
                   const char       *object_path,
                   GError          **error)
{
  g_return_val_if_fail (CK_IS_SERVICE (self), FALSE);

  self->access = ck_access_control_new (connection);
  g_settings_bind (self->settings, "allow-sandboxed-callers", self->access, "allow-sandboxed",
                   G_SETTINGS_BIND_GET);

  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->skeleton),
                                         connection, object_path, error))
    return FALSE;
  self->fast_path = ck_fast_path_new (connection, object_path, self->access, self->store,
                                      self->read_log);
  on_accounts_settings_changed (self);

  /* Read the keyring now, so the first caller is answered from memory. */
  ck_token_store_load_async (self->store, NULL, NULL, NULL);
  /* Queued behind that read: a login claude wrote meanwhile. */
  ck_auto_import_start (self->auto_import);
  return TRUE;
}

void
ck_service_unexport (CkService *self)
{
  g_return_if_fail (CK_IS_SERVICE (self));

  g_clear_pointer (&self->fast_path, ck_fast_path_free);
  if (self->auto_import != NULL)
    ck_auto_import_stop (self->auto_import);
  if (g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (self->skeleton)))
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->skeleton));
  g_clear_object (&self->access);
}

CkTokenStore *
ck_service_get_store (CkService *self)
{
  g_return_val_if_fail (CK_IS_SERVICE (self), NULL);

  return self->store;
}

CkAutoImport *
ck_service_get_auto_import (CkService *self)
{
  g_return_val_if_fail (CK_IS_SERVICE (self), NULL);

  return self->auto_import;
}

CkAccessControl *
ck_service_get_access_control (CkService *self)
{
  g_return_val_if_fail (CK_IS_SERVICE (self), NULL);

  return self->access;
}

/* The reads of credentials, for the status window: a CkReadLog may be
 * read from any thread and stays valid as long as the service. */
CkReadLog *
ck_service_get_read_log (CkService *self)
{
  g_return_val_if_fail (CK_IS_SERVICE (self), NULL);

  return self->read_log;
}

static void
ck_service_dispose (GObject *object)
{
  CkService *self = (CkService *) object;

  ck_service_unexport (self);
  _ck_service_gateway_clear (self);
  _ck_service_status_clear (self);
  if (self->doctor != NULL)
    ck_doctor_set_extra_checks (self->doctor, NULL, NULL, NULL);
  g_clear_object (&self->auto_import);
  g_clear_object (&self->doctor);
  g_clear_object (&self->oauth);
  g_clear_object (&self->resolver);
  g_clear_object (&self->helper);
  g_clear_object (&self->store);
  g_clear_object (&self->skeleton);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (ck_service_parent_class)->dispose (object);
}

static void
ck_service_finalize (GObject *object)
{
  CkService *self = (CkService *) object;

  /* Not in dispose: the status window may still ask for the reads. */
  g_clear_object (&self->read_log);

  G_OBJECT_CLASS (ck_service_parent_class)->finalize (object);
}

static void
ck_service_class_init (CkServiceClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = ck_service_dispose;
  G_OBJECT_CLASS (klass)->finalize = ck_service_finalize;
}

static void
ck_service_init (CkService *self)
{
  self->read_log = ck_read_log_new ();
  self->store = ck_token_store_new ();
  self->helper = ck_helper_runner_new ();
  self->resolver = ck_resolver_new (self->store, self->helper);

  self->skeleton = ck_dbus_credentials1_skeleton_new ();
  ck_dbus_credentials1_set_version (self->skeleton, PACKAGE_VERSION);

  g_signal_connect_object (self->store, "changed", G_CALLBACK (_ck_service_update_status),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->skeleton, "handle-get-credential",
                           G_CALLBACK (handle_get_credential), self, 0);
  g_signal_connect_object (self->skeleton, "handle-get-status",
                           G_CALLBACK (handle_get_status), self, 0);
  g_signal_connect_object (self->skeleton, "handle-set-api-key",
                           G_CALLBACK (handle_set_api_key), self, 0);
  g_signal_connect_object (self->skeleton, "handle-clear-api-key",
                           G_CALLBACK (handle_clear_api_key), self, 0);
  g_signal_connect_object (self->skeleton, "handle-logout",
                           G_CALLBACK (handle_logout), self, 0);
  g_signal_connect_object (self->skeleton, "handle-import-credentials",
                           G_CALLBACK (handle_import_credentials), self, 0);
  g_signal_connect_object (self->skeleton, "handle-doctor",
                           G_CALLBACK (handle_doctor), self, 0);
  g_signal_connect_object (self->skeleton, "handle-login",
                           G_CALLBACK (handle_login), self, 0);
  g_signal_connect_object (self->skeleton, "handle-complete-login",
                           G_CALLBACK (handle_complete_login), self, 0);
  g_signal_connect_object (self->skeleton, "handle-cancel-login",
                           G_CALLBACK (handle_cancel_login), self, 0);
  g_signal_connect_object (self->skeleton, "handle-list-accounts",
                           G_CALLBACK (handle_list_accounts), self, 0);
  g_signal_connect_object (self->skeleton, "handle-resolve-account",
                           G_CALLBACK (handle_resolve_account), self, 0);
  g_signal_connect_object (self->skeleton, "handle-set-default-account",
                           G_CALLBACK (handle_set_default_account), self, 0);
  g_signal_connect_object (self->skeleton, "handle-remove-account",
                           G_CALLBACK (handle_remove_account), self, 0);
  g_signal_connect_object (self->skeleton, "handle-rename-account",
                           G_CALLBACK (handle_rename_account), self, 0);
  g_signal_connect_object (self->skeleton, "handle-set-account-rule",
                           G_CALLBACK (handle_set_account_rule), self, 0);
  g_signal_connect_object (self->skeleton, "handle-set-api-key-as",
                           G_CALLBACK (handle_set_api_key_as), self, 0);
  _ck_service_gateway_init (self);
}