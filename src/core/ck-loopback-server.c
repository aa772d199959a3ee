/* ck-loopback-server.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-loopback-server"

#include "config.h"

#include <string.h>

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

#define CONTENT_SECURITY_POLICY \
  "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

typedef char CkSecretString;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CkSecretString, ck_secret_free)

struct _CkLoopbackServer
{
  GObject     parent_instance;

  SoupServer *server;
  char       *expected_state;
  guint       port;

  /* The pending wait and what ends it. */
  GTask      *task;
  GSource    *timeout_source;
  GSource    *cancel_source;
  guint       timeout_seconds;

  /* A result that arrived: delivered once the browser has its page. */
  char       *code;
  GError     *error;
  GSource    *close_source;

  /* A callback ended the login: later requests are refused. */
  guint       finished : 1;
  /* The listeners are gone. */
  guint       closed : 1;
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
      soup_server_disconnect (self->server);
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

  if (g_strcmp0 (path, CK_LOOPBACK_CALLBACK_PATH) == 0 &&
      g_strcmp0 (soup_server_message_get_method (msg), SOUP_METHOD_GET) != 0)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Allow", "GET");
      respond_page (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Not allowed",
                    "The login callback only answers GET requests.");
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
  for (guint attempt = 0; attempt < LISTEN_ATTEMPTS; attempt++)
    {
      g_autoptr(GError) v6_error = NULL;
      GSList *uris;

      if (!soup_server_listen_local (self->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, error))
        return FALSE;

      uris = soup_server_get_uris (self->server);
      g_assert (uris != NULL);
      self->port = g_uri_get_port (uris->data);
      g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

      /* Browsers may resolve "localhost" to ::1 first. */
      if (soup_server_listen_local (self->server, self->port,
                                    SOUP_SERVER_LISTEN_IPV6_ONLY, &v6_error))
        return TRUE;

      /* Someone else holds ::1 on this port and could receive the code
       * meant for us: take another port.
       */
      if (g_error_matches (v6_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        {
          g_debug ("Port %u is taken on ::1, trying another", self->port);
          soup_server_disconnect (self->server);
          self->port = 0;
          continue;
        }

      /* No IPv6 loopback here: 127.0.0.1 alone is fine. */
      g_debug ("Not listening on ::1: %s", v6_error->message);
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
      soup_server_disconnect (self->server);
      self->closed = TRUE;
      g_clear_object (&self->server);
    }

  g_clear_object (&self->task);

  G_OBJECT_CLASS (ck_loopback_server_parent_class)->dispose (object);
}

static void
ck_loopback_server_finalize (GObject *object)
{
  CkLoopbackServer *self = (CkLoopbackServer *)object;

  g_clear_pointer (&self->expected_state, ck_secret_free);
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
}

/**
 * ck_loopback_server_new:
 * @expected_state: the state of the login this server receives
 * @error: a #GError
 *
 * Starts listening on a random port of 127.0.0.1, and on the same port
 * of ::1 when the machine has IPv6 (browsers may resolve `localhost`
 * there first). Never on any other interface.
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
 * for other paths get a 404 page and a callback with another state a 400
 * page; neither ends the wait. A callback that accepts or declines the
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
