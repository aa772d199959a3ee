/* ck-ui-test.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Tests cannot read pixels for words, so with CK_UI_TEST_DUMP=PATH the
 * hidden action app.test-dump writes what a person would see right now:
 * every shown window, and in it every mapped row, label, entry and button
 * (a password entry only says that it is there). One line each, fields
 * separated by tabs, for grep. A row's buttons follow its text as
 * "[Label]" fields. The hidden action app.test-click then presses a
 * row's button as a click would (xdotool cannot find it in a scrolled
 * page without a window manager).
 */

#define G_LOG_DOMAIN "ck-ui-test"

#include "config.h"

#include <adwaita.h>

#include "ck-ui-test.h"

static void
append_field (GString    *out,
              const char *text)
{
  g_string_append_c (out, '\t');
  for (const char *p = text != NULL ? text : ""; *p != '\0'; p++)
    g_string_append_c (out, *p == '\n' || *p == '\t' ? ' ' : *p);
}

/* A row's title as shown: without its mnemonic underscore. */
static void
append_row_title (GString    *out,
                  GtkWidget  *row)
{
  const char *title = adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row));
  g_auto(GStrv) parts = NULL;
  g_autofree char *plain = NULL;

  if (title == NULL || !adw_preferences_row_get_use_underline (ADW_PREFERENCES_ROW (row)))
    {
      append_field (out, title);
      return;
    }
  parts = g_strsplit (title, "_", -1);
  plain = g_strjoinv ("", parts);
  append_field (out, plain);
}

/* A button's label as shown: without its mnemonic underscore. */
static char *
dup_button_label (GtkWidget *button)
{
  const char *label = gtk_button_get_label (GTK_BUTTON (button));
  g_auto(GStrv) parts = NULL;

  if (label == NULL)
    label = gtk_widget_get_tooltip_text (button);
  if (label == NULL || !gtk_button_get_use_underline (GTK_BUTTON (button)))
    return g_strdup (label);
  parts = g_strsplit (label, "_", -1);
  return g_strjoinv ("", parts);
}

/* The mapped buttons under @widget, in order. */
static void
collect_buttons (GtkWidget *widget,
                 GPtrArray *buttons)
{
  if (!gtk_widget_get_mapped (widget))
    return;
  if (GTK_IS_BUTTON (widget))
    {
      g_ptr_array_add (buttons, widget);
      return;
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    collect_buttons (child, buttons);
}

static void
dump_widget (GString   *out,
             GtkWidget *widget)
{
  if (!gtk_widget_get_mapped (widget))
    return;

  if (ADW_IS_ACTION_ROW (widget))
    {
      const char *check = g_object_get_data (G_OBJECT (widget), "ck-check-status");

      g_string_append (out, "row");
      append_row_title (out, widget);
      append_field (out, adw_action_row_get_subtitle (ADW_ACTION_ROW (widget)));
      g_autoptr(GPtrArray) buttons = g_ptr_array_new ();

      if (check != NULL)
        append_field (out, check);
      collect_buttons (widget, buttons);
      for (guint i = 0; i < buttons->len; i++)
        {
          g_autofree char *label = dup_button_label (g_ptr_array_index (buttons, i));
          g_autofree char *field = g_strdup_printf ("[%s]", label != NULL ? label : "");

          append_field (out, field);
        }
      g_string_append_c (out, '\n');
      return;
    }

  if (ADW_IS_ENTRY_ROW (widget) || GTK_IS_ENTRY (widget))
    {
      g_string_append (out, "entry");
      if (ADW_IS_ENTRY_ROW (widget))
        append_row_title (out, widget);
      else
        append_field (out, gtk_entry_get_placeholder_text (GTK_ENTRY (widget)));
      append_field (out, gtk_editable_get_text (GTK_EDITABLE (widget)));
      g_string_append_c (out, '\n');
      return;
    }

  if (GTK_IS_PASSWORD_ENTRY (widget))
    {
      g_string_append (out, "password-entry\n");
      return;
    }

  if (GTK_IS_BUTTON (widget))
    {
      g_autofree char *label = dup_button_label (widget);

      g_string_append (out, "button");
      append_field (out, label);
      if (!gtk_widget_is_sensitive (widget))
        append_field (out, "insensitive");
      g_string_append_c (out, '\n');
      return;
    }

  if (GTK_IS_LABEL (widget))
    {
      const char *text = gtk_label_get_text (GTK_LABEL (widget));

      if (text != NULL && text[0] != '\0')
        {
          g_string_append (out, "label");
          append_field (out, text);
          g_string_append_c (out, '\n');
        }
      return;
    }

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    dump_widget (out, child);
}

void
ck_ui_test_dump (CkUi           *ui,
                 const char     *path,
                 gboolean        gtk_ready,
                 CkStatusWindow *status_window,
                 CkTray         *tray)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GListModel) toplevels = NULL;
  g_autoptr(GError) error = NULL;
  CkStatus *status = ck_ui_get_status (ui);

  g_return_if_fail (path != NULL);

  g_string_append_printf (out, "state\t%s\n", ck_status_get_state_name (status));
  g_string_append_printf (out, "tray\t%s\t%s\n", ck_tray_get_bus_name (tray),
                          ck_tray_get_registered (tray) ? "registered" : "unregistered");

  g_string_append_printf (out, "gtk\t%s\n", gtk_ready ? "started" : "not started");

  /* Before the first window GTK is not running: nothing is shown. */
  toplevels = gtk_ready ? g_object_ref (gtk_window_get_toplevels ())
                        : G_LIST_MODEL (g_list_store_new (GTK_TYPE_WINDOW));
  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWidget) window = g_list_model_get_item (toplevels, i);

      if (!gtk_widget_get_visible (window) || !gtk_widget_get_mapped (window))
        continue;

      g_string_append_printf (out, "window\t%s\t%s\n", G_OBJECT_TYPE_NAME (window),
                              gtk_window_get_title (GTK_WINDOW (window)) ?: "");
      dump_widget (out, window);

      if (window == (GtkWidget *) status_window)
        {
          g_autofree char *diagnostics = ck_status_window_dup_diagnostics (status_window);
          g_auto(GStrv) lines = g_strsplit (diagnostics, "\n", -1);

          for (guint j = 0; lines[j] != NULL; j++)
            if (lines[j][0] != '\0')
              g_string_append_printf (out, "diagnostics\t%s\n", lines[j]);
        }
      g_string_append (out, "end-window\n");
    }

  if (!g_file_set_contents (path, out->str, out->len, &error))
    g_warning ("Could not write %s: %s", path, error->message);
}

static gboolean
click_in (GtkWidget  *widget,
          const char *row_title,
          const char *button_label)
{
  if (!gtk_widget_get_mapped (widget))
    return FALSE;

  if (ADW_IS_ACTION_ROW (widget))
    {
      g_autoptr(GPtrArray) buttons = g_ptr_array_new ();

      if (g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), row_title) != 0)
        return FALSE;
      collect_buttons (widget, buttons);
      for (guint i = 0; i < buttons->len; i++)
        {
          GtkWidget *button = g_ptr_array_index (buttons, i);
          g_autofree char *label = dup_button_label (button);

          if (g_strcmp0 (label, button_label) == 0 && gtk_widget_is_sensitive (button))
            {
              /* What a click emits: "clicked", then the button's action. */
              gtk_widget_activate (button);
              return TRUE;
            }
        }
      return FALSE;
    }

  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (click_in (child, row_title, button_label))
      return TRUE;
  return FALSE;
}

/* Presses the button labelled @button_label in the first shown row titled
 * @row_title; FALSE (and a message) when there is none. */
gboolean
ck_ui_test_click (const char *row_title,
                  const char *button_label)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWidget) window = g_list_model_get_item (toplevels, i);

      if (click_in (window, row_title, button_label))
        return TRUE;
    }
  g_message ("test-click: no row “%s” with a button “%s”", row_title, button_label);
  return FALSE;
}
