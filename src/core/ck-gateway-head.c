/* ck-gateway-head.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The gateway's decisions about a request head: who may ask (a session
 * token, sent to the gateway's own address by something that is not a web
 * page) and which headers travel on. Nothing here touches the network or
 * keeps state, so the fuzzer can drive it with any parsed head.
 */

#define G_LOG_DOMAIN "ck-gateway"

#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "ck-gateway-head.h"
#include "ck-oauth-tokens.h"

typedef char CkSecretString;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CkSecretString, ck_secret_free)

/* RFC 9110 7.6.1, plus the proxy headers older proxies still send. */
static const char * const hop_by_hop[] = {
  "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
  "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade", NULL,
};

/* Set by the gateway or by libsoup for the hop to the upstream. Expect:
 * the body is already here, whole. */
static const char * const request_own[] = {
  "Host", "Content-Length", "Authorization", "x-api-key", "Expect", NULL,
};

/* The framing of the answer is the gateway's own. */
static const char * const response_own[] = {
  "Content-Length", NULL,
};

static gboolean
name_in (const char         *name,
         const char * const *names)
{
  for (guint i = 0; names[i] != NULL; i++)
    if (g_ascii_strcasecmp (name, names[i]) == 0)
      return TRUE;
  return FALSE;
}

gboolean
ck_gateway_host_is_own (const char *host,
                        guint16     port)
{
  static const char * const names[] = { "127.0.0.1", "[::1]", "localhost", NULL };
  const char *colon;
  guint64 value;
  gsize name_length;

  if (host == NULL || (colon = strrchr (host, ':')) == NULL)
    return FALSE;

  /* Digits only: no sign, no spaces, no "80abc". */
  if (colon[1] == '\0' || strspn (colon + 1, "0123456789") != strlen (colon + 1) ||
      !g_ascii_string_to_unsigned (colon + 1, 10, 1, G_MAXUINT16, &value, NULL) ||
      (port != 0 && value != port))
    return FALSE;

  name_length = colon - host;
  for (guint i = 0; names[i] != NULL; i++)
    if (strlen (names[i]) == name_length &&
        g_ascii_strncasecmp (host, names[i], name_length) == 0)
      return TRUE;
  return FALSE;
}

/* RFC 9110 5.6.2: a method is a token. Anything else (a control byte, a
 * CR, a non-ASCII byte) libsoup takes as part of the method and would
 * write into the request line it sends upstream. */
static gboolean
is_token (const char *text)
{
  static const char tchar[] = "!#$%&'*+-.^_`|~";

  if (text == NULL || text[0] == '\0')
    return FALSE;
  for (const char *c = text; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && strchr (tchar, *c) == NULL)
      return FALSE;
  return TRUE;
}

/* The token of "Bearer TOKEN" (RFC 6750: the scheme is case-insensitive). */
static const char *
bearer_token (const char *authorization)
{
  const char *token;

  if (authorization == NULL || g_ascii_strncasecmp (authorization, "Bearer ", 7) != 0)
    return NULL;
  token = authorization + 7;
  while (*token == ' ')
    token++;
  return *token != '\0' ? token : NULL;
}

CkGatewayHead
ck_gateway_check_head (const char          *method,
                       SoupMessageHeaders  *headers,
                       guint16              port,
                       const char         **tokens,
                       const char         **message)
{
  SoupMessageHeadersIter iter;
  const char *name, *value;
  const char *host = NULL, *authorization = NULL, *api_key = NULL;
  guint hosts = 0, authorizations = 0, api_keys = 0, lengths = 0, encodings = 0;
  gboolean origin = FALSE;

  g_return_val_if_fail (headers != NULL, CK_GATEWAY_HEAD_BAD_REQUEST);
  g_return_val_if_fail (tokens != NULL && message != NULL, CK_GATEWAY_HEAD_BAD_REQUEST);

  tokens[0] = tokens[1] = NULL;
  *message = NULL;

  if (!is_token (method))
    {
      *message = "The request's method is not a valid HTTP method.";
      return CK_GATEWAY_HEAD_BAD_REQUEST;
    }

  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      if (g_ascii_strcasecmp (name, "Host") == 0)
        host = value, hosts++;
      else if (g_ascii_strcasecmp (name, "Authorization") == 0)
        authorization = value, authorizations++;
      else if (g_ascii_strcasecmp (name, "x-api-key") == 0)
        api_key = value, api_keys++;
      else if (g_ascii_strcasecmp (name, "Origin") == 0)
        origin = TRUE;
      else if (g_ascii_strcasecmp (name, "Content-Length") == 0)
        lengths++;
      else if (g_ascii_strcasecmp (name, "Transfer-Encoding") == 0)
        encodings++;
    }

  /* Two of these could mean two different things to two parsers. */
  if (hosts != 1 || authorizations > 1 || api_keys > 1)
    {
      *message = "The request needs exactly one Host header and at most one "
                 "Authorization and one x-api-key header.";
      return CK_GATEWAY_HEAD_BAD_REQUEST;
    }

  /* Where the body ends, read one way here and another by whatever sits
   * in front (request smuggling): RFC 9112 6.3 lets a server refuse it. */
  if (lengths > 1 || (lengths > 0 && encodings > 0))
    {
      *message = "The request has more than one Content-Length, or both a Content-Length "
                 "and a Transfer-Encoding header.";
      return CK_GATEWAY_HEAD_BAD_REQUEST;
    }

  /* A web page that got "localhost" resolved to its own name (DNS
   * rebinding) sends its own Host; any page sends an Origin. */
  if (!ck_gateway_host_is_own (host, port))
    {
      *message = "The claude-keyring gateway answers only requests addressed to it "
                 "(Host 127.0.0.1, [::1] or localhost with its port).";
      return CK_GATEWAY_HEAD_FORBIDDEN;
    }
  if (origin)
    {
      *message = "The claude-keyring gateway does not answer web pages "
                 "(requests with an Origin header).";
      return CK_GATEWAY_HEAD_FORBIDDEN;
    }

  if (strcmp (method, SOUP_METHOD_CONNECT) == 0)
    {
      *message = "The claude-keyring gateway is not a proxy for CONNECT.";
      return CK_GATEWAY_HEAD_BAD_REQUEST;
    }

  tokens[0] = bearer_token (authorization);
  tokens[1] = api_key != NULL && api_key[0] != '\0' ? api_key : NULL;
  if (tokens[0] == NULL && tokens[1] == NULL)
    {
      *message = "The request carries no claude-keyring gateway token; start claude "
                 "with “claude-keyring run”, or set it up with “claude-keyring "
                 "setup-claude --gateway”.";
      return CK_GATEWAY_HEAD_UNAUTHORIZED;
    }

  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length (headers) > CK_GATEWAY_MAX_BODY)
    {
      *message = "The request body is larger than the 32 MiB the claude-keyring "
                 "gateway accepts.";
      return CK_GATEWAY_HEAD_TOO_LARGE;
    }

  return CK_GATEWAY_HEAD_OK;
}

/* @text holds @secret as written, or once percent-decoded (a cookie, a
 * query parameter). */
static gboolean
holds_secret (const char *text,
              const char *secret)
{
  g_autoptr(CkSecretString) decoded = NULL;

  if (strstr (text, secret) != NULL)
    return TRUE;
  if (strchr (text, '%') == NULL)
    return FALSE;
  decoded = g_uri_unescape_string (text, NULL);
  return decoded != NULL && strstr (decoded, secret) != NULL;
}

CkGatewayHead
ck_gateway_check_target (const char  *path,
                         const char  *query,
                         const char  *secret,
                         const char **message)
{
  g_return_val_if_fail (secret != NULL && secret[0] != '\0', CK_GATEWAY_HEAD_BAD_REQUEST);
  g_return_val_if_fail (message != NULL, CK_GATEWAY_HEAD_BAD_REQUEST);

  *message = NULL;
  if ((path != NULL && holds_secret (path, secret)) ||
      (query != NULL && holds_secret (query, secret)))
    {
      *message = "The request's URL holds the claude-keyring gateway token, which must not "
                 "travel on to the API; send it in the Authorization or x-api-key header.";
      return CK_GATEWAY_HEAD_BAD_REQUEST;
    }
  return CK_GATEWAY_HEAD_OK;
}

static void
copy_headers (SoupMessageHeaders *from,
              SoupMessageHeaders *to,
              const char * const *own,
              const char         *secret)
{
  SoupMessageHeadersIter iter;
  const char *name, *value;
  const char *connection = soup_message_headers_get_list (from, "Connection");

  soup_message_headers_iter_init (&iter, from);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      if (name_in (name, hop_by_hop) || name_in (name, own) ||
          (connection != NULL && soup_header_contains (connection, name)))
        continue;
      if (secret != NULL && (holds_secret (name, secret) || holds_secret (value, secret)))
        {
          g_debug ("Left out a header that holds the session token");
          continue;
        }
      soup_message_headers_append (to, name, value);
    }
}

void
ck_gateway_copy_request_headers (SoupMessageHeaders *from,
                                 SoupMessageHeaders *to,
                                 const char         *secret)
{
  g_return_if_fail (from != NULL && to != NULL);
  g_return_if_fail (secret == NULL || secret[0] != '\0');

  copy_headers (from, to, request_own, secret);
}

void
ck_gateway_copy_response_headers (SoupMessageHeaders *from,
                                  SoupMessageHeaders *to)
{
  g_return_if_fail (from != NULL && to != NULL);

  copy_headers (from, to, response_own, NULL);
}

char *
ck_gateway_edit_beta_list (const char *betas,
                           const char *beta,
                           gboolean    add)
{
  g_auto(GStrv) parts = NULL;
  g_autoptr(GString) kept = NULL;
  gboolean present = FALSE;

  g_return_val_if_fail (beta != NULL, NULL);

  parts = g_strsplit (betas != NULL ? betas : "", ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (strcmp (g_strstrip (parts[i]), beta) == 0)
      present = TRUE;

  /* Nothing to do: the list goes on exactly as it came. */
  if (present == add)
    return betas != NULL && betas[0] != '\0' ? g_strdup (betas) : NULL;

  if (add)
    return betas != NULL && betas[0] != '\0'
      ? g_strconcat (betas, ",", beta, NULL)
      : g_strdup (beta);

  kept = g_string_new (NULL);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (parts[i][0] == '\0' || strcmp (parts[i], beta) == 0)
        continue;
      if (kept->len > 0)
        g_string_append_c (kept, ',');
      g_string_append (kept, parts[i]);
    }
  return kept->len > 0 ? g_string_free (g_steal_pointer (&kept), FALSE) : NULL;
}

void
ck_gateway_put_credential (SoupMessageHeaders *headers,
                           const CkCredential *credential)
{
  g_autofree char *betas = NULL;
  gboolean oauth;

  g_return_if_fail (headers != NULL);
  g_return_if_fail (credential != NULL && credential->token != NULL);

  oauth = credential->kind == CK_CREDENTIAL_KIND_OAUTH;
  betas = ck_gateway_edit_beta_list (soup_message_headers_get_list (headers, "anthropic-beta"),
                                     CK_GATEWAY_OAUTH_BETA, oauth);
  soup_message_headers_remove (headers, "anthropic-beta");
  if (betas != NULL)
    soup_message_headers_append (headers, "anthropic-beta", betas);

  soup_message_headers_remove (headers, "Authorization");
  soup_message_headers_remove (headers, "x-api-key");
  if (oauth)
    {
      g_autoptr(CkSecretString) bearer = g_strconcat ("Bearer ", credential->token, NULL);

      soup_message_headers_append (headers, "Authorization", bearer);
    }
  else
    {
      soup_message_headers_append (headers, "x-api-key", credential->token);
    }
}

char *
ck_gateway_dup_error_body (const char *type,
                           const char *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  g_return_val_if_fail (type != NULL && message != NULL, NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "error");
  json_builder_set_member_name (builder, "error");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, type);
  json_builder_set_member_name (builder, "message");
  json_builder_add_string_value (builder, message);
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}
