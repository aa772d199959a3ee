/* test-claude-settings.c: editing Claude Code's settings.json
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "ck-claude-settings.h"
#include "ck-claude-settings-json.h"
#include "ck-error.h"

#define HELPER "/usr/bin/claude-keyring helper"

static char *
rewrite (const char *in,
         const char *helper)
{
  g_autoptr(GError) error = NULL;
  char *out = ck_claude_settings_rewrite (in, -1, helper, &error);

  g_assert_no_error (error);
  g_assert_nonnull (out);
  return out;
}

static void
assert_rewrite (const char *in,
                const char *helper,
                const char *expected)
{
  g_autofree char *out = rewrite (in, helper);

  g_assert_cmpstr (out, ==, expected);
}

static void
assert_refused (const char *in,
                const char *helper)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = ck_claude_settings_rewrite (in, -1, helper, &error);

  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  g_assert_null (out);
  /* One line a user can read. */
  g_assert_null (strchr (error->message, '\n'));
}

static void
test_rewrite_set_keeps_everything (void)
{
  const char *in =
    "{\n"
    "  \"model\": \"opus\",\n"
    "  \"permissions\": {\n"
    "    \"allow\": [\"Bash(ls:*)\", \"Read\"],\n"
    "    \"deny\": []\n"
    "  },\n"
    "  \"env\": { \"GREETING\": \"h\\u00e9llo \\\"w\\\"\", \"name\": \"Zoë 日本語 😀\" },\n"
    "  \"cleanupPeriodDays\": 30,\n"
    "  \"ratio\": 0.1,\n"
    "  \"big\": 12345678901234567890,\n"
    "  \"flags\": [true, false, null, -1.5e+3]\n"
    "}\n";
  const char *expected =
    "{\n"
    "  \"model\": \"opus\",\n"
    "  \"permissions\": {\n"
    "    \"allow\": [\"Bash(ls:*)\", \"Read\"],\n"
    "    \"deny\": []\n"
    "  },\n"
    "  \"env\": { \"GREETING\": \"h\\u00e9llo \\\"w\\\"\", \"name\": \"Zoë 日本語 😀\" },\n"
    "  \"cleanupPeriodDays\": 30,\n"
    "  \"ratio\": 0.1,\n"
    "  \"big\": 12345678901234567890,\n"
    "  \"flags\": [true, false, null, -1.5e+3],\n"
    "  \"apiKeyHelper\": \"" HELPER "\"\n"
    "}\n";

  assert_rewrite (in, HELPER, expected);
}

static void
test_rewrite_set_styles (void)
{
  /* Compact files stay compact; the colon is spelt like the last one. */
  assert_rewrite ("{\"a\":1}", "x", "{\"a\":1,\"apiKeyHelper\":\"x\"}");
  assert_rewrite ("{\n\t\"a\" : 1\n}", "x", "{\n\t\"a\" : 1,\n\t\"apiKeyHelper\" : \"x\"\n}");
  assert_rewrite ("{}", "x", "{\n  \"apiKeyHelper\": \"x\"\n}");
  assert_rewrite ("  { }  \n", "x", "  {\n  \"apiKeyHelper\": \"x\"\n}  \n");
  assert_rewrite ("", "x", "{\n  \"apiKeyHelper\": \"x\"\n}\n");
  assert_rewrite (" \n", "x", "{\n  \"apiKeyHelper\": \"x\"\n}\n");
  /* No trailing newline stays without one. */
  assert_rewrite ("{\"a\": [1, {\"b\": {}}]}", "x",
                  "{\"a\": [1, {\"b\": {}}],\"apiKeyHelper\": \"x\"}");
}

static void
test_rewrite_replace (void)
{
  assert_rewrite ("{\n  \"apiKeyHelper\": \"old\",\n  \"model\": \"opus\"\n}\n", HELPER,
                  "{\n  \"apiKeyHelper\": \"" HELPER "\",\n  \"model\": \"opus\"\n}\n");
  /* A non-string value is replaced too. */
  assert_rewrite ("{\"apiKeyHelper\": {\"x\": [1]}, \"b\": 2}", "x",
                  "{\"apiKeyHelper\": \"x\", \"b\": 2}");
  /* The same value: the same bytes. */
  assert_rewrite ("{ \"apiKeyHelper\" :\"x\" }", "x", "{ \"apiKeyHelper\" :\"x\" }");
  /* A key spelt with escapes is the same key to claude. */
  assert_rewrite ("{\"api\\u004beyHelper\": \"old\"}", "x", "{\"api\\u004beyHelper\": \"x\"}");
  /* Nested apiKeyHelper keys belong to something else. */
  assert_rewrite ("{\"env\": {\"apiKeyHelper\": \"no\"}}", "x",
                  "{\"env\": {\"apiKeyHelper\": \"no\"},\"apiKeyHelper\": \"x\"}");
}

static void
test_rewrite_quoting (void)
{
  assert_rewrite ("{}", "'/opt/my tools/claude-keyring' helper",
                  "{\n  \"apiKeyHelper\": \"'/opt/my tools/claude-keyring' helper\"\n}");
  assert_rewrite ("{}", "a\"b\\c\n\x01",
                  "{\n  \"apiKeyHelper\": \"a\\\"b\\\\c\\n\\u0001\"\n}");
  assert_rewrite ("{}", "/home/zoë/bin/ck helper",
                  "{\n  \"apiKeyHelper\": \"/home/zoë/bin/ck helper\"\n}");
}

static void
test_rewrite_remove (void)
{
  const char *in =
    "{\n"
    "  \"model\": \"opus\",\n"
    "  \"apiKeyHelper\": \"" HELPER "\",\n"
    "  \"env\": {\"A\": [1, 2]}\n"
    "}\n";

  /* Middle, last, first, only. */
  assert_rewrite (in, NULL, "{\n  \"model\": \"opus\",\n  \"env\": {\"A\": [1, 2]}\n}\n");
  assert_rewrite ("{\n  \"a\": 1,\n  \"apiKeyHelper\": \"x\"\n}\n", NULL, "{\n  \"a\": 1\n}\n");
  assert_rewrite ("{\"apiKeyHelper\": \"x\", \"a\": 1}", NULL, "{\"a\": 1}");
  assert_rewrite ("{\n  \"apiKeyHelper\": \"x\"\n}\n", NULL, "{}\n");
  /* Nothing to remove: the same bytes. */
  assert_rewrite ("{ \"a\" : 1 }\n", NULL, "{ \"a\" : 1 }\n");
  assert_rewrite ("", NULL, "");
}

static void
test_rewrite_duplicates (void)
{
  /* JSON.parse takes the last value: every copy must go or be replaced. */
  assert_rewrite ("{\"apiKeyHelper\": \"a\", \"b\": 1, \"apiKeyHelper\": \"c\"}", "x",
                  "{\"apiKeyHelper\": \"x\", \"b\": 1}");
  assert_rewrite ("{\"apiKeyHelper\": \"a\", \"b\": 1, \"apiKeyHelper\": \"c\"}", NULL,
                  "{\"b\": 1}");
  /* Other duplicates are not ours to touch. */
  assert_rewrite ("{\"b\": 1, \"b\": 2}", "x", "{\"b\": 1, \"b\": 2, \"apiKeyHelper\": \"x\"}");
}

static void
test_rewrite_refuses (void)
{
  const char *bad[] = {
    "{", "}", "{\"a\": }", "{\"a\": 1,}", "{\"a\" 1}", "[1, 2]", "\"str\"", "42",
    "null", "{\"a\": 1} x", "{\"a\": 1}{}", "// comment\n{}", "{/* c */}",
    "{'a': 1}", "{a: 1}", "{\"a\": 01}", "{\"a\": .5}", "{\"a\": tru}",
    "{\"a\": \"\\x\"}", "{\"a\": \"tab\there\"}", "{\"a\": NaN}",
    "\xef\xbb\xbf{}", "{\"a\": \"\xff\"}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_message ("input %u", i);
      assert_refused (bad[i], HELPER);
      assert_refused (bad[i], NULL);
    }

  /* An embedded NUL is refused, not truncated. */
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *out = ck_claude_settings_rewrite ("{}\0{}", 5, "x", &error);

    g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
    g_assert_null (out);
  }

  /* Nesting deep enough to smash a recursive parser's stack. */
  {
    g_autoptr(GString) deep = g_string_new ("{\"a\": ");

    for (guint i = 0; i < 100000; i++)
      g_string_append_c (deep, '[');
    for (guint i = 0; i < 100000; i++)
      g_string_append_c (deep, ']');
    g_string_append_c (deep, '}');
    assert_refused (deep->str, "x");
  }
}

/* Mutations of a valid file either fail cleanly or pass the rewrite's own
 * check (which re-parses the output); they never crash. */
static void
test_rewrite_mutations (void)
{
  const char *seed = "{\"a\": [1, {\"b\": \"c\\n\"}], \"apiKeyHelper\": \"h\", \"d\": -0.5e2}";
  gsize len = strlen (seed);
  GRand *rand = g_rand_new_with_seed (4242);
  const char alphabet[] = "{}[]:,\" \\ux01-.eE\n";

  for (guint i = 0; i < 20000; i++)
    {
      g_autofree char *copy = g_strdup (seed);
      g_autoptr(GError) error = NULL;
      g_autofree char *out = NULL;
      guint edits = g_rand_int_range (rand, 1, 4);

      for (guint e = 0; e < edits; e++)
        copy[g_rand_int_range (rand, 0, len)] = alphabet[g_rand_int_range (rand, 0, sizeof alphabet - 1)];

      out = ck_claude_settings_rewrite (copy, -1, (i & 1) ? "x" : NULL, &error);
      g_assert_true ((out == NULL) != (error == NULL));
      if (error != NULL)
        g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
    }

  g_rand_free (rand);
}

/* --- files --- */

typedef struct
{
  char *dir;
  char *path;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("ck-settings-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "claude", "settings.json", NULL);
}

static void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    {
      g_unlink (path);
      return;
    }

  while ((name = g_dir_read_name (dir)))
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      struct stat st;

      if (lstat (child, &st) == 0 && S_ISDIR (st.st_mode))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_dir_close (dir);
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->path);
}

static void
write_file (const char *path,
            const char *contents,
            int         mode)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
}

static char *
read_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

static int
file_mode (const char *path)
{
  struct stat st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

static void
test_file_set_keeps_keys (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *previous = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *helper = NULL;
  gboolean changed = FALSE;

  write_file (f->path, "{\n  \"model\": \"opus\",\n  \"env\": {\"K\": \"ü\"}\n}\n", 0644);

  g_assert_true (ck_claude_settings_set_api_key_helper (f->path, HELPER, &previous, &changed, &error));
  g_assert_no_error (error);
  g_assert_true (changed);
  g_assert_null (previous);

  contents = read_file (f->path);
  g_assert_cmpstr (contents, ==,
                   "{\n  \"model\": \"opus\",\n  \"env\": {\"K\": \"ü\"},\n"
                   "  \"apiKeyHelper\": \"" HELPER "\"\n}\n");

  g_assert_true (ck_claude_settings_get_api_key_helper (f->path, &helper, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (helper, ==, HELPER);

  /* Setting it again writes nothing. */
  g_assert_true (ck_claude_settings_set_api_key_helper (f->path, HELPER, &previous, &changed, &error));
  g_assert_false (changed);
  g_assert_cmpstr (previous, ==, HELPER);
}

static void
test_file_malformed_untouched (Fixture       *f,
                               gconstpointer  data)
{
  const char *bad = "{\n  \"model\": \"opus\",\n}\n";
  struct stat before;
  struct stat after;
  struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *helper = NULL;
  gboolean changed = TRUE;

  write_file (f->path, bad, 0600);
  /* An old mtime, so any write would show. */
  g_assert_cmpint (utimensat (AT_FDCWD, f->path, old, 0), ==, 0);
  g_assert_cmpint (g_stat (f->path, &before), ==, 0);

  g_assert_false (ck_claude_settings_set_api_key_helper (f->path, HELPER, NULL, &changed, &error));
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  g_assert_false (changed);
  g_assert_null (strchr (error->message, '\n'));
  g_assert_nonnull (strstr (error->message, f->path));
  g_clear_error (&error);

  g_assert_false (ck_claude_settings_set_api_key_helper (f->path, NULL, NULL, NULL, &error));
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_assert_false (ck_claude_settings_get_api_key_helper (f->path, &helper, &error));
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  contents = read_file (f->path);
  g_assert_cmpstr (contents, ==, bad);
  g_assert_cmpint (g_stat (f->path, &after), ==, 0);
  g_assert_cmpint (after.st_mtim.tv_sec, ==, before.st_mtim.tv_sec);
  g_assert_cmpint (after.st_mtim.tv_nsec, ==, before.st_mtim.tv_nsec);
  g_assert_cmpint (after.st_ino, ==, before.st_ino);

  /* Not an object: also untouched. */
  write_file (f->path, "[\"apiKeyHelper\"]\n", 0600);
  g_assert_false (ck_claude_settings_set_api_key_helper (f->path, HELPER, NULL, NULL, &error));
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  g_clear_pointer (&contents, g_free);
  contents = read_file (f->path);
  g_assert_cmpstr (contents, ==, "[\"apiKeyHelper\"]\n");
}

static void
test_file_mode_kept (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  mode_t old_umask;

  write_file (f->path, "{\"a\": 1}", 0640);

  /* A strict umask must not change the mode the user chose. */
  old_umask = umask (077);
  g_assert_true (ck_claude_settings_set_api_key_helper (f->path, HELPER, NULL, NULL, &error));
  umask (old_umask);
  g_assert_no_error (error);
  g_assert_cmpint (file_mode (f->path), ==, 0640);

  g_assert_true (ck_claude_settings_set_api_key_helper (f->path, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (file_mode (f->path), ==, 0640);
}

static void
test_file_new (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_path_get_dirname (f->path);
  g_autofree char *contents = NULL;
  gboolean changed = FALSE;
  mode_t old_umask;
  GDir *listing;
  const char *name;
  guint n = 0;

  old_umask = umask (0);
  g_assert_true (ck_claude_settings_set_api_key_helper (f->path, HELPER, NULL, &changed, &error));
  umask (old_umask);
  g_assert_no_error (error);
  g_assert_true (changed);
  g_assert_cmpint (file_mode (f->path), ==, 0600);
  g_assert_cmpint (file_mode (dir), ==, 0700);

  contents = read_file (f->path);
  g_assert_cmpstr (contents, ==, "{\n  \"apiKeyHelper\": \"" HELPER "\"\n}\n");

  /* No temporary file left behind. */
  listing = g_dir_open (dir, 0, NULL);
  while ((name = g_dir_read_name (listing)))
    {
      g_assert_cmpstr (name, ==, "settings.json");
      n++;
    }
  g_dir_close (listing);
  g_assert_cmpint (n, ==, 1);
}

static void
test_file_remove (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *previous = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *helper = NULL;
  gboolean changed = FALSE;

  write_file (f->path, "{\n  \"apiKeyHelper\": \"other-tool --key\",\n  \"theme\": \"dark\"\n}\n", 0600);

  g_assert_true (ck_claude_settings_set_api_key_helper (f->path, NULL, &previous, &changed, &error));
  g_assert_no_error (error);
  g_assert_true (changed);
  g_assert_cmpstr (previous, ==, "other-tool --key");

  contents = read_file (f->path);
  g_assert_cmpstr (contents, ==, "{\n  \"theme\": \"dark\"\n}\n");

  g_assert_true (ck_claude_settings_get_api_key_helper (f->path, &helper, &error));
  g_assert_no_error (error);
  g_assert_null (helper);
}

static void
test_file_remove_missing (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *previous = NULL;
  g_autofree char *helper = NULL;
  g_autofree char *dir = g_path_get_dirname (f->path);
  gboolean changed = TRUE;

  g_assert_true (ck_claude_settings_set_api_key_helper (f->path, NULL, &previous, &changed, &error));
  g_assert_no_error (error);
  g_assert_false (changed);
  g_assert_null (previous);
  g_assert_false (g_file_test (f->path, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));

  g_assert_true (ck_claude_settings_get_api_key_helper (f->path, &helper, &error));
  g_assert_no_error (error);
  g_assert_null (helper);
}

static void
test_file_symlink (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *target = g_build_filename (f->dir, "dotfiles", "claude-settings.json", NULL);
  g_autofree char *dir = g_path_get_dirname (f->path);
  g_autofree char *contents = NULL;
  struct stat st;

  write_file (target, "{\"a\": 1}\n", 0644);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_cmpint (symlink (target, f->path), ==, 0);

  g_assert_true (ck_claude_settings_set_api_key_helper (f->path, "x", NULL, NULL, &error));
  g_assert_no_error (error);

  g_assert_cmpint (lstat (f->path, &st), ==, 0);
  g_assert_true (S_ISLNK (st.st_mode));
  contents = read_file (target);
  g_assert_cmpstr (contents, ==, "{\"a\": 1,\"apiKeyHelper\": \"x\"}\n");
  g_assert_cmpint (file_mode (target), ==, 0644);
}

static void
test_file_get_not_string (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *helper = NULL;

  write_file (f->path, "{\"apiKeyHelper\": 42}", 0600);
  g_assert_false (ck_claude_settings_get_api_key_helper (f->path, &helper, &error));
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  g_assert_null (helper);
  g_clear_error (&error);

  write_file (f->path, "{\"apiKeyHelper\": null}", 0600);
  g_assert_true (ck_claude_settings_get_api_key_helper (f->path, &helper, &error));
  g_assert_no_error (error);
  g_assert_null (helper);
}

static void
test_default_paths (void)
{
  g_autofree char *home_dir = g_build_filename (g_get_home_dir (), ".claude", NULL);
  g_autofree char *path = NULL;
  g_autofree char *creds = NULL;
  g_autofree char *dir = NULL;

  g_unsetenv ("CLAUDE_CONFIG_DIR");
  dir = ck_claude_settings_get_config_dir ();
  g_assert_cmpstr (dir, ==, home_dir);
  path = ck_claude_settings_get_default_path ();
  g_assert_true (g_str_has_prefix (path, home_dir));
  g_assert_true (g_str_has_suffix (path, "/settings.json"));

  g_setenv ("CLAUDE_CONFIG_DIR", "/tmp/cfg", TRUE);
  g_clear_pointer (&path, g_free);
  path = ck_claude_settings_get_default_path ();
  g_assert_cmpstr (path, ==, "/tmp/cfg/settings.json");
  creds = ck_claude_settings_get_credentials_path ();
  g_assert_cmpstr (creds, ==, "/tmp/cfg/.credentials.json");
  g_unsetenv ("CLAUDE_CONFIG_DIR");
}

static void
test_is_our_helper (void)
{
  /* What setup-claude writes, quoted for sh when the path needs it (its
   * shell test runs the quoted one through sh). */
  g_assert_true (ck_claude_settings_is_our_helper ("/usr/bin/claude-keyring helper"));
  g_assert_true (ck_claude_settings_is_our_helper ("'/opt/my tools/claude-keyring' helper"));
  g_assert_true (ck_claude_settings_is_our_helper ("'/opt/it'\\''s/claude-keyring' helper"));
  g_assert_true (ck_claude_settings_is_our_helper ("claude-keyring helper"));
  g_assert_false (ck_claude_settings_is_our_helper ("/usr/bin/claude-keyring token"));
  g_assert_false (ck_claude_settings_is_our_helper ("/usr/bin/op read op://x"));
  g_assert_false (ck_claude_settings_is_our_helper ("claude-keyring helper; rm -rf /"));
  g_assert_false (ck_claude_settings_is_our_helper ("'unterminated"));
  g_assert_false (ck_claude_settings_is_our_helper (NULL));
}

static char *
rewrite_env (const char *in,
             const char *url,
             const char *token)
{
  const CkClaudeSettingsEdit edits[] = {
    { "env", "ANTHROPIC_BASE_URL", url },
    { "env", "CLAUDE_CODE_OAUTH_TOKEN", token },
  };
  g_autoptr(GError) error = NULL;
  char *out = ck_claude_settings_rewrite_edits (in, -1, edits, G_N_ELEMENTS (edits), &error);

  g_assert_no_error (error);
  g_assert_nonnull (out);
  return out;
}

/* setup-claude --gateway: members of the env object, which is created
 * when missing and otherwise edited in place. */
static void
test_rewrite_env (void)
{
  const CkClaudeSettingsEdit bad[] = { { "env", "ANTHROPIC_BASE_URL", "u" } };
  g_autoptr(GError) error = NULL;
  g_autofree char *none = rewrite_env ("", "http://127.0.0.1:9", "fake-token");
  g_autofree char *added = rewrite_env ("{\n  \"model\": \"opus\"\n}\n", "http://127.0.0.1:9", "fake-token");
  g_autofree char *empty = rewrite_env ("{\n  \"env\": {}\n}\n", "u", "t");
  g_autofree char *kept = rewrite_env ("{\n  \"env\": { \"A\": \"1\",\n           \"CLAUDE_CODE_OAUTH_TOKEN\": \"old\" },\n  \"x\": 1\n}\n", "u", "t");
  g_autofree char *removed = rewrite_env (kept, NULL, NULL);
  g_autofree char *value = NULL;
  g_autofree char *refused = NULL;

  g_assert_cmpstr (none, ==,
                   "{\n  \"env\": {\n    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:9\",\n"
                   "    \"CLAUDE_CODE_OAUTH_TOKEN\": \"fake-token\"\n  }\n}\n");
  g_assert_cmpstr (added, ==,
                   "{\n  \"model\": \"opus\",\n  \"env\": {\n    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:9\",\n"
                   "    \"CLAUDE_CODE_OAUTH_TOKEN\": \"fake-token\"\n  }\n}\n");
  g_assert_cmpstr (empty, ==,
                   "{\n  \"env\": {\n    \"ANTHROPIC_BASE_URL\": \"u\",\n    \"CLAUDE_CODE_OAUTH_TOKEN\": \"t\"\n  }\n}\n");
  g_assert_cmpstr (kept, ==,
                   "{\n  \"env\": { \"A\": \"1\",\n           \"CLAUDE_CODE_OAUTH_TOKEN\": \"t\",\n"
                   "           \"ANTHROPIC_BASE_URL\": \"u\" },\n  \"x\": 1\n}\n");
  g_assert_cmpstr (removed, ==, "{\n  \"env\": { \"A\": \"1\" },\n  \"x\": 1\n}\n");

  g_assert_true (ck_claude_settings_parse_string (kept, strlen (kept), "env", "ANTHROPIC_BASE_URL", &value, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (value, ==, "u");

  refused = ck_claude_settings_rewrite_edits ("{\"env\": [1]}", -1, bad, 1, &error);
  g_assert_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT);
  g_assert_null (refused);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/claude-settings/rewrite/set-keeps-everything", test_rewrite_set_keeps_everything);
  g_test_add_func ("/claude-settings/rewrite/set-styles", test_rewrite_set_styles);
  g_test_add_func ("/claude-settings/rewrite/replace", test_rewrite_replace);
  g_test_add_func ("/claude-settings/rewrite/quoting", test_rewrite_quoting);
  g_test_add_func ("/claude-settings/rewrite/remove", test_rewrite_remove);
  g_test_add_func ("/claude-settings/rewrite/duplicates", test_rewrite_duplicates);
  g_test_add_func ("/claude-settings/rewrite/refuses", test_rewrite_refuses);
  g_test_add_func ("/claude-settings/rewrite/mutations", test_rewrite_mutations);
  g_test_add_func ("/claude-settings/rewrite/env", test_rewrite_env);

#define ADD_FILE_TEST(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD_FILE_TEST ("/claude-settings/file/set-keeps-keys", test_file_set_keeps_keys);
  ADD_FILE_TEST ("/claude-settings/file/malformed-untouched", test_file_malformed_untouched);
  ADD_FILE_TEST ("/claude-settings/file/mode-kept", test_file_mode_kept);
  ADD_FILE_TEST ("/claude-settings/file/new", test_file_new);
  ADD_FILE_TEST ("/claude-settings/file/remove", test_file_remove);
  ADD_FILE_TEST ("/claude-settings/file/remove-missing", test_file_remove_missing);
  ADD_FILE_TEST ("/claude-settings/file/symlink", test_file_symlink);
  ADD_FILE_TEST ("/claude-settings/file/get-not-string", test_file_get_not_string);
#undef ADD_FILE_TEST

  g_test_add_func ("/claude-settings/default-paths", test_default_paths);
  g_test_add_func ("/claude-settings/is-our-helper", test_is_our_helper);

  return g_test_run ();
}
