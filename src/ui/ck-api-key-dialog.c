/* ck-api-key-dialog.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The key goes straight from a GtkPasswordEntry (whose buffer lives in
 * non-pageable memory and is wiped) to SetApiKey, and the entry is
 * emptied afterwards: the dialog never shows a stored key, not even
 * masked. The helper command is the agent's GSettings key, so the CLI,
 * dconf-editor and this field all edit the same thing.
 */

#define G_LOG_DOMAIN "ck-api-key-dialog"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "ck-api-key-dialog.h"

struct _CkApiKeyDialog
{
  AdwWindow           parent_instance;

  CkUi               *ui;
  GCancellable       *cancellable;
  gboolean            busy;

  /* Template widgets */
  AdwToastOverlay    *toast_overlay;
  GtkWidget          *save_button;
  GtkPasswordEntry   *key_entry;
  GtkLabel           *stored_label;
  GtkWidget          *clear_button;
  AdwEntryRow        *helper_row;
  GtkLabel           *error_label;
};

G_DEFINE_FINAL_TYPE (CkApiKeyDialog, ck_api_key_dialog, ADW_TYPE_WINDOW)

static char *
dup_helper_text (CkApiKeyDialog *self)
{
  g_autofree char *text = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->helper_row)));

  return g_strstrip (g_steal_pointer (&text));
}

static gboolean
helper_changed (CkApiKeyDialog *self)
{
  g_autofree char *stored = g_settings_get_string (ck_ui_get_settings (self->ui), "api-key-helper");
  g_autofree char *text = dup_helper_text (self);

  return g_strcmp0 (stored, text) != 0;
}

static void
update_sensitivity (CkApiKeyDialog *self)
{
  const char *key = gtk_editable_get_text (GTK_EDITABLE (self->key_entry));
  const char *source = ck_status_get_source (ck_ui_get_status (self->ui));

  gtk_widget_set_sensitive (self->save_button,
                            !self->busy && ((key != NULL && key[0] != '\0') || helper_changed (self)));
  /* An API key in the keyring wins over OAuth, so with OAuth (or
   * nothing) in use none is stored; behind a helper there may be one. */
  gtk_widget_set_sensitive (self->clear_button, !self->busy &&
                            (g_str_equal (source, "keyring") || g_str_equal (source, "helper")));
}

static void
show_error (CkApiKeyDialog *self,
            GError         *error)
{
  g_dbus_error_strip_remote_error (error);
  gtk_label_set_label (self->error_label, error->message);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), TRUE);
}

static void
update_stored_label (CkApiKeyDialog *self)
{
  CkStatus *status = ck_ui_get_status (self->ui);
  const char *source = ck_status_get_source (status);

  if (g_str_equal (source, "keyring"))
    gtk_label_set_label (self->stored_label, _("An API key is stored and in use. Saving a new one replaces it."));
  else if (g_str_equal (source, "helper"))
    gtk_label_set_label (self->stored_label, _("The API key helper is in use; it wins over a stored key."));
  else
    gtk_label_set_label (self->stored_label, _("No API key is in use."));

  update_sensitivity (self);
}

static void
on_key_stored (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(CkApiKeyDialog) self = user_data;
  g_autoptr(GError) error = NULL;

  self->busy = FALSE;
  if (!ck_dbus_credentials1_call_set_api_key_finish (CK_DBUS_CREDENTIALS1 (object), result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error);
      update_sensitivity (self);
      return;
    }

  gtk_editable_set_text (GTK_EDITABLE (self->key_entry), "");
  update_sensitivity (self);
  gtk_window_close (GTK_WINDOW (self));
}

static void
on_save_clicked (CkApiKeyDialog *self)
{
  const char *key = gtk_editable_get_text (GTK_EDITABLE (self->key_entry));

  if (self->busy)
    return;

  gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);

  if (helper_changed (self))
    {
      g_autofree char *helper = dup_helper_text (self);

      g_settings_set_string (ck_ui_get_settings (self->ui), "api-key-helper", helper);
    }

  if (key == NULL || key[0] == '\0')
    {
      gtk_window_close (GTK_WINDOW (self));
      return;
    }

  self->busy = TRUE;
  update_sensitivity (self);
  ck_dbus_credentials1_call_set_api_key (ck_ui_get_proxy (self->ui), key, self->cancellable,
                                         on_key_stored, g_object_ref (self));
}

static void
on_key_cleared (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(CkApiKeyDialog) self = user_data;
  g_autoptr(GError) error = NULL;

  self->busy = FALSE;
  update_sensitivity (self);

  if (!ck_dbus_credentials1_call_clear_api_key_finish (CK_DBUS_CREDENTIALS1 (object), result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error);
      return;
    }

  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (_("Stored API key removed")));
}

static void
on_clear_clicked (CkApiKeyDialog *self)
{
  if (self->busy)
    return;

  self->busy = TRUE;
  update_sensitivity (self);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);
  ck_dbus_credentials1_call_clear_api_key (ck_ui_get_proxy (self->ui), self->cancellable,
                                           on_key_cleared, g_object_ref (self));
}

static void
on_changed (CkApiKeyDialog *self)
{
  update_sensitivity (self);
}

void
ck_api_key_dialog_present (CkApiKeyDialog *self)
{
  g_autofree char *helper = NULL;

  g_return_if_fail (CK_IS_API_KEY_DIALOG (self));

  if (!gtk_widget_get_visible (GTK_WIDGET (self)))
    {
      helper = g_settings_get_string (ck_ui_get_settings (self->ui), "api-key-helper");
      gtk_editable_set_text (GTK_EDITABLE (self->key_entry), "");
      gtk_editable_set_text (GTK_EDITABLE (self->helper_row), helper);
      gtk_widget_set_visible (GTK_WIDGET (self->error_label), FALSE);
      update_stored_label (self);
      update_sensitivity (self);
    }

  gtk_window_present (GTK_WINDOW (self));
  gtk_widget_grab_focus (GTK_WIDGET (self->key_entry));
}

static gboolean
ck_api_key_dialog_close_request (GtkWindow *window)
{
  CkApiKeyDialog *self = CK_API_KEY_DIALOG (window);

  /* Nothing typed outlives the dialog. */
  gtk_editable_set_text (GTK_EDITABLE (self->key_entry), "");

  return GTK_WINDOW_CLASS (ck_api_key_dialog_parent_class)->close_request (window);
}

static void
ck_api_key_dialog_dispose (GObject *object)
{
  CkApiKeyDialog *self = (CkApiKeyDialog *) object;

  g_cancellable_cancel (self->cancellable);
  if (self->ui != NULL)
    g_signal_handlers_disconnect_by_data (ck_ui_get_status (self->ui), self);
  g_clear_object (&self->ui);

  gtk_widget_dispose_template (GTK_WIDGET (self), CK_TYPE_API_KEY_DIALOG);

  G_OBJECT_CLASS (ck_api_key_dialog_parent_class)->dispose (object);
}

static void
ck_api_key_dialog_finalize (GObject *object)
{
  CkApiKeyDialog *self = (CkApiKeyDialog *) object;

  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (ck_api_key_dialog_parent_class)->finalize (object);
}

static void
ck_api_key_dialog_class_init (CkApiKeyDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = ck_api_key_dialog_dispose;
  object_class->finalize = ck_api_key_dialog_finalize;
  window_class->close_request = ck_api_key_dialog_close_request;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/claudekeyring/ClaudeKeyring/ui/ck-api-key-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, CkApiKeyDialog, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, CkApiKeyDialog, save_button);
  gtk_widget_class_bind_template_child (widget_class, CkApiKeyDialog, key_entry);
  gtk_widget_class_bind_template_child (widget_class, CkApiKeyDialog, stored_label);
  gtk_widget_class_bind_template_child (widget_class, CkApiKeyDialog, clear_button);
  gtk_widget_class_bind_template_child (widget_class, CkApiKeyDialog, helper_row);
  gtk_widget_class_bind_template_child (widget_class, CkApiKeyDialog, error_label);
  gtk_widget_class_bind_template_callback (widget_class, on_save_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_clear_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_changed);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK, "window.close", NULL);
}

static void
ck_api_key_dialog_init (CkApiKeyDialog *self)
{
  self->cancellable = g_cancellable_new ();

  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_window_set_default_widget (GTK_WINDOW (self), self->save_button);
}

CkApiKeyDialog *
ck_api_key_dialog_new (CkUi *ui)
{
  CkApiKeyDialog *self;

  g_return_val_if_fail (CK_IS_UI (ui), NULL);

  self = g_object_new (CK_TYPE_API_KEY_DIALOG, NULL);
  self->ui = g_object_ref (ui);

  gtk_widget_insert_action_group (GTK_WIDGET (self), "app", ck_ui_get_actions (ui));
  g_signal_connect_object (ck_ui_get_status (ui), "changed", G_CALLBACK (update_stored_label),
                           self, G_CONNECT_SWAPPED);
  return self;
}
