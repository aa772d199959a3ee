/* fuzz-gateway-head.c: the gateway's view of a request head. The input is
 * the head as a client sends it, parsed by libsoup's own request parser
 * (what the gateway's server runs first); then every decision the gateway
 * takes from it: ck_gateway_check_head(), ck_gateway_check_target()
 * with the session token the corpus uses, the headers that go upstream
 * with a credential put in, and the error body.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "fuzz-common.h"

#include <json-glib/json-glib.h>

#include "ck-gateway-head.h"

#define PORT 8080
/* The session token of the corpus's requests. */
#define SECRET "fuzz-token-abc"

static const char * const never_upstream[] = {
  "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
  "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
  "Host", "Content-Length", "Expect", NULL,
};

static void
check_forwarded (SoupMessageHeaders *from,
                 SoupMessageHeaders *to)
{
  const char *connection = soup_message_headers_get_list (from, "Connection");
  SoupMessageHeadersIter iter;
  const char *name, *value;

  soup_message_headers_iter_init (&iter, to);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      for (guint i = 0; never_upstream[i] != NULL; i++)
        g_assert_cmpint (g_ascii_strcasecmp (name, never_upstream[i]), !=, 0);
      g_assert_false (connection != NULL && soup_header_contains (connection, name));
    }
}

/* Nothing that goes upstream holds the session token. */
static void
check_no_secret (SoupMessageHeaders *headers)
{
  SoupMessageHeadersIter iter;
  const char *name, *value;

  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      g_autofree char *decoded = g_uri_unescape_string (value, NULL);

      g_assert_null (strstr (name, SECRET));
      g_assert_null (strstr (value, SECRET));
      g_assert_true (decoded == NULL || strstr (decoded, SECRET) == NULL);
    }
}

/* A method is an RFC 9110 token. */
static gboolean
is_token (const char *method)
{
  return method[0] != '\0' &&
         strspn (method, "!#$%&'*+-.^_`|~0123456789"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == strlen (method);
}

static void
check_target (const char *target)
{
  g_autofree char *path = g_strdup (target);
  char *query = strchr (path, '?');
  const char *message = (const char *) 1;
  CkGatewayHead head;

  if (query != NULL)
    *query++ = '\0';
  head = ck_gateway_check_target (path, query, SECRET, &message);
  if (strstr (target, SECRET) != NULL)
    g_assert_cmpint (head, ==, CK_GATEWAY_HEAD_BAD_REQUEST);
  if (head == CK_GATEWAY_HEAD_OK)
    {
      g_assert_null (message);
    }
  else
    {
      g_assert_cmpint (head, ==, CK_GATEWAY_HEAD_BAD_REQUEST);
      g_assert_nonnull (message);
    }
}

static guint
count_beta (SoupMessageHeaders *headers)
{
  const char *betas = soup_message_headers_get_list (headers, "anthropic-beta");
  g_auto(GStrv) parts = g_strsplit (betas != NULL ? betas : "", ",", -1);
  guint count = 0;

  for (guint i = 0; parts[i] != NULL; i++)
    if (strcmp (g_strstrip (parts[i]), CK_GATEWAY_OAUTH_BETA) == 0)
      count++;
  return count;
}

static void
check_credential (SoupMessageHeaders *client)
{
  g_autoptr(SoupMessageHeaders) out = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  CkCredential oauth = { CK_CREDENTIAL_KIND_OAUTH, (char *) "fuzz-access", 0, "oauth", NULL };
  CkCredential key = { CK_CREDENTIAL_KIND_API_KEY, (char *) "fuzz-key", 0, "keyring", NULL };

  ck_gateway_copy_request_headers (client, out, SECRET);
  check_forwarded (client, out);
  check_no_secret (out);
  g_assert_null (soup_message_headers_get_one (out, "Authorization"));
  g_assert_null (soup_message_headers_get_one (out, "x-api-key"));

  ck_gateway_put_credential (out, &oauth);
  g_assert_cmpstr (soup_message_headers_get_list (out, "Authorization"), ==, "Bearer fuzz-access");
  g_assert_null (soup_message_headers_get_one (out, "x-api-key"));
  /* Added once when missing; a list that has it goes on as it came. */
  g_assert_cmpuint (count_beta (out), >=, 1);

  ck_gateway_put_credential (out, &key);
  g_assert_cmpstr (soup_message_headers_get_list (out, "x-api-key"), ==, "fuzz-key");
  g_assert_null (soup_message_headers_get_one (out, "Authorization"));
  g_assert_cmpuint (count_beta (out), ==, 0);
}

static void
check_error_body (const char *message)
{
  g_autofree char *body = ck_gateway_dup_error_body ("permission_error", message);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *error;

  g_assert_true (json_parser_load_from_data (parser, body, -1, NULL));
  error = json_object_get_object_member (json_node_get_object (json_parser_get_root (parser)),
                                         "error");
  g_assert_cmpstr (json_object_get_string_member (error, "message"), ==, message);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  g_autoptr(SoupMessageHeaders) back = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  g_autofree char *method = NULL;
  g_autofree char *path = NULL;
  const char *tokens[2] = { "x", "x" };
  const char *message = (const char *) 1;
  SoupHTTPVersion version;
  CkGatewayHead head;
  char *text;
  guint status;

  fuzz_init ();
  if (size > G_MAXINT)
    return 0;

  /* libsoup's header buffer ends in a NUL after the blank line. */
  text = g_malloc (size + 1);
  memcpy (text, data, size);
  text[size] = '\0';
  status = soup_headers_parse_request (text, size, headers, &method, &path, &version);
  g_free (text);
  if (!SOUP_STATUS_IS_SUCCESSFUL (status))
    return 0;

  head = ck_gateway_check_head (method, headers, PORT, tokens, &message);
  switch (head)
    {
    case CK_GATEWAY_HEAD_OK:
    case CK_GATEWAY_HEAD_TOO_LARGE:
      g_assert_true (is_token (method));
      /* Framed one way only. */
      g_assert_false (soup_message_headers_get_one (headers, "Content-Length") != NULL &&
                      soup_message_headers_get_one (headers, "Transfer-Encoding") != NULL);
      g_assert_true (tokens[0] != NULL || tokens[1] != NULL);
      for (guint i = 0; i < 2; i++)
        g_assert_true (tokens[i] == NULL || tokens[i][0] != '\0');
      g_assert_true (ck_gateway_host_is_own (soup_message_headers_get_one (headers, "Host"), PORT));
      g_assert_null (soup_message_headers_get_one (headers, "Origin"));
      if (head == CK_GATEWAY_HEAD_OK)
        g_assert_null (message);
      else
        g_assert_nonnull (message);
      break;
    case CK_GATEWAY_HEAD_BAD_REQUEST:
    case CK_GATEWAY_HEAD_UNAUTHORIZED:
    case CK_GATEWAY_HEAD_FORBIDDEN:
      g_assert_nonnull (message);
      break;
    default:
      g_assert_not_reached ();
    }
  if (message != NULL)
    check_error_body (message);

  check_target (path);
  check_credential (headers);

  /* The same head read as an answer coming back from upstream. */
  ck_gateway_copy_response_headers (headers, back);
  g_assert_null (soup_message_headers_get_one (back, "Content-Length"));
  g_assert_null (soup_message_headers_get_one (back, "Transfer-Encoding"));
  return 0;
}
