/* test-claude-credentials.c: taking the login out of claude's file
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "ck-claude-credentials.h"

#define LOGIN "{\"claudeAiOauth\":{\"accessToken\":\"test-access-0001\",\"expiresAt\":4102444800000}}"
#define NEWER "{\"claudeAiOauth\":{\"accessToken\":\"test-access-0002\",\"expiresAt\":4102444900000}}"

/* G_TEST_OPTION_ISOLATE_DIRS gives each test its own cache directory. */
static char *
scratch_dir (void)
{
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "claude", NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  return g_steal_pointer (&dir);
}

static void
write_file (const char *path,
            const char *text)
{
  g_assert_true (g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
}

/* The names in @dir, sorted, space-separated: nothing of ours is left. */
static char *
list_dir (const char *dir)
{
  g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  const char *name;

  g_assert_nonnull (handle);
  while ((name = g_dir_read_name (handle)) != NULL)
    g_ptr_array_add (names, (gpointer) name);
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

typedef struct
{
  char                     *dir;
  char                     *path;
  char                     *contents;
  gsize                     length;
  CkClaudeCredentialsStamp  stamp;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fixture->dir = scratch_dir ();
  fixture->path = g_build_filename (fixture->dir, CK_CLAUDE_CREDENTIALS_FILE, NULL);
  write_file (fixture->path, data != NULL ? data : LOGIN);
  g_assert_true (ck_claude_credentials_read (fixture->path, &fixture->contents, &fixture->length,
                                             &fixture->stamp, &error));
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_free (fixture->dir);
  g_free (fixture->path);
  g_free (fixture->contents);
}

static CkClaudeCredentialsRemoval
remove_login (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  CkClaudeCredentialsRemoval result = -1;

  g_assert_true (ck_claude_credentials_remove_login (fixture->path, fixture->contents, fixture->length,
                                                     &fixture->stamp, &result, &error));
  g_assert_no_error (error);
  return result;
}

static void
test_removed (Fixture       *fixture,
              gconstpointer  data)
{
  g_autofree char *left = NULL;

  g_assert_cmpstr (fixture->contents, ==, LOGIN);
  g_assert_cmpint (remove_login (fixture), ==, CK_CLAUDE_CREDENTIALS_REMOVED);
  left = list_dir (fixture->dir);
  g_assert_cmpstr (left, ==, "");
}

/* The MCP servers' logins stay, in a file only the owner may read. */
static void
test_kept_rest (Fixture       *fixture,
                gconstpointer  data)
{
  g_autofree char *rest = NULL;
  g_autofree char *left = NULL;
  struct stat st;

  g_assert_cmpint (remove_login (fixture), ==, CK_CLAUDE_CREDENTIALS_KEPT_REST);
  g_assert_true (g_file_get_contents (fixture->path, &rest, NULL, NULL));
  g_assert_cmpstr (rest, ==, "{\"mcpOAuth\":{\"server\":{\"accessToken\":\"test-mcp-0001\"}},\"other\":1}");
  g_assert_cmpint (g_stat (fixture->path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  left = list_dir (fixture->dir);
  g_assert_cmpstr (left, ==, CK_CLAUDE_CREDENTIALS_FILE);
}

/* claude wrote a newer login by rename after it was read: it stays. */
static void
test_newer_by_rename (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree char *now = NULL;
  g_autofree char *left = NULL;

  write_file (fixture->path, NEWER);
  g_assert_cmpint (remove_login (fixture), ==, CK_CLAUDE_CREDENTIALS_CHANGED);
  g_assert_true (g_file_get_contents (fixture->path, &now, NULL, NULL));
  g_assert_cmpstr (now, ==, NEWER);
  left = list_dir (fixture->dir);
  g_assert_cmpstr (left, ==, CK_CLAUDE_CREDENTIALS_FILE);
}

/* In place, same inode and size, even the same mtime: the contents
 * still tell it apart, and it stays. */
static void
test_newer_in_place (Fixture       *fixture,
                     gconstpointer  data)
{
  struct timespec times[2];
  g_autofree char *now = NULL;
  struct stat st;
  int fd;

  g_assert_cmpuint (strlen (NEWER), ==, strlen (LOGIN));
  g_assert_cmpint (g_stat (fixture->path, &st), ==, 0);
  fd = open (fixture->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, NEWER, strlen (NEWER)), ==, (gssize) strlen (NEWER));
  close (fd);
  times[0] = st.st_atim;
  times[1] = st.st_mtim;
  g_assert_cmpint (utimensat (AT_FDCWD, fixture->path, times, 0), ==, 0);

  g_assert_cmpint (remove_login (fixture), ==, CK_CLAUDE_CREDENTIALS_CHANGED);
  g_assert_true (g_file_get_contents (fixture->path, &now, NULL, NULL));
  g_assert_cmpstr (now, ==, NEWER);
}

static void
test_gone (Fixture       *fixture,
           gconstpointer  data)
{
  g_assert_cmpint (g_unlink (fixture->path), ==, 0);
  g_assert_cmpint (remove_login (fixture), ==, CK_CLAUDE_CREDENTIALS_GONE);
}

static void
test_symlink (void)
{
  g_autofree char *dir = scratch_dir ();
  g_autofree char *target = g_build_filename (dir, "target.json", NULL);
  g_autofree char *path = g_build_filename (dir, CK_CLAUDE_CREDENTIALS_FILE, NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  CkClaudeCredentialsStamp stamp;
  gsize length;

  write_file (target, LOGIN);
  g_assert_cmpint (symlink (target, path), ==, 0);
  g_assert_false (ck_claude_credentials_read (path, &contents, &length, &stamp, &error));
  g_assert_nonnull (strstr (error->message, "symbolic link"));
  g_assert_null (contents);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add ("/claude-credentials/removed", Fixture, NULL,
              fixture_set_up, test_removed, fixture_tear_down);
  g_test_add ("/claude-credentials/kept-rest", Fixture,
              "{\"claudeAiOauth\":{\"accessToken\":\"test-access-0001\"},"
              "\"mcpOAuth\":{\"server\":{\"accessToken\":\"test-mcp-0001\"}},\"other\":1}",
              fixture_set_up, test_kept_rest, fixture_tear_down);
  g_test_add ("/claude-credentials/newer-by-rename", Fixture, NULL,
              fixture_set_up, test_newer_by_rename, fixture_tear_down);
  g_test_add ("/claude-credentials/newer-in-place", Fixture, NULL,
              fixture_set_up, test_newer_in_place, fixture_tear_down);
  g_test_add ("/claude-credentials/gone", Fixture, NULL,
              fixture_set_up, test_gone, fixture_tear_down);
  g_test_add_func ("/claude-credentials/symlink", test_symlink);
  return g_test_run ();
}
