/* ck-tray.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * GTK 4 has no tray API. Desktops that show tray icons (KDE Plasma, XFCE,
 * Cinnamon, MATE, Budgie, GNOME with the AppIndicator extension) host
 * org.kde.StatusNotifierItem objects registered with the
 * org.kde.StatusNotifierWatcher; the menu is com.canonical.dbusmenu
 * (CkDBusMenu). The item lives on the agent's own bus connection under
 * the conventional name org.kde.StatusNotifierItem-PID-1.
 *
 * The watcher comes and goes with the panel, so its name is watched: the
 * item registers whenever one appears, and a session without a tray host
 * only costs one log line.
 *
 * Anyone on the bus can call the item and its menu, and a click in the
 * menu logs out or quits, so both answer only the callers that may use
 * Credentials1 (a CkBusGuard): a tray host is the user's own unsandboxed
 * process like any other caller.
 */

#define G_LOG_DOMAIN "ck-tray"

#include "config.h"

#include <unistd.h>

#include <glib/gi18n-lib.h>

#include "ck-bus-guard.h"
#include "ck-dbus-menu.h"
#include "ck-tray.h"
#include "ck-ui.h"

#define ITEM_INTERFACE   "org.kde.StatusNotifierItem"
#define ITEM_PATH        "/StatusNotifierItem"
#define MENU_PATH        ITEM_PATH "/Menu"
#define WATCHER_NAME     "org.kde.StatusNotifierWatcher"
#define WATCHER_PATH     "/StatusNotifierWatcher"
#define MAX_ATTEMPTS     12   /* about 45 s of a panel starting up */
#define PIXMAP_RESOURCE  "/io/github/claudekeyring/ClaudeKeyring/pixmaps/%s.pixmaps"

struct _CkTray
{
  GObject          parent_instance;

  GDBusConnection *connection;
  CkAccessControl *access;
  CkBusGuard      *guard;          /* of ITEM_PATH and MENU_PATH below it */
  GMenuModel      *menu;
  GActionGroup    *actions;
  CkDBusMenu      *dbus_menu;
  GCancellable    *cancellable;
  GHashTable      *pixmaps;        /* icon name → a(iiay) */

  char            *bus_name;
  char            *icon_name;
  char            *tooltip_title;
  char            *tooltip_description;
  char            *watcher_owner;

  guint            registration_id;
  guint            own_name_id;
  guint            watch_id;
  guint            retry_source;
  guint            attempts;

  guint            name_acquired : 1;
  guint            registered : 1;
  guint            needs_attention : 1;
  guint            told_no_watcher : 1;
};

G_DEFINE_FINAL_TYPE (CkTray, ck_tray, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_REGISTERED,
  N_PROPS
};

enum {
  ACTIVATE,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static const char *
get_icon_theme_path (void)
{
  const char *path = g_getenv ("CK_UI_ICON_THEME_DIR");

  return path != NULL ? path : CK_ICON_THEME_DIR;
}

/* g_set_str() is GLib 2.76. */
static gboolean
set_str (char       **str,
         const char  *value)
{
  if (g_strcmp0 (*str, value) == 0)
    return FALSE;
  g_free (*str);
  *str = g_strdup (value);
  return TRUE;
}

static void
set_registered (CkTray   *self,
                gboolean  registered)
{
  registered = !!registered;
  if (self->registered == registered)
    return;
  self->registered = registered;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REGISTERED]);
}

/* Hosts that cannot find our icon by name (an uninstalled build, a
 * prefix outside their theme path) draw these. They were rendered at
 * build time (ck-render-pixmaps.c), so no SVG renderer is loaded here. */
static GVariant *
load_pixmaps (const char *icon_name)
{
  g_autofree char *resource = g_strdup_printf (PIXMAP_RESOURCE, icon_name);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *pixmaps;

  bytes = g_resources_lookup_data (resource, G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  if (bytes == NULL)
    {
      g_debug ("No pixmaps for %s: %s", icon_name, error->message);
      return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(iiay)"), NULL, 0));
    }

  pixmaps = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("a(iiay)"), bytes, TRUE));
#if G_BYTE_ORDER == G_BIG_ENDIAN
  {
    GVariant *swapped = g_variant_byteswap (pixmaps);

    g_variant_unref (pixmaps);
    pixmaps = swapped;
  }
#endif
  return pixmaps;
}

static GVariant *
get_pixmaps (CkTray *self)
{
  GVariant *pixmaps;

  if (self->icon_name == NULL)
    return g_variant_new_array (G_VARIANT_TYPE ("(iiay)"), NULL, 0);

  if (!(pixmaps = g_hash_table_lookup (self->pixmaps, self->icon_name)))
    {
      pixmaps = load_pixmaps (self->icon_name);
      g_hash_table_insert (self->pixmaps, g_strdup (self->icon_name), pixmaps);
    }
  return pixmaps;
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
  CkTray *self = user_data;

  if (g_str_equal (property_name, "Category"))
    return g_variant_new_string ("ApplicationStatus");
  if (g_str_equal (property_name, "Id"))
    return g_variant_new_string ("claude-keyring");
  if (g_str_equal (property_name, "Title"))
    return g_variant_new_string (_("Claude Keyring"));
  if (g_str_equal (property_name, "Status"))
    return g_variant_new_string (self->needs_attention ? "NeedsAttention" : "Active");
  if (g_str_equal (property_name, "WindowId"))
    return g_variant_new_int32 (0);
  if (g_str_equal (property_name, "IconThemePath"))
    return g_variant_new_string (get_icon_theme_path ());
  if (g_str_equal (property_name, "IconName") || g_str_equal (property_name, "AttentionIconName"))
    return g_variant_new_string (self->icon_name ?: "");
  if (g_str_equal (property_name, "IconPixmap") || g_str_equal (property_name, "AttentionIconPixmap"))
    return g_variant_ref (get_pixmaps (self));
  if (g_str_equal (property_name, "OverlayIconName") || g_str_equal (property_name, "AttentionMovieName"))
    return g_variant_new_string ("");
  if (g_str_equal (property_name, "OverlayIconPixmap"))
    return g_variant_new_array (G_VARIANT_TYPE ("(iiay)"), NULL, 0);
  if (g_str_equal (property_name, "ToolTip"))
    return g_variant_new ("(s@a(iiay)ss)",
                          self->icon_name ?: "",
                          g_variant_new_array (G_VARIANT_TYPE ("(iiay)"), NULL, 0),
                          self->tooltip_title ?: "",
                          self->tooltip_description ?: "");
  if (g_str_equal (property_name, "ItemIsMenu"))
    return g_variant_new_boolean (FALSE);
  if (g_str_equal (property_name, "Menu"))
    return g_variant_new_object_path (MENU_PATH);

  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY,
               "Unknown property %s.", property_name);
  return NULL;
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
  CkTray *self = user_data;

  if (g_str_equal (method_name, "Activate"))
    {
      int x, y;

      g_variant_get (parameters, "(ii)", &x, &y);
      g_dbus_method_invocation_return_value (invocation, NULL);
      g_signal_emit (self, signals[ACTIVATE], 0, x, y);
    }
  else if (g_str_equal (method_name, "ContextMenu") ||
           g_str_equal (method_name, "SecondaryActivate") ||
           g_str_equal (method_name, "Scroll"))
    {
      /* Hosts show the dbusmenu themselves; nothing else to do. */
      g_dbus_method_invocation_return_value (invocation, NULL);
    }
  else
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                             "Unknown method %s.", method_name);
    }
}

static const GDBusInterfaceVTable vtable = {
  handle_method_call,
  handle_get_property,
  NULL,
};

static void
emit_item_signal (CkTray     *self,
                  const char *signal_name,
                  GVariant   *parameters)
{
  if (self->registration_id == 0)
    {
      if (parameters != NULL)
        g_variant_unref (g_variant_ref_sink (parameters));
      return;
    }

  g_dbus_connection_emit_signal (self->connection, NULL, ITEM_PATH, ITEM_INTERFACE,
                                 signal_name, parameters, NULL);
}

static void try_register (CkTray *self);

static gboolean
retry_cb (gpointer user_data)
{
  CkTray *self = user_data;

  self->retry_source = 0;
  try_register (self);
  return G_SOURCE_REMOVE;
}

static void
on_registered (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(CkTray) self = user_data;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (reply == NULL)
    {
      /* A watcher may own its name a while before it exports its
       * object (a panel starting with the session): try again, a little
       * later each time. */
      if (self->watcher_owner != NULL && self->attempts < MAX_ATTEMPTS &&
          (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
           g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
           g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_INTERFACE)))
        {
          g_debug ("The tray host is not ready (%s); trying again", error->message);
          g_clear_handle_id (&self->retry_source, g_source_remove);
          self->retry_source = g_timeout_add (MIN (100u << self->attempts, 5000u), retry_cb, self);
          return;
        }

      g_message ("The tray host refused the icon: %s", error->message);
      return;
    }

  g_message ("Tray icon registered with %s as %s", WATCHER_NAME, self->bus_name);
  set_registered (self, TRUE);
}

static void
try_register (CkTray *self)
{
  if (!self->name_acquired || self->watcher_owner == NULL)
    return;

  self->attempts++;

  g_dbus_connection_call (self->connection, self->watcher_owner, WATCHER_PATH, WATCHER_NAME,
                          "RegisterStatusNotifierItem", g_variant_new ("(s)", self->bus_name),
                          NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000, self->cancellable,
                          on_registered, g_object_ref (self));
}

static void
on_name_acquired (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  CkTray *self = user_data;

  self->name_acquired = TRUE;
  try_register (self);
}

static void
on_name_lost (GDBusConnection *connection,
              const char      *name,
              gpointer         user_data)
{
  CkTray *self = user_data;

  if (connection != NULL && self->name_acquired)
    g_message ("Lost the bus name %s; the tray icon is gone", name);
  self->name_acquired = FALSE;
  set_registered (self, FALSE);
}

static void
on_watcher_appeared (GDBusConnection *connection,
                     const char      *name,
                     const char      *name_owner,
                     gpointer         user_data)
{
  CkTray *self = user_data;

  g_debug ("%s appeared (%s)", name, name_owner);
  g_free (self->watcher_owner);
  self->watcher_owner = g_strdup (name_owner);
  self->attempts = 0;
  g_clear_handle_id (&self->retry_source, g_source_remove);
  set_registered (self, FALSE);
  try_register (self);
}

static void
on_watcher_vanished (GDBusConnection *connection,
                     const char      *name,
                     gpointer         user_data)
{
  CkTray *self = user_data;

  if (self->watcher_owner != NULL)
    g_message ("The tray host went away; the icon comes back when one starts");
  else if (!self->told_no_watcher)
    g_message ("No tray host is running (no %s); the icon appears when one starts", WATCHER_NAME);
  self->told_no_watcher = TRUE;

  g_clear_pointer (&self->watcher_owner, g_free);
  g_clear_handle_id (&self->retry_source, g_source_remove);
  set_registered (self, FALSE);
}

gboolean
ck_tray_start (CkTray  *self,
               GError **error)
{
  g_autoptr(GDBusNodeInfo) node = NULL;

  g_return_val_if_fail (CK_IS_TRAY (self), FALSE);
  g_return_val_if_fail (self->registration_id == 0, FALSE);

  /* Guarded before they can be called. */
  self->guard = ck_bus_guard_new (self->connection, self->access, ITEM_PATH, NULL);

  node = ck_ui_load_introspection ("org.kde.StatusNotifierItem");
  self->registration_id = g_dbus_connection_register_object (self->connection, ITEM_PATH,
                                                             node->interfaces[0], &vtable,
                                                             self, NULL, error);
  if (self->registration_id == 0)
    {
      ck_tray_stop (self);
      return FALSE;
    }

  if (!ck_dbus_menu_export (self->dbus_menu, self->connection, MENU_PATH, error))
    {
      ck_tray_stop (self);
      return FALSE;
    }

  self->own_name_id = g_bus_own_name_on_connection (self->connection, self->bus_name,
                                                    G_BUS_NAME_OWNER_FLAGS_NONE,
                                                    on_name_acquired, on_name_lost,
                                                    self, NULL);
  self->watch_id = g_bus_watch_name_on_connection (self->connection, WATCHER_NAME,
                                                   G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                   on_watcher_appeared, on_watcher_vanished,
                                                   self, NULL);
  return TRUE;
}

void
ck_tray_stop (CkTray *self)
{
  g_return_if_fail (CK_IS_TRAY (self));

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->retry_source, g_source_remove);
  g_clear_handle_id (&self->watch_id, g_bus_unwatch_name);
  g_clear_handle_id (&self->own_name_id, g_bus_unown_name);
  ck_dbus_menu_unexport (self->dbus_menu);
  if (self->registration_id != 0)
    g_dbus_connection_unregister_object (self->connection, self->registration_id);
  self->registration_id = 0;
  g_clear_pointer (&self->guard, ck_bus_guard_free);
  self->name_acquired = FALSE;
  g_clear_pointer (&self->watcher_owner, g_free);
  set_registered (self, FALSE);
}

void
ck_tray_set_icon (CkTray     *self,
                  const char *icon_name,
                  gboolean    needs_attention)
{
  g_return_if_fail (CK_IS_TRAY (self));

  needs_attention = !!needs_attention;

  if (set_str (&self->icon_name, icon_name))
    {
      emit_item_signal (self, "NewIcon", NULL);
      emit_item_signal (self, "NewAttentionIcon", NULL);
    }

  if (self->needs_attention != needs_attention)
    {
      self->needs_attention = needs_attention;
      emit_item_signal (self, "NewStatus",
                        g_variant_new ("(s)", needs_attention ? "NeedsAttention" : "Active"));
    }
}

void
ck_tray_set_tooltip (CkTray     *self,
                     const char *title,
                     const char *description)
{
  gboolean changed = FALSE;

  g_return_if_fail (CK_IS_TRAY (self));

  changed |= set_str (&self->tooltip_title, title);
  changed |= set_str (&self->tooltip_description, description);
  if (changed)
    emit_item_signal (self, "NewToolTip", NULL);
}

gboolean
ck_tray_get_registered (CkTray *self)
{
  g_return_val_if_fail (CK_IS_TRAY (self), FALSE);
  return self->registered;
}

const char *
ck_tray_get_bus_name (CkTray *self)
{
  g_return_val_if_fail (CK_IS_TRAY (self), NULL);
  return self->bus_name;
}

static void
ck_tray_dispose (GObject *object)
{
  CkTray *self = (CkTray *) object;

  if (self->dbus_menu != NULL)
    ck_tray_stop (self);
  g_clear_object (&self->dbus_menu);
  g_clear_object (&self->menu);
  g_clear_object (&self->actions);
  g_clear_object (&self->access);
  g_clear_object (&self->connection);

  G_OBJECT_CLASS (ck_tray_parent_class)->dispose (object);
}

static void
ck_tray_finalize (GObject *object)
{
  CkTray *self = (CkTray *) object;

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->pixmaps, g_hash_table_unref);
  g_clear_pointer (&self->bus_name, g_free);
  g_clear_pointer (&self->icon_name, g_free);
  g_clear_pointer (&self->tooltip_title, g_free);
  g_clear_pointer (&self->tooltip_description, g_free);

  G_OBJECT_CLASS (ck_tray_parent_class)->finalize (object);
}

static void
ck_tray_get_property (GObject    *object,
                      guint       prop_id,
                      GValue     *value,
                      GParamSpec *pspec)
{
  CkTray *self = CK_TRAY (object);

  switch (prop_id)
    {
    case PROP_REGISTERED:
      g_value_set_boolean (value, self->registered);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_tray_class_init (CkTrayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_tray_dispose;
  object_class->finalize = ck_tray_finalize;
  object_class->get_property = ck_tray_get_property;

  /**
   * CkTray:registered:
   *
   * Whether a StatusNotifierWatcher currently shows the icon.
   */
  properties[PROP_REGISTERED] =
    g_param_spec_boolean ("registered", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * CkTray::activate:
   * @x: the pointer's x position on the screen, or 0
   * @y: the pointer's y position on the screen, or 0
   *
   * The user clicked the icon.
   */
  signals[ACTIVATE] =
    g_signal_new ("activate",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_INT);
}

static void
ck_tray_init (CkTray *self)
{
  self->cancellable = g_cancellable_new ();
  self->pixmaps = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) g_variant_unref);
  self->bus_name = g_strdup_printf ("org.kde.StatusNotifierItem-%d-1", (int) getpid ());
}

CkTray *
ck_tray_new (GDBusConnection *connection,
             CkAccessControl *access,
             GMenuModel      *menu,
             GActionGroup    *actions)
{
  CkTray *self;

  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (access), NULL);
  g_return_val_if_fail (G_IS_MENU_MODEL (menu), NULL);
  g_return_val_if_fail (G_IS_ACTION_GROUP (actions), NULL);

  self = g_object_new (CK_TYPE_TRAY, NULL);
  self->connection = g_object_ref (connection);
  self->access = g_object_ref (access);
  self->menu = g_object_ref (menu);
  self->actions = g_object_ref (actions);
  self->dbus_menu = ck_dbus_menu_new (menu, actions);

  return self;
}
