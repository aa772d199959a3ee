/* test-loopback-server.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <libsoup/soup.h>

#include "ck-error.h"
#include "ck-loopback-server.h"
#include "ck-oauth-tokens.h"

#define STATE "state-0123456789abcdefghij"

typedef struct
{
  gboolean  done;
  char     *code;
  GError   *error;
} WaitResult;

typedef struct
{
  gboolean  done;
  GBytes   *body;
  GError   *error;
} FetchResult;

static gboolean
timeout_cb (gpointer data)
{
  gboolean *timed_out = data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until *flag is set; fails the test after 10 s. */
static void
run_until (const gboolean *flag)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (10, timeout_cb, &timed_out);

  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);

  if (timed_out)
    g_error ("Timed out waiting in the main loop");
  g_source_remove (id);
}

/* Runs the main loop for a while, for things that must not happen. */
static void
run_for (guint ms)
{
  gboolean timed_out = FALSE;

  g_timeout_add (ms, timeout_cb, &timed_out);
  while (!timed_out)
    g_main_context_iteration (NULL, TRUE);
}

static void
wait_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  WaitResult *wait = user_data;

  wait->code = ck_loopback_server_wait_finish (CK_LOOPBACK_SERVER (object), result, &wait->error);
  wait->done = TRUE;
}

static void
wait_result_clear (WaitResult *wait)
{
  g_clear_pointer (&wait->code, ck_secret_free);
  g_clear_error (&wait->error);
  wait->done = FALSE;
}

static void
fetch_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  FetchResult *fetch = user_data;

  fetch->body = soup_session_send_and_read_finish (SOUP_SESSION (object), result, &fetch->error);
  fetch->done = TRUE;
}

/* A request as a browser would make it; returns the HTTP status, or 0
 * with @error set when there was no answer.
 */
static guint
fetch (SoupSession         *session,
       const char          *method,
       const char          *url,
       char               **body,
       SoupMessageHeaders **headers,
       GError             **error)
{
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  FetchResult result = { 0 };

  g_assert_nonnull (msg);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, fetch_cb, &result);
  run_until (&result.done);

  if (result.error != NULL)
    {
      g_propagate_error (error, result.error);
      return 0;
    }

  if (body != NULL)
    *body = g_strndup (g_bytes_get_data (result.body, NULL), g_bytes_get_size (result.body));
  if (headers != NULL)
    *headers = soup_message_headers_ref (soup_message_get_response_headers (msg));
  g_bytes_unref (result.body);

  return soup_message_get_status (msg);
}

static guint
get (SoupSession      *session,
     CkLoopbackServer *server,
     const char       *path_and_query)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  guint status;

  url = g_strdup_printf ("http://127.0.0.1:%u%s", ck_loopback_server_get_port (server), path_and_query);
  status = fetch (session, "GET", url, NULL, NULL, &error);
  g_assert_no_error (error);

  return status;
}

static SoupSession *
browser_new (void)
{
  /* A fresh connection per request, as if every click were a new tab. */
  return soup_session_new_with_options ("max-conns-per-host", 1, NULL);
}

static void
assert_refused (CkLoopbackServer *server,
                const char       *host)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  connection = g_socket_client_connect_to_host (client, host,
                                                ck_loopback_server_get_port (server),
                                                NULL, &error);
  g_assert_null (connection);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

static void
test_redirect_uri (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autofree char *expected = NULL;
  g_autofree char *redirect_uri = NULL;
  guint port;

  g_assert_no_error (error);
  port = ck_loopback_server_get_port (server);
  g_assert_cmpuint (port, >, 0);
  g_assert_cmpuint (port, <, 65536);

  expected = g_strdup_printf ("http://localhost:%u/callback", port);
  redirect_uri = ck_loopback_server_dup_redirect_uri (server);
  g_assert_cmpstr (redirect_uri, ==, expected);
}

static void
test_wrong_path_then_callback (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(SoupSession) browser = browser_new ();
  g_autoptr(SoupMessageHeaders) headers = NULL;
  g_autofree char *url = NULL;
  g_autofree char *body = NULL;
  WaitResult wait = { 0 };
  guint status;

  g_assert_no_error (error);
  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);

  g_assert_cmpuint (get (browser, server, "/"), ==, SOUP_STATUS_NOT_FOUND);
  g_assert_cmpuint (get (browser, server, "/favicon.ico"), ==, SOUP_STATUS_NOT_FOUND);
  g_assert_cmpuint (get (browser, server, "/callbackx?code=c1&state=" STATE), ==, SOUP_STATUS_NOT_FOUND);
  run_for (100);
  g_assert_false (wait.done);

  /* Through "localhost", as the browser is sent there. */
  url = g_strdup_printf ("http://localhost:%u/callback?code=the-code%%2F1&state=" STATE,
                         ck_loopback_server_get_port (server));
  status = fetch (browser, "GET", url, &body, &headers, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (status, ==, SOUP_STATUS_OK);
  g_assert_nonnull (strstr (body, "Claude Code login approved"));
  g_assert_nonnull (strstr (body, "You can close this tab"));
  /* The page loads nothing from anywhere. */
  g_assert_null (strstr (body, "src="));
  g_assert_null (strstr (body, "href="));
  g_assert_true (g_str_has_prefix (soup_message_headers_get_one (headers, "Content-Security-Policy"),
                                   "default-src 'none'; style-src 'unsafe-inline'"));
  g_assert_true (g_str_has_prefix (soup_message_headers_get_content_type (headers, NULL), "text/html"));
  g_assert_cmpstr (soup_message_headers_get_one (headers, "Referrer-Policy"), ==, "no-referrer");

  run_until (&wait.done);
  g_assert_no_error (wait.error);
  g_assert_cmpstr (wait.code, ==, "the-code/1");
  wait_result_clear (&wait);
}

static void
test_wrong_state (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(SoupSession) browser = browser_new ();
  WaitResult wait = { 0 };

  g_assert_no_error (error);
  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);

  g_assert_cmpuint (get (browser, server, "/callback?code=evil&state=other-state-0123456789"),
                    ==, SOUP_STATUS_BAD_REQUEST);
  g_assert_cmpuint (get (browser, server, "/callback?code=evil&state=" STATE "x"),
                    ==, SOUP_STATUS_BAD_REQUEST);
  /* Same length, one character off. */
  g_assert_cmpuint (get (browser, server, "/callback?code=evil&state=state-0123456789abcdefghiX"),
                    ==, SOUP_STATUS_BAD_REQUEST);
  g_assert_cmpuint (get (browser, server, "/callback?code=evil"), ==, SOUP_STATUS_BAD_REQUEST);
  g_assert_cmpuint (get (browser, server, "/callback"), ==, SOUP_STATUS_BAD_REQUEST);
  /* Someone else's refusal cannot end this login either. */
  g_assert_cmpuint (get (browser, server, "/callback?error=access_denied&state=nope-0123456789abc"),
                    ==, SOUP_STATUS_BAD_REQUEST);
  /* Nor can a second copy of the state. */
  g_assert_cmpuint (get (browser, server, "/callback?code=evil&state=" STATE "&state=" STATE),
                    ==, SOUP_STATUS_BAD_REQUEST);
  run_for (100);
  g_assert_false (wait.done);

  g_assert_cmpuint (get (browser, server, "/callback?code=good&state=" STATE), ==, SOUP_STATUS_OK);
  run_until (&wait.done);
  g_assert_no_error (wait.error);
  g_assert_cmpstr (wait.code, ==, "good");
  wait_result_clear (&wait);
}

static void
test_second_callback_refused (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(SoupSession) browser = browser_new ();
  g_autofree char *url = NULL;
  WaitResult wait = { 0 };
  guint status;

  g_assert_no_error (error);
  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);

  g_assert_cmpuint (get (browser, server, "/callback?code=first&state=" STATE), ==, SOUP_STATUS_OK);
  run_until (&wait.done);
  g_assert_cmpstr (wait.code, ==, "first");
  wait_result_clear (&wait);

  url = g_strdup_printf ("http://127.0.0.1:%u/callback?code=second&state=" STATE,
                         ck_loopback_server_get_port (server));
  status = fetch (browser, "GET", url, NULL, NULL, &error);
  g_assert_cmpuint (status, ==, 0);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_error (&error);

  assert_refused (server, "127.0.0.1");
  assert_refused (server, "::1");

  /* A new wait on a finished server ends at once. */
  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);
  run_until (&wait.done);
  g_assert_error (wait.error, CK_ERROR, CK_ERROR_LOGIN_FAILED);
  wait_result_clear (&wait);
}

static void
test_declined (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(SoupSession) browser = browser_new ();
  g_autofree char *url = NULL;
  g_autofree char *body = NULL;
  WaitResult wait = { 0 };
  guint status;

  g_assert_no_error (error);
  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);

  url = g_strdup_printf ("http://127.0.0.1:%u/callback?error=access_denied"
                         "&error_description=%%3Cscript%%3Ealert(1)%%3C%%2Fscript%%3E&state=" STATE,
                         ck_loopback_server_get_port (server));
  status = fetch (browser, "GET", url, &body, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (status, >=, 200);
  g_assert_cmpuint (status, <, 500);
  g_assert_nonnull (strstr (body, "did not complete"));
  /* Untrusted text from the query never reaches the page. */
  g_assert_null (strstr (body, "script"));

  run_until (&wait.done);
  g_assert_null (wait.code);
  g_assert_error (wait.error, CK_ERROR, CK_ERROR_LOGIN_FAILED);
  g_assert_nonnull (strstr (wait.error->message, "declined"));
  wait_result_clear (&wait);

  assert_refused (server, "127.0.0.1");
}

static void
test_timeout (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  WaitResult wait = { 0 };
  gint64 start;
  gint64 elapsed;

  g_assert_no_error (error);

  start = g_get_monotonic_time ();
  ck_loopback_server_wait_async (server, 1, NULL, wait_cb, &wait);
  run_until (&wait.done);
  elapsed = g_get_monotonic_time () - start;

  g_assert_error (wait.error, CK_ERROR, CK_ERROR_LOGIN_FAILED);
  g_assert_cmpstr (wait.error->message, ==,
                   "No answer from the browser within 1 second; run the login again.");
  g_assert_cmpint (elapsed, >=, G_USEC_PER_SEC / 2);
  g_assert_cmpint (elapsed, <, 5 * G_USEC_PER_SEC);
  wait_result_clear (&wait);

  /* The login is over: nothing listens any more. */
  assert_refused (server, "127.0.0.1");
}

static gboolean
cancel_cb (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_REMOVE;
}

static void
test_cancel (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(CkLoopbackServer) server2 = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  WaitResult wait = { 0 };

  g_assert_no_error (error);

  ck_loopback_server_wait_async (server, 60, cancellable, wait_cb, &wait);
  g_timeout_add (100, cancel_cb, cancellable);
  run_until (&wait.done);
  g_assert_null (wait.code);
  g_assert_error (wait.error, CK_ERROR, CK_ERROR_CANCELLED);
  wait_result_clear (&wait);
  assert_refused (server, "127.0.0.1");

  /* Already cancelled before the wait starts. */
  server2 = ck_loopback_server_new (STATE, &error);
  g_assert_no_error (error);
  wait.done = FALSE;
  ck_loopback_server_wait_async (server2, 60, cancellable, wait_cb, &wait);
  run_until (&wait.done);
  g_assert_error (wait.error, CK_ERROR, CK_ERROR_CANCELLED);
  wait_result_clear (&wait);
}

static void
test_early_callback (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(SoupSession) browser = browser_new ();
  WaitResult wait = { 0 };

  g_assert_no_error (error);

  /* The browser is faster than the caller. */
  g_assert_cmpuint (get (browser, server, "/callback?code=early&state=" STATE), ==, SOUP_STATUS_OK);
  run_for (50);

  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);
  run_until (&wait.done);
  g_assert_no_error (wait.error);
  g_assert_cmpstr (wait.code, ==, "early");
  wait_result_clear (&wait);
}

static void
test_method (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(SoupSession) browser = browser_new ();
  g_autofree char *url = NULL;
  WaitResult wait = { 0 };

  g_assert_no_error (error);
  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);

  url = g_strdup_printf ("http://127.0.0.1:%u/callback?code=posted&state=" STATE,
                         ck_loopback_server_get_port (server));
  g_assert_cmpuint (fetch (browser, "POST", url, NULL, NULL, &error), ==,
                    SOUP_STATUS_METHOD_NOT_ALLOWED);
  g_assert_no_error (error);
  run_for (100);
  g_assert_false (wait.done);

  g_assert_cmpuint (get (browser, server, "/callback?code=got&state=" STATE), ==, SOUP_STATUS_OK);
  run_until (&wait.done);
  g_assert_cmpstr (wait.code, ==, "got");
  wait_result_clear (&wait);
}

static gboolean
have_ipv6_loopback (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);

  socket = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);

  return socket != NULL && g_socket_bind (socket, address, FALSE, NULL);
}

static void
test_loopback_only (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) control = NULL;
  struct ifaddrs *addrs = NULL;
  guint tried = 0;

  g_assert_no_error (error);

  /* The positive control: the same connect works on loopback. */
  control = g_socket_client_connect_to_host (client, "127.0.0.1",
                                             ck_loopback_server_get_port (server),
                                             NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (control);

  /* Browsers may try "localhost" on ::1 first: it must answer there too. */
  if (have_ipv6_loopback ())
    {
      g_autoptr(GSocketConnection) v6 = NULL;

      v6 = g_socket_client_connect_to_host (client, "::1",
                                            ck_loopback_server_get_port (server),
                                            NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (v6);
    }
  else
    g_test_message ("This machine has no IPv6 loopback");

  g_assert_cmpint (getifaddrs (&addrs), ==, 0);
  for (struct ifaddrs *ifa = addrs; ifa != NULL; ifa = ifa->ifa_next)
    {
      g_autoptr(GSocketAddress) address = NULL;
      g_autoptr(GSocketAddress) target = NULL;
      g_autoptr(GSocketConnection) connection = NULL;
      g_autoptr(GError) connect_error = NULL;
      g_autofree char *text = NULL;
      GInetAddress *inet;
      gsize length;

      if (ifa->ifa_addr == NULL)
        continue;
      if (ifa->ifa_addr->sa_family == AF_INET)
        length = sizeof (struct sockaddr_in);
      else if (ifa->ifa_addr->sa_family == AF_INET6)
        length = sizeof (struct sockaddr_in6);
      else
        continue;

      address = g_socket_address_new_from_native (ifa->ifa_addr, length);
      inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
      if (g_inet_address_get_is_loopback (inet) || g_inet_address_get_is_link_local (inet))
        continue;

      text = g_inet_address_to_string (inet);
      target = g_inet_socket_address_new (inet, ck_loopback_server_get_port (server));
      g_test_message ("connecting to %s on %s", text, ifa->ifa_name);

      connection = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (target),
                                            NULL, &connect_error);
      g_assert_null (connection);
      g_assert_nonnull (connect_error);
      tried++;
    }
  freeifaddrs (addrs);

  if (tried == 0)
    g_test_message ("This machine has no address besides loopback");
}

static void
test_dispose_closes (void)
{
  g_autoptr(GError) error = NULL;
  CkLoopbackServer *server = ck_loopback_server_new (STATE, &error);
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  guint port;

  g_assert_no_error (error);
  port = ck_loopback_server_get_port (server);
  g_object_unref (server);

  connection = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_null (connection);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
}

static void
test_parse (void)
{
  static const struct {
    const char *path;
    const char *query;
    int         error;      /* -1: success */
    const char *code;
  } cases[] = {
    { "/callback", "code=abc&state=" STATE, -1, "abc" },
    { "/callback", "state=" STATE "&code=a%2Bb%3D&scope=x", -1, "a+b=" },
    { "/callback", "code=abc&state=" STATE "&error_description=x", -1, "abc" },
    { "/", "code=abc&state=" STATE, CK_LOOPBACK_ERROR_NOT_FOUND, NULL },
    { "/callback/", "code=abc&state=" STATE, CK_LOOPBACK_ERROR_NOT_FOUND, NULL },
    { NULL, "code=abc&state=" STATE, CK_LOOPBACK_ERROR_NOT_FOUND, NULL },
    { "/callback", NULL, CK_LOOPBACK_ERROR_MALFORMED, NULL },
    { "/callback", "", CK_LOOPBACK_ERROR_MALFORMED, NULL },
    { "/callback", "code=abc", CK_LOOPBACK_ERROR_STATE_MISMATCH, NULL },
    { "/callback", "code=abc&state=", CK_LOOPBACK_ERROR_STATE_MISMATCH, NULL },
    { "/callback", "code=abc&state=" STATE "X", CK_LOOPBACK_ERROR_STATE_MISMATCH, NULL },
    { "/callback", "code=abc&state=X" STATE, CK_LOOPBACK_ERROR_STATE_MISMATCH, NULL },
    { "/callback", "code=abc&state=Xtate-0123456789abcdefghij", CK_LOOPBACK_ERROR_STATE_MISMATCH, NULL },
    { "/callback", "code=abc&code=def&state=" STATE, CK_LOOPBACK_ERROR_MALFORMED, NULL },
    { "/callback", "code=abc&state=" STATE "&state=" STATE, CK_LOOPBACK_ERROR_MALFORMED, NULL },
    { "/callback", "state=" STATE, CK_LOOPBACK_ERROR_MALFORMED, NULL },
    { "/callback", "code=&state=" STATE, CK_LOOPBACK_ERROR_MALFORMED, NULL },
    { "/callback", "code=a+b&state=" STATE, CK_LOOPBACK_ERROR_MALFORMED, NULL },
    { "/callback", "code=a%00b&state=" STATE, CK_LOOPBACK_ERROR_MALFORMED, NULL },
    { "/callback", "code=%zz&state=" STATE, CK_LOOPBACK_ERROR_MALFORMED, NULL },
    { "/callback", "error=access_denied&state=" STATE, CK_LOOPBACK_ERROR_DECLINED, NULL },
    { "/callback", "error=server_error&code=abc&state=" STATE, CK_LOOPBACK_ERROR_DECLINED, NULL },
    { "/callback", "error=access_denied", CK_LOOPBACK_ERROR_STATE_MISMATCH, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *code = NULL;
      gboolean ok;

      g_test_message ("case %u: %s ? %s", i, cases[i].path, cases[i].query);
      ok = ck_loopback_parse_callback (cases[i].path, cases[i].query, STATE, &code, &error);

      if (cases[i].error < 0)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_cmpstr (code, ==, cases[i].code);
        }
      else
        {
          g_assert_false (ok);
          g_assert_null (code);
          g_assert_error (error, CK_LOOPBACK_ERROR, cases[i].error);
          /* Neither the code nor the state is ever in a message. */
          g_assert_null (strstr (error->message, "abc"));
          g_assert_null (strstr (error->message, STATE));
        }
    }

  /* A long code from a weird server. */
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *code = NULL;
    g_autofree char *query = NULL;
    g_autofree char *big = g_strnfill (5000, 'a');

    query = g_strdup_printf ("code=%s&state=" STATE, big);
    g_assert_false (ck_loopback_parse_callback ("/callback", query, STATE, &code, &error));
    g_assert_error (error, CK_LOOPBACK_ERROR, CK_LOOPBACK_ERROR_MALFORMED);
  }
}

int
main (int   argc,
      char *argv[])
{
  /* The isolated XDG dirs hide the system's GSettings schemas, which
   * GNOME's proxy resolver needs; these tests only talk to loopback.
   */
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/loopback/parse", test_parse);
  g_test_add_func ("/loopback/redirect-uri", test_redirect_uri);
  g_test_add_func ("/loopback/wrong-path-then-callback", test_wrong_path_then_callback);
  g_test_add_func ("/loopback/wrong-state", test_wrong_state);
  g_test_add_func ("/loopback/second-callback-refused", test_second_callback_refused);
  g_test_add_func ("/loopback/declined", test_declined);
  g_test_add_func ("/loopback/timeout", test_timeout);
  g_test_add_func ("/loopback/cancel", test_cancel);
  g_test_add_func ("/loopback/early-callback", test_early_callback);
  g_test_add_func ("/loopback/method", test_method);
  g_test_add_func ("/loopback/loopback-only", test_loopback_only);
  g_test_add_func ("/loopback/dispose-closes", test_dispose_closes);

  return g_test_run ();
}
