/* ck-loopback-server.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-loopback-server"

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <libsoup/soup.h>

#include "ck-error.h"
#include "ck-loopback-server.h"
#include "ck-oauth-tokens.h"
#include "ck-pkce.h"

/* Codes longer than this, or with bytes outside printable ASCII, are not
 * authorization codes any server issues; refusing them keeps junk out of
 * the token request.
 */
#define MAX_CODE_LENGTH 2048

/* How often to look for a port that is free on both 127.0.0.1 and ::1. */
#define LISTEN_ATTEMPTS 8

/* Connections open at once, counted apart for the user who logs in and
 * for everyone else, so that other users cannot use up the browser's.
 * A browser opens a few; libsoup caps each request head at 64 KiB.
 */
#define MAX_OWN_CONNECTIONS   16
#define MAX_OTHER_CONNECTIONS 4

/* Marks an accepted connection as one of our own user's. */
#define OWN_KEY "ck-loopback-own"

/* How long a refused request's connection is drained before it closes. */
#define REFUSAL_LINGER_MS 1000

#define CONTENT_SECURITY_POLICY \
  "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

typedef char CkSecretString;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CkSecretString, ck_secret_free)

struct _CkLoopbackServer
{
  GObject         parent_instance;

  SoupServer     *server;
  GSocketService *service;
  char           *expected_state;
  /* Where /start sends the browser; it carries the state. */
  char           *authorize_url;
  guint           port;

  /* Every connection accepted, until it is seen closed. */
  GPtrArray      *connections;

  /* The pending wait and what ends it. */
  GTask          *task;
  GSource        *timeout_source;
  GSource        *cancel_source;
  guint           timeout_seconds;

  /* A result that arrived: delivered once the browser has its page. */
  char           *code;
  GError         *error;
  GSource        *close_source;

  /* A callback ended the login: later requests are refused. */
  guint           finished : 1;
  /* The listeners are gone. */
  guint           closed : 1;
  /* A connection of another user was logged already. */
  guint           logged_other_user : 1;
};

G_DEFINE_FINAL_TYPE (CkLoopbackServer, ck_loopback_server, G_TYPE_OBJECT)

G_DEFINE_QUARK (ck-loopback-error-quark, ck_loopback_error)

enum {
  PROP_0,
  PROP_PORT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* The error codes of RFC 6749 §4.1.2.1; only these are ever repeated in a
 * message, as anything else in the query is untrusted text.
 */
static const char *oauth_error_codes[] = {
  "invalid_request", "unauthorized_client", "access_denied",
  "unsupported_response_type", "invalid_scope", "server_error",
  "temporarily_unavailable", NULL,
};

static gboolean
is_printable_ascii (const char *s)
{
  for (; *s != '\0'; s++)
    if (*s < 0x21 || *s > 0x7e)
      return FALSE;
  return TRUE;
}

/**
 * ck_loopback_parse_callback:
 * @path: the request's path
 * @query: (nullable): the request's query, still percent-encoded
 * @expected_state: the state of the login in progress
 * @code: (out) (transfer full): the authorization code; free it with
 *   ck_secret_free()
 * @error: a #GError
 *
 * Decides what a request to the loopback server means. The state is
 * checked before anything else, so that a request not carrying this
 * login's state can neither complete nor end it. Error messages never
 * contain a code, a state or untrusted text from @query.
 *
 * Returns: %TRUE with @code set if this is the successful redirect of
 *   this login; otherwise %FALSE with a %CK_LOOPBACK_ERROR
 */
gboolean
ck_loopback_parse_callback (const char  *path,
                            const char  *query,
                            const char  *expected_state,
                            char       **code,
                            GError     **error)
{
  g_autoptr(CkSecretString) found_code = NULL;
  g_autoptr(CkSecretString) found_state = NULL;
  g_autofree char *found_error = NULL;
  g_autoptr(GError) local_error = NULL;
  GUriParamsIter iter;
  char *name;
  char *value;

  g_return_val_if_fail (expected_state != NULL, FALSE);
  g_return_val_if_fail (code != NULL, FALSE);

  *code = NULL;

  if (g_strcmp0 (path, CK_LOOPBACK_CALLBACK_PATH) != 0)
    {
      g_set_error_literal (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_NOT_FOUND,
                           "The request is not for the login callback.");
      return FALSE;
    }

  if (query == NULL || query[0] == '\0')
    {
      g_set_error_literal (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_MALFORMED,
                           "The callback carries no parameters.");
      return FALSE;
    }

  g_uri_params_iter_init (&iter, query, -1, "&", G_URI_PARAMS_WWW_FORM);
  while (g_uri_params_iter_next (&iter, &name, &value, &local_error))
    {
      g_autofree char *owned_name = name;
      char **slot = NULL;

      if (strcmp (name, "code") == 0)
        slot = &found_code;
      else if (strcmp (name, "state") == 0)
        slot = &found_state;
      else if (strcmp (name, "error") == 0)
        slot = &found_error;

      /* A repeated parameter would make the meaning depend on which copy
       * a parser picks; refuse it instead of guessing.
       */
      if (slot != NULL && *slot != NULL)
        {
          ck_secret_free (value);
          g_set_error (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_MALFORMED,
                       "The callback repeats the %s parameter.", owned_name);
          return FALSE;
        }

      if (slot != NULL)
        *slot = value;
      else
        ck_secret_free (value);
    }

  if (local_error != NULL)
    {
      g_set_error_literal (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_MALFORMED,
                           "The callback's parameters cannot be decoded.");
      return FALSE;
    }

  if (!ck_pkce_state_equal (found_state, expected_state))
    {
      g_set_error_literal (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_STATE_MISMATCH,
                           "The callback does not carry the state of this login.");
      return FALSE;
    }

  if (found_error != NULL)
    {
      if (strcmp (found_error, "access_denied") == 0)
        g_set_error_literal (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_DECLINED,
                             "The login was declined in the browser; run the login "
                             "again to retry.");
      else if (g_strv_contains (oauth_error_codes, found_error))
        g_set_error (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_DECLINED,
                     "The sign-in page refused the login (%s); run the login again.",
                     found_error);
      else
        g_set_error_literal (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_DECLINED,
                             "The sign-in page refused the login; run the login again.");
      return FALSE;
    }

  if (found_code == NULL || found_code[0] == '\0' ||
      strlen (found_code) > MAX_CODE_LENGTH || !is_printable_ascii (found_code))
    {
      g_set_error_literal (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_MALFORMED,
                           "The callback carries no valid authorization code.");
      return FALSE;
    }

  *code = g_steal_pointer (&found_code);

  return TRUE;
}

static void
respond_page (SoupServerMessage *msg,
              guint              status,
              const char        *title,
              const char        *text)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  char *html;

  /* Self-contained on purpose: the page loads nothing, so the callback URL
   * (which holds the code) is never sent anywhere as a referrer.
   */
  html = g_strdup_printf ("<!DOCTYPE html>\n"
                          "<html lang=\"en\">\n"
                          "<head>\n"
                          "<meta charset=\"utf-8\">\n"
                          "<meta name=\"viewport\" content=\"width=device-width\">\n"
                          "<title>%s</title>\n"
                          "<style>\n"
                          "body { font-family: Cantarell, system-ui, sans-serif;"
                          " max-width: 36em; margin: 4em auto; padding: 0 1em;"
                          " color: #241f31; background: #fafafa; }\n"
                          "@media (prefers-color-scheme: dark) {"
                          " body { color: #f6f5f4; background: #242424; } }\n"
                          "h1 { font-size: 1.5em; }\n"
                          "</style>\n"
                          "</head>\n"
                          "<body>\n"
                          "<h1>%s</h1>\n"
                          "<p>%s</p>\n"
                          "</body>\n"
                          "</html>\n",
                          title, title, text);

  soup_message_headers_replace (headers, "Content-Security-Policy", CONTENT_SECURITY_POLICY);
  soup_message_headers_replace (headers, "Referrer-Policy", "no-referrer");
  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (headers, "X-Frame-Options", "DENY");

  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/html; charset=utf-8",
                                    SOUP_MEMORY_TAKE, html, strlen (html));
}

/* Who is on the other end */

/* How /proc/net/tcp{,6} shows a socket's end: each 32-bit word of the
 * address as this machine holds it in memory, then the port.
 */
static char *
proc_net_address (GInetSocketAddress *address)
{
  GInetAddress *inet = g_inet_socket_address_get_address (address);
  const guint8 *bytes = g_inet_address_to_bytes (inet);
  gsize size = g_inet_address_get_native_size (inet);
  GString *text = g_string_new (NULL);

  for (gsize i = 0; i + sizeof (guint32) <= size; i += sizeof (guint32))
    {
      guint32 word;

      memcpy (&word, bytes + i, sizeof word);
      g_string_append_printf (text, "%08X", word);
    }
  g_string_append_printf (text, ":%04X", g_inet_socket_address_get_port (address));

  return g_string_free (text, FALSE);
}

/**
 * ck_loopback_peer_uid_from_proc_net:
 * @table: the text of `/proc/net/tcp` (IPv4) or `/proc/net/tcp6` (IPv6)
 * @local: this end of a loopback connection
 * @remote: the other end
 * @uid: (out): the user who owns the socket at the other end
 *
 * Finds the peer's own socket, whose local end is @remote, in @table.
 *
 * Returns: %TRUE if @table has it
 */
gboolean
ck_loopback_peer_uid_from_proc_net (const char         *table,
                                    GInetSocketAddress *local,
                                    GInetSocketAddress *remote,
                                    uid_t              *uid)
{
  g_autofree char *peer_end = proc_net_address (remote);
  g_autofree char *our_end = proc_net_address (local);
  const char *line = table;

  /* The first line names the columns. */
  while ((line = strchr (line, '\n')) != NULL)
    {
      char local_column[64];
      char remote_column[64];
      unsigned int owner;

      line++;
      /* sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid */
      if (sscanf (line, "%*s %63s %63s %*s %*s %*s %*s %u",
                  local_column, remote_column, &owner) == 3 &&
          strcmp (local_column, peer_end) == 0 &&
          strcmp (remote_column, our_end) == 0)
        {
          *uid = owner;
          return TRUE;
        }
    }

  return FALSE;
}

/* sock_diag's id of a socket from @src to @dst (NULL: no other end, as
 * a listener has). */
static gboolean
fill_sockid (struct inet_diag_sockid *id,
             GInetSocketAddress      *src,
             GInetSocketAddress      *dst)
{
  GInetAddress *src_inet = g_inet_socket_address_get_address (src);
  gsize size = g_inet_address_get_native_size (src_inet);

  if (size > sizeof id->idiag_src)
    return FALSE;

  memset (id, 0, sizeof *id);
  id->idiag_sport = g_htons (g_inet_socket_address_get_port (src));
  memcpy (id->idiag_src, g_inet_address_to_bytes (src_inet), size);
  if (dst != NULL)
    {
      GInetAddress *dst_inet = g_inet_socket_address_get_address (dst);

      if (g_inet_address_get_native_size (dst_inet) != size)
        return FALSE;
      id->idiag_dport = g_htons (g_inet_socket_address_get_port (dst));
      memcpy (id->idiag_dst, g_inet_address_to_bytes (dst_inet), size);
    }
  id->idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  return TRUE;
}

/* Asks the kernel for the TCP socket that a packet from @id's destination
 * to its source would reach: the connected socket of exactly those
 * addresses, else the listener on the source's address and port. */
static gboolean
sock_diag_lookup (int                             family,
                  const struct inet_diag_sockid  *id,
                  struct inet_diag_msg           *found)
{
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  struct {
    struct nlmsghdr         header;
    struct inet_diag_req_v2 request;
  } query = { 0 };
  union {
    struct nlmsghdr header;
    char            bytes[1024];
  } reply;
  ssize_t length = -1;
  int fd;

  query.header.nlmsg_len = sizeof query;
  query.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  query.header.nlmsg_flags = NLM_F_REQUEST;
  query.request.sdiag_family = family;
  query.request.sdiag_protocol = IPPROTO_TCP;
  query.request.idiag_states = ~0U;
  query.request.id = *id;

  fd = socket (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0)
    return FALSE;
  /* The kernel answers a lookup (not a dump) before sendto() returns. */
  if (sendto (fd, &query, sizeof query, 0, (struct sockaddr *) &kernel, sizeof kernel) >= 0)
    length = recv (fd, &reply, sizeof reply, MSG_DONTWAIT);
  close (fd);

  /* NLMSG_ERROR instead: no such socket, or no sock_diag for TCP here. */
  if (length < (ssize_t) NLMSG_LENGTH (sizeof *found) ||
      reply.header.nlmsg_type != SOCK_DIAG_BY_FAMILY ||
      reply.header.nlmsg_len > (size_t) length)
    return FALSE;

  memcpy (found, NLMSG_DATA (&reply.header), sizeof *found);
  return TRUE;
}

/* Asks the kernel for the peer's socket by its exact addresses. */
static gboolean
peer_uid_from_sock_diag (GInetSocketAddress *local,
                         GInetSocketAddress *remote,
                         uid_t              *uid)
{
  struct inet_diag_sockid id;
  struct inet_diag_msg found;
  gsize size = g_inet_address_get_native_size (g_inet_socket_address_get_address (remote));

  /* The peer's socket: its source is our remote end. */
  if (!fill_sockid (&id, remote, local) ||
      !sock_diag_lookup (size == 16 ? AF_INET6 : AF_INET, &id, &found))
    return FALSE;

  if (found.id.idiag_sport != id.idiag_sport ||
      found.id.idiag_dport != id.idiag_dport ||
      memcmp (found.id.idiag_src, id.idiag_src, size) != 0 ||
      memcmp (found.id.idiag_dst, id.idiag_dst, size) != 0)
    return FALSE;

  *uid = found.idiag_uid;
  return TRUE;
}

/* Whether the peer of a loopback connection is the user running this
 * process. On loopback both ends are sockets of this kernel, and a socket
 * belongs to the user who opened it: sock_diag finds the peer's by its
 * exact addresses; /proc/net/tcp{,6} stands in where sock_diag is missing
 * (a container that cannot load its module). When neither knows the
 * peer, it is not us.
 */
gboolean
ck_loopback_peer_is_us (GSocketAddress *local,
                        GSocketAddress *remote,
                        uid_t          *uid)
{
  g_autofree char *table = NULL;
  gboolean ipv6;

  *uid = (uid_t) -1;

  if (!G_IS_INET_SOCKET_ADDRESS (local) || !G_IS_INET_SOCKET_ADDRESS (remote) ||
      g_socket_address_get_family (local) != g_socket_address_get_family (remote))
    return FALSE;

  if (!peer_uid_from_sock_diag (G_INET_SOCKET_ADDRESS (local), G_INET_SOCKET_ADDRESS (remote), uid))
    {
      ipv6 = g_socket_address_get_family (remote) == G_SOCKET_FAMILY_IPV6;
      if (!g_file_get_contents (ipv6 ? "/proc/net/tcp6" : "/proc/net/tcp", &table, NULL, NULL) ||
          !ck_loopback_peer_uid_from_proc_net (table, G_INET_SOCKET_ADDRESS (local),
                                               G_INET_SOCKET_ADDRESS (remote), uid))
        return FALSE;
    }

  return *uid == geteuid ();
}

/* Who listens on the other end */

/**
 * ck_loopback_listener_from_proc_net:
 * @tcp: the text of `/proc/net/tcp`
 * @tcp6: the text of `/proc/net/tcp6`
 * @server: the address a loopback connection went to
 * @uid: (out): the user who owns the socket listening there
 *
 * Finds the listener (a socket with no other end) bound to @server, or to
 * any address on its port: IPv4's, or IPv6's, which takes IPv4 too.
 *
 * Returns: %TRUE if the tables hold it
 */
gboolean
ck_loopback_listener_from_proc_net (const char         *tcp,
                                    const char         *tcp6,
                                    GInetSocketAddress *server,
                                    uid_t              *uid)
{
  guint16 port = g_inet_socket_address_get_port (server);
  gboolean ipv6 = g_socket_address_get_family (G_SOCKET_ADDRESS (server)) == G_SOCKET_FAMILY_IPV6;
  g_autoptr(GInetAddress) any4 = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GInetAddress) any6 = g_inet_address_new_any (G_SOCKET_FAMILY_IPV6);
  g_autoptr(GSocketAddress) none4 = g_inet_socket_address_new (any4, 0);
  g_autoptr(GSocketAddress) none6 = g_inet_socket_address_new (any6, 0);
  g_autoptr(GSocketAddress) all4 = g_inet_socket_address_new (any4, port);
  g_autoptr(GSocketAddress) all6 = g_inet_socket_address_new (any6, port);
  struct {
    const char     *table;
    GSocketAddress *none, *bound;
  } candidates[] = {
    { ipv6 ? tcp6 : tcp, ipv6 ? none6 : none4, G_SOCKET_ADDRESS (server) },
    { ipv6 ? NULL : tcp, none4, all4 },
    { tcp6, none6, all6 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    if (candidates[i].table != NULL &&
        ck_loopback_peer_uid_from_proc_net (candidates[i].table,
                                            G_INET_SOCKET_ADDRESS (candidates[i].none),
                                            G_INET_SOCKET_ADDRESS (candidates[i].bound), uid))
      return TRUE;
  return FALSE;
}

/* Asks the kernel which listener takes connections to @server. */
static gboolean
listener_uid_from_sock_diag (GInetSocketAddress *server,
                             uid_t              *uid)
{
  struct inet_diag_sockid id;
  struct inet_diag_msg found;
  gboolean ipv6 = g_socket_address_get_family (G_SOCKET_ADDRESS (server)) == G_SOCKET_FAMILY_IPV6;

  /* From nowhere to @server: no connected socket matches, the listener
   * does (bound to @server's address or to any). */
  if (!fill_sockid (&id, server, NULL) ||
      !sock_diag_lookup (ipv6 ? AF_INET6 : AF_INET, &id, &found) ||
      found.idiag_state != TCP_LISTEN || found.id.idiag_sport != id.idiag_sport)
    return FALSE;

  *uid = found.idiag_uid;
  return TRUE;
}

/**
 * ck_loopback_listener_is_us:
 * @server: where a TCP connection on loopback went
 * @uid: (out): the user listening there, -1 when unknown
 *
 * The client's side of ck_loopback_peer_is_us(): whether the socket
 * listening on @server, which accepted the connection, belongs to this
 * process's user. (The accepted socket itself has no owner until the
 * server takes it from the queue.) When neither sock_diag nor
 * /proc/net/tcp{,6} knows, it is not us.
 */
gboolean
ck_loopback_listener_is_us (GInetSocketAddress *server,
                            uid_t              *uid)
{
  g_autofree char *tcp = NULL;
  g_autofree char *tcp6 = NULL;

  g_return_val_if_fail (G_IS_INET_SOCKET_ADDRESS (server), FALSE);
  g_return_val_if_fail (uid != NULL, FALSE);

  *uid = (uid_t) -1;
  if (!listener_uid_from_sock_diag (server, uid))
    {
      g_file_get_contents ("/proc/net/tcp", &tcp, NULL, NULL);
      g_file_get_contents ("/proc/net/tcp6", &tcp6, NULL, NULL);
      if (!ck_loopback_listener_from_proc_net (tcp, tcp6, server, uid))
        return FALSE;
    }

  return *uid == geteuid ();
}

/* Refusing a request before its body is read */

#define BODY_REFUSAL \
  "HTTP/1.1 413 Request Entity Too Large\r\n" \
  "Content-Type: text/plain; charset=utf-8\r\n" \
  "Content-Length: 36\r\n" \
  "Cache-Control: no-store\r\n" \
  "Connection: close\r\n" \
  "\r\n" \
  "This address takes no request body.\n"

/* A connection taken from libsoup to refuse its request. */
typedef struct
{
  GIOStream    *stream;
  GCancellable *cancellable;
  GSource      *deadline;
  char          buffer[8192];
} Refusal;

static void
refusal_finish (Refusal *refusal)
{
  g_io_stream_close (refusal->stream, NULL, NULL);
  g_source_destroy (refusal->deadline);
  g_source_unref (refusal->deadline);
  g_object_unref (refusal->cancellable);
  g_object_unref (refusal->stream);
  g_free (refusal);
}

static void refusal_drain (Refusal *refusal);

static void
refusal_read_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Refusal *refusal = user_data;

  if (g_input_stream_read_finish (G_INPUT_STREAM (object), result, NULL) > 0)
    refusal_drain (refusal);
  else
    refusal_finish (refusal);
}

/* Closing a socket that has unread data resets the connection, and the
 * peer may then lose the answer it has not read yet: what it still sends
 * is dropped instead, until it stops or the deadline.
 */
static void
refusal_drain (Refusal *refusal)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (refusal->stream),
                             refusal->buffer, sizeof refusal->buffer, G_PRIORITY_LOW,
                             refusal->cancellable, refusal_read_cb, refusal);
}

static void
refusal_written_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Refusal *refusal = user_data;

  if (g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result, NULL, NULL))
    refusal_drain (refusal);
  else
    refusal_finish (refusal);
}

static gboolean
refusal_deadline_cb (gpointer user_data)
{
  Refusal *refusal = user_data;

  g_cancellable_cancel (refusal->cancellable);

  return G_SOURCE_REMOVE;
}

/* Answers 413 on a connection libsoup has read only the request head of,
 * and takes it away from libsoup, which would otherwise read the body.
 * @msg may be gone afterwards.
 */
static void
refuse_body (SoupServerMessage *msg)
{
  GIOStream *stream = soup_server_message_steal_connection (msg);
  Refusal *refusal;

  if (stream == NULL)
    return;

  refusal = g_new0 (Refusal, 1);
  refusal->stream = stream;
  refusal->cancellable = g_cancellable_new ();
  refusal->deadline = g_timeout_source_new (REFUSAL_LINGER_MS);
  g_source_set_static_name (refusal->deadline, "[ck-loopback-server] refusal");
  g_source_set_callback (refusal->deadline, refusal_deadline_cb, refusal, NULL);
  g_source_attach (refusal->deadline, g_main_context_get_thread_default ());

  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream),
                                   BODY_REFUSAL, strlen (BODY_REFUSAL), G_PRIORITY_DEFAULT,
                                   refusal->cancellable, refusal_written_cb, refusal);
}

static gboolean
has_body (SoupMessageHeaders *headers)
{
  if (soup_message_headers_get_one (headers, "Transfer-Encoding") != NULL)
    return TRUE;

  return soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
         soup_message_headers_get_content_length (headers) > 0;
}

/* A request's head is in; libsoup reads its body next. */
static void
got_headers_cb (SoupServerMessage *msg,
                CkLoopbackServer  *self)
{
  uid_t uid;

  /* Nothing here takes a body, and libsoup would hold all of it. */
  if (has_body (soup_server_message_get_request_headers (msg)))
    {
      g_debug ("Refused a request with a body");
      refuse_body (msg);
      return;
    }

  /* libsoup closes each connection after one answer anyway (see
   * incoming_cb()); the browser should know.
   */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");

  /* With this login's state, another user could hand us the code of a
   * login to their own account, redeemed with our verifier.
   */
  if (!ck_loopback_peer_is_us (soup_server_message_get_local_address (msg),
                               soup_server_message_get_remote_address (msg), &uid))
    {
      g_debug ("Refused a request of another user (uid %d)", (int) uid);
      respond_page (msg, SOUP_STATUS_FORBIDDEN, "Not your login",
                    "This address only answers the user who started the login.");
    }
}

static void
request_started_cb (SoupServer        *server,
                    SoupServerMessage *msg,
                    CkLoopbackServer  *self)
{
  /* After libsoup's own handler, which fills in the URI. */
  g_signal_connect_object (msg, "got-headers", G_CALLBACK (got_headers_cb), self, 0);
}

guint
ck_loopback_count_open (GPtrArray  *connections,
                        const char *key,
                        gboolean    own)
{
  guint open = 0;

  for (guint i = connections->len; i > 0; i--)
    {
      GObject *other = g_ptr_array_index (connections, i - 1);

      if (g_io_stream_is_closed (G_IO_STREAM (other)))
        g_ptr_array_remove_index_fast (connections, i - 1);
      else if (GPOINTER_TO_INT (g_object_get_data (other, key)) == own)
        open++;
    }
  return open;
}

/* Every connection is taken here, not by libsoup, so that it can be
 * counted and dropped before a byte of it is read.
 */
static gboolean
incoming_cb (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  CkLoopbackServer *self = user_data;
  g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address (connection, NULL);
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (connection, NULL);
  gboolean own;
  guint open;
  uid_t uid;

  if (local == NULL || remote == NULL)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  own = ck_loopback_peer_is_us (local, remote, &uid);
  if (!own && !self->logged_other_user)
    {
      self->logged_other_user = TRUE;
      if (uid == (uid_t) -1)
        g_message ("Refusing a connection to the login's port from an unknown user");
      else
        g_message ("Refusing a connection to the login's port from another user (uid %u)",
                   (guint) uid);
    }

  open = ck_loopback_count_open (self->connections, OWN_KEY, own);
  if (open >= (own ? MAX_OWN_CONNECTIONS : MAX_OTHER_CONNECTIONS))
    {
      g_debug ("Dropped a connection: %u open already", open);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  g_object_set_data (G_OBJECT (connection), OWN_KEY, GINT_TO_POINTER (own));
  g_ptr_array_add (self->connections, g_object_ref (connection));

  /* Without listeners of its own, libsoup closes the connection after one
   * answer, which also ends it for the count above.
   */
  soup_server_accept_iostream (self->server, G_IO_STREAM (connection), local, remote, NULL);

  return TRUE;
}

static void
clear_wait_sources (CkLoopbackServer *self)
{
  if (self->timeout_source != NULL)
    {
      g_source_destroy (self->timeout_source);
      g_clear_pointer (&self->timeout_source, g_source_unref);
    }

  if (self->cancel_source != NULL)
    {
      g_source_destroy (self->cancel_source);
      g_clear_pointer (&self->cancel_source, g_source_unref);
    }
}

/* Closes the ports and drops the connections libsoup still serves. */
static void
stop_listening (CkLoopbackServer *self)
{
  if (self->service != NULL)
    {
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
      g_signal_handlers_disconnect_by_data (self->service, self);
      g_clear_object (&self->service);
    }

  soup_server_disconnect (self->server);
}

static void
close_listeners (CkLoopbackServer *self)
{
  if (self->close_source != NULL)
    {
      g_source_destroy (self->close_source);
      g_clear_pointer (&self->close_source, g_source_unref);
    }

  self->finished = TRUE;

  if (!self->closed && self->server != NULL)
    {
      g_debug ("Closing the loopback server on port %u", self->port);
      stop_listening (self);
    }

  self->closed = TRUE;
}

/* Hands a result that has arrived to the pending wait, if there is one. */
static void
deliver_result (CkLoopbackServer *self)
{
  g_autoptr(GTask) task = NULL;

  if (self->task == NULL || (self->code == NULL && self->error == NULL))
    return;

  task = g_steal_pointer (&self->task);
  clear_wait_sources (self);

  if (self->code != NULL)
    g_task_return_pointer (task, g_steal_pointer (&self->code), (GDestroyNotify) ck_secret_free);
  else
    g_task_return_error (task, g_steal_pointer (&self->error));
}

static void
fail_wait (CkLoopbackServer *self,
           GError           *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->task);

  clear_wait_sources (self);
  g_clear_pointer (&self->code, ck_secret_free);
  g_clear_error (&self->error);
  close_listeners (self);

  if (task != NULL)
    g_task_return_error (task, error);
  else
    g_error_free (error);
}

static gboolean
close_idle_cb (gpointer user_data)
{
  CkLoopbackServer *self = user_data;

  g_clear_pointer (&self->close_source, g_source_unref);
  close_listeners (self);
  deliver_result (self);

  return G_SOURCE_REMOVE;
}

static void
response_finished_cb (SoupServerMessage *msg,
                      CkLoopbackServer  *self)
{
  if (self->close_source != NULL || self->closed)
    return;

  /* Not from inside the signal: disconnecting frees the connection that
   * is still finishing this message.
   */
  self->close_source = g_idle_source_new ();
  g_source_set_static_name (self->close_source, "[ck-loopback-server] close");
  g_source_set_callback (self->close_source, close_idle_cb, self, NULL);
  g_source_attach (self->close_source, g_main_context_get_thread_default ());
}

/* The login is decided: the browser gets its page first, then the server
 * stops listening, then the wait learns the result.
 */
static void
finish_after_response (CkLoopbackServer  *self,
                       SoupServerMessage *msg)
{
  self->finished = TRUE;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");
  g_signal_connect_object (msg, "finished",
                           G_CALLBACK (response_finished_cb),
                           self, 0);
}

static void
handle_request (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  CkLoopbackServer *self = user_data;
  g_autoptr(GError) error = NULL;
  char *code = NULL;
  GUri *uri;

  if (self->finished)
    {
      g_debug ("Refused a request after the login ended");
      respond_page (msg, SOUP_STATUS_GONE, "This login is over",
                    "Claude Code is no longer waiting for this login. You can close this tab.");
      return;
    }

  if ((g_strcmp0 (path, CK_LOOPBACK_CALLBACK_PATH) == 0 ||
       g_strcmp0 (path, CK_LOOPBACK_START_PATH) == 0) &&
      g_strcmp0 (soup_server_message_get_method (msg), SOUP_METHOD_GET) != 0)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Allow", "GET");
      respond_page (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Not allowed",
                    "This address only answers GET requests.");
      return;
    }

  if (g_strcmp0 (path, CK_LOOPBACK_START_PATH) == 0 && self->authorize_url != NULL)
    {
      SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

      g_debug ("Sending the browser to the sign-in page");
      soup_message_headers_replace (headers, "Cache-Control", "no-store");
      soup_message_headers_replace (headers, "Referrer-Policy", "no-referrer");
      soup_server_message_set_redirect (msg, SOUP_STATUS_FOUND, self->authorize_url);
      return;
    }

  uri = soup_server_message_get_uri (msg);
  if (ck_loopback_parse_callback (path, g_uri_get_query (uri),
                                  self->expected_state, &code, &error))
    {
      g_debug ("The browser returned an authorization code");
      g_clear_pointer (&self->code, ck_secret_free);
      self->code = code;
      respond_page (msg, SOUP_STATUS_OK,
                    "Claude Code login approved",
                    /* The code is not exchanged yet: promise no more than that. */
                    "Approved \xe2\x80\x94 claude-keyring is finishing the login. "
                    "You can close this tab; your terminal or the tray shows the result.");
      finish_after_response (self, msg);
      return;
    }

  /* The parser's messages never carry a secret or untrusted text. */
  g_debug ("Loopback request refused: %s", error->message);

  if (g_error_matches (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_NOT_FOUND))
    {
      respond_page (msg, SOUP_STATUS_NOT_FOUND, "Not found",
                    "There is nothing here. This address only receives a Claude Code login.");
    }
  else if (g_error_matches (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_DECLINED))
    {
      g_clear_error (&self->error);
      self->error = g_error_new_literal (CK_ERROR, CK_ERROR_LOGIN_FAILED, error->message);
      respond_page (msg, SOUP_STATUS_OK, "Login declined",
                    "The login to Claude Code did not complete. You can close this tab "
                    "and run the login again.");
      finish_after_response (self, msg);
    }
  else
    {
      respond_page (msg, SOUP_STATUS_BAD_REQUEST,
                    "This link does not belong to the login in progress",
                    "Claude Code ignored it. If you are logging in, finish from the "
                    "newest login page; otherwise you can close this tab.");
    }
}

static gboolean
listen_loopback (CkLoopbackServer  *self,
                 GError           **error)
{
  g_autoptr(GInetAddress) ipv4 = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GInetAddress) ipv6 = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);

  for (guint attempt = 0; attempt < LISTEN_ATTEMPTS; attempt++)
    {
      g_autoptr(GSocketService) service = g_socket_service_new ();
      g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (ipv4, 0);
      g_autoptr(GSocketAddress) bound = NULL;
      g_autoptr(GSocketAddress) v6_address = NULL;
      g_autoptr(GError) v6_error = NULL;
      guint port;

      if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), any_port,
                                          G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                          NULL, &bound, error))
        return FALSE;

      port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

      /* Browsers may resolve "localhost" to ::1 first. */
      v6_address = g_inet_socket_address_new (ipv6, port);
      if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), v6_address,
                                          G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                          NULL, NULL, &v6_error))
        {
          /* Someone else holds ::1 on this port and could receive the code
           * meant for us: take another port.
           */
          if (g_error_matches (v6_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
            {
              g_debug ("Port %u is taken on ::1, trying another", port);
              g_socket_listener_close (G_SOCKET_LISTENER (service));
              continue;
            }

          /* No IPv6 loopback here: 127.0.0.1 alone is fine. */
          g_debug ("Not listening on ::1: %s", v6_error->message);
        }

      g_signal_connect (service, "incoming", G_CALLBACK (incoming_cb), self);
      self->service = g_steal_pointer (&service);
      self->port = port;
      return TRUE;
    }

  g_set_error_literal (error, CK_ERROR, CK_ERROR_LOGIN_FAILED,
                       "Could not open a local port for the browser to return to; "
                       "try again or use the manual login.");
  return FALSE;
}

static void
ck_loopback_server_dispose (GObject *object)
{
  CkLoopbackServer *self = (CkLoopbackServer *)object;

  clear_wait_sources (self);

  if (self->close_source != NULL)
    {
      g_source_destroy (self->close_source);
      g_clear_pointer (&self->close_source, g_source_unref);
    }

  if (self->server != NULL)
    {
      stop_listening (self);
      self->closed = TRUE;
      g_clear_object (&self->server);
    }

  g_clear_pointer (&self->connections, g_ptr_array_unref);

  g_clear_object (&self->task);

  G_OBJECT_CLASS (ck_loopback_server_parent_class)->dispose (object);
}

static void
ck_loopback_server_finalize (GObject *object)
{
  CkLoopbackServer *self = (CkLoopbackServer *)object;

  g_clear_pointer (&self->expected_state, ck_secret_free);
  g_clear_pointer (&self->authorize_url, ck_secret_free);
  g_clear_pointer (&self->code, ck_secret_free);
  g_clear_error (&self->error);

  G_OBJECT_CLASS (ck_loopback_server_parent_class)->finalize (object);
}

static void
ck_loopback_server_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  CkLoopbackServer *self = CK_LOOPBACK_SERVER (object);

  switch (prop_id)
    {
    case PROP_PORT:
      g_value_set_uint (value, self->port);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_loopback_server_class_init (CkLoopbackServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_loopback_server_dispose;
  object_class->finalize = ck_loopback_server_finalize;
  object_class->get_property = ck_loopback_server_get_property;

  /**
   * CkLoopbackServer:port:
   *
   * The TCP port the server listens on, on 127.0.0.1 (and on ::1 where
   * the machine has IPv6).
   */
  properties[PROP_PORT] =
    g_param_spec_uint ("port", NULL, NULL,
                       0, G_MAXUINT16, 0,
                       (G_PARAM_READABLE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ck_loopback_server_init (CkLoopbackServer *self)
{
  self->server = soup_server_new ("server-header", "claude-keyring/" PACKAGE_VERSION, NULL);
  soup_server_add_handler (self->server, NULL, handle_request, self, NULL);
  g_signal_connect (self->server, "request-started", G_CALLBACK (request_started_cb), self);
  self->connections = g_ptr_array_new_with_free_func (g_object_unref);
}

/**
 * ck_loopback_server_new:
 * @expected_state: the state of the login this server receives
 * @error: a #GError
 *
 * Starts listening on a random port of 127.0.0.1, and on the same port
 * of ::1 when the machine has IPv6 (browsers may resolve `localhost`
 * there first). Never on any other interface. Only connections of the
 * user running this process are served; others get 403.
 *
 * Returns: (transfer full) (nullable): a new #CkLoopbackServer, or %NULL
 *   if no port could be opened
 */
CkLoopbackServer *
ck_loopback_server_new (const char  *expected_state,
                        GError     **error)
{
  g_autoptr(CkLoopbackServer) self = NULL;

  g_return_val_if_fail (expected_state != NULL && expected_state[0] != '\0', NULL);

  self = g_object_new (CK_TYPE_LOOPBACK_SERVER, NULL);
  self->expected_state = g_strdup (expected_state);

  if (!listen_loopback (self, error))
    return NULL;

  g_debug ("Waiting for the browser on port %u", self->port);

  return g_steal_pointer (&self);
}

guint
ck_loopback_server_get_port (CkLoopbackServer *self)
{
  g_return_val_if_fail (CK_IS_LOOPBACK_SERVER (self), 0);

  return self->port;
}

/**
 * ck_loopback_server_dup_redirect_uri:
 * @self: a #CkLoopbackServer
 *
 * Returns: (transfer full): `http://localhost:PORT/callback`, the
 *   redirect URI to put in the authorize URL and the code exchange
 */
char *
ck_loopback_server_dup_redirect_uri (CkLoopbackServer *self)
{
  g_return_val_if_fail (CK_IS_LOOPBACK_SERVER (self), NULL);

  return g_strdup_printf ("http://localhost:%u" CK_LOOPBACK_CALLBACK_PATH, self->port);
}

/**
 * ck_loopback_server_set_authorize_url:
 * @self: a #CkLoopbackServer
 * @authorize_url: the authorize URL of this login
 *
 * Makes `/start` redirect the user's own browser to @authorize_url (see
 * ck_loopback_dup_start_uri()).
 */
void
ck_loopback_server_set_authorize_url (CkLoopbackServer *self,
                                      const char       *authorize_url)
{
  g_return_if_fail (CK_IS_LOOPBACK_SERVER (self));

  g_clear_pointer (&self->authorize_url, ck_secret_free);
  self->authorize_url = g_strdup (authorize_url);
}

/**
 * ck_loopback_dup_start_uri:
 * @authorize_url: an authorize URL
 *
 * The address to give a browser instead of @authorize_url: the `/start`
 * page of the loopback server that @authorize_url redirects to, which
 * sends only this user's browser on to @authorize_url. A browser's
 * command line is visible to every user of the machine; this keeps the
 * state and the PKCE challenge off it.
 *
 * Returns: (transfer full) (nullable): `http://localhost:PORT/start`, or
 *   %NULL when @authorize_url redirects anywhere else (a manual login)
 */
char *
ck_loopback_dup_start_uri (const char *authorize_url)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GUri) redirect = NULL;
  g_autoptr(GHashTable) params = NULL;
  const char *redirect_uri;

  g_return_val_if_fail (authorize_url != NULL, NULL);

  uri = g_uri_parse (authorize_url, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL || g_uri_get_query (uri) == NULL)
    return NULL;

  params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_WWW_FORM, NULL);
  if (params == NULL || (redirect_uri = g_hash_table_lookup (params, "redirect_uri")) == NULL)
    return NULL;

  redirect = g_uri_parse (redirect_uri, G_URI_FLAGS_NONE, NULL);
  if (redirect == NULL ||
      g_strcmp0 (g_uri_get_scheme (redirect), "http") != 0 ||
      g_strcmp0 (g_uri_get_host (redirect), "localhost") != 0 ||
      g_uri_get_port (redirect) <= 0 ||
      g_strcmp0 (g_uri_get_path (redirect), CK_LOOPBACK_CALLBACK_PATH) != 0 ||
      g_uri_get_query (redirect) != NULL)
    return NULL;

  return g_strdup_printf ("http://localhost:%d" CK_LOOPBACK_START_PATH, g_uri_get_port (redirect));
}

static char *
describe_duration (guint seconds)
{
  if (seconds >= 60 && seconds % 60 == 0)
    return g_strdup_printf (seconds == 60 ? "%u minute" : "%u minutes", seconds / 60);
  return g_strdup_printf (seconds == 1 ? "%u second" : "%u seconds", seconds);
}

static gboolean
timeout_cb (gpointer user_data)
{
  CkLoopbackServer *self = user_data;
  g_autofree char *duration = NULL;

  /* A result already arrived and is on its way to the wait. */
  if (self->code != NULL || self->error != NULL)
    {
      g_clear_pointer (&self->timeout_source, g_source_unref);
      return G_SOURCE_REMOVE;
    }

  g_debug ("No callback within %u seconds", self->timeout_seconds);

  duration = describe_duration (self->timeout_seconds);
  fail_wait (self, g_error_new (CK_ERROR, CK_ERROR_LOGIN_FAILED,
                                "No answer from the browser within %s; run the login again.",
                                duration));

  return G_SOURCE_REMOVE;
}

static gboolean
cancelled_cb (GCancellable *cancellable,
              gpointer      user_data)
{
  CkLoopbackServer *self = user_data;

  g_debug ("The wait for the browser was cancelled");

  fail_wait (self, g_error_new_literal (CK_ERROR, CK_ERROR_CANCELLED,
                                        "The login was cancelled."));

  return G_SOURCE_REMOVE;
}

/**
 * ck_loopback_server_wait_async:
 * @self: a #CkLoopbackServer
 * @timeout_seconds: how long to wait for the browser, 0 for no limit
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the login is decided
 * @user_data: data for @callback
 *
 * Waits for the browser to come back with this login's code. Requests
 * for other paths get a 404 page, a callback with another state a 400
 * page, another user's requests 403 and requests with a body 413; none
 * ends the wait. A callback that accepts or declines the
 * login ends it, and the server stops listening. A callback that arrived
 * before this call is not lost. Only one wait per server.
 */
void
ck_loopback_server_wait_async (CkLoopbackServer    *self,
                               guint                timeout_seconds,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  GMainContext *context;

  g_return_if_fail (CK_IS_LOOPBACK_SERVER (self));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ck_loopback_server_wait_async);
  /* Cancellation is reported as CK_ERROR_CANCELLED, by cancelled_cb(). */
  g_task_set_check_cancellable (task, FALSE);

  if (self->task != NULL)
    {
      g_task_return_new_error (task, CK_ERROR, CK_ERROR_LOGIN_IN_PROGRESS,
                               "The login is already waiting for the browser.");
      return;
    }

  if (self->closed && self->code == NULL && self->error == NULL)
    {
      g_task_return_new_error (task, CK_ERROR, CK_ERROR_LOGIN_FAILED,
                               "This login is over; run the login again.");
      return;
    }

  self->task = g_steal_pointer (&task);
  self->timeout_seconds = timeout_seconds;
  context = g_main_context_get_thread_default ();

  if (cancellable != NULL)
    {
      self->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_static_name (self->cancel_source, "[ck-loopback-server] cancel");
      g_source_set_callback (self->cancel_source, G_SOURCE_FUNC (cancelled_cb), self, NULL);
      g_source_attach (self->cancel_source, context);
    }

  if (timeout_seconds > 0)
    {
      self->timeout_source = g_timeout_source_new_seconds (timeout_seconds);
      g_source_set_static_name (self->timeout_source, "[ck-loopback-server] timeout");
      g_source_set_callback (self->timeout_source, timeout_cb, self, NULL);
      g_source_attach (self->timeout_source, context);
    }

  if (self->closed)
    deliver_result (self);
}

/**
 * ck_loopback_server_wait_finish:
 * @self: a #CkLoopbackServer
 * @result: the #GAsyncResult given to the callback
 * @error: a #GError
 *
 * Returns: (transfer full): the authorization code, to be freed with
 *   ck_secret_free(); or %NULL with %CK_ERROR_LOGIN_FAILED (declined,
 *   timed out), %CK_ERROR_CANCELLED or %CK_ERROR_LOGIN_IN_PROGRESS
 */
char *
ck_loopback_server_wait_finish (CkLoopbackServer  *self,
                                GAsyncResult      *result,
                                GError           **error)
{
  g_return_val_if_fail (CK_IS_LOOPBACK_SERVER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_loopback_server_wait_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
