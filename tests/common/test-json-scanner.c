/* test-json-scanner.c: the strict JSON scanner behind the settings rewrite
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "ck-error.h"
#include "ck-json-scanner.h"

/* Scans an exact-size copy of @text (@length bytes, -1 for strlen) without
 * a terminator, so reading past the end shows under ASan and valgrind. */
static GArray *
scan (const char  *text,
      gssize       length,
      gsize       *open_brace,
      gsize       *close_brace,
      GError     **error)
{
  gsize len = length < 0 ? strlen (text) : (gsize) length;
  g_autofree char *copy = g_malloc (MAX (len, 1));
  gsize open = G_MAXSIZE;
  gsize close = G_MAXSIZE;
  GArray *members;

  memcpy (copy, text, len);
  members = ck_json_scanner_scan_object (copy, len, &open, &close, error);
  if (open_brace != NULL)
    *open_brace = open;
  if (close_brace != NULL)
    *close_brace = close;
  return members;
}

static void
assert_refused_len (const char *text,
                    gssize      length,
                    const char *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) members = scan (text, length, NULL, NULL, &error);

  g_assert_null (members);
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  g_assert_null (strchr (error->message, '\n'));
  if (message != NULL)
    g_assert_cmpstr (error->message, ==, message);
}

static void
assert_refused (const char *text,
                const char *message)
{
  assert_refused_len (text, -1, message);
}

static GArray *
assert_scans (const char *text)
{
  g_autoptr(GError) error = NULL;
  GArray *members = scan (text, -1, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (members);
  return members;
}

static void
assert_member (const char *text,
               GArray     *members,
               guint       i,
               const char *key,
               const char *value)
{
  const CkJsonMember *m = &g_array_index (members, CkJsonMember, i);
  g_autofree char *k = g_strndup (text + m->key_start, m->key_end - m->key_start);
  g_autofree char *v = g_strndup (text + m->value_start, m->value_end - m->value_start);

  g_assert_cmpstr (k, ==, key);
  g_assert_cmpstr (v, ==, value);
}

static void
test_members (void)
{
  const char *text =
    "  {\n"
    "  \"model\" : \"opus\",\n"
    "  \"permissions\": {\"allow\": [\"Bash(ls:*)\", \"Read\"], \"deny\": []},\n"
    "  \"n\":-1.5e+3,\"t\":true,\"f\":false,\"z\":null,\n"
    "  \"s\": \"a \\\"quoted\\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 word\"\n"
    "}\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) members = NULL;
  gsize open = 0;
  gsize close = 0;

  members = scan (text, -1, &open, &close, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (members->len, ==, 7);
  g_assert_cmpuint (open, ==, 2);
  g_assert_cmpuint (close, ==, strlen (text) - 2);

  assert_member (text, members, 0, "\"model\"", "\"opus\"");
  assert_member (text, members, 1, "\"permissions\"", "{\"allow\": [\"Bash(ls:*)\", \"Read\"], \"deny\": []}");
  assert_member (text, members, 2, "\"n\"", "-1.5e+3");
  assert_member (text, members, 3, "\"t\"", "true");
  assert_member (text, members, 4, "\"f\"", "false");
  assert_member (text, members, 5, "\"z\"", "null");
  assert_member (text, members, 6, "\"s\"",
                 "\"a \\\"quoted\\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 word\"");
}

static void
assert_empty_object (const char *text,
                     gsize       open_at,
                     gsize       close_at)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) members = NULL;
  gsize open = 0;
  gsize close = 0;

  members = scan (text, -1, &open, &close, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (members->len, ==, 0);
  g_assert_cmpuint (open, ==, open_at);
  g_assert_cmpuint (close, ==, close_at);
}

static void
test_empty_object (void)
{
  assert_empty_object ("{}", 0, 1);
  assert_empty_object (" \t\r\n{ \n }\n ", 4, 8);
}

/* Only the top level is reported: members of nested objects are part of
 * their parent's value. */
static void
test_nested_not_reported (void)
{
  const char *text = "{\"env\": {\"apiKeyHelper\": \"no\", \"x\": [{\"y\": {}}]}, \"b\": [1, [2, [3]]]}";
  g_autoptr(GArray) members = assert_scans (text);

  g_assert_cmpuint (members->len, ==, 2);
  assert_member (text, members, 0, "\"env\"", "{\"apiKeyHelper\": \"no\", \"x\": [{\"y\": {}}]}");
  assert_member (text, members, 1, "\"b\"", "[1, [2, [3]]]");
}

/* Duplicates are all reported, in order: which one counts is the caller's
 * business (JSON.parse, and so claude, keeps the last). */
static void
test_duplicate_keys (void)
{
  const char *text = "{\"a\": 1, \"b\": 2, \"a\": 3, \"a\\u0062\": 4, \"ab\": 5}";
  g_autoptr(GArray) members = assert_scans (text);

  g_assert_cmpuint (members->len, ==, 5);
  assert_member (text, members, 0, "\"a\"", "1");
  assert_member (text, members, 2, "\"a\"", "3");
  g_assert_true (ck_json_scanner_key_equals (text, &g_array_index (members, CkJsonMember, 0), "a"));
  g_assert_true (ck_json_scanner_key_equals (text, &g_array_index (members, CkJsonMember, 2), "a"));
  /* The same key spelt two ways. */
  g_assert_true (ck_json_scanner_key_equals (text, &g_array_index (members, CkJsonMember, 3), "ab"));
  g_assert_true (ck_json_scanner_key_equals (text, &g_array_index (members, CkJsonMember, 4), "ab"));
}

static gboolean
first_key_equals (const char *text,
                  const char *name)
{
  g_autoptr(GArray) members = assert_scans (text);

  g_assert_cmpuint (members->len, >=, 1);
  return ck_json_scanner_key_equals (text, &g_array_index (members, CkJsonMember, 0), name);
}

static void
test_key_equals (void)
{
  g_assert_true (first_key_equals ("{\"apiKeyHelper\": 1}", "apiKeyHelper"));
  g_assert_true (first_key_equals ("{\"api\\u004beyHelper\": 1}", "apiKeyHelper"));
  g_assert_true (first_key_equals ("{\"\\u0061\\u0070\\u0069KeyHelper\": 1}", "apiKeyHelper"));
  g_assert_true (first_key_equals ("{\"a\\/b\": 1}", "a/b"));
  g_assert_true (first_key_equals ("{\"a\\nb\\t\\\"\\\\\": 1}", "a\nb\t\"\\"));
  g_assert_true (first_key_equals ("{\"\": 1}", ""));

  g_assert_false (first_key_equals ("{\"apiKeyHelper\": 1}", "apiKeyHelpe"));
  g_assert_false (first_key_equals ("{\"apiKeyHelpe\": 1}", "apiKeyHelper"));
  g_assert_false (first_key_equals ("{\"apikeyhelper\": 1}", "apiKeyHelper"));
  g_assert_false (first_key_equals ("{\"\": 1}", "a"));
  /* An escape outside ASCII never matches an ASCII name, nor does \u0000
   * end the key early. */
  g_assert_false (first_key_equals ("{\"\\u00e9\": 1}", "\xc3\xa9"));
  g_assert_false (first_key_equals ("{\"\\u00c3\\u00a9\": 1}", "\xc3\xa9"));
  g_assert_false (first_key_equals ("{\"a\\u0000\": 1}", "a"));
  g_assert_false (first_key_equals ("{\"\\ud83d\\ude00\": 1}", "x"));
}

static void
test_not_an_object (void)
{
  const char *values[] = {
    "[]", "[1, 2]", "\"str\"", "42", "-1", "0", "true", "false", "null",
    "  [\"apiKeyHelper\"]\n",
    /* Judged by the first character only. */
    "nonsense", "[", "-",
  };

  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    assert_refused (values[i], "not a JSON object");
}

static void
test_malformed (void)
{
  const char *bad[] = {
    "", " \n", "{", "}", "{\"a\"}", "{\"a\": }", "{\"a\": 1,}", "{,}",
    "{\"a\" 1}", "{\"a\": 1 \"b\": 2}", "{\"a\": 1} x", "{\"a\": 1}{}",
    "{\"a\": [1, 2,]}", "{\"a\": [1 2]}", "{\"a\": {\"b\"}}",
    /* Not strict JSON. */
    "// comment\n{}", "{/* c */}", "{}// c", "{'a': 1}", "{a: 1}",
    "{\"a\": 'b'}", "{\"a\": NaN}", "{\"a\": Infinity}", "{\"a\": undefined}",
    "\xef\xbb\xbf{}", "{\"a\":\f1}", "{\"a\":\v1}", "{\"a\":\xc2\xa0" "1}",
    /* Literals. */
    "{\"a\": tru}", "{\"a\": True}", "{\"a\": nul}", "{\"a\": falsey}",
    /* Numbers. */
    "{\"a\": 01}", "{\"a\": -01}", "{\"a\": .5}", "{\"a\": 1.}", "{\"a\": 1.e3}",
    "{\"a\": 1e}", "{\"a\": 1e+}", "{\"a\": +1}", "{\"a\": -}", "{\"a\": 0x10}",
    "{\"a\": 1_000}", "{\"a\": --1}",
    /* Strings. */
    "{\"a\": \"unterminated}", "{\"a\": \"\\x\"}", "{\"a\": \"\\u12\"}",
    "{\"a\": \"\\u12g4\"}", "{\"a\": \"\\", "{\"a\": \"\\u", "{\"a\": \"tab\there\"}",
    "{\"a\": \"new\nline\"}", "{\"a\": \"\x01\"}", "{\"a\": \"\x1f\"}",
    "{\"a\\q\": 1}", "{\"a\n\": 1}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_message ("input %u", i);
      assert_refused (bad[i], NULL);
    }
}

static void
test_error_position (void)
{
  /* Where the scan stopped, counted in characters, not bytes. */
  assert_refused ("", "not valid JSON (line 1, column 1)");
  assert_refused ("{\n  \"model\": \"opus\",\n}\n", "not valid JSON (line 3, column 1)");
  assert_refused ("{\"é\": x}", "not valid JSON (line 1, column 7)");
  assert_refused ("{\"a\": 1}\n\n  x", "not valid JSON (line 3, column 3)");
  assert_refused ("// c\n{}", "not valid JSON (line 1, column 1)");
}

/* The scanner goes by @length alone: a NUL is a byte like any other and
 * nothing past @length is looked at. */
static void
test_length (void)
{
  g_autoptr(GArray) members = NULL;

  assert_refused_len ("{}\0", 3, NULL);
  assert_refused_len ("{\"a\": \"x\0y\"}", 12, NULL);
  assert_refused_len ("{\"a\": 1}", 7, NULL);

  members = scan ("{\"a\": 1}garbage", 8, NULL, NULL, NULL);
  g_assert_nonnull (members);
  g_assert_cmpuint (members->len, ==, 1);
}

/* Every proper prefix of a document is refused, and none is read past. */
static void
test_truncated (void)
{
  const char *text =
    "{\"a\": [1, -2.5e-3, {\"b\": \"c\\n\\u00e9\"}], \"t\": true, \"f\": false, \"z\": null}";
  gsize len = strlen (text);
  g_autoptr(GArray) whole = NULL;

  for (gsize i = 0; i < len; i++)
    assert_refused_len (text, i, NULL);

  whole = scan (text, len, NULL, NULL, NULL);
  g_assert_nonnull (whole);
  g_assert_cmpuint (whole->len, ==, 4);
}

/* {"a": [[[…]]]} with @depth arrays. */
static char *
nested_arrays (guint depth)
{
  GString *text = g_string_new ("{\"a\": ");

  for (guint i = 0; i < depth; i++)
    g_string_append_c (text, '[');
  for (guint i = 0; i < depth; i++)
    g_string_append_c (text, ']');
  g_string_append_c (text, '}');
  return g_string_free (text, FALSE);
}

static void
test_deep_nesting (void)
{
  g_autofree char *at_limit = nested_arrays (CK_JSON_SCANNER_MAX_DEPTH);
  g_autofree char *over = nested_arrays (CK_JSON_SCANNER_MAX_DEPTH + 1);
  g_autofree char *deep = nested_arrays (1000000);
  g_autofree char *objects = NULL;
  g_autoptr(GArray) members = NULL;
  GString *text;

  /* Up to CK_JSON_SCANNER_MAX_DEPTH containers inside the top-level
   * object are fine; one more is refused. */
  members = assert_scans (at_limit);
  g_assert_cmpuint (members->len, ==, 1);
  assert_refused (over, NULL);

  /* Deep enough to smash the stack of a recursion without a bound. */
  assert_refused (deep, NULL);

  /* Objects count the same as arrays. */
  text = g_string_new (NULL);
  for (guint i = 0; i < 100000; i++)
    g_string_append (text, "{\"a\":");
  g_string_append (text, "1");
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (text, '}');
  objects = g_string_free (text, FALSE);
  assert_refused (objects, NULL);
}

static void
test_huge_numbers (void)
{
  g_autoptr(GString) digits = g_string_new ("{\"n\": -");
  g_autoptr(GArray) members = NULL;
  g_autoptr(GArray) long_one = NULL;
  const char *text =
    "{\"big\": 12345678901234567890123456789012345678901234567890,"
    " \"exp\": 1e999999999999, \"tiny\": -0.0000000000000000000001E-400, \"zero\": -0}";

  members = assert_scans (text);
  g_assert_cmpuint (members->len, ==, 4);
  assert_member (text, members, 0, "\"big\"", "12345678901234567890123456789012345678901234567890");
  assert_member (text, members, 1, "\"exp\"", "1e999999999999");
  assert_member (text, members, 2, "\"tiny\"", "-0.0000000000000000000001E-400");
  assert_member (text, members, 3, "\"zero\"", "-0");

  /* A number is text to the scanner, however long. */
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (digits, '0' + 1 + i % 9);
  g_string_append (digits, ".5e+7}");
  long_one = assert_scans (digits->str);
  g_assert_cmpuint (g_array_index (long_one, CkJsonMember, 0).value_end
                    - g_array_index (long_one, CkJsonMember, 0).value_start, ==, 100001 + 5);
}

/* Encodings are not the scanner's business (ck_claude_settings_rewrite
 * validates UTF-8 first): inside strings any byte from 0x20 up passes,
 * outside them anything that is not JSON is refused. */
static void
test_invalid_utf8 (void)
{
  const char *text = "{\"k\xff\": \"\xc3\x28 \xed\xa0\x80 \xf8\x88\x80\x80\x80\", \"ok\": \"\xc3\xa9\"}";
  g_autoptr(GArray) members = assert_scans (text);

  g_assert_cmpuint (members->len, ==, 2);
  assert_member (text, members, 0, "\"k\xff\"", "\"\xc3\x28 \xed\xa0\x80 \xf8\x88\x80\x80\x80\"");
  assert_member (text, members, 1, "\"ok\"", "\"\xc3\xa9\"");

  assert_refused ("\xff{}", NULL);
  assert_refused ("{\"a\": \xff}", NULL);
  assert_refused ("{}\xff", NULL);
  assert_refused ("{\xc3\xa9: 1}", NULL);
}

static void
test_is_blank (void)
{
  g_assert_true (ck_json_scanner_is_blank ("", 0));
  g_assert_true (ck_json_scanner_is_blank (" \t\r\n", 4));
  g_assert_true (ck_json_scanner_is_blank (" x", 1));
  g_assert_false (ck_json_scanner_is_blank (" x", 2));
  /* Only JSON's four whitespace characters. */
  g_assert_false (ck_json_scanner_is_blank ("\f", 1));
  g_assert_false (ck_json_scanner_is_blank ("\v", 1));
  g_assert_false (ck_json_scanner_is_blank ("\0", 1));
  g_assert_false (ck_json_scanner_is_blank ("\xc2\xa0", 2));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/json-scanner/members", test_members);
  g_test_add_func ("/json-scanner/empty-object", test_empty_object);
  g_test_add_func ("/json-scanner/nested-not-reported", test_nested_not_reported);
  g_test_add_func ("/json-scanner/duplicate-keys", test_duplicate_keys);
  g_test_add_func ("/json-scanner/key-equals", test_key_equals);
  g_test_add_func ("/json-scanner/not-an-object", test_not_an_object);
  g_test_add_func ("/json-scanner/malformed", test_malformed);
  g_test_add_func ("/json-scanner/error-position", test_error_position);
  g_test_add_func ("/json-scanner/length", test_length);
  g_test_add_func ("/json-scanner/truncated", test_truncated);
  g_test_add_func ("/json-scanner/deep-nesting", test_deep_nesting);
  g_test_add_func ("/json-scanner/huge-numbers", test_huge_numbers);
  g_test_add_func ("/json-scanner/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/json-scanner/is-blank", test_is_blank);

  return g_test_run ();
}
