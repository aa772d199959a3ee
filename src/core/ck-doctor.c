/* ck-doctor.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each check is one dict: what was looked at, ok/warn/fail, a one-line
 * summary and a detail that says what to do. Never a secret.
 */

#define G_LOG_DOMAIN "ck-doctor"

#include "config.h"

#include <string.h>

#include <libsoup/soup.h>

#include "ck-claude-settings.h"
#include "ck-config.h"
#include "ck-doctor.h"
#include "ck-error.h"

#define API_CHECK_TIMEOUT_SEC 5

struct _CkDoctor
{
  GObject         parent_instance;

  GSettings      *settings;
  CkTokenStore   *store;
  CkHelperRunner *helper;
  CkResolver     *resolver;
  SoupSession    *session;

  CkDoctorChecksFunc  extra_checks;
  gpointer            extra_data;
  GDestroyNotify      extra_destroy;
};

typedef struct
{
  GVariantBuilder *builder;
  SoupMessage     *message;
  char            *api_base;

  /* Read in a thread: a home directory on a slow or hung file system
   * must not stall the agent's main loop. */
  char            *settings_path;
  char            *helper;
  char            *credentials_path;
  gboolean         credentials_exist;
} Run;

static void
run_free (Run *run)
{
  g_variant_builder_unref (run->builder);
  g_clear_object (&run->message);
  g_free (run->api_base);
  g_free (run->settings_path);
  g_free (run->helper);
  g_free (run->credentials_path);
  g_free (run);
}

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
      /* NULL past the year 9999, which an odd expiresAt reaches. */
      expiry = g_date_time_new_from_unix_local (tokens->expires_at_ms / 1000);
      if (expiry != NULL)
        when = g_date_time_format (expiry, "%Y-%m-%d %H:%M");
    }

  if (tokens->expires_at_ms != 0 && tokens->expires_at_ms <= now_ms)
    {
      summary = g_strdup_printf ("The login of %s expired%s%s.",
                                 tokens->account_email != NULL ? tokens->account_email : "this account",
                                 when != NULL ? " at " : "", when != NULL ? when : "");
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
  if (tokens->expiry_assumed)
    add_check (builder, "oauth", "warn", summary,
               "The sign-in server gave this login no lifetime (expires_in), so it is "
               "refreshed an hour after it was issued to be safe.");
  else
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

/* Which callers the agent counts as sandboxed (CkAccessControl); a snap's
 * AppArmor label can only be seen where AppArmor runs. */
static void
check_sandbox (CkDoctor        *self,
               GVariantBuilder *builder)
{
  g_autofree char *apparmor = NULL;
  g_autofree char *summary = NULL;
  const char *kinds;

  if (g_file_get_contents ("/sys/module/apparmor/parameters/enabled", &apparmor, NULL, NULL) &&
      apparmor[0] == 'Y')
    kinds = "Flatpak, another root directory or other namespaces (bubblewrap, firejail), "
            "snap (AppArmor)";
  else
    kinds = "Flatpak, another root directory or other namespaces (bubblewrap, firejail, snap)";

  if (g_settings_get_boolean (self->settings, "allow-sandboxed-callers"))
    {
      summary = g_strdup_printf ("Sandboxed applications may read credentials (%s).", kinds);
      add_check (builder, "sandbox", "warn", summary,
                 "allow-sandboxed-callers is on. Reset it to refuse them.");
    }
  else
    {
      summary = g_strdup_printf ("Sandboxed applications are refused (%s).", kinds);
      /* The agent is one door: the keyring itself answers anyone on the bus. */
      add_check (builder, "sandbox", "ok", summary,
                 "This holds where the sandbox's session bus is filtered (Flatpak, snap, "
                 "firejail --dbus-user=filter): a sandbox given the whole bus can ask the "
                 "keyring directly.");
    }
}

/* What Claude Code itself will do with its settings and files. */
static void
read_claude_files (GTask        *task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  Run *run = task_data;

  run->settings_path = ck_claude_settings_get_default_path ();
  run->credentials_path = ck_claude_settings_get_credentials_path ();
  if (!ck_claude_settings_get_api_key_helper (run->settings_path, &run->helper, NULL))
    g_clear_pointer (&run->helper, g_free);
  run->credentials_exist = g_file_test (run->credentials_path, G_FILE_TEST_EXISTS);
  g_task_return_boolean (task, TRUE);
}

static void
check_claude_files (CkDoctor *self,
                    Run      *run)
{
  GVariantBuilder *builder = run->builder;
  const char *settings_path = run->settings_path;
  const char *helper = run->helper;
  g_autofree char *detail = NULL;
  gboolean have_key = ck_token_store_get_api_key (self->store) != NULL ||
                      ck_helper_runner_is_configured (self->helper);

  if (helper != NULL)
    {
      if (!ck_claude_settings_is_our_helper (helper))
        {
          g_auto(GStrv) words = NULL;
          g_autofree char *program = NULL;

          /* Name the program only: helper commands often carry a key. */
          if (g_shell_parse_argv (helper, NULL, &words, NULL) && words[0] != NULL)
            program = g_path_get_basename (words[0]);
          detail = g_strdup_printf ("%s sets apiKeyHelper to run %s; claude uses it instead of "
                                    "claude-keyring. Run “claude-keyring setup-claude” to use "
                                    "the keyring.", settings_path,
                                    program != NULL ? program : "another command");
          add_check (builder, "claude-settings", "warn",
                     "Claude Code runs another API key helper.", detail);
        }
      else if (!have_key && ck_token_store_get_oauth (self->store) != NULL)
        {
          detail = g_strdup_printf ("%s runs “claude-keyring helper”, which only serves API keys, "
                                    "and claude lets a helper win over the OAuth login. Run "
                                    "“claude-keyring setup-claude --remove” and start claude with "
                                    "“claude-keyring run”.", settings_path);
          add_check (builder, "claude-settings", "fail",
                     "Claude Code's apiKeyHelper would hide the OAuth login.", detail);
        }
      else
        add_check (builder, "claude-settings", "ok",
                   "Claude Code gets its API key from claude-keyring.", NULL);
    }

  if (run->credentials_exist)
    {
      g_free (detail);
      detail = g_strdup_printf ("%s holds a login in plaintext. Run “claude-keyring import” "
                                "to move it into the keyring.", run->credentials_path);
      add_check (builder, "plaintext-credentials", "warn",
                 "A plaintext credentials file is left behind.", detail);
    }
}

/* One line per account when there are several, and the directory rules
 * that name no account. */
static void
check_accounts (CkDoctor        *self,
                GVariantBuilder *builder)
{
  GPtrArray *accounts = ck_token_store_get_accounts (self->store);
  g_autoptr(GVariant) rules = g_settings_get_value (self->settings, "account-rules");
  gint64 now_ms = g_get_real_time () / 1000;
  GVariantIter iter;
  const char *dir, *name;

  for (guint i = 0; accounts->len > 1 && i < accounts->len; i++)
    {
      CkAccount *account = g_ptr_array_index (accounts, i);
      CkOAuthTokens *tokens = account->oauth;
      g_autofree char *summary = NULL;
      g_autoptr(GDateTime) expiry = NULL;
      g_autofree char *when = NULL;
      gboolean expired = tokens != NULL && tokens->expires_at_ms != 0 && tokens->expires_at_ms <= now_ms;

      if (tokens != NULL && tokens->expires_at_ms != 0 &&
          (expiry = g_date_time_new_from_unix_local (tokens->expires_at_ms / 1000)) != NULL)
        when = g_date_time_format (expiry, "%Y-%m-%d %H:%M");
      if (tokens == NULL)
        summary = g_strdup_printf ("Account %s: an API key.", account->name);
      else
        summary = g_strdup_printf ("Account %s: the login of %s, %s %s.", account->name,
                                   tokens->account_email != NULL ? tokens->account_email : "an account",
                                   expired ? "expired" : "valid until", when != NULL ? when : "unknown");
      add_check (builder, "account", expired && tokens->refresh_token == NULL ? "fail"
                                     : expired ? "warn" : "ok", summary, NULL);
    }

  g_variant_iter_init (&iter, rules);
  while (g_variant_iter_next (&iter, "{&s&s}", &dir, &name))
    if (ck_token_store_is_loaded (self->store) && ck_token_store_find_account (self->store, name) == NULL)
      {
        g_autofree char *summary = g_strdup_printf ("The rule for %s names “%s”, which is not an account.",
                                                    dir, name);

        add_check (builder, "account-rules", "fail", summary,
                   "claude started there gets an error. Run “claude-keyring accounts”, then "
                   "“claude-keyring bind DIR NAME” or “claude-keyring unbind DIR”.");
      }
}

static void
finish (GTask *task)
{
  CkDoctor *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);

  check_keyring (self, run->builder);
  check_credential (self, run->builder);
  check_oauth (self, run->builder);
  check_accounts (self, run->builder);
  check_claude_files (self, run);
  check_sandbox (self, run->builder);
  if (self->extra_checks != NULL)
    self->extra_checks (self->extra_data, run->builder);
  g_task_return_pointer (task, g_variant_ref_sink (g_variant_builder_end (run->builder)),
                         (GDestroyNotify) g_variant_unref);
  g_object_unref (task);
}

static void
on_api_reply (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Run *run = g_task_get_task_data (task);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *detail = NULL;
  guint status;

  body = soup_session_send_and_read_finish (SOUP_SESSION (object), result, &error);
  if (body == NULL)
    {
      summary = g_strdup_printf ("Cannot reach %s.", run->api_base);
      add_check (run->builder, "api", "warn", summary, error->message);
      finish (g_steal_pointer (&task));
      return;
    }

  status = soup_message_get_status (run->message);
  if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN)
    {
      summary = g_strdup_printf ("%s refuses the credential (HTTP %u).", run->api_base, status);
      add_check (run->builder, "api", "fail", summary,
                 "Log in again with “claude-keyring login”, or store a valid API key.");
    }
  else if (SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      summary = g_strdup_printf ("%s accepts the credential.", run->api_base);
      add_check (run->builder, "api", "ok", summary, NULL);
    }
  else
    {
      summary = g_strdup_printf ("%s answered HTTP %u.", run->api_base, status);
      detail = g_strdup ("The server is reachable; whether it accepts the credential is unknown.");
      add_check (run->builder, "api", "warn", summary, detail);
    }
  finish (g_steal_pointer (&task));
}

/* A cheap authenticated call, with the headers claude itself would send. */
static void
on_credential (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  CkDoctor *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  g_autoptr(CkCredential) credential = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  SoupMessageHeaders *headers;
  GCancellable *cancellable;

  credential = ck_resolver_get_credential_finish (CK_RESOLVER (object), result, &error);
  run->api_base = ck_config_dup_endpoint (self->settings, CK_ENDPOINT_API_BASE, NULL);
  if (credential == NULL || run->api_base == NULL)
    {
      if (credential == NULL && ck_helper_runner_is_configured (self->helper))
        add_check (run->builder, "helper", "fail", "The API key helper failed.", error->message);
      finish (g_steal_pointer (&task));
      return;
    }
  if (g_strcmp0 (credential->source, "helper") == 0)
    add_check (run->builder, "helper", "ok", "The API key helper printed a key.",
               "It is used instead of any stored credential, as claude would.");

  url = g_strconcat (run->api_base, "/v1/models?limit=1", NULL);
  run->message = soup_message_new (SOUP_METHOD_GET, url);
  if (run->message == NULL)
    {
      finish (g_steal_pointer (&task));
      return;
    }
  headers = soup_message_get_request_headers (run->message);
  soup_message_headers_replace (headers, "anthropic-version", "2023-06-01");
  if (credential->kind == CK_CREDENTIAL_KIND_OAUTH)
    {
      g_autofree char *bearer = g_strconcat ("Bearer ", credential->token, NULL);

      soup_message_headers_replace (headers, "Authorization", bearer);
      soup_message_headers_replace (headers, "anthropic-beta", "oauth-2025-04-20");
      explicit_bzero (bearer, strlen (bearer));
    }
  else
    soup_message_headers_replace (headers, "x-api-key", credential->token);

  cancellable = g_task_get_cancellable (task);
  soup_session_send_and_read_async (self->session, run->message, G_PRIORITY_DEFAULT,
                                    cancellable, on_api_reply, g_steal_pointer (&task));
}

/* The files are read; the rest runs on the main loop. */
static void
on_files_read (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  CkDoctor *self = CK_DOCTOR (object);
  GTask *task = user_data;

  ck_resolver_get_credential_async (self->resolver, NULL, CK_CREDENTIAL_KIND_ANY, 0,
                                    g_task_get_cancellable (task), on_credential, task);
}

void
ck_doctor_run_async (CkDoctor            *self,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_autoptr(GTask) files = NULL;
  GTask *task;
  Run *run;

  g_return_if_fail (CK_IS_DOCTOR (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ck_doctor_run_async);
  run = g_new0 (Run, 1);
  run->builder = g_variant_builder_new (G_VARIANT_TYPE ("aa{sv}"));
  g_task_set_task_data (task, run, (GDestroyNotify) run_free);

  files = g_task_new (self, cancellable, on_files_read, task);
  g_task_set_source_tag (files, ck_doctor_run_async);
  g_task_set_task_data (files, run, NULL);
  g_task_run_in_thread (files, read_claude_files);
}

GVariant *
ck_doctor_run_finish (CkDoctor      *self,
                      GAsyncResult  *result,
                      GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
ck_doctor_set_extra_checks (CkDoctor           *self,
                            CkDoctorChecksFunc  func,
                            gpointer            user_data,
                            GDestroyNotify      destroy)
{
  g_return_if_fail (CK_IS_DOCTOR (self));

  if (self->extra_destroy != NULL)
    self->extra_destroy (self->extra_data);
  self->extra_checks = func;
  self->extra_data = user_data;
  self->extra_destroy = destroy;
}

void
ck_doctor_add_check (GVariantBuilder *builder,
                     const char      *id,
                     const char      *status,
                     const char      *summary,
                     const char      *detail)
{
  add_check (builder, id, status, summary, detail);
}

CkDoctor *
ck_doctor_new (GSettings      *settings,
               CkTokenStore   *store,
               CkHelperRunner *helper,
               CkResolver     *resolver)
{
  CkDoctor *self = g_object_new (CK_TYPE_DOCTOR, NULL);

  self->settings = g_object_ref (settings);
  self->store = g_object_ref (store);
  self->helper = g_object_ref (helper);
  self->resolver = g_object_ref (resolver);
  self->session = soup_session_new_with_options ("timeout", API_CHECK_TIMEOUT_SEC,
                                                 "idle-timeout", API_CHECK_TIMEOUT_SEC,
                                                 "user-agent", "claude-keyring/" PACKAGE_VERSION,
                                                 NULL);
  return self;
}

static void
ck_doctor_dispose (GObject *object)
{
  CkDoctor *self = (CkDoctor *) object;

  g_clear_object (&self->settings);
  g_clear_object (&self->store);
  g_clear_object (&self->helper);
  g_clear_object (&self->resolver);
  g_clear_object (&self->session);
  ck_doctor_set_extra_checks (self, NULL, NULL, NULL);

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
