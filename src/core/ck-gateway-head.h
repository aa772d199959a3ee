/* ck-gateway-head.h: what the gateway decides from a request's head alone
 *
 * Pure functions over parsed headers, apart from the server so that they
 * can be fuzzed (tests/fuzz/fuzz-gateway-head.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <libsoup/soup.h>

#include "ck-credential.h"

G_BEGIN_DECLS

/* Request bodies are held whole for the one retry after a 401. */
#define CK_GATEWAY_MAX_BODY (32 * 1024 * 1024)

/* What Anthropic's API needs to accept an OAuth access token. */
#define CK_GATEWAY_OAUTH_BETA "oauth-2025-04-20"

typedef enum
{
  CK_GATEWAY_HEAD_OK,
  CK_GATEWAY_HEAD_BAD_REQUEST,   /* 400 invalid_request_error */
  CK_GATEWAY_HEAD_UNAUTHORIZED,  /* 401 authentication_error: no token */
  CK_GATEWAY_HEAD_FORBIDDEN,     /* 403 permission_error: Host, Origin */
  CK_GATEWAY_HEAD_TOO_LARGE,     /* 413 request_too_large */
} CkGatewayHead;

/* Checks a request head that libsoup parsed. On OK, @tokens[0..1] point
 * into @headers: the Bearer token and the x-api-key, either may be NULL
 * but not both. Otherwise @message says why, a sentence for the client.
 * BAD_REQUEST is also a head whose framing or method could be read two
 * ways: its connection must not carry another request. */
CkGatewayHead ck_gateway_check_head              (const char          *method,
                                                  SoupMessageHeaders  *headers,
                                                  guint16              port,
                                                  const char         **tokens,
                                                  const char         **message);
/* "127.0.0.1:PORT", "[::1]:PORT" or "localhost:PORT", nothing else;
 * @port 0 takes any port (a session's socket behind a forward). */
gboolean      ck_gateway_host_is_own             (const char          *host,
                                                  guint16              port);
/* BAD_REQUEST when the path or query holds @secret (the session token),
 * as written or percent-decoded: it would travel on to the API. */
CkGatewayHead ck_gateway_check_target            (const char          *path,
                                                  const char          *query,
                                                  const char          *secret,
                                                  const char         **message);
/* Hop-by-hop headers (RFC 9110 7.6.1), those the Connection header
 * names, and the ones the gateway sets itself, are left out; so is any
 * header whose name or value holds @secret (nullable), as written or
 * percent-decoded. */
void          ck_gateway_copy_request_headers    (SoupMessageHeaders  *from,
                                                  SoupMessageHeaders  *to,
                                                  const char          *secret);
void          ck_gateway_copy_response_headers   (SoupMessageHeaders  *from,
                                                  SoupMessageHeaders  *to);
/* OAuth: Authorization: Bearer and the OAuth beta in anthropic-beta;
 * an API key: x-api-key, and no OAuth beta. */
void          ck_gateway_put_credential          (SoupMessageHeaders  *headers,
                                                  const CkCredential  *credential);
/* @betas with @beta added (when @add) or taken out, a comma list. */
char         *ck_gateway_edit_beta_list          (const char          *betas,
                                                  const char          *beta,
                                                  gboolean             add);
/* The Messages API's error shape:
 * {"type":"error","error":{"type":@type,"message":@message}} */
char         *ck_gateway_dup_error_body          (const char          *type,
                                                  const char          *message);

G_END_DECLS
