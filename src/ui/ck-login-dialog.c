/* ck-login-dialog.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The agent does the login (PKCE, the loopback redirect, the token
 * exchange); this dialog only drives it over D-Bus like the CLI does:
 * Login with open-browser false (the dialog opens the browser itself, so
 * a failure shows here instead of in the agent's log), CompleteLogin for
 * a pasted code#state, CancelLogin when the user gives up, and
 * LoginFinished for the result.
 */

#define G_LOG_DOMAIN "ck-login-dialog"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "ck-error.h"
#include "ck-login-dialog.h"
#include "ck-loopback-server.h"

typedef enum
{
  STATE_IDLE,
  STATE_NAMING,    /* Add Account…: asking for the new account's name */
  STATE_STARTING,
  STATE_WAITING,   /* our login, waiting for the browser or a code */
  STATE_BUSY,      /* someone else's login is pending */
  STATE_SUCCESS,
  STATE_FAILURE,
} State;

struct _CkLoginDialog
{
  AdwWindow           parent_instance;

  CkUi               *ui;
  CkDBusCredentials1 *proxy;
  GCancellable       *cancellable;
  char               *url;
  char               *account_name;   /* the Login's "name", or NULL */
  State               state;
  guint               present_source;
  gboolean            present_when_ready;
  gboolean            restart_after_cancel;

  /* Template widgets */
  AdwToastOverlay    *toast_overlay;
  GtkWidget          *cancel_button;
  GtkStack           *stack;
  GtkEntry           *name_entry;
  GtkLabel           *name_error_label;
  GtkSpinner         *starting_spinner;
  GtkLabel           *url_label;
  GtkLabel           *browser_error_label;
  GtkSpinner         *waiting_spinner;
  GtkLabel           *waiting_label;
  GtkEntry           *code_entry;
  GtkWidget          *code_button;
  GtkLabel           *code_error_label;
  AdwStatusPage      *success_page;
  AdwStatusPage      *failure_page;
  GtkWidget          *start_over_button;
  GtkWidget          *done_button;
  GtkWidget          *try_again_button;
};

G_DEFINE_FINAL_TYPE (CkLoginDialog, ck_login_dialog, ADW_TYPE_WINDOW)

static void start_login (CkLoginDialog *self);

static void
set_state (CkLoginDialog *self,
           State          state)
{
  static const char * const pages[] = {
    [STATE_IDLE] = "starting",
    [STATE_NAMING] = "naming",
    [STATE_STARTING] = "starting",
    [STATE_WAITING] = "waiting",
    [STATE_BUSY] = "busy",
    [STATE_SUCCESS] = "success",
    [STATE_FAILURE] = "failure",
  };

  self->state = state;
  gtk_stack_set_visible_child_name (self->stack, pages[state]);

  /* First shown with its real page, so that the window is sized for it
   * (it does not grow when the link arrives after it was mapped). */
  if (self->present_when_ready && state != STATE_STARTING && state != STATE_IDLE)
    {
      self->present_when_ready = FALSE;
      g_clear_handle_id (&self->present_source, g_source_remove);
      gtk_window_present (GTK_WINDOW (self));
    }
  gtk_spinner_set_spinning (self->starting_spinner, state == STATE_STARTING);
  gtk_spinner_set_spinning (self->waiting_spinner, state == STATE_WAITING);
  gtk_widget_set_visible (self->cancel_button,
                          state == STATE_NAMING || state == STATE_STARTING ||
                          state == STATE_WAITING || state == STATE_BUSY);

  if (state == STATE_WAITING)
    {
      gtk_label_set_label (self->waiting_label, _("Waiting for approval…"));
      gtk_widget_set_visible (GTK_WIDGET (self->browser_error_label), FALSE);
      gtk_widget_set_visible (GTK_WIDGET (self->code_error_label), FALSE);
      gtk_editable_set_text (GTK_EDITABLE (self->code_entry), "");
      gtk_widget_set_sensitive (GTK_WIDGET (self->code_entry), TRUE);
    }

  /* The keyboard starts where the next step is: the code field while
   * the browser does its part, else the page's main button. */
  switch (state)
    {
    case STATE_NAMING:
      gtk_widget_grab_focus (GTK_WIDGET (self->name_entry));
      break;
    case STATE_WAITING:
      gtk_widget_grab_focus (GTK_WIDGET (self->code_entry));
      break;
    case STATE_BUSY:
      gtk_widget_grab_focus (self->start_over_button);
      break;
    case STATE_SUCCESS:
      gtk_widget_grab_focus (self->done_button);
      break;
    case STATE_FAILURE:
      gtk_widget_grab_focus (self->try_again_button);
      break;
    case STATE_IDLE:
    case STATE_STARTING:
    default:
      break;
    }
}

static void
show_failure (CkLoginDialog *self,
              const char    *message)
{
  adw_status_page_set_description (self->failure_page, message);
  set_state (self, STATE_FAILURE);
}

static char *
error_message (GError *error)
{
  g_dbus_error_strip_remote_error (error);
  return g_strdup (error->message);
}

/* Browser */

static void
on_browser_opened (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(CkLoginDialog) self = user_data;
  g_autoptr(GError) error = NULL;

  if (gtk_show_uri_full_finish (GTK_WINDOW (object), result, &error))
    return;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  g_debug ("Could not open a browser: %s", error->message);
  gtk_label_set_label (self->browser_error_label,
                       _("No browser could be opened here. Copy the link to a browser instead, then paste the code below."));
  gtk_widget_set_visible (GTK_WIDGET (self->browser_error_label), TRUE);
}

static void
open_browser (CkLoginDialog *self)
{
  g_autofree char *start_url = NULL;

  if (self->url == NULL)
    return;

  /* Other users can read the browser's command line: give it /start. */
  start_url = ck_loopback_dup_start_uri (self->url);
  gtk_show_uri_full (GTK_WINDOW (self), start_url ? start_url : self->url, GDK_CURRENT_TIME,
                     self->cancellable, on_browser_opened, g_object_ref (self));
}

/* Login */

static void
on_login (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(CkLoginDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;

  if (!ck_dbus_credentials1_call_login_finish (CK_DBUS_CREDENTIALS1 (object), &url, result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      if (self->state != STATE_STARTING)
        return;
      if (g_error_matches (error, CK_ERROR, CK_ERROR_LOGIN_IN_PROGRESS))
        {
          set_state (self, STATE_BUSY);
          return;
        }
      g_autofree char *message = error_message (error);
      /* A name the agent refuses: say why where it is typed. */
      if (self->account_name != NULL && g_error_matches (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT))
        {
          gtk_label_set_label (self->name_error_label, message);
          gtk_widget_set_visible (GTK_WIDGET (self->name_error_label), TRUE);
          set_state (self, STATE_NAMING);
          return;
        }
      show_failure (self, message);
      return;
    }

  /* Cancelled while the agent was starting it: take it back. */
  if (self->state != STATE_STARTING)
    {
      ck_dbus_credentials1_call_cancel_login (self->proxy, NULL, NULL, NULL);
      return;
    }

  g_free (self->url);
  self->url = g_steal_pointer (&url);
  gtk_label_set_label (self->url_label, self->url);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->url_label), self->url);
  set_state (self, STATE_WAITING);
  open_browser (self);
}

static void
start_login (CkLoginDialog *self)
{
  GVariantBuilder options;

  g_clear_pointer (&self->url, g_free);
  set_state (self, STATE_STARTING);

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "open-browser", g_variant_new_boolean (FALSE));
  if (self->account_name != NULL)
    g_variant_builder_add (&options, "{sv}", "name", g_variant_new_string (self->account_name));
  ck_dbus_credentials1_call_login (self->proxy, g_variant_builder_end (&options),
                                   self->cancellable, on_login, g_object_ref (self));
}

static void
on_cancelled (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(CkLoginDialog) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!ck_dbus_credentials1_call_cancel_login_finish (CK_DBUS_CREDENTIALS1 (object), result, &error))
    g_debug ("CancelLogin failed: %s", error->message);

  if (self->restart_after_cancel)
    {
      self->restart_after_cancel = FALSE;
      start_login (self);
    }
}

static void
cancel_login (CkLoginDialog *self,
              gboolean       restart)
{
  self->restart_after_cancel = restart;
  set_state (self, restart ? STATE_STARTING : STATE_IDLE);
  /* Not self->cancellable: the agent must hear this even as we close. */
  ck_dbus_credentials1_call_cancel_login (self->proxy, NULL, on_cancelled, g_object_ref (self));
}

static void
on_login_finished (CkLoginDialog *self,
                   gboolean       ok,
                   const char    *message)
{
  if (self->state != STATE_WAITING && self->state != STATE_BUSY)
    return;

  if (ok)
    {
      g_autofree char *description = NULL;

      if (message != NULL && message[0] != '\0')
        /* Translators: %s is the account's email address */
        description = g_strdup_printf (_("Claude Code can now use the account %s."), message);
      else
        description = g_strdup (_("Claude Code can now use your account."));
      adw_status_page_set_description (self->success_page, description);
      set_state (self, STATE_SUCCESS);
      gtk_window_present (GTK_WINDOW (self));
    }
  else
    {
      show_failure (self, message != NULL && message[0] != '\0' ? message : _("The server refused the login."));
      gtk_window_present (GTK_WINDOW (self));
    }
}

/* Manual code */

static void
on_code_completed (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(CkLoginDialog) self = user_data;
  g_autoptr(GError) error = NULL;

  gtk_widget_set_sensitive (GTK_WIDGET (self->code_entry), TRUE);

  if (ck_dbus_credentials1_call_complete_login_finish (CK_DBUS_CREDENTIALS1 (object), result, &error))
    return;   /* LoginFinished tells the rest */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  {
    g_autofree char *message = error_message (error);

    gtk_label_set_label (self->code_error_label, message);
    gtk_widget_set_visible (GTK_WIDGET (self->code_error_label), TRUE);
    gtk_label_set_label (self->waiting_label, _("Waiting for approval…"));
    gtk_widget_grab_focus (GTK_WIDGET (self->code_entry));
  }
}

static void
on_code_activate (CkLoginDialog *self)
{
  g_autofree char *code = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->code_entry)));

  g_strstrip (code);
  if (code[0] == '\0' || self->state != STATE_WAITING)
    return;

  gtk_widget_set_visible (GTK_WIDGET (self->code_error_label), FALSE);
  gtk_widget_set_sensitive (GTK_WIDGET (self->code_entry), FALSE);
  gtk_widget_set_sensitive (self->code_button, FALSE);
  gtk_label_set_label (self->waiting_label, _("Checking the code…"));
  ck_dbus_credentials1_call_complete_login (self->proxy, code, self->cancellable,
                                            on_code_completed, g_object_ref (self));
}

static void
on_code_changed (CkLoginDialog *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->code_entry));

  gtk_widget_set_sensitive (self->code_button, text != NULL && text[0] != '\0');
}

/* Add Account…: the login is for the account named here, a new one;
 * without a name the agent names it after the login's email. */
static void
on_name_activate (CkLoginDialog *self)
{
  g_autofree char *name = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->name_entry)));

  if (self->state != STATE_NAMING)
    return;
  g_strstrip (name);
  g_clear_pointer (&self->account_name, g_free);
  if (name[0] != '\0')
    self->account_name = g_steal_pointer (&name);
  gtk_widget_set_visible (GTK_WIDGET (self->name_error_label), FALSE);
  start_login (self);
}

/* Buttons */

static void
on_open_clicked (CkLoginDialog *self)
{
  gtk_widget_set_visible (GTK_WIDGET (self->browser_error_label), FALSE);
  open_browser (self);
}

static void
on_copy_clicked (CkLoginDialog *self)
{
  if (self->url == NULL)
    return;
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)), self->url);
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (_("Link copied")));
}

static void
on_cancel_clicked (CkLoginDialog *self)
{
  gtk_window_close (GTK_WINDOW (self));
}

static void
on_close_clicked (CkLoginDialog *self)
{
  gtk_window_close (GTK_WINDOW (self));
}

static void
on_try_again_clicked (CkLoginDialog *self)
{
  start_login (self);
}

static void
on_start_over_clicked (CkLoginDialog *self)
{
  cancel_login (self, TRUE);
}

static gboolean
on_close_request (CkLoginDialog *self)
{
  /* Closing is giving up: the agent stops waiting too. Someone else's
   * pending login (STATE_BUSY) is left alone. */
  if (self->state == STATE_STARTING || self->state == STATE_WAITING)
    cancel_login (self, FALSE);
  else
    set_state (self, STATE_IDLE);
  return FALSE;
}

/* Public */

static gboolean
present_cb (gpointer user_data)
{
  CkLoginDialog *self = user_data;

  /* The agent is slow to answer: show the spinner meanwhile. */
  self->present_source = 0;
  self->present_when_ready = FALSE;
  gtk_window_present (GTK_WINDOW (self));
  return G_SOURCE_REMOVE;
}

void
ck_login_dialog_start (CkLoginDialog *self)
{
  g_return_if_fail (CK_IS_LOGIN_DIALOG (self));

  if (gtk_widget_get_visible (GTK_WIDGET (self)))
    {
      if (self->state == STATE_SUCCESS || self->state == STATE_FAILURE || self->state == STATE_NAMING)
        {
          g_clear_pointer (&self->account_name, g_free);
          start_login (self);
        }
      gtk_window_present (GTK_WINDOW (self));
      return;
    }

  g_clear_pointer (&self->account_name, g_free);
  self->present_when_ready = TRUE;
  if (self->present_source == 0)
    self->present_source = g_timeout_add (500, present_cb, self);
  start_login (self);
}

/* Add Account…: asks for the new account's name first. A login already
 * under way in the dialog is left to finish. */
void
ck_login_dialog_add_account (CkLoginDialog *self)
{
  g_return_if_fail (CK_IS_LOGIN_DIALOG (self));

  if (gtk_widget_get_visible (GTK_WIDGET (self)) &&
      self->state != STATE_SUCCESS && self->state != STATE_FAILURE)
    {
      gtk_window_present (GTK_WINDOW (self));
      return;
    }

  g_clear_pointer (&self->account_name, g_free);
  gtk_editable_set_text (GTK_EDITABLE (self->name_entry), "");
  gtk_widget_set_visible (GTK_WIDGET (self->name_error_label), FALSE);
  self->present_when_ready = TRUE;
  set_state (self, STATE_NAMING);
}

gboolean
ck_login_dialog_is_waiting (CkLoginDialog *self)
{
  g_return_val_if_fail (CK_IS_LOGIN_DIALOG (self), FALSE);

  return gtk_widget_get_visible (GTK_WIDGET (self)) &&
         (self->state == STATE_STARTING || self->state == STATE_WAITING);
}

static void
ck_login_dialog_dispose (GObject *object)
{
  CkLoginDialog *self = (CkLoginDialog *) object;

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->present_source, g_source_remove);
  if (self->proxy != NULL)
    g_signal_handlers_disconnect_by_data (self->proxy, self);
  g_clear_object (&self->proxy);
  g_clear_object (&self->ui);

  gtk_widget_dispose_template (GTK_WIDGET (self), CK_TYPE_LOGIN_DIALOG);

  G_OBJECT_CLASS (ck_login_dialog_parent_class)->dispose (object);
}

static void
ck_login_dialog_finalize (GObject *object)
{
  CkLoginDialog *self = (CkLoginDialog *) object;

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->url, g_free);
  g_clear_pointer (&self->account_name, g_free);

  G_OBJECT_CLASS (ck_login_dialog_parent_class)->finalize (object);
}

static void
ck_login_dialog_class_init (CkLoginDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ck_login_dialog_dispose;
  object_class->finalize = ck_login_dialog_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/claudekeyring/ClaudeKeyring/ui/ck-login-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, stack);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, name_entry);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, name_error_label);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, starting_spinner);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, url_label);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, browser_error_label);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, waiting_spinner);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, waiting_label);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, code_entry);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, code_button);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, code_error_label);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, success_page);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, failure_page);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, start_over_button);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, done_button);
  gtk_widget_class_bind_template_child (widget_class, CkLoginDialog, try_again_button);
  gtk_widget_class_bind_template_callback (widget_class, on_close_request);
  gtk_widget_class_bind_template_callback (widget_class, on_cancel_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_open_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_copy_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_name_activate);
  gtk_widget_class_bind_template_callback (widget_class, on_code_activate);
  gtk_widget_class_bind_template_callback (widget_class, on_code_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_start_over_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_try_again_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_close_clicked);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK, "window.close", NULL);
}

static void
ck_login_dialog_init (CkLoginDialog *self)
{
  self->cancellable = g_cancellable_new ();

  gtk_widget_init_template (GTK_WIDGET (self));
}

CkLoginDialog *
ck_login_dialog_new (CkUi *ui)
{
  CkLoginDialog *self;

  g_return_val_if_fail (CK_IS_UI (ui), NULL);

  self = g_object_new (CK_TYPE_LOGIN_DIALOG, NULL);
  self->ui = g_object_ref (ui);
  self->proxy = g_object_ref (ck_ui_get_proxy (ui));

  gtk_widget_insert_action_group (GTK_WIDGET (self), "app", ck_ui_get_actions (ui));
  g_signal_connect_object (self->proxy, "login-finished", G_CALLBACK (on_login_finished),
                           self, G_CONNECT_SWAPPED);
  return self;
}
