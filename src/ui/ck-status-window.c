/* ck-status-window.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Everything `claude-keyring status` and `doctor` know, kept current:
 * the rows follow StatusChanged, the expiry counts down every second and
 * the recent reads are looked at every second while the window is shown
 * (the service has no signal for them, and a read costs nothing to list).
 * The gateway's sessions are listed again when StatusChanged says their
 * number changed, and every few seconds while the window is shown for
 * their counters (which have no signal either).
 * Never a secret: the status carries none, reads are who and when, and
 * a session is its command and counters, never its token.
 */

#define G_LOG_DOMAIN "ck-status-window"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "ck-account-row.h"
#include "ck-error.h"
#include "ck-status-window.h"

#define MAX_READ_ROWS 10
/* Seconds between listings of the gateway sessions while shown: their
 * counters move with every request, and nobody reads them faster. */
#define GATEWAY_REFRESH_SECONDS 3

struct _CkStatusWindow
{
  AdwWindow        parent_instance;

  CkUi            *ui;
  CkStatus        *status;
  GCancellable    *cancellable;
  GVariant        *checks;            /* aa{sv} of the last Doctor, or NULL */
  char            *checks_error;
  char            *provider;
  char            *last_state;
  guint            tick_source;
  guint            rerun_source;
  guint            gateway_source;
  guint            last_read_count;
  gboolean         checks_running;
  gboolean         gateway_listing;
  gboolean         gateway_again;

  /* Template widgets */
  AdwToastOverlay *toast_overlay;
  GtkImage        *state_image;
  GtkLabel        *state_title;
  GtkLabel        *state_summary;
  GtkWidget       *login_button;
  GtkWidget       *logout_button;
  AdwPreferencesGroup *accounts_group;
  GtkListBox      *accounts_list;
  AdwActionRow    *source_row;
  AdwActionRow    *account_row;
  AdwActionRow    *organization_row;
  AdwActionRow    *subscription_row;
  AdwActionRow    *expires_row;
  AdwActionRow    *scopes_row;
  AdwActionRow    *provider_row;
  AdwActionRow    *keyring_row;
  AdwActionRow    *refresh_row;
  AdwPreferencesGroup *reads_group;
  GtkListBox      *reads_list;
  GtkListBox      *gateway_list;
  AdwPreferencesGroup *checks_group;
  GtkSpinner      *checks_spinner;
  GtkListBox      *checks_list;
};

G_DEFINE_FINAL_TYPE (CkStatusWindow, ck_status_window, ADW_TYPE_WINDOW)

static void
clear_list (GtkListBox *list)
{
  GtkWidget *child;

  /* gtk_list_box_remove_all() is GTK 4.12. */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (list))) != NULL)
    gtk_list_box_remove (list, child);
}

static GtkWidget *
info_row_new (const char *title,
              const char *subtitle)
{
  GtkWidget *row = adw_action_row_new ();

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  if (subtitle != NULL)
    adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 0);
  return row;
}

static void
set_row (AdwActionRow *row,
         const char   *value)
{
  gboolean shown = value != NULL && value[0] != '\0';

  gtk_widget_set_visible (GTK_WIDGET (row), shown);
  if (shown)
    adw_action_row_set_subtitle (row, value);
}

/* Expiry */

static char *
dup_expiry_text (CkStatus *status)
{
  gint64 expires_at = ck_status_get_expires_at (status);
  gint64 left = expires_at - g_get_real_time () / G_USEC_PER_SEC;
  g_autofree char *when = NULL;
  g_autofree char *duration = NULL;

  if (expires_at <= 0)
    return NULL;

  when = ck_format_time (expires_at);
  duration = ck_format_duration (left);
  if (left > 0)
    /* Translators: a time, then a countdown such as "59 min 02 s" */
    return g_strdup_printf (_("%s, in %s; renewed before then"), when, duration);
  /* Translators: a time, then how long ago such as "3 min 10 s" */
  return g_strdup_printf (_("%s, %s ago"), when, duration);
}

static void
update_expiry (CkStatusWindow *self)
{
  g_autofree char *text = dup_expiry_text (self->status);

  set_row (self->expires_row, text);
}

/* Recent reads */

static CkReadLog *
get_read_log (CkStatusWindow *self)
{
  return ck_service_get_read_log (ck_ui_get_service (self->ui));
}

static void
update_reads (CkStatusWindow *self)
{
  guint count = ck_read_log_get_count (get_read_log (self));
  g_autoptr(GPtrArray) reads = ck_read_log_dup_reads (get_read_log (self));
  g_autofree char *description = NULL;
  guint shown = 0;

  self->last_read_count = count;
  clear_list (self->reads_list);

  description = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                              "%u credential read since the agent started, newest first. Tokens are never shown.",
                                              "%u credential reads since the agent started, newest first. Tokens are never shown.",
                                              count),
                                 count);
  adw_preferences_group_set_description (self->reads_group, description);

  for (; shown < reads->len && shown < MAX_READ_ROWS; shown++)
    {
      const CkRead *read = g_ptr_array_index (reads, shown);
      g_autoptr(GDateTime) time = g_date_time_new_from_unix_local (read->time / G_USEC_PER_SEC);
      g_autofree char *clock = g_date_time_format (time, "%H:%M:%S");
      g_autofree char *basename = read->exe != NULL ? g_path_get_basename (read->exe) : NULL;
      g_autofree char *title = NULL;
      g_autofree char *subtitle = NULL;

      /* Translators: a program name and its process ID */
      title = g_strdup_printf (_("%s (PID %u)"), basename != NULL ? basename : _("Unknown program"),
                               read->pid);
      /* Translators: a time, where the credential came from, the program's path */
      subtitle = g_strdup_printf (_("%s · from %s · %s"), clock,
                                  read->source != NULL ? read->source : "?",
                                  read->exe != NULL ? read->exe : _("unknown executable"));
      gtk_list_box_append (self->reads_list, info_row_new (title, subtitle));
    }

  if (shown == 0)
    gtk_list_box_append (self->reads_list,
                         info_row_new (_("No program has read a credential yet"), NULL));
}

static gboolean
tick_cb (gpointer user_data)
{
  CkStatusWindow *self = user_data;

  update_expiry (self);
  if (ck_read_log_get_count (get_read_log (self)) != self->last_read_count)
    update_reads (self);
  return G_SOURCE_CONTINUE;
}

/* Gateway sessions */

static char *
dup_session_subtitle (GVariant *session)
{
  g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *size = NULL;
  g_autofree char *when = NULL;
  gboolean persistent = FALSE;
  gboolean connected = TRUE;
  guint64 requests = 0, bytes = 0;
  gint64 since = 0;
  guint32 pid = 0;

  g_variant_lookup (session, "persistent", "b", &persistent);
  g_variant_lookup (session, "connected", "b", &connected);
  g_variant_lookup (session, "pid", "u", &pid);
  g_variant_lookup (session, "since", "x", &since);
  g_variant_lookup (session, "requests", "t", &requests);
  g_variant_lookup (session, "bytes", "t", &bytes);

  if (persistent)
    g_ptr_array_add (parts, g_strdup (_("persistent")));
  /* A persistent remote session whose ssh connection is gone: its token
   * waits for the next `claude-keyring ssh --persist`. */
  if (!connected)
    g_ptr_array_add (parts, g_strdup (_("not connected")));
  if (pid != 0)
    /* Translators: a process ID */
    g_ptr_array_add (parts, g_strdup_printf (_("PID %u"), pid));
  if (since > 0)
    {
      when = ck_format_time (since);
      /* Translators: a time such as 14:05 */
      g_ptr_array_add (parts, g_strdup_printf (_("since %s"), when));
    }
  /* A plain %u, for xgettext; no session makes 4 billion requests. */
  requests = MIN (requests, G_MAXUINT);
  g_ptr_array_add (parts, g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u request", "%u requests",
                                                        (gulong) requests),
                                           (guint) requests));
  size = g_format_size (bytes);
  /* Translators: response bytes sent to the program, such as "1.2 kB" */
  g_ptr_array_add (parts, g_strdup_printf (_("%s received"), size));
  g_ptr_array_add (parts, NULL);

  return g_strjoinv (" · ", (char **) parts->pdata);
}

static char *
dup_session_title (GVariant *session)
{
  const char *command = "", *exe = "", *remote = "";

  /* A remote session is for its destination, whatever runs there. */
  if (g_variant_lookup (session, "remote", "&s", &remote) && remote[0] != '\0')
    /* Translators: a remote session; %s is where, such as user@host */
    return g_strdup_printf (_("ssh %s"), remote);
  g_variant_lookup (session, "command", "&s", &command);
  g_variant_lookup (session, "exe", "&s", &exe);
  if (command[0] != '\0')
    return g_strdup (command);
  if (exe[0] != '\0')
    return g_path_get_basename (exe);
  return g_strdup (_("Unknown program"));
}

static GtkWidget *
session_row_new (const char *id)
{
  GtkWidget *row = info_row_new ("", NULL);
  GtkWidget *button = gtk_button_new_with_mnemonic (_("_End"));

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, _("End the session: its token is refused from now on"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "app.end-gateway-session");
  gtk_actionable_set_action_target_value (GTK_ACTIONABLE (button), g_variant_new_string (id));
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
  g_object_set_data_full (G_OBJECT (row), "ck-gateway-session", g_strdup (id), g_free);
  return row;
}

/* Rows are updated in place, so that the counters' refresh neither
 * scrolls nor takes the focus from an End button. */
static void
update_gateway (CkStatusWindow *self,
                GVariant       *sessions,
                const char     *error_message)
{
  g_autoptr(GHashTable) listed = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                        (GDestroyNotify) g_variant_unref);
  g_autoptr(GHashTable) rows = g_hash_table_new (g_str_hash, g_str_equal);
  GtkWidget *child, *next;
  GVariantIter iter;
  GVariant *session;

  if (sessions != NULL)
    {
      g_variant_iter_init (&iter, sessions);
      while ((session = g_variant_iter_next_value (&iter)) != NULL)
        {
          const char *id = NULL;

          if (g_variant_lookup (session, "id", "&s", &id))
            g_hash_table_insert (listed, (gpointer) id, session);
          else
            g_variant_unref (session);
        }
    }

  for (child = gtk_widget_get_first_child (GTK_WIDGET (self->gateway_list)); child != NULL; child = next)
    {
      const char *id = g_object_get_data (G_OBJECT (child), "ck-gateway-session");

      next = gtk_widget_get_next_sibling (child);
      if (id != NULL && g_hash_table_contains (listed, id))
        g_hash_table_insert (rows, (gpointer) id, child);
      else
        gtk_list_box_remove (self->gateway_list, child);
    }

  if (sessions != NULL)
    {
      /* In the list's order: oldest first. */
      g_variant_iter_init (&iter, sessions);
      while ((session = g_variant_iter_next_value (&iter)) != NULL)
        {
          g_autoptr(GVariant) owned = session;
          g_autofree char *title = NULL;
          g_autofree char *subtitle = NULL;
          const char *id = NULL;
          GtkWidget *row;

          if (!g_variant_lookup (session, "id", "&s", &id))
            continue;
          row = g_hash_table_lookup (rows, id);
          if (row == NULL)
            {
              row = session_row_new (id);
              gtk_list_box_append (self->gateway_list, row);
            }
          title = dup_session_title (session);
          subtitle = dup_session_subtitle (session);
          adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
          adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
        }
    }

  if (error_message != NULL)
    gtk_list_box_append (self->gateway_list,
                         info_row_new (_("The gateway sessions could not be listed"), error_message));
  else if (g_hash_table_size (listed) == 0)
    gtk_list_box_append (self->gateway_list,
                         info_row_new (_("No program uses the gateway now"), NULL));
}

static void list_gateway (CkStatusWindow *self);

static void
on_gateway_listed (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(CkStatusWindow) self = user_data;
  g_autoptr(GVariant) sessions = NULL;
  g_autoptr(GError) error = NULL;

  if (!ck_dbus_credentials1_call_list_gateway_sessions_finish (CK_DBUS_CREDENTIALS1 (object), &sessions,
                                                               result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_dbus_error_strip_remote_error (error);
    }

  self->gateway_listing = FALSE;
  update_gateway (self, sessions, error != NULL ? error->message : NULL);
  if (self->gateway_again)
    list_gateway (self);
}

static void
list_gateway (CkStatusWindow *self)
{
  /* One call at a time; a change meanwhile asks once more after it. */
  if (self->gateway_listing)
    {
      self->gateway_again = TRUE;
      return;
    }
  self->gateway_listing = TRUE;
  self->gateway_again = FALSE;
  ck_dbus_credentials1_call_list_gateway_sessions (ck_ui_get_proxy (self->ui), self->cancellable,
                                                   on_gateway_listed, g_object_ref (self));
}

static gboolean
gateway_tick_cb (gpointer user_data)
{
  CkStatusWindow *self = user_data;

  /* Nothing to count without a session; StatusChanged tells of a new one. */
  if (ck_status_get_gateway_sessions (self->status) > 0)
    list_gateway (self);
  return G_SOURCE_CONTINUE;
}

/* Keyring provider: whoever owns org.freedesktop.secrets */

static const char *
provider_name (const char *comm)
{
  if (g_str_has_prefix (comm, "gnome-keyring"))
    return "GNOME Keyring";
  if (g_str_has_prefix (comm, "keepassxc"))
    return "KeePassXC";
  if (g_str_has_prefix (comm, "kwalletd") || g_str_has_prefix (comm, "ksecretd"))
    return "KWallet";
  return comm;
}

static void
on_provider_pid (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(CkStatusWindow) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *comm = NULL;
  guint32 pid;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  g_clear_pointer (&self->provider, g_free);
  if (reply == NULL)
    {
      self->provider = g_strdup (_("No Secret Service is running"));
    }
  else
    {
      g_variant_get (reply, "(u)", &pid);
      path = g_strdup_printf ("/proc/%u/comm", pid);
      if (g_file_get_contents (path, &comm, NULL, NULL))
        {
          g_strstrip (comm);
          self->provider = g_strdup_printf ("%s (org.freedesktop.secrets)", provider_name (comm));
        }
      else
        self->provider = g_strdup ("org.freedesktop.secrets");
    }

  set_row (self->provider_row, self->provider);
}

static void
find_provider (CkStatusWindow *self)
{
  GDBusConnection *connection = g_application_get_dbus_connection (ck_ui_get_application (self->ui));

  g_dbus_connection_call (connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                          g_variant_new ("(s)", "org.freedesktop.secrets"), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, 5000, self->cancellable,
                          on_provider_pid, g_object_ref (self));
}

/* Accounts */

/* "~/projects/work" for a directory in the home directory. */
static char *
dup_display_dir (const char *dir)
{
  const char *home = g_get_home_dir ();
  gsize length = strlen (home);

  if (length > 1 && strncmp (dir, home, length) == 0 && dir[length] == '/')
    return g_strconcat ("~", dir + length, NULL);
  return g_strdup (dir);
}

static char *
dup_account_subtitle (GVariant *row)
{
  g_autoptr(GPtrArray) facts = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_auto(CkAccountRow) account = { 0 };

  ck_account_row_init (&account, row);

  if (account.is_default)
    g_ptr_array_add (facts, g_strdup (_("Default")));
  if (g_str_equal (account.kind, "api-key"))
    g_ptr_array_add (facts, g_strdup (_("API key")));
  else if (g_str_equal (account.state, "refreshing"))
    g_ptr_array_add (facts, g_strdup (_("Renewing the login…")));
  else if (g_str_equal (account.state, "expired"))
    g_ptr_array_add (facts, g_strdup (_("Login expired")));
  else if (account.expires > 0)
    {
      g_autofree char *until = ck_format_time (account.expires);

      /* Translators: a time such as 14:05; the login is renewed before then */
      g_ptr_array_add (facts, g_strdup_printf (_("Logged in, token until %s"), until));
    }
  else
    g_ptr_array_add (facts, g_strdup (_("Logged in")));
  if (account.email[0] != '\0' && !g_str_equal (account.email, account.name))
    g_ptr_array_add (facts, g_strdup (account.email));
  if (account.organization[0] != '\0')
    g_ptr_array_add (facts, g_strdup (account.organization));
  g_ptr_array_add (facts, NULL);
  g_ptr_array_add (lines, g_strjoinv (" · ", (char **) facts->pdata));

  if (account.rules[0] != NULL)
    {
      g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
      g_autofree char *joined = NULL;

      for (guint i = 0; account.rules[i] != NULL; i++)
        g_ptr_array_add (dirs, dup_display_dir (account.rules[i]));
      g_ptr_array_add (dirs, NULL);
      joined = g_strjoinv (", ", (char **) dirs->pdata);
      /* Translators: the directories bound to the account, comma separated */
      g_ptr_array_add (lines, g_strdup_printf (_("Used in %s"), joined));
    }
  if (account.last_refresh_error[0] != '\0')
    /* Translators: the reason, a sentence */
    g_ptr_array_add (lines, g_strdup_printf (_("Renewing failed: %s"), account.last_refresh_error));

  g_ptr_array_add (lines, NULL);
  return g_strjoinv ("\n", (char **) lines->pdata);
}

static GtkWidget *
row_button_new (const char *icon_name,
                const char *label,
                const char *action_name,
                GVariant   *target)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon_name);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, label);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
  gtk_widget_add_css_class (button, "flat");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), action_name);
  gtk_actionable_set_action_target_value (GTK_ACTIONABLE (button), target);
  return button;
}

static GtkWidget *
account_row_new (GVariant *row)
{
  g_autofree char *subtitle = dup_account_subtitle (row);
  g_auto(CkAccountRow) account = { 0 };
  GtkWidget *widget;

  ck_account_row_init (&account, row);
  widget = info_row_new (account.name, subtitle);

  /* The default is marked where a radio item would be; the others offer
   * to become it. */
  if (account.is_default)
    {
      GtkWidget *mark = gtk_image_new_from_icon_name ("starred-symbolic");

      gtk_widget_set_tooltip_text (mark, _("The default account"));
      gtk_accessible_update_property (GTK_ACCESSIBLE (mark), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      _("The default account"), -1);
      adw_action_row_add_prefix (ADW_ACTION_ROW (widget), mark);
    }
  else
    {
      GtkWidget *spacer = gtk_image_new ();

      /* Keeps the names aligned with the default's. */
      gtk_image_set_pixel_size (GTK_IMAGE (spacer), 16);
      gtk_widget_set_size_request (spacer, 16, -1);
      adw_action_row_add_prefix (ADW_ACTION_ROW (widget), spacer);
      adw_action_row_add_suffix (ADW_ACTION_ROW (widget),
                                 row_button_new ("non-starred-symbolic", _("Make Default"),
                                                 "app.default-account", g_variant_new_string (account.id)));
    }
  adw_action_row_add_suffix (ADW_ACTION_ROW (widget),
                             row_button_new ("document-edit-symbolic", _("Rename…"),
                                             "status.rename-account", g_variant_new ("(ss)", account.id, account.name)));
  adw_action_row_add_suffix (ADW_ACTION_ROW (widget),
                             row_button_new ("system-log-out-symbolic",
                                             g_str_equal (account.kind, "api-key") ? _("Remove Key") : _("Log Out"),
                                             "app.remove-account", g_variant_new_string (account.id)));
  g_object_set_data_full (G_OBJECT (widget), "ck-account", g_strdup (account.id), g_free);
  return widget;
}

static void
update_accounts (CkStatusWindow *self)
{
  GVariant *accounts = ck_status_get_accounts (self->status);
  GVariantIter iter;
  GVariant *row;

  clear_list (self->accounts_list);
  gtk_widget_set_visible (GTK_WIDGET (self->accounts_group), g_variant_n_children (accounts) > 0);

  g_variant_iter_init (&iter, accounts);
  while ((row = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) owned = row;

      gtk_list_box_append (self->accounts_list, account_row_new (row));
    }
}

/* Renaming: a small dialog that stays open on a refused name and says
 * why, as the agent words it. */

typedef struct
{
  CkStatusWindow *self;
  GtkWidget      *window;
  GtkWidget      *entry;
  GtkWidget      *error_label;
  GtkWidget      *rename_button;
  char           *id;
  char           *old_name;
} RenameDialog;

static void
rename_dialog_free (RenameDialog *dialog)
{
  g_free (dialog->id);
  g_free (dialog->old_name);
  g_free (dialog);
}

static void
on_account_renamed (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GtkWidget) window = user_data;
  RenameDialog *dialog = g_object_get_data (G_OBJECT (window), "ck-rename");
  g_autoptr(GError) error = NULL;

  gtk_widget_set_sensitive (dialog->entry, TRUE);
  gtk_widget_set_sensitive (dialog->rename_button, TRUE);

  if (!ck_dbus_credentials1_call_rename_account_finish (CK_DBUS_CREDENTIALS1 (object), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_dbus_error_strip_remote_error (error);
      gtk_label_set_label (GTK_LABEL (dialog->error_label), error->message);
      gtk_widget_set_visible (dialog->error_label, TRUE);
      gtk_widget_grab_focus (dialog->entry);
      return;
    }

  if (gtk_widget_get_visible (window))
    {
      g_autofree char *message = NULL;

      /* Translators: an account's old name, then its new one */
      message = g_strdup_printf (_("Renamed “%s” to “%s”"), dialog->old_name,
                                 gtk_editable_get_text (GTK_EDITABLE (dialog->entry)));
      adw_toast_overlay_add_toast (dialog->self->toast_overlay, adw_toast_new (message));
      gtk_window_destroy (GTK_WINDOW (window));
    }
}

static void
on_rename_activate (RenameDialog *dialog)
{
  g_autofree char *name = g_strdup (gtk_editable_get_text (GTK_EDITABLE (dialog->entry)));

  if (!gtk_widget_get_sensitive (dialog->rename_button))
    return;
  gtk_widget_set_visible (dialog->error_label, FALSE);
  gtk_widget_set_sensitive (dialog->entry, FALSE);
  gtk_widget_set_sensitive (dialog->rename_button, FALSE);
  ck_dbus_credentials1_call_rename_account (ck_ui_get_proxy (dialog->self->ui), dialog->id, name,
                                            dialog->self->cancellable, on_account_renamed,
                                            g_object_ref (dialog->window));
}

static void
on_rename_changed (RenameDialog *dialog)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (dialog->entry));

  gtk_widget_set_sensitive (dialog->rename_button, text[0] != '\0' && !g_str_equal (text, dialog->old_name));
}

static void
on_rename_cancel (RenameDialog *dialog)
{
  gtk_window_destroy (GTK_WINDOW (dialog->window));
}

static void
rename_account_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  CkStatusWindow *self = CK_STATUS_WINDOW (widget);
  RenameDialog *dialog = g_new0 (RenameDialog, 1);
  g_autofree char *intro = NULL;
  GtkEventController *shortcuts;
  GtkWidget *header, *cancel, *box, *label;

  g_variant_get (parameter, "(ss)", &dialog->id, &dialog->old_name);
  dialog->self = self;

  dialog->window = adw_window_new ();
  gtk_window_set_title (GTK_WINDOW (dialog->window), _("Rename Account"));
  gtk_window_set_modal (GTK_WINDOW (dialog->window), TRUE);
  gtk_window_set_transient_for (GTK_WINDOW (dialog->window), GTK_WINDOW (self));
  gtk_window_set_destroy_with_parent (GTK_WINDOW (dialog->window), TRUE);
  gtk_window_set_default_size (GTK_WINDOW (dialog->window), 400, -1);
  g_object_set_data_full (G_OBJECT (dialog->window), "ck-rename", dialog,
                          (GDestroyNotify) rename_dialog_free);

  header = adw_header_bar_new ();
  adw_header_bar_set_show_start_title_buttons (ADW_HEADER_BAR (header), FALSE);
  adw_header_bar_set_show_end_title_buttons (ADW_HEADER_BAR (header), FALSE);
  cancel = gtk_button_new_with_mnemonic (_("_Cancel"));
  g_signal_connect_swapped (cancel, "clicked", G_CALLBACK (on_rename_cancel), dialog);
  adw_header_bar_pack_start (ADW_HEADER_BAR (header), cancel);
  dialog->rename_button = gtk_button_new_with_mnemonic (_("_Rename"));
  gtk_widget_add_css_class (dialog->rename_button, "suggested-action");
  gtk_widget_set_sensitive (dialog->rename_button, FALSE);
  g_signal_connect_swapped (dialog->rename_button, "clicked", G_CALLBACK (on_rename_activate), dialog);
  adw_header_bar_pack_end (ADW_HEADER_BAR (header), dialog->rename_button);

  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  gtk_widget_set_margin_top (box, 18);
  gtk_widget_set_margin_bottom (box, 24);
  gtk_widget_set_margin_start (box, 24);
  gtk_widget_set_margin_end (box, 24);
  /* Translators: %s is the account's current name */
  intro = g_strdup_printf (_("A new name for “%s”. Directory bindings and the default follow it."),
                           dialog->old_name);
  label = gtk_label_new (intro);
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 40);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_box_append (GTK_BOX (box), label);

  dialog->entry = gtk_entry_new ();
  gtk_editable_set_text (GTK_EDITABLE (dialog->entry), dialog->old_name);
  gtk_entry_set_placeholder_text (GTK_ENTRY (dialog->entry), _("Account name"));
  gtk_entry_set_input_hints (GTK_ENTRY (dialog->entry), GTK_INPUT_HINT_NO_SPELLCHECK);
  gtk_accessible_update_property (GTK_ACCESSIBLE (dialog->entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Account name"), -1);
  g_signal_connect_swapped (dialog->entry, "activate", G_CALLBACK (on_rename_activate), dialog);
  g_signal_connect_swapped (dialog->entry, "changed", G_CALLBACK (on_rename_changed), dialog);
  gtk_box_append (GTK_BOX (box), dialog->entry);

  dialog->error_label = gtk_label_new (NULL);
  gtk_label_set_wrap (GTK_LABEL (dialog->error_label), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (dialog->error_label), 40);
  gtk_label_set_xalign (GTK_LABEL (dialog->error_label), 0);
  gtk_widget_add_css_class (dialog->error_label, "error");
  gtk_widget_set_visible (dialog->error_label, FALSE);
  gtk_box_append (GTK_BOX (box), dialog->error_label);

  {
    GtkWidget *content = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);

    gtk_box_append (GTK_BOX (content), header);
    gtk_box_append (GTK_BOX (content), box);
    adw_window_set_content (ADW_WINDOW (dialog->window), content);
  }

  shortcuts = gtk_shortcut_controller_new ();
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts),
                                        gtk_shortcut_new (gtk_keyval_trigger_new (GDK_KEY_Escape, 0),
                                                          gtk_named_action_new ("window.close")));
  gtk_widget_add_controller (dialog->window, shortcuts);

  gtk_window_present (GTK_WINDOW (dialog->window));
  gtk_widget_grab_focus (dialog->entry);
}

/* Status */

static void
update_status (CkStatusWindow *self)
{
  CkStatus *status = self->status;
  gboolean oauth = g_str_equal (ck_status_get_source (status), "oauth");
  g_autofree char *summary = ck_status_dup_summary (status);
  g_autofree char *scopes = g_strjoinv (", ", (char **) ck_status_get_scopes (status));
  g_autofree char *keyring = NULL;
  g_autofree char *refresh = NULL;
  const char *detail = ck_status_get_detail (status);
  const char *refresh_error = ck_status_get_last_refresh_error (status);
  gint64 last_refresh = ck_status_get_last_refresh (status);

  gtk_image_set_from_icon_name (self->state_image, ck_status_get_icon_name (status));
  gtk_label_set_label (self->state_title, ck_status_get_title (status));
  gtk_label_set_label (self->state_summary, summary);

  gtk_widget_set_visible (self->login_button, ck_status_offers_login (status));
  gtk_widget_set_visible (self->logout_button, ck_status_has_credentials (status));
  /* Logout removes every account: with several, say so. */
  gtk_button_set_label (GTK_BUTTON (self->logout_button),
                        g_variant_n_children (ck_status_get_accounts (status)) > 1
                        ? _("Log Out of _All") : _("Log _Out"));
  update_accounts (self);

  set_row (self->source_row, ck_status_get_source_label (status));
  set_row (self->account_row, oauth ? ck_status_get_account (status) : NULL);
  set_row (self->organization_row, oauth ? ck_status_get_organization (status) : NULL);
  set_row (self->subscription_row, oauth ? ck_status_get_subscription_label (status) : NULL);
  set_row (self->scopes_row, oauth ? scopes : NULL);
  update_expiry (self);

  if (detail[0] != '\0' && !g_str_equal (ck_status_get_keyring (status), "unlocked"))
    keyring = g_strdup_printf ("%s — %s", ck_status_get_keyring_label (status), detail);
  else
    keyring = g_strdup (ck_status_get_keyring_label (status));
  set_row (self->keyring_row, keyring);

  if (last_refresh > 0)
    {
      g_autofree char *when = ck_format_time (last_refresh);

      if (refresh_error[0] != '\0')
        /* Translators: a time and the reason the refresh failed */
        refresh = g_strdup_printf (_("%s, failed: %s"), when, refresh_error);
      else
        /* Translators: a time */
        refresh = g_strdup_printf (_("%s, succeeded"), when);
    }
  else
    refresh = g_strdup (_("Not since the agent started"));
  set_row (self->refresh_row, oauth ? refresh : NULL);

  gtk_window_set_icon_name (GTK_WINDOW (self), ck_status_get_icon_name (status));
}

static gboolean
rerun_checks_cb (gpointer user_data)
{
  CkStatusWindow *self = user_data;

  self->rerun_source = 0;
  ck_status_window_run_checks (self);
  return G_SOURCE_REMOVE;
}

static void
on_status_changed (CkStatusWindow *self)
{
  const char *state = ck_status_get_state_name (self->status);

  update_status (self);
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    list_gateway (self);

  /* A new state makes the last checks stale (say, "No credentials are
   * stored" after a login): run them again, once things settle. */
  if (g_strcmp0 (state, self->last_state) != 0)
    {
      g_free (self->last_state);
      self->last_state = g_strdup (state);
      if (gtk_widget_get_mapped (GTK_WIDGET (self)) && self->rerun_source == 0)
        self->rerun_source = g_timeout_add (500, rerun_checks_cb, self);
    }
}

/* Checks */

static const char *
check_icon_name (const char *status)
{
  if (g_str_equal (status, "ok"))
    return "emblem-ok-symbolic";
  if (g_str_equal (status, "warn"))
    return "dialog-warning-symbolic";
  return "dialog-error-symbolic";
}

static const char *
check_style_class (const char *status)
{
  if (g_str_equal (status, "ok"))
    return "success";
  if (g_str_equal (status, "warn"))
    return "warning";
  return "error";
}

static const char *
check_status_label (const char *status)
{
  if (g_str_equal (status, "ok"))
    return _("Passed");
  if (g_str_equal (status, "warn"))
    return _("Warning");
  return _("Failed");
}

static void
update_checks (CkStatusWindow *self)
{
  GVariantIter iter;
  GVariant *check;

  gtk_spinner_set_spinning (self->checks_spinner, self->checks_running);
  gtk_widget_set_visible (GTK_WIDGET (self->checks_spinner), self->checks_running);
  clear_list (self->checks_list);

  if (self->checks_error != NULL)
    {
      gtk_list_box_append (self->checks_list,
                           info_row_new (_("The checks could not run"), self->checks_error));
      return;
    }

  if (self->checks == NULL)
    {
      gtk_list_box_append (self->checks_list, info_row_new (_("Running the checks…"), NULL));
      return;
    }

  g_variant_iter_init (&iter, self->checks);
  while ((check = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) owned = check;
      const char *status = "fail", *summary = "", *detail = "";
      GtkWidget *icon;
      GtkWidget *row;

      g_variant_lookup (check, "status", "&s", &status);
      g_variant_lookup (check, "summary", "&s", &summary);
      g_variant_lookup (check, "detail", "&s", &detail);

      row = info_row_new (summary, detail[0] != '\0' ? detail : NULL);
      icon = gtk_image_new_from_icon_name (check_icon_name (status));
      gtk_widget_add_css_class (icon, check_style_class (status));
      gtk_accessible_update_property (GTK_ACCESSIBLE (icon),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, check_status_label (status),
                                      -1);
      gtk_widget_set_tooltip_text (icon, check_status_label (status));
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
      g_object_set_data_full (G_OBJECT (row), "ck-check-status", g_strdup (status), g_free);
      gtk_list_box_append (self->checks_list, row);
    }
}

static void
on_doctor (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(CkStatusWindow) self = user_data;
  g_autoptr(GVariant) checks = NULL;
  g_autoptr(GError) error = NULL;

  if (!ck_dbus_credentials1_call_doctor_finish (CK_DBUS_CREDENTIALS1 (object), &checks, result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_dbus_error_strip_remote_error (error);
      g_free (self->checks_error);
      self->checks_error = g_strdup (error->message);
    }
  else
    {
      g_clear_pointer (&self->checks_error, g_free);
      g_clear_pointer (&self->checks, g_variant_unref);
      self->checks = g_steal_pointer (&checks);
    }

  self->checks_running = FALSE;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "status.run-checks", TRUE);
  update_checks (self);
}

void
ck_status_window_run_checks (CkStatusWindow *self)
{
  g_return_if_fail (CK_IS_STATUS_WINDOW (self));

  if (self->checks_running)
    return;

  self->checks_running = TRUE;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "status.run-checks", FALSE);
  update_checks (self);
  ck_dbus_credentials1_call_doctor (ck_ui_get_proxy (self->ui), self->cancellable,
                                    on_doctor, g_object_ref (self));
}

/* Diagnostics */

char *
ck_status_window_dup_diagnostics (CkStatusWindow *self)
{
  CkStatus *status;
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *summary = NULL;
  g_autofree char *expiry = NULL;
  g_autofree char *scopes = NULL;
  GVariantIter iter;
  GVariant *check;

  g_return_val_if_fail (CK_IS_STATUS_WINDOW (self), NULL);

  status = self->status;
  summary = ck_status_dup_summary (status);
  expiry = dup_expiry_text (status);
  scopes = g_strjoinv (" ", (char **) ck_status_get_scopes (status));

  /* Plain, untranslated keys so that a bug report reads the same for
   * everyone; only what the status and checks say, never a token. */
  g_string_append_printf (text, "claude-keyring %s\n", PACKAGE_VERSION);
  g_string_append_printf (text, "state: %s (%s)\n", ck_status_get_state_name (status), summary);
  g_string_append_printf (text, "source: %s\n", ck_status_get_source (status));
  if (ck_status_get_account (status)[0] != '\0')
    g_string_append_printf (text, "account: %s\n", ck_status_get_account (status));
  if (ck_status_get_organization (status)[0] != '\0')
    g_string_append_printf (text, "organization: %s\n", ck_status_get_organization (status));
  if (ck_status_get_subscription (status)[0] != '\0')
    g_string_append_printf (text, "subscription: %s\n", ck_status_get_subscription (status));
  if (expiry != NULL)
    g_string_append_printf (text, "expires: %s\n", expiry);
  if (scopes[0] != '\0')
    g_string_append_printf (text, "scopes: %s\n", scopes);
  g_string_append_printf (text, "keyring: %s%s%s\n", ck_status_get_keyring (status),
                          self->provider != NULL ? ", " : "", self->provider != NULL ? self->provider : "");
  if (ck_status_get_detail (status)[0] != '\0')
    g_string_append_printf (text, "detail: %s\n", ck_status_get_detail (status));
  if (ck_status_get_last_refresh (status) > 0)
    {
      g_autoptr(GDateTime) time = g_date_time_new_from_unix_utc (ck_status_get_last_refresh (status));
      g_autofree char *iso = g_date_time_format_iso8601 (time);
      const char *refresh_error = ck_status_get_last_refresh_error (status);

      g_string_append_printf (text, "last refresh: %s %s\n", iso,
                              refresh_error[0] != '\0' ? refresh_error : "ok");
    }
  if (g_variant_n_children (ck_status_get_accounts (status)) > 0)
    {
      GVariant *row;

      g_string_append (text, "accounts:\n");
      g_variant_iter_init (&iter, ck_status_get_accounts (status));
      while ((row = g_variant_iter_next_value (&iter)) != NULL)
        {
          g_autoptr(GVariant) owned = row;
          g_auto(CkAccountRow) account = { 0 };
          g_autofree char *joined = NULL;

          ck_account_row_init (&account, row);
          joined = g_strjoinv (", ", (char **) account.rules);
          g_string_append_printf (text, "  %s (%s, %s%s)%s%s\n", account.name, account.kind, account.state,
                                  account.is_default ? ", default" : "",
                                  joined[0] != '\0' ? ": " : "", joined);
        }
    }
  g_string_append_printf (text, "credential reads: %u\n",
                          ck_read_log_get_count (get_read_log (self)));
  g_string_append_printf (text, "gateway sessions: %u\n", ck_status_get_gateway_sessions (status));

  if (self->checks != NULL)
    {
      g_string_append (text, "checks:\n");
      g_variant_iter_init (&iter, self->checks);
      while ((check = g_variant_iter_next_value (&iter)) != NULL)
        {
          g_autoptr(GVariant) owned = check;
          const char *id = "", *check_status = "", *summary_text = "", *detail = "";

          g_variant_lookup (check, "id", "&s", &id);
          g_variant_lookup (check, "status", "&s", &check_status);
          g_variant_lookup (check, "summary", "&s", &summary_text);
          g_variant_lookup (check, "detail", "&s", &detail);
          g_string_append_printf (text, "  [%s] %s: %s\n", check_status, id, summary_text);
          if (detail[0] != '\0')
            g_string_append_printf (text, "         %s\n", detail);
        }
    }
  else if (self->checks_error != NULL)
    g_string_append_printf (text, "checks: could not run: %s\n", self->checks_error);

  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
copy_diagnostics_action (GtkWidget  *widget,
                         const char *action_name,
                         GVariant   *parameter)
{
  CkStatusWindow *self = CK_STATUS_WINDOW (widget);
  g_autofree char *text = ck_status_window_dup_diagnostics (self);

  gdk_clipboard_set_text (gtk_widget_get_clipboard (widget), text);
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (_("Diagnostics copied")));
}

static void
run_checks_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  ck_status_window_run_checks (CK_STATUS_WINDOW (widget));
}

/* Showing and hiding */

static void
ck_status_window_map (GtkWidget *widget)
{
  CkStatusWindow *self = CK_STATUS_WINDOW (widget);

  GTK_WIDGET_CLASS (ck_status_window_parent_class)->map (widget);

  update_status (self);
  update_reads (self);
  list_gateway (self);
  find_provider (self);
  ck_status_window_run_checks (self);
  if (self->tick_source == 0)
    self->tick_source = g_timeout_add_seconds (1, tick_cb, self);
  if (self->gateway_source == 0)
    self->gateway_source = g_timeout_add_seconds (GATEWAY_REFRESH_SECONDS, gateway_tick_cb, self);
}

static void
ck_status_window_unmap (GtkWidget *widget)
{
  CkStatusWindow *self = CK_STATUS_WINDOW (widget);

  g_clear_handle_id (&self->tick_source, g_source_remove);
  g_clear_handle_id (&self->rerun_source, g_source_remove);
  g_clear_handle_id (&self->gateway_source, g_source_remove);

  GTK_WIDGET_CLASS (ck_status_window_parent_class)->unmap (widget);
}

static void
ck_status_window_dispose (GObject *object)
{
  CkStatusWindow *self = (CkStatusWindow *) object;

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->tick_source, g_source_remove);
  g_clear_handle_id (&self->rerun_source, g_source_remove);
  g_clear_handle_id (&self->gateway_source, g_source_remove);
  if (self->status != NULL)
    g_signal_handlers_disconnect_by_data (self->status, self);
  g_clear_object (&self->status);
  g_clear_object (&self->ui);

  gtk_widget_dispose_template (GTK_WIDGET (self), CK_TYPE_STATUS_WINDOW);

  G_OBJECT_CLASS (ck_status_window_parent_class)->dispose (object);
}

static void
ck_status_window_finalize (GObject *object)
{
  CkStatusWindow *self = (CkStatusWindow *) object;

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->checks, g_variant_unref);
  g_clear_pointer (&self->checks_error, g_free);
  g_clear_pointer (&self->provider, g_free);
  g_clear_pointer (&self->last_state, g_free);

  G_OBJECT_CLASS (ck_status_window_parent_class)->finalize (object);
}

static void
ck_status_window_class_init (CkStatusWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ck_status_window_dispose;
  object_class->finalize = ck_status_window_finalize;

  widget_class->map = ck_status_window_map;
  widget_class->unmap = ck_status_window_unmap;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/claudekeyring/ClaudeKeyring/ui/ck-status-window.ui");
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, state_image);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, state_title);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, state_summary);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, login_button);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, logout_button);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, accounts_group);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, accounts_list);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, source_row);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, account_row);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, organization_row);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, subscription_row);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, expires_row);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, scopes_row);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, provider_row);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, keyring_row);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, refresh_row);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, reads_group);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, reads_list);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, gateway_list);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, checks_group);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, checks_spinner);
  gtk_widget_class_bind_template_child (widget_class, CkStatusWindow, checks_list);

  gtk_widget_class_install_action (widget_class, "status.run-checks", NULL, run_checks_action);
  gtk_widget_class_install_action (widget_class, "status.rename-account", "(ss)", rename_account_action);
  gtk_widget_class_install_action (widget_class, "status.copy-diagnostics", NULL, copy_diagnostics_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK, "status.run-checks", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_c, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "status.copy-diagnostics", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK, "window.close", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_l, GDK_CONTROL_MASK, "app.login", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_q, GDK_CONTROL_MASK, "app.quit", NULL);
}

static void
ck_status_window_init (CkStatusWindow *self)
{
  self->cancellable = g_cancellable_new ();

  gtk_widget_init_template (GTK_WIDGET (self));
}

CkStatusWindow *
ck_status_window_new (CkUi *ui)
{
  CkStatusWindow *self;

  g_return_val_if_fail (CK_IS_UI (ui), NULL);

  self = g_object_new (CK_TYPE_STATUS_WINDOW, NULL);
  self->ui = g_object_ref (ui);
  self->status = g_object_ref (ck_ui_get_status (ui));

  /* The window is not a GtkApplicationWindow (the agent is a plain
   * GApplication), and the actions are the UI's, not the application's:
   * give it them as "app" by hand. */
  gtk_widget_insert_action_group (GTK_WIDGET (self), "app", ck_ui_get_actions (ui));
  g_signal_connect_object (self->status, "changed", G_CALLBACK (on_status_changed),
                           self, G_CONNECT_SWAPPED);

  update_status (self);
  update_checks (self);
  update_gateway (self, NULL, NULL);
  return self;
}
