/* ck-gateway.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * An HTTP/1.1 server on loopback that claude uses as its API base URL.
 * Each request shows a session token; the gateway swaps it for the
 * resolver's credential and forwards the request to the API, then streams
 * the answer back as it arrives. The whole request body is held (up to
 * CK_GATEWAY_MAX_BODY) so that an OAuth token the API refuses can be
 * refreshed and the request sent once more, unseen by the client. The
 * answer is not held: one chunk at a time is in flight, the next is read
 * from upstream only once the previous one went out to the client.
 *
 * Everything runs on the thread that created the gateway (the agent's
 * main loop); only the sessions' counters are read from elsewhere.
 */

#define G_LOG_DOMAIN "ck-gateway"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libsoup/soup.h>

#include "ck-config.h"
#include "ck-error.h"
#include "ck-gateway.h"
#include "ck-gateway-head.h"
#include "ck-loopback-server.h"
#include "ck-oauth-tokens.h"
#include "ck-pkce.h"

/* Upstream reads: as large as a TLS record train, small enough that one
 * in flight per stream keeps the agent's memory flat. */
#define READ_SIZE (64 * 1024)

/* The credential must outlive the request's trip to the API. */
#define CREDENTIAL_MIN_VALIDITY 60

/* A non-streamed Messages request answers only when it is complete; the
 * API itself gives up on those after ten minutes. */
#define DEFAULT_RESPONSE_TIMEOUT (10 * 60)

/* How often to look for a port that is free on both 127.0.0.1 and ::1. */
#define LISTEN_ATTEMPTS 8

#define REQUEST_KEY "ck-gateway-request"

/* Connections open at once, idle kept-alive ones included: plenty for our
 * user's clients; few for everyone else together, whose requests are
 * only refused, so that they cannot use up the agent's descriptors. */
#define MAX_OWN_CONNECTIONS   256
#define MAX_OTHER_CONNECTIONS 4

/* Connections open at once on a session's own socket. Anyone on the
 * remote host who reaches the forwarded port arrives there as our user
 * (the ssh master): they get a pool of their own, and when it is full the
 * oldest connection that never showed the session's token makes room. */
#define MAX_SESSION_CONNECTIONS 64

/* After a failed accept (out of descriptors, most likely) the next try
 * waits this long; the connection waits in the backlog meanwhile. */
#define ACCEPT_RETRY_MS 100

/* Marks an accepted connection as one of our own user's. */
#define OWN_KEY "ck-gateway-own"

/* Marks a connection on a session's socket that carried its token. */
#define PROVEN_KEY "ck-gateway-proven"

/* What the accept path learnt of a connection (a Peer), kept on the
 * remote address libsoup holds for it. */
#define PEER_KEY "ck-gateway-peer"

typedef char CkSecretString;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CkSecretString, ck_secret_free)

/* Sessions */

struct _CkGatewaySession
{
  gatomicrefcount   ref_count;
  char             *id;
  char             *token;
  char             *digest;     /* SHA-256 of the token, hex: the lookup key */
  CkCredentialKind  kind;
  char             *upstream;
  char             *account;    /* the account it serves; NULL: the default */
  char             *remote;     /* NULL: a local session */
  gint64            created;
  guint64           requests;   /* atomic */
  guint64           bytes;      /* atomic */
};

G_DEFINE_BOXED_TYPE (CkGatewaySession, ck_gateway_session,
                     ck_gateway_session_ref, ck_gateway_session_unref)

static char *
token_digest (const char *token)
{
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, token, -1);
}

CkGatewaySession *
ck_gateway_session_new_full (const char       *id,
                             const char       *token,
                             CkCredentialKind  kind,
                             const char       *upstream,
                             gint64            created)
{
  CkGatewaySession *self;

  g_return_val_if_fail (id != NULL && id[0] != '\0', NULL);
  g_return_val_if_fail (token != NULL && token[0] != '\0', NULL);

  self = g_new0 (CkGatewaySession, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->id = g_strdup (id);
  self->token = g_strdup (token);
  self->digest = token_digest (token);
  self->kind = kind;
  self->upstream = upstream != NULL && upstream[0] != '\0' ? g_strdup (upstream) : NULL;
  self->created = created;
  return self;
}

CkGatewaySession *
ck_gateway_session_new (CkCredentialKind  kind,
                        const char       *upstream)
{
  g_autofree char *id = g_uuid_string_random ();
  g_autoptr(CkSecretString) token = ck_pkce_random_token ();

  return ck_gateway_session_new_full (id, token, kind, upstream,
                                      g_get_real_time () / G_USEC_PER_SEC);
}

CkGatewaySession *
ck_gateway_session_ref (CkGatewaySession *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
ck_gateway_session_unref (CkGatewaySession *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_free (self->id);
  ck_secret_free (self->token);
  ck_secret_free (self->digest);
  g_free (self->upstream);
  g_free (self->account);
  g_free (self->remote);
  g_free (self);
}

/* Before the session is added: later requests use the account's
 * credential (see CkAccount), not the default one. */
void
ck_gateway_session_set_account (CkGatewaySession *self,
                                const char       *account)
{
  g_return_if_fail (self != NULL);

  g_free (self->account);
  self->account = g_strdup (account);
}

const char *
ck_gateway_session_get_account (CkGatewaySession *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->account;
}

const char *
ck_gateway_session_get_id (CkGatewaySession *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->id;
}

const char *
ck_gateway_session_get_token (CkGatewaySession *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->token;
}

CkCredentialKind
ck_gateway_session_get_kind (CkGatewaySession *self)
{
  g_return_val_if_fail (self != NULL, CK_CREDENTIAL_KIND_ANY);
  return self->kind;
}

const char *
ck_gateway_session_get_upstream (CkGatewaySession *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->upstream;
}

gint64
ck_gateway_session_get_created (CkGatewaySession *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->created;
}

guint64
ck_gateway_session_get_requests (CkGatewaySession *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return __atomic_load_n (&self->requests, __ATOMIC_RELAXED);
}

guint64
ck_gateway_session_get_bytes (CkGatewaySession *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return __atomic_load_n (&self->bytes, __ATOMIC_RELAXED);
}

const char *
ck_gateway_session_get_digest (CkGatewaySession *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->digest;
}

void
ck_gateway_session_set_remote (CkGatewaySession *self,
                               const char       *remote)
{
  g_return_if_fail (self != NULL);

  g_free (self->remote);
  self->remote = remote != NULL && remote[0] != '\0' ? g_strdup (remote) : NULL;
}

const char *
ck_gateway_session_get_remote (CkGatewaySession *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->remote;
}

/* The gateway */

/* How often an upstream 401 may force a refresh of the OAuth login. */
#define FORCED_REFRESH_INTERVAL_USEC (60 * G_USEC_PER_SEC)

struct _CkGateway
{
  GObject      parent_instance;

  gint64       last_forced_refresh;  /* monotonic µs, 0 = never */

  GSettings   *settings;
  CkResolver  *resolver;
  SoupServer  *server;
  GPtrArray   *listeners;    /* Listener */
  GPtrArray   *connections;  /* GSocketConnection, until seen closed */
  GSocket     *anchor_peer;  /* see add_keep_alive_anchor() */
  gboolean     logged_other_user;
  gboolean     logged_accept_error;
  SoupSession *session;
  guint16      port;
  gboolean     listening;
  guint        response_timeout;

  GPtrArray   *sessions;    /* oldest first, owns a reference each */
  GHashTable  *by_digest;   /* token digest → session (borrowed) */
};

G_DEFINE_FINAL_TYPE (CkGateway, ck_gateway, G_TYPE_OBJECT)

enum {
  SESSION_REQUEST,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* A connection as the gateway accepted it. libsoup has no socket for a
 * connection handed to soup_server_accept_iostream() (its
 * soup_server_message_get_socket() is NULL), but keeps the addresses
 * given with it: this rides on the remote one. */
typedef struct
{
  GSocket   *socket;
  GIOStream *connection;
  char      *session_id;  /* accepted on that session's own socket */
  gboolean   own;         /* our user's */
  gboolean   busy;        /* a request is under way on it */
  GSource   *idle_watch;  /* between requests: for the client leaving */
} Peer;

static void
peer_unwatch (Peer *peer)
{
  if (peer->idle_watch != NULL)
    {
      g_source_destroy (peer->idle_watch);
      g_clear_pointer (&peer->idle_watch, g_source_unref);
    }
}

static void
peer_free (Peer *peer)
{
  peer_unwatch (peer);
  g_clear_object (&peer->socket);
  g_clear_object (&peer->connection);
  g_free (peer->session_id);
  g_free (peer);
}

static Peer *
get_peer (SoupServerMessage *msg)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);

  return remote != NULL ? g_object_get_data (G_OBJECT (remote), PEER_KEY) : NULL;
}

static GSocket *
get_socket (SoupServerMessage *msg)
{
  Peer *peer = get_peer (msg);

  return peer != NULL ? peer->socket : NULL;
}

/* A look at a client's socket that takes nothing: 1 when data waits,
 * 0 when the client has gone, -1 when there is nothing yet. */
static int
peek_client (GSocket *socket)
{
  char byte;
  gssize n;

  n = recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return -1;
  return n > 0;
}

/* libsoup 3.2 never closes a kept-alive connection whose client closed
 * it between two requests (fixed in 3.3): the gateway would keep it for
 * ever, and a few hundred of them (claude's idle ones, ssh's forwarded
 * ones, anyone's through a forward) would use up its connections. So
 * between requests the gateway looks for the end itself. */
static gboolean
on_idle_readable (GSocket      *socket,
                  GIOCondition  condition,
                  gpointer      user_data)
{
  Peer *peer = user_data;
  int peeked = peek_client (socket);

  if (peeked < 0)
    return G_SOURCE_CONTINUE;

  g_clear_pointer (&peer->idle_watch, g_source_unref);
  /* Data: the next request, libsoup's to read. */
  if (peeked == 0 && !peer->busy)
    g_io_stream_close (peer->connection, NULL, NULL);
  return G_SOURCE_REMOVE;
}

static void
on_request_started (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  Peer *peer = get_peer (msg);

  if (peer == NULL)
    return;
  peer->busy = TRUE;
  peer_unwatch (peer);
}

static void
on_request_ended (SoupServer        *server,
                  SoupServerMessage *msg,
                  gpointer           user_data)
{
  Peer *peer = get_peer (msg);

  if (peer == NULL)
    return;
  peer->busy = FALSE;
  if (peer->idle_watch != NULL || g_io_stream_is_closed (peer->connection) ||
      g_socket_is_closed (peer->socket))
    return;
  peer->idle_watch = g_socket_create_source (peer->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (peer->idle_watch, G_SOURCE_FUNC (on_idle_readable), peer, NULL);
  g_source_set_static_name (peer->idle_watch, "[ck-gateway] idle connection");
  g_source_attach (peer->idle_watch, g_main_context_get_thread_default ());
}

/* One request, from its head to its last byte. Held by the server
 * message (until it finishes) and by every callback in flight. */
typedef enum
{
  STATE_RECEIVING,   /* reading the body from the client */
  STATE_WAITING,     /* for a credential, or for the upstream's head */
  STATE_READING,     /* a chunk from upstream */
  STATE_WRITING,     /* that chunk to the client */
  STATE_DONE,
} State;

typedef struct
{
  /* Not a reference: the gateway's dispose ends every request (by
   * dropping their connections) before it goes. */
  CkGateway         *gateway;
  SoupServerMessage *msg;         /* NULL once the message is over */
  CkGatewaySession  *session;
  GByteArray        *body_buffer; /* while receiving */
  GBytes            *body;
  GCancellable      *cancellable;
  SoupMessage       *upstream;
  GInputStream      *stream;
  char              *sent_token;  /* the credential of the last attempt */
  CkCredentialKind   sent_kind;
  State              state;
  gboolean           retried;
  gboolean           timed_out;
  gboolean           foreign;     /* another user listens on the upstream's port */
  uid_t              foreign_uid;
  gsize              pending;     /* bytes of the chunk being written */
  guint              timeout_id;
  GSource           *watch;
} Request;

static void
set_upstream (Request     *request,
              SoupMessage *upstream)
{
  if (request->upstream != NULL)
    g_signal_handlers_disconnect_by_data (request->upstream, request);
  g_set_object (&request->upstream, upstream);
}

static void
request_clear (Request *request)
{
  set_upstream (request, NULL);
  g_clear_object (&request->msg);
  g_clear_pointer (&request->session, ck_gateway_session_unref);
  g_clear_pointer (&request->body_buffer, g_byte_array_unref);
  g_clear_pointer (&request->body, g_bytes_unref);
  g_clear_object (&request->cancellable);
  g_clear_object (&request->stream);
  g_clear_pointer (&request->sent_token, ck_secret_free);
  g_clear_handle_id (&request->timeout_id, g_source_remove);
  if (request->watch != NULL)
    {
      g_source_destroy (request->watch);
      g_clear_pointer (&request->watch, g_source_unref);
    }
}

static Request *
request_ref (Request *request)
{
  return g_rc_box_acquire (request);
}

static void
request_unref (Request *request)
{
  g_rc_box_release_full (request, (GDestroyNotify) request_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Request, request_unref)

/* Answers */

static void
set_error (SoupServerMessage *msg,
           guint              status,
           const char        *type,
           const char        *message)
{
  char *body = ck_gateway_dup_error_body (type, message);
  gsize length = strlen (body);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, body, length);
}

/* The request is over for the gateway: count it, and let go. Runs once,
 * from the server message's "finished" or when the gateway drops the
 * connection itself. */
static void
request_over (Request *request)
{
  g_autoptr(Request) hold = request_ref (request);
  g_autoptr(SoupServerMessage) msg = g_steal_pointer (&request->msg);

  if (msg == NULL)
    return;

  request->state = STATE_DONE;
  g_cancellable_cancel (request->cancellable);
  g_clear_handle_id (&request->timeout_id, g_source_remove);
  if (request->watch != NULL)
    {
      g_source_destroy (request->watch);
      g_clear_pointer (&request->watch, g_source_unref);
    }

  g_signal_handlers_disconnect_by_data (msg, request);
  g_debug ("%s %s: %u", soup_server_message_get_method (msg),
           soup_server_message_get_uri (msg) != NULL
             ? g_uri_get_path (soup_server_message_get_uri (msg)) : "",
           soup_server_message_get_status (msg));

  if (request->session != NULL)
    {
      __atomic_fetch_add (&request->session->requests, 1, __ATOMIC_RELAXED);
      g_signal_emit (request->gateway, signals[SESSION_REQUEST], 0, request->session);
    }

  /* Drops the message's own reference to the request. */
  g_object_set_data (G_OBJECT (msg), REQUEST_KEY, NULL);
}

/* "finished", or "disconnected": a connection that goes (the gateway
 * stopping, an I/O error) takes its message with it unfinished. */
static void
on_finished (SoupServerMessage *msg,
             Request           *request)
{
  request_over (request);
}

/* Ends the client's connection at once: a stream that broke upstream must
 * not look complete to the client, and a client that left needs no
 * answer. */
static void
drop_connection (Request *request)
{
  g_autoptr(Request) hold = request_ref (request);
  g_autoptr(GIOStream) stream = NULL;
  GSocket *socket;

  if (request->msg == NULL)
    return;

  /* Shut first: libsoup, letting go of the stream, would otherwise end
   * the chunked body properly, and the client take it as complete. */
  if ((socket = get_socket (request->msg)) != NULL)
    g_socket_shutdown (socket, FALSE, TRUE, NULL);
  stream = soup_server_message_steal_connection (request->msg);
  if (stream != NULL)
    g_io_stream_close (stream, NULL, NULL);
  request_over (request);
}

static void
respond_error (Request    *request,
               guint       status,
               const char *type,
               const char *message)
{
  if (request->msg == NULL)
    return;

  request->state = STATE_DONE;
  set_error (request->msg, status, type, message);
  soup_server_message_unpause (request->msg);
}

/* The client is gone (or, rarely, sent its next request already): while
 * the gateway waits for upstream, libsoup does not look at the socket. */
static gboolean
on_client_readable (GSocket      *socket,
                    GIOCondition  condition,
                    gpointer      user_data)
{
  Request *request = user_data;
  int peeked = peek_client (socket);

  if (peeked < 0)
    return G_SOURCE_CONTINUE;

  g_clear_pointer (&request->watch, g_source_unref);
  if (peeked > 0)
    return G_SOURCE_REMOVE;

  g_debug ("The client left; cancelling its request upstream");
  g_cancellable_cancel (request->cancellable);
  drop_connection (request);
  return G_SOURCE_REMOVE;
}

static void
watch_client (Request *request)
{
  GSocket *socket = get_socket (request->msg);

  if (socket == NULL)
    return;

  request->watch = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (request->watch, G_SOURCE_FUNC (on_client_readable), request, NULL);
  g_source_set_static_name (request->watch, "[ck-gateway] client");
  g_source_attach (request->watch, g_main_context_get_thread_default ());
}

/* Streaming the answer */

/* libsoup writes a chunk as three sends (its size, the data, CRLF); corked
 * until it is written, it leaves as one segment, at once. */
static void
set_cork (Request *request,
          gboolean corked)
{
  GSocket *socket = get_socket (request->msg);

  if (socket != NULL)
    g_socket_set_option (socket, IPPROTO_TCP, TCP_CORK, corked, NULL);
}

static void read_next (Request *request);

static void
on_read (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(Request) request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  SoupMessageBody *body;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, &error);
  if (request->msg == NULL)
    return;

  if (bytes == NULL)
    {
      g_debug ("The upstream answer broke off: %s", error->message);
      drop_connection (request);
      return;
    }

  body = soup_server_message_get_response_body (request->msg);
  if (g_bytes_get_size (bytes) == 0)
    {
      /* At its end, closing does no I/O: it hands the connection back to
       * the pool now, before the client can send its next request (which
       * would otherwise open another one). */
      g_input_stream_close (request->stream, NULL, NULL);
      request->state = STATE_DONE;
      soup_message_body_complete (body);
      soup_server_message_unpause (request->msg);
      return;
    }

  request->state = STATE_WRITING;
  request->pending = g_bytes_get_size (bytes);
  set_cork (request, TRUE);
  soup_message_body_append_bytes (body, bytes);
  soup_server_message_unpause (request->msg);
}

static void
read_next (Request *request)
{
  request->state = STATE_READING;
  g_input_stream_read_bytes_async (request->stream, READ_SIZE, G_PRIORITY_DEFAULT,
                                   request->cancellable, on_read, request_ref (request));
}

static void
on_wrote_chunk (SoupServerMessage *msg,
                Request           *request)
{
  if (request->state != STATE_WRITING)
    return;

  set_cork (request, FALSE);
  __atomic_fetch_add (&request->session->bytes, request->pending, __ATOMIC_RELAXED);
  request->pending = 0;
  read_next (request);
}

static void
start_response (Request      *request,
                GInputStream *stream)
{
  SoupMessageHeaders *from = soup_message_get_response_headers (request->upstream);
  SoupMessageHeaders *to = soup_server_message_get_response_headers (request->msg);

  soup_server_message_set_status (request->msg, soup_message_get_status (request->upstream),
                                  soup_message_get_reason_phrase (request->upstream));

  /* Upstream's Date and Server, not libsoup's. */
  soup_message_headers_clear (to);
  ck_gateway_copy_response_headers (from, to);
  if (soup_message_headers_get_encoding (from) == SOUP_ENCODING_CONTENT_LENGTH)
    soup_message_headers_set_content_length (to, soup_message_headers_get_content_length (from));
  else if (soup_server_message_get_http_version (request->msg) == SOUP_HTTP_1_0)
    soup_message_headers_set_encoding (to, SOUP_ENCODING_EOF);
  else
    soup_message_headers_set_encoding (to, SOUP_ENCODING_CHUNKED);

  /* What went out is dropped: memory stays at one chunk per stream. */
  soup_message_body_set_accumulate (soup_server_message_get_response_body (request->msg), FALSE);

  request->stream = g_object_ref (stream);
  soup_server_message_unpause (request->msg);
  read_next (request);
}

/* The upstream's owner */

/* A plain http upstream on loopback is whoever listens on its port: a
 * user of the machine who bound it first (while the local proxy that
 * ANTHROPIC_BASE_URL names is not running) would get the credential.
 * Checked as each send starts, on a new connection or a kept one, before
 * libsoup writes a byte of it. */
static void
on_upstream_starting (SoupMessage *upstream,
                      Request     *request)
{
  GSocketAddress *remote = soup_message_get_remote_address (upstream);
  GInetSocketAddress *address = G_IS_INET_SOCKET_ADDRESS (remote)
    ? G_INET_SOCKET_ADDRESS (remote) : NULL;
  uid_t uid = (uid_t) -1;

  if (g_strcmp0 (g_uri_get_scheme (soup_message_get_uri (upstream)), "http") != 0 ||
      (address != NULL &&
       !g_inet_address_get_is_loopback (g_inet_socket_address_get_address (address))))
    return;
  if (address != NULL && ck_loopback_listener_is_us (address, &uid))
    return;

  /* Cancelled before it starts, the send writes nothing; the credential
   * is taken out as well, should anything still write the head. */
  request->foreign = TRUE;
  request->foreign_uid = uid;
  soup_message_headers_remove (soup_message_get_request_headers (upstream), "Authorization");
  soup_message_headers_remove (soup_message_get_request_headers (upstream), "x-api-key");
  g_cancellable_cancel (request->cancellable);
}

static void
respond_foreign (Request *request)
{
  GUri *uri = soup_message_get_uri (request->upstream);
  int port = g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : 80;
  g_autofree char *base = g_uri_join (G_URI_FLAGS_NONE, g_uri_get_scheme (uri), NULL,
                                      g_uri_get_host (uri), port, "", NULL, NULL);
  g_autofree char *message = NULL;

  if (request->foreign_uid != (uid_t) -1)
    message = g_strdup_printf ("claude-keyring sent nothing to %s: port %d there belongs to "
                               "another user of this machine (uid %u), who would have received "
                               "your credential. Check ANTHROPIC_BASE_URL, or start your own "
                               "server on that port.",
                               base, port, (guint) request->foreign_uid);
  else
    message = g_strdup_printf ("claude-keyring sent nothing to %s: it cannot tell who holds "
                               "port %d there, and it may be another user of this machine. "
                               "Check ANTHROPIC_BASE_URL.", base, port);
  g_message ("Refused to send a credential to port %d on loopback: not ours (uid %d)",
             port, (int) request->foreign_uid);
  respond_error (request, SOUP_STATUS_BAD_GATEWAY, "api_error", message);
}

/* Forwarding */

static void fetch_credential (Request *request);

static void
on_sent (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(Request) request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) stream = NULL;
  guint status;

  stream = soup_session_send_finish (SOUP_SESSION (object), result, &error);
  g_clear_handle_id (&request->timeout_id, g_source_remove);
  if (request->msg == NULL)
    return;

  if (stream == NULL)
    {
      g_autofree char *message = NULL;
      GUri *uri = soup_message_get_uri (request->upstream);

      if (request->foreign)
        {
          respond_foreign (request);
          return;
        }
      if (request->timed_out || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        {
          message = g_strdup_printf ("The API at %s did not answer in time; try again.",
                                     g_uri_get_host (uri));
          respond_error (request, SOUP_STATUS_GATEWAY_TIMEOUT, "timeout_error", message);
        }
      else
        {
          message = g_strdup_printf ("claude-keyring could not reach the API at %s (%s); "
                                     "check the network and the api-base-url setting.",
                                     g_uri_get_host (uri), error->message);
          respond_error (request, SOUP_STATUS_BAD_GATEWAY, "api_error", message);
        }
      return;
    }

  status = soup_message_get_status (request->upstream);
  if (status == SOUP_STATUS_UNAUTHORIZED && request->sent_kind == CK_CREDENTIAL_KIND_OAUTH &&
      !request->retried)
    {
      /* The token looked valid to us: revoked, or expired early. One
       * refresh and one more try, the client none the wiser. */
      CkGateway *gateway = request->gateway;
      gint64 now = g_get_monotonic_time ();

      request->retried = TRUE;
      /* A path the API always answers 401 would otherwise cost a refresh
       * per request: at most one forced refresh a minute. Requests that
       * meet a refresh already forced get its token on their retry; the
       * rest pass the 401 on. */
      if (gateway->last_forced_refresh == 0 ||
          now - gateway->last_forced_refresh >= FORCED_REFRESH_INTERVAL_USEC)
        {
          g_debug ("The API refused the access token; refreshing and sending again");
          gateway->last_forced_refresh = now;
          ck_resolver_invalidate (gateway->resolver, request->sent_token);
        }
      g_input_stream_close_async (stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      fetch_credential (request);
      return;
    }

  start_response (request, stream);
}

static gboolean
on_timeout (gpointer user_data)
{
  Request *request = user_data;

  request->timeout_id = 0;
  request->timed_out = TRUE;
  g_cancellable_cancel (request->cancellable);
  return G_SOURCE_REMOVE;
}

static void
arm_timeout (Request *request,
             guint    seconds)
{
  g_clear_handle_id (&request->timeout_id, g_source_remove);
  request->timeout_id = g_timeout_add_seconds (seconds, on_timeout, request);
}

/* Connected and the head is out: from now on the API is thinking. */
static void
on_upstream_wrote_headers (SoupMessage *upstream,
                           Request     *request)
{
  if (request->timeout_id != 0)
    arm_timeout (request, request->gateway->response_timeout);
}

static char *
dup_upstream_base (Request  *request,
                   GError  **error)
{
  const char *upstream = request->session->upstream;
  g_autofree char *base = NULL;

  if (upstream == NULL)
    return ck_config_dup_endpoint (request->gateway->settings, CK_ENDPOINT_API_BASE, error);

  /* The caller's ANTHROPIC_BASE_URL: held to the same rule as the setting. */
  if (!ck_config_check_url (upstream, error))
    return NULL;
  base = g_strdup (upstream);
  if (g_str_has_suffix (base, "/"))
    base[strlen (base) - 1] = '\0';
  return g_steal_pointer (&base);
}

static void
send_upstream (Request            *request,
               const CkCredential *credential)
{
  SoupServerMessage *msg = request->msg;
  SoupMessageHeaders *client_headers = soup_server_message_get_request_headers (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  const char *query = g_uri_get_query (uri);
  g_autoptr(GError) error = NULL;
  g_autofree char *base = NULL;
  g_autofree char *url = NULL;
  g_autoptr(SoupMessage) upstream = NULL;

  if ((base = dup_upstream_base (request, &error)) == NULL)
    {
      g_autofree char *message = g_strdup_printf ("The gateway has no usable API address: %s",
                                                  error->message);

      respond_error (request, SOUP_STATUS_BAD_GATEWAY, "api_error", message);
      return;
    }

  /* Path and query exactly as the client wrote them (raw-paths). */
  url = g_strconcat (base, g_uri_get_path (uri), query != NULL ? "?" : "", query, NULL);
  upstream = soup_message_new (soup_server_message_get_method (msg), url);
  if (upstream == NULL)
    {
      respond_error (request, SOUP_STATUS_BAD_REQUEST, "invalid_request_error",
                     "The request's path cannot be forwarded.");
      return;
    }

  /* Redirects are the client's to see, not libsoup's to follow. Without
   * IDEMPOTENT, libsoup opens a new connection (a new TLS handshake with
   * the API) for every POST; a kept-alive one found closed fails before
   * the API has read the request, so sending it again is safe. */
  soup_message_add_flags (upstream, SOUP_MESSAGE_NO_REDIRECT | SOUP_MESSAGE_IDEMPOTENT);
  ck_gateway_copy_request_headers (client_headers, soup_message_get_request_headers (upstream),
                                   request->session->token);
  if (soup_message_headers_get_encoding (client_headers) != SOUP_ENCODING_NONE)
    soup_message_set_request_body_from_bytes (upstream, NULL, request->body);
  ck_gateway_put_credential (soup_message_get_request_headers (upstream), credential);

  g_clear_pointer (&request->sent_token, ck_secret_free);
  request->sent_token = g_strdup (credential->token);
  request->sent_kind = credential->kind;
  set_upstream (request, upstream);

  /* Until connected (TLS included): the http-timeout setting, short. */
  arm_timeout (request, g_settings_get_uint (request->gateway->settings, "http-timeout"));
  g_signal_connect (upstream, "wrote-headers", G_CALLBACK (on_upstream_wrote_headers), request);
  g_signal_connect (upstream, "starting", G_CALLBACK (on_upstream_starting), request);
  soup_session_send_async (request->gateway->session, upstream, G_PRIORITY_DEFAULT,
                           request->cancellable, on_sent, request_ref (request));
}

static void
on_credential (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(Request) request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(CkCredential) credential = NULL;

  credential = ck_resolver_get_credential_finish (CK_RESOLVER (object), result, &error);
  if (request->msg == NULL)
    return;

  if (credential == NULL)
    {
      g_autofree char *message = g_strdup_printf ("claude-keyring has no credential to "
                                                  "send: %s", error->message);

      /* The stored tokens stay as they are; the message says what to do. */
      respond_error (request, SOUP_STATUS_UNAUTHORIZED, "authentication_error", message);
      return;
    }

  send_upstream (request, credential);
}

static void
fetch_credential (Request *request)
{
  request->state = STATE_WAITING;
  ck_resolver_get_credential_for_async (request->gateway->resolver,
                                        request->session != NULL ? request->session->account : NULL,
                                        NULL, CK_CREDENTIAL_KIND_ANY,
                                        CREDENTIAL_MIN_VALIDITY, request->cancellable,
                                        on_credential, request_ref (request));
}

/* The server's handlers */

static void
on_got_chunk (SoupServerMessage *msg,
              GBytes            *chunk,
              Request           *request)
{
  gsize size = g_bytes_get_size (chunk);

  if (request->body_buffer == NULL)
    return;

  /* A chunked body has no length up front: count as it comes. */
  if (request->body_buffer->len + size > CK_GATEWAY_MAX_BODY)
    {
      g_clear_pointer (&request->body_buffer, g_byte_array_unref);
      set_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request_too_large",
                 "The request body is larger than the 32 MiB the claude-keyring gateway accepts.");
      return;
    }
  g_byte_array_append (request->body_buffer, g_bytes_get_data (chunk, NULL), size);
}

static CkGatewaySession *
find_session (CkGateway   *self,
              const char **tokens)
{
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *digest = NULL;
      CkGatewaySession *session;

      if (tokens[i] == NULL)
        continue;
      digest = token_digest (tokens[i]);
      session = g_hash_table_lookup (self->by_digest, digest);
      /* The digest found it; the token itself decides, in constant time. */
      if (session != NULL && ck_pkce_state_equal (session->token, tokens[i]))
        return session;
    }
  return NULL;
}

/* Runs once the head is read, before the body: a request that will be
 * refused is refused now, and its body (if the client sends it anyway) is
 * read and dropped. */
static void
early_handler (SoupServer        *server,
               SoupServerMessage *msg,
               const char        *path,
               GHashTable        *query,
               gpointer           user_data)
{
  CkGateway *self = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  Peer *peer = get_peer (msg);
  const char *tokens[2];
  const char *message, *target_message;
  CkGatewayHead head;
  CkGatewaySession *session;
  Request *request;

  soup_message_body_set_accumulate (body, FALSE);

  /* Another user of the machine is refused before the token is looked
   * at, so that no token guess of theirs is ever checked. */
  if (peer == NULL || !peer->own)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Connection", "close");
      set_error (msg, SOUP_STATUS_FORBIDDEN, "permission_error",
                 "The claude-keyring gateway serves only the user who runs it.");
      return;
    }

  /* On a session's socket the Host names the forwarded port, which the
   * agent does not know: any port of a loopback name (0). */
  head = ck_gateway_check_head (soup_server_message_get_method (msg), headers,
                                peer->session_id != NULL ? 0 : self->port, tokens, &message);
  switch (head)
    {
    case CK_GATEWAY_HEAD_BAD_REQUEST:
      set_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request_error", message);
      /* What follows on the connection is no request of its own: a
       * CONNECT's tunnel, a body framed two ways. */
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Connection", "close");
      return;
    case CK_GATEWAY_HEAD_FORBIDDEN:
      set_error (msg, SOUP_STATUS_FORBIDDEN, "permission_error", message);
      return;
    case CK_GATEWAY_HEAD_UNAUTHORIZED:
      set_error (msg, SOUP_STATUS_UNAUTHORIZED, "authentication_error", message);
      return;
    case CK_GATEWAY_HEAD_OK:
    case CK_GATEWAY_HEAD_TOO_LARGE:
    default:
      break;
    }

  if (soup_server_message_is_options_ping (msg))
    {
      set_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request_error",
                 "The claude-keyring gateway does not answer “OPTIONS *”.");
      return;
    }

  /* A remote session's token works only through its own socket (its
   * forward), and that socket serves no other token. */
  session = find_session (self, tokens);
  if (session != NULL &&
      g_strcmp0 (session->remote != NULL ? session->id : NULL, peer->session_id) != 0)
    session = NULL;
  if (session == NULL)
    {
      set_error (msg, SOUP_STATUS_UNAUTHORIZED, "authentication_error",
                 peer->session_id != NULL
                 ? "The claude-keyring gateway token is not valid: its session has ended. "
                   "Run “claude-keyring ssh” again."
                 : "The claude-keyring gateway token is not valid: its session has ended. "
                   "Start claude again with “claude-keyring run”, or run “claude-keyring "
                   "setup-claude --gateway” again.");
      return;
    }

  if (peer->session_id != NULL)
    g_object_set_data (G_OBJECT (peer->connection), PROVEN_KEY, GINT_TO_POINTER (TRUE));

  if (ck_gateway_check_target (g_uri_get_path (soup_server_message_get_uri (msg)),
                               g_uri_get_query (soup_server_message_get_uri (msg)),
                               session->token, &target_message) != CK_GATEWAY_HEAD_OK)
    {
      set_error (msg, SOUP_STATUS_BAD_REQUEST, "invalid_request_error", target_message);
      return;
    }

  request = g_rc_box_new0 (Request);
  request->gateway = self;
  request->msg = g_object_ref (msg);
  request->session = ck_gateway_session_ref (session);
  request->cancellable = g_cancellable_new ();
  request->state = STATE_RECEIVING;
  g_object_set_data_full (G_OBJECT (msg), REQUEST_KEY, request, (GDestroyNotify) request_unref);
  g_signal_connect (msg, "finished", G_CALLBACK (on_finished), request);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_finished), request);

  if (head == CK_GATEWAY_HEAD_TOO_LARGE)
    {
      set_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request_too_large", message);
      return;
    }

  /* The body goes to our own buffer, sized once when its length is known. */
  request->body_buffer = g_byte_array_sized_new (
    soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH
      ? soup_message_headers_get_content_length (headers) : 0);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), request);
}

static void
handler (SoupServer        *server,
         SoupServerMessage *msg,
         const char        *path,
         GHashTable        *query,
         gpointer           user_data)
{
  Request *request = g_object_get_data (G_OBJECT (msg), REQUEST_KEY);

  if (request == NULL || request->body_buffer == NULL)
    {
      set_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "api_error",
                 "The claude-keyring gateway lost track of this request; try again.");
      return;
    }

  request->body = g_byte_array_free_to_bytes (g_steal_pointer (&request->body_buffer));
  g_signal_connect (msg, "wrote-chunk", G_CALLBACK (on_wrote_chunk), request);
  soup_server_message_pause (msg);
  watch_client (request);
  fetch_credential (request);
}

/* Accepting */

/* Every connection is accepted here, not by libsoup: counted and, when
 * too many are open, closed before a byte of it is read; and a failed
 * accept is tried again, where libsoup 3.2's listener stops for good. */
typedef struct
{
  CkGateway *gateway;    /* not a reference: the gateway owns this */
  GSocket   *socket;
  GSource   *source;     /* NULL while waiting to try again */
  guint      retry_id;
  /* A session's own socket: serves that session alone, and its file is
   * removed (if it is still this socket's) when it closes. */
  char      *session_id;
  char      *path;
  dev_t      dev;
  ino_t      ino;
  GPtrArray *connections;  /* of our user, oldest first; they close with it */
} Listener;

static void
listener_free (Listener *listener)
{
  struct stat st;

  if (listener->source != NULL)
    {
      g_source_destroy (listener->source);
      g_clear_pointer (&listener->source, g_source_unref);
    }
  g_clear_handle_id (&listener->retry_id, g_source_remove);
  /* What came through the forward ends with it: a kept-alive connection
   * must not serve the session once its socket is gone. */
  if (listener->connections != NULL)
    {
      for (guint i = 0; i < listener->connections->len; i++)
        g_io_stream_close (g_ptr_array_index (listener->connections, i), NULL, NULL);
      g_ptr_array_unref (listener->connections);
    }
  g_socket_close (listener->socket, NULL);
  g_object_unref (listener->socket);
  if (listener->path != NULL && lstat (listener->path, &st) == 0 && S_ISSOCK (st.st_mode) &&
      st.st_dev == listener->dev && st.st_ino == listener->ino)
    unlink (listener->path);
  g_free (listener->session_id);
  g_free (listener->path);
  g_free (listener);
}

/* Whether the peer runs as this process's user (its uid in @uid, -1 when
 * unknown). */
static gboolean
peer_is_us (GSocket        *socket,
            GSocketAddress *local,
            GSocketAddress *remote,
            uid_t          *uid)
{
  g_autoptr(GCredentials) credentials = NULL;

  if (g_socket_get_family (socket) != G_SOCKET_FAMILY_UNIX)
    return ck_loopback_peer_is_us (local, remote, uid);

  credentials = g_socket_get_credentials (socket, NULL);
  *uid = credentials != NULL ? g_credentials_get_unix_user (credentials, NULL) : (uid_t) -1;
  return *uid != (uid_t) -1 && *uid == geteuid ();
}

/* Room for one more connection on a session's socket: FALSE when all
 * those open there carried the session's token. */
static gboolean
make_session_room (Listener *listener)
{
  GPtrArray *connections = listener->connections;
  GIOStream *unproven = NULL;

  for (guint i = connections->len; i > 0; i--)
    {
      GIOStream *connection = g_ptr_array_index (connections, i - 1);

      if (g_io_stream_is_closed (connection))
        g_ptr_array_remove_index (connections, i - 1);
      else if (g_object_get_data (G_OBJECT (connection), PROVEN_KEY) == NULL)
        unproven = connection;
    }
  if (connections->len < MAX_SESSION_CONNECTIONS)
    return TRUE;
  if (unproven == NULL)
    return FALSE;

  g_debug ("Closed the oldest connection on a session's socket without its token, for a new one");
  g_io_stream_close (unproven, NULL, NULL);
  g_ptr_array_remove (connections, unproven);
  return TRUE;
}

static void
accept_connection (Listener *listener,
                   GSocket  *socket)
{
  CkGateway *self = listener->gateway;
  g_autoptr(GSocketAddress) local = g_socket_get_local_address (socket, NULL);
  g_autoptr(GSocketAddress) remote = g_socket_get_remote_address (socket, NULL);
  g_autoptr(GSocketConnection) connection = NULL;
  Peer *peer;
  gboolean own;
  guint open;
  uid_t uid;

  if (local == NULL || remote == NULL)
    {
      g_socket_close (socket, NULL);
      return;
    }

  own = peer_is_us (socket, local, remote, &uid);
  if (!own && !self->logged_other_user)
    {
      self->logged_other_user = TRUE;
      g_message ("Refusing requests to the gateway from another user (uid %d)", (int) uid);
    }

  if (own && listener->session_id != NULL)
    {
      if (!make_session_room (listener))
        {
          g_debug ("Dropped a connection on a session's socket: %u open already",
                   listener->connections->len);
          g_socket_close (socket, NULL);
          return;
        }
    }
  else if ((open = ck_loopback_count_open (self->connections, OWN_KEY, own)) >=
           (own ? MAX_OWN_CONNECTIONS : MAX_OTHER_CONNECTIONS))
    {
      g_debug ("Dropped a connection%s: %u open already", own ? "" : " of another user", open);
      g_socket_close (socket, NULL);
      return;
    }

  /* The answer goes out in pieces as they come: none waits for an ACK. */
  if (g_socket_get_family (socket) != G_SOCKET_FAMILY_UNIX)
    g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  connection = g_socket_connection_factory_create_connection (socket);
  g_object_set_data (G_OBJECT (connection), OWN_KEY, GINT_TO_POINTER (own));
  g_ptr_array_add (own && listener->session_id != NULL ? listener->connections : self->connections,
                   g_object_ref (connection));

  peer = g_new0 (Peer, 1);
  peer->socket = g_object_ref (socket);
  peer->connection = G_IO_STREAM (g_object_ref (connection));
  peer->session_id = g_strdup (listener->session_id);
  peer->own = own;
  g_object_set_data_full (G_OBJECT (remote), PEER_KEY, peer, (GDestroyNotify) peer_free);

  soup_server_accept_iostream (self->server, G_IO_STREAM (connection), local, remote, NULL);
}

static void listener_watch (Listener *listener);

static gboolean
on_retry_accept (gpointer user_data)
{
  Listener *listener = user_data;

  listener->retry_id = 0;
  listener_watch (listener);
  return G_SOURCE_REMOVE;
}

static gboolean
on_incoming (GSocket      *socket,
             GIOCondition  condition,
             gpointer      user_data)
{
  Listener *listener = user_data;
  CkGateway *self = listener->gateway;
  g_autoptr(GSocket) accepted = NULL;
  g_autoptr(GError) error = NULL;

  accepted = g_socket_accept (socket, NULL, &error);
  if (accepted != NULL)
    {
      self->logged_accept_error = FALSE;
      accept_connection (listener, accepted);
      return G_SOURCE_CONTINUE;
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;

  /* Polling again at once would spin: the connection is still there. */
  if (!self->logged_accept_error)
    {
      self->logged_accept_error = TRUE;
      g_message ("The gateway cannot accept a connection now (%s); trying again", error->message);
    }
  g_clear_pointer (&listener->source, g_source_unref);
  listener->retry_id = g_timeout_add (ACCEPT_RETRY_MS, on_retry_accept, listener);
  return G_SOURCE_REMOVE;
}

static void
listener_watch (Listener *listener)
{
  listener->source = g_socket_create_source (listener->socket, G_IO_IN, NULL);
  g_source_set_callback (listener->source, G_SOURCE_FUNC (on_incoming), listener, NULL);
  g_source_set_static_name (listener->source, "[ck-gateway] listener");
  g_source_attach (listener->source, g_main_context_get_thread_default ());
}

static Listener *
add_listener (CkGateway *self,
              GSocket   *socket)
{
  Listener *listener = g_new0 (Listener, 1);

  listener->gateway = self;
  listener->socket = g_object_ref (socket);
  /* g_socket_accept() would wait for a connection otherwise. */
  g_socket_set_blocking (socket, FALSE);
  listener_watch (listener);
  g_ptr_array_add (self->listeners, listener);
  return listener;
}

/* libsoup 3.2 keeps a connection alive after an answer only while its
 * server has a listener (request_finished() looks at its list). The
 * gateway accepts by itself, so libsoup gets one that no one can
 * connect to: one end of a socket pair, the other end kept silent. */
static gboolean
add_keep_alive_anchor (CkGateway  *self,
                       GError    **error)
{
  g_autoptr(GSocket) anchor = NULL;
  int fds[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not make a socket pair: %s", g_strerror (saved_errno));
      return FALSE;
    }
  if ((anchor = g_socket_new_from_fd (fds[0], error)) == NULL)
    {
      close (fds[0]);
      close (fds[1]);
      return FALSE;
    }
  if ((self->anchor_peer = g_socket_new_from_fd (fds[1], error)) == NULL)
    {
      close (fds[1]);
      return FALSE;
    }
  return soup_server_listen_socket (self->server, anchor, 0, error);
}

/* Closes every listener and connection. */
static void
stop_listening (CkGateway *self)
{
  g_ptr_array_set_size (self->listeners, 0);
  /* Every connection goes too: their requests finish, upstream cancelled. */
  soup_server_disconnect (self->server);
  g_ptr_array_set_size (self->connections, 0);
  if (self->anchor_peer != NULL)
    {
      g_socket_close (self->anchor_peer, NULL);
      g_clear_object (&self->anchor_peer);
    }
}

/* Listening */

static GSocket *
bind_loopback (GSocketFamily   family,
               guint16         port,
               GError        **error)
{
  g_autoptr(GInetAddress) address = g_inet_address_new_loopback (family);
  g_autoptr(GSocketAddress) socket_address = g_inet_socket_address_new (address, port);
  g_autoptr(GSocket) socket = NULL;

  socket = g_socket_new (family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL ||
      !g_socket_bind (socket, socket_address, TRUE, error) ||
      !g_socket_listen (socket, error))
    return NULL;
  return g_steal_pointer (&socket);
}

static guint16
socket_port (GSocket *socket)
{
  g_autoptr(GSocketAddress) address = g_socket_get_local_address (socket, NULL);

  if (address == NULL || !G_IS_INET_SOCKET_ADDRESS (address))
    return 0;
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
}

/* The same port on 127.0.0.1 and ::1: "localhost" may resolve to either. */
static gboolean
listen_loopback (CkGateway  *self,
                 guint16     wanted,
                 GError    **error)
{
  for (guint attempt = 0; attempt < LISTEN_ATTEMPTS; attempt++)
    {
      g_autoptr(GSocket) v4 = NULL;
      g_autoptr(GSocket) v6 = NULL;
      g_autoptr(GError) v6_error = NULL;
      guint16 port;

      if ((v4 = bind_loopback (G_SOCKET_FAMILY_IPV4, wanted, error)) == NULL)
        {
          if (wanted != 0)
            g_prefix_error (error, "The gateway's port %u is not free: ", wanted);
          return FALSE;
        }
      port = socket_port (v4);

      v6 = bind_loopback (G_SOCKET_FAMILY_IPV6, port, &v6_error);
      if (v6 == NULL && g_error_matches (v6_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        {
          if (wanted == 0)
            {
              g_debug ("Port %u is taken on ::1, trying another", port);
              continue;
            }
          g_propagate_prefixed_error (error, g_steal_pointer (&v6_error),
                                      "The gateway's port %u is not free on ::1: ", wanted);
          return FALSE;
        }
      if (v6 == NULL)
        g_debug ("Not listening on ::1: %s", v6_error->message);

      add_listener (self, v4);
      if (v6 != NULL)
        add_listener (self, v6);
      self->port = port;
      return TRUE;
    }

  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                       "No port is free on both 127.0.0.1 and ::1 for the gateway.");
  return FALSE;
}

/* Sessions' sockets that a killed agent left: none listens, since one
 * agent serves a session; a persistent session makes its own again when
 * it is opened. Only our sockets by their name, never anything else. */
static gboolean remove_stale_socket (const char  *path,
                                     GError     **error);

static void
sweep_session_sockets (void)
{
  g_autofree char *dir = g_build_filename (g_get_user_runtime_dir (), "claude-keyring", NULL);
  g_autoptr(GDir) listing = g_dir_open (dir, 0, NULL);
  const char *name;

  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = NULL;

      if (!g_str_has_prefix (name, "gateway-") || !g_str_has_suffix (name, ".sock"))
        continue;
      path = g_build_filename (dir, name, NULL);
      if (remove_stale_socket (path, NULL))
        g_debug ("Removed a session socket an earlier agent left");
    }
}

gboolean
ck_gateway_start (CkGateway  *self,
                  int         listener_fd,
                  GError    **error)
{
  g_return_val_if_fail (CK_IS_GATEWAY (self), FALSE);

  if (self->listening)
    return TRUE;

  if (listener_fd >= 0)
    {
      g_autoptr(GSocket) socket = g_socket_new_from_fd (listener_fd, error);

      if (socket == NULL)
        return FALSE;
      add_listener (self, socket);
      self->port = socket_port (socket);
    }
  else if (!listen_loopback (self, g_settings_get_uint (self->settings, "gateway-port"), error))
    {
      return FALSE;
    }

  if (!add_keep_alive_anchor (self, error))
    {
      stop_listening (self);
      self->port = 0;
      return FALSE;
    }

  self->listening = TRUE;
  sweep_session_sockets ();
  g_debug ("The gateway listens on port %u", self->port);
  return TRUE;
}

void
ck_gateway_stop (CkGateway *self)
{
  g_return_if_fail (CK_IS_GATEWAY (self));

  if (!self->listening)
    return;
  stop_listening (self);
  self->listening = FALSE;
  self->port = 0;
}

guint16
ck_gateway_get_port (CkGateway *self)
{
  g_return_val_if_fail (CK_IS_GATEWAY (self), 0);

  return self->port;
}

char *
ck_gateway_dup_url (CkGateway *self)
{
  g_return_val_if_fail (CK_IS_GATEWAY (self), NULL);

  return g_strdup_printf ("http://127.0.0.1:%u", self->port);
}

/**
 * ck_gateway_set_response_timeout:
 * @self: a #CkGateway
 * @seconds: how long to wait for the upstream's answer to begin
 *
 * Once the request is sent (connecting is bounded by the http-timeout
 * setting), the upstream may think this long before its head arrives;
 * then the client gets 504. Default ten minutes, as a non-streamed
 * Messages request can take that long. Tests make it short.
 */
void
ck_gateway_set_response_timeout (CkGateway *self,
                                 guint      seconds)
{
  g_return_if_fail (CK_IS_GATEWAY (self));
  g_return_if_fail (seconds > 0);

  self->response_timeout = seconds;
}

/* Sessions */

static gint
compare_created (gconstpointer a,
                 gconstpointer b)
{
  const CkGatewaySession *x = *(CkGatewaySession * const *) a;
  const CkGatewaySession *y = *(CkGatewaySession * const *) b;

  return (x->created > y->created) - (x->created < y->created);
}

void
ck_gateway_add_session (CkGateway        *self,
                        CkGatewaySession *session)
{
  guint position;

  g_return_if_fail (CK_IS_GATEWAY (self));
  g_return_if_fail (session != NULL);

  if (ck_gateway_lookup_session (self, session->id) != NULL)
    ck_gateway_remove_session (self, session->id);

  /* Oldest first; among equals, in the order added. */
  for (position = self->sessions->len; position > 0; position--)
    {
      CkGatewaySession *other = g_ptr_array_index (self->sessions, position - 1);

      if (compare_created (&other, &session) <= 0)
        break;
    }
  g_ptr_array_insert (self->sessions, position, ck_gateway_session_ref (session));
  g_hash_table_replace (self->by_digest, session->digest, session);
}

gboolean
ck_gateway_remove_session (CkGateway  *self,
                           const char *id)
{
  g_return_val_if_fail (CK_IS_GATEWAY (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);

  for (guint i = 0; i < self->sessions->len; i++)
    {
      CkGatewaySession *session = g_ptr_array_index (self->sessions, i);

      if (strcmp (session->id, id) != 0)
        continue;
      ck_gateway_unlisten_session (self, id);
      if (g_hash_table_lookup (self->by_digest, session->digest) == session)
        g_hash_table_remove (self->by_digest, session->digest);
      g_ptr_array_remove_index (self->sessions, i);
      return TRUE;
    }
  return FALSE;
}

CkGatewaySession *
ck_gateway_lookup_session (CkGateway  *self,
                           const char *id)
{
  g_return_val_if_fail (CK_IS_GATEWAY (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  for (guint i = 0; i < self->sessions->len; i++)
    {
      CkGatewaySession *session = g_ptr_array_index (self->sessions, i);

      if (strcmp (session->id, id) == 0)
        return session;
    }
  return NULL;
}

GPtrArray *
ck_gateway_dup_sessions (CkGateway *self)
{
  GPtrArray *copy;

  g_return_val_if_fail (CK_IS_GATEWAY (self), NULL);

  copy = g_ptr_array_new_full (self->sessions->len, (GDestroyNotify) ck_gateway_session_unref);
  for (guint i = 0; i < self->sessions->len; i++)
    g_ptr_array_add (copy, ck_gateway_session_ref (g_ptr_array_index (self->sessions, i)));
  return copy;
}

/* Sessions' own sockets */

static gboolean
set_errno_error (GError     **error,
                 int          saved_errno,
                 const char  *what,
                 const char  *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "%s %s: %s",
               what, path, g_strerror (saved_errno));
  return FALSE;
}

/* The directory of the sockets: made, or found to be this user's own
 * directory (not a symlink) and closed to everyone else. */
static gboolean
ensure_socket_dir (const char  *dir,
                   GError     **error)
{
  struct stat st;
  int fd;

  if (mkdir (dir, 0700) != 0 && errno != EEXIST)
    return set_errno_error (error, errno, "Could not make the directory", dir);
  if ((fd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    return set_errno_error (error, errno, "Could not open the directory", dir);
  if (fstat (fd, &st) != 0 || st.st_uid != geteuid () ||
      ((st.st_mode & 077) != 0 && fchmod (fd, 0700) != 0))
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "%s is not a private directory of this user's; remove it.", dir);
      return FALSE;
    }
  close (fd);
  return TRUE;
}

/* A file at @path goes only if it is a socket of this user's (an
 * earlier agent's that had no time to remove it): never a symlink, nor
 * anything else. */
static gboolean
remove_stale_socket (const char  *path,
                     GError     **error)
{
  struct stat st;

  if (lstat (path, &st) != 0)
    return errno == ENOENT || set_errno_error (error, errno, "Could not look at", path);
  if (!S_ISSOCK (st.st_mode) || st.st_uid != geteuid ())
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   "%s exists and is not a socket of this user's; remove it.", path);
      return FALSE;
    }
  if (unlink (path) != 0 && errno != ENOENT)
    return set_errno_error (error, errno, "Could not remove the old socket", path);
  return TRUE;
}

static GSocket *
listen_unix (const char  *path,
             struct stat *st,
             GError     **error)
{
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocket) socket = NULL;

  if (strlen (path) >= sizeof (((struct sockaddr_un *) NULL)->sun_path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                   "The socket path %s is too long; set XDG_RUNTIME_DIR to a shorter one.", path);
      return NULL;
    }
  address = g_unix_socket_address_new (path);
  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                         error);
  if (socket == NULL || !g_socket_bind (socket, address, FALSE, error))
    return NULL;
  /* Until now only the directory (0700) kept others out. */
  if (chmod (path, 0600) != 0 || lstat (path, st) != 0)
    {
      set_errno_error (error, errno, "Could not make private the socket", path);
      unlink (path);
      return NULL;
    }
  if (!g_socket_listen (socket, error))
    {
      unlink (path);
      return NULL;
    }
  return g_steal_pointer (&socket);
}

static Listener *
find_session_listener (CkGateway  *self,
                       const char *id,
                       guint      *index)
{
  for (guint i = 0; i < self->listeners->len; i++)
    {
      Listener *listener = g_ptr_array_index (self->listeners, i);

      if (g_strcmp0 (listener->session_id, id) == 0)
        {
          if (index != NULL)
            *index = i;
          return listener;
        }
    }
  return NULL;
}

char *
ck_gateway_listen_session (CkGateway   *self,
                           const char  *id,
                           GError     **error)
{
  CkGatewaySession *session;
  g_autofree char *dir = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GSocket) socket = NULL;
  Listener *listener;
  struct stat st;

  g_return_val_if_fail (CK_IS_GATEWAY (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);
  session = ck_gateway_lookup_session (self, id);
  g_return_val_if_fail (session != NULL && session->remote != NULL, NULL);

  if (!self->listening)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                           "The gateway is not listening.");
      return NULL;
    }
  /* The id comes from the keyring for a restored session: a file name. */
  if (id[0] == '\0' || strspn (id, "0123456789abcdefABCDEF-") != strlen (id))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "The session's id cannot name a socket.");
      return NULL;
    }

  /* Another opener of a persistent session: a new socket, same path. */
  ck_gateway_unlisten_session (self, id);

  dir = g_build_filename (g_get_user_runtime_dir (), "claude-keyring", NULL);
  name = g_strdup_printf ("gateway-%s.sock", id);
  path = g_build_filename (dir, name, NULL);
  if (!ensure_socket_dir (dir, error) || !remove_stale_socket (path, error) ||
      (socket = listen_unix (path, &st, error)) == NULL)
    return NULL;

  listener = add_listener (self, socket);
  listener->session_id = g_strdup (id);
  listener->connections = g_ptr_array_new_with_free_func (g_object_unref);
  listener->path = g_strdup (path);
  listener->dev = st.st_dev;
  listener->ino = st.st_ino;
  g_debug ("Gateway session %s listens on its own socket", id);
  return g_steal_pointer (&path);
}

void
ck_gateway_unlisten_session (CkGateway  *self,
                             const char *id)
{
  guint index;

  g_return_if_fail (CK_IS_GATEWAY (self));
  g_return_if_fail (id != NULL);

  if (find_session_listener (self, id, &index) != NULL)
    g_ptr_array_remove_index (self->listeners, index);
}

const char *
ck_gateway_get_session_socket (CkGateway  *self,
                               const char *id)
{
  Listener *listener;

  g_return_val_if_fail (CK_IS_GATEWAY (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  listener = find_session_listener (self, id, NULL);
  return listener != NULL ? listener->path : NULL;
}

/* The object */

CkGateway *
ck_gateway_new (GSettings  *settings,
                CkResolver *resolver)
{
  CkGateway *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  g_return_val_if_fail (CK_IS_RESOLVER (resolver), NULL);

  self = g_object_new (CK_TYPE_GATEWAY, NULL);
  self->settings = g_object_ref (settings);
  self->resolver = g_object_ref (resolver);
  return self;
}

static void
ck_gateway_dispose (GObject *object)
{
  CkGateway *self = (CkGateway *) object;

  if (self->server != NULL)
    {
      stop_listening (self);
      g_clear_object (&self->server);
    }
  if (self->session != NULL)
    {
      soup_session_abort (self->session);
      g_clear_object (&self->session);
    }
  g_clear_object (&self->resolver);
  g_clear_object (&self->settings);
  g_hash_table_remove_all (self->by_digest);
  g_ptr_array_set_size (self->sessions, 0);

  G_OBJECT_CLASS (ck_gateway_parent_class)->dispose (object);
}

static void
ck_gateway_finalize (GObject *object)
{
  CkGateway *self = (CkGateway *) object;

  g_clear_pointer (&self->by_digest, g_hash_table_unref);
  g_clear_pointer (&self->sessions, g_ptr_array_unref);
  g_clear_pointer (&self->listeners, g_ptr_array_unref);
  g_clear_pointer (&self->connections, g_ptr_array_unref);

  G_OBJECT_CLASS (ck_gateway_parent_class)->finalize (object);
}

static void
ck_gateway_class_init (CkGatewayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_gateway_dispose;
  object_class->finalize = ck_gateway_finalize;

  /**
   * CkGateway::session-request:
   * @self: a #CkGateway
   * @session: the #CkGatewaySession that made the request
   *
   * Emitted once a request of @session is answered (or given up).
   */
  signals[SESSION_REQUEST] =
    g_signal_new ("session-request",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, CK_TYPE_GATEWAY_SESSION);
}

static void
ck_gateway_init (CkGateway *self)
{
  self->response_timeout = DEFAULT_RESPONSE_TIMEOUT;
  self->sessions = g_ptr_array_new_with_free_func ((GDestroyNotify) ck_gateway_session_unref);
  self->by_digest = g_hash_table_new (g_str_hash, g_str_equal);
  self->listeners = g_ptr_array_new_with_free_func ((GDestroyNotify) listener_free);
  self->connections = g_ptr_array_new_with_free_func (g_object_unref);

  /* raw-paths: the path goes upstream byte for byte, as the client sent it. */
  self->server = soup_server_new ("raw-paths", TRUE, NULL);
  soup_server_add_early_handler (self->server, NULL, early_handler, self, NULL);
  soup_server_add_handler (self->server, NULL, handler, self, NULL);
  g_signal_connect (self->server, "request-started", G_CALLBACK (on_request_started), NULL);
  g_signal_connect (self->server, "request-finished", G_CALLBACK (on_request_ended), NULL);
  g_signal_connect (self->server, "request-aborted", G_CALLBACK (on_request_ended), NULL);

  /* Many streams at once to one host; bytes as they come (no decoding),
   * no cookies, no auth of libsoup's own. */
  self->session = soup_session_new_with_options ("max-conns", 256,
                                                 "max-conns-per-host", 256,
                                                 NULL);
  soup_session_remove_feature_by_type (self->session, SOUP_TYPE_CONTENT_DECODER);
  soup_session_remove_feature_by_type (self->session, SOUP_TYPE_AUTH_MANAGER);
}
