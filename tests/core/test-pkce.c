/* test-pkce.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "ck-error.h"
#include "ck-pkce.h"

static const char mismatch_message[] =
  "The pasted code does not belong to this login; copy it again from the "
  "page that opened after you approved.";

static gboolean
is_unreserved (const char *s)
{
  /* RFC 7636 §4.1: ALPHA / DIGIT / "-" / "." / "_" / "~" */
  for (; *s != '\0'; s++)
    if (!g_ascii_isalnum (*s) && strchr ("-._~", *s) == NULL)
      return FALSE;
  return TRUE;
}

static void
test_verifier (void)
{
  g_autoptr(CkPkce) pkce = ck_pkce_new ();
  g_autofree char *challenge = NULL;
  gsize length;

  g_assert_nonnull (pkce->verifier);
  length = strlen (pkce->verifier);
  g_assert_cmpuint (length, >=, 43);
  g_assert_cmpuint (length, <=, 128);
  g_assert_true (is_unreserved (pkce->verifier));

  /* S256 of a verifier is 32 bytes: 43 base64url characters, no padding. */
  g_assert_cmpuint (strlen (pkce->challenge), ==, 43);
  g_assert_true (is_unreserved (pkce->challenge));
  challenge = ck_pkce_challenge_for_verifier (pkce->verifier);
  g_assert_cmpstr (pkce->challenge, ==, challenge);
  g_assert_cmpstr (pkce->challenge, !=, pkce->verifier);
}

static void
test_rfc7636_vector (void)
{
  /* RFC 7636 Appendix B. */
  g_autofree char *challenge =
    ck_pkce_challenge_for_verifier ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");

  g_assert_cmpstr (challenge, ==, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static void
test_unique (void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 200; i++)
    {
      g_autoptr(CkPkce) pkce = ck_pkce_new ();

      g_assert_cmpuint (strlen (pkce->state), >=, 16);
      g_assert_true (is_unreserved (pkce->state));
      g_assert_cmpstr (pkce->state, !=, pkce->verifier);

      g_assert_true (g_hash_table_add (seen, g_strdup (pkce->state)));
      g_assert_true (g_hash_table_add (seen, g_strdup (pkce->verifier)));
    }
}

static GHashTable *
parse_params (const char *url,
              GUri      **uri_out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTable *params;
  GUriParamsIter iter;
  GUri *uri;
  char *name;
  char *value;

  uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, &error);
  g_assert_no_error (error);
  g_assert_nonnull (g_uri_get_query (uri));

  params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_uri_params_iter_init (&iter, g_uri_get_query (uri), -1, "&", G_URI_PARAMS_NONE);
  while (g_uri_params_iter_next (&iter, &name, &value, &error))
    {
      /* Every parameter appears once. */
      g_assert_false (g_hash_table_contains (params, name));
      g_hash_table_insert (params, name, value);
    }
  g_assert_no_error (error);

  *uri_out = uri;
  return params;
}

static void
test_authorize_url (void)
{
  g_autoptr(CkPkce) pkce = ck_pkce_new ();
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autofree char *url = NULL;

  url = ck_pkce_build_authorize_url (pkce,
                                     "https://claude.example:8443/cai/oauth/authorize?keep=a%20b&state=stale",
                                     "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
                                     "http://localhost:40123/callback",
                                     "user:profile user:inference org:create_api_key");
  g_assert_nonnull (url);
  g_test_message ("authorize URL has %u characters", (guint) strlen (url));

  params = parse_params (url, &uri);
  g_assert_cmpstr (g_uri_get_scheme (uri), ==, "https");
  g_assert_cmpstr (g_uri_get_host (uri), ==, "claude.example");
  g_assert_cmpint (g_uri_get_port (uri), ==, 8443);
  g_assert_cmpstr (g_uri_get_path (uri), ==, "/cai/oauth/authorize");

  g_assert_cmpstr (g_hash_table_lookup (params, "keep"), ==, "a b");
  g_assert_cmpstr (g_hash_table_lookup (params, "code"), ==, "true");
  g_assert_cmpstr (g_hash_table_lookup (params, "client_id"), ==, "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
  g_assert_cmpstr (g_hash_table_lookup (params, "response_type"), ==, "code");
  g_assert_cmpstr (g_hash_table_lookup (params, "redirect_uri"), ==, "http://localhost:40123/callback");
  g_assert_cmpstr (g_hash_table_lookup (params, "scope"), ==, "user:profile user:inference org:create_api_key");
  g_assert_cmpstr (g_hash_table_lookup (params, "code_challenge"), ==, pkce->challenge);
  g_assert_cmpstr (g_hash_table_lookup (params, "code_challenge_method"), ==, "S256");
  /* The configured URL's own "state" is replaced, not repeated. */
  g_assert_cmpstr (g_hash_table_lookup (params, "state"), ==, pkce->state);
  g_assert_cmpuint (g_hash_table_size (params), ==, 9);

  /* The verifier never leaves through the browser. */
  g_assert_null (strstr (url, pkce->verifier));
  /* Reserved characters in values are escaped. */
  g_assert_null (strstr (url, "localhost:40123/callback"));
  g_assert_null (strchr (url, ' '));
}

static void
test_authorize_url_plain (void)
{
  g_autoptr(CkPkce) pkce = ck_pkce_new ();
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autofree char *url = NULL;

  url = ck_pkce_build_authorize_url (pkce, "http://127.0.0.1:9/oauth/authorize",
                                     "client", "http://localhost:1/callback", "a");
  g_assert_true (g_str_has_prefix (url, "http://127.0.0.1:9/oauth/authorize?code=true&client_id=client&"));
  params = parse_params (url, &uri);
  g_assert_cmpuint (g_hash_table_size (params), ==, 8);

  g_assert_null (ck_pkce_build_authorize_url (pkce, "not a url", "c", "r", "s"));
}

static void
test_state_equal (void)
{
  g_assert_true (ck_pkce_state_equal ("abcdefghijklmnop", "abcdefghijklmnop"));
  g_assert_false (ck_pkce_state_equal ("abcdefghijklmnop", "abcdefghijklmnoq"));
  g_assert_false (ck_pkce_state_equal ("Xbcdefghijklmnop", "abcdefghijklmnop"));
  g_assert_false (ck_pkce_state_equal ("abcdefghijklmnop", "abcdefghijklmno"));
  g_assert_false (ck_pkce_state_equal ("abcdefghijklmno", "abcdefghijklmnop"));
  g_assert_false (ck_pkce_state_equal (NULL, "abcdefghijklmnop"));
  g_assert_false (ck_pkce_state_equal ("abcdefghijklmnop", NULL));
  g_assert_false (ck_pkce_state_equal (NULL, NULL));
  g_assert_false (ck_pkce_state_equal ("", ""));
}

static void
test_manual_code_good (void)
{
  static const struct {
    const char *pasted;
    const char *code;
  } good[] = {
    { "the-code_123#STATE-abcdefghijklmnop", "the-code_123" },
    { "  the-code_123#STATE-abcdefghijklmnop\n", "the-code_123" },
    /* A terminal that wrapped the paste. */
    { "the-code\n_123#STATE-abc\tdefghijklmnop", "the-code_123" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *code = NULL;

      g_assert_true (ck_pkce_parse_manual_code (good[i].pasted, "STATE-abcdefghijklmnop",
                                                &code, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (code, ==, good[i].code);
    }
}

static void
test_manual_code_bad (void)
{
  static const char *mismatched[] = {
    "the-code#STATE-abcdefghijklmnoX",
    "the-code#",
    "the-code",
    "the-code#STATE-abcdefghijklmnop#",
    "the-code#STATE-abcdefghijklmno",
  };
  static const char *other[] = { "", "   \n", "#STATE-abcdefghijklmnop", NULL };

  for (guint i = 0; i < G_N_ELEMENTS (mismatched); i++)
    {
      g_autoptr(GError) error = NULL;
      char *code = (char *) "untouched";

      g_assert_false (ck_pkce_parse_manual_code (mismatched[i], "STATE-abcdefghijklmnop",
                                                 &code, &error));
      g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
      g_assert_cmpstr (error->message, ==, mismatch_message);
      g_assert_null (code);
    }

  for (guint i = 0; i < G_N_ELEMENTS (other); i++)
    {
      g_autoptr(GError) error = NULL;
      char *code = NULL;

      g_assert_false (ck_pkce_parse_manual_code (other[i], "STATE-abcdefghijklmnop",
                                                 &code, &error));
      g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
      g_assert_null (strstr (error->message, "STATE"));
      g_assert_null (code);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/pkce/verifier", test_verifier);
  g_test_add_func ("/pkce/rfc7636-vector", test_rfc7636_vector);
  g_test_add_func ("/pkce/unique", test_unique);
  g_test_add_func ("/pkce/authorize-url", test_authorize_url);
  g_test_add_func ("/pkce/authorize-url-plain", test_authorize_url_plain);
  g_test_add_func ("/pkce/state-equal", test_state_equal);
  g_test_add_func ("/pkce/manual-code/good", test_manual_code_good);
  g_test_add_func ("/pkce/manual-code/bad", test_manual_code_bad);

  return g_test_run ();
}
