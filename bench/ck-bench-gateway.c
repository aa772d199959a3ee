/* ck-bench-gateway.c: what the gateway costs, against a direct connection
 * to the same fake upstream in the same run (issue 17):
 *
 *   ck-bench-gateway [--count N] [--ttfe N] [--stream-mib M] [--streams K]
 *
 *   * a small non-streamed request on a kept-alive connection: added
 *     latency at p50 and p99 (direct and through the gateway interleaved);
 *   * time to the first SSE event;
 *   * an M MiB SSE response: throughput ratio, byte-exact, and how much
 *     the gateway's RSS grew meanwhile;
 *   * K concurrent streams through an OAuth gateway whose token needs a
 *     refresh: all complete byte-exact, one refresh at the OAuth server.
 *
 * The upstream and the gateway are child processes of this one (the
 * gateway the same CkGateway, resolver and keyring the agent runs); the
 * client is plain blocking sockets, the same code for both paths. Every
 * figure prints as a human line and as "RESULT key value"; timing never
 * fails the run, a broken answer does.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define G_SETTINGS_ENABLE_BACKEND
#include <gio/gio.h>
#include <gio/gsettingsbackend.h>
#include <glib-unix.h>
#include <libsoup/soup.h>

#include "ck-bench-common.h"
#include "ck-gateway.h"
#include "ck-oauth-manager.h"
#include "ck-resolver.h"

#define CHUNK (64 * 1024)

static gsize
rss_kib (int pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", pid);
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents (path, &status, NULL, NULL) ||
      (line = strstr (status, "VmRSS:")) == NULL)
    return 0;
  return g_ascii_strtoull (line + strlen ("VmRSS:"), NULL, 10);
}

/* The stream's bytes: chunk i is a fixed 64 KiB block with i in its first
 * eight bytes, so a lost, repeated or shifted byte shows. */
static guint8 block[CHUNK];

static void
init_block (void)
{
  for (gsize i = 0; i < CHUNK; i++)
    block[i] = (guint8) ((i * 7) ^ (i >> 5) ^ '\n');
}

static guint8
stream_byte (guint64 offset)
{
  guint64 index = offset / CHUNK;
  gsize within = offset % CHUNK;

  if (within < sizeof index)
    return ((guint8 *) &index)[within];
  return block[within];
}

/* The fake upstream (--serve-upstream) */

static guint token_hits;

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
  guint64 index = big->offset / CHUNK;
  gsize size;
  guint8 *data;

  if (big->offset >= big->size)
    {
      soup_message_body_complete (body);
      return;
    }
  size = MIN (CHUNK, big->size - big->offset);
  data = g_memdup2 (block, size);
  memcpy (data, &index, MIN (size, sizeof index));
  big->offset += size;
  soup_message_body_append (body, SOUP_MEMORY_TAKE, data, size);
}

static void
big_wrote_chunk (SoupServerMessage *msg,
                 Big               *big)
{
  big_next (msg, big);
  soup_server_message_unpause (msg);
}

static gboolean
sse_rest (gpointer user_data)
{
  SoupServerMessage *msg = user_data;
  static const char rest[] = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  SoupMessageBody *body = soup_server_message_get_response_body (msg);

  soup_message_body_append (body, SOUP_MEMORY_STATIC, rest, strlen (rest));
  soup_message_body_complete (body);
  soup_server_message_unpause (msg);
  g_object_unref (msg);
  return G_SOURCE_REMOVE;
}

static void
upstream_handler (SoupServer        *server,
                  SoupServerMessage *msg,
                  const char        *path,
                  GHashTable        *query,
                  gpointer           user_data)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_replace (headers, "request-id", "req_bench");

  if (g_str_equal (path, "/v1/oauth/token"))
    {
      g_autofree char *reply = NULL;

      token_hits++;
      reply = g_strdup_printf ("{\"access_token\":\"bench-access-%u\",\"refresh_token\":"
                               "\"bench-refresh-%u\",\"expires_in\":3600}", token_hits, token_hits);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY,
                                        reply, strlen (reply));
    }
  else if (g_str_equal (path, "/stats"))
    {
      g_autofree char *reply = g_strdup_printf ("%u", token_hits);

      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, reply, strlen (reply));
    }
  else if (g_str_equal (path, "/v1/messages/sse"))
    {
      static const char first[] = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
      SoupMessageBody *body = soup_server_message_get_response_body (msg);

      soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
      soup_message_headers_replace (headers, "Content-Type", "text/event-stream");
      soup_message_body_append (body, SOUP_MEMORY_STATIC, first, strlen (first));
      g_timeout_add (2, sse_rest, g_object_ref (msg));
    }
  else if (g_str_equal (path, "/v1/messages/big"))
    {
      Big *big = g_new0 (Big, 1);
      const char *size = query != NULL ? g_hash_table_lookup (query, "size") : NULL;

      big->size = size != NULL ? g_ascii_strtoull (size, NULL, 10) : 0;
      g_object_set_data_full (G_OBJECT (msg), "big", big, g_free);
      soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
      soup_message_headers_replace (headers, "Content-Type", "text/event-stream");
      soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
      g_signal_connect (msg, "wrote-chunk", G_CALLBACK (big_wrote_chunk), big);
      big_next (msg, big);
    }
  else
    {
      static const char small[] =
        "{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"ok\"}],\"model\":\"claude-bench\",\"stop_reason\":"
        "\"end_turn\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}";

      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                        small, strlen (small));
    }
}

static gboolean
on_stdin (int          fd,
          GIOCondition condition,
          gpointer     user_data)
{
  char byte;

  if (read (fd, &byte, 1) > 0)
    return G_SOURCE_CONTINUE;
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

static void
run_until_stdin_closes (void)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);

  g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, loop);
  g_main_loop_run (loop);
}

static int
serve_upstream (void)
{
  g_autoptr(SoupServer) server = soup_server_new (NULL, NULL);
  g_autoptr(GError) error = NULL;
  GSList *uris;

  soup_server_add_handler (server, NULL, upstream_handler, NULL, NULL);
  if (!soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    g_error ("upstream: %s", error->message);
  uris = soup_server_get_uris (server);
  g_print ("READY %d - %d\n", g_uri_get_port (uris->data), (int) getpid ());
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  run_until_stdin_closes ();
  return 0;
}

/* The gateway (--serve-gateway URL [--oauth]) */

static void
on_done (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

static int
serve_gateway (const char *upstream,
               gboolean    oauth)
{
  g_autoptr(GSettingsBackend) backend = g_memory_settings_backend_new ();
  g_autoptr(GSettings) settings = g_settings_new_with_backend (APP_ID, backend);
  g_autoptr(CkTokenStore) store = ck_token_store_new ();
  g_autoptr(CkHelperRunner) helper = ck_helper_runner_new ();
  g_autoptr(CkResolver) resolver = ck_resolver_new (store, helper);
  g_autoptr(CkOAuthManager) manager = NULL;
  g_autoptr(CkGateway) gateway = NULL;
  g_autoptr(CkGatewaySession) session = NULL;
  g_autofree char *token_url = g_strconcat (upstream, "/v1/oauth/token", NULL);
  g_autoptr(GError) error = NULL;
  GAsyncResult *result = NULL;

  g_settings_set_string (settings, "api-base-url", upstream);
  g_settings_set_string (settings, "token-url", token_url);
  g_settings_set_string (settings, "revoke-url", token_url);
  /* The refresh happens when the streams ask, not in the background. */
  g_settings_set_uint (settings, "refresh-margin", 0);

  ck_token_store_clear_async (store, NULL, NULL, on_done, &result);
  if (!ck_token_store_clear_finish (store, wait_result (&result), &error))
    g_error ("gateway: clearing the keyring: %s", error->message);
  g_clear_object (&result);

  if (oauth)
    {
      g_autoptr(CkOAuthTokens) tokens = ck_oauth_tokens_new ();

      /* Valid for less than the gateway asks: the first request refreshes. */
      tokens->access_token = g_strdup ("bench-access-0");
      tokens->refresh_token = g_strdup ("bench-refresh-0");
      tokens->expires_at_ms = g_get_real_time () / 1000 + 30 * 1000;
      ck_token_store_set_oauth_async (store, tokens, NULL, on_done, &result);
      if (!ck_token_store_set_oauth_finish (store, wait_result (&result), &error))
        g_error ("gateway: storing the login: %s", error->message);
      manager = ck_oauth_manager_new (settings, store);
      ck_resolver_set_oauth_source (resolver, CK_OAUTH_SOURCE (manager));
    }
  else
    {
      ck_token_store_set_api_key_async (store, "bench-not-a-real-key", NULL, on_done, &result);
      if (!ck_token_store_set_api_key_finish (store, wait_result (&result), &error))
        g_error ("gateway: storing the key: %s", error->message);
    }
  g_clear_object (&result);

  gateway = ck_gateway_new (settings, resolver);
  if (!ck_gateway_start (gateway, -1, &error))
    g_error ("gateway: %s", error->message);
  session = ck_gateway_session_new (oauth ? CK_CREDENTIAL_KIND_OAUTH : CK_CREDENTIAL_KIND_API_KEY,
                                    NULL);
  ck_gateway_add_session (gateway, session);
  g_print ("READY %u %s %d\n", ck_gateway_get_port (gateway),
           ck_gateway_session_get_token (session), (int) getpid ());
  run_until_stdin_closes ();
  return 0;
}

/* Children */

typedef struct
{
  GSubprocess *process;
  guint16      port;
  char        *token;
  int          pid;
} Child;

static Child *
child_start (const char * const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autofree char *line = NULL;
  g_auto(GStrv) fields = NULL;
  Child *child = g_new0 (Child, 1);

  child->process = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                            G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  if (child->process == NULL)
    g_error ("could not start %s: %s", argv[1], error->message);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (child->process));
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  if (line == NULL || !g_str_has_prefix (line, "READY "))
    g_error ("%s did not start", argv[1]);
  fields = g_strsplit (line, " ", -1);
  child->port = atoi (fields[1]);
  child->token = g_strdup (fields[2]);
  child->pid = atoi (fields[3]);
  return child;
}

static void
child_stop (Child *child)
{
  g_output_stream_close (g_subprocess_get_stdin_pipe (child->process), NULL, NULL);
  g_subprocess_wait (child->process, NULL, NULL);
  g_object_unref (child->process);
  g_free (child->token);
  g_free (child);
}

/* The client: blocking sockets, HTTP/1.1 kept alive */

typedef struct
{
  int     fd;
  guint16 port;
  char   *token;
  guint8  buf[CHUNK];
  gsize   start, end;
} Conn;

static Conn *
conn_open (guint16     port,
           const char *token)
{
  struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (port),
                                 .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  Conn *conn = g_new0 (Conn, 1);
  int one = 1;

  conn->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (conn->fd < 0 || connect (conn->fd, (struct sockaddr *) &address, sizeof address) < 0)
    g_error ("connect to %u: %s", port, g_strerror (errno));
  setsockopt (conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  conn->port = port;
  conn->token = g_strdup (token);
  return conn;
}

static void
conn_close (Conn *conn)
{
  close (conn->fd);
  g_free (conn->token);
  g_free (conn);
}

static void
conn_send (Conn       *conn,
           const char *path)
{
  g_autofree char *request = g_strdup_printf (
    "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nx-api-key: %s\r\nanthropic-version: 2023-06-01\r\n"
    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    path, conn->port, conn->token);
  gsize done = 0, length = strlen (request);

  while (done < length)
    {
      gssize n = write (conn->fd, request + done, length - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        g_error ("write: %s", g_strerror (errno));
      done += n;
    }
}

static gboolean
conn_fill (Conn *conn)
{
  gssize n;

  if (conn->start == conn->end)
    conn->start = conn->end = 0;
  else if (conn->end == sizeof conn->buf)
    {
      memmove (conn->buf, conn->buf + conn->start, conn->end - conn->start);
      conn->end -= conn->start;
      conn->start = 0;
    }
  do
    n = read (conn->fd, conn->buf + conn->end, sizeof conn->buf - conn->end);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return FALSE;
  conn->end += n;
  return TRUE;
}

/* One line without its CRLF, into @line. */
static gboolean
conn_line (Conn    *conn,
           GString *line)
{
  g_string_truncate (line, 0);
  for (;;)
    {
      guint8 *nl = memchr (conn->buf + conn->start, '\n', conn->end - conn->start);

      if (nl != NULL)
        {
          g_string_append_len (line, (char *) conn->buf + conn->start, nl - (conn->buf + conn->start));
          conn->start = nl - conn->buf + 1;
          if (line->len > 0 && line->str[line->len - 1] == '\r')
            g_string_truncate (line, line->len - 1);
          return TRUE;
        }
      g_string_append_len (line, (char *) conn->buf + conn->start, conn->end - conn->start);
      conn->start = conn->end;
      if (!conn_fill (conn))
        return FALSE;
    }
}

typedef void (*BodyFunc) (const guint8 *data, gsize length, gpointer user_data);

/* Hands @length body bytes to @func as they arrive. */
static gboolean
conn_body (Conn     *conn,
           guint64   length,
           BodyFunc  func,
           gpointer  user_data)
{
  while (length > 0)
    {
      gsize n;

      if (conn->start == conn->end && !conn_fill (conn))
        return FALSE;
      n = MIN (length, conn->end - conn->start);
      if (func != NULL)
        func (conn->buf + conn->start, n, user_data);
      conn->start += n;
      length -= n;
    }
  return TRUE;
}

/* Reads one answer; its status, or 0 when the connection broke. */
static guint
conn_response (Conn     *conn,
               BodyFunc  func,
               gpointer  user_data)
{
  g_autoptr(GString) line = g_string_new (NULL);
  guint status;
  gint64 length = -1;
  gboolean chunked = FALSE;

  if (!conn_line (conn, line) || !g_str_has_prefix (line->str, "HTTP/1.1 "))
    return 0;
  status = atoi (line->str + 9);
  while (conn_line (conn, line) && line->len > 0)
    {
      if (g_ascii_strncasecmp (line->str, "Content-Length:", 15) == 0)
        length = g_ascii_strtoll (line->str + 15, NULL, 10);
      else if (g_ascii_strncasecmp (line->str, "Transfer-Encoding:", 18) == 0 &&
               strstr (line->str, "chunked") != NULL)
        chunked = TRUE;
    }

  if (!chunked)
    return conn_body (conn, MAX (length, 0), func, user_data) ? status : 0;

  for (;;)
    {
      guint64 size;

      if (!conn_line (conn, line))
        return 0;
      size = g_ascii_strtoull (line->str, NULL, 16);
      if (size == 0)
        break;
      if (!conn_body (conn, size, func, user_data) || !conn_line (conn, line))
        return 0;
    }
  /* Trailers, then the blank line. */
  while (conn_line (conn, line) && line->len > 0)
    ;
  return status;
}

/* Direct and through the gateway, request by request, alternating which
 * goes first so that neither always follows the other. A probe sends one
 * request and returns the time it measures, or -1. */
typedef gint64 (*Probe) (Conn *conn, const char *path);

typedef struct
{
  gint64 direct[2];   /* p50, p99 */
  gint64 via[2];
} Figures;

static gboolean
interleave (Child      *upstream,
            Child      *gateway,
            guint       count,
            const char *path,
            Probe       probe,
            Figures    *figures)
{
  Conn *direct = conn_open (upstream->port, "unused");
  Conn *via = conn_open (gateway->port, gateway->token);
  g_autofree gint64 *direct_ns = g_new (gint64, count);
  g_autofree gint64 *via_ns = g_new (gint64, count);
  gboolean ok = TRUE;

  /* Warm-up: connections in both pools, caches, the allocator. */
  for (guint i = 0; i < 100 && ok; i++)
    ok = probe (direct, path) >= 0 && probe (via, path) >= 0;

  for (guint i = 0; i < count && ok; i++)
    {
      Conn *order[2] = { i % 2 ? via : direct, i % 2 ? direct : via };

      for (guint j = 0; j < 2 && ok; j++)
        {
          gint64 ns = probe (order[j], path);

          (order[j] == direct ? direct_ns : via_ns)[i] = ns;
          ok = ns >= 0;
        }
    }
  conn_close (direct);
  conn_close (via);
  if (!ok)
    return FALSE;

  qsort (direct_ns, count, sizeof (gint64), compare_i64);
  qsort (via_ns, count, sizeof (gint64), compare_i64);
  figures->direct[0] = percentile (direct_ns, count, 50);
  figures->direct[1] = percentile (direct_ns, count, 99);
  figures->via[0] = percentile (via_ns, count, 50);
  figures->via[1] = percentile (via_ns, count, 99);
  g_print ("  direct            p50 %7.3f ms   p99 %7.3f ms\n",
           figures->direct[0] / 1e6, figures->direct[1] / 1e6);
  g_print ("  through gateway   p50 %7.3f ms   p99 %7.3f ms\n",
           figures->via[0] / 1e6, figures->via[1] / 1e6);
  return TRUE;
}

/* 1. Small requests: added latency */

static gint64
probe_whole (Conn       *conn,
             const char *path)
{
  gint64 start = now_ns ();

  conn_send (conn, path);
  return conn_response (conn, NULL, NULL) == 200 ? now_ns () - start : -1;
}

static gboolean
measure_latency (Child *upstream,
                 Child *gateway,
                 guint  count)
{
  Figures f;
  gint64 added50, added99;

  g_print ("Small non-streamed request, kept-alive connection, %u each, interleaved\n", count);
  if (!interleave (upstream, gateway, count, "/v1/messages", probe_whole, &f))
    return FALSE;
  added50 = f.via[0] - f.direct[0];
  added99 = f.via[1] - f.direct[1];
  g_print ("  added             p50 %7.3f ms (target <= 0.3) %s   p99 %7.3f ms (target <= 1) %s\n",
           added50 / 1e6, verdict (added50 <= 300000), added99 / 1e6, verdict (added99 <= 1000000));
  g_print ("RESULT small-direct-p50-ms %.3f\nRESULT small-gateway-p50-ms %.3f\n",
           f.direct[0] / 1e6, f.via[0] / 1e6);
  g_print ("RESULT small-added-p50-ms %.3f %s\n", added50 / 1e6, verdict (added50 <= 300000));
  g_print ("RESULT small-added-p99-ms %.3f %s\n\n", added99 / 1e6, verdict (added99 <= 1000000));
  return TRUE;
}

/* 2. Time to the first SSE event */

typedef struct
{
  gint64   first;
  guint8   last;
} FirstEvent;

static void
first_event_body (const guint8 *data,
                  gsize         length,
                  gpointer      user_data)
{
  FirstEvent *event = user_data;

  for (gsize i = 0; i < length && event->first == 0; i++)
    {
      if (data[i] == '\n' && event->last == '\n')
        event->first = now_ns ();
      event->last = data[i];
    }
}

static gint64
probe_first_event (Conn       *conn,
                   const char *path)
{
  FirstEvent event = { 0, 0 };
  gint64 start = now_ns ();

  conn_send (conn, path);
  if (conn_response (conn, first_event_body, &event) != 200 || event.first == 0)
    return -1;
  return event.first - start;
}

static gboolean
measure_first_event (Child *upstream,
                     Child *gateway,
                     guint  count)
{
  Figures f;
  gint64 added;

  g_print ("Time to the first SSE event, %u each, interleaved\n", count);
  if (!interleave (upstream, gateway, count, "/v1/messages/sse", probe_first_event, &f))
    return FALSE;
  added = f.via[0] - f.direct[0];
  g_print ("  added             p50 %7.3f ms (target <= 1) %s\n", added / 1e6,
           verdict (added <= 1000000));
  g_print ("RESULT first-event-added-p50-ms %.3f %s\n\n", added / 1e6, verdict (added <= 1000000));
  return TRUE;
}

/* 3. A large SSE response: throughput, byte-exactness, memory */

typedef struct
{
  guint64  offset;
  gboolean exact;
  int      watch_pid;
  gsize    rss_max;
} Check;

static void
check_body (const guint8 *data,
            gsize         length,
            gpointer      user_data)
{
  Check *check = user_data;

  for (gsize i = 0; i < length && check->exact; i++)
    if (data[i] != stream_byte (check->offset + i))
      check->exact = FALSE;
  /* Every 8 MiB, how large the gateway is. */
  if (check->watch_pid > 0 && (check->offset + length) / (8 << 20) != check->offset / (8 << 20))
    check->rss_max = MAX (check->rss_max, rss_kib (check->watch_pid));
  check->offset += length;
}

static gboolean
stream_once (guint16     port,
             const char *token,
             guint64     size,
             int         watch_pid,
             double     *seconds,
             gsize      *rss_max)
{
  g_autofree char *path = g_strdup_printf ("/v1/messages/big?size=%" G_GUINT64_FORMAT, size);
  Conn *conn = conn_open (port, token);
  Check check = { 0, TRUE, watch_pid, 0 };
  gint64 start = now_ns ();
  guint status;

  conn_send (conn, path);
  status = conn_response (conn, check_body, &check);
  *seconds = (now_ns () - start) / 1e9;
  conn_close (conn);
  if (rss_max != NULL)
    *rss_max = check.rss_max;
  if (status != 200 || check.offset != size || !check.exact)
    {
      g_printerr ("ck-bench-gateway: the %" G_GUINT64_FORMAT "-byte stream came back %s "
                  "(status %u, %" G_GUINT64_FORMAT " bytes)\n", size,
                  check.exact ? "short" : "altered", status, check.offset);
      return FALSE;
    }
  return TRUE;
}

static gboolean
measure_stream (Child *upstream,
                Child *gateway,
                guint  mib)
{
  guint64 size = (guint64) mib << 20;
  double direct_s = 0, via_s = 0, seconds;
  gsize rss_before, rss_max = 0, rss_after;
  double ratio;

  /* Warm: the gateway's allocator has seen a stream before. */
  if (!stream_once (gateway->port, gateway->token, 16 << 20, 0, &seconds, NULL))
    return FALSE;
  rss_before = rss_kib (gateway->pid);

  /* Direct, gateway, direct, gateway: the best of two each. */
  for (guint round = 0; round < 2; round++)
    {
      gsize max;

      if (!stream_once (upstream->port, "unused", size, 0, &seconds, NULL))
        return FALSE;
      direct_s = round == 0 ? seconds : MIN (direct_s, seconds);
      if (!stream_once (gateway->port, gateway->token, size, gateway->pid, &seconds, &max))
        return FALSE;
      via_s = round == 0 ? seconds : MIN (via_s, seconds);
      rss_max = MAX (rss_max, max);
    }
  rss_after = rss_kib (gateway->pid);
  rss_max = MAX (rss_max, rss_after);
  ratio = direct_s / via_s;

  g_print ("A %u MiB SSE response, byte-exact, best of 2 each\n", mib);
  g_print ("  direct            %7.1f MiB/s\n", mib / direct_s);
  g_print ("  through gateway   %7.1f MiB/s\n", mib / via_s);
  g_print ("  ratio %.2fx (target >= 0.8x) %s\n", ratio, verdict (ratio >= 0.8));
  g_print ("  gateway RSS %.1f MiB before, at most %.1f MiB meanwhile: +%.1f MiB (target <= 4) %s\n",
           rss_before / 1024.0, rss_max / 1024.0, ((double) rss_max - rss_before) / 1024.0,
           verdict (rss_max <= rss_before + 4096));
  g_print ("RESULT stream-throughput-ratio %.3f %s\n", ratio, verdict (ratio >= 0.8));
  g_print ("RESULT stream-rss-growth-mib %.1f %s\n\n", ((double) rss_max - rss_before) / 1024.0,
           verdict (rss_max <= rss_before + 4096));
  return TRUE;
}

/* 4. Concurrent streams while the OAuth token is refreshed */

typedef struct
{
  guint16     port;
  const char *token;
  guint64     size;
  gboolean    ok;
} StreamJob;

static gpointer
stream_thread (gpointer data)
{
  StreamJob *job = data;
  double seconds;

  job->ok = stream_once (job->port, job->token, job->size, 0, &seconds, NULL);
  return NULL;
}

static void
collect_body (const guint8 *data,
              gsize         length,
              gpointer      user_data)
{
  g_string_append_len (user_data, (const char *) data, length);
}

static guint
upstream_token_hits (Child *upstream)
{
  Conn *conn = conn_open (upstream->port, "unused");
  g_autoptr(GString) text = g_string_new (NULL);

  conn_send (conn, "/stats");
  if (conn_response (conn, collect_body, text) != 200)
    g_error ("the upstream's /stats failed");
  conn_close (conn);
  return atoi (text->str);
}

static gboolean
measure_concurrent (Child      *upstream,
                    const char *self,
                    guint       streams,
                    guint       kib)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u", upstream->port);
  const char *argv[] = { self, "--serve-gateway", url, "--oauth", NULL };
  Child *gateway = child_start (argv);
  g_autofree StreamJob *jobs = g_new0 (StreamJob, streams);
  g_autofree GThread **threads = g_new0 (GThread *, streams);
  guint before = upstream_token_hits (upstream), refreshes, failed = 0;
  gint64 start = now_ns ();
  double seconds;

  for (guint i = 0; i < streams; i++)
    {
      jobs[i] = (StreamJob) { gateway->port, gateway->token, (guint64) kib << 10, FALSE };
      threads[i] = g_thread_new ("stream", stream_thread, &jobs[i]);
    }
  for (guint i = 0; i < streams; i++)
    {
      g_thread_join (threads[i]);
      failed += !jobs[i].ok;
    }
  seconds = (now_ns () - start) / 1e9;
  refreshes = upstream_token_hits (upstream) - before;
  child_stop (gateway);

  g_print ("%u concurrent %u KiB streams through an OAuth gateway whose token needs a refresh\n",
           streams, kib);
  g_print ("  %u complete and byte-exact, %u failed, in %.2f s\n", streams - failed, failed, seconds);
  g_print ("  refreshes at the OAuth server: %u (target 1) %s\n", refreshes, verdict (refreshes == 1));
  g_print ("RESULT concurrent-failed %u\nRESULT concurrent-refreshes %u %s\n\n", failed, refreshes,
           verdict (refreshes == 1));
  return failed == 0 && refreshes == 1;
}

int
main (int    argc,
      char  *argv[])
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  guint count = 2000, ttfe = 300, mib = 256, streams = 64, kib = 1024;
  Child *upstream, *gateway;
  g_autofree char *url = NULL;
  gboolean ok = TRUE;

  /* Loopback only; and no debug output where the time is measured. */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_unsetenv ("G_MESSAGES_DEBUG");
  init_block ();

  if (argc >= 2 && g_str_equal (argv[1], "--serve-upstream"))
    return serve_upstream ();
  if (argc >= 3 && g_str_equal (argv[1], "--serve-gateway"))
    return serve_gateway (argv[2], argc >= 4 && g_str_equal (argv[3], "--oauth"));

  for (int i = 1; i + 1 < argc; i += 2)
    {
      guint value = atoi (argv[i + 1]);

      if (g_str_equal (argv[i], "--count"))
        count = value;
      else if (g_str_equal (argv[i], "--ttfe"))
        ttfe = value;
      else if (g_str_equal (argv[i], "--stream-mib"))
        mib = value;
      else if (g_str_equal (argv[i], "--streams"))
        streams = value;
      else
        {
          g_printerr ("usage: ck-bench-gateway [--count N] [--ttfe N] [--stream-mib M] "
                      "[--streams K]\n");
          return 2;
        }
    }

  upstream = child_start ((const char *[]) { self, "--serve-upstream", NULL });
  url = g_strdup_printf ("http://127.0.0.1:%u", upstream->port);
  gateway = child_start ((const char *[]) { self, "--serve-gateway", url, NULL });
  g_print ("claude-keyring gateway benchmarks: %ld CPUs; upstream pid %d, gateway pid %d\n\n",
           sysconf (_SC_NPROCESSORS_ONLN), upstream->pid, gateway->pid);

  ok = measure_latency (upstream, gateway, count) &&
       measure_first_event (upstream, gateway, ttfe) &&
       measure_stream (upstream, gateway, mib);
  child_stop (gateway);
  ok = ok && measure_concurrent (upstream, self, streams, kib);
  child_stop (upstream);

  if (!ok)
    g_printerr ("ck-bench-gateway: a request failed (see above)\n");
  return ok ? 0 : 1;
}
