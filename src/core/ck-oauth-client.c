/* ck-oauth-client.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-oauth-client"

#include "config.h"

#include <string.h>

#include <libsoup/soup.h>

#include "ck-config.h"
#include "ck-oauth-client.h"

/* Token and profile replies are a few hundred bytes; a server sending
 * more than this is broken or hostile.
 */
#define MAX_REPLY_SIZE (1024 * 1024)
#define READ_CHUNK     16384

#define OAUTH_BETA "oauth-2025-04-20"

struct _CkOAuthClient
{
  GObject      parent_instance;

  SoupSession *session;
  char        *token_url;
  char        *revoke_url;
  char        *api_base_url;
  char        *client_id;
  guint        timeout;
};

G_DEFINE_FINAL_TYPE (CkOAuthClient, ck_oauth_client, G_TYPE_OBJECT)

G_DEFINE_QUARK (ck-oauth-error-quark, ck_oauth_error)

enum {
  PROP_0,
  PROP_TOKEN_URL,
  PROP_REVOKE_URL,
  PROP_API_BASE_URL,
  PROP_CLIENT_ID,
  PROP_TIMEOUT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

typedef enum
{
  REQUEST_EXCHANGE,
  REQUEST_REFRESH,
  REQUEST_PROFILE,
  REQUEST_REVOKE,
} RequestKind;

/* One HTTP exchange, the data of its GTask. */
typedef struct
{
  RequestKind    kind;
  SoupMessage   *message;
  /* Passed to libsoup; cancelled by the deadline or the caller's. */
  GCancellable  *cancellable;
  GSource       *caller_cancelled;
  GSource       *deadline;
  GInputStream  *stream;
  char          *reply;
  gsize          reply_length;
  gsize          reply_capacity;
  char          *host;
  guint          timeout;
  guint          timed_out : 1;
  CkOAuthTokens *tokens;
} Request;

/* The error codes of RFC 6749 §5.2 and RFC 7009 §2.2.1: the only part of
 * an error reply that may be repeated in a message, as they are known
 * constants rather than text from the server.
 */
static const char *oauth_error_codes[] = {
  "invalid_request", "invalid_client", "invalid_grant",
  "unauthorized_client", "unsupported_grant_type", "invalid_scope",
  "unsupported_token_type", "server_error", "temporarily_unavailable",
  NULL,
};

/* Called as soon as the outcome is known: the caller may keep the result
 * (and with it this request) around for a long time.
 */
static void
request_stop_timers (Request *req)
{
  if (req->deadline != NULL)
    {
      g_source_destroy (req->deadline);
      g_clear_pointer (&req->deadline, g_source_unref);
    }

  if (req->caller_cancelled != NULL)
    {
      g_source_destroy (req->caller_cancelled);
      g_clear_pointer (&req->caller_cancelled, g_source_unref);
    }
}

static void
request_free (Request *req)
{
  request_stop_timers (req);

  if (req->reply != NULL)
    {
      explicit_bzero (req->reply, req->reply_capacity);
      g_free (req->reply);
    }

  g_clear_object (&req->stream);
  g_clear_object (&req->message);
  g_clear_object (&req->cancellable);
  g_clear_pointer (&req->tokens, ck_oauth_tokens_unref);
  g_free (req->host);
  g_free (req);
}

static void
wipe_and_free (gpointer data)
{
  ck_secret_free (data);
}

/* A JSON object of string members, built by hand into a buffer large
 * enough from the start: json-glib would leave copies of the secrets in
 * memory it frees without wiping.
 */
static GBytes *
json_object_body (const char *first_name,
                  ...)
{
  GString *out;
  va_list args;
  gsize bound = 3;
  gboolean first = TRUE;
  gsize length;
  char *data;

  va_start (args, first_name);
  for (const char *name = first_name; name != NULL; name = va_arg (args, const char *))
    {
      const char *value = va_arg (args, const char *);

      bound += strlen (name) + 6 * strlen (value) + 8;
    }
  va_end (args);

  out = g_string_sized_new (bound);
  g_string_append_c (out, '{');

  va_start (args, first_name);
  for (const char *name = first_name; name != NULL; name = va_arg (args, const char *))
    {
      const char *value = va_arg (args, const char *);

      if (!first)
        g_string_append_c (out, ',');
      first = FALSE;

      g_string_append_printf (out, "\"%s\":\"", name);
      for (const guchar *p = (const guchar *) value; *p != '\0'; p++)
        {
          if (*p == '"' || *p == '\\')
            {
              g_string_append_c (out, '\\');
              g_string_append_c (out, *p);
            }
          else if (*p < 0x20)
            g_string_append_printf (out, "\\u%04x", *p);
          else
            g_string_append_c (out, *p);
        }
      g_string_append_c (out, '"');
    }
  va_end (args);

  g_string_append_c (out, '}');
  g_assert (out->len < bound);

  length = out->len;
  data = g_string_free (out, FALSE);

  return g_bytes_new_with_free_func (data, length, wipe_and_free, data);
}

static char *
describe_host (SoupMessage *message)
{
  GUri *uri = soup_message_get_uri (message);
  const char *scheme = g_uri_get_scheme (uri);
  int port = g_uri_get_port (uri);

  const char *host = g_uri_get_host (uri);
  gboolean ipv6 = strchr (host, ':') != NULL;

  if (port <= 0 ||
      (port == 443 && g_strcmp0 (scheme, "https") == 0) ||
      (port == 80 && g_strcmp0 (scheme, "http") == 0))
    return g_strdup (host);

  return g_strdup_printf (ipv6 ? "[%s]:%d" : "%s:%d", host, port);
}

static char *
describe_seconds (guint seconds)
{
  return g_strdup_printf (seconds == 1 ? "%u second" : "%u seconds", seconds);
}

static const char *
describe_endpoint (RequestKind kind)
{
  return kind == REQUEST_PROFILE ? "The API" : "The sign-in server";
}

static gboolean
deadline_cb (gpointer user_data)
{
  Request *req = user_data;

  g_debug ("No reply from %s within %u seconds", req->host, req->timeout);

  req->timed_out = TRUE;
  g_clear_pointer (&req->deadline, g_source_unref);
  g_cancellable_cancel (req->cancellable);

  return G_SOURCE_REMOVE;
}

/* A source rather than g_cancellable_connect(): disconnecting a handler
 * from inside the "cancelled" emission would deadlock, and libsoup may
 * finish the request right there.
 */
static gboolean
caller_cancelled_cb (GCancellable *caller_cancellable,
                     gpointer      user_data)
{
  Request *req = user_data;

  g_clear_pointer (&req->caller_cancelled, g_source_unref);
  g_cancellable_cancel (req->cancellable);

  return G_SOURCE_REMOVE;
}

static GTask *
request_new (CkOAuthClient       *self,
             RequestKind          kind,
             const char          *method,
             const char          *url,
             GBytes              *body,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data,
             gpointer             source_tag)
{
  g_autoptr(GTask) task = NULL;
  GMainContext *context = g_main_context_get_thread_default ();
  Request *req;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, source_tag);

  req = g_new0 (Request, 1);
  req->kind = kind;
  req->timeout = self->timeout;
  req->cancellable = g_cancellable_new ();
  g_task_set_task_data (task, req, (GDestroyNotify) request_free);

  req->message = url != NULL ? soup_message_new (method, url) : NULL;
  if (req->message == NULL)
    {
      g_task_return_new_error (task, CK_OAUTH_ERROR, CK_OAUTH_ERROR_NETWORK,
                               "The address of the %s is not a valid URL.",
                               kind == REQUEST_PROFILE ? "API" : "sign-in server");
      return NULL;
    }

  req->host = describe_host (req->message);

  /* A redirect would send the secrets in the body somewhere else. */
  soup_message_set_flags (req->message, SOUP_MESSAGE_NO_REDIRECT);
  soup_message_headers_replace (soup_message_get_request_headers (req->message),
                                "Accept", "application/json");
  if (body != NULL)
    soup_message_set_request_body_from_bytes (req->message, "application/json", body);

  if (cancellable != NULL)
    {
      req->caller_cancelled = g_cancellable_source_new (cancellable);
      g_source_set_static_name (req->caller_cancelled, "[ck-oauth-client] cancelled");
      g_source_set_callback (req->caller_cancelled, G_SOURCE_FUNC (caller_cancelled_cb), req, NULL);
      g_source_attach (req->caller_cancelled, context);
    }

  if (req->timeout > 0)
    {
      req->deadline = g_timeout_source_new (req->timeout * 1000);
      g_source_set_static_name (req->deadline, "[ck-oauth-client] deadline");
      g_source_set_callback (req->deadline, deadline_cb, req, NULL);
      g_source_attach (req->deadline, context);
    }

  return g_steal_pointer (&task);
}

static void
request_return_transport_error (GTask  *task,
                                GError *error)
{
  Request *req = g_task_get_task_data (task);
  GCancellable *caller_cancellable = g_task_get_cancellable (task);

  request_stop_timers (req);

  if (g_cancellable_is_cancelled (caller_cancellable))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "The request was cancelled.");
    }
  else if (req->timed_out)
    {
      g_autofree char *duration = describe_seconds (req->timeout);

      g_task_return_new_error (task, CK_OAUTH_ERROR, CK_OAUTH_ERROR_TIMEOUT,
                               "%s at %s did not answer within %s; try again later.",
                               describe_endpoint (req->kind), req->host, duration);
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    {
      /* libsoup's own socket timeout, with no deadline of ours set. */
      g_task_return_new_error (task, CK_OAUTH_ERROR, CK_OAUTH_ERROR_TIMEOUT,
                               "%s at %s stopped answering; try again later.",
                               describe_endpoint (req->kind), req->host);
    }
  else
    {
      g_autofree char *reason = g_strdup (error->message);
      gsize length = strlen (reason);

      g_debug ("%s: %s", req->host, error->message);

      /* GIO's messages are not sentences; some end in a period. */
      while (length > 0 && reason[length - 1] == '.')
        reason[--length] = '\0';

      g_task_return_new_error (task, CK_OAUTH_ERROR, CK_OAUTH_ERROR_NETWORK,
                               "Could not reach %s at %s: %s.",
                               req->kind == REQUEST_PROFILE ? "the API" : "the sign-in server",
                               req->host, reason);
    }
}

static void
request_return_http_error (GTask *task,
                           guint  status)
{
  Request *req = g_task_get_task_data (task);
  const char *oauth_error = ck_oauth_reply_find_error (req->reply, req->reply_length,
                                                       oauth_error_codes);
  g_autofree char *detail = NULL;

  if ((status == SOUP_STATUS_BAD_REQUEST || status == SOUP_STATUS_UNAUTHORIZED) &&
      g_strcmp0 (oauth_error, "invalid_grant") == 0)
    {
      if (req->kind == REQUEST_REFRESH)
        g_task_return_new_error (task, CK_OAUTH_ERROR, CK_OAUTH_ERROR_INVALID_GRANT,
                                 "The sign-in server at %s refused the refresh token "
                                 "(HTTP %u); log in again.", req->host, status);
      else
        g_task_return_new_error (task, CK_OAUTH_ERROR, CK_OAUTH_ERROR_INVALID_GRANT,
                                 "The sign-in server at %s refused the authorization code "
                                 "(HTTP %u); run the login again.", req->host, status);
      return;
    }

  if (req->kind == REQUEST_REVOKE &&
      (status == SOUP_STATUS_NOT_FOUND || status == SOUP_STATUS_METHOD_NOT_ALLOWED))
    {
      g_task_return_new_error (task, CK_OAUTH_ERROR, CK_OAUTH_ERROR_HTTP,
                               "The sign-in server at %s does not support revoking "
                               "tokens (HTTP %u).", req->host, status);
      return;
    }

  if (oauth_error != NULL)
    detail = g_strdup_printf (" (%s)", oauth_error);

  g_task_return_new_error (task, CK_OAUTH_ERROR, CK_OAUTH_ERROR_HTTP,
                           "%s at %s answered with HTTP %u%s%s.",
                           describe_endpoint (req->kind), req->host, status,
                           detail != NULL ? detail : "",
                           SOUP_STATUS_IS_SERVER_ERROR (status) ? "; try again later" : "");
}

static void
request_complete (GTask *task)
{
  Request *req = g_task_get_task_data (task);
  guint status = soup_message_get_status (req->message);

  request_stop_timers (req);

  g_debug ("%s %s: HTTP %u", soup_message_get_method (req->message), req->host, status);

  if (!SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      request_return_http_error (task, status);
      return;
    }

  switch (req->kind)
    {
    case REQUEST_EXCHANGE:
    case REQUEST_REFRESH:
      {
        g_autoptr(GError) error = NULL;
        CkOAuthTokens *tokens;

        tokens = ck_oauth_tokens_new_from_token_response (req->reply, req->reply_length,
                                                          g_get_real_time () / 1000,
                                                          &error);
        if (tokens == NULL)
          g_task_return_new_error (task, CK_OAUTH_ERROR, CK_OAUTH_ERROR_MALFORMED,
                                   "The sign-in server at %s sent a reply that is not "
                                   "a token response.", req->host);
        else
          g_task_return_pointer (task, tokens, (GDestroyNotify) ck_oauth_tokens_unref);
      }
      break;

    case REQUEST_PROFILE:
      if (!ck_oauth_tokens_apply_profile (req->tokens, req->reply, req->reply_length, NULL))
        g_task_return_new_error (task, CK_OAUTH_ERROR, CK_OAUTH_ERROR_MALFORMED,
                                 "The API at %s sent a reply that is not an account "
                                 "profile.", req->host);
      else
        g_task_return_pointer (task, g_steal_pointer (&req->tokens),
                               (GDestroyNotify) ck_oauth_tokens_unref);
      break;

    case REQUEST_REVOKE:
      g_task_return_boolean (task, TRUE);
      break;

    default:
      g_assert_not_reached ();
    }
}

static void read_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data);

/* Grows the reply buffer without leaving an unwiped copy behind. */
static void
reserve_reply (Request *req,
               gsize    wanted)
{
  gsize capacity;
  char *reply;

  if (req->reply_capacity - req->reply_length >= wanted)
    return;

  capacity = MAX (req->reply_capacity * 2, req->reply_length + wanted);
  reply = g_malloc (capacity);
  if (req->reply != NULL)
    {
      memcpy (reply, req->reply, req->reply_length);
      explicit_bzero (req->reply, req->reply_capacity);
      g_free (req->reply);
    }

  req->reply = reply;
  req->reply_capacity = capacity;
}

static void
read_more (GTask *task)
{
  Request *req = g_task_get_task_data (task);

  /* One byte more for the terminating NUL. */
  reserve_reply (req, READ_CHUNK + 1);
  g_input_stream_read_async (req->stream,
                             req->reply + req->reply_length,
                             READ_CHUNK,
                             G_PRIORITY_DEFAULT,
                             req->cancellable,
                             read_cb,
                             task);
}

static void
read_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  Request *req = g_task_get_task_data (task);
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);
  if (n < 0)
    {
      request_return_transport_error (task, error);
      return;
    }

  if (n == 0)
    {
      req->reply[req->reply_length] = '\0';
      request_complete (task);
      return;
    }

  req->reply_length += n;
  if (req->reply_length > MAX_REPLY_SIZE)
    {
      request_stop_timers (req);
      g_task_return_new_error (task, CK_OAUTH_ERROR, CK_OAUTH_ERROR_MALFORMED,
                               "%s at %s sent a reply larger than 1 MiB.",
                               describe_endpoint (req->kind), req->host);
      return;
    }

  read_more (g_steal_pointer (&task));
}

static void
send_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  Request *req = g_task_get_task_data (task);

  req->stream = soup_session_send_finish (SOUP_SESSION (object), result, &error);
  if (req->stream == NULL)
    {
      request_return_transport_error (task, error);
      return;
    }

  read_more (g_steal_pointer (&task));
}

static void
request_send (CkOAuthClient *self,
              GTask         *task)
{
  Request *req = g_task_get_task_data (task);

  soup_session_send_async (self->session,
                           req->message,
                           G_PRIORITY_DEFAULT,
                           req->cancellable,
                           send_cb,
                           task);
}

static char *
derive_revoke_url (const char *token_url)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GUri) revoke = NULL;
  g_autofree char *path = NULL;
  const char *slash;

  if (token_url == NULL ||
      !(uri = g_uri_parse (token_url, G_URI_FLAGS_ENCODED, NULL)))
    return NULL;

  slash = strrchr (g_uri_get_path (uri), '/');
  if (slash == NULL)
    path = g_strdup ("/revoke");
  else
    path = g_strdup_printf ("%.*s/revoke", (int) (slash - g_uri_get_path (uri)),
                            g_uri_get_path (uri));

  revoke = g_uri_build (G_URI_FLAGS_ENCODED,
                        g_uri_get_scheme (uri),
                        g_uri_get_userinfo (uri),
                        g_uri_get_host (uri),
                        g_uri_get_port (uri),
                        path, NULL, NULL);

  return g_uri_to_string (revoke);
}

static void
ck_oauth_client_constructed (GObject *object)
{
  CkOAuthClient *self = (CkOAuthClient *)object;

  G_OBJECT_CLASS (ck_oauth_client_parent_class)->constructed (object);

  if (self->revoke_url == NULL)
    self->revoke_url = derive_revoke_url (self->token_url);
}

static void
ck_oauth_client_dispose (GObject *object)
{
  CkOAuthClient *self = (CkOAuthClient *)object;

  if (self->session != NULL)
    soup_session_abort (self->session);
  g_clear_object (&self->session);

  G_OBJECT_CLASS (ck_oauth_client_parent_class)->dispose (object);
}

static void
ck_oauth_client_finalize (GObject *object)
{
  CkOAuthClient *self = (CkOAuthClient *)object;

  g_clear_pointer (&self->token_url, g_free);
  g_clear_pointer (&self->revoke_url, g_free);
  g_clear_pointer (&self->api_base_url, g_free);
  g_clear_pointer (&self->client_id, g_free);

  G_OBJECT_CLASS (ck_oauth_client_parent_class)->finalize (object);
}

static void
ck_oauth_client_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  CkOAuthClient *self = CK_OAUTH_CLIENT (object);

  switch (prop_id)
    {
    case PROP_TOKEN_URL:
      g_value_set_string (value, self->token_url);
      break;

    case PROP_REVOKE_URL:
      g_value_set_string (value, self->revoke_url);
      break;

    case PROP_API_BASE_URL:
      g_value_set_string (value, self->api_base_url);
      break;

    case PROP_CLIENT_ID:
      g_value_set_string (value, self->client_id);
      break;

    case PROP_TIMEOUT:
      g_value_set_uint (value, self->timeout);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_oauth_client_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  CkOAuthClient *self = CK_OAUTH_CLIENT (object);

  switch (prop_id)
    {
    case PROP_TOKEN_URL:
      self->token_url = g_value_dup_string (value);
      break;

    case PROP_REVOKE_URL:
      self->revoke_url = g_value_dup_string (value);
      break;

    case PROP_API_BASE_URL:
      self->api_base_url = g_value_dup_string (value);
      break;

    case PROP_CLIENT_ID:
      self->client_id = g_value_dup_string (value);
      break;

    case PROP_TIMEOUT:
      ck_oauth_client_set_timeout (self, g_value_get_uint (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_oauth_client_class_init (CkOAuthClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = ck_oauth_client_constructed;
  object_class->dispose = ck_oauth_client_dispose;
  object_class->finalize = ck_oauth_client_finalize;
  object_class->get_property = ck_oauth_client_get_property;
  object_class->set_property = ck_oauth_client_set_property;

  properties[PROP_TOKEN_URL] =
    g_param_spec_string ("token-url", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE |
                          G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * CkOAuthClient:revoke-url:
   *
   * The RFC 7009 revocation endpoint. When not given, the token URL with
   * its last path segment replaced by `revoke`.
   */
  properties[PROP_REVOKE_URL] =
    g_param_spec_string ("revoke-url", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE |
                          G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  properties[PROP_API_BASE_URL] =
    g_param_spec_string ("api-base-url", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE |
                          G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  properties[PROP_CLIENT_ID] =
    g_param_spec_string ("client-id", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE |
                          G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /**
   * CkOAuthClient:timeout:
   *
   * Seconds a request may take from sending to the end of the reply,
   * 0 for no limit. Applies to requests started after a change.
   */
  properties[PROP_TIMEOUT] =
    g_param_spec_uint ("timeout", NULL, NULL,
                       0, G_MAXUINT / 1000, CK_OAUTH_CLIENT_DEFAULT_TIMEOUT,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ck_oauth_client_init (CkOAuthClient *self)
{
  self->timeout = CK_OAUTH_CLIENT_DEFAULT_TIMEOUT;
  self->session = soup_session_new_with_options ("user-agent", "claude-keyring/" PACKAGE_VERSION,
                                                 NULL);
}

/**
 * ck_oauth_client_new:
 * @token_url: the token endpoint
 * @revoke_url: (nullable): the revocation endpoint, or %NULL to derive it
 *   from @token_url
 * @api_base_url: the API, for `/api/oauth/profile`
 * @client_id: the OAuth client ID
 *
 * The URLs are used as given: checking that they are `https://` (or
 * loopback `http://` in tests) is the configuration's job.
 *
 * Returns: (transfer full): a new #CkOAuthClient
 */
CkOAuthClient *
ck_oauth_client_new (const char *token_url,
                     const char *revoke_url,
                     const char *api_base_url,
                     const char *client_id)
{
  g_return_val_if_fail (token_url != NULL, NULL);
  g_return_val_if_fail (api_base_url != NULL, NULL);
  g_return_val_if_fail (client_id != NULL, NULL);

  return g_object_new (CK_TYPE_OAUTH_CLIENT,
                       "token-url", token_url,
                       "revoke-url", revoke_url,
                       "api-base-url", api_base_url,
                       "client-id", client_id,
                       NULL);
}

/**
 * ck_oauth_client_new_for_settings:
 * @settings: the agent's #GSettings
 * @error: a #GError
 *
 * A client for the endpoints and client ID that @settings (or the
 * environment variables that override them) name, with its
 * `http-timeout`.
 *
 * Returns: (transfer full): a new #CkOAuthClient, or %NULL when an
 *   endpoint is not a URL the agent may use
 */
CkOAuthClient *
ck_oauth_client_new_for_settings (GSettings  *settings,
                                  GError    **error)
{
  g_autofree char *token_url = NULL;
  g_autofree char *revoke_url = NULL;
  g_autofree char *api_base_url = NULL;
  g_autofree char *client_id = NULL;
  CkOAuthClient *client;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  if (!(token_url = ck_config_dup_endpoint (settings, CK_ENDPOINT_TOKEN, error)) ||
      !(revoke_url = ck_config_dup_endpoint (settings, CK_ENDPOINT_REVOKE, error)) ||
      !(api_base_url = ck_config_dup_endpoint (settings, CK_ENDPOINT_API_BASE, error)))
    return NULL;

  client_id = ck_config_dup_client_id (settings);
  client = ck_oauth_client_new (token_url, revoke_url, api_base_url, client_id);
  ck_oauth_client_set_timeout (client, g_settings_get_uint (settings, "http-timeout"));
  return client;
}

const char *
ck_oauth_client_get_token_url (CkOAuthClient *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_CLIENT (self), NULL);

  return self->token_url;
}

const char *
ck_oauth_client_get_revoke_url (CkOAuthClient *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_CLIENT (self), NULL);

  return self->revoke_url;
}

const char *
ck_oauth_client_get_api_base_url (CkOAuthClient *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_CLIENT (self), NULL);

  return self->api_base_url;
}

const char *
ck_oauth_client_get_client_id (CkOAuthClient *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_CLIENT (self), NULL);

  return self->client_id;
}

guint
ck_oauth_client_get_timeout (CkOAuthClient *self)
{
  g_return_val_if_fail (CK_IS_OAUTH_CLIENT (self), 0);

  return self->timeout;
}

void
ck_oauth_client_set_timeout (CkOAuthClient *self,
                             guint          timeout)
{
  g_return_if_fail (CK_IS_OAUTH_CLIENT (self));
  g_return_if_fail (timeout <= G_MAXUINT / 1000);

  if (self->timeout == timeout)
    return;

  self->timeout = timeout;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIMEOUT]);
}

/**
 * ck_oauth_client_exchange_code_async:
 * @self: a #CkOAuthClient
 * @code: the authorization code from the redirect
 * @verifier: the PKCE verifier of this login
 * @redirect_uri: the redirect URI that was in the authorize URL
 * @state: the state of this login
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the result
 * @user_data: data for @callback
 *
 * Redeems an authorization code (RFC 6749 §4.1.3 with RFC 7636), as a
 * JSON body.
 */
void
ck_oauth_client_exchange_code_async (CkOAuthClient       *self,
                                     const char          *code,
                                     const char          *verifier,
                                     const char          *redirect_uri,
                                     const char          *state,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (CK_IS_OAUTH_CLIENT (self));
  g_return_if_fail (code != NULL);
  g_return_if_fail (verifier != NULL);
  g_return_if_fail (redirect_uri != NULL);
  g_return_if_fail (state != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  body = json_object_body ("grant_type", "authorization_code",
                           "code", code,
                           "redirect_uri", redirect_uri,
                           "client_id", self->client_id,
                           "code_verifier", verifier,
                           "state", state,
                           NULL);
  task = request_new (self, REQUEST_EXCHANGE, SOUP_METHOD_POST, self->token_url, body,
                      cancellable, callback, user_data,
                      ck_oauth_client_exchange_code_async);
  if (task != NULL)
    request_send (self, g_steal_pointer (&task));
}

/**
 * ck_oauth_client_exchange_code_finish:
 * @self: a #CkOAuthClient
 * @result: the #GAsyncResult given to the callback
 * @error: a #GError
 *
 * Returns: (transfer full): the new tokens with the account and
 *   organization the reply carried, or %NULL with a %CK_OAUTH_ERROR
 *   (or %G_IO_ERROR_CANCELLED)
 */
CkOAuthTokens *
ck_oauth_client_exchange_code_finish (CkOAuthClient  *self,
                                      GAsyncResult   *result,
                                      GError        **error)
{
  g_return_val_if_fail (CK_IS_OAUTH_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_oauth_client_exchange_code_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * ck_oauth_client_refresh_async:
 * @self: a #CkOAuthClient
 * @refresh_token: the current refresh token
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the result
 * @user_data: data for @callback
 *
 * Trades @refresh_token for new tokens (RFC 6749 §6), as a JSON body.
 * The server may rotate the refresh token: then @refresh_token is spent
 * and only the returned one works.
 */
void
ck_oauth_client_refresh_async (CkOAuthClient       *self,
                               const char          *refresh_token,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (CK_IS_OAUTH_CLIENT (self));
  g_return_if_fail (refresh_token != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  body = json_object_body ("grant_type", "refresh_token",
                           "refresh_token", refresh_token,
                           "client_id", self->client_id,
                           NULL);
  task = request_new (self, REQUEST_REFRESH, SOUP_METHOD_POST, self->token_url, body,
                      cancellable, callback, user_data,
                      ck_oauth_client_refresh_async);
  if (task != NULL)
    request_send (self, g_steal_pointer (&task));
}

/**
 * ck_oauth_client_refresh_finish:
 * @self: a #CkOAuthClient
 * @result: the #GAsyncResult given to the callback
 * @error: a #GError
 *
 * When the reply carries no refresh token the server did not rotate it:
 * the returned record's refresh_token is %NULL and the caller keeps the
 * one it sent.
 *
 * Returns: (transfer full): the new tokens, or %NULL with
 *   %CK_OAUTH_ERROR_INVALID_GRANT (log in again), another
 *   %CK_OAUTH_ERROR (try again later) or %G_IO_ERROR_CANCELLED
 */
CkOAuthTokens *
ck_oauth_client_refresh_finish (CkOAuthClient  *self,
                                GAsyncResult   *result,
                                GError        **error)
{
  g_return_val_if_fail (CK_IS_OAUTH_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_oauth_client_refresh_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * ck_oauth_client_fetch_profile_async:
 * @self: a #CkOAuthClient
 * @tokens: tokens with an access token
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the result
 * @user_data: data for @callback
 *
 * Asks `GET {api-base-url}/api/oauth/profile` who @tokens belong to.
 */
void
ck_oauth_client_fetch_profile_async (CkOAuthClient       *self,
                                     const CkOAuthTokens *tokens,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *url = NULL;
  char *authorization;
  SoupMessageHeaders *headers;
  Request *req;
  gsize base_length;

  g_return_if_fail (CK_IS_OAUTH_CLIENT (self));
  g_return_if_fail (tokens != NULL && tokens->access_token != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  base_length = strlen (self->api_base_url);
  while (base_length > 0 && self->api_base_url[base_length - 1] == '/')
    base_length--;
  url = g_strdup_printf ("%.*s/api/oauth/profile", (int) base_length, self->api_base_url);

  task = request_new (self, REQUEST_PROFILE, SOUP_METHOD_GET, url, NULL,
                      cancellable, callback, user_data,
                      ck_oauth_client_fetch_profile_async);
  if (task == NULL)
    return;

  req = g_task_get_task_data (task);
  req->tokens = ck_oauth_tokens_copy (tokens);

  headers = soup_message_get_request_headers (req->message);
  authorization = g_strconcat ("Bearer ", tokens->access_token, NULL);
  soup_message_headers_replace (headers, "Authorization", authorization);
  ck_secret_free (authorization);
  soup_message_headers_replace (headers, "anthropic-beta", OAUTH_BETA);

  request_send (self, g_steal_pointer (&task));
}

/**
 * ck_oauth_client_fetch_profile_finish:
 * @self: a #CkOAuthClient
 * @result: the #GAsyncResult given to the callback
 * @error: a #GError
 *
 * Returns: (transfer full): a copy of the tokens given, with the account,
 *   organization, subscription type and rate limit tier the profile
 *   reports; or %NULL with a %CK_OAUTH_ERROR or %G_IO_ERROR_CANCELLED
 */
CkOAuthTokens *
ck_oauth_client_fetch_profile_finish (CkOAuthClient  *self,
                                      GAsyncResult   *result,
                                      GError        **error)
{
  g_return_val_if_fail (CK_IS_OAUTH_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_oauth_client_fetch_profile_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * ck_oauth_client_revoke_async:
 * @self: a #CkOAuthClient
 * @token: an access or refresh token
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the result
 * @user_data: data for @callback
 *
 * Asks the server to revoke @token (RFC 7009), as a JSON body.
 */
void
ck_oauth_client_revoke_async (CkOAuthClient       *self,
                              const char          *token,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (CK_IS_OAUTH_CLIENT (self));
  g_return_if_fail (token != NULL);
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  body = json_object_body ("token", token,
                           "client_id", self->client_id,
                           NULL);
  task = request_new (self, REQUEST_REVOKE, SOUP_METHOD_POST, self->revoke_url, body,
                      cancellable, callback, user_data,
                      ck_oauth_client_revoke_async);
  if (task != NULL)
    request_send (self, g_steal_pointer (&task));
}

/**
 * ck_oauth_client_revoke_finish:
 * @self: a #CkOAuthClient
 * @result: the #GAsyncResult given to the callback
 * @error: a #GError
 *
 * A server without a revocation endpoint (HTTP 404 or 405) gives
 * %CK_OAUTH_ERROR_HTTP like any other failure: either way the caller
 * still forgets the tokens locally.
 *
 * Returns: %TRUE if the server accepted the revocation
 */
gboolean
ck_oauth_client_revoke_finish (CkOAuthClient  *self,
                               GAsyncResult   *result,
                               GError        **error)
{
  g_return_val_if_fail (CK_IS_OAUTH_CLIENT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_oauth_client_revoke_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
