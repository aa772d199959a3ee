/* ck-pkce.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-pkce"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "ck-error.h"
#include "ck-oauth-tokens.h"
#include "ck-pkce.h"

/* 32 bytes give 256 bits of entropy and a 43 character verifier, the
 * shortest RFC 7636 allows.
 */
#define RANDOM_BYTES 32

/* A string holding a secret, wiped when it goes out of scope. */
typedef char CkSecretString;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CkSecretString, ck_secret_free)

static const char manual_code_mismatch[] =
  "The pasted code does not belong to this login; copy it again from the "
  "page that opened after you approved.";

static void
fill_random (guint8 *buffer,
             gsize   length)
{
  gsize done = 0;

  while (done < length)
    {
      ssize_t n = getrandom (buffer + done, length - done, 0);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          /* Without a CSPRNG no login can be safe; there is no fallback. */
          g_error ("getrandom() failed: %s", g_strerror (errno));
        }
      done += n;
    }
}

/* base64url without padding (RFC 4648 §5), done in place so that no
 * unwiped copy of a secret is left behind.
 */
static char *
base64url_encode (const guint8 *data,
                  gsize         length)
{
  char *out = g_base64_encode (data, length);

  for (char *p = out; *p != '\0'; p++)
    {
      if (*p == '+')
        *p = '-';
      else if (*p == '/')
        *p = '_';
      else if (*p == '=')
        {
          *p = '\0';
          break;
        }
    }

  return out;
}

/**
 * ck_pkce_random_token:
 *
 * Returns: (transfer full): 32 bytes of getrandom(2), base64url without
 *   padding (43 characters); free it with ck_secret_free()
 */
char *
ck_pkce_random_token (void)
{
  guint8 bytes[RANDOM_BYTES];
  char *token;

  fill_random (bytes, sizeof bytes);
  token = base64url_encode (bytes, sizeof bytes);
  explicit_bzero (bytes, sizeof bytes);

  return token;
}

/**
 * ck_pkce_challenge_for_verifier:
 * @verifier: a PKCE code verifier
 *
 * Returns: (transfer full): base64url(SHA-256(@verifier)), the S256 code
 *   challenge of RFC 7636 §4.2.
 */
char *
ck_pkce_challenge_for_verifier (const char *verifier)
{
  g_autoptr(GChecksum) checksum = NULL;
  guint8 digest[32];
  gsize digest_length = sizeof digest;
  char *challenge;

  g_return_val_if_fail (verifier != NULL, NULL);

  checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (checksum, (const guchar *) verifier, strlen (verifier));
  g_checksum_get_digest (checksum, digest, &digest_length);
  g_assert (digest_length == sizeof digest);

  challenge = base64url_encode (digest, digest_length);
  explicit_bzero (digest, sizeof digest);

  return challenge;
}

/**
 * ck_pkce_new:
 *
 * Creates a fresh verifier, its challenge and a state, each from 32 bytes
 * of getrandom(2). Aborts if the kernel has no random numbers to give.
 *
 * Returns: (transfer full): a new #CkPkce
 */
CkPkce *
ck_pkce_new (void)
{
  CkPkce *pkce = g_new0 (CkPkce, 1);

  pkce->verifier = ck_pkce_random_token ();
  pkce->challenge = ck_pkce_challenge_for_verifier (pkce->verifier);
  pkce->state = ck_pkce_random_token ();

  return pkce;
}

void
ck_pkce_free (CkPkce *pkce)
{
  if (pkce == NULL)
    return;

  g_clear_pointer (&pkce->verifier, ck_secret_free);
  g_clear_pointer (&pkce->challenge, ck_secret_free);
  g_clear_pointer (&pkce->state, ck_secret_free);
  g_free (pkce);
}

static const char *authorize_params[] = {
  "code", "client_id", "response_type", "redirect_uri", "scope",
  "code_challenge", "code_challenge_method", "state", NULL,
};

static void
append_param (GString    *query,
              const char *name,
              const char *value)
{
  g_autofree char *escaped = g_uri_escape_string (value, NULL, FALSE);

  if (query->len > 0)
    g_string_append_c (query, '&');
  g_string_append (query, name);
  g_string_append_c (query, '=');
  g_string_append (query, escaped);
}

/**
 * ck_pkce_build_authorize_url:
 * @pkce: the login's secrets
 * @authorize_url: the authorization endpoint, possibly with a query
 * @client_id: the OAuth client ID
 * @redirect_uri: where the browser is sent back to
 * @scopes: space separated scopes
 *
 * Adds the authorization request of RFC 6749 §4.1.1 with the S256
 * challenge and the state to @authorize_url. Parameters @authorize_url
 * already has are kept, except those this function sets.
 *
 * Returns: (transfer full) (nullable): the URL to open in the browser, or
 *   %NULL if @authorize_url is not an absolute URI
 */
char *
ck_pkce_build_authorize_url (const CkPkce *pkce,
                             const char   *authorize_url,
                             const char   *client_id,
                             const char   *redirect_uri,
                             const char   *scopes)
{
  g_autoptr(GUri) base = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GString) query = NULL;
  const char *old_query;

  g_return_val_if_fail (pkce != NULL, NULL);
  g_return_val_if_fail (authorize_url != NULL, NULL);
  g_return_val_if_fail (client_id != NULL, NULL);
  g_return_val_if_fail (redirect_uri != NULL, NULL);
  g_return_val_if_fail (scopes != NULL, NULL);

  base = g_uri_parse (authorize_url, G_URI_FLAGS_ENCODED, NULL);
  if (base == NULL)
    return NULL;

  query = g_string_new (NULL);

  /* Keep what the configured URL carries, but never let it override (or
   * duplicate) a parameter of the login itself.
   */
  old_query = g_uri_get_query (base);
  if (old_query != NULL)
    {
      g_auto(GStrv) pairs = g_strsplit (old_query, "&", -1);

      for (guint i = 0; pairs[i] != NULL; i++)
        {
          g_autofree char *name = NULL;
          const char *eq;

          if (pairs[i][0] == '\0')
            continue;

          eq = strchr (pairs[i], '=');
          name = g_uri_unescape_segment (pairs[i], eq, NULL);
          if (name != NULL && g_strv_contains (authorize_params, name))
            continue;

          if (query->len > 0)
            g_string_append_c (query, '&');
          g_string_append (query, pairs[i]);
        }
    }

  append_param (query, "code", "true");
  append_param (query, "client_id", client_id);
  append_param (query, "response_type", "code");
  append_param (query, "redirect_uri", redirect_uri);
  append_param (query, "scope", scopes);
  append_param (query, "code_challenge", pkce->challenge);
  append_param (query, "code_challenge_method", "S256");
  append_param (query, "state", pkce->state);

  uri = g_uri_build (G_URI_FLAGS_ENCODED,
                     g_uri_get_scheme (base),
                     g_uri_get_userinfo (base),
                     g_uri_get_host (base),
                     g_uri_get_port (base),
                     g_uri_get_path (base),
                     query->str,
                     g_uri_get_fragment (base));

  return g_uri_to_string (uri);
}

/**
 * ck_pkce_state_equal:
 * @a: (nullable): a state
 * @b: (nullable): another state
 *
 * Compares two states in time that does not depend on where they differ,
 * so that a local attacker probing the callback learns nothing. The
 * length is not secret. %NULL and empty states never match.
 *
 * Returns: %TRUE if @a and @b are the same non-empty string
 */
gboolean
ck_pkce_state_equal (const char *a,
                     const char *b)
{
  volatile guint8 diff = 0;
  gsize length;

  if (a == NULL || b == NULL)
    return FALSE;

  length = strlen (a);
  if (length == 0 || length != strlen (b))
    return FALSE;

  for (gsize i = 0; i < length; i++)
    diff |= (guint8) a[i] ^ (guint8) b[i];

  return diff == 0;
}

/**
 * ck_pkce_parse_manual_code:
 * @pasted: what the user pasted from the manual callback page
 * @expected_state: the state of the login in progress
 * @code: (out) (transfer full): the authorization code; free it with
 *   ck_secret_free()
 * @error: a #GError
 *
 * Parses the `code#state` text the manual callback page shows. White
 * space anywhere (a terminal may wrap or indent the paste) is ignored.
 *
 * Returns: %TRUE if @pasted holds a code for this login; otherwise %FALSE
 *   with %CK_ERROR_INVALID_ARGUMENT
 */
gboolean
ck_pkce_parse_manual_code (const char  *pasted,
                           const char  *expected_state,
                           char       **code,
                           GError     **error)
{
  g_autoptr(CkSecretString) copy = NULL;
  const char *hash;
  gsize n = 0;

  g_return_val_if_fail (expected_state != NULL, FALSE);
  g_return_val_if_fail (code != NULL, FALSE);

  *code = NULL;

  copy = g_strdup (pasted != NULL ? pasted : "");
  for (const char *p = copy; *p != '\0'; p++)
    if (!g_ascii_isspace (*p))
      copy[n++] = *p;
  explicit_bzero (copy + n, strlen (copy + n));
  copy[n] = '\0';

  if (n == 0)
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "Nothing was pasted; copy the code from the page that "
                           "opened after you approved.");
      return FALSE;
    }

  hash = strrchr (copy, '#');
  if (hash == NULL)
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           manual_code_mismatch);
      return FALSE;
    }

  /* No NUL is written into @copy, so that ck_secret_free() wipes it all. */
  if (!ck_pkce_state_equal (hash + 1, expected_state))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           manual_code_mismatch);
      return FALSE;
    }

  if (hash == copy)
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "The pasted text holds no code; copy it again from the "
                           "page that opened after you approved.");
      return FALSE;
    }

  *code = g_strndup (copy, hash - copy);

  return TRUE;
}
