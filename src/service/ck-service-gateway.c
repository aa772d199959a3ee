/* ck-service-gateway.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * CkService's gateway sessions: OpenGatewaySession, CloseGatewaySession
 * and ListGatewaySessions, on the CkGateway that the service creates and
 * starts on first use (or at start, when the keyring holds persistent
 * sessions).
 *
 * A session that is not persistent lives as long as the caller: it ends
 * when the caller's bus connection goes away (`run` keeps its connection
 * while claude runs) or when the caller's process exits (a pidfd, which
 * covers a caller whose connection a child inherited), whichever comes
 * first. A persistent session is an item in the keyring, restored from
 * there at every read of it, and ends only with CloseGatewaySession (or
 * when its item is deleted).
 *
 * A remote session (`claude-keyring ssh`, option "remote") is served on
 * a Unix socket of its own, which ssh forwards to the remote host. A
 * persistent remote one keeps its token when its caller goes, but not
 * its socket: the next caller with the same "remote" gets the session
 * back, on a new socket at the same path.
 */

#define G_LOG_DOMAIN "ck-service-gateway"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include <glib-unix.h>
#include <json-glib/json-glib.h>

#include "ck-config.h"
#include "ck-credential-options.h"
#include "ck-error.h"
#include "ck-service-private.h"

/* The command is for display; a longer one is cut. */
#define MAX_COMMAND_LENGTH 1024

/* The SSH destination, as typed: for display, and the key of --persist. */
#define MAX_REMOTE_LENGTH 255

/* What the service knows about a session besides the gateway: who opened
 * it, and what ends it. */
typedef struct
{
  CkService *self;         /* not a reference: the service owns this */
  char      *id;
  char      *sender;       /* the opener's unique name; NULL when persistent */
  guint32    pid;
  char      *exe;
  char      *command;
  gboolean   persistent;
  guint32    remote_port;  /* the forward's port on the remote host, 0: unknown */
  gboolean   caller_left;
  guint      name_watch;
  guint      pidfd_watch;
  int        pidfd;
} Opened;

static void
opened_unwatch (Opened *opened)
{
  if (opened->name_watch != 0)
    g_bus_unwatch_name (opened->name_watch);
  opened->name_watch = 0;
  g_clear_handle_id (&opened->pidfd_watch, g_source_remove);
  if (opened->pidfd >= 0)
    close (g_steal_fd (&opened->pidfd));
}

static void
opened_free (Opened *opened)
{
  opened_unwatch (opened);
  g_free (opened->id);
  g_free (opened->sender);
  g_free (opened->exe);
  g_free (opened->command);
  g_free (opened);
}

static Opened *
opened_new (CkService  *self,
            const char *id,
            guint32     pid,
            const char *exe,
            const char *command,
            gboolean    persistent)
{
  Opened *opened = g_new0 (Opened, 1);

  opened->self = self;
  opened->id = g_strdup (id);
  opened->pid = pid;
  opened->exe = g_strdup (exe);
  opened->command = g_strdup (command);
  opened->persistent = persistent;
  opened->pidfd = -1;
  return opened;
}

/* Ends a session at once: its token is refused from the next request on. */
static void
end_session (CkService  *self,
             const char *id,
             const char *why)
{
  if (self->gateway != NULL && ck_gateway_remove_session (self->gateway, id))
    g_debug ("Gateway session %s ended: %s", id, why);
  g_hash_table_remove (self->gateway_opened, id);
  _ck_service_update_status (self);
}

/* The caller that opened the session is gone: the session ends with it,
 * but a persistent (remote) one only loses its socket, so that the remote
 * forward refuses connections until the next opener. */
static void
caller_gone (Opened     *opened,
             const char *why)
{
  CkService *self = opened->self;

  if (!opened->persistent)
    {
      end_session (self, opened->id, why);
      return;
    }
  opened_unwatch (opened);
  opened->caller_left = TRUE;
  if (self->gateway != NULL && ck_gateway_get_session_socket (self->gateway, opened->id) != NULL)
    {
      ck_gateway_unlisten_session (self->gateway, opened->id);
      g_debug ("Gateway session %s closed its socket: %s", opened->id, why);
      _ck_service_update_status (self);
    }
}

static void
on_caller_vanished (GDBusConnection *connection,
                    const char      *name,
                    gpointer         user_data)
{
  caller_gone (user_data, "its caller left the bus");
}

static gboolean
on_caller_exited (int          fd,
                  GIOCondition condition,
                  gpointer     user_data)
{
  Opened *opened = user_data;

  opened->pidfd_watch = 0;
  caller_gone (opened, "its caller exited");
  return G_SOURCE_REMOVE;
}

/* Ties @opened to the caller: FALSE when the caller's process is gone
 * already. Without pidfds (old kernels, seccomp) the bus connection alone
 * ends the session. */
static gboolean
watch_caller (Opened          *opened,
              GDBusConnection *connection,
              const CkCaller  *caller)
{
  opened->sender = g_strdup (caller->sender);
  opened->pidfd = pidfd_open (caller->pid, 0);
  if (opened->pidfd < 0 && errno == ESRCH)
    return FALSE;
  if (opened->pidfd >= 0)
    {
      if (!ck_pidfd_is_alive (opened->pidfd))
        return FALSE;
      opened->pidfd_watch = g_unix_fd_add (opened->pidfd, G_IO_IN, on_caller_exited, opened);
    }
  else
    g_debug ("No pidfd for pid %u (%s): the session ends with its bus connection only",
             caller->pid, g_strerror (errno));

  /* Calls back at once when the name is gone already. */
  opened->name_watch = g_bus_watch_name_on_connection (connection, caller->sender,
                                                       G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                       NULL, on_caller_vanished, opened, NULL);
  return TRUE;
}

/* The gateway, created and listening (on @listener_fd when >= 0, a socket
 * handed over by systemd); NULL with @error when it cannot listen. */
static CkGateway *
start_gateway (CkService  *self,
               int         listener_fd,
               GError    **error)
{
  g_autoptr(GError) local_error = NULL;

  if (self->gateway == NULL)
    self->gateway = ck_gateway_new (self->settings, self->resolver);
  if (self->gateway_listening)
    return self->gateway;

  if (!ck_gateway_start (self->gateway, listener_fd, &local_error))
    {
      g_warning ("The gateway cannot listen: %s", local_error->message);
      g_set_error (error, CK_ERROR, CK_ERROR_NETWORK,
                   "The gateway cannot listen on the loopback interface: %s. "
                   "Check the gateway-port setting.", local_error->message);
      return NULL;
    }
  self->gateway_listening = TRUE;
  g_message ("Gateway listening on port %u%s", ck_gateway_get_port (self->gateway),
             listener_fd >= 0 ? " (socket from systemd)" : "");
  return self->gateway;
}

static CkGateway *
ensure_gateway (CkService  *self,
                GError    **error)
{
  return start_gateway (self, -1, error);
}

gboolean
ck_service_start_gateway_on (CkService  *self,
                             int         listener_fd,
                             GError    **error)
{
  g_return_val_if_fail (CK_IS_SERVICE (self), FALSE);
  g_return_val_if_fail (listener_fd >= 0, FALSE);

  if (self->gateway_listening || self->gateway_listener_fd >= 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "The gateway listens already");
      return FALSE;
    }
  /* Not before the persistent sessions are read: the connection that
   * started us waits in the socket's backlog rather than get a 401. */
  if (ck_token_store_get_state (self->store) == CK_KEYRING_STATE_UNKNOWN)
    {
      self->gateway_listener_fd = listener_fd;
      return TRUE;
    }
  return start_gateway (self, listener_fd, error) != NULL;
}

/* What a caller gives as the SSH destination: shown in lists and in the
 * status window, so no control characters. */
static gboolean
remote_is_valid (const char *remote)
{
  if (remote[0] == '\0' || strlen (remote) > MAX_REMOTE_LENGTH || !g_utf8_validate (remote, -1, NULL))
    return FALSE;
  for (const char *c = remote; *c != '\0'; c = g_utf8_next_char (c))
    if (g_unichar_iscntrl (g_utf8_get_char (c)))
      return FALSE;
  return TRUE;
}

/* Persistent sessions in the keyring */

static char *
session_to_json (CkGatewaySession *session,
                 const Opened     *opened)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  const char *upstream = ck_gateway_session_get_upstream (session);
  const char *remote = ck_gateway_session_get_remote (session);
  const char *account = ck_gateway_session_get_account (session);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, ck_gateway_session_get_id (session));
  json_builder_set_member_name (builder, "token");
  json_builder_add_string_value (builder, ck_gateway_session_get_token (session));
  json_builder_set_member_name (builder, "kind");
  json_builder_add_string_value (builder, ck_credential_kind_to_string (ck_gateway_session_get_kind (session)));
  if (upstream != NULL)
    {
      json_builder_set_member_name (builder, "upstream");
      json_builder_add_string_value (builder, upstream);
    }
  if (account != NULL)
    {
      json_builder_set_member_name (builder, "account");
      json_builder_add_string_value (builder, account);
    }
  json_builder_set_member_name (builder, "created");
  json_builder_add_int_value (builder, ck_gateway_session_get_created (session));
  json_builder_set_member_name (builder, "pid");
  json_builder_add_int_value (builder, opened->pid);
  json_builder_set_member_name (builder, "exe");
  json_builder_add_string_value (builder, opened->exe != NULL ? opened->exe : "");
  json_builder_set_member_name (builder, "command");
  json_builder_add_string_value (builder, opened->command != NULL ? opened->command : "");
  if (remote != NULL)
    {
      json_builder_set_member_name (builder, "remote");
      json_builder_add_string_value (builder, remote);
      json_builder_set_member_name (builder, "remote-port");
      json_builder_add_int_value (builder, opened->remote_port);
    }
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

/* A stored session back as a CkGatewaySession and what we know of its
 * opener; NULL (with a warning) when the item cannot be read. */
static CkGatewaySession *
session_from_json (CkService   *self,
                   const char  *id,
                   const char  *json,
                   Opened     **opened)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  CkGatewaySession *session;
  JsonObject *object;
  CkCredentialKind kind;
  const char *token;
  const char *remote;
  gint64 remote_port;

  if (!json_parser_load_from_data (parser, json, -1, &error) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_warning ("Ignoring a stored gateway session that cannot be read: %s",
                 error != NULL ? error->message : "not a JSON object");
      return NULL;
    }
  object = json_node_get_object (json_parser_get_root (parser));
  token = json_object_get_string_member_with_default (object, "token", NULL);
  if (token == NULL || token[0] == '\0' ||
      g_strcmp0 (json_object_get_string_member_with_default (object, "id", NULL), id) != 0 ||
      !ck_credential_kind_from_string (json_object_get_string_member_with_default (object, "kind", ""),
                                       &kind) ||
      kind == CK_CREDENTIAL_KIND_ANY)
    {
      g_warning ("Ignoring a stored gateway session that lacks its id, token or kind");
      return NULL;
    }
  /* Items stored before remote sessions have neither member. Read as a
   * local session, a remote one's token would work on the port. */
  remote = json_object_get_string_member_with_default (object, "remote", NULL);
  remote_port = json_object_get_int_member_with_default (object, "remote-port", 0);
  if (remote != NULL && (!remote_is_valid (remote) || remote_port < 0 || remote_port > G_MAXUINT16))
    {
      g_warning ("Ignoring a stored remote gateway session whose destination cannot be read");
      return NULL;
    }

  *opened = opened_new (self, id, (guint32) json_object_get_int_member_with_default (object, "pid", 0),
                        json_object_get_string_member_with_default (object, "exe", NULL),
                        json_object_get_string_member_with_default (object, "command", NULL),
                        TRUE);
  (*opened)->remote_port = remote != NULL ? (guint32) remote_port : 0;
  session = ck_gateway_session_new_full (id, token, kind,
                                         json_object_get_string_member_with_default (object, "upstream", NULL),
                                         json_object_get_int_member_with_default (object, "created", 0));
  ck_gateway_session_set_remote (session, remote);
  /* Items stored before accounts have none: the default account. */
  ck_gateway_session_set_account (session, json_object_get_string_member_with_default (object, "account", NULL));
  return session;
}

/* After every read of the keyring: the persistent sessions it holds are
 * served, and those deleted from it (elsewhere, or by a close whose
 * removal finished) are not. While the keyring is locked nothing
 * changes: no credential is served then anyway. */
void
_ck_service_gateway_sync (CkService *self)
{
  GHashTable *stored = ck_token_store_get_gateway_sessions (self->store);
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  GHashTableIter iter;
  const char *id;
  const char *json;
  Opened *opened;

  /* After dispose (the store may outlive us), or while the keyring is
   * locked. */
  if (self->gateway_opened == NULL)
    return;
  if (self->gateway_listener_fd >= 0 &&
      ck_token_store_get_state (self->store) != CK_KEYRING_STATE_UNKNOWN)
    {
      int fd = g_steal_fd (&self->gateway_listener_fd);

      if (start_gateway (self, fd, &error) == NULL)
        {
          g_warning ("The gateway cannot serve the socket from systemd: %s", error->message);
          g_clear_error (&error);
          close (fd);
        }
    }
  if (ck_token_store_get_state (self->store) != CK_KEYRING_STATE_READY)
    return;

  /* A revoked session stays refused until its item is gone. */
  g_hash_table_iter_init (&iter, self->gateway_revoked);
  while (g_hash_table_iter_next (&iter, (gpointer *) &id, NULL))
    if (!g_hash_table_contains (stored, id))
      g_hash_table_iter_remove (&iter);

  g_hash_table_iter_init (&iter, self->gateway_opened);
  while (g_hash_table_iter_next (&iter, (gpointer *) &id, (gpointer *) &opened))
    if (opened->persistent && !g_hash_table_contains (stored, id))
      g_ptr_array_add (gone, g_strdup (id));
  for (guint i = 0; i < gone->len; i++)
    end_session (self, g_ptr_array_index (gone, i), "its keyring item was deleted");

  if (g_hash_table_size (stored) == 0)
    return;
  if (ensure_gateway (self, &error) == NULL)
    return;

  g_hash_table_iter_init (&iter, stored);
  while (g_hash_table_iter_next (&iter, (gpointer *) &id, (gpointer *) &json))
    {
      g_autoptr(CkGatewaySession) session = NULL;

      if (g_hash_table_contains (self->gateway_opened, id) ||
          g_hash_table_contains (self->gateway_revoked, id))
        continue;
      if ((session = session_from_json (self, id, json, &opened)) == NULL)
        continue;
      ck_gateway_add_session (self->gateway, session);
      g_hash_table_replace (self->gateway_opened, opened->id, opened);
      g_debug ("Gateway session %s restored from the keyring", id);
    }
  _ck_service_update_status (self);
}

/* OpenGatewaySession */

typedef struct
{
  CkService             *self;
  GDBusMethodInvocation *invocation;
  CkCaller              *caller;
  CkCredentialKind       kind;
  gboolean               persistent;
  char                  *upstream;
  char                  *account;   /* chosen by name, rule or default-account */
  char                  *command;
  char                  *remote;
  guint32                remote_port;
  CkGatewaySession      *session;
  Opened                *opened;
} Opening;

static void
opening_free (Opening *opening)
{
  g_object_unref (opening->self);
  ck_caller_unref (opening->caller);
  g_free (opening->upstream);
  g_free (opening->account);
  g_free (opening->command);
  g_free (opening->remote);
  g_clear_pointer (&opening->session, ck_gateway_session_unref);
  g_clear_pointer (&opening->opened, opened_free);
  g_free (opening);
}

static void
return_session (Opening *opening)
{
  CkService *self = opening->self;
  CkGatewaySession *session = opening->session;
  g_autofree char *url = ck_gateway_dup_url (self->gateway);
  g_autofree char *socket = NULL;
  Opened *opened = g_steal_pointer (&opening->opened);
  const char *remote = ck_gateway_session_get_remote (session);
  GVariantBuilder builder;

  /* A persistent one may have been restored from the keyring already,
   * with the same id and token, or be opened again: this one takes its
   * place (and its caller the socket's). */
  ck_gateway_remove_session (self->gateway, opened->id);
  ck_gateway_add_session (self->gateway, session);
  g_hash_table_replace (self->gateway_opened, opened->id, opened);

  if (remote != NULL && !opened->caller_left)
    {
      g_autoptr(GError) error = NULL;

      socket = ck_gateway_listen_session (self->gateway, opened->id, &error);
      if (socket == NULL)
        {
          g_warning ("Gateway session %s has no socket: %s", opened->id, error->message);
          if (opened->persistent)
            opened_unwatch (opened);
          else
            end_session (self, opened->id, "it got no socket");
          g_dbus_method_invocation_return_error (opening->invocation, CK_ERROR, CK_ERROR_NETWORK,
                                                 "The gateway cannot make the session's socket: %s",
                                                 error->message);
          opening_free (opening);
          return;
        }
    }

  ck_read_log_record (self->read_log, opening->caller, "gateway", FALSE);
  g_debug ("Gateway session %s (%s%s) opened by pid %u (%s)", opened->id,
           ck_credential_kind_to_string (opening->kind), opening->persistent ? ", persistent" : "",
           opening->caller->pid, opening->caller->exe != NULL ? opening->caller->exe : "unknown executable");

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "url", g_variant_new_string (url));
  g_variant_builder_add (&builder, "{sv}", "token",
                         g_variant_new_string (ck_gateway_session_get_token (session)));
  g_variant_builder_add (&builder, "{sv}", "id", g_variant_new_string (opened->id));
  g_variant_builder_add (&builder, "{sv}", "kind",
                         g_variant_new_string (ck_credential_kind_to_string (opening->kind)));
  g_variant_builder_add (&builder, "{sv}", "persistent", g_variant_new_boolean (opening->persistent));
  if (remote != NULL)
    {
      g_variant_builder_add (&builder, "{sv}", "socket", g_variant_new_string (socket != NULL ? socket : ""));
      g_variant_builder_add (&builder, "{sv}", "remote-port", g_variant_new_uint32 (opened->remote_port));
    }
  g_dbus_method_invocation_return_value (opening->invocation,
                                         g_variant_new ("(@a{sv})", g_variant_builder_end (&builder)));
  _ck_service_update_status (self);
  opening_free (opening);
}

static void
on_session_stored (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Opening *opening = user_data;
  g_autoptr(GError) error = NULL;

  if (!ck_token_store_set_gateway_session_finish (CK_TOKEN_STORE (object), result, &error))
    {
      _ck_service_return_error (opening->invocation, error);
      opening_free (opening);
      return;
    }
  return_session (opening);
}

/* The upstream option, unless it names the gateway itself (a `run`
 * inside a session that `run` started: claude's base URL is ours). */
static char *
dup_upstream (CkService  *self,
              const char *upstream)
{
  g_autofree char *url = NULL;
  gsize length;

  if (upstream == NULL)
    return NULL;
  url = ck_gateway_dup_url (self->gateway);
  length = strlen (url);
  if (g_str_has_prefix (upstream, url) &&
      (upstream[length] == '\0' || upstream[length] == '/'))
    return NULL;
  return g_strdup (upstream);
}

/* The persistent remote session opened before for @remote, if any. */
static CkGatewaySession *
find_persistent_remote (CkService  *self,
                        const char *remote)
{
  GHashTableIter iter;
  Opened *opened;

  g_hash_table_iter_init (&iter, self->gateway_opened);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &opened))
    {
      CkGatewaySession *session = ck_gateway_lookup_session (self->gateway, opened->id);

      if (opened->persistent && session != NULL &&
          g_strcmp0 (ck_gateway_session_get_remote (session), remote) == 0)
        return session;
    }
  return NULL;
}

/* `claude-keyring ssh --persist` again: the same session (id, token and,
 * unless a new one is given, remote port) for its new caller. */
static void
reopen_session (Opening          *opening,
                CkGatewaySession *session)
{
  const char *id = ck_gateway_session_get_id (session);
  Opened *before = g_hash_table_lookup (opening->self->gateway_opened, id);

  opening->session = ck_gateway_session_ref (session);
  opening->kind = ck_gateway_session_get_kind (session);
  opening->opened = opened_new (opening->self, id, opening->caller->pid, opening->caller->exe,
                                opening->command != NULL ? opening->command : before->command,
                                TRUE);
  opening->opened->remote_port = opening->remote_port != 0 ? opening->remote_port
                                                           : before->remote_port;
  g_debug ("Gateway session %s opened again for its remote", id);
}

static void
open_session (Opening *opening)
{
  CkService *self = opening->self;
  GDBusConnection *connection = g_dbus_method_invocation_get_connection (opening->invocation);
  g_autoptr(GError) error = NULL;
  g_autofree char *upstream = NULL;
  CkGatewaySession *existing;
  const char *id;

  if (ensure_gateway (self, &error) == NULL)
    {
      _ck_service_return_error (opening->invocation, error);
      opening_free (opening);
      return;
    }

  /* A persistent session's URL is written into files (setup-claude
   * --gateway) and must still hold after the agent restarts: the first
   * one fixes the port the gateway listens on now. A remote session's
   * URL is its socket's forward instead. */
  if (opening->persistent && opening->remote == NULL &&
      g_settings_get_uint (self->settings, "gateway-port") == 0)
    {
      guint port = ck_gateway_get_port (self->gateway);

      if (g_settings_set_uint (self->settings, "gateway-port", port))
        g_message ("gateway-port set to %u, where the gateway listens, for its persistent sessions", port);
      else
        g_warning ("Could not set gateway-port to %u: the gateway's port may change at the next start", port);
    }

  if (opening->persistent && opening->remote != NULL &&
      (existing = find_persistent_remote (self, opening->remote)) != NULL)
    reopen_session (opening, existing);
  else
    {
      upstream = dup_upstream (self, opening->upstream);
      opening->session = ck_gateway_session_new (opening->kind, upstream);
      ck_gateway_session_set_remote (opening->session, opening->remote);
      ck_gateway_session_set_account (opening->session, opening->account);
      id = ck_gateway_session_get_id (opening->session);
      opening->opened = opened_new (self, id, opening->caller->pid, opening->caller->exe,
                                    opening->command, opening->persistent);
      opening->opened->remote_port = opening->remote_port;
    }
  id = ck_gateway_session_get_id (opening->session);

  /* A persistent remote session's socket lives as long as its caller. */
  if ((!opening->persistent || opening->remote != NULL) &&
      !watch_caller (opening->opened, connection, opening->caller))
    {
      g_dbus_method_invocation_return_error_literal (opening->invocation, CK_ERROR,
                                                     CK_ERROR_ACCESS_DENIED,
                                                     "The process that asked for the session has exited.");
      opening_free (opening);
      return;
    }

  if (!opening->persistent)
    return_session (opening);
  else
    {
      g_autofree char *json = session_to_json (opening->session, opening->opened);
      g_autofree char *label = g_strdup_printf ("Claude Code gateway session (%s)",
                                                opening->command != NULL ? opening->command : id);

      ck_token_store_set_gateway_session_async (self->store, id, label, json, NULL,
                                                on_session_stored, opening);
      explicit_bzero (json, strlen (json));
    }
}

static void
on_kind_resolved (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Opening *opening = user_data;
  g_autoptr(CkCredential) credential = NULL;
  g_autoptr(GError) error = NULL;

  credential = ck_resolver_get_credential_finish (CK_RESOLVER (object), result, &error);
  if (credential == NULL)
    {
      _ck_service_return_error (opening->invocation, error);
      opening_free (opening);
      return;
    }
  opening->kind = credential->kind;
  open_session (opening);
}

static gboolean
parse_open_options (GVariant   *options,
                    Opening    *opening,
                    GError    **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;
  guint min_validity;

  /* "kind" as GetCredential reads it. */
  if (!ck_credential_options_parse (options, &min_validity, &opening->kind, error))
    return FALSE;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) owned = value;
      const GVariantType *expected = g_str_equal (key, "persistent") ? G_VARIANT_TYPE_BOOLEAN
                                   : g_str_equal (key, "remote-port") ? G_VARIANT_TYPE_UINT32
                                   : g_str_equal (key, "upstream") || g_str_equal (key, "command") ||
                                     g_str_equal (key, "remote")
                                     ? G_VARIANT_TYPE_STRING : NULL;
      const char *string;

      /* Unknown options are ignored so newer callers work with this agent. */
      if (expected == NULL)
        continue;
      if (!g_variant_is_of_type (value, expected))
        {
          g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                       "The option %s must have the type %s.", key,
                       g_variant_type_peek_string (expected));
          return FALSE;
        }

      if (g_str_equal (key, "persistent"))
        {
          opening->persistent = g_variant_get_boolean (value);
          continue;
        }
      if (g_str_equal (key, "remote-port"))
        {
          opening->remote_port = g_variant_get_uint32 (value);
          if (opening->remote_port > G_MAXUINT16)
            {
              g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                   "The option remote-port must be a TCP port (0 to 65535).");
              return FALSE;
            }
          continue;
        }

      string = g_variant_get_string (value, NULL);
      if (g_str_equal (key, "upstream") && string[0] != '\0')
        {
          if (!ck_config_check_url (string, NULL))
            {
              g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                   "The upstream (ANTHROPIC_BASE_URL) must be an https URL, "
                                   "or http to localhost; fix ANTHROPIC_BASE_URL.");
              return FALSE;
            }
          g_free (opening->upstream);
          opening->upstream = g_strdup (string);
        }
      else if (g_str_equal (key, "remote"))
        {
          if (!remote_is_valid (string))
            {
              g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "The option remote must name the SSH destination: 1 to %u bytes "
                           "of UTF-8 without control characters.", MAX_REMOTE_LENGTH);
              return FALSE;
            }
          g_free (opening->remote);
          opening->remote = g_strdup (string);
        }
      else if (g_str_equal (key, "command") && string[0] != '\0')
        {
          g_free (opening->command);
          /* (g_utf8_substring () would read past a shorter string.) */
          opening->command = g_utf8_substring (string, 0, MIN (g_utf8_strlen (string, -1),
                                                               MAX_COMMAND_LENGTH));
          g_strdelimit (opening->command, "\r\n\t", ' ');
        }
    }
  return TRUE;
}

static void
open_gateway_session (CkService             *self,
                      GDBusMethodInvocation *invocation,
                      CkCaller              *caller)
{
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GError) error = NULL;
  const char *named, *cwd;
  Opening *opening;

  opening = g_new0 (Opening, 1);
  opening->self = g_object_ref (self);
  opening->invocation = invocation;
  opening->caller = ck_caller_ref (caller);

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  if (!parse_open_options (options, opening, &error) ||
      !ck_credential_options_parse_account (options, &named, &cwd, &error))
    {
      _ck_service_return_error (invocation, error);
      opening_free (opening);
      return;
    }
  /* The session serves the account chosen now (issue 19), kept by its
   * id so that a rename leaves it serving the same one. None chosen: the
   * fallback of the moment, of the kind asked for, as before accounts. */
  opening->account = _ck_service_choose_account (self, named, cwd, NULL, NULL);
  if (opening->account != NULL)
    {
      CkAccount *account = ck_token_store_find_account (self->store, opening->account);

      if (account != NULL)
        {
          g_free (opening->account);
          opening->account = g_strdup (account->id);
        }
    }

  if (opening->kind != CK_CREDENTIAL_KIND_ANY && opening->account == NULL)
    {
      open_session (opening);
      return;
    }

  /* What the client is told it holds: what the gateway would put on its
   * requests now. */
  ck_resolver_get_credential_for_async (self->resolver, opening->account, NULL, opening->kind, 0,
                                        NULL, on_kind_resolved, opening);
}

static gboolean
handle_open_gateway_session (CkDBusCredentials1    *skeleton,
                             GDBusMethodInvocation *invocation,
                             GVariant              *options,
                             CkService             *self)
{
  return _ck_service_with_caller (self, invocation, open_gateway_session);
}

/* CloseGatewaySession */

typedef struct
{
  CkService             *self;
  GDBusMethodInvocation *invocation;
  char                  *id;
} Closing;

static void
on_session_removed (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Closing *closing = user_data;
  g_autoptr(GError) error = NULL;

  if (!ck_token_store_remove_gateway_session_finish (CK_TOKEN_STORE (object), result, &error))
    {
      /* Still refused by this agent (gateway_revoked); a restart would
       * restore it from the keyring, so the caller must know. */
      g_warning ("Gateway session %s: its keyring item could not be removed: %s",
                 closing->id, error->message);
      _ck_service_return_error (closing->invocation, error);
    }
  else
    g_dbus_method_invocation_return_value (closing->invocation, NULL);

  g_object_unref (closing->self);
  g_free (closing->id);
  g_free (closing);
}

static void
close_gateway_session (CkService             *self,
                       GDBusMethodInvocation *invocation,
                       CkCaller              *caller)
{
  const char *id;
  Opened *opened;
  gboolean persistent;
  Closing *closing;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &id);
  opened = g_hash_table_lookup (self->gateway_opened, id);
  if (opened == NULL)
    {
      g_dbus_method_invocation_return_error_literal (invocation, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                                     "No gateway session has that id; "
                                                     "ListGatewaySessions shows the open ones.");
      return;
    }

  persistent = opened->persistent;
  if (persistent)
    g_hash_table_add (self->gateway_revoked, g_strdup (id));
  g_debug ("Gateway session %s closed by pid %u", id, caller->pid);
  closing = g_new0 (Closing, 1);
  closing->self = g_object_ref (self);
  closing->invocation = invocation;
  closing->id = g_strdup (id);
  end_session (self, closing->id, "it was closed");

  if (!persistent)
    {
      g_dbus_method_invocation_return_value (invocation, NULL);
      g_object_unref (closing->self);
      g_free (closing->id);
      g_free (closing);
      return;
    }
  ck_token_store_remove_gateway_session_async (self->store, closing->id, NULL,
                                               on_session_removed, closing);
}

static gboolean
handle_close_gateway_session (CkDBusCredentials1    *skeleton,
                              GDBusMethodInvocation *invocation,
                              const char            *id,
                              CkService             *self)
{
  return _ck_service_with_caller (self, invocation, close_gateway_session);
}

/* ListGatewaySessions */

static void
list_gateway_sessions (CkService             *self,
                       GDBusMethodInvocation *invocation,
                       CkCaller              *caller)
{
  g_autoptr(GPtrArray) sessions = NULL;
  GVariantBuilder list;

  g_variant_builder_init (&list, G_VARIANT_TYPE ("aa{sv}"));
  if (self->gateway != NULL)
    sessions = ck_gateway_dup_sessions (self->gateway);
  for (guint i = 0; sessions != NULL && i < sessions->len; i++)
    {
      CkGatewaySession *session = g_ptr_array_index (sessions, i);
      const char *id = ck_gateway_session_get_id (session);
      const char *remote = ck_gateway_session_get_remote (session);
      Opened *opened = g_hash_table_lookup (self->gateway_opened, id);

      g_variant_builder_open (&list, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&list, "{sv}", "id", g_variant_new_string (id));
      g_variant_builder_add (&list, "{sv}", "kind",
                             g_variant_new_string (ck_credential_kind_to_string (ck_gateway_session_get_kind (session))));
      g_variant_builder_add (&list, "{sv}", "pid", g_variant_new_uint32 (opened != NULL ? opened->pid : 0));
      g_variant_builder_add (&list, "{sv}", "exe",
                             g_variant_new_string (opened != NULL && opened->exe != NULL ? opened->exe : ""));
      g_variant_builder_add (&list, "{sv}", "command",
                             g_variant_new_string (opened != NULL && opened->command != NULL ? opened->command : ""));
      g_variant_builder_add (&list, "{sv}", "since", g_variant_new_int64 (ck_gateway_session_get_created (session)));
      g_variant_builder_add (&list, "{sv}", "requests", g_variant_new_uint64 (ck_gateway_session_get_requests (session)));
      g_variant_builder_add (&list, "{sv}", "bytes", g_variant_new_uint64 (ck_gateway_session_get_bytes (session)));
      g_variant_builder_add (&list, "{sv}", "persistent",
                             g_variant_new_boolean (opened != NULL && opened->persistent));
      g_variant_builder_add (&list, "{sv}", "token-sha256",
                             g_variant_new_string (ck_gateway_session_get_digest (session)));
      g_variant_builder_add (&list, "{sv}", "remote", g_variant_new_string (remote != NULL ? remote : ""));
      /* The id of the account it serves ("" when it predates accounts). */
      g_variant_builder_add (&list, "{sv}", "account",
                             g_variant_new_string (ck_gateway_session_get_account (session) != NULL
                                                   ? ck_gateway_session_get_account (session) : ""));
      g_variant_builder_add (&list, "{sv}", "remote-port",
                             g_variant_new_uint32 (opened != NULL ? opened->remote_port : 0));
      /* A remote session is reachable only while its socket listens. */
      g_variant_builder_add (&list, "{sv}", "connected",
                             g_variant_new_boolean (remote == NULL ||
                                                    ck_gateway_get_session_socket (self->gateway, id) != NULL));
      g_variant_builder_close (&list);
    }
  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(aa{sv})", &list));
}

static gboolean
handle_list_gateway_sessions (CkDBusCredentials1    *skeleton,
                              GDBusMethodInvocation *invocation,
                              CkService             *self)
{
  return _ck_service_with_caller (self, invocation, list_gateway_sessions);
}

/* The status */

void
_ck_service_gateway_add_status (CkService       *self,
                                GVariantBuilder *builder)
{
  g_autoptr(GPtrArray) sessions = self->gateway != NULL ? ck_gateway_dup_sessions (self->gateway) : NULL;
  guint32 remote = 0;

  for (guint i = 0; sessions != NULL && i < sessions->len; i++)
    if (ck_gateway_session_get_remote (g_ptr_array_index (sessions, i)) != NULL)
      remote++;
  g_variant_builder_add (builder, "{sv}", "gateway-sessions",
                         g_variant_new_uint32 (self->gateway_opened != NULL
                                               ? g_hash_table_size (self->gateway_opened) : 0));
  g_variant_builder_add (builder, "{sv}", "gateway-remote-sessions", g_variant_new_uint32 (remote));
  if (self->gateway_listening)
    {
      g_autofree char *url = ck_gateway_dup_url (self->gateway);

      g_variant_builder_add (builder, "{sv}", "gateway-url", g_variant_new_string (url));
    }
}

/* Setup */

void
_ck_service_gateway_init (CkService *self)
{
  self->gateway_opened = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                (GDestroyNotify) opened_free);
  self->gateway_revoked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->gateway_listener_fd = -1;

  g_signal_connect_object (self->store, "changed", G_CALLBACK (_ck_service_gateway_sync),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->skeleton, "handle-open-gateway-session",
                           G_CALLBACK (handle_open_gateway_session), self, 0);
  g_signal_connect_object (self->skeleton, "handle-close-gateway-session",
                           G_CALLBACK (handle_close_gateway_session), self, 0);
  g_signal_connect_object (self->skeleton, "handle-list-gateway-sessions",
                           G_CALLBACK (handle_list_gateway_sessions), self, 0);
}

/* From dispose: every session ends with the service. */
void
_ck_service_gateway_clear (CkService *self)
{
  g_clear_pointer (&self->gateway_opened, g_hash_table_unref);
  g_clear_pointer (&self->gateway_revoked, g_hash_table_unref);
  if (self->gateway_listener_fd >= 0)
    close (g_steal_fd (&self->gateway_listener_fd));
  if (self->gateway != NULL)
    ck_gateway_stop (self->gateway);
  self->gateway_listening = FALSE;
  g_clear_object (&self->gateway);
}
