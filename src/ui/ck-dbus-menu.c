/* ck-dbus-menu.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Tray hosts draw the item's menu themselves from com.canonical.dbusmenu
 * (protocol version 3). This serves a GMenuModel that way: items are
 * numbered depth first (0 is the root), sections become separators, an
 * item's "enabled" is its action's, and a "clicked" event activates the
 * action in the UI's action group. So the tray menu is the same GActions
 * as the window and the keyboard, never a copy of them.
 *
 * Items without an action are shown disabled: that is how the menu holds
 * a label such as the account line.
 *
 * An item keeps its id for as long as the menu shows it, and an id is
 * never given to another item: a host's click may be sent for the layout
 * it last fetched while the menu is rebuilt (when logging in turns "Log
 * In…" into "Log Out"), and must then reach the same item or none.
 */

#define G_LOG_DOMAIN "ck-dbus-menu"

#include "config.h"

#include <string.h>

#include <gtk/gtk.h>

#include "ck-dbus-menu.h"
#include "ck-ui.h"

#define DBUSMENU_INTERFACE "com.canonical.dbusmenu"

typedef struct _Item Item;

struct _Item
{
  int        id;
  GPtrArray *children;   /* of Item, NULL unless a submenu or the root */
  char      *label;
  char      *action;     /* name in the action group, without "app." */
  GVariant  *target;
  char      *icon_name;
  guint      separator : 1;
};

struct _CkDBusMenu
{
  GObject          parent_instance;

  GMenuModel      *model;
  GActionGroup    *actions;
  GPtrArray       *items;       /* of Item, depth first; owns them */
  GHashTable      *by_id;       /* id → Item */
  GHashTable      *ids;         /* item key (see item_key) → id */
  int              next_id;
  GPtrArray       *models;      /* every model whose changes we follow */
  GDBusConnection *connection;
  char            *object_path;
  guint            registration_id;
  guint            rebuild_source;
  guint            revision;
};

G_DEFINE_FINAL_TYPE (CkDBusMenu, ck_dbus_menu, G_TYPE_OBJECT)

static void
item_free (Item *item)
{
  g_clear_pointer (&item->children, g_ptr_array_unref);
  g_clear_pointer (&item->label, g_free);
  g_clear_pointer (&item->action, g_free);
  g_clear_pointer (&item->target, g_variant_unref);
  g_clear_pointer (&item->icon_name, g_free);
  g_free (item);
}

static Item *
item_new (CkDBusMenu *self,
          Item       *parent)
{
  Item *item = g_new0 (Item, 1);

  item->id = -1;
  g_ptr_array_add (self->items, item);
  if (parent != NULL)
    g_ptr_array_add (parent->children, item);
  return item;
}

/* What makes an item the same item in the next layout. */
static char *
item_key (Item  *item,
          guint  n_separators)
{
  g_autofree char *target = item->target != NULL ? g_variant_print (item->target, TRUE) : NULL;

  if (item->separator)
    return g_strdup_printf ("separator %u", n_separators);
  return g_strdup_printf ("%s\x1f%s\x1f%s\x1f%s",
                          item->label ?: "", item->action ?: "", target ?: "",
                          item->children != NULL ? "submenu" : "");
}

/* Gives every item of a new layout its id: the one it had in the previous
 * layout, or one never used before. */
static void
assign_ids (CkDBusMenu *self)
{
  g_autoptr(GHashTable) previous = g_steal_pointer (&self->ids);
  guint n_separators = 0;

  self->ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_remove_all (self->by_id);

  for (guint i = 0; i < self->items->len; i++)
    {
      Item *item = g_ptr_array_index (self->items, i);
      g_autofree char *key = NULL;
      gpointer id;

      if (i == 0)
        item->id = 0;   /* the root */
      else
        {
          key = item_key (item, item->separator ? n_separators++ : 0);
          if (!g_hash_table_contains (self->ids, key) &&
              previous != NULL && g_hash_table_lookup_extended (previous, key, NULL, &id))
            item->id = GPOINTER_TO_INT (id);
          else
            item->id = self->next_id++;
          if (!g_hash_table_contains (self->ids, key))
            g_hash_table_insert (self->ids, g_steal_pointer (&key), GINT_TO_POINTER (item->id));
        }
      g_hash_table_insert (self->by_id, GINT_TO_POINTER (item->id), item);
    }
}

static Item *
lookup_item (CkDBusMenu *self,
             int         id)
{
  return g_hash_table_lookup (self->by_id, GINT_TO_POINTER (id));
}

static void schedule_rebuild (CkDBusMenu *self);

static void
on_model_items_changed (CkDBusMenu *self)
{
  schedule_rebuild (self);
}

static void
follow_model (CkDBusMenu *self,
              GMenuModel *model)
{
  if (g_ptr_array_find (self->models, model, NULL))
    return;
  g_ptr_array_add (self->models, g_object_ref (model));
  g_signal_connect_object (model, "items-changed", G_CALLBACK (on_model_items_changed),
                           self, G_CONNECT_SWAPPED);
}

static void
add_separator (CkDBusMenu *self,
               Item       *parent)
{
  Item *last;

  if (parent->children->len == 0)
    return;
  last = g_ptr_array_index (parent->children, parent->children->len - 1);
  if (!last->separator)
    item_new (self, parent)->separator = TRUE;
}

static void
add_model (CkDBusMenu *self,
           Item       *parent,
           GMenuModel *model)
{
  gboolean after_section = FALSE;
  int n_items;

  follow_model (self, model);
  n_items = g_menu_model_get_n_items (model);

  for (int i = 0; i < n_items; i++)
    {
      g_autoptr(GMenuModel) section = g_menu_model_get_item_link (model, i, G_MENU_LINK_SECTION);
      g_autoptr(GMenuModel) submenu = NULL;
      g_autoptr(GVariant) icon = NULL;
      g_autofree char *action = NULL;
      Item *item;

      if (section != NULL)
        {
          add_separator (self, parent);
          add_model (self, parent, section);
          after_section = TRUE;
          continue;
        }

      if (after_section)
        add_separator (self, parent);
      after_section = FALSE;

      item = item_new (self, parent);
      g_menu_model_get_item_attribute (model, i, G_MENU_ATTRIBUTE_LABEL, "s", &item->label);
      if (g_menu_model_get_item_attribute (model, i, G_MENU_ATTRIBUTE_ACTION, "s", &action) &&
          g_str_has_prefix (action, "app."))
        item->action = g_strdup (action + strlen ("app."));
      item->target = g_menu_model_get_item_attribute_value (model, i, G_MENU_ATTRIBUTE_TARGET, NULL);

      icon = g_menu_model_get_item_attribute_value (model, i, G_MENU_ATTRIBUTE_ICON, NULL);
      if (icon != NULL)
        {
          g_autoptr(GIcon) gicon = g_icon_deserialize (icon);

          if (G_IS_THEMED_ICON (gicon))
            item->icon_name = g_strdup (g_themed_icon_get_names (G_THEMED_ICON (gicon))[0]);
        }

      submenu = g_menu_model_get_item_link (model, i, G_MENU_LINK_SUBMENU);
      if (submenu != NULL)
        {
          item->children = g_ptr_array_new ();
          add_model (self, item, submenu);
        }
    }

  /* A section that ends the menu leaves no separator behind. */
  if (parent->children->len > 0)
    {
      Item *last = g_ptr_array_index (parent->children, parent->children->len - 1);

      if (last->separator)
        g_ptr_array_remove_index (parent->children, parent->children->len - 1);
    }
}

static void
rebuild (CkDBusMenu *self)
{
  Item *root;

  for (guint i = 0; i < self->models->len; i++)
    g_signal_handlers_disconnect_by_func (g_ptr_array_index (self->models, i),
                                          on_model_items_changed, self);
  g_ptr_array_set_size (self->models, 0);
  g_hash_table_remove_all (self->by_id);
  g_ptr_array_set_size (self->items, 0);

  root = item_new (self, NULL);
  root->children = g_ptr_array_new ();
  add_model (self, root, self->model);
  assign_ids (self);
  self->revision++;
}

static gboolean
rebuild_cb (gpointer user_data)
{
  CkDBusMenu *self = user_data;

  self->rebuild_source = 0;
  rebuild (self);
  if (self->registration_id != 0)
    g_dbus_connection_emit_signal (self->connection, NULL, self->object_path,
                                   DBUSMENU_INTERFACE, "LayoutUpdated",
                                   g_variant_new ("(ui)", self->revision, 0), NULL);
  return G_SOURCE_REMOVE;
}

/* A GMenu changes one item at a time: send hosts one new layout. */
static void
schedule_rebuild (CkDBusMenu *self)
{
  if (self->rebuild_source == 0)
    self->rebuild_source = g_idle_add (rebuild_cb, self);
}

static gboolean
wanted (const char * const *names,
        const char         *name)
{
  return names == NULL || names[0] == NULL || g_strv_contains (names, name);
}

static GVariant *
item_properties (CkDBusMenu         *self,
                 Item               *item,
                 const char * const *names)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);

  if (item->id == 0)
    {
      if (wanted (names, "children-display"))
        g_variant_builder_add (&builder, "{sv}", "children-display", g_variant_new_string ("submenu"));
      return g_variant_builder_end (&builder);
    }

  if (item->separator)
    {
      if (wanted (names, "type"))
        g_variant_builder_add (&builder, "{sv}", "type", g_variant_new_string ("separator"));
      return g_variant_builder_end (&builder);
    }

  if (wanted (names, "label"))
    g_variant_builder_add (&builder, "{sv}", "label", g_variant_new_string (item->label ?: ""));

  if (wanted (names, "enabled"))
    {
      gboolean enabled = item->action != NULL &&
                         g_action_group_has_action (self->actions, item->action) &&
                         g_action_group_get_action_enabled (self->actions, item->action);

      g_variant_builder_add (&builder, "{sv}", "enabled", g_variant_new_boolean (enabled));
    }

  if (item->icon_name != NULL && wanted (names, "icon-name"))
    g_variant_builder_add (&builder, "{sv}", "icon-name", g_variant_new_string (item->icon_name));

  if (item->children != NULL && wanted (names, "children-display"))
    g_variant_builder_add (&builder, "{sv}", "children-display", g_variant_new_string ("submenu"));

  /* Boolean state is a check box, a state with a target a radio item. */
  if (item->action != NULL && g_action_group_has_action (self->actions, item->action))
    {
      g_autoptr(GVariant) state = g_action_group_get_action_state (self->actions, item->action);

      if (state != NULL && g_variant_is_of_type (state, G_VARIANT_TYPE_BOOLEAN) && item->target == NULL)
        {
          if (wanted (names, "toggle-type"))
            g_variant_builder_add (&builder, "{sv}", "toggle-type", g_variant_new_string ("checkmark"));
          if (wanted (names, "toggle-state"))
            g_variant_builder_add (&builder, "{sv}", "toggle-state",
                                   g_variant_new_int32 (g_variant_get_boolean (state)));
        }
      else if (state != NULL && item->target != NULL)
        {
          if (wanted (names, "toggle-type"))
            g_variant_builder_add (&builder, "{sv}", "toggle-type", g_variant_new_string ("radio"));
          if (wanted (names, "toggle-state"))
            g_variant_builder_add (&builder, "{sv}", "toggle-state",
                                   g_variant_new_int32 (g_variant_equal (state, item->target)));
        }
    }

  return g_variant_builder_end (&builder);
}

static GVariant *
serialize_item (CkDBusMenu         *self,
                Item               *item,
                int                 depth,
                const char * const *names)
{
  GVariantBuilder children;

  g_variant_builder_init (&children, G_VARIANT_TYPE ("av"));
  if (item->children != NULL && depth != 0)
    for (guint i = 0; i < item->children->len; i++)
      g_variant_builder_add (&children, "v",
                             serialize_item (self, g_ptr_array_index (item->children, i),
                                             depth > 0 ? depth - 1 : -1, names));

  return g_variant_new ("(i@a{sv}av)", item->id, item_properties (self, item, names), &children);
}

static gboolean
activate_item (CkDBusMenu *self,
               int         id)
{
  Item *item = lookup_item (self, id);

  if (item == NULL)
    return FALSE;

  if (item->action != NULL &&
      g_action_group_has_action (self->actions, item->action) &&
      g_action_group_get_action_enabled (self->actions, item->action))
    {
      g_debug ("Menu item %d activates app.%s", id, item->action);
      g_action_group_activate_action (self->actions, item->action, item->target);
    }
  return TRUE;
}

static void
handle_method_call (GDBusConnection       *connection,
                    const char            *sender,
                    const char            *object_path,
                    const char            *interface_name,
                    const char            *method_name,
                    GVariant              *parameters,
                    GDBusMethodInvocation *invocation,
                    gpointer               user_data)
{
  CkDBusMenu *self = user_data;

  /* A host may ask right after a change, before the idle rebuild ran. */
  if (self->rebuild_source != 0)
    {
      g_clear_handle_id (&self->rebuild_source, g_source_remove);
      rebuild_cb (self);
    }

  if (g_str_equal (method_name, "GetLayout"))
    {
      g_autofree const char **names = NULL;
      int parent_id, depth;
      Item *item;

      g_variant_get (parameters, "(ii^a&s)", &parent_id, &depth, &names);
      if (!(item = lookup_item (self, parent_id)))
        {
          g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                                                 "No menu item has the id %d.", parent_id);
          return;
        }
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(u@(ia{sv}av))", self->revision,
                                                            serialize_item (self, item, depth, names)));
    }
  else if (g_str_equal (method_name, "GetGroupProperties"))
    {
      g_autoptr(GVariantIter) ids = NULL;
      g_autofree const char **names = NULL;
      GVariantBuilder builder;
      int id;

      g_variant_get (parameters, "(ai^a&s)", &ids, &names);
      g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ia{sv})"));
      if (g_variant_iter_n_children (ids) == 0)
        for (guint i = 0; i < self->items->len; i++)
          {
            Item *item = g_ptr_array_index (self->items, i);

            g_variant_builder_add (&builder, "(i@a{sv})", item->id,
                                   item_properties (self, item, names));
          }
      while (g_variant_iter_next (ids, "i", &id))
        {
          Item *item = lookup_item (self, id);

          if (item != NULL)
            g_variant_builder_add (&builder, "(i@a{sv})", id, item_properties (self, item, names));
        }
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(a(ia{sv}))", &builder));
    }
  else if (g_str_equal (method_name, "GetProperty"))
    {
      g_autoptr(GVariant) properties = NULL;
      g_autoptr(GVariant) value = NULL;
      const char *name;
      Item *item;
      int id;

      g_variant_get (parameters, "(i&s)", &id, &name);
      if ((item = lookup_item (self, id)) != NULL)
        {
          properties = g_variant_ref_sink (item_properties (self, item, NULL));
          value = g_variant_lookup_value (properties, name, NULL);
        }
      if (value == NULL)
        g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                                               "Menu item %d has no property %s.", id, name);
      else
        g_dbus_method_invocation_return_value (invocation, g_variant_new ("(v)", value));
    }
  else if (g_str_equal (method_name, "Event"))
    {
      const char *event_id;
      int id;

      g_variant_get (parameters, "(i&svu)", &id, &event_id, NULL, NULL);
      if (lookup_item (self, id) == NULL)
        {
          g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                                                 "No menu item has the id %d.", id);
          return;
        }
      /* Reply first: the action may open a window, and hosts wait. */
      g_dbus_method_invocation_return_value (invocation, NULL);
      if (g_str_equal (event_id, "clicked"))
        activate_item (self, id);
    }
  else if (g_str_equal (method_name, "EventGroup"))
    {
      g_autoptr(GVariantIter) events = NULL;
      g_autoptr(GArray) clicked = g_array_new (FALSE, FALSE, sizeof (int));
      GVariantBuilder errors;
      const char *event_id;
      int id;

      g_variant_get (parameters, "(a(isvu))", &events);
      g_variant_builder_init (&errors, G_VARIANT_TYPE ("ai"));
      while (g_variant_iter_next (events, "(i&svu)", &id, &event_id, NULL, NULL))
        {
          if (lookup_item (self, id) == NULL)
            g_variant_builder_add (&errors, "i", id);
          else if (g_str_equal (event_id, "clicked"))
            g_array_append_val (clicked, id);
        }
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(ai)", &errors));
      for (guint i = 0; i < clicked->len; i++)
        activate_item (self, g_array_index (clicked, int, i));
    }
  else if (g_str_equal (method_name, "AboutToShow"))
    {
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(b)", FALSE));
    }
  else if (g_str_equal (method_name, "AboutToShowGroup"))
    {
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(@ai@ai)",
                                                                        g_variant_new_array (G_VARIANT_TYPE_INT32, NULL, 0),
                                                                        g_variant_new_array (G_VARIANT_TYPE_INT32, NULL, 0)));
    }
  else
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                             "Unknown method %s.", method_name);
    }
}

static GVariant *
handle_get_property (GDBusConnection  *connection,
                     const char       *sender,
                     const char       *object_path,
                     const char       *interface_name,
                     const char       *property_name,
                     GError          **error,
                     gpointer          user_data)
{
  if (g_str_equal (property_name, "Version"))
    return g_variant_new_uint32 (3);
  if (g_str_equal (property_name, "TextDirection"))
    return g_variant_new_string (gtk_widget_get_default_direction () == GTK_TEXT_DIR_RTL ? "rtl" : "ltr");
  if (g_str_equal (property_name, "Status"))
    return g_variant_new_string ("normal");
  if (g_str_equal (property_name, "IconThemePath"))
    return g_variant_new_strv (NULL, 0);

  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY,
               "Unknown property %s.", property_name);
  return NULL;
}

static const GDBusInterfaceVTable vtable = {
  handle_method_call,
  handle_get_property,
  NULL,
};

/* An action's enabled or state changed: tell hosts which items it shows. */
static void
on_action_changed (CkDBusMenu *self,
                   const char *action_name)
{
  GVariantBuilder updated;
  gboolean any = FALSE;

  if (self->registration_id == 0)
    return;

  g_variant_builder_init (&updated, G_VARIANT_TYPE ("a(ia{sv})"));
  for (guint i = 0; i < self->items->len; i++)
    {
      Item *item = g_ptr_array_index (self->items, i);

      if (g_strcmp0 (item->action, action_name) == 0)
        {
          g_variant_builder_add (&updated, "(i@a{sv})", item->id, item_properties (self, item, NULL));
          any = TRUE;
        }
    }

  if (!any)
    {
      g_variant_builder_clear (&updated);
      return;
    }

  g_dbus_connection_emit_signal (self->connection, NULL, self->object_path, DBUSMENU_INTERFACE,
                                 "ItemsPropertiesUpdated",
                                 g_variant_new ("(a(ia{sv})@a(ias))", &updated,
                                                g_variant_new_array (G_VARIANT_TYPE ("(ias)"), NULL, 0)),
                                 NULL);
}

gboolean
ck_dbus_menu_export (CkDBusMenu       *self,
                     GDBusConnection  *connection,
                     const char       *object_path,
                     GError          **error)
{
  g_autoptr(GDBusNodeInfo) node = NULL;

  g_return_val_if_fail (CK_IS_DBUS_MENU (self), FALSE);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), FALSE);
  g_return_val_if_fail (self->registration_id == 0, FALSE);

  node = ck_ui_load_introspection ("com.canonical.dbusmenu");
  self->registration_id = g_dbus_connection_register_object (connection, object_path,
                                                             node->interfaces[0], &vtable,
                                                             self, NULL, error);
  if (self->registration_id == 0)
    return FALSE;

  self->connection = g_object_ref (connection);
  self->object_path = g_strdup (object_path);
  return TRUE;
}

void
ck_dbus_menu_unexport (CkDBusMenu *self)
{
  g_return_if_fail (CK_IS_DBUS_MENU (self));

  if (self->registration_id != 0)
    g_dbus_connection_unregister_object (self->connection, self->registration_id);
  self->registration_id = 0;
  g_clear_object (&self->connection);
  g_clear_pointer (&self->object_path, g_free);
}

guint
ck_dbus_menu_get_revision (CkDBusMenu *self)
{
  g_return_val_if_fail (CK_IS_DBUS_MENU (self), 0);
  return self->revision;
}

static void
ck_dbus_menu_dispose (GObject *object)
{
  CkDBusMenu *self = (CkDBusMenu *) object;

  ck_dbus_menu_unexport (self);
  g_clear_handle_id (&self->rebuild_source, g_source_remove);
  if (self->models != NULL)
    g_ptr_array_set_size (self->models, 0);
  g_clear_object (&self->model);
  g_clear_object (&self->actions);

  G_OBJECT_CLASS (ck_dbus_menu_parent_class)->dispose (object);
}

static void
ck_dbus_menu_finalize (GObject *object)
{
  CkDBusMenu *self = (CkDBusMenu *) object;

  g_clear_pointer (&self->by_id, g_hash_table_unref);
  g_clear_pointer (&self->ids, g_hash_table_unref);
  g_clear_pointer (&self->items, g_ptr_array_unref);
  g_clear_pointer (&self->models, g_ptr_array_unref);

  G_OBJECT_CLASS (ck_dbus_menu_parent_class)->finalize (object);
}

static void
ck_dbus_menu_class_init (CkDBusMenuClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_dbus_menu_dispose;
  object_class->finalize = ck_dbus_menu_finalize;
}

static void
ck_dbus_menu_init (CkDBusMenu *self)
{
  self->items = g_ptr_array_new_with_free_func ((GDestroyNotify) item_free);
  self->by_id = g_hash_table_new (NULL, NULL);
  self->next_id = 1;
  self->models = g_ptr_array_new_with_free_func (g_object_unref);
}

CkDBusMenu *
ck_dbus_menu_new (GMenuModel   *model,
                  GActionGroup *actions)
{
  CkDBusMenu *self;

  g_return_val_if_fail (G_IS_MENU_MODEL (model), NULL);
  g_return_val_if_fail (G_IS_ACTION_GROUP (actions), NULL);

  self = g_object_new (CK_TYPE_DBUS_MENU, NULL);
  self->model = g_object_ref (model);
  self->actions = g_object_ref (actions);

  g_signal_connect_object (actions, "action-enabled-changed", G_CALLBACK (on_action_changed),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (actions, "action-state-changed", G_CALLBACK (on_action_changed),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (actions, "action-added", G_CALLBACK (on_action_changed),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (actions, "action-removed", G_CALLBACK (on_action_changed),
                           self, G_CONNECT_SWAPPED);

  rebuild (self);
  return self;
}
