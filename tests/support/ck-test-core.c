/* ck-test-core.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "ck-test-core.h"

#define WAIT_TIMEOUT_SEC 20

static GSubprocess *fake_server;
static char        *fake_dir;
static char        *fake_base;
static SoupSession *control;

/* Main loop */

static gboolean
flag_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

void
ck_test_run_until (const gboolean *flag)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (WAIT_TIMEOUT_SEC, flag_cb, &timed_out);

  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);

  if (timed_out)
    g_error ("Timed out waiting in the main loop");
  g_source_remove (id);
}

void
ck_test_run_for (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, flag_cb, &done);
  ck_test_run_until (&done);
}

void
ck_test_async_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  CkTestAsync *async = user_data;

  async->result = g_object_ref (result);
  async->done = TRUE;
}

GAsyncResult *
ck_test_async_wait (CkTestAsync *async)
{
  ck_test_run_until (&async->done);
  return async->result;
}

void
ck_test_async_clear (CkTestAsync *async)
{
  g_clear_object (&async->result);
  async->done = FALSE;
}

/* The keyring */

void
ck_test_store_load (CkTokenStore *store)
{
  g_autoptr(GError) error = NULL;
  CkTestAsync async = { 0 };

  ck_token_store_load_async (store, NULL, ck_test_async_cb, &async);
  g_assert_true (ck_token_store_load_finish (store, ck_test_async_wait (&async), &error));
  g_assert_no_error (error);
  ck_test_async_clear (&async);
}

void
ck_test_store_clear (CkTokenStore *store)
{
  g_autoptr(GError) error = NULL;
  CkTestAsync async = { 0 };

  ck_token_store_clear_async (store, NULL, NULL, ck_test_async_cb, &async);
  g_assert_true (ck_token_store_clear_finish (store, ck_test_async_wait (&async), &error));
  g_assert_no_error (error);
  ck_test_async_clear (&async);
  ck_test_store_load (store);
}

void
ck_test_store_set_oauth (CkTokenStore  *store,
                         CkOAuthTokens *tokens)
{
  g_autoptr(GError) error = NULL;
  CkTestAsync async = { 0 };

  ck_token_store_set_oauth_async (store, tokens, NULL, ck_test_async_cb, &async);
  g_assert_true (ck_token_store_set_oauth_finish (store, ck_test_async_wait (&async), &error));
  g_assert_no_error (error);
  ck_test_async_clear (&async);
}

void
ck_test_store_set_api_key (CkTokenStore *store,
                           const char   *key)
{
  g_autoptr(GError) error = NULL;
  CkTestAsync async = { 0 };

  ck_token_store_set_api_key_async (store, key, NULL, ck_test_async_cb, &async);
  g_assert_true (ck_token_store_set_api_key_finish (store, ck_test_async_wait (&async), &error));
  g_assert_no_error (error);
  ck_test_async_clear (&async);
}

/* The log */

static GPtrArray *log_messages;

static GLogWriterOutput
capture_writer (GLogLevelFlags   log_level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (strcmp (fields[i].key, "MESSAGE") == 0)
      g_ptr_array_add (log_messages,
                       fields[i].length < 0
                         ? g_strdup (fields[i].value)
                         : g_strndup (fields[i].value, fields[i].length));

  /* Progress and debug output would only clutter the TAP stream. */
  if (log_level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO | G_LOG_LEVEL_MESSAGE))
    return G_LOG_WRITER_HANDLED;

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

GPtrArray *
ck_test_capture_log (void)
{
  g_assert_null (log_messages);

  /* Every debug message reaches capture_writer(). */
  g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
  log_messages = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (capture_writer, NULL, NULL);
  return log_messages;
}

/* Another local user */

gboolean
ck_test_can_switch_user (void)
{
  g_autofree char *setpriv = g_find_program_in_path ("setpriv");

  if (setpriv == NULL ||
      !g_file_test (CK_TEST_CURL, G_FILE_TEST_IS_EXECUTABLE) ||
      !g_file_test (CK_TEST_PYTHON3, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("setpriv, " CK_TEST_CURL " or " CK_TEST_PYTHON3 " is missing");
      return FALSE;
    }
  if (geteuid () != 0)
    {
      g_test_skip ("only root can act as another user");
      return FALSE;
    }
  return TRUE;
}

typedef struct
{
  gboolean  done;
  char     *line;
} ReadLine;

static void
read_line_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  ReadLine *read = user_data;
  g_autoptr(GError) error = NULL;

  read->line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (object), result,
                                                     NULL, &error);
  g_assert_no_error (error);
  read->done = TRUE;
}

GSubprocess *
ck_test_hold_connections (guint16  port,
                          guint    count,
                          guint   *open)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GDataInputStream) lines = NULL;
  g_autofree char *script = NULL;
  g_autofree char *text = NULL;
  g_autofree char *port_arg = g_strdup_printf ("%u", port);
  g_autofree char *count_arg = g_strdup_printf ("%u", count);
  ReadLine read = { 0 };

  if (g_getenv ("CK_SOURCE_ROOT") == NULL)
    g_error ("CK_SOURCE_ROOT is not set; run the tests with meson test");

  /* Its text, as nobody may not be able to read the tree. */
  script = g_build_filename (g_getenv ("CK_SOURCE_ROOT"), "tests", "support",
                             "hold-connections.py", NULL);
  g_file_get_contents (script, &text, NULL, &error);
  g_assert_no_error (error);

  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                              "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                              CK_TEST_PYTHON3, "-c", text, port_arg, count_arg, NULL);
  g_assert_no_error (error);
  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process));

  g_data_input_stream_read_line_async (lines, G_PRIORITY_DEFAULT, NULL, read_line_cb, &read);
  ck_test_run_until (&read.done);
  g_assert_nonnull (read.line);
  *open = atoi (read.line);
  g_free (read.line);
  return g_steal_pointer (&process);
}

/* The server */

GPtrArray *
ck_fake_oauth_test_init (int    *argc,
                         char ***argv)
{
  GPtrArray *log = ck_test_capture_log ();

  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_test_init (argc, argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  return log;
}

void
ck_fake_oauth_start (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *script = NULL;
  g_autofree char *port_file = NULL;
  g_autofree char *contents = NULL;
  const char *source_root = g_getenv ("CK_SOURCE_ROOT");
  guint64 port = 0;

  if (source_root == NULL)
    g_error ("CK_SOURCE_ROOT is not set; run the tests with meson test");

  script = g_build_filename (source_root, "tests", "support", "fake-oauth-server.py", NULL);
  fake_dir = g_dir_make_tmp ("ck-fake-oauth-XXXXXX", &error);
  g_assert_no_error (error);
  port_file = g_build_filename (fake_dir, "port", NULL);

  fake_server = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error,
                                  "python3", script, "--port-file", port_file,
                                  "--client-id", CK_FAKE_OAUTH_CLIENT_ID, NULL);
  g_assert_no_error (error);

  for (guint i = 0; i < 500 && !g_file_test (port_file, G_FILE_TEST_EXISTS); i++)
    g_usleep (20 * 1000);

  g_assert_true (g_file_get_contents (port_file, &contents, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_ascii_string_to_unsigned (g_strstrip (contents), 10, 1, 65535, &port, &error));
  g_assert_no_error (error);

  fake_base = g_strdup_printf ("http://127.0.0.1:%u", (guint) port);
  control = soup_session_new ();
}

void
ck_fake_oauth_stop (void)
{
  g_autofree char *port_file = g_build_filename (fake_dir, "port", NULL);

  g_subprocess_force_exit (fake_server);
  g_subprocess_wait (fake_server, NULL, NULL);
  g_clear_object (&fake_server);
  g_clear_object (&control);
  g_unlink (port_file);
  g_rmdir (fake_dir);
  g_clear_pointer (&fake_dir, g_free);
  g_clear_pointer (&fake_base, g_free);
}

const char *
ck_fake_oauth_get_base (void)
{
  g_assert_nonnull (fake_base);
  return fake_base;
}

char *
ck_fake_oauth_url (const char *path)
{
  return g_strconcat (ck_fake_oauth_get_base (), path, NULL);
}

static JsonNode *
control_request (const char *method,
                 const char *path,
                 const char *json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree char *url = ck_fake_oauth_url (path);

  msg = soup_message_new (method, url);
  if (json != NULL)
    {
      g_autoptr(GBytes) request = g_bytes_new (json, strlen (json));

      soup_message_set_request_body_from_bytes (msg, "application/json", request);
    }

  body = soup_session_send_and_read (control, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_OK);

  return json_from_string (g_bytes_get_data (body, NULL), &error);
}

void
ck_fake_oauth_reset (void)
{
  g_autoptr(JsonNode) reply = control_request ("POST", "/test/reset", "{}");
}

void
ck_fake_oauth_set_mode (const char *json)
{
  g_autoptr(JsonNode) reply = control_request ("POST", "/test/mode", json);
}

JsonObject *
ck_fake_oauth_get_stats (void)
{
  g_autoptr(JsonNode) reply = control_request ("GET", "/test/stats", NULL);

  return json_object_ref (json_node_get_object (reply));
}

gint64
ck_fake_oauth_stat_int (JsonObject *stats,
                        const char *path)
{
  g_auto(GStrv) parts = g_strsplit (path, ".", -1);
  JsonObject *object = stats;
  guint i;

  for (i = 0; parts[i + 1] != NULL; i++)
    object = json_object_get_object_member (object, parts[i]);

  return json_object_get_int_member_with_default (object, parts[i], 0);
}

/* The browser */

static SoupMessage *
browse (const char  *url,
        GError     **error)
{
  g_autoptr(SoupSession) browser = soup_session_new ();
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autoptr(GBytes) body = NULL;
  CkTestAsync fetch = { 0 };

  g_assert_nonnull (msg);
  soup_message_set_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  soup_session_send_and_read_async (browser, msg, G_PRIORITY_DEFAULT, NULL,
                                    ck_test_async_cb, &fetch);
  body = soup_session_send_and_read_finish (browser, ck_test_async_wait (&fetch), error);
  ck_test_async_clear (&fetch);
  return body != NULL ? g_steal_pointer (&msg) : NULL;
}

char *
ck_fake_oauth_authorize (const char *url)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SoupMessage) msg = browse (url, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, SOUP_STATUS_FOUND);
  g_assert_nonnull (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                  "Location"));
  return g_strdup (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                 "Location"));
}

guint
ck_fake_oauth_browse (const char  *url,
                      GError     **error)
{
  g_autoptr(SoupMessage) msg = browse (url, error);

  return msg != NULL ? soup_message_get_status (msg) : 0;
}
