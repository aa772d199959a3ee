/* ck-access-control.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each connection is identified once, from GetConnectionCredentials and
 * /proc, and the result is kept until the connection goes away: a caller
 * pays for the check on its first call only. The policy itself is applied
 * on every call, so changing allow-sandboxed-callers takes effect at once.
 */

#define G_LOG_DOMAIN "ck-access-control"

#include "config.h"

#include <errno.h>
#include <unistd.h>

#include "ck-access-control.h"
#include "ck-error.h"

struct _CkAccessControl
{
  GObject          parent_instance;

  GDBusConnection *connection;
  GMutex           lock;         /* guards callers: the GDBus worker thread
                                  * looks callers up too (CkFastPath) */
  GHashTable      *callers;      /* sender → CkCaller */
  GHashTable      *refused;      /* senders already logged as refused */
  guint            name_owner_id;
  gint             allow_sandboxed;  /* read from any thread */
  uid_t            uid;              /* ours */
};

G_DEFINE_FINAL_TYPE (CkAccessControl, ck_access_control, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ALLOW_SANDBOXED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
ck_caller_clear (CkCaller *caller)
{
  g_free (caller->sender);
  g_free (caller->app_id);
  g_free (caller->exe);
}

CkCaller *
ck_caller_ref (CkCaller *caller)
{
  return g_atomic_rc_box_acquire (caller);
}

void
ck_caller_unref (CkCaller *caller)
{
  g_atomic_rc_box_release_full (caller, (GDestroyNotify) ck_caller_clear);
}

/* Flatpak puts /.flatpak-info in every sandbox; reading it through
 * /proc/PID/root is what xdg-desktop-portal does too. */
static void
inspect_process (CkCaller *caller)
{
  g_autofree char *root = g_strdup_printf ("/proc/%u/root", caller->pid);
  g_autofree char *info = g_build_filename (root, ".flatpak-info", NULL);
  g_autofree char *exe_link = g_strdup_printf ("/proc/%u/exe", caller->pid);
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();

  caller->exe = g_file_read_link (exe_link, NULL);

  if (access (root, X_OK) != 0)
    {
      /* We cannot see into its filesystem: assume the worst. */
      g_debug ("Cannot inspect the root of process %u: %s", caller->pid, g_strerror (errno));
      caller->sandboxed = TRUE;
      return;
    }

  if (g_key_file_load_from_file (keyfile, info, G_KEY_FILE_NONE, NULL))
    {
      caller->sandboxed = TRUE;
      caller->app_id = g_key_file_get_string (keyfile, "Application", "name", NULL);
    }
  else if (access (info, F_OK) == 0 || errno != ENOENT)
    caller->sandboxed = TRUE;
}

static void
on_credentials (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  CkAccessControl *self = g_task_get_source_object (task);
  const char *sender = g_task_get_task_data (task);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CkCaller) caller = NULL;
  gboolean have_uid, have_pid;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (object), result, &error);
  if (reply == NULL)
    {
      g_debug ("Cannot identify %s: %s", sender, error->message);
      g_task_return_new_error (task, CK_ERROR, CK_ERROR_ACCESS_DENIED,
                               "The caller could not be identified.");
      return;
    }

  caller = g_atomic_rc_box_new0 (CkCaller);
  caller->sender = g_strdup (sender);
  g_variant_get (reply, "(@a{sv})", &dict);
  have_uid = g_variant_lookup (dict, "UnixUserID", "u", &caller->uid);
  have_pid = g_variant_lookup (dict, "ProcessID", "u", &caller->pid);

  if (!have_uid)
    caller->uid = G_MAXUINT32;
  if (have_pid)
    inspect_process (caller);
  else
    caller->sandboxed = TRUE;

  /* The bus orders messages: if the caller disconnects, NameOwnerChanged
   * arrives after this reply and removes the entry again. */
  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->callers, g_strdup (sender), ck_caller_ref (caller));
  g_mutex_unlock (&self->lock);

  g_task_return_pointer (task, g_steal_pointer (&caller), (GDestroyNotify) ck_caller_unref);
}

static void
on_name_owner_changed (GDBusConnection *connection,
                       const char      *sender_name,
                       const char      *object_path,
                       const char      *interface_name,
                       const char      *signal_name,
                       GVariant        *parameters,
                       gpointer         user_data)
{
  CkAccessControl *self = user_data;
  const char *name, *old_owner, *new_owner;

  g_variant_get (parameters, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (name[0] == ':' && new_owner[0] == '\0')
    {
      g_mutex_lock (&self->lock);
      g_hash_table_remove (self->callers, name);
      g_mutex_unlock (&self->lock);
      g_hash_table_remove (self->refused, name);
    }
}

CkAccessControl *
ck_access_control_new (GDBusConnection *connection)
{
  CkAccessControl *self;

  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);

  self = g_object_new (CK_TYPE_ACCESS_CONTROL, NULL);
  self->connection = g_object_ref (connection);
  self->name_owner_id =
    g_dbus_connection_signal_subscribe (connection, "org.freedesktop.DBus",
                                        "org.freedesktop.DBus", "NameOwnerChanged",
                                        "/org/freedesktop/DBus", NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE,
                                        on_name_owner_changed, self, NULL);
  return self;
}

/* Safe to call from any thread. */
CkCaller *
ck_access_control_dup_caller (CkAccessControl *self,
                              const char      *sender)
{
  CkCaller *caller;

  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (self), NULL);

  if (sender == NULL)
    return NULL;

  g_mutex_lock (&self->lock);
  caller = g_hash_table_lookup (self->callers, sender);
  if (caller != NULL)
    ck_caller_ref (caller);
  g_mutex_unlock (&self->lock);
  return caller;
}

void
ck_access_control_identify_async (CkAccessControl     *self,
                                  const char          *sender,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  CkCaller *caller;

  g_return_if_fail (CK_IS_ACCESS_CONTROL (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ck_access_control_identify_async);
  g_task_set_task_data (task, g_strdup (sender), g_free);

  if ((caller = ck_access_control_dup_caller (self, sender)))
    {
      g_task_return_pointer (task, caller, (GDestroyNotify) ck_caller_unref);
      return;
    }

  if (sender == NULL)
    {
      /* A peer-to-peer connection has no bus to ask; we never offer one. */
      g_task_return_new_error (task, CK_ERROR, CK_ERROR_ACCESS_DENIED,
                               "The caller could not be identified.");
      return;
    }

  g_dbus_connection_call (self->connection, "org.freedesktop.DBus",
                          "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "GetConnectionCredentials", g_variant_new ("(s)", sender),
                          G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, 5000,
                          cancellable, on_credentials, g_steal_pointer (&task));
}

CkCaller *
ck_access_control_identify_finish (CkAccessControl  *self,
                                   GAsyncResult     *result,
                                   GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The policy alone, safe to call from any thread. */
gboolean
ck_access_control_permits (CkAccessControl *self,
                           const CkCaller  *caller)
{
  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (self), FALSE);

  return caller->uid == self->uid &&
         (!caller->sandboxed || g_atomic_int_get (&self->allow_sandboxed));
}

/* The unique names of the connected callers that are permitted now. */
GStrv
ck_access_control_dup_permitted (CkAccessControl *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  GHashTableIter iter;
  CkCaller *caller;

  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (self), NULL);

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->callers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &caller))
    if (ck_access_control_permits (self, caller))
      g_strv_builder_add (builder, caller->sender);
  g_mutex_unlock (&self->lock);
  return g_strv_builder_end (builder);
}

gboolean
ck_access_control_allows (CkAccessControl  *self,
                          const CkCaller   *caller,
                          GError          **error)
{
  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (self), FALSE);

  if (ck_access_control_permits (self, caller))
    return TRUE;

  if (caller->uid != self->uid)
    {
      if (g_hash_table_add (self->refused, g_strdup (caller->sender)))
        g_message ("Refused a caller of another user (uid %u, pid %u)", caller->uid, caller->pid);
      g_set_error_literal (error, CK_ERROR, CK_ERROR_ACCESS_DENIED,
                           "Only processes of the same user may use claude-keyring.");
    }
  else
    {
      if (g_hash_table_add (self->refused, g_strdup (caller->sender)))
        g_message ("Refused a sandboxed caller (%s, pid %u)",
                   caller->app_id != NULL ? caller->app_id : "unknown app", caller->pid);
      g_set_error_literal (error, CK_ERROR, CK_ERROR_ACCESS_DENIED,
                           "Sandboxed applications may not read Claude credentials; "
                           "allow them with the allow-sandboxed-callers setting.");
    }
  return FALSE;
}

gboolean
ck_access_control_get_allow_sandboxed (CkAccessControl *self)
{
  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (self), FALSE);

  return self->allow_sandboxed;
}

void
ck_access_control_set_allow_sandboxed (CkAccessControl *self,
                                       gboolean         allow)
{
  g_return_if_fail (CK_IS_ACCESS_CONTROL (self));

  allow = !!allow;
  if (self->allow_sandboxed != allow)
    {
      g_atomic_int_set (&self->allow_sandboxed, allow);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ALLOW_SANDBOXED]);
    }
}

static void
ck_access_control_dispose (GObject *object)
{
  CkAccessControl *self = (CkAccessControl *) object;

  if (self->name_owner_id != 0)
    {
      g_dbus_connection_signal_unsubscribe (self->connection, self->name_owner_id);
      self->name_owner_id = 0;
    }
  g_clear_object (&self->connection);
  g_mutex_lock (&self->lock);
  g_hash_table_remove_all (self->callers);
  g_mutex_unlock (&self->lock);

  G_OBJECT_CLASS (ck_access_control_parent_class)->dispose (object);
}

static void
ck_access_control_finalize (GObject *object)
{
  CkAccessControl *self = (CkAccessControl *) object;

  g_clear_pointer (&self->callers, g_hash_table_unref);
  g_clear_pointer (&self->refused, g_hash_table_unref);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (ck_access_control_parent_class)->finalize (object);
}

static void
ck_access_control_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  CkAccessControl *self = CK_ACCESS_CONTROL (object);

  switch (prop_id)
    {
    case PROP_ALLOW_SANDBOXED:
      g_value_set_boolean (value, self->allow_sandboxed);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_access_control_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  CkAccessControl *self = CK_ACCESS_CONTROL (object);

  switch (prop_id)
    {
    case PROP_ALLOW_SANDBOXED:
      ck_access_control_set_allow_sandboxed (self, g_value_get_boolean (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_access_control_class_init (CkAccessControlClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_access_control_dispose;
  object_class->finalize = ck_access_control_finalize;
  object_class->get_property = ck_access_control_get_property;
  object_class->set_property = ck_access_control_set_property;

  properties[PROP_ALLOW_SANDBOXED] =
    g_param_spec_boolean ("allow-sandboxed", NULL, NULL, FALSE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ck_access_control_init (CkAccessControl *self)
{
  g_mutex_init (&self->lock);
  self->uid = getuid ();
  self->callers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) ck_caller_unref);
  self->refused = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}
