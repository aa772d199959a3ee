/* ck-bus-guard.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Credentials1 checks each caller itself. Other objects on the agent's
 * connection have no such check: GApplication's org.gtk.Application,
 * org.freedesktop.Application and org.gtk.Actions, the tray's
 * StatusNotifierItem and its dbusmenu. Yet they act (log out, quit) and
 * show (the account). A guard is a connection filter that puts the same
 * check in front of every method call to a subtree of objects, or to some
 * of their interfaces only:
 *
 *  - a caller already identified and permitted goes on as usual;
 *  - any other call is taken off GDBus's path and its caller identified on
 *    the main loop: an unpermitted one gets AccessDenied; a permitted one's
 *    call is sent on to the object as a call of our own, which the filter
 *    lets through, and the object's reply goes back as the reply to the
 *    caller. (A filter cannot hand a call back to GDBus later.)
 *
 * So the objects behind a guard never hear from an unpermitted caller,
 * and need no code of their own for it.
 */

#define G_LOG_DOMAIN "ck-bus-guard"

#include "config.h"

#include <string.h>

#include "ck-bus-guard.h"

/* Refcounted: the filter, which may outlive ck_bus_guard_free() a little
 * (see g_dbus_connection_remove_filter()), and held calls keep it too.
 * Never changed after ck_bus_guard_new(). */
struct _CkBusGuard
{
  GDBusConnection *connection;
  CkAccessControl *access;
  GMainContext    *context;      /* where the checks run */
  char            *object_path;
  GStrv            interfaces;   /* NULL: every interface */
  guint            filter_id;
};

/* A call taken off GDBus's path until its caller is known. */
typedef struct
{
  CkBusGuard   *guard;
  GDBusMessage *call;
} Held;

static void
guard_clear (CkBusGuard *guard)
{
  g_clear_object (&guard->connection);
  g_clear_object (&guard->access);
  g_clear_pointer (&guard->context, g_main_context_unref);
  g_clear_pointer (&guard->object_path, g_free);
  g_clear_pointer (&guard->interfaces, g_strfreev);
}

static void
guard_unref (gpointer guard)
{
  g_atomic_rc_box_release_full (guard, (GDestroyNotify) guard_clear);
}

static void
held_free (Held *held)
{
  guard_unref (held->guard);
  g_object_unref (held->call);
  g_free (held);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Held, held_free)

static gboolean
is_guarded (CkBusGuard   *guard,
            GDBusMessage *message)
{
  const char *path = g_dbus_message_get_path (message);
  const char *interface = g_dbus_message_get_interface (message);
  size_t length = strlen (guard->object_path);

  if (g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL || path == NULL)
    return FALSE;
  if (strncmp (path, guard->object_path, length) != 0 || (path[length] != '\0' && path[length] != '/'))
    return FALSE;
  /* A call that names no interface may reach any of them. */
  return guard->interfaces == NULL || interface == NULL ||
         g_strv_contains ((const char * const *) guard->interfaces, interface);
}

static void
send_message (CkBusGuard   *guard,
              GDBusMessage *message)
{
  g_autoptr(GError) error = NULL;

  if (!g_dbus_connection_send_message (guard->connection, message, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
                                       NULL, &error))
    g_debug ("Could not send a message: %s", error->message);
}

static void
reply_error (Held         *held,
             const GError *error)
{
  g_autoptr(GDBusMessage) reply = NULL;
  g_autofree char *name = NULL;

  if (g_dbus_message_get_flags (held->call) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED)
    return;
  name = g_dbus_error_encode_gerror (error);
  reply = g_dbus_message_new_method_error_literal (held->call, name, error->message);
  send_message (held->guard, reply);
}

static void
on_reply (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(Held) held = user_data;
  g_autoptr(GDBusMessage) reply = NULL;
  g_autoptr(GDBusMessage) answer = NULL;
  g_autoptr(GError) error = NULL;

  /* An error reply is a message too: only local failures set @error. */
  reply = g_dbus_connection_send_message_with_reply_finish (G_DBUS_CONNECTION (object), result, &error);
  if (reply == NULL || !(answer = g_dbus_message_copy (reply, &error)))
    {
      reply_error (held, error);
      return;
    }

  /* The object's answer, now to the caller. */
  g_dbus_message_set_reply_serial (answer, g_dbus_message_get_serial (held->call));
  g_dbus_message_set_destination (answer, g_dbus_message_get_sender (held->call));
  g_dbus_message_set_sender (answer, NULL);
  send_message (held->guard, answer);
}

static void
send_on (Held *held)
{
  CkBusGuard *guard = held->guard;
  g_autoptr(GDBusMessage) call = NULL;

  call = g_dbus_message_new_method_call (g_dbus_connection_get_unique_name (guard->connection),
                                         g_dbus_message_get_path (held->call),
                                         g_dbus_message_get_interface (held->call),
                                         g_dbus_message_get_member (held->call));
  g_dbus_message_set_body (call, g_dbus_message_get_body (held->call));

  if (g_dbus_message_get_flags (held->call) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED)
    {
      g_dbus_message_set_flags (call, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
      send_message (guard, call);
      held_free (held);
      return;
    }

  /* The caller decides how long it waits. */
  g_dbus_connection_send_message_with_reply (guard->connection, call, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
                                             G_MAXINT, NULL, NULL, on_reply, held);
}

static void
on_identified (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(Held) held = user_data;
  g_autoptr(CkCaller) caller = NULL;
  g_autoptr(GError) error = NULL;

  caller = ck_access_control_identify_finish (CK_ACCESS_CONTROL (object), result, &error);
  if (caller == NULL || !ck_access_control_allows (CK_ACCESS_CONTROL (object), caller, &error))
    reply_error (held, error);
  else
    send_on (g_steal_pointer (&held));
}

static gboolean
check_cb (gpointer user_data)
{
  Held *held = user_data;

  ck_access_control_identify_async (held->guard->access, g_dbus_message_get_sender (held->call),
                                    NULL, on_identified, held);
  return G_SOURCE_REMOVE;
}

static GDBusMessage *
filter_cb (GDBusConnection *connection,
           GDBusMessage    *message,
           gboolean         incoming,
           gpointer         user_data)
{
  CkBusGuard *guard = user_data;
  g_autoptr(CkCaller) caller = NULL;
  const char *sender;
  Held *held;

  if (!incoming || !is_guarded (guard, message))
    return message;

  /* Our own calls: those sent on by send_on(), for one. */
  sender = g_dbus_message_get_sender (message);
  if (g_strcmp0 (sender, g_dbus_connection_get_unique_name (connection)) == 0)
    return message;

  caller = ck_access_control_dup_caller (guard->access, sender);
  if (caller != NULL && ck_access_control_permits (guard->access, caller))
    return message;

  held = g_new0 (Held, 1);
  held->guard = g_atomic_rc_box_acquire (guard);
  held->call = message;   /* ours now: the filter drops it */
  g_main_context_invoke (guard->context, check_cb, held);
  return NULL;
}

/* Guards @object_path and the objects below it: every method call to
 * them, or only those to @interfaces (NULL-terminated), reaches them only
 * from callers that @access permits. The checks run in the calling
 * thread's main context. */
CkBusGuard *
ck_bus_guard_new (GDBusConnection    *connection,
                  CkAccessControl    *access,
                  const char         *object_path,
                  const char * const *interfaces)
{
  CkBusGuard *self;

  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (access), NULL);
  g_return_val_if_fail (g_variant_is_object_path (object_path), NULL);

  self = g_atomic_rc_box_new0 (CkBusGuard);
  self->connection = g_object_ref (connection);
  self->access = g_object_ref (access);
  self->context = g_main_context_ref_thread_default ();
  self->object_path = g_strdup (object_path);
  self->interfaces = g_strdupv ((char **) interfaces);
  self->filter_id = g_dbus_connection_add_filter (connection, filter_cb,
                                                  g_atomic_rc_box_acquire (self), guard_unref);
  return self;
}

/* Free it only once its objects are gone: without it they would answer
 * anyone. A call still held then finds no object. */
void
ck_bus_guard_free (CkBusGuard *self)
{
  if (self == NULL)
    return;

  g_dbus_connection_remove_filter (self->connection, self->filter_id);
  guard_unref (self);
}
