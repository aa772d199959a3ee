/* ck-ui.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * What the agent shows on a desktop. Everything goes through the public
 * D-Bus API on the agent's own connection (a CkDBusCredentials1 proxy),
 * so the tray, the windows and the CLI see exactly the same thing; only
 * the list of recent reads is taken from CkService directly.
 *
 * Every command is a GAction ("app.login", …) in a group of the UI's own:
 * the tray menu, the windows' buttons and keyboard shortcuts all activate
 * the same ones. The group is not the application's, which GApplication
 * exports on the bus: only what notifications must reach from outside
 * (Status…, Log In…) is on the application as well, behind the agent's
 * access check (src/agent/ck-agent.c). Log Out, Quit and the rest are
 * never on the bus but through the tray, whose objects have the same
 * check (CkTray).
 */

#define G_LOG_DOMAIN "ck-ui"

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n-lib.h>

#include "ck-account-row.h"
#include "ck-api-key-dialog.h"
#include "ck-login-dialog.h"
#include "ck-status-window.h"
#include "ck-tray.h"
#include "ck-ui.h"
#include "ck-ui-test.h"

struct _CkUi
{
  GObject             parent_instance;

  GApplication       *application;     /* owns us */
  CkService          *service;
  GDBusConnection    *connection;
  CkDBusCredentials1 *proxy;
  CkStatus           *status;
  GSettings          *settings;
  GSimpleActionGroup *actions;
  GMenu              *menu;
  CkTray             *tray;
  GCancellable       *cancellable;

  CkStatusWindow     *status_window;
  CkLoginDialog      *login_dialog;
  CkApiKeyDialog     *api_key_dialog;

  GHashTable         *notified_account_errors;   /* account id → last refresh error told */
  CkState             previous_state;
  guint               gtk_ready : 1;
  guint               have_status : 1;
  guint               shut_down : 1;
};

G_DEFINE_FINAL_TYPE (CkUi, ck_ui, G_TYPE_OBJECT)

/* Notifications */

static void
send_notification (CkUi          *self,
                   const char    *id,
                   const char    *title,
                   const char    *body,
                   const char    *button_label,
                   const char    *button_action,
                   GNotificationPriority priority)
{
  g_autoptr(GNotification) notification = g_notification_new (title);
  g_autoptr(GIcon) icon = g_themed_icon_new (APP_ID);

  g_notification_set_body (notification, body);
  g_notification_set_icon (notification, icon);
  g_notification_set_priority (notification, priority);
  g_notification_set_default_action (notification, "app.status");
  if (button_label != NULL)
    g_notification_add_button (notification, button_label, button_action);

  g_debug ("Notification %s: %s", id, title);
  g_application_send_notification (self->application, id, notification);
}

static gboolean
login_dialog_visible (CkUi *self)
{
  return self->login_dialog != NULL && gtk_widget_get_visible (GTK_WIDGET (self->login_dialog));
}

/* "work (you@example.com)": the name the user gave, and whose login it
 * is; the email alone when they are the same. */
static char *
dup_account_label (GVariant   *accounts,
                   const char *email)
{
  const char *name = ck_accounts_find_name (accounts, email);

  if (name == NULL || g_str_equal (name, email))
    return g_strdup (email);
  /* Translators: an account's name, then its email address */
  return g_strdup_printf (_("%s (%s)"), name, email);
}

static void
notify_logged_in (CkUi       *self,
                  const char *account)
{
  g_autofree char *body = NULL;

  if (account != NULL)
    body = g_strdup_printf (_("Claude Code can now use the account %s."), account);
  else
    body = g_strdup (_("Claude Code can now use your account."));
  send_notification (self, "login", _("Logged In to Claude"), body, NULL, NULL,
                     G_NOTIFICATION_PRIORITY_NORMAL);
}

typedef struct
{
  CkUi *self;
  char *email;
} LoginNotice;

static void
login_notice_free (LoginNotice *notice)
{
  g_object_unref (notice->self);
  g_free (notice->email);
  g_free (notice);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LoginNotice, login_notice_free)

/* The login is stored before LoginFinished, but StatusChanged may come
 * after it: the agent's list names the new account. */
static void
on_login_accounts (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(LoginNotice) notice = user_data;
  g_autoptr(GVariant) accounts = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *label = NULL;

  if (!ck_dbus_credentials1_call_list_accounts_finish (CK_DBUS_CREDENTIALS1 (object), &accounts,
                                                       result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      accounts = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARDICT, NULL, 0));
    }

  label = dup_account_label (accounts, notice->email);
  notify_logged_in (notice->self, label);
}

static void
on_login_finished (CkUi       *self,
                   gboolean    ok,
                   const char *message)
{
  /* The dialog shows the result itself when it is open. */
  if (login_dialog_visible (self))
    {
      g_application_withdraw_notification (self->application, "login");
      return;
    }

  if (ok && message != NULL && message[0] != '\0')
    {
      LoginNotice *notice = g_new0 (LoginNotice, 1);

      notice->self = g_object_ref (self);
      notice->email = g_strdup (message);
      ck_dbus_credentials1_call_list_accounts (self->proxy, self->cancellable, on_login_accounts, notice);
    }
  else if (ok)
    notify_logged_in (self, NULL);
  else
    {
      send_notification (self, "login", _("Claude Login Failed"),
                         message != NULL && message[0] != '\0' ? message : _("The server refused the login."),
                         _("Try Again"), "app.login", G_NOTIFICATION_PRIORITY_HIGH);
    }
}

/* A login claude wrote is in the keyring now (CkAutoImport). */
static void
on_auto_imported (CkUi       *self,
                  const char *path,
                  const char *account)
{
  g_autofree char *body = NULL;

  if (account != NULL && account[0] != '\0')
    {
      g_autofree char *label = dup_account_label (ck_status_get_accounts (self->status), account);

      /* Translators: %s are an account (its email address), then a file name */
      body = g_strdup_printf (_("The login of %s that claude wrote to %s is in the keyring now, and out of the file."),
                              label, path);
    }
  else
    /* Translators: %s is a file name */
    body = g_strdup_printf (_("The login claude wrote to %s is in the keyring now, and out of the file."), path);
  send_notification (self, "auto-import", _("Claude Login Moved to the Keyring"), body, NULL, NULL,
                     G_NOTIFICATION_PRIORITY_NORMAL);
}

/* Remembers each account's refresh error; returns the row of one that is
 * new since the last call (NULL when none is), for a notification, and
 * in @any whether some account's last refresh failed. */
static GVariant *
take_new_refresh_error (CkUi     *self,
                        gboolean *any)
{
  GVariant *fresh = NULL;
  GVariantIter iter;
  GVariant *row;

  g_variant_iter_init (&iter, ck_status_get_accounts (self->status));
  while ((row = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) owned = row;
      g_auto(CkAccountRow) account = { 0 };
      const char *error;

      ck_account_row_init (&account, row);
      error = account.last_refresh_error;
      *any |= error[0] != '\0';
      if (error[0] != '\0' &&
          g_strcmp0 (error, g_hash_table_lookup (self->notified_account_errors, account.id)) != 0 &&
          fresh == NULL)
        fresh = g_variant_ref (row);
      g_hash_table_insert (self->notified_account_errors, g_strdup (account.id), g_strdup (error));
    }
  return fresh;
}

static void
notify_status (CkUi *self)
{
  CkState state = ck_status_get_state (self->status);
  gboolean any_failed = FALSE;
  g_autoptr(GVariant) failed = take_new_refresh_error (self, &any_failed);
  gboolean refresh_failed = FALSE;

  /* Each account refreshes on its own: the notification names the one
   * that failed, which need not be the default. */
  if (failed != NULL)
    {
      g_auto(CkAccountRow) account = { 0 };
      g_autofree char *body = NULL;

      ck_account_row_init (&account, failed);
      if (g_str_equal (account.state, "expired"))
        /* Translators: an account's name, then the reason, a sentence */
        body = g_strdup_printf (_("%s: %s Log in again so that Claude Code keeps working."),
                                account.name, account.last_refresh_error);
      else
        /* Translators: an account's name, then the reason, a sentence */
        body = g_strdup_printf (_("%s: %s The current token still works for now; log in again if this persists."),
                                account.name, account.last_refresh_error);
      send_notification (self, "refresh-failed", _("Could Not Renew the Claude Login"), body,
                         _("Log In…"), "app.login", G_NOTIFICATION_PRIORITY_HIGH);
      refresh_failed = TRUE;
    }

  if (state == CK_STATE_EXPIRED && self->previous_state != CK_STATE_EXPIRED &&
      self->previous_state != CK_STATE_UNKNOWN && !refresh_failed)
    send_notification (self, "login-needed", _("Claude Login Expired"),
                       _("Log in again so that Claude Code keeps working."),
                       _("Log In…"), "app.login", G_NOTIFICATION_PRIORITY_HIGH);

  if (!any_failed)
    g_application_withdraw_notification (self->application, "refresh-failed");
  if (state == CK_STATE_LOGGED_IN)
    g_application_withdraw_notification (self->application, "login-needed");
}

/* Tray and menu */

static char *
dup_account_line (CkStatus *status)
{
  const char *account = ck_status_get_account (status);
  const char *source = ck_status_get_source (status);

  switch (ck_status_get_state (status))
    {
    case CK_STATE_LOGGED_IN:
      if (g_str_equal (source, "helper"))
        return g_strdup (_("Using the API key helper"));
      if (g_str_equal (source, "keyring"))
        return g_strdup (_("Using an API key from the keyring"));
      if (account[0] != '\0')
        /* Translators: %s is an email address */
        return g_strdup_printf (_("Logged in as %s"), account);
      return g_strdup (_("Logged in"));

    case CK_STATE_EXPIRED:
      if (account[0] != '\0')
        /* Translators: %s is an email address */
        return g_strdup_printf (_("Login of %s expired"), account);
      return g_strdup (_("Login expired"));

    case CK_STATE_REFRESHING:
      return g_strdup (_("Renewing the login…"));

    case CK_STATE_LOGIN_PENDING:
      return g_strdup (_("Waiting for login in the browser"));

    case CK_STATE_LOGGED_OUT:
      return g_strdup (_("Not logged in"));

    case CK_STATE_LOCKED:
      return g_strdup (_("Keyring locked"));

    case CK_STATE_UNKNOWN:
      return g_strdup (_("Connecting…"));

    case CK_STATE_ERROR:
    default:
      return g_strdup (ck_status_get_title (status));
    }
}

/* One radio item per account, on app.default-account: choosing one makes
 * it the default, as `claude-keyring switch` does. */
static void
append_accounts (CkUi  *self,
                 GMenu *menu)
{
  GVariantIter iter;
  GVariant *row;

  g_variant_iter_init (&iter, ck_status_get_accounts (self->status));
  while ((row = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) owned = row;
      g_autoptr(GMenuItem) item = NULL;
      g_auto(GStrv) parts = NULL;
      g_autofree char *name = NULL;
      g_autofree char *label = NULL;
      g_auto(CkAccountRow) account = { 0 };

      ck_account_row_init (&account, row);
      /* A name is the user's text, not a mnemonic. */
      parts = g_strsplit (account.name, "_", -1);
      name = g_strjoinv ("__", parts);
      if (g_str_equal (account.kind, "api-key"))
        /* Translators: an account's name; the account is an API key */
        label = g_strdup_printf (_("%s (API key)"), name);
      else if (g_str_equal (account.state, "expired"))
        /* Translators: an account's name; its login expired */
        label = g_strdup_printf (_("%s (expired)"), name);
      else
        label = g_strdup (name);

      item = g_menu_item_new (label, NULL);
      g_menu_item_set_action_and_target_value (item, "app.default-account", g_variant_new_string (account.id));
      g_menu_append_item (menu, item);
    }
}

static void
rebuild_menu (CkUi *self)
{
  g_autoptr(GMenu) account = g_menu_new ();
  g_autoptr(GMenu) accounts = g_menu_new ();
  g_autoptr(GMenu) commands = g_menu_new ();
  g_autoptr(GMenu) app = g_menu_new ();
  g_autofree char *account_line = dup_account_line (self->status);
  gboolean any_account = g_variant_n_children (ck_status_get_accounts (self->status)) > 0;

  /* No action: shown as a disabled label. */
  g_menu_append (account, account_line, NULL);
  append_accounts (self, accounts);

  if (ck_status_offers_login (self->status))
    g_menu_append (commands, _("_Log In…"), "app.login");
  if (any_account)
    g_menu_append (commands, _("Add _Account…"), "app.add-account");
  /* Logout removes every account: with several, say so. */
  if (ck_status_has_credentials (self->status))
    g_menu_append (commands,
                   g_variant_n_children (ck_status_get_accounts (self->status)) > 1
                   ? _("Log Out of _All") : _("Log _Out"),
                   "app.logout");
  g_menu_append (commands, _("_API Key…"), "app.set-api-key");

  g_menu_append (app, _("_Status…"), "app.status");
  g_menu_append (app, _("_Quit"), "app.quit");

  g_menu_remove_all (self->menu);
  g_menu_append_section (self->menu, NULL, G_MENU_MODEL (account));
  if (any_account)
    g_menu_append_section (self->menu, NULL, G_MENU_MODEL (accounts));
  g_menu_append_section (self->menu, NULL, G_MENU_MODEL (commands));
  g_menu_append_section (self->menu, NULL, G_MENU_MODEL (app));
}

static void
update_tray (CkUi *self)
{
  g_autofree char *summary = ck_status_dup_summary (self->status);
  g_autofree char *sessions = ck_status_dup_gateway_summary (self->status);
  g_autofree char *title = NULL;
  g_autofree char *description = NULL;

  /* Translators: the tray icon's tooltip title, e.g. "Claude Keyring: Logged In" */
  title = g_strdup_printf (_("Claude Keyring: %s"), ck_status_get_title (self->status));
  if (sessions != NULL)
    description = g_strdup_printf ("%s\n%s", summary, sessions);
  ck_tray_set_icon (self->tray, ck_status_get_icon_name (self->status),
                    ck_status_needs_attention (self->status));
  ck_tray_set_tooltip (self->tray, title, description != NULL ? description : summary);
}

static void
update_actions (CkUi *self)
{
  GAction *logout = g_action_map_lookup_action (G_ACTION_MAP (self->actions), "logout");
  GAction *default_account = g_action_map_lookup_action (G_ACTION_MAP (self->actions), "default-account");
  const char *default_id = ck_status_get_default_account_id (self->status);

  g_simple_action_set_enabled (G_SIMPLE_ACTION (logout), ck_status_has_credentials (self->status));
  /* The agent's word, never our guess: the radio item moves when it says. */
  g_simple_action_set_state (G_SIMPLE_ACTION (default_account),
                             g_variant_new_string (default_id != NULL ? default_id : ""));
}

static void
on_status_changed (CkUi *self)
{
  g_debug ("Status: %s", ck_status_get_state_name (self->status));

  update_actions (self);
  rebuild_menu (self);
  update_tray (self);

  if (self->have_status)
    notify_status (self);
  else
    {
      /* Only changes while we watch are news. */
      gboolean any_failed = FALSE;
      g_autoptr(GVariant) old = take_new_refresh_error (self, &any_failed);
    }

  self->have_status = TRUE;
  self->previous_state = ck_status_get_state (self->status);
}

static void
on_proxy_status_changed (CkUi     *self,
                         GVariant *status)
{
  ck_status_update (self->status, status);
}

static void
on_get_status (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(CkUi) self = user_data;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;

  if (!ck_dbus_credentials1_call_get_status_finish (CK_DBUS_CREDENTIALS1 (object), &status, result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("Could not read the agent's status: %s", error->message);
      return;
    }

  ck_status_update (self->status, status);
}

/* Windows */

/* GTK starts with the first window, not with the agent. */
static gboolean
ensure_gtk (CkUi *self)
{
  g_autoptr(GtkCssProvider) css = NULL;
  GdkDisplay *display;

  if (self->gtk_ready)
    return TRUE;
  if (self->shut_down)
    return FALSE;

  if (!gtk_init_check ())
    {
      g_message ("Cannot open the display “%s”: no windows",
                 g_getenv ("WAYLAND_DISPLAY") ?: g_getenv ("DISPLAY") ?: "");
      return FALSE;
    }
  adw_init ();

  display = gdk_display_get_default ();
  gtk_icon_theme_add_resource_path (gtk_icon_theme_get_for_display (display),
                                    "/io/github/claudekeyring/ClaudeKeyring/icons");
  gtk_window_set_default_icon_name (APP_ID);

  css = gtk_css_provider_new ();
  gtk_css_provider_load_from_resource (css, "/io/github/claudekeyring/ClaudeKeyring/ui/style.css");
  gtk_style_context_add_provider_for_display (display, GTK_STYLE_PROVIDER (css),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);

  self->gtk_ready = TRUE;
  return TRUE;
}

void
ck_ui_show_status (CkUi *self)
{
  g_return_if_fail (CK_IS_UI (self));

  if (!ensure_gtk (self))
    return;
  if (self->status_window == NULL)
    self->status_window = g_object_ref_sink (ck_status_window_new (self));
  gtk_window_present (GTK_WINDOW (self->status_window));
}

/* The login dialog, made on first use; NULL without a display. */
static CkLoginDialog *
ensure_login_dialog (CkUi *self)
{
  if (!ensure_gtk (self))
    return NULL;
  if (self->login_dialog == NULL)
    self->login_dialog = g_object_ref_sink (ck_login_dialog_new (self));
  g_application_withdraw_notification (self->application, "login");
  return self->login_dialog;
}

void
ck_ui_show_login (CkUi *self)
{
  CkLoginDialog *dialog;

  g_return_if_fail (CK_IS_UI (self));

  if ((dialog = ensure_login_dialog (self)) != NULL)
    ck_login_dialog_start (dialog);
}

/* Add Account…: the login dialog asks for the new account's name first. */
void
ck_ui_show_add_account (CkUi *self)
{
  CkLoginDialog *dialog;

  g_return_if_fail (CK_IS_UI (self));

  if ((dialog = ensure_login_dialog (self)) != NULL)
    ck_login_dialog_add_account (dialog);
}

void
ck_ui_show_api_key (CkUi *self)
{
  g_return_if_fail (CK_IS_UI (self));

  if (!ensure_gtk (self))
    return;
  if (self->api_key_dialog == NULL)
    self->api_key_dialog = g_object_ref_sink (ck_api_key_dialog_new (self));
  ck_api_key_dialog_present (self->api_key_dialog);
}

/* Actions */

static void
status_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  ck_ui_show_status (user_data);
}

static void
login_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  ck_ui_show_login (user_data);
}

static void
set_api_key_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  ck_ui_show_api_key (user_data);
}

/* A command of the tray or a window that failed: nobody waits for its
 * answer, so a notification says why. */
static void
notify_failure (CkUi       *self,
                GError     *error,
                const char *id,
                const char *title)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  g_dbus_error_strip_remote_error (error);
  send_notification (self, id, title, error->message, NULL, NULL, G_NOTIFICATION_PRIORITY_HIGH);
}

static void
on_logged_out (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(CkUi) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!ck_dbus_credentials1_call_logout_finish (CK_DBUS_CREDENTIALS1 (object), result, &error))
    notify_failure (self, error, "logout", _("Could Not Log Out"));
}

static void
logout_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  CkUi *self = user_data;

  ck_dbus_credentials1_call_logout (self->proxy, self->cancellable, on_logged_out, g_object_ref (self));
}

static void
add_account_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  ck_ui_show_add_account (user_data);
}

/* Commands of the tray and the windows that are one call of the agent
 * with the action's string (an account, a gateway session): nobody waits
 * for the answer, so a failure is a notification. Like Log Out, they are
 * never on the bus. */
static const struct {
  const char *action;
  const char *method;
  const char *notification;
  const char *failure;     /* N_() */
} string_commands[] = {
  /* The tray's radio items and the status window's Make Default buttons,
   * as `claude-keyring switch`; the state follows from StatusChanged. */
  { "default-account", "SetDefaultAccount", "accounts", N_("Could Not Change the Default Account") },
  /* A row's Log Out: one account. */
  { "remove-account", "RemoveAccount", "accounts", N_("Could Not Log Out") },
  /* A gateway row's End: its token is refused from its next request on. */
  { "end-gateway-session", "CloseGatewaySession", "gateway-session", N_("Could Not End the Gateway Session") },
};

typedef struct
{
  CkUi *self;
  guint command;
} StringCall;

static void
on_string_command_done (GObject      *object,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  StringCall *call = user_data;
  g_autoptr(CkUi) self = call->self;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  guint command = call->command;

  g_free (call);
  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (object), result, &error);
  if (reply == NULL)
    notify_failure (self, error, string_commands[command].notification,
                    _(string_commands[command].failure));
}

static void
string_command_action (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  CkUi *self = user_data;
  const char *name = g_action_get_name (G_ACTION (action));

  for (guint i = 0; i < G_N_ELEMENTS (string_commands); i++)
    if (g_str_equal (string_commands[i].action, name))
      {
        StringCall *call = g_new0 (StringCall, 1);

        call->self = g_object_ref (self);
        call->command = i;
        g_debug ("app.%s: %s (%s)", name, string_commands[i].method, g_variant_get_string (parameter, NULL));
        g_dbus_proxy_call (G_DBUS_PROXY (self->proxy), string_commands[i].method,
                           g_variant_new ("(@s)", parameter), G_DBUS_CALL_FLAGS_NONE, -1,
                           self->cancellable, on_string_command_done, call);
        return;
      }
  g_assert_not_reached ();
}

static void
quit_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  CkUi *self = user_data;

  g_message ("Quit from the tray or a window");
  g_application_quit (self->application);
}

static void
test_dump_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  CkUi *self = user_data;

  ck_ui_test_dump (self, g_getenv ("CK_UI_TEST_DUMP"), self->gtk_ready, self->status_window, self->tray);
}

static void
test_click_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  CkUi *self = user_data;
  const char *row_title, *button_label;

  g_variant_get (parameter, "(&s&s)", &row_title, &button_label);
  if (self->gtk_ready)
    ck_ui_test_click (row_title, button_label);
}

static const GActionEntry actions[] = {
  { "status", status_action },
  { "login", login_action },
  { "logout", logout_action },
  { "set-api-key", set_api_key_action },
  { "add-account", add_account_action },
  { "default-account", string_command_action, "s", "''", NULL },
  { "remove-account", string_command_action, "s" },
  { "end-gateway-session", string_command_action, "s" },
  { "quit", quit_action },
};

/* On the application too: a notification's buttons can only name actions
 * of the application, which GNOME Shell activates over the bus. A test
 * asks for its dump the same way. */
static const GActionEntry notification_actions[] = {
  { "status", status_action },
  { "login", login_action },
};

/* Application */

/* A person's start (the launcher, a terminal) or a second start shows
 * the window. The session's starters (autostart entry, D-Bus activation,
 * systemd unit) pass --gapplication-service, so their start emits no
 * "activate" at all: no guessing from the environment, which GTK changes. */
static void
on_activate (CkUi *self)
{
  ck_ui_show_status (self);
}

static void
on_tray_activate (CkUi *self)
{
  ck_ui_show_status (self);
}

static void
destroy_window (gpointer ptr)
{
  GtkWindow **window = ptr;

  if (*window != NULL)
    gtk_window_destroy (*window);
  g_clear_object (window);
}

void
ck_ui_shutdown (CkUi *self)
{
  g_return_if_fail (CK_IS_UI (self));

  if (self->shut_down)
    return;
  self->shut_down = TRUE;

  g_cancellable_cancel (self->cancellable);
  if (self->tray != NULL)
    ck_tray_stop (self->tray);
  /* Windows exist only once GTK runs. */
  destroy_window (&self->status_window);
  destroy_window (&self->login_dialog);
  destroy_window (&self->api_key_dialog);
}

static gboolean
load_settings (CkUi    *self,
               GError **error)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, APP_ID, TRUE);
  if (schema == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "The settings schema %s is not installed.", APP_ID);
      return FALSE;
    }
  self->settings = g_settings_new_full (schema, NULL, NULL);
  return TRUE;
}

CkUi *
ck_ui_new (GApplication  *application,
           CkService     *service,
           GError       **error)
{
  g_autoptr(CkUi) self = NULL;

  g_return_val_if_fail (G_IS_APPLICATION (application), NULL);
  g_return_val_if_fail (CK_IS_SERVICE (service), NULL);

  self = g_object_new (CK_TYPE_UI, NULL);
  self->application = application;
  self->service = g_object_ref (service);

  if (!(self->connection = g_application_get_dbus_connection (application)))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                           "The agent has no session bus connection.");
      return NULL;
    }
  g_object_ref (self->connection);

  if (!load_settings (self, error))
    return NULL;

  /* Only calls to the bus daemon happen here: properties are not loaded,
   * since a synchronous call to ourselves could never be answered. */
  self->proxy = ck_dbus_credentials1_proxy_new_sync (self->connection,
                                                     G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                                     G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                                     APP_ID, OBJECT_PATH, NULL, error);
  if (self->proxy == NULL)
    return NULL;
  /* Logout revokes at the server, Doctor reaches the API: give them time. */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (self->proxy), 60000);

  self->actions = g_simple_action_group_new ();
  g_action_map_add_action_entries (G_ACTION_MAP (self->actions), actions, G_N_ELEMENTS (actions), self);

  self->menu = g_menu_new ();
  rebuild_menu (self);
  self->tray = ck_tray_new (self->connection, ck_service_get_access_control (service),
                            G_MENU_MODEL (self->menu), G_ACTION_GROUP (self->actions));
  update_tray (self);
  g_signal_connect_object (self->tray, "activate", G_CALLBACK (on_tray_activate), self, G_CONNECT_SWAPPED);
  if (!ck_tray_start (self->tray, error))
    return NULL;

  /* Nothing can fail from here on, so no action outlives a failed start. */
  g_action_map_add_action_entries (G_ACTION_MAP (application), notification_actions,
                                   G_N_ELEMENTS (notification_actions), self);
  if (g_getenv ("CK_UI_TEST_DUMP") != NULL)
    {
      static const GActionEntry test_actions[] = {
        { "test-dump", test_dump_action },
        { "test-click", test_click_action, "(ss)" },
      };

      g_action_map_add_action_entries (G_ACTION_MAP (application), test_actions,
                                       G_N_ELEMENTS (test_actions), self);
    }
  update_actions (self);

  g_signal_connect_object (self->status, "changed", G_CALLBACK (on_status_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->proxy, "status-changed", G_CALLBACK (on_proxy_status_changed),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->proxy, "login-finished", G_CALLBACK (on_login_finished),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (ck_service_get_auto_import (service), "imported",
                           G_CALLBACK (on_auto_imported), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (application, "activate", G_CALLBACK (on_activate), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (application, "shutdown", G_CALLBACK (ck_ui_shutdown), self, G_CONNECT_SWAPPED);

  ck_dbus_credentials1_call_get_status (self->proxy, self->cancellable, on_get_status, g_object_ref (self));

  return g_steal_pointer (&self);
}

GApplication *
ck_ui_get_application (CkUi *self)
{
  g_return_val_if_fail (CK_IS_UI (self), NULL);
  return self->application;
}

CkService *
ck_ui_get_service (CkUi *self)
{
  g_return_val_if_fail (CK_IS_UI (self), NULL);
  return self->service;
}

/* The UI's actions ("app." in its windows). */
GActionGroup *
ck_ui_get_actions (CkUi *self)
{
  g_return_val_if_fail (CK_IS_UI (self), NULL);
  return G_ACTION_GROUP (self->actions);
}

CkStatus *
ck_ui_get_status (CkUi *self)
{
  g_return_val_if_fail (CK_IS_UI (self), NULL);
  return self->status;
}

CkDBusCredentials1 *
ck_ui_get_proxy (CkUi *self)
{
  g_return_val_if_fail (CK_IS_UI (self), NULL);
  return self->proxy;
}

GSettings *
ck_ui_get_settings (CkUi *self)
{
  g_return_val_if_fail (CK_IS_UI (self), NULL);
  return self->settings;
}

static void
ck_ui_dispose (GObject *object)
{
  CkUi *self = (CkUi *) object;

  ck_ui_shutdown (self);
  g_clear_object (&self->tray);
  g_clear_object (&self->menu);
  g_clear_object (&self->actions);
  g_clear_object (&self->proxy);

  G_OBJECT_CLASS (ck_ui_parent_class)->dispose (object);
}

static void
ck_ui_finalize (GObject *object)
{
  CkUi *self = (CkUi *) object;

  g_clear_object (&self->cancellable);
  g_clear_object (&self->status);
  g_clear_object (&self->settings);
  g_clear_object (&self->connection);
  g_clear_object (&self->service);
  g_clear_pointer (&self->notified_account_errors, g_hash_table_unref);

  G_OBJECT_CLASS (ck_ui_parent_class)->finalize (object);
}

static void
ck_ui_class_init (CkUiClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_ui_dispose;
  object_class->finalize = ck_ui_finalize;
}

static void
ck_ui_init (CkUi *self)
{
  self->cancellable = g_cancellable_new ();
  self->status = ck_status_new ();
  self->notified_account_errors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->previous_state = CK_STATE_UNKNOWN;
}

GDBusNodeInfo *
ck_ui_load_introspection (const char *interface_name)
{
  g_autofree char *path = g_strdup_printf ("/io/github/claudekeyring/ClaudeKeyring/ui/%s.xml",
                                           interface_name);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GDBusNodeInfo) node = NULL;

  /* Both are part of this module: a failure is a build error. */
  bytes = g_resources_lookup_data (path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  g_assert (bytes != NULL);
  node = g_dbus_node_info_new_for_xml (g_bytes_get_data (bytes, NULL), NULL);
  g_assert (node != NULL && node->interfaces[0] != NULL);
  return g_steal_pointer (&node);
}
