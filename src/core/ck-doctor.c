/* ck-doctor.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each check is one dict: what was looked at, ok/warn/fail, a one-line
 * summary and a detail that says what to do. Never a secret.
 */

#define G_LOG_DOMAIN "ck-doctor"

#include "config.h"

#include "ck-doctor.h"
#include "ck-error.h"

struct _CkDoctor
{
  GObject         parent_instance;

  CkTokenStore   *store;
  CkHelperRunner *helper;
};

G_DEFINE_FINAL_TYPE (CkDoctor, ck_doctor, G_TYPE_OBJECT)

static void
add_check (GVariantBuilder *builder,
           const char      *id,
           const char      *status,
           const char      *summary,
           const char      *detail)
{
  g_variant_builder_open (builder, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (builder, "{sv}", "id", g_variant_new_string (id));
  g_variant_builder_add (builder, "{sv}", "status", g_variant_new_string (status));
  g_variant_builder_add (builder, "{sv}", "summary", g_variant_new_string (summary));
  g_variant_builder_add (builder, "{sv}", "detail", g_variant_new_string (detail != NULL ? detail : ""));
  g_variant_builder_close (builder);
}

static void
check_keyring (CkDoctor        *self,
               GVariantBuilder *builder)
{
  const char *message = ck_token_store_get_state_message (self->store);

  switch (ck_token_store_get_state (self->store))
    {
    case CK_KEYRING_STATE_READY:
      add_check (builder, "keyring", "ok", "The keyring is unlocked and answering.", NULL);
      break;
    case CK_KEYRING_STATE_LOCKED:
      add_check (builder, "keyring", "fail", "The keyring is locked.",
                 "Unlock it (Passwords and Keys, or log in again) so claude can get its credentials.");
      break;
    case CK_KEYRING_STATE_UNAVAILABLE:
      add_check (builder, "keyring", "fail", "No keyring is available.",
                 message != NULL ? message : "Install and start GNOME Keyring or another Secret Service.");
      break;
    case CK_KEYRING_STATE_UNKNOWN:
    default:
      add_check (builder, "keyring", "warn", "The keyring has not been read yet.",
                 "Run the checks again in a moment.");
      break;
    }
}

static void
check_oauth (CkDoctor        *self,
             GVariantBuilder *builder)
{
  CkOAuthTokens *tokens = ck_token_store_get_oauth (self->store);
  gint64 now_ms = g_get_real_time () / 1000;
  g_autofree char *summary = NULL;
  g_autoptr(GDateTime) expiry = NULL;
  g_autofree char *when = NULL;

  if (tokens == NULL)
    return;

  if (tokens->expires_at_ms != 0)
    {
      expiry = g_date_time_new_from_unix_local (tokens->expires_at_ms / 1000);
      when = g_date_time_format (expiry, "%Y-%m-%d %H:%M");
    }

  if (tokens->expires_at_ms != 0 && tokens->expires_at_ms <= now_ms)
    {
      summary = g_strdup_printf ("The login of %s expired at %s.",
                                 tokens->account_email != NULL ? tokens->account_email : "this account",
                                 when);
      add_check (builder, "oauth", tokens->refresh_token != NULL ? "warn" : "fail", summary,
                 tokens->refresh_token != NULL
                   ? "It will be refreshed on the next request; if that fails, run “claude-keyring login”."
                   : "Run “claude-keyring login”.");
      return;
    }

  summary = g_strdup_printf ("Logged in as %s%s%s.",
                             tokens->account_email != NULL ? tokens->account_email : "an account",
                             when != NULL ? ", valid until " : "",
                             when != NULL ? when : "");
  add_check (builder, "oauth", "ok", summary, NULL);
}

static void
check_credential (CkDoctor        *self,
                  GVariantBuilder *builder)
{
  if (ck_helper_runner_is_configured (self->helper))
    return;
  if (ck_token_store_get_api_key (self->store) != NULL)
    add_check (builder, "credential", "ok", "An API key is stored in the keyring.",
               ck_token_store_get_oauth (self->store) != NULL
                 ? "It is used instead of the OAuth login, as claude would."
                 : NULL);
  else if (ck_token_store_get_oauth (self->store) == NULL &&
           ck_token_store_get_state (self->store) == CK_KEYRING_STATE_READY)
    add_check (builder, "credential", "fail", "No credentials are stored.",
               "Run “claude-keyring login”, “claude-keyring import” or “claude-keyring set-api-key”.");
}

static void
finish (GTask           *task,
        GVariantBuilder *builder)
{
  CkDoctor *self = g_task_get_source_object (task);

  check_keyring (self, builder);
  check_credential (self, builder);
  check_oauth (self, builder);
  g_task_return_pointer (task, g_variant_ref_sink (g_variant_builder_end (builder)),
                         (GDestroyNotify) g_variant_unref);
}

static void
on_helper_key (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GVariantBuilder *builder = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  char *key;

  key = ck_helper_runner_get_key_finish (CK_HELPER_RUNNER (object), result, &error);
  if (key != NULL)
    add_check (builder, "helper", "ok", "The API key helper printed a key.",
               "It is used instead of any stored credential, as claude would.");
  else
    add_check (builder, "helper", "fail", "The API key helper failed.", error->message);
  ck_secret_free (key);
  finish (task, builder);
}

static void
builder_free (GVariantBuilder *builder)
{
  g_variant_builder_unref (builder);
}

void
ck_doctor_run_async (CkDoctor            *self,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GVariantBuilder *builder;

  g_return_if_fail (CK_IS_DOCTOR (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ck_doctor_run_async);
  builder = g_variant_builder_new (G_VARIANT_TYPE ("aa{sv}"));
  g_task_set_task_data (task, builder, (GDestroyNotify) builder_free);

  if (ck_helper_runner_is_configured (self->helper))
    ck_helper_runner_get_key_async (self->helper, cancellable, on_helper_key,
                                    g_steal_pointer (&task));
  else
    finish (task, builder);
}

GVariant *
ck_doctor_run_finish (CkDoctor      *self,
                      GAsyncResult  *result,
                      GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

CkDoctor *
ck_doctor_new (CkTokenStore   *store,
               CkHelperRunner *helper)
{
  CkDoctor *self = g_object_new (CK_TYPE_DOCTOR, NULL);

  self->store = g_object_ref (store);
  self->helper = g_object_ref (helper);
  return self;
}

static void
ck_doctor_dispose (GObject *object)
{
  CkDoctor *self = (CkDoctor *) object;

  g_clear_object (&self->store);
  g_clear_object (&self->helper);

  G_OBJECT_CLASS (ck_doctor_parent_class)->dispose (object);
}

static void
ck_doctor_class_init (CkDoctorClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = ck_doctor_dispose;
}

static void
ck_doctor_init (CkDoctor *self)
{
}
