/* test-loopback-server.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libsoup/soup.h>

#include "ck-error.h"
#include "ck-loopback-server.h"
#include "ck-oauth-tokens.h"
#include "ck-test-core.h"

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
fetch_message (SoupSession         *session,
               SoupMessage         *msg,
               char               **body,
               SoupMessageHeaders **headers,
               GError             **error)
{
  FetchResult result = { 0 };

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
fetch (SoupSession         *session,
       const char          *method,
       const char          *url,
       char               **body,
       SoupMessageHeaders **headers,
       GError             **error)
{
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);

  g_assert_nonnull (msg);
  return fetch_message (session, msg, body, headers, error);
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

static gboolean
have_ipv6_loopback (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);

  socket = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);

  return socket != NULL && g_socket_bind (socket, address, FALSE, NULL);
}

/* Nothing has ended the wait yet, and this user's browser still can. */
static void
assert_completes (SoupSession      *browser,
                  CkLoopbackServer *server,
                  WaitResult       *wait,
                  const char       *code)
{
  g_autofree char *path = g_strdup_printf ("/callback?code=%s&state=" STATE, code);

  run_for (100);
  g_assert_false (wait->done);
  g_assert_cmpuint (get (browser, server, path), ==, SOUP_STATUS_OK);
  run_until (&wait->done);
  g_assert_no_error (wait->error);
  g_assert_cmpstr (wait->code, ==, code);
  wait_result_clear (wait);
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
  static const char *other_methods[] = { "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH" };
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
  for (guint i = 0; i < G_N_ELEMENTS (other_methods); i++)
    {
      g_test_message ("%s /callback", other_methods[i]);
      g_assert_cmpuint (fetch (browser, other_methods[i], url, NULL, NULL, &error), ==,
                        SOUP_STATUS_METHOD_NOT_ALLOWED);
      g_assert_no_error (error);
    }
  /* Elsewhere, any method finds nothing. */
  g_clear_pointer (&url, g_free);
  url = g_strdup_printf ("http://127.0.0.1:%u/other?code=posted&state=" STATE,
                         ck_loopback_server_get_port (server));
  g_assert_cmpuint (fetch (browser, "PUT", url, NULL, NULL, &error), ==, SOUP_STATUS_NOT_FOUND);
  g_assert_no_error (error);

  assert_completes (browser, server, &wait, "got");
}

/* The connections a server keeps open at most, for its own user and for
 * anyone else (MAX_OWN_CONNECTIONS, MAX_OTHER_CONNECTIONS).
 */
#define OWN_CONNECTIONS   16
#define OTHER_CONNECTIONS 4

static const char *
authorize_url_for (CkLoopbackServer *server)
{
  static char url[512];

  g_snprintf (url, sizeof url,
              "http://127.0.0.1:9/oauth/authorize?client_id=c&state=" STATE
              "&code_challenge=challenge-0123456789&redirect_uri=http%%3A%%2F%%2Flocalhost%%3A%u%%2Fcallback",
              ck_loopback_server_get_port (server));
  return url;
}

static void
test_start (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(SoupSession) browser = browser_new ();
  g_autoptr(SoupMessageHeaders) headers = NULL;
  g_autofree char *start = NULL;
  g_autofree char *expected = NULL;
  WaitResult wait = { 0 };
  guint status;

  g_assert_no_error (error);
  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);

  /* Nothing to send the browser to yet. */
  g_assert_cmpuint (get (browser, server, "/start"), ==, SOUP_STATUS_NOT_FOUND);

  ck_loopback_server_set_authorize_url (server, authorize_url_for (server));
  start = ck_loopback_dup_start_uri (authorize_url_for (server));
  expected = g_strdup_printf ("http://localhost:%u/start", ck_loopback_server_get_port (server));
  g_assert_cmpstr (start, ==, expected);

  {
    g_autoptr(SoupMessage) msg = soup_message_new ("GET", start);

    soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
    status = fetch_message (browser, msg, NULL, &headers, &error);
    g_assert_no_error (error);
  }
  g_assert_cmpuint (status, ==, SOUP_STATUS_FOUND);
  g_assert_cmpstr (soup_message_headers_get_one (headers, "Location"), ==, authorize_url_for (server));
  g_assert_cmpstr (soup_message_headers_get_one (headers, "Cache-Control"), ==, "no-store");

  /* The browser may come through ::1: we are still us there. */
  if (have_ipv6_loopback ())
    {
      g_autoptr(SoupMessage) msg = NULL;
      g_autofree char *v6 = g_strdup_printf ("http://[::1]:%u/start", ck_loopback_server_get_port (server));

      msg = soup_message_new ("GET", v6);
      soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
      g_assert_cmpuint (fetch_message (browser, msg, NULL, NULL, &error), ==, SOUP_STATUS_FOUND);
      g_assert_no_error (error);
    }

  /* /start is for GET, and does not end the login. */
  g_assert_cmpuint (fetch (browser, "DELETE", start, NULL, NULL, &error), ==,
                    SOUP_STATUS_METHOD_NOT_ALLOWED);
  g_assert_no_error (error);

  assert_completes (browser, server, &wait, "after-start");
}

static void
test_start_uri (void)
{
  static const struct {
    const char *url;
    const char *start;
  } cases[] = {
    { "https://claude.com/cai/oauth/authorize?code=true&client_id=c"
      "&redirect_uri=http%3A%2F%2Flocalhost%3A45678%2Fcallback&state=s", "http://localhost:45678/start" },
    /* A manual login returns to a page of the server. */
    { "https://claude.com/cai/oauth/authorize?client_id=c"
      "&redirect_uri=https%3A%2F%2Fplatform.claude.com%2Foauth%2Fcode%2Fcallback&state=s", NULL },
    { "https://claude.com/cai/oauth/authorize?redirect_uri=http%3A%2F%2F127.0.0.1%3A45678%2Fcallback", NULL },
    { "https://claude.com/cai/oauth/authorize?redirect_uri=http%3A%2F%2Flocalhost%3A45678%2Fother", NULL },
    { "https://claude.com/cai/oauth/authorize?redirect_uri=http%3A%2F%2Flocalhost%2Fcallback", NULL },
    { "https://claude.com/cai/oauth/authorize?state=s", NULL },
    { "https://claude.com/cai/oauth/authorize", NULL },
    { "not a url", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *start = ck_loopback_dup_start_uri (cases[i].url);

      g_test_message ("case %u: %s", i, cases[i].url);
      g_assert_cmpstr (start, ==, cases[i].start);
    }
}

/* Another local user */

static gboolean
skip_under_valgrind (void)
{
  if (g_getenv ("CK_TEST_VALGRIND") == NULL)
    return FALSE;
  g_test_skip ("raw connections are reset under valgrind");
  return TRUE;
}

static gboolean
can_switch_user (void)
{
  return ck_test_can_switch_user () && !skip_under_valgrind ();
}

typedef struct
{
  gboolean  done;
  char     *out;
} SpawnResult;

static void
communicate_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  SpawnResult *spawn = user_data;
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (object), result, &spawn->out, NULL, &error);
  g_assert_no_error (error);
  spawn->done = TRUE;
}

/* Runs ARGV as nobody while the main loop serves; returns its stdout. */
static char *
run_as_nobody (const char *stdin_text,
               ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  SpawnResult spawn = { 0 };
  const char *arg;
  va_list args;

  g_ptr_array_add (argv, (char *) "setpriv");
  g_ptr_array_add (argv, (char *) "--reuid=nobody");
  g_ptr_array_add (argv, (char *) "--regid=nogroup");
  g_ptr_array_add (argv, (char *) "--clear-groups");
  va_start (args, stdin_text);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  process = g_subprocess_newv ((const char * const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                               &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (process, stdin_text, NULL, communicate_cb, &spawn);
  run_until (&spawn.done);

  return spawn.out;
}

/* curl as nobody: "STATUS LOCATION". */
static char *
curl_as_nobody (CkLoopbackServer *server,
                const char       *path_and_query)
{
  g_autofree char *url = NULL;

  url = g_strdup_printf ("http://127.0.0.1:%u%s", ck_loopback_server_get_port (server), path_and_query);
  return run_as_nobody (NULL, CK_TEST_CURL, "-q", "-s", "--noproxy", "*", "-o", "/dev/null",
                        "-w", "%{http_code} %{redirect_url}", url, NULL);
}

static void
test_other_user (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = NULL;
  g_autoptr(SoupSession) browser = browser_new ();
  g_autofree char *callback = NULL;
  g_autofree char *start = NULL;
  WaitResult wait = { 0 };

  if (!can_switch_user ())
    return;

  server = ck_loopback_server_new (STATE, &error);
  g_assert_no_error (error);
  ck_loopback_server_set_authorize_url (server, authorize_url_for (server));
  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);

  /* Another user who read the state: their code is not taken. */
  callback = curl_as_nobody (server, "/callback?code=someone-elses&state=" STATE);
  g_assert_cmpstr (callback, ==, "403 ");
  /* Nor do they learn the authorize URL. */
  start = curl_as_nobody (server, "/start");
  g_assert_cmpstr (start, ==, "403 ");

  assert_completes (browser, server, &wait, "mine");
}

static void
test_other_user_connections (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = NULL;
  g_autoptr(SoupSession) browser = browser_new ();
  g_autoptr(GSubprocess) process = NULL;
  WaitResult wait = { 0 };
  guint open;

  if (!can_switch_user ())
    return;

  server = ck_loopback_server_new (STATE, &error);
  g_assert_no_error (error);
  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);

  /* The server accepts in this loop while the other user counts. */
  process = ck_test_hold_connections (ck_loopback_server_get_port (server), 20, &open);
  g_assert_cmpint (open, ==, OTHER_CONNECTIONS);

  /* Their connections, still open, take none of the browser's. */
  assert_completes (browser, server, &wait, "still-mine");

  g_output_stream_close (g_subprocess_get_stdin_pipe (process), NULL, NULL);
  g_subprocess_wait (process, NULL, &error);
  g_assert_no_error (error);
}

static void
test_own_connections (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GPtrArray) connections = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(SoupSession) browser = browser_new ();
  WaitResult wait = { 0 };
  guint open = 0;

  g_assert_no_error (error);
  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);

  for (guint i = 0; i < OWN_CONNECTIONS + 8; i++)
    {
      GSocketConnection *connection;

      connection = g_socket_client_connect_to_host (client, "127.0.0.1",
                                                    ck_loopback_server_get_port (server),
                                                    NULL, &error);
      g_assert_no_error (error);
      g_ptr_array_add (connections, connection);
      /* Let the server accept it: the kernel queues only a few. */
      run_for (20);
    }
  run_for (200);

  /* An idle connection the server dropped reads as closed. */
  for (guint i = 0; i < connections->len; i++)
    {
      GSocket *socket = g_socket_connection_get_socket (connections->pdata[i]);
      char byte;

      if (!g_socket_condition_check (socket, G_IO_IN) ||
          g_socket_receive_with_blocking (socket, &byte, 1, FALSE, NULL, NULL) != 0)
        open++;
    }
  g_assert_cmpuint (open, ==, OWN_CONNECTIONS);

  /* Closed connections no longer count. */
  g_ptr_array_set_size (connections, 0);
  run_for (200);

  assert_completes (browser, server, &wait, "room-again");
}

/* A request with a body */

static gsize
rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  line = strstr (status, "\nVmRSS:");
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen ("\nVmRSS:"), NULL, 10);
}

typedef struct
{
  guint        port;
  const char  *head;
  gsize        body_size;
  gsize        sent;
  char        *reply;
} Upload;

/* A client that sends a head and then a body, as fast as the server lets
 * it, and stops when an answer arrives (as curl does); in a thread, as
 * its writes block.
 */
static gpointer
upload_thread (gpointer data)
{
  Upload *upload = data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *chunk = g_malloc0 (64 * 1024);
  GString *reply = g_string_new (NULL);
  GSocket *socket;
  char buffer[4096];
  gssize n;

  connection = g_socket_client_connect_to_host (client, "127.0.0.1", upload->port, NULL, &error);
  g_assert_no_error (error);
  socket = g_socket_connection_get_socket (connection);
  g_socket_set_timeout (socket, 10);

  g_assert_cmpint (g_socket_send (socket, upload->head, strlen (upload->head), NULL, NULL), ==,
                   (gssize) strlen (upload->head));
  while (upload->sent < upload->body_size && !g_socket_condition_check (socket, G_IO_IN))
    {
      n = g_socket_send (socket, chunk, MIN (64 * 1024, upload->body_size - upload->sent), NULL, NULL);
      if (n <= 0)
        break;
      upload->sent += n;
    }

  while ((n = g_socket_receive (socket, buffer, sizeof buffer, NULL, NULL)) > 0)
    g_string_append_len (reply, buffer, n);

  upload->reply = g_string_free (reply, FALSE);
  return NULL;
}

static char *
upload (CkLoopbackServer *server,
        const char       *head,
        gsize             body_size,
        gsize            *sent)
{
  Upload upload = { ck_loopback_server_get_port (server), head, body_size, 0, NULL };
  GThread *thread = g_thread_new ("upload", upload_thread, &upload);

  while (g_atomic_pointer_get (&upload.reply) == NULL)
    g_main_context_iteration (NULL, FALSE), g_usleep (1000);
  g_thread_join (thread);

  if (sent != NULL)
    *sent = upload.sent;
  return upload.reply;
}

static void
test_body_refused (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(SoupSession) browser = browser_new ();
  g_autofree char *url = NULL;
  WaitResult wait = { 0 };
  gsize before;
  gsize after;
  gsize sent;

  if (skip_under_valgrind ())
    return;
  g_assert_no_error (error);
  ck_loopback_server_wait_async (server, 60, NULL, wait_cb, &wait);

  /* 100 MiB after the head, with this login's state: refused before it
   * is read, and the memory stays where it was.
   */
  before = rss_kib ();
  {
    g_autofree char *reply = upload (server,
                                     "POST /callback?code=posted&state=" STATE " HTTP/1.1\r\n"
                                     "Host: localhost\r\n"
                                     "Content-Length: 104857600\r\n\r\n",
                                     100 * 1024 * 1024, &sent);

    g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 413 "));
    g_assert_nonnull (strstr (reply, "\r\nConnection: close\r\n"));
  }
  after = rss_kib ();
  g_test_message ("RSS %zu KiB before, %zu KiB after; %zu bytes of the body sent", before, after, sent);
  g_assert_cmpuint (after, <, before + 4 * 1024);

  /* Chunked, to any path. */
  {
    g_autofree char *reply = upload (server,
                                     "POST /elsewhere HTTP/1.1\r\n"
                                     "Host: localhost\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n"
                                     "5\r\nhello\r\n",
                                     0, NULL);

    g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 413 "));
  }

  /* An empty body is no body. */
  url = g_strdup_printf ("http://127.0.0.1:%u/callback?code=posted&state=" STATE,
                         ck_loopback_server_get_port (server));
  g_assert_cmpuint (fetch (browser, "POST", url, NULL, NULL, &error), ==,
                    SOUP_STATUS_METHOD_NOT_ALLOWED);
  g_assert_no_error (error);

  /* libsoup's own cap: a request head over 64 KiB is refused. */
  {
    g_autofree char *filler = g_strnfill (256 * 1024, 'a');
    g_autofree char *head = g_strdup_printf ("GET /callback?code=long&state=" STATE " HTTP/1.1\r\n"
                                             "Host: localhost\r\nX-Filler: %s\r\n\r\n", filler);
    g_autofree char *reply = upload (server, head, 0, NULL);

    g_assert_false (g_str_has_prefix (reply, "HTTP/1.1 2"));
  }

  assert_completes (browser, server, &wait, "got");
}

static void
test_peer_uid_from_proc_net (void)
{
  g_autoptr(GInetAddress) v4 = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GInetAddress) v6 = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
  g_autoptr(GSocketAddress) local4 = g_inet_socket_address_new (v4, 0x9C40);
  g_autoptr(GSocketAddress) remote4 = g_inet_socket_address_new (v4, 0xC350);
  g_autoptr(GSocketAddress) unknown4 = g_inet_socket_address_new (v4, 0xC351);
  g_autoptr(GSocketAddress) local6 = g_inet_socket_address_new (v6, 0x9C40);
  g_autoptr(GSocketAddress) remote6 = g_inet_socket_address_new (v6, 0xC350);
  uid_t uid = 0;
  /* A little-endian machine's view of 127.0.0.1 and ::1: our end is port
   * 0x9C40, the peer's 0xC350; line 2 is a socket of that port to another.
   */
  const char *tcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0100007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
    "   1: 0100007F:9C40 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n"
    "   2: 0100007F:C350 0100007F:9C41 01 00000000:00000000 00:00000000 00000000  1002        0 3 1\n"
    "   3: 0100007F:C350 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1001        0 4 1\n";
  const char *tcp6 =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:C350 00000000000000000000000001000000:9C40 01 00000000:00000000 00:00000000 00000000  1003        0 5 1\n";

  if (G_BYTE_ORDER != G_LITTLE_ENDIAN)
    {
      g_test_skip ("the table is written as a little-endian machine shows it");
      return;
    }

  g_assert_true (ck_loopback_peer_uid_from_proc_net (tcp, G_INET_SOCKET_ADDRESS (local4),
                                                     G_INET_SOCKET_ADDRESS (remote4), &uid));
  g_assert_cmpuint (uid, ==, 1001);
  g_assert_true (ck_loopback_peer_uid_from_proc_net (tcp6, G_INET_SOCKET_ADDRESS (local6),
                                                     G_INET_SOCKET_ADDRESS (remote6), &uid));
  g_assert_cmpuint (uid, ==, 1003);
  /* A peer the table does not hold. */
  g_assert_false (ck_loopback_peer_uid_from_proc_net (tcp, G_INET_SOCKET_ADDRESS (local4),
                                                      G_INET_SOCKET_ADDRESS (unknown4), &uid));
  g_assert_false (ck_loopback_peer_uid_from_proc_net (tcp6, G_INET_SOCKET_ADDRESS (local4),
                                                      G_INET_SOCKET_ADDRESS (remote4), &uid));
  g_assert_false (ck_loopback_peer_uid_from_proc_net ("", G_INET_SOCKET_ADDRESS (local4),
                                                      G_INET_SOCKET_ADDRESS (remote4), &uid));
}

/* The fallback against the kernel's real table, for a real connection. */
static void
test_peer_uid_real_table (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CkLoopbackServer) server = ck_loopback_server_new (STATE, &error);
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GSocketAddress) ours = NULL;
  g_autoptr(GSocketAddress) theirs = NULL;
  g_autofree char *table = NULL;
  uid_t uid = (uid_t) -1;

  g_assert_no_error (error);
  connection = g_socket_client_connect_to_host (client, "127.0.0.1",
                                                ck_loopback_server_get_port (server), NULL, &error);
  g_assert_no_error (error);

  /* From the server's side: its end is the client's remote address. */
  ours = g_socket_connection_get_remote_address (connection, &error);
  theirs = g_socket_connection_get_local_address (connection, &error);
  g_assert_no_error (error);

  if (!g_file_get_contents ("/proc/net/tcp", &table, NULL, NULL))
    {
      g_test_skip ("no /proc/net/tcp here");
      return;
    }
  g_assert_true (ck_loopback_peer_uid_from_proc_net (table, G_INET_SOCKET_ADDRESS (ours),
                                                     G_INET_SOCKET_ADDRESS (theirs), &uid));
  g_assert_cmpuint (uid, ==, geteuid ());
}

static void
test_listener_from_proc_net (void)
{
  g_autoptr(GInetAddress) v4 = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GInetAddress) v6 = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
  static const struct { gboolean ipv6; guint16 port; gboolean found; uid_t uid; } cases[] = {
    { FALSE, 0x9C40, TRUE, 1004 },   /* bound to 127.0.0.1 */
    { FALSE, 0x9C41, TRUE, 1005 },   /* to any IPv4 address */
    { FALSE, 0x9C42, TRUE, 1006 },   /* to any IPv6 address, which takes IPv4 too */
    { TRUE, 0x9C42, TRUE, 1006 },
    { TRUE, 0x9C43, TRUE, 1007 },    /* bound to ::1 */
    { FALSE, 0x9C43, FALSE, 0 },
    { FALSE, 0xC350, FALSE, 0 },     /* connected sockets on that port, no listener */
  };
  /* As a little-endian machine shows them. */
  const char *tcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0100007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1004        0 1 1\n"
    "   1: 00000000:9C41 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1005        0 2 1\n"
    "   2: 0100007F:C350 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1001        0 3 1\n";
  const char *tcp6 =
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000000000000:9C42 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1006        0 4 1\n"
    "   1: 00000000000000000000000001000000:9C43 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1007        0 5 1\n";

  if (G_BYTE_ORDER != G_LITTLE_ENDIAN)
    {
      g_test_skip ("the tables are written as a little-endian machine shows them");
      return;
    }

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GSocketAddress) server = g_inet_socket_address_new (cases[i].ipv6 ? v6 : v4,
                                                                    cases[i].port);
      uid_t uid = (uid_t) -1;

      g_test_message ("case %u", i);
      g_assert_cmpint (ck_loopback_listener_from_proc_net (tcp, tcp6, G_INET_SOCKET_ADDRESS (server),
                                                           &uid), ==, cases[i].found);
      if (cases[i].found)
        g_assert_cmpuint (uid, ==, cases[i].uid);
      /* Without the tables (unreadable), nothing is known. */
      g_assert_false (ck_loopback_listener_from_proc_net (NULL, NULL, G_INET_SOCKET_ADDRESS (server),
                                                          &uid));
    }
}

/* The kernel's answer, and the fallback's, for real listeners of ours. */
static void
test_listener_real (void)
{
  GSocketFamily families[] = { G_SOCKET_FAMILY_IPV4, G_SOCKET_FAMILY_IPV6 };
  g_autofree char *tcp = NULL;
  g_autofree char *tcp6 = NULL;

  g_file_get_contents ("/proc/net/tcp", &tcp, NULL, NULL);
  g_file_get_contents ("/proc/net/tcp6", &tcp6, NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      g_autoptr(GSocketListener) listener = g_socket_listener_new ();
      g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (families[i]);
      g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
      g_autoptr(GSocketAddress) bound = NULL;
      g_autoptr(GSocketAddress) closed = NULL;
      g_autoptr(GError) error = NULL;
      uid_t uid = (uid_t) -1;
      guint16 port;

      if (families[i] == G_SOCKET_FAMILY_IPV6 && !have_ipv6_loopback ())
        {
          g_test_message ("No IPv6 loopback here");
          continue;
        }
      g_assert_true (g_socket_listener_add_address (listener, any_port, G_SOCKET_TYPE_STREAM,
                                                    G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error));
      g_assert_no_error (error);
      port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

      g_assert_true (ck_loopback_listener_is_us (G_INET_SOCKET_ADDRESS (bound), &uid));
      g_assert_cmpuint (uid, ==, geteuid ());
      g_clear_pointer (&tcp, g_free);
      g_clear_pointer (&tcp6, g_free);
      g_file_get_contents ("/proc/net/tcp", &tcp, NULL, NULL);
      g_file_get_contents ("/proc/net/tcp6", &tcp6, NULL, NULL);
      if (tcp != NULL && tcp6 != NULL)
        {
          uid = (uid_t) -1;
          g_assert_true (ck_loopback_listener_from_proc_net (tcp, tcp6, G_INET_SOCKET_ADDRESS (bound),
                                                             &uid));
          g_assert_cmpuint (uid, ==, geteuid ());
        }

      /* Nobody listens once it is closed: not us either. */
      g_socket_listener_close (listener);
      closed = g_inet_socket_address_new (loopback, port);
      g_assert_false (ck_loopback_listener_is_us (G_INET_SOCKET_ADDRESS (closed), &uid));
      g_assert_cmpint (uid, ==, (uid_t) -1);
    }
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
  g_test_add_func ("/loopback/start", test_start);
  g_test_add_func ("/loopback/start-uri", test_start_uri);
  g_test_add_func ("/loopback/other-user", test_other_user);
  g_test_add_func ("/loopback/other-user-connections", test_other_user_connections);
  g_test_add_func ("/loopback/own-connections", test_own_connections);
  g_test_add_func ("/loopback/body-refused", test_body_refused);
  g_test_add_func ("/loopback/peer-uid-proc-net", test_peer_uid_from_proc_net);
  g_test_add_func ("/loopback/peer-uid-real-table", test_peer_uid_real_table);
  g_test_add_func ("/loopback/listener-proc-net", test_listener_from_proc_net);
  g_test_add_func ("/loopback/listener-real", test_listener_real);
  g_test_add_func ("/loopback/loopback-only", test_loopback_only);
  g_test_add_func ("/loopback/dispose-closes", test_dispose_closes);

  return g_test_run ();
}
