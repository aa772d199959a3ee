/* test-gateway.c: the loopback gateway between claude and the API
 *
 * Everything in one process and one main loop: a fake upstream (a libsoup
 * server on 127.0.0.1 that records what reaches it), the gateway over a
 * real token store (the test wrapper's keyring), and clients (libsoup, or
 * a raw socket in a thread where the request must be hand-made).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define G_SETTINGS_ENABLE_BACKEND
#include <gio/gsettingsbackend.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "ck-error.h"
#include "ck-gateway.h"
#include "ck-gateway-head.h"
#include "ck-oauth-manager.h"
#include "ck-resolver.h"
#include "ck-test-core.h"

#define API_KEY       "test-gateway-key"
#define ACCESS_TOKEN  "test-access-0"
#define BIG_CHUNK     (64 * 1024)

/* A CkOAuthSource for tests: refreshes by counting, single-flight. */

#define TEST_TYPE_SOURCE (test_source_get_type ())
G_DECLARE_FINAL_TYPE (TestSource, test_source, TEST, SOURCE, GObject)

struct _TestSource
{
  GObject       parent_instance;
  CkTokenStore *store;
  GPtrArray    *waiters;
  char         *rejected;
  guint         refreshes;
  guint         invalidations;
  gboolean      fail;
};

static void test_source_iface_init (CkOAuthSourceInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (TestSource, test_source, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (CK_TYPE_OAUTH_SOURCE, test_source_iface_init))

static void
on_test_tokens_saved (GObject      *object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(TestSource) self = user_data;
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->waiters);
  g_autoptr(GError) error = NULL;

  g_assert_true (ck_token_store_set_oauth_finish (CK_TOKEN_STORE (object), result, &error));
  g_assert_no_error (error);
  self->waiters = g_ptr_array_new ();
  for (guint i = 0; i < waiters->len; i++)
    {
      g_autoptr(GTask) task = g_ptr_array_index (waiters, i);

      g_task_return_pointer (task, ck_oauth_tokens_ref (ck_token_store_get_oauth (self->store)),
                             (GDestroyNotify) ck_oauth_tokens_unref);
    }
}

static void
test_source_get_tokens_async (CkOAuthSource       *source,
                              guint                min_validity,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  TestSource *self = TEST_SOURCE (source);
  CkOAuthTokens *tokens = ck_token_store_get_oauth (self->store);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(CkOAuthTokens) fresh = NULL;

  if (self->fail)
    {
      g_task_return_new_error (task, CK_ERROR, CK_ERROR_REFRESH_FAILED,
                               "Refreshing the login failed (test); run “claude-keyring login”.");
      return;
    }
  if (ck_oauth_tokens_valid_for (tokens, g_get_real_time () / 1000, min_validity) &&
      g_strcmp0 (tokens->access_token, self->rejected) != 0)
    {
      g_task_return_pointer (task, ck_oauth_tokens_ref (tokens),
                             (GDestroyNotify) ck_oauth_tokens_unref);
      return;
    }

  g_ptr_array_add (self->waiters, g_steal_pointer (&task));
  if (self->waiters->len > 1)
    return;

  self->refreshes++;
  fresh = ck_oauth_tokens_copy (tokens);
  g_free (fresh->access_token);
  fresh->access_token = g_strdup_printf ("test-access-%u", self->refreshes);
  fresh->expires_at_ms = g_get_real_time () / 1000 + 3600 * 1000;
  ck_token_store_set_oauth_async (self->store, fresh, NULL, on_test_tokens_saved,
                                  g_object_ref (self));
}

static CkOAuthTokens *
test_source_get_tokens_finish (CkOAuthSource  *source,
                               GAsyncResult   *result,
                               GError        **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
test_source_invalidate_token (CkOAuthSource *source,
                              const char    *access_token)
{
  TestSource *self = TEST_SOURCE (source);

  self->invalidations++;
  g_free (self->rejected);
  self->rejected = g_strdup (access_token);
}

static void
test_source_iface_init (CkOAuthSourceInterface *iface)
{
  iface->get_tokens_async = test_source_get_tokens_async;
  iface->get_tokens_finish = test_source_get_tokens_finish;
  iface->invalidate_token = test_source_invalidate_token;
}

static void
test_source_finalize (GObject *object)
{
  TestSource *self = TEST_SOURCE (object);

  g_assert_cmpuint (self->waiters->len, ==, 0);
  g_ptr_array_unref (self->waiters);
  g_free (self->rejected);
  g_object_unref (self->store);
  G_OBJECT_CLASS (test_source_parent_class)->finalize (object);
}

static void
test_source_class_init (TestSourceClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_source_finalize;
}

static void
test_source_init (TestSource *self)
{
  self->waiters = g_ptr_array_new ();
}

/* The fake upstream */

typedef struct
{
  SoupServer         *server;
  guint16             port;
  char               *url;
  guint               hits;
  guint               token_hits;
  guint16             remote_port;  /* the gateway's end of the last request */
  char               *method;
  char               *path;
  char               *query;
  SoupMessageHeaders *headers;
  GBytes             *body;
  /* When set, /v1/ answers 401 to any other Authorization. */
  char               *accept_bearer;
  GArray             *sent_at;      /* SSE: when each event went out, µs */
  gboolean            hold_closed;  /* /hold: the gateway closed the connection */
  gboolean            sse_finished; /* /sse: the message ended (client or not) */
  guint               sse_cancelled;
} Upstream;

static guint8
pattern_byte (guint64 offset)
{
  return (guint8) ((offset * 7) ^ (offset >> 13));
}

static GBytes *
pattern_chunk (guint64 offset,
               gsize   size)
{
  guint8 *data = g_malloc (size);

  for (gsize i = 0; i < size; i++)
    data[i] = pattern_byte (offset + i);
  return g_bytes_new_take (data, size);
}

static void
json_reply (SoupServerMessage *msg,
            guint              status,
            const char        *body)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, body, strlen (body));
}

static void
record (Upstream          *up,
        SoupServerMessage *msg)
{
  SoupMessageHeadersIter iter;
  const char *name, *value;
  GUri *uri = soup_server_message_get_uri (msg);

  up->hits++;
  up->remote_port = g_inet_socket_address_get_port (
    G_INET_SOCKET_ADDRESS (soup_server_message_get_remote_address (msg)));
  g_free (up->method);
  up->method = g_strdup (soup_server_message_get_method (msg));
  g_free (up->path);
  up->path = g_strdup (g_uri_get_path (uri));
  g_free (up->query);
  up->query = g_strdup (g_uri_get_query (uri));
  g_clear_pointer (&up->headers, soup_message_headers_unref);
  up->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  soup_message_headers_iter_init (&iter, soup_server_message_get_request_headers (msg));
  while (soup_message_headers_iter_next (&iter, &name, &value))
    soup_message_headers_append (up->headers, name, value);
  g_clear_pointer (&up->body, g_bytes_unref);
  up->body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
}

static guint64
query_number (GHashTable *query,
              const char *name,
              guint64     fallback)
{
  const char *value = query != NULL ? g_hash_table_lookup (query, name) : NULL;

  return value != NULL ? g_ascii_strtoull (value, NULL, 10) : fallback;
}

/* /sse?n=N&gap=MS: N events, one every MS milliseconds. */
typedef struct
{
  Upstream          *up;
  SoupServerMessage *msg;
  guint              left;
  guint              next;
  guint              gap;
  guint              timer;
} Sse;

static void
sse_free (Sse *sse)
{
  g_clear_handle_id (&sse->timer, g_source_remove);
  g_free (sse);
}

static gboolean
sse_send (gpointer user_data)
{
  Sse *sse = user_data;
  SoupMessageBody *body = soup_server_message_get_response_body (sse->msg);
  g_autofree char *event = NULL;
  gint64 now = g_get_monotonic_time ();

  sse->timer = 0;
  event = g_strdup_printf ("event: content_block_delta\ndata: {\"index\":%u}\n\n", sse->next++);
  g_array_append_val (sse->up->sent_at, now);
  soup_message_body_append (body, SOUP_MEMORY_COPY, event, strlen (event));
  if (--sse->left == 0)
    soup_message_body_complete (body);
  else
    sse->timer = g_timeout_add (sse->gap, sse_send, sse);
  soup_server_message_unpause (sse->msg);
  return G_SOURCE_REMOVE;
}

static void
sse_finished (SoupServerMessage *msg,
              Sse               *sse)
{
  sse->up->sse_finished = TRUE;
  if (sse->left > 0)
    sse->up->sse_cancelled++;
  g_clear_handle_id (&sse->timer, g_source_remove);
}

static void
start_sse (Upstream          *up,
           SoupServerMessage *msg,
           GHashTable        *query)
{
  Sse *sse = g_new0 (Sse, 1);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  sse->up = up;
  sse->msg = msg;
  sse->left = query_number (query, "n", 5);
  sse->gap = query_number (query, "gap", 0);
  g_object_set_data_full (G_OBJECT (msg), "sse", sse, (GDestroyNotify) sse_free);
  g_signal_connect (msg, "finished", G_CALLBACK (sse_finished), sse);

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  soup_message_headers_replace (headers, "Content-Type", "text/event-stream");
  soup_message_headers_replace (headers, "request-id", "req_test_sse");
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  soup_server_message_pause (msg);
  sse->timer = g_timeout_add (sse->gap, sse_send, sse);
}

/* /big?size=N[&cl=1]: N bytes of pattern_byte(), 64 KiB at a time, each
 * only once the previous one is written. */
typedef struct
{
  guint64 size;
  guint64 offset;
} Big;

static void
big_next (SoupServerMessage *msg,
          Big               *big)
{
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  g_autoptr(GBytes) chunk = NULL;

  if (big->offset >= big->size)
    {
      soup_message_body_complete (body);
      return;
    }
  chunk = pattern_chunk (big->offset, MIN (BIG_CHUNK, big->size - big->offset));
  big->offset += g_bytes_get_size (chunk);
  soup_message_body_append_bytes (body, chunk);
}

static void
big_wrote_chunk (SoupServerMessage *msg,
                 Big               *big)
{
  big_next (msg, big);
  soup_server_message_unpause (msg);
}

static void
start_big (SoupServerMessage *msg,
           GHashTable        *query)
{
  Big *big = g_new0 (Big, 1);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  big->size = query_number (query, "size", 0);
  g_object_set_data_full (G_OBJECT (msg), "big", big, g_free);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  if (query_number (query, "cl", 0))
    soup_message_headers_set_content_length (headers, big->size);
  else
    soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  soup_message_headers_replace (headers, "Content-Type", "text/event-stream");
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  g_signal_connect (msg, "wrote-chunk", G_CALLBACK (big_wrote_chunk), big);
  big_next (msg, big);
}

/* /hold: one event, then nothing; the test waits for the connection to
 * be closed from the gateway's side. */
static void
on_hold_read (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Upstream *up = user_data;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, NULL);

  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    {
      up->hold_closed = TRUE;
      /* Ends the cycle below: the connection goes. */
      g_object_set_data (object, "stream", NULL);
      return;
    }
  g_input_stream_read_bytes_async (G_INPUT_STREAM (object), 1024, G_PRIORITY_DEFAULT, NULL,
                                   on_hold_read, up);
}

static void
start_hold (Upstream          *up,
            SoupServerMessage *msg)
{
  static const char head[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    "15\r\nevent: ping\ndata: 1\n\n\r\n";
  g_autoptr(GIOStream) stream = soup_server_message_steal_connection (msg);
  GInputStream *in = g_io_stream_get_input_stream (stream);

  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (stream), head,
                                            strlen (head), NULL, NULL, NULL));
  /* Its input stream holds it until the end (a cycle, ended there). */
  g_object_set_data_full (G_OBJECT (in), "stream", g_object_ref (stream), g_object_unref);
  g_input_stream_read_bytes_async (in, 1024, G_PRIORITY_DEFAULT, NULL, on_hold_read, up);
}

/* /break: one event, then the connection drops in the middle of the
 * next chunk. (At a chunk boundary, libsoup 3.2's client reads a closed
 * connection as the end of the body: nothing the gateway can tell.) */
static void
start_break (SoupServerMessage *msg)
{
  static const char head[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    "15\r\nevent: ping\ndata: 1\n\n\r\n"
    "40\r\nevent: content_block_delta\n";
  g_autoptr(GIOStream) stream = soup_server_message_steal_connection (msg);

  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (stream), head,
                                            strlen (head), NULL, NULL, NULL));
  g_io_stream_close (stream, NULL, NULL);
}

static void
upstream_handler (SoupServer        *server,
                  SoupServerMessage *msg,
                  const char        *path,
                  GHashTable        *query,
                  gpointer           user_data)
{
  Upstream *up = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  const char *authorization;

  if (g_str_equal (path, "/v1/oauth/token"))
    {
      g_autofree char *reply = NULL;

      up->token_hits++;
      reply = g_strdup_printf ("{\"access_token\":\"test-access-%u\",\"refresh_token\":"
                               "\"test-refresh-%u\",\"expires_in\":3600}",
                               up->token_hits, up->token_hits);
      json_reply (msg, SOUP_STATUS_OK, reply);
      return;
    }

  record (up, msg);

  authorization = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                "Authorization");
  if (up->accept_bearer != NULL && g_str_has_prefix (path, "/v1/") &&
      (authorization == NULL || !g_str_has_prefix (authorization, "Bearer ") ||
       strcmp (authorization + 7, up->accept_bearer) != 0))
    {
      json_reply (msg, SOUP_STATUS_UNAUTHORIZED,
                  "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\","
                  "\"message\":\"upstream: invalid bearer token\"}}");
      return;
    }

  if (g_str_has_prefix (path, "/status/"))
    {
      guint status = atoi (path + strlen ("/status/"));

      soup_message_headers_replace (headers, "retry-after", "7");
      soup_message_headers_replace (headers, "request-id", "req_test_status");
      json_reply (msg, status,
                  "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
                  "\"message\":\"upstream says no\"}}");
    }
  else if (g_str_has_suffix (path, "/sse"))
    start_sse (up, msg, query);
  else if (g_str_equal (path, "/big"))
    start_big (msg, query);
  else if (g_str_equal (path, "/hang"))
    soup_server_message_pause (msg);
  else if (g_str_equal (path, "/hold"))
    start_hold (up, msg);
  else if (g_str_equal (path, "/break"))
    start_break (msg);
  else
    {
      soup_message_headers_replace (headers, "request-id", "req_test_1");
      soup_message_headers_replace (headers, "retry-after", "3");
      soup_message_headers_replace (headers, "anthropic-ratelimit-requests-remaining", "99");
      soup_message_headers_append (headers, "Connection", "X-Upstream-Hop");
      soup_message_headers_replace (headers, "X-Upstream-Hop", "1");
      soup_message_headers_replace (headers, "Keep-Alive", "timeout=5");
      soup_message_headers_replace (headers, "X-Upstream-Plain", "kept");
      json_reply (msg, 201, "{\"id\":\"msg_test\",\"type\":\"message\"}");
    }
}

static void
upstream_start (Upstream *up)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSList) uris = NULL;

  /* raw-paths: see the path exactly as the gateway sent it. */
  up->server = soup_server_new ("raw-paths", TRUE, NULL);
  soup_server_add_handler (up->server, NULL, upstream_handler, up, NULL);
  g_assert_true (soup_server_listen_local (up->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (up->server);
  up->port = g_uri_get_port (uris->data);
  g_slist_free_full (g_steal_pointer (&uris), (GDestroyNotify) g_uri_unref);
  up->url = g_strdup_printf ("http://127.0.0.1:%u", up->port);
  up->sent_at = g_array_new (FALSE, FALSE, sizeof (gint64));
}

static void
upstream_stop (Upstream *up)
{
  soup_server_disconnect (up->server);
  g_clear_object (&up->server);
  g_free (up->url);
  g_free (up->method);
  g_free (up->path);
  g_free (up->query);
  g_free (up->accept_bearer);
  g_clear_pointer (&up->headers, soup_message_headers_unref);
  g_clear_pointer (&up->body, g_bytes_unref);
  g_array_unref (up->sent_at);
}

/* The fixture */

typedef struct
{
  Upstream          up;
  GSettings        *settings;
  CkTokenStore     *store;
  CkHelperRunner   *helper;
  CkResolver       *resolver;
  TestSource       *source;
  CkGateway        *gateway;
  CkGatewaySession *session;
  SoupSession      *client;
  char             *base;      /* the gateway's URL */
  guint             signalled;
  const char       *unix_path; /* raw requests go there when set */
} Fixture;

static void
store_oauth (Fixture *fixture,
             gint64   expires_at_ms)
{
  g_autoptr(CkOAuthTokens) tokens = ck_oauth_tokens_new ();

  tokens->access_token = g_strdup (ACCESS_TOKEN);
  tokens->refresh_token = g_strdup ("test-refresh-0");
  tokens->expires_at_ms = expires_at_ms;
  ck_test_store_set_oauth (fixture->store, tokens);
}

static gint64
in_one_hour_ms (void)
{
  return g_get_real_time () / 1000 + 3600 * 1000;
}

static void
on_session_request (CkGateway        *gateway,
                    CkGatewaySession *session,
                    Fixture          *fixture)
{
  if (session == fixture->session)
    fixture->signalled++;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GSettingsBackend) backend = g_memory_settings_backend_new ();
  g_autoptr(GError) error = NULL;

  upstream_start (&fixture->up);

  fixture->settings = g_settings_new_with_backend (APP_ID, backend);
  g_settings_set_string (fixture->settings, "api-base-url", fixture->up.url);
  g_settings_set_string (fixture->settings, "token-url",
                         fixture->up.url);  /* replaced where OAuth refreshes for real */
  g_settings_set_string (fixture->settings, "revoke-url", fixture->up.url);

  fixture->store = ck_token_store_new ();
  fixture->helper = ck_helper_runner_new ();
  fixture->resolver = ck_resolver_new (fixture->store, fixture->helper);
  ck_test_store_clear (fixture->store);

  fixture->source = g_object_new (TEST_TYPE_SOURCE, NULL);
  fixture->source->store = g_object_ref (fixture->store);
  ck_resolver_set_oauth_source (fixture->resolver, CK_OAUTH_SOURCE (fixture->source));

  fixture->gateway = ck_gateway_new (fixture->settings, fixture->resolver);
  g_assert_true (ck_gateway_start (fixture->gateway, -1, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ck_gateway_get_port (fixture->gateway), >, 0);
  fixture->base = ck_gateway_dup_url (fixture->gateway);
  fixture->session = ck_gateway_session_new (CK_CREDENTIAL_KIND_API_KEY, NULL);
  ck_gateway_add_session (fixture->gateway, fixture->session);
  g_signal_connect (fixture->gateway, "session-request", G_CALLBACK (on_session_request), fixture);

  fixture->client = soup_session_new_with_options ("max-conns", 256, "max-conns-per-host", 256,
                                                   NULL);
  soup_session_remove_feature_by_type (fixture->client, SOUP_TYPE_CONTENT_DECODER);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  soup_session_abort (fixture->client);
  g_clear_object (&fixture->client);
  ck_gateway_stop (fixture->gateway);
  g_clear_object (&fixture->gateway);
  g_clear_pointer (&fixture->session, ck_gateway_session_unref);
  g_free (fixture->base);
  /* Let cancelled callbacks run before their objects go. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&fixture->resolver);
  g_clear_object (&fixture->source);
  g_clear_object (&fixture->helper);
  g_clear_object (&fixture->store);
  g_clear_object (&fixture->settings);
  upstream_stop (&fixture->up);
}

/* Clients */

typedef struct
{
  guint               status;
  SoupMessageHeaders *headers;
  GBytes             *body;
} Reply;

static void
reply_free (Reply *reply)
{
  g_clear_pointer (&reply->headers, soup_message_headers_unref);
  g_clear_pointer (&reply->body, g_bytes_unref);
  g_free (reply);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Reply, reply_free)

static SoupMessage *
new_request (Fixture    *fixture,
             const char *method,
             const char *path_and_query,
             const char *token)
{
  g_autofree char *url = g_strconcat (fixture->base, path_and_query, NULL);
  SoupMessage *msg = soup_message_new (method, url);
  g_autofree char *bearer = NULL;

  g_assert_nonnull (msg);
  if (token != NULL)
    {
      bearer = g_strconcat ("Bearer ", token, NULL);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                    bearer);
    }
  return msg;
}

static Reply *
send_message (Fixture     *fixture,
              SoupMessage *msg)
{
  CkTestAsync async = { 0 };
  g_autoptr(GError) error = NULL;
  Reply *reply = g_new0 (Reply, 1);

  soup_session_send_and_read_async (fixture->client, msg, G_PRIORITY_DEFAULT, NULL,
                                    ck_test_async_cb, &async);
  reply->body = soup_session_send_and_read_finish (fixture->client, ck_test_async_wait (&async),
                                                   &error);
  g_assert_no_error (error);
  ck_test_async_clear (&async);
  reply->status = soup_message_get_status (msg);
  reply->headers = soup_message_headers_ref (soup_message_get_response_headers (msg));
  return reply;
}

static Reply *
call (Fixture    *fixture,
      const char *method,
      const char *path_and_query,
      const char *token)
{
  g_autoptr(SoupMessage) msg = new_request (fixture, method, path_and_query, token);

  return send_message (fixture, msg);
}

/* The body is the API's error shape, of @type, with a message. */
static char *
assert_error_body (Reply      *reply,
                   const char *type)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *root, *inner;

  g_assert_cmpstr (soup_message_headers_get_content_type (reply->headers, NULL), ==,
                   "application/json");
  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (reply->body, NULL),
                                             g_bytes_get_size (reply->body), &error));
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (root, "type"), ==, "error");
  inner = json_object_get_object_member (root, "error");
  g_assert_cmpstr (json_object_get_string_member (inner, "type"), ==, type);
  g_assert_cmpstr (json_object_get_string_member (inner, "message"), !=, "");
  return g_strdup (json_object_get_string_member (inner, "message"));
}

/* A hand-made request over a raw socket, in a thread (the gateway runs in
 * this one). With @first_event, the client closes the connection as soon
 * as one SSE event has arrived. @closed: the gateway closed the connection
 * (rather than leaving it open until the timeout). */
typedef struct
{
  guint16            port;
  char              *request;
  gboolean           first_event;
  GString           *response;
  gint               done;
  GSocketConnection *connection;  /* connected already, or NULL */
  const char        *unix_path;   /* else this socket, or else the port */
  gboolean           closed;
} Raw;

/* More connections than the gateway keeps open for our user at once. */
#define MORE_THAN_OPEN_AT_ONCE 300

/* A gateway that stopped answering fails the test rather than hang it. */
#define RAW_TIMEOUT_SECONDS 30

static gpointer
raw_thread (gpointer data)
{
  Raw *raw = data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  char buffer[4096];
  gssize n;

  if (raw->connection != NULL)
    connection = g_object_ref (raw->connection);
  else if (raw->unix_path != NULL)
    {
      g_autoptr(GSocketAddress) address = g_unix_socket_address_new (raw->unix_path);

      connection = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (address), NULL, &error);
    }
  else
    connection = g_socket_client_connect_to_host (client, "127.0.0.1", raw->port, NULL, &error);
  g_assert_no_error (error);
  g_socket_set_timeout (g_socket_connection_get_socket (connection), RAW_TIMEOUT_SECONDS);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                                            raw->request, strlen (raw->request), NULL, NULL, &error));
  while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                                   buffer, sizeof buffer, NULL, NULL)) > 0)
    {
      const char *end_of_head;

      g_string_append_len (raw->response, buffer, n);
      end_of_head = strstr (raw->response->str, "\r\n\r\n");
      if (raw->first_event && end_of_head != NULL && strstr (end_of_head, "\n\n") != NULL)
        break;
    }
  raw->closed = n == 0;
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
  g_atomic_int_set (&raw->done, 1);
  g_main_context_wakeup (NULL);
  return NULL;
}

static char *
raw_exchange_on (Fixture           *fixture,
                 GSocketConnection *connection,
                 const char        *request,
                 gboolean           first_event,
                 gboolean          *closed)
{
  Raw raw = { ck_gateway_get_port (fixture->gateway), (char *) request, first_event,
              g_string_new (NULL), 0, connection, fixture->unix_path, FALSE };
  GThread *thread = g_thread_new ("raw-client", raw_thread, &raw);

  while (!g_atomic_int_get (&raw.done))
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (thread);
  if (closed != NULL)
    *closed = raw.closed;
  return g_string_free (raw.response, FALSE);
}

static char *
raw_exchange (Fixture    *fixture,
              const char *request,
              gboolean    first_event)
{
  return raw_exchange_on (fixture, NULL, request, first_event, NULL);
}

static guint
raw_status (const char *response)
{
  g_assert_true (g_str_has_prefix (response, "HTTP/1.1 "));
  return atoi (response + strlen ("HTTP/1.1 "));
}

/* POST @path with the session's token as x-api-key, by hand. */
static char *
raw_post (Fixture    *fixture,
          const char *path,
          gboolean    first_event)
{
  g_autofree char *request = g_strdup_printf ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                                              "x-api-key: %s\r\nContent-Length: 2\r\n\r\n{}",
                                              path, ck_gateway_get_port (fixture->gateway),
                                              ck_gateway_session_get_token (fixture->session));

  return raw_exchange (fixture, request, first_event);
}

static char *
raw_head_with (const char *token,
               const char *host,
               const char *extra)
{
  return g_strdup_printf ("GET /v1/models HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                          "%sConnection: close\r\n\r\n",
                          host, token, extra);
}

static char *
raw_head (Fixture    *fixture,
          const char *host,
          const char *extra)
{
  return raw_head_with (ck_gateway_session_get_token (fixture->session), host, extra);
}

/* GET /v1/models with @token and Host @host on the socket at @unix_path
 * (NULL: the gateway's port); the status. */
static guint
status_on (Fixture    *fixture,
           const char *unix_path,
           const char *host,
           const char *token)
{
  g_autofree char *request = raw_head_with (token, host, "");
  g_autofree char *response = NULL;

  fixture->unix_path = unix_path;
  response = raw_exchange (fixture, request, FALSE);
  fixture->unix_path = NULL;
  return raw_status (response);
}

/* The tests */

static void
test_head (void)
{
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  const char *tokens[2], *message;
  g_autofree char *list = NULL;

  g_assert_true (ck_gateway_host_is_own ("127.0.0.1:8080", 8080));
  g_assert_true (ck_gateway_host_is_own ("[::1]:8080", 8080));
  g_assert_true (ck_gateway_host_is_own ("LocalHost:8080", 8080));
  g_assert_false (ck_gateway_host_is_own ("127.0.0.1:8081", 8080));
  g_assert_false (ck_gateway_host_is_own ("127.0.0.1", 8080));
  g_assert_false (ck_gateway_host_is_own ("127.0.0.1:", 8080));
  g_assert_false (ck_gateway_host_is_own ("127.0.0.1:+8080", 8080));
  g_assert_false (ck_gateway_host_is_own ("127.0.0.1:8080 ", 8080));
  g_assert_false (ck_gateway_host_is_own ("evil.example:8080", 8080));
  g_assert_false (ck_gateway_host_is_own ("localhost.evil.example:8080", 8080));
  g_assert_false (ck_gateway_host_is_own ("127.0.0.2:8080", 8080));
  g_assert_false (ck_gateway_host_is_own (NULL, 8080));
  /* Port 0: any port (a session's socket behind a forward). */
  g_assert_true (ck_gateway_host_is_own ("127.0.0.1:40123", 0));
  g_assert_true (ck_gateway_host_is_own ("[::1]:1", 0));
  g_assert_false (ck_gateway_host_is_own ("127.0.0.1", 0));
  g_assert_false (ck_gateway_host_is_own ("127.0.0.1:0", 0));
  g_assert_false (ck_gateway_host_is_own ("evil.example:40123", 0));

  list = ck_gateway_edit_beta_list (NULL, CK_GATEWAY_OAUTH_BETA, TRUE);
  g_assert_cmpstr (list, ==, CK_GATEWAY_OAUTH_BETA);
  g_clear_pointer (&list, g_free);
  list = ck_gateway_edit_beta_list ("a,b", CK_GATEWAY_OAUTH_BETA, TRUE);
  g_assert_cmpstr (list, ==, "a,b," CK_GATEWAY_OAUTH_BETA);
  g_clear_pointer (&list, g_free);
  list = ck_gateway_edit_beta_list ("a, " CK_GATEWAY_OAUTH_BETA ",b", CK_GATEWAY_OAUTH_BETA, TRUE);
  g_assert_cmpstr (list, ==, "a, " CK_GATEWAY_OAUTH_BETA ",b");
  g_clear_pointer (&list, g_free);
  list = ck_gateway_edit_beta_list ("a, " CK_GATEWAY_OAUTH_BETA ",b", CK_GATEWAY_OAUTH_BETA, FALSE);
  g_assert_cmpstr (list, ==, "a,b");
  g_clear_pointer (&list, g_free);
  list = ck_gateway_edit_beta_list (CK_GATEWAY_OAUTH_BETA, CK_GATEWAY_OAUTH_BETA, FALSE);
  g_assert_null (list);

  soup_message_headers_append (headers, "Host", "127.0.0.1:9");
  g_assert_cmpint (ck_gateway_check_head ("GET", headers, 9, tokens, &message), ==,
                   CK_GATEWAY_HEAD_UNAUTHORIZED);
  soup_message_headers_append (headers, "Authorization", "bearer  tok");
  g_assert_cmpint (ck_gateway_check_head ("GET", headers, 9, tokens, &message), ==,
                   CK_GATEWAY_HEAD_OK);
  g_assert_cmpstr (tokens[0], ==, "tok");
  g_assert_null (tokens[1]);
  g_assert_cmpint (ck_gateway_check_head ("CONNECT", headers, 9, tokens, &message), ==,
                   CK_GATEWAY_HEAD_BAD_REQUEST);
  soup_message_headers_append (headers, "Content-Length", "33554433");
  g_assert_cmpint (ck_gateway_check_head ("POST", headers, 9, tokens, &message), ==,
                   CK_GATEWAY_HEAD_TOO_LARGE);
  soup_message_headers_append (headers, "Authorization", "Bearer other");
  g_assert_cmpint (ck_gateway_check_head ("GET", headers, 9, tokens, &message), ==,
                   CK_GATEWAY_HEAD_BAD_REQUEST);
}

/* What no request may be: a method that is not a token, a body framed
 * two ways, the session token in its URL or in a header that travels. */
static void
test_head_refusals (void)
{
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  g_autoptr(SoupMessageHeaders) out = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  static const char * const methods[] = { "", "GE T", "GE\001T", "GET\r", "G(E)T", "G\303\251T", "GET/" };
  const char *tokens[2], *message;

  soup_message_headers_append (headers, "Host", "127.0.0.1:9");
  soup_message_headers_append (headers, "x-api-key", "tok");
  g_assert_cmpint (ck_gateway_check_head ("get", headers, 9, tokens, &message), ==,
                   CK_GATEWAY_HEAD_OK);
  g_assert_cmpint (ck_gateway_check_head ("M-SEARCH!#$%&'*+.^_`|~9", headers, 9, tokens, &message),
                   ==, CK_GATEWAY_HEAD_OK);
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    g_assert_cmpint (ck_gateway_check_head (methods[i], headers, 9, tokens, &message), ==,
                     CK_GATEWAY_HEAD_BAD_REQUEST);
  g_assert_cmpint (ck_gateway_check_head (NULL, headers, 9, tokens, &message), ==,
                   CK_GATEWAY_HEAD_BAD_REQUEST);

  soup_message_headers_append (headers, "Content-Length", "2");
  g_assert_cmpint (ck_gateway_check_head ("POST", headers, 9, tokens, &message), ==,
                   CK_GATEWAY_HEAD_OK);
  soup_message_headers_append (headers, "Transfer-Encoding", "chunked");
  g_assert_cmpint (ck_gateway_check_head ("POST", headers, 9, tokens, &message), ==,
                   CK_GATEWAY_HEAD_BAD_REQUEST);
  soup_message_headers_remove (headers, "Transfer-Encoding");
  soup_message_headers_append (headers, "Content-Length", "2");
  g_assert_cmpint (ck_gateway_check_head ("POST", headers, 9, tokens, &message), ==,
                   CK_GATEWAY_HEAD_BAD_REQUEST);

  g_assert_cmpint (ck_gateway_check_target ("/v1/messages", "beta=true", "s3cret", &message), ==,
                   CK_GATEWAY_HEAD_OK);
  g_assert_null (message);
  g_assert_cmpint (ck_gateway_check_target ("/v1/models", NULL, "s3cret", &message), ==,
                   CK_GATEWAY_HEAD_OK);
  g_assert_cmpint (ck_gateway_check_target ("/v1/models", "k=s3cret", "s3cret", &message), ==,
                   CK_GATEWAY_HEAD_BAD_REQUEST);
  g_assert_nonnull (message);
  g_assert_cmpint (ck_gateway_check_target ("/v1/models", "k=%733cret", "s3cret", &message), ==,
                   CK_GATEWAY_HEAD_BAD_REQUEST);
  g_assert_cmpint (ck_gateway_check_target ("/v1/xs3cretx", NULL, "s3cret", &message), ==,
                   CK_GATEWAY_HEAD_BAD_REQUEST);
  /* Not a percent-encoding at all: looked at as written. */
  g_assert_cmpint (ck_gateway_check_target ("/v1/models", "k=%zz&s3cret", "s3cret", &message), ==,
                   CK_GATEWAY_HEAD_BAD_REQUEST);

  soup_message_headers_clear (headers);
  soup_message_headers_append (headers, "Cookie", "a=1; b=s3cret");
  soup_message_headers_append (headers, "X-Escaped", "%733cret");
  soup_message_headers_append (headers, "X-s3cret", "1");
  soup_message_headers_append (headers, "X-Kept", "s3cre");
  ck_gateway_copy_request_headers (headers, out, "s3cret");
  g_assert_cmpstr (soup_message_headers_get_one (out, "X-Kept"), ==, "s3cre");
  g_assert_null (soup_message_headers_get_one (out, "Cookie"));
  g_assert_null (soup_message_headers_get_one (out, "X-Escaped"));
  g_assert_null (soup_message_headers_get_one (out, "X-s3cret"));
  soup_message_headers_clear (out);
  ck_gateway_copy_request_headers (headers, out, NULL);
  g_assert_nonnull (soup_message_headers_get_one (out, "Cookie"));
}

static void
assert_no_header (SoupMessageHeaders *headers,
                  const char         *name)
{
  if (soup_message_headers_get_one (headers, name) != NULL)
    g_error ("header %s should not be there", name);
}

/* No header value carries @secret anywhere. */
static void
assert_nowhere (SoupMessageHeaders *headers,
                const char         *secret)
{
  SoupMessageHeadersIter iter;
  const char *name, *value;

  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    if (strstr (value, secret) != NULL)
      g_error ("header %s carries a secret it should not", name);
}

static void
test_forward (Fixture       *fixture,
              gconstpointer  data)
{
  static const char body[] = "{\"model\":\"claude-test\",\"max_tokens\":1}";
  const char *token = ck_gateway_session_get_token (fixture->session);
  g_autoptr(SoupMessage) msg = new_request (fixture, "POST", "/v1/messages?beta=true", token);
  SoupMessageHeaders *headers = soup_message_get_request_headers (msg);
  g_autoptr(GBytes) bytes = g_bytes_new_static (body, strlen (body));
  g_autoptr(Reply) reply = NULL;
  g_autoptr(Reply) other = NULL;

  ck_test_store_set_api_key (fixture->store, API_KEY);

  soup_message_headers_append (headers, "anthropic-beta", "claude-code-20250219");
  soup_message_headers_append (headers, "anthropic-version", "2023-06-01");
  soup_message_headers_append (headers, "Connection", "X-Hop");
  soup_message_headers_append (headers, "X-Hop", "dropped");
  soup_message_headers_append (headers, "Keep-Alive", "timeout=5");
  soup_message_headers_append (headers, "TE", "trailers");
  soup_message_headers_append (headers, "Proxy-Authorization", "Basic dGVzdA==");
  soup_message_headers_append (headers, "X-Custom", "kept");
  soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  reply = send_message (fixture, msg);

  /* What reached upstream. */
  g_assert_cmpuint (fixture->up.hits, ==, 1);
  g_assert_cmpstr (fixture->up.method, ==, "POST");
  g_assert_cmpstr (fixture->up.path, ==, "/v1/messages");
  g_assert_cmpstr (fixture->up.query, ==, "beta=true");
  g_assert_true (g_bytes_equal (fixture->up.body, bytes));
  g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "Content-Type"), ==,
                   "application/json");
  g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "X-Custom"), ==, "kept");
  g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "anthropic-version"), ==,
                   "2023-06-01");
  g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "anthropic-beta"), ==,
                   "claude-code-20250219");
  g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "x-api-key"), ==, API_KEY);
  g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "Host"), ==,
                   fixture->up.url + strlen ("http://"));
  assert_no_header (fixture->up.headers, "Authorization");
  assert_no_header (fixture->up.headers, "X-Hop");
  assert_no_header (fixture->up.headers, "Keep-Alive");
  assert_no_header (fixture->up.headers, "TE");
  assert_no_header (fixture->up.headers, "Proxy-Authorization");
  assert_nowhere (fixture->up.headers, token);

  /* What came back. */
  g_assert_cmpuint (reply->status, ==, 201);
  g_assert_cmpstr (g_bytes_get_data (reply->body, NULL), ==, "{\"id\":\"msg_test\",\"type\":\"message\"}");
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "request-id"), ==, "req_test_1");
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "retry-after"), ==, "3");
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers,
                                                 "anthropic-ratelimit-requests-remaining"), ==, "99");
  g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "X-Upstream-Plain"), ==, "kept");
  assert_no_header (reply->headers, "X-Upstream-Hop");
  assert_no_header (reply->headers, "Keep-Alive");
  assert_nowhere (reply->headers, API_KEY);

  /* The path goes as written; x-api-key carries the token just as well. */
  g_clear_object (&msg);
  msg = new_request (fixture, "GET", "/v1/models/a%2Fb;c?x=1%202&y", NULL);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "x-api-key", token);
  other = send_message (fixture, msg);
  g_assert_cmpuint (other->status, ==, 201);
  g_assert_cmpstr (fixture->up.method, ==, "GET");
  g_assert_cmpstr (fixture->up.path, ==, "/v1/models/a%2Fb;c");
  g_assert_cmpstr (fixture->up.query, ==, "x=1%202&y");
  g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "x-api-key"), ==, API_KEY);
  g_assert_cmpuint (g_bytes_get_size (fixture->up.body), ==, 0);
  assert_no_header (fixture->up.headers, "Content-Length");

  /* Counted, and signalled once each. */
  while (fixture->signalled < 2)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (ck_gateway_session_get_requests (fixture->session), ==, 2);
  g_assert_cmpuint (ck_gateway_session_get_bytes (fixture->session), ==,
                    g_bytes_get_size (reply->body) + g_bytes_get_size (other->body));
}

/* One connection to the API for request after request, POSTs included:
 * with the real API each new one is a TLS handshake. And one from the
 * client to the gateway. */
static void
test_keep_alive (Fixture       *fixture,
                 gconstpointer  data)
{
  const char *token = ck_gateway_session_get_token (fixture->session);
  guint16 first = 0;
  guint64 client_connection = 0;

  ck_test_store_set_api_key (fixture->store, API_KEY);
  for (guint i = 0; i < 5; i++)
    {
      g_autoptr(SoupMessage) msg = new_request (fixture, "POST", "/v1/messages", token);
      g_autoptr(GBytes) bytes = g_bytes_new_static ("{}", 2);
      g_autoptr(Reply) reply = NULL;

      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
      /* Else libsoup opens a new connection for every POST. */
      soup_message_add_flags (msg, SOUP_MESSAGE_IDEMPOTENT);
      reply = send_message (fixture, msg);
      g_assert_cmpuint (reply->status, ==, 201);
      if (i == 0)
        {
          first = fixture->up.remote_port;
          client_connection = soup_message_get_connection_id (msg);
        }
      g_assert_cmpuint (fixture->up.remote_port, ==, first);
      g_assert_cmpuint (soup_message_get_connection_id (msg), ==, client_connection);
    }
}

static void
test_oauth (Fixture       *fixture,
            gconstpointer  data)
{
  const char *token = ck_gateway_session_get_token (fixture->session);
  static const struct { const char *sent, *expected; } betas[] = {
    { NULL, CK_GATEWAY_OAUTH_BETA },
    { "claude-code-20250219", "claude-code-20250219," CK_GATEWAY_OAUTH_BETA },
    { CK_GATEWAY_OAUTH_BETA ",claude-code-20250219", CK_GATEWAY_OAUTH_BETA ",claude-code-20250219" },
  };

  store_oauth (fixture, in_one_hour_ms ());

  for (guint i = 0; i < G_N_ELEMENTS (betas); i++)
    {
      g_autoptr(SoupMessage) msg = new_request (fixture, "POST", "/v1/messages", token);
      g_autoptr(Reply) reply = NULL;

      /* What claude sends in API-key mode: both headers. */
      soup_message_headers_replace (soup_message_get_request_headers (msg), "x-api-key", token);
      if (betas[i].sent != NULL)
        soup_message_headers_replace (soup_message_get_request_headers (msg), "anthropic-beta",
                                      betas[i].sent);
      reply = send_message (fixture, msg);
      g_assert_cmpuint (reply->status, ==, 201);
      g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "Authorization"), ==,
                       "Bearer " ACCESS_TOKEN);
      g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "anthropic-beta"), ==,
                       betas[i].expected);
      assert_no_header (fixture->up.headers, "x-api-key");
      assert_nowhere (fixture->up.headers, token);
      assert_nowhere (reply->headers, ACCESS_TOKEN);
    }
  g_assert_cmpuint (fixture->source->refreshes, ==, 0);
}

static void
test_unauthorized (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(Reply) none = NULL;
  g_autoptr(Reply) wrong = NULL;
  g_autoptr(Reply) basic = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *message = NULL;
  g_autofree char *almost = g_strdup (ck_gateway_session_get_token (fixture->session));

  ck_test_store_set_api_key (fixture->store, API_KEY);

  none = call (fixture, "POST", "/v1/messages", NULL);
  g_assert_cmpuint (none->status, ==, 401);
  message = assert_error_body (none, "authentication_error");
  g_assert_nonnull (strstr (message, "claude-keyring run"));

  /* One character off. */
  almost[strlen (almost) - 1] ^= 1;
  wrong = call (fixture, "POST", "/v1/messages", almost);
  g_assert_cmpuint (wrong->status, ==, 401);
  g_clear_pointer (&message, g_free);
  message = assert_error_body (wrong, "authentication_error");

  msg = new_request (fixture, "GET", "/v1/models", NULL);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                "Basic dGVzdDp0ZXN0");
  basic = send_message (fixture, msg);
  g_assert_cmpuint (basic->status, ==, 401);

  g_assert_cmpuint (fixture->up.hits, ==, 0);
  g_assert_cmpuint (fixture->signalled, ==, 0);
}

static void
test_forbidden (Fixture       *fixture,
                gconstpointer  data)
{
  guint port = ck_gateway_get_port (fixture->gateway);
  g_autofree char *own = g_strdup_printf ("127.0.0.1:%u", port);
  g_autofree char *v6 = g_strdup_printf ("[::1]:%u", port);
  g_autofree char *named = g_strdup_printf ("localhost:%u", port);
  g_autofree char *evil = g_strdup_printf ("evil.example:%u", port);
  g_autofree char *other_port = g_strdup_printf ("127.0.0.1:%u", port + 1);
  struct { const char *host, *extra; guint status; } cases[] = {
    { own, "", 201 },
    { v6, "", 201 },
    { named, "", 201 },
    { evil, "", 403 },
    { other_port, "", 403 },
    { own, "Origin: http://evil.example\r\n", 403 },
    { own, "Origin: null\r\n", 403 },
    { own, "Host: 127.0.0.1\r\n", 400 },
  };

  ck_test_store_set_api_key (fixture->store, API_KEY);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *request = raw_head (fixture, cases[i].host, cases[i].extra);
      g_autofree char *response = raw_exchange (fixture, request, FALSE);

      g_test_message ("Host %s, %s", cases[i].host, cases[i].extra);
      g_assert_cmpuint (raw_status (response), ==, cases[i].status);
      if (cases[i].status == 403)
        g_assert_nonnull (strstr (response, "\"permission_error\""));
    }
  g_assert_cmpuint (fixture->up.hits, ==, 3);
}

/* A request head, by hand, with the session's token as x-api-key. */
static char *
raw_request (Fixture    *fixture,
             const char *request_line,
             const char *headers,
             const char *body)
{
  return g_strdup_printf ("%s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nx-api-key: %s\r\n%s\r\n%s",
                          request_line, ck_gateway_get_port (fixture->gateway),
                          ck_gateway_session_get_token (fixture->session), headers, body);
}

/* Heads that two parsers could read two ways are refused, and their
 * connection closed after the answer: what follows on it (a CONNECT's
 * tunnel, a body framed one way or the other, the rest of a broken
 * request line) is never taken for a request of its own. */
static void
test_refused_heads (Fixture       *fixture,
                    gconstpointer  data)
{
  static const struct { const char *request_line, *headers, *body; } cases[] = {
    { "CONNECT api.anthropic.com:443", "", "" },
    { "POST /v1/messages", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n" },
    { "POST /v1/messages", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n" },
    { "POST /v1/messages", "Content-Length: 0\r\nContent-Length: 5\r\n", "" },
    { "GE\001T /v1/models", "", "" },
    { "GET\177 /v1/models", "", "" },
    { "GET\013 /v1/models", "", "" },
    { "GET\r /v1/models", "", "" },
    { "G(E)T /v1/models", "", "" },
    { "GET\"x /v1/models", "", "" },
    { "G\303\251T /v1/models", "", "" },
  };
  g_autofree char *next = raw_request (fixture, "GET /v1/smuggled", "", "");

  ck_test_store_set_api_key (fixture->store, API_KEY);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *head = raw_request (fixture, cases[i].request_line, cases[i].headers,
                                           cases[i].body);
      g_autofree char *request = g_strconcat (head, next, NULL);
      g_autofree char *response = NULL;
      g_autofree char *lower = NULL;
      gboolean closed = FALSE;

      g_test_message ("case %u", i);
      response = raw_exchange_on (fixture, NULL, request, FALSE, &closed);
      g_assert_cmpuint (raw_status (response), ==, 400);
      lower = g_ascii_strdown (response, -1);
      g_assert_nonnull (strstr (lower, "\r\nconnection: close\r\n"));
      /* One answer, and then the end. */
      g_assert_null (strstr (response + 1, "HTTP/1.1 "));
      g_assert_true (closed);
    }
  g_assert_cmpuint (fixture->up.hits, ==, 0);
}

/* The session token goes to the gateway and no further: a header that
 * holds it, whatever its name, stays behind; a URL that holds it is
 * refused (it cannot be taken out without changing what was asked). */
static void
test_token_elsewhere (Fixture       *fixture,
                      gconstpointer  data)
{
  const char *token = ck_gateway_session_get_token (fixture->session);
  g_autoptr(SoupMessage) msg = new_request (fixture, "POST", "/v1/messages", token);
  SoupMessageHeaders *headers = soup_message_get_request_headers (msg);
  g_autofree char *cookie = g_strdup_printf ("a=1; ck=%s", token);
  g_autofree char *wrapped = g_strdup_printf ("x%sx", token);
  g_autofree char *escaped = g_strdup_printf ("%%%02X%s", token[0], token + 1);
  g_autofree char *named = g_strconcat ("X-", token, NULL);
  g_autofree char *in_query = g_strdup_printf ("/v1/models?key=%s", token);
  g_autofree char *in_query_escaped = g_strdup_printf ("/v1/models?a=b&key=%s", escaped);
  g_autofree char *in_path = g_strdup_printf ("/v1/%s/models", token);
  const char *refused[] = { in_query, in_query_escaped, in_path };
  g_autoptr(Reply) reply = NULL;
  SoupMessageHeadersIter iter;
  const char *name, *value;

  ck_test_store_set_api_key (fixture->store, API_KEY);

  soup_message_headers_append (headers, "anthropic-api-key", token);
  soup_message_headers_append (headers, "Cookie", cookie);
  soup_message_headers_append (headers, "X-Custom-Token", wrapped);
  soup_message_headers_append (headers, "X-Escaped", escaped);
  soup_message_headers_append (headers, named, "1");
  soup_message_headers_append (headers, "X-Custom", "kept");
  reply = send_message (fixture, msg);
  g_assert_cmpuint (reply->status, ==, 201);
  g_assert_cmpuint (fixture->up.hits, ==, 1);
  g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "X-Custom"), ==, "kept");
  g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "x-api-key"), ==, API_KEY);
  assert_no_header (fixture->up.headers, "anthropic-api-key");
  assert_no_header (fixture->up.headers, "Cookie");
  assert_no_header (fixture->up.headers, "X-Custom-Token");
  assert_no_header (fixture->up.headers, "X-Escaped");
  assert_nowhere (fixture->up.headers, token);
  assert_nowhere (fixture->up.headers, token + 1);
  soup_message_headers_iter_init (&iter, fixture->up.headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    g_assert_null (strstr (name, token));

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(Reply) no = call (fixture, "GET", refused[i], token);
      g_autofree char *message = NULL;

      g_test_message ("URL %u", i);
      g_assert_cmpuint (no->status, ==, 400);
      message = assert_error_body (no, "invalid_request_error");
      g_assert_null (strstr (message, token));
    }
  g_assert_cmpuint (fixture->up.hits, ==, 1);
}

/* Stands for another user of the machine who bound a port first: a
 * listener on 127.0.0.1 that counts what it is sent. Prints its port,
 * then (once its standard input ends) how many bytes came. */
static const char other_listener[] =
  "import select, socket, sys\n"
  "s = socket.socket()\n"
  "s.bind(('127.0.0.1', 0))\n"
  "s.listen(16)\n"
  "print(s.getsockname()[1], flush=True)\n"
  "conns, got = [], 0\n"
  "while True:\n"
  "    ready = select.select([s, sys.stdin] + conns, [], [])[0]\n"
  "    if sys.stdin in ready:\n"
  "        break\n"
  "    for c in ready:\n"
  "        if c is s:\n"
  "            conns.append(s.accept()[0])\n"
  "        else:\n"
  "            got += len(c.recv(65536))\n"
  "            conns.remove(c)\n"
  "            c.close()\n"
  "print(got, flush=True)\n";

static void
test_upstream_other_user (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autofree char *setpriv = g_find_program_in_path ("setpriv");
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *port = NULL;
  g_autofree char *received = NULL;
  g_autoptr(CkGatewaySession) own = NULL;
  g_autoptr(Reply) fine = NULL;
  const char *hosts[] = { "127.0.0.1", "localhost" };

  if (setpriv == NULL || !g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("setpriv or /usr/bin/python3 is missing");
      return;
    }
  if (geteuid () != 0)
    {
      g_test_skip ("only root can act as another user");
      return;
    }

  ck_test_store_set_api_key (fixture->store, API_KEY);

  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                              "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                              "/usr/bin/python3", "-c", other_listener, NULL);
  g_assert_no_error (error);
  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process));
  port = g_data_input_stream_read_line (lines, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (port);

  for (guint i = 0; i < G_N_ELEMENTS (hosts); i++)
    {
      g_autofree char *upstream = g_strdup_printf ("http://%s:%s", hosts[i], port);
      g_autoptr(CkGatewaySession) session = ck_gateway_session_new (CK_CREDENTIAL_KIND_API_KEY,
                                                                    upstream);
      g_autoptr(Reply) reply = NULL;
      g_autofree char *message = NULL;

      ck_gateway_add_session (fixture->gateway, session);
      reply = call (fixture, "POST", "/v1/messages", ck_gateway_session_get_token (session));
      g_assert_cmpuint (reply->status, ==, 502);
      message = assert_error_body (reply, "api_error");
      g_test_message ("%s", message);
      g_assert_nonnull (strstr (message, port));
      g_assert_nonnull (strstr (message, "another user"));
      ck_gateway_remove_session (fixture->gateway, ck_gateway_session_get_id (session));
    }

  /* The same, to a listener of our own: sent. */
  own = ck_gateway_session_new (CK_CREDENTIAL_KIND_API_KEY, fixture->up.url);
  ck_gateway_add_session (fixture->gateway, own);
  fine = call (fixture, "POST", "/v1/messages", ck_gateway_session_get_token (own));
  g_assert_cmpuint (fine->status, ==, 201);

  /* Not a byte reached the other user: no request, no credential. */
  g_output_stream_close (g_subprocess_get_stdin_pipe (process), NULL, NULL);
  received = g_data_input_stream_read_line (lines, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (received, ==, "0");
  g_subprocess_wait (process, NULL, &error);
  g_assert_no_error (error);
}

static void
test_no_credential (Fixture       *fixture,
                    gconstpointer  data)
{
  const char *token = ck_gateway_session_get_token (fixture->session);
  g_autoptr(Reply) nothing = NULL;
  g_autoptr(Reply) failed = NULL;
  g_autofree char *message = NULL;
  CkOAuthTokens *kept;

  nothing = call (fixture, "POST", "/v1/messages", token);
  g_assert_cmpuint (nothing->status, ==, 401);
  message = assert_error_body (nothing, "authentication_error");
  g_assert_nonnull (strstr (message, "claude-keyring login"));

  /* Expired, and the refresh fails: say so; keep the stored tokens. */
  store_oauth (fixture, g_get_real_time () / 1000 - 1000);
  fixture->source->fail = TRUE;
  failed = call (fixture, "POST", "/v1/messages", token);
  g_assert_cmpuint (failed->status, ==, 401);
  g_clear_pointer (&message, g_free);
  message = assert_error_body (failed, "authentication_error");
  g_assert_nonnull (strstr (message, "Refreshing the login failed"));
  g_assert_null (strstr (message, ACCESS_TOKEN));
  kept = ck_token_store_get_oauth (fixture->store);
  g_assert_nonnull (kept);
  g_assert_cmpstr (kept->access_token, ==, ACCESS_TOKEN);

  g_assert_cmpuint (fixture->up.hits, ==, 0);
}

static void
test_retry_after_401 (Fixture       *fixture,
                      gconstpointer  data)
{
  static const char body[] = "{\"model\":\"claude-test\"}";
  const char *token = ck_gateway_session_get_token (fixture->session);
  g_autoptr(GBytes) bytes = g_bytes_new_static (body, strlen (body));
  g_autoptr(SoupMessage) msg = new_request (fixture, "POST", "/v1/messages", token);
  g_autoptr(Reply) reply = NULL;
  g_autoptr(Reply) again = NULL;
  g_autoptr(Reply) refused = NULL;
  g_autoptr(Reply) key = NULL;

  /* Valid for an hour as far as we know, but the API has moved on. */
  store_oauth (fixture, in_one_hour_ms ());
  fixture->up.accept_bearer = g_strdup ("test-access-1");

  soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
  reply = send_message (fixture, msg);
  g_assert_cmpuint (reply->status, ==, 201);
  g_assert_cmpuint (fixture->source->invalidations, ==, 1);
  g_assert_cmpuint (fixture->source->refreshes, ==, 1);
  g_assert_cmpuint (fixture->up.hits, ==, 2);
  /* The retry carried the whole body again. */
  g_assert_true (g_bytes_equal (fixture->up.body, bytes));
  g_assert_cmpstr (soup_message_headers_get_one (fixture->up.headers, "Authorization"), ==,
                   "Bearer test-access-1");

  /* The next request uses the new token at once. */
  again = call (fixture, "GET", "/v1/models", token);
  g_assert_cmpuint (again->status, ==, 201);
  g_assert_cmpuint (fixture->source->refreshes, ==, 1);
  g_assert_cmpuint (fixture->up.hits, ==, 3);

  /* A refusal that a refresh does not cure reaches the client after one
   * retry. Within a minute of the last forced refresh, no other one: a
   * path the API always answers 401 must not cost a refresh a request
   * (10 such requests here, one upstream retry each). */
  g_free (fixture->up.accept_bearer);
  fixture->up.accept_bearer = g_strdup ("never");
  for (guint i = 0; i < 10; i++)
    {
      g_autoptr(Reply) again_refused = call (fixture, "GET", "/v1/models", token);

      g_assert_cmpuint (again_refused->status, ==, 401);
    }
  refused = call (fixture, "GET", "/v1/models", token);
  g_assert_cmpuint (refused->status, ==, 401);
  g_free (assert_error_body (refused, "authentication_error"));
  g_assert_cmpuint (fixture->source->refreshes, ==, 1);
  g_assert_cmpuint (fixture->up.hits, ==, 3 + 11 * 2);

  /* An API key is not refreshed: its 401 goes straight through. */
  ck_test_store_set_api_key (fixture->store, API_KEY);
  key = call (fixture, "GET", "/v1/models", token);
  g_assert_cmpuint (key->status, ==, 401);
  g_assert_cmpuint (fixture->source->refreshes, ==, 1);
  g_assert_cmpuint (fixture->up.hits, ==, 3 + 11 * 2 + 1);
}

static void
test_unreachable (Fixture       *fixture,
                  gconstpointer  data)
{
  const char *token = ck_gateway_session_get_token (fixture->session);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autofree char *closed_url = NULL;
  g_autofree char *message = NULL;
  g_autoptr(Reply) reply = NULL;
  g_autoptr(Reply) hung = NULL;
  gint64 start;

  ck_test_store_set_api_key (fixture->store, API_KEY);

  /* A port that was free a moment ago: nobody listens there. */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_assert_true (g_socket_bind (socket, any, FALSE, NULL));
  address = g_socket_get_local_address (socket, NULL);
  closed_url = g_strdup_printf ("http://127.0.0.1:%u",
                                g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)));
  g_socket_close (socket, NULL);
  g_settings_set_string (fixture->settings, "api-base-url", closed_url);
  reply = call (fixture, "POST", "/v1/messages", token);
  g_assert_cmpuint (reply->status, ==, 502);
  message = assert_error_body (reply, "api_error");
  g_assert_nonnull (strstr (message, "127.0.0.1"));

  /* Connected, and then nothing: 504 when the wait is up. */
  g_settings_set_string (fixture->settings, "api-base-url", fixture->up.url);
  ck_gateway_set_response_timeout (fixture->gateway, 1);
  start = g_get_monotonic_time ();
  hung = call (fixture, "POST", "/hang", token);
  g_assert_cmpuint (hung->status, ==, 504);
  g_free (assert_error_body (hung, "timeout_error"));
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC / 2);
}

static void
test_too_large (Fixture       *fixture,
                gconstpointer  data)
{
  const char *token = ck_gateway_session_get_token (fixture->session);
  gsize limit = CK_GATEWAY_MAX_BODY;
  g_autofree guint8 *big = g_malloc (limit + 1);
  g_autoptr(GBytes) at_limit = NULL;
  g_autoptr(GBytes) over = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(Reply) accepted = NULL;
  g_autoptr(Reply) refused = NULL;
  g_autoptr(Reply) chunked = NULL;
  g_autoptr(GInputStream) stream = NULL;

  ck_test_store_set_api_key (fixture->store, API_KEY);
  for (gsize i = 0; i <= limit; i++)
    big[i] = pattern_byte (i);
  at_limit = g_bytes_new_static (big, limit);
  over = g_bytes_new_static (big, limit + 1);

  msg = new_request (fixture, "POST", "/v1/messages", token);
  soup_message_set_request_body_from_bytes (msg, "application/octet-stream", at_limit);
  accepted = send_message (fixture, msg);
  g_assert_cmpuint (accepted->status, ==, 201);
  g_assert_true (g_bytes_equal (fixture->up.body, at_limit));
  g_clear_pointer (&fixture->up.body, g_bytes_unref);

  g_clear_object (&msg);
  msg = new_request (fixture, "POST", "/v1/messages", token);
  soup_message_set_request_body_from_bytes (msg, "application/octet-stream", over);
  refused = send_message (fixture, msg);
  g_assert_cmpuint (refused->status, ==, 413);
  g_free (assert_error_body (refused, "request_too_large"));

  /* Without a length up front (chunked), counted as it comes. */
  g_clear_object (&msg);
  msg = new_request (fixture, "POST", "/v1/messages", token);
  stream = g_memory_input_stream_new_from_bytes (over);
  soup_message_set_request_body (msg, "application/octet-stream", stream, -1);
  chunked = send_message (fixture, msg);
  g_assert_cmpuint (chunked->status, ==, 413);
  g_free (assert_error_body (chunked, "request_too_large"));

  g_assert_cmpuint (fixture->up.hits, ==, 1);
}

static void
test_passthrough (Fixture       *fixture,
                  gconstpointer  data)
{
  const char *token = ck_gateway_session_get_token (fixture->session);
  static const guint statuses[] = { 429, 500, 529, 400, 404 };

  ck_test_store_set_api_key (fixture->store, API_KEY);

  for (guint i = 0; i < G_N_ELEMENTS (statuses); i++)
    {
      g_autofree char *path = g_strdup_printf ("/status/%u", statuses[i]);
      g_autoptr(Reply) reply = call (fixture, "POST", path, token);

      g_assert_cmpuint (reply->status, ==, statuses[i]);
      g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "retry-after"), ==, "7");
      g_assert_cmpstr (soup_message_headers_get_one (reply->headers, "request-id"), ==,
                       "req_test_status");
      g_assert_cmpstr (g_bytes_get_data (reply->body, NULL), ==,
                       "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
                       "\"message\":\"upstream says no\"}}");
    }
  g_assert_cmpuint (fixture->up.hits, ==, G_N_ELEMENTS (statuses));
}

/* Reads a streamed answer as it comes; each SSE event's arrival time. */
typedef struct
{
  GInputStream *stream;
  GString      *text;
  GArray       *arrived;
  gboolean      done;
  char          buffer[16384];
} Reader;

static void
on_reader_read (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Reader *reader = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);
  gint64 now = g_get_monotonic_time ();

  g_assert_no_error (error);
  if (n == 0)
    {
      reader->done = TRUE;
      return;
    }
  for (gssize i = 0; i < n; i++)
    {
      g_string_append_c (reader->text, reader->buffer[i]);
      if (g_str_has_suffix (reader->text->str, "\n\n"))
        g_array_append_val (reader->arrived, now);
    }
  g_input_stream_read_async (reader->stream, reader->buffer, sizeof reader->buffer,
                             G_PRIORITY_DEFAULT, NULL, on_reader_read, reader);
}

static void
test_sse_timing (Fixture       *fixture,
                 gconstpointer  data)
{
  const char *token = ck_gateway_session_get_token (fixture->session);
  g_autoptr(SoupMessage) msg = new_request (fixture, "POST", "/v1/messages/sse?n=5&gap=300", token);
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  CkTestAsync async = { 0 };
  Reader reader = { 0 };

  ck_test_store_set_api_key (fixture->store, API_KEY);
  soup_session_send_async (fixture->client, msg, G_PRIORITY_DEFAULT, NULL, ck_test_async_cb,
                           &async);
  stream = soup_session_send_finish (fixture->client, ck_test_async_wait (&async), &error);
  g_assert_no_error (error);
  ck_test_async_clear (&async);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  g_assert_cmpstr (soup_message_headers_get_content_type (soup_message_get_response_headers (msg),
                                                          NULL), ==, "text/event-stream");
  g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                 "request-id"), ==, "req_test_sse");

  reader.stream = stream;
  reader.text = g_string_new (NULL);
  reader.arrived = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_input_stream_read_async (stream, reader.buffer, sizeof reader.buffer, G_PRIORITY_DEFAULT,
                             NULL, on_reader_read, &reader);
  ck_test_run_until (&reader.done);

  g_assert_cmpuint (reader.arrived->len, ==, 5);
  g_assert_cmpuint (fixture->up.sent_at->len, ==, 5);
  g_assert_true (g_str_has_prefix (reader.text->str, "event: content_block_delta\ndata: {\"index\":0}\n\n"));
  /* Each event reached the client before upstream sent the next one:
   * nothing waited for a buffer to fill. */
  for (guint i = 0; i + 1 < reader.arrived->len; i++)
    {
      gint64 arrived = g_array_index (reader.arrived, gint64, i);
      gint64 next_sent = g_array_index (fixture->up.sent_at, gint64, i + 1);

      g_test_message ("event %u: sent %+.1f ms, arrived %+.1f ms", i,
                      (g_array_index (fixture->up.sent_at, gint64, i) -
                       g_array_index (fixture->up.sent_at, gint64, 0)) / 1000.0,
                      (arrived - g_array_index (fixture->up.sent_at, gint64, 0)) / 1000.0);
      g_assert_cmpint (arrived, <, next_sent);
    }

  g_string_free (reader.text, TRUE);
  g_array_unref (reader.arrived);
}

static void
test_client_disconnect (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autofree char *response = NULL;

  ck_test_store_set_api_key (fixture->store, API_KEY);

  /* Upstream sends one event and then stays silent: only the gateway
   * noticing the client's departure can close the upstream connection. */
  response = raw_post (fixture, "/hold", TRUE);
  g_assert_cmpuint (raw_status (response), ==, 200);
  g_assert_nonnull (strstr (response, "event: ping\ndata: 1\n\n"));

  ck_test_run_until (&fixture->up.hold_closed);
  while (fixture->signalled < 1)
    g_main_context_iteration (NULL, TRUE);

  /* A streaming one too, cancelled by the client mid-way. */
  g_clear_pointer (&response, g_free);
  response = raw_post (fixture, "/v1/sse?n=1000&gap=20", TRUE);
  g_assert_cmpuint (raw_status (response), ==, 200);
  ck_test_run_until (&fixture->up.sse_finished);
  g_assert_cmpuint (fixture->up.sse_cancelled, ==, 1);
}

/* A stream that breaks upstream must not look complete to the client. */
static void
test_upstream_breaks (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree char *response = NULL;

  ck_test_store_set_api_key (fixture->store, API_KEY);
  /* Read until the gateway closes the connection. */
  response = raw_post (fixture, "/break", FALSE);
  g_assert_cmpuint (raw_status (response), ==, 200);
  g_assert_nonnull (strstr (response, "event: ping\ndata: 1\n\n"));
  /* No last chunk: the client can tell the stream broke off. */
  g_assert_false (g_str_has_suffix (response, "0\r\n\r\n"));
}

static void
test_removed_session (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(CkGatewaySession) other = ck_gateway_session_new (CK_CREDENTIAL_KIND_OAUTH, NULL);
  g_autofree char *token = g_strdup (ck_gateway_session_get_token (fixture->session));
  g_autoptr(Reply) before = NULL;
  g_autoptr(Reply) after = NULL;
  g_autoptr(Reply) still = NULL;
  g_autoptr(GPtrArray) sessions = NULL;

  ck_test_store_set_api_key (fixture->store, API_KEY);
  ck_gateway_add_session (fixture->gateway, other);
  g_assert_cmpuint (strlen (token), ==, 43);
  g_assert_cmpstr (ck_gateway_session_get_token (other), !=, token);

  sessions = ck_gateway_dup_sessions (fixture->gateway);
  g_assert_cmpuint (sessions->len, ==, 2);
  g_assert_true (g_ptr_array_index (sessions, 0) == fixture->session);
  g_assert_true (ck_gateway_lookup_session (fixture->gateway,
                                            ck_gateway_session_get_id (other)) == other);

  before = call (fixture, "GET", "/v1/models", token);
  g_assert_cmpuint (before->status, ==, 201);

  g_assert_true (ck_gateway_remove_session (fixture->gateway,
                                            ck_gateway_session_get_id (fixture->session)));
  g_assert_false (ck_gateway_remove_session (fixture->gateway,
                                             ck_gateway_session_get_id (fixture->session)));
  g_assert_null (ck_gateway_lookup_session (fixture->gateway,
                                            ck_gateway_session_get_id (fixture->session)));
  after = call (fixture, "GET", "/v1/models", token);
  g_assert_cmpuint (after->status, ==, 401);
  g_free (assert_error_body (after, "authentication_error"));

  still = call (fixture, "GET", "/v1/models", ck_gateway_session_get_token (other));
  g_assert_cmpuint (still->status, ==, 201);
  g_assert_cmpuint (fixture->up.hits, ==, 2);
}

static gsize
vm_rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  line = strstr (status, "VmRSS:");
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen ("VmRSS:"), NULL, 10);
}

/* Streams @size bytes through the gateway and checks every one; returns
 * the largest RSS growth seen meanwhile. */
typedef struct
{
  GInputStream *stream;
  guint64       offset;
  gsize         rss_start;
  gsize         rss_max;
  gboolean      done;
  guint8        buffer[BIG_CHUNK];
} BigReader;

static void
on_big_read (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  BigReader *reader = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);

  g_assert_no_error (error);
  if (n == 0)
    {
      reader->done = TRUE;
      return;
    }
  for (gssize i = 0; i < n; i++)
    if (reader->buffer[i] != pattern_byte (reader->offset + i))
      g_error ("byte %" G_GUINT64_FORMAT " differs", reader->offset + i);
  reader->offset += n;
  if (reader->offset % (4 * 1024 * 1024) < (guint64) n)
    reader->rss_max = MAX (reader->rss_max, vm_rss_kib ());
  g_input_stream_read_async (reader->stream, reader->buffer, sizeof reader->buffer,
                             G_PRIORITY_DEFAULT, NULL, on_big_read, reader);
}

static gsize
stream_big (Fixture *fixture,
            guint64  size,
            gboolean content_length)
{
  g_autofree char *path = g_strdup_printf ("/big?size=%" G_GUINT64_FORMAT "&cl=%d", size,
                                           content_length);
  g_autoptr(SoupMessage) msg = new_request (fixture, "GET", path,
                                            ck_gateway_session_get_token (fixture->session));
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) stream = NULL;
  CkTestAsync async = { 0 };
  BigReader *reader = g_new0 (BigReader, 1);
  gsize growth;

  reader->rss_start = reader->rss_max = vm_rss_kib ();
  soup_session_send_async (fixture->client, msg, G_PRIORITY_DEFAULT, NULL, ck_test_async_cb,
                           &async);
  stream = soup_session_send_finish (fixture->client, ck_test_async_wait (&async), &error);
  g_assert_no_error (error);
  ck_test_async_clear (&async);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  g_assert_cmpint (soup_message_headers_get_encoding (soup_message_get_response_headers (msg)), ==,
                   content_length ? SOUP_ENCODING_CONTENT_LENGTH : SOUP_ENCODING_CHUNKED);

  reader->stream = stream;
  g_input_stream_read_async (stream, reader->buffer, sizeof reader->buffer, G_PRIORITY_DEFAULT,
                             NULL, on_big_read, reader);
  ck_test_run_until (&reader->done);
  g_assert_cmpuint (reader->offset, ==, size);
  growth = reader->rss_max - reader->rss_start;
  g_free (reader);
  return growth;
}

static void
test_large_stream (Fixture       *fixture,
                   gconstpointer  data)
{
  /* Under ASan (CK_TEST_SLOW) or valgrind every byte costs more; a
   * quarter is still far more than the growth allowed. Their RSS is
   * their own (ASan's quarantine), not the gateway's. */
  const char *preload = g_getenv ("LD_PRELOAD");
  gboolean instrumented = g_getenv ("CK_TEST_SLOW") != NULL ||
                          (preload != NULL && strstr (preload, "vgpreload") != NULL);
  guint64 size = (instrumented ? 16 : 64) * 1024 * 1024;
  gsize growth;

  ck_test_store_set_api_key (fixture->store, API_KEY);

  /* Warm up: the allocator's first arenas are not growth. */
  stream_big (fixture, 4 * 1024 * 1024, FALSE);

  growth = stream_big (fixture, size, FALSE);
  g_test_message ("%" G_GUINT64_FORMAT " MiB chunked: RSS grew by %" G_GSIZE_FORMAT " KiB",
                  size >> 20, growth);
  /* Held whole, it would be 64 MiB or more. */
  if (!instrumented)
    g_assert_cmpuint (growth, <, 8 * 1024);

  growth = stream_big (fixture, size, TRUE);
  g_test_message ("%" G_GUINT64_FORMAT " MiB with a length: RSS grew by %" G_GSIZE_FORMAT " KiB",
                  size >> 20, growth);
  if (!instrumented)
    g_assert_cmpuint (growth, <, 8 * 1024);
  g_assert_cmpuint (ck_gateway_session_get_bytes (fixture->session), ==,
                    2 * size + 4 * 1024 * 1024);
}

/* The real manager: 64 streams hit 401 at once and share one refresh. */
typedef struct
{
  Fixture      *fixture;
  SoupMessage  *msg;
  GString      *text;
  gboolean      done;
} Stream;

static void
on_stream_body (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Stream *stream = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (object), result, &error);

  g_assert_no_error (error);
  g_string_append_len (stream->text, g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  stream->done = TRUE;
}

static void
test_concurrent_refresh (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(CkOAuthManager) manager = NULL;
  g_autofree char *token_url = g_strconcat (fixture->up.url, "/v1/oauth/token", NULL);
  g_autoptr(GString) events = g_string_new (NULL);
  Stream streams[64] = { 0 };
  CkOAuthTokens *now;

  for (guint i = 0; i < 20; i++)
    g_string_append_printf (events, "event: content_block_delta\ndata: {\"index\":%u}\n\n", i);

  g_settings_set_string (fixture->settings, "token-url", token_url);
  g_settings_set_string (fixture->settings, "revoke-url", token_url);
  manager = ck_oauth_manager_new (fixture->settings, fixture->store);
  ck_resolver_set_oauth_source (fixture->resolver, CK_OAUTH_SOURCE (manager));

  store_oauth (fixture, in_one_hour_ms ());
  fixture->up.accept_bearer = g_strdup ("test-access-1");

  for (guint i = 0; i < G_N_ELEMENTS (streams); i++)
    {
      streams[i].fixture = fixture;
      streams[i].text = g_string_new (NULL);
      streams[i].msg = new_request (fixture, "POST", "/v1/messages/sse?n=20&gap=5",
                                    ck_gateway_session_get_token (fixture->session));
      soup_session_send_and_read_async (fixture->client, streams[i].msg, G_PRIORITY_DEFAULT,
                                        NULL, on_stream_body, &streams[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (streams); i++)
    {
      ck_test_run_until (&streams[i].done);
      g_assert_cmpuint (soup_message_get_status (streams[i].msg), ==, 200);
      g_assert_cmpstr (streams[i].text->str, ==, events->str);
      g_object_unref (streams[i].msg);
      g_string_free (streams[i].text, TRUE);
    }

  /* One refresh at the OAuth server for all of them. */
  g_assert_cmpuint (fixture->up.token_hits, ==, 1);
  g_assert_cmpuint (ck_oauth_manager_get_refresh_count (manager), ==, 1);
  now = ck_token_store_get_oauth (fixture->store);
  g_assert_cmpstr (now->access_token, ==, "test-access-1");
  g_assert_cmpstr (now->refresh_token, ==, "test-refresh-1");
}

/* Remote sessions: each on its own Unix socket */

static char *
dup_socket_dir (void)
{
  return g_build_filename (g_get_user_runtime_dir (), "claude-keyring", NULL);
}

static void
assert_gone (const char *path)
{
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, -1);
  g_assert_cmpint (errno, ==, ENOENT);
}

/* A socket file left behind, as by an agent that was killed. */
static void
leave_socket (const char *path)
{
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (g_socket_bind (socket, address, FALSE, &error));
  g_assert_no_error (error);
}

static void
test_session_socket (Fixture       *fixture,
                     gconstpointer  data)
{
  CkGateway *gateway = fixture->gateway;
  g_autoptr(CkGatewaySession) remote = ck_gateway_session_new (CK_CREDENTIAL_KIND_API_KEY, NULL);
  g_autoptr(CkGatewaySession) other = ck_gateway_session_new (CK_CREDENTIAL_KIND_API_KEY, NULL);
  const char *id = ck_gateway_session_get_id (remote);
  const char *token = ck_gateway_session_get_token (remote);
  const char *local = ck_gateway_session_get_token (fixture->session);
  g_autofree char *tcp = g_strdup_printf ("127.0.0.1:%u", ck_gateway_get_port (gateway));
  g_autofree char *dir = dup_socket_dir ();
  g_autofree char *expected = g_strdup_printf ("%s/gateway-%s.sock", dir, id);
  g_autofree char *path = NULL;
  g_autofree char *other_path = NULL;
  g_autoptr(GError) error = NULL;
  struct stat st;

  ck_test_store_set_api_key (fixture->store, API_KEY);
  ck_gateway_session_set_remote (remote, "user@build-host");
  ck_gateway_session_set_remote (other, "other@host");
  g_assert_cmpstr (ck_gateway_session_get_remote (remote), ==, "user@build-host");
  g_assert_null (ck_gateway_session_get_remote (fixture->session));
  ck_gateway_add_session (gateway, remote);
  ck_gateway_add_session (gateway, other);
  g_assert_null (ck_gateway_get_session_socket (gateway, id));

  path = ck_gateway_listen_session (gateway, id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (path, ==, expected);
  g_assert_cmpstr (ck_gateway_get_session_socket (gateway, id), ==, path);
  g_assert_cmpint (lstat (dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
  other_path = ck_gateway_listen_session (gateway, ck_gateway_session_get_id (other), &error);
  g_assert_no_error (error);

  /* Its token, with whatever port the forward got on the remote host. */
  g_assert_cmpuint (status_on (fixture, path, "127.0.0.1:40123", token), ==, 201);
  g_assert_cmpuint (status_on (fixture, path, "localhost:1", token), ==, 201);
  g_assert_cmpuint (status_on (fixture, path, "[::1]:65535", token), ==, 201);
  g_assert_cmpuint (status_on (fixture, path, "evil.example:40123", token), ==, 403);
  g_assert_cmpuint (status_on (fixture, path, "127.0.0.1", token), ==, 403);
  /* Not on the port, nor on another session's socket; no other token on
   * its socket. */
  g_assert_cmpuint (status_on (fixture, NULL, tcp, token), ==, 401);
  g_assert_cmpuint (status_on (fixture, other_path, "127.0.0.1:40123", token), ==, 401);
  g_assert_cmpuint (status_on (fixture, path, "127.0.0.1:40123", local), ==, 401);
  g_assert_cmpuint (status_on (fixture, path, "127.0.0.1:40123",
                               ck_gateway_session_get_token (other)), ==, 401);
  g_assert_cmpuint (fixture->up.hits, ==, 3);
  g_assert_cmpuint (ck_gateway_session_get_requests (remote), ==, 3);
  g_assert_cmpuint (status_on (fixture, NULL, tcp, local), ==, 201);

  /* Closed: the file goes, the session stays (a persistent one until its
   * next opener). */
  ck_gateway_unlisten_session (gateway, id);
  g_assert_null (ck_gateway_get_session_socket (gateway, id));
  assert_gone (path);
  g_assert_nonnull (ck_gateway_lookup_session (gateway, id));

  /* Listening again over the socket an agent that was killed left. */
  leave_socket (path);
  g_clear_pointer (&path, g_free);
  path = ck_gateway_listen_session (gateway, id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (status_on (fixture, path, "127.0.0.1:40123", token), ==, 201);

  /* The session ends: its socket goes with it. */
  g_assert_true (ck_gateway_remove_session (gateway, id));
  assert_gone (path);
  g_assert_null (ck_gateway_get_session_socket (gateway, id));
  ck_gateway_stop (gateway);
  assert_gone (other_path);
}

/* Whether the gateway closed (or never kept) the connection @socket. */
static gboolean
is_closed_by_gateway (GSocket *socket)
{
  char byte;

  return g_socket_condition_check (socket, G_IO_IN | G_IO_HUP) != 0 &&
         recv (g_socket_get_fd (socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

/* A remote session of the fixture's gateway, listening on its socket;
 * the socket's path. */
static char *
listen_remote (Fixture          *fixture,
               CkGatewaySession *remote)
{
  g_autoptr(GError) error = NULL;
  char *path;

  ck_test_store_set_api_key (fixture->store, API_KEY);
  ck_gateway_session_set_remote (remote, "user@build-host");
  ck_gateway_add_session (fixture->gateway, remote);
  path = ck_gateway_listen_session (fixture->gateway, ck_gateway_session_get_id (remote), &error);
  g_assert_no_error (error);
  return path;
}

/* Anyone on the remote host can connect to the forwarded port, and
 * arrives on the session's socket as our user: they hold more idle
 * connections there than the gateway keeps for our user in all. Neither
 * the gateway's port nor the session's own client is locked out. */
static void
test_session_socket_flood (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(CkGatewaySession) remote = ck_gateway_session_new (CK_CREDENTIAL_KIND_API_KEY, NULL);
  g_autofree char *tcp = g_strdup_printf ("127.0.0.1:%u", ck_gateway_get_port (fixture->gateway));
  g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree char *path = listen_remote (fixture, remote);
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
  g_autoptr(GError) error = NULL;
  guint open = 0;

  for (guint i = 0; i < MORE_THAN_OPEN_AT_ONCE; i++)
    {
      GSocket *socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_DEFAULT, &error);

      g_assert_no_error (error);
      g_assert_true (g_socket_connect (socket, address, NULL, &error));
      g_assert_no_error (error);
      g_ptr_array_add (held, socket);
      /* Accepted before the next one: the backlog is short. */
      while (g_main_context_iteration (NULL, FALSE))
        ;
    }

  g_assert_cmpuint (status_on (fixture, NULL, tcp, ck_gateway_session_get_token (fixture->session)), ==, 201);
  g_assert_cmpuint (status_on (fixture, path, "127.0.0.1:40123", ck_gateway_session_get_token (remote)), ==, 201);
  for (guint i = 0; i < held->len; i++)
    open += !is_closed_by_gateway (g_ptr_array_index (held, i));
  g_assert_cmpuint (open, <, 100);
}

/* A connection kept alive through the forward ends with the session's
 * socket: when the opener of a persistent session goes, no one goes on
 * using the token over a connection accepted before. */
static void
test_session_socket_closes_connections (Fixture       *fixture,
                                        gconstpointer  data)
{
  CkGateway *gateway = fixture->gateway;
  g_autoptr(CkGatewaySession) remote = ck_gateway_session_new (CK_CREDENTIAL_KIND_API_KEY, NULL);
  const char *id = ck_gateway_session_get_id (remote);
  g_autofree char *path = listen_remote (fixture, remote);
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
  g_autoptr(SoupSession) client = soup_session_new_with_options ("remote-connectable", address, NULL);
  g_autofree char *bearer = g_strconcat ("Bearer ", ck_gateway_session_get_token (remote), NULL);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(SoupMessage) msg = soup_message_new ("GET", "http://127.0.0.1:40123/v1/models");
      CkTestAsync async = { 0 };
      g_autoptr(GBytes) body = NULL;

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", bearer);
      soup_session_send_and_read_async (client, msg, G_PRIORITY_DEFAULT, NULL, ck_test_async_cb, &async);
      body = soup_session_send_and_read_finish (client, ck_test_async_wait (&async), &error);
      ck_test_async_clear (&async);
      if (i == 0)
        {
          g_assert_no_error (error);
          g_assert_cmpuint (soup_message_get_status (msg), ==, 201);
          /* The opener went; the session stays (a persistent one). */
          ck_gateway_unlisten_session (gateway, id);
        }
      else
        g_assert_nonnull (error);
    }
  g_assert_nonnull (ck_gateway_lookup_session (gateway, id));
  g_assert_cmpuint (fixture->up.hits, ==, 1);
}

/* Only a socket of ours is replaced: a file or a symlink at its path
 * stays as it is, and the session gets no socket. */
static void
test_session_socket_refused (Fixture       *fixture,
                             gconstpointer  data)
{
  CkGateway *gateway = fixture->gateway;
  g_autoptr(CkGatewaySession) remote = ck_gateway_session_new (CK_CREDENTIAL_KIND_API_KEY, NULL);
  const char *id = ck_gateway_session_get_id (remote);
  g_autofree char *dir = dup_socket_dir ();
  g_autofree char *path = g_strdup_printf ("%s/gateway-%s.sock", dir, id);
  g_autofree char *target = g_build_filename (dir, "target", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *link = NULL;
  g_autofree char *got = NULL;
  g_autoptr(GError) error = NULL;
  struct stat st;

  ck_gateway_session_set_remote (remote, "user@host");
  ck_gateway_add_session (gateway, remote);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_cmpint (chmod (dir, 0755), ==, 0);

  g_assert_true (g_file_set_contents (path, "not a socket", -1, NULL));
  got = ck_gateway_listen_session (gateway, id, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_assert_null (got);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "not a socket");
  g_assert_null (ck_gateway_get_session_socket (gateway, id));
  /* The directory was closed to others on the way. */
  g_assert_cmpint (lstat (dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  g_clear_error (&error);
  g_assert_cmpint (unlink (path), ==, 0);

  g_assert_true (g_file_set_contents (target, "kept", -1, NULL));
  g_assert_cmpint (symlink (target, path), ==, 0);
  got = ck_gateway_listen_session (gateway, id, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_assert_null (got);
  link = g_file_read_link (path, NULL);
  g_assert_cmpstr (link, ==, target);
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (target, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "kept");
  g_assert_cmpint (unlink (path), ==, 0);
  g_assert_cmpint (unlink (target), ==, 0);
}

/* Descriptors */

static gboolean
skip_under_valgrind (void)
{
  /* Valgrind keeps descriptors of its own at the top of the range and
   * refuses a lower limit. */
  if (g_getenv ("CK_TEST_VALGRIND") == NULL)
    return FALSE;
  g_test_skip ("the descriptor limit cannot be lowered under valgrind");
  return TRUE;
}

/* Lowers this process's descriptor limit to @spare above the highest
 * descriptor open now (those below it that are free stay free too). */
static void
limit_descriptors (struct rlimit *saved,
                   guint          spare)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  struct rlimit limit;
  const char *name;
  int highest = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    highest = MAX (highest, atoi (name));
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, saved), ==, 0);
  limit = *saved;
  limit.rlim_cur = MIN ((rlim_t) highest + 1 + spare, saved->rlim_max);
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &limit), ==, 0);
}

static void
restore_descriptors (const struct rlimit *saved)
{
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, saved), ==, 0);
}

/* Descriptors the gateway has when another user starts connecting: a few
 * more than its own requests below need. */
#define SPARE_DESCRIPTORS 24

/* Another user holds as many connections as they can: the gateway keeps
 * four of them (each answered 403) and closes the rest at once, so they
 * use up neither its descriptors nor its listener (libsoup's own stops
 * accepting for good after one failed accept). */
static void
test_other_user_connections (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *request = NULL;
  g_autofree char *response = NULL;
  g_autofree char *host = NULL;
  struct rlimit saved;
  guint open = 0;

  if (!ck_test_can_switch_user () || skip_under_valgrind ())
    return;

  ck_test_store_set_api_key (fixture->store, API_KEY);
  limit_descriptors (&saved, SPARE_DESCRIPTORS);
  process = ck_test_hold_connections (ck_gateway_get_port (fixture->gateway),
                                      SPARE_DESCRIPTORS + 4, &open);
  g_assert_cmpuint (open, ==, 4);

  /* Theirs are still open: ours goes through all the same. */
  host = g_strdup_printf ("127.0.0.1:%u", ck_gateway_get_port (fixture->gateway));
  request = raw_head (fixture, host, "");
  response = raw_exchange (fixture, request, FALSE);
  restore_descriptors (&saved);
  g_assert_cmpuint (raw_status (response), ==, 201);

  g_output_stream_close (g_subprocess_get_stdin_pipe (process), NULL, NULL);
  g_subprocess_wait (process, NULL, &error);
  g_assert_no_error (error);
}

/* Out of descriptors, accepting fails: the gateway tries again shortly
 * and serves the connection that waited once descriptors are free. */
static void
test_out_of_descriptors (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GArray) filler = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(GError) error = NULL;
  g_autofree char *request = NULL;
  g_autofree char *response = NULL;
  g_autofree char *host = NULL;
  struct rlimit saved;
  int fd;

  if (skip_under_valgrind ())
    return;

  ck_test_store_set_api_key (fixture->store, API_KEY);

  /* Connected (the kernel completes it), not accepted yet: the gateway
   * runs in this thread's main loop. */
  connection = g_socket_client_connect_to_host (client, "127.0.0.1",
                                                ck_gateway_get_port (fixture->gateway),
                                                NULL, &error);
  g_assert_no_error (error);

  limit_descriptors (&saved, 0);
  while ((fd = open ("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
    g_array_append_val (filler, fd);
  g_assert_cmpint (errno, ==, EMFILE);
  ck_test_run_for (300);
  for (guint i = 0; i < filler->len; i++)
    close (g_array_index (filler, int, i));
  restore_descriptors (&saved);

  host = g_strdup_printf ("127.0.0.1:%u", ck_gateway_get_port (fixture->gateway));
  request = raw_head (fixture, host, "");
  response = raw_exchange_on (fixture, connection, request, FALSE, NULL);
  g_assert_cmpuint (raw_status (response), ==, 201);
}

/* More connections than the gateway keeps open at once, one after the
 * other, each closed by its client after a kept-alive answer (as claude
 * closes its idle ones, and ssh each forwarded one): the gateway closes
 * them too (libsoup 3.2 leaves such a connection open for ever), so the
 * next client is still served. */
static void
test_closed_idle_connections (Fixture       *fixture,
                              gconstpointer  data)
{
  const char *token = ck_gateway_session_get_token (fixture->session);

  ck_test_store_set_api_key (fixture->store, API_KEY);
  for (guint i = 0; i <= MORE_THAN_OPEN_AT_ONCE; i++)
    {
      g_autoptr(SoupSession) client = soup_session_new ();
      g_autoptr(SoupMessage) msg = new_request (fixture, "GET", "/v1/models", token);
      CkTestAsync async = { 0 };
      g_autoptr(GBytes) body = NULL;
      g_autoptr(GError) error = NULL;

      soup_session_send_and_read_async (client, msg, G_PRIORITY_DEFAULT, NULL, ck_test_async_cb, &async);
      body = soup_session_send_and_read_finish (client, ck_test_async_wait (&async), &error);
      ck_test_async_clear (&async);
      if (error != NULL)
        g_error ("request %u: %s", i, error->message);
      g_assert_cmpuint (soup_message_get_status (msg), ==, 201);
      soup_session_abort (client);
      /* The gateway sees the end of the connection. */
      while (g_main_context_iteration (NULL, FALSE))
        ;
    }
}

static void
test_listen (void)
{
  g_autoptr(GSettingsBackend) backend = g_memory_settings_backend_new ();
  g_autoptr(GSettings) settings = g_settings_new_with_backend (APP_ID, backend);
  g_autoptr(CkTokenStore) store = ck_token_store_new ();
  g_autoptr(CkHelperRunner) helper = ck_helper_runner_new ();
  g_autoptr(CkResolver) resolver = ck_resolver_new (store, helper);
  g_autoptr(CkGateway) first = ck_gateway_new (settings, resolver);
  g_autoptr(CkGateway) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) v6 = NULL;
  g_autofree char *url = NULL;
  g_autofree char *expected = NULL;
  guint16 port;

  g_assert_true (ck_gateway_start (first, -1, &error));
  g_assert_true (ck_gateway_start (first, -1, &error));
  port = ck_gateway_get_port (first);
  url = ck_gateway_dup_url (first);
  expected = g_strdup_printf ("http://127.0.0.1:%u", port);
  g_assert_cmpstr (url, ==, expected);

  v6 = g_socket_client_connect_to_host (client, "::1", port, NULL, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE))
    g_test_message ("No IPv6 loopback here: %s", error->message);
  else
    g_assert_no_error (error);
  g_clear_error (&error);

  /* A fixed port: honoured, and refused while another holds it. */
  g_settings_set_uint (settings, "gateway-port", port);
  second = ck_gateway_new (settings, resolver);
  g_assert_false (ck_gateway_start (second, -1, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  ck_gateway_stop (first);
  g_assert_true (ck_gateway_start (second, -1, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ck_gateway_get_port (second), ==, port);
}

int
main (int   argc,
      char *argv[])
{
  /* The isolated test environment hides the system's proxy settings;
   * everything here is loopback. */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  g_test_add_func ("/gateway/head", test_head);
  g_test_add_func ("/gateway/head-refusals", test_head_refusals);
  g_test_add_func ("/gateway/listen", test_listen);
  ADD ("/gateway/forward", test_forward);
  ADD ("/gateway/keep-alive", test_keep_alive);
  ADD ("/gateway/oauth", test_oauth);
  ADD ("/gateway/unauthorized", test_unauthorized);
  ADD ("/gateway/forbidden", test_forbidden);
  ADD ("/gateway/refused-heads", test_refused_heads);
  ADD ("/gateway/token-elsewhere", test_token_elsewhere);
  ADD ("/gateway/upstream-other-user", test_upstream_other_user);
  ADD ("/gateway/no-credential", test_no_credential);
  ADD ("/gateway/retry-after-401", test_retry_after_401);
  ADD ("/gateway/unreachable", test_unreachable);
  ADD ("/gateway/too-large", test_too_large);
  ADD ("/gateway/passthrough", test_passthrough);
  ADD ("/gateway/sse-timing", test_sse_timing);
  ADD ("/gateway/client-disconnect", test_client_disconnect);
  ADD ("/gateway/upstream-breaks", test_upstream_breaks);
  ADD ("/gateway/removed-session", test_removed_session);
  ADD ("/gateway/large-stream", test_large_stream);
  ADD ("/gateway/concurrent-refresh", test_concurrent_refresh);
  ADD ("/gateway/other-user-connections", test_other_user_connections);
  ADD ("/gateway/out-of-descriptors", test_out_of_descriptors);
  ADD ("/gateway/closed-idle-connections", test_closed_idle_connections);
  ADD ("/gateway/session-socket", test_session_socket);
  ADD ("/gateway/session-socket-refused", test_session_socket_refused);
  ADD ("/gateway/session-socket-flood", test_session_socket_flood);
  ADD ("/gateway/session-socket-closes-connections", test_session_socket_closes_connections);

  return g_test_run ();
}
