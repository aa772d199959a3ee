/* test-user-file.c: the one bounded reader for the user's files
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "ck-user-file.h"

/* G_TEST_OPTION_ISOLATE_DIRS gives each test its own cache directory. */
static char *
scratch_path (const char *name)
{
  g_assert_cmpint (g_mkdir_with_parents (g_get_user_cache_dir (), 0700), ==, 0);
  return g_build_filename (g_get_user_cache_dir (), name, NULL);
}

static void
test_regular (void)
{
  g_autofree char *path = scratch_path ("settings.json");
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  gsize length = 0;

  g_assert_true (g_file_set_contents (path, "{\"a\":1}", -1, NULL));
  g_assert_true (ck_user_file_read (path, CK_USER_FILE_NO_SYMLINK | CK_USER_FILE_SECRET,
                                    CK_USER_FILE_MAX_SIZE, &contents, &length, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, "{\"a\":1}");
  g_assert_cmpuint (length, ==, 7);

  /* Empty is a file too. */
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_set_contents (path, "", 0, NULL));
  g_assert_true (ck_user_file_read (path, 0, 16, &contents, &length, &error));
  g_assert_cmpstr (contents, ==, "");
  g_assert_cmpuint (length, ==, 0);
}

static void
test_missing (void)
{
  g_autofree char *path = scratch_path ("missing.json");
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_false (ck_user_file_read (path, 0, 16, &contents, NULL, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_null (contents);
}

static void
test_symlink (void)
{
  g_autofree char *target = scratch_path ("target.json");
  g_autofree char *link = scratch_path ("link.json");
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (target, "{}", -1, NULL));
  g_assert_cmpint (symlink (target, link), ==, 0);

  /* Where a link is not expected it is refused, naming its target. */
  g_assert_false (ck_user_file_read (link, CK_USER_FILE_NO_SYMLINK, 16, &contents, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "symbolic link"));
  g_assert_nonnull (strstr (error->message, target));
  g_assert_null (strchr (error->message, '\n'));
  g_clear_error (&error);

  /* Elsewhere it is followed to a regular file. */
  g_assert_true (ck_user_file_read (link, 0, 16, &contents, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, "{}");
}

/* A checkout can hold a link to a device or a FIFO: refused at once, never
 * read until memory runs out, never waited on. */
static void
test_not_regular (void)
{
  g_autofree char *zero = scratch_path ("zero.json");
  g_autofree char *fifo = scratch_path ("fifo.json");
  const char *paths[] = { zero, fifo, g_get_user_cache_dir () };

  g_assert_cmpint (symlink ("/dev/zero", zero), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  alarm (10);
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autofree char *contents = NULL;
      g_autoptr(GError) error = NULL;

      g_assert_false (ck_user_file_read (paths[i], 0, CK_USER_FILE_MAX_SIZE, &contents, NULL, &error));
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, "not a regular file"));
      g_assert_null (contents);
    }
  alarm (0);
}

typedef struct
{
  const char *path;
  gint        opened;
} Writer;

static gpointer
writer_thread (gpointer data)
{
  Writer *writer = data;
  int fd = open (writer->path, O_WRONLY);  /* blocks until a reader opens */

  g_atomic_int_set (&writer->opened, 1);
  if (fd >= 0)
    close (fd);
  return NULL;
}

/* The type is checked before the file is opened for reading: opening a
 * device already runs its driver. A FIFO shows it: a writer waiting for
 * a reader would be released by any open for reading. */
static void
test_special_never_opened (void)
{
  g_autofree char *fifo = scratch_path ("waiting.fifo");
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  Writer writer = { fifo, 0 };
  GThread *thread;
  int fd;

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  thread = g_thread_new ("writer", writer_thread, &writer);
  g_usleep (50 * 1000);

  g_assert_false (ck_user_file_read (fifo, 0, CK_USER_FILE_MAX_SIZE, &contents, NULL, &error));
  g_assert_nonnull (error);
  g_usleep (200 * 1000);
  g_assert_cmpint (g_atomic_int_get (&writer.opened), ==, 0);

  /* Release the writer. */
  fd = open (fifo, O_RDONLY | O_NONBLOCK);
  g_assert_cmpint (fd, >=, 0);
  g_thread_join (thread);
  close (fd);
  g_assert_cmpint (g_atomic_int_get (&writer.opened), ==, 1);
}

static void
test_too_large (void)
{
  g_autofree char *path = scratch_path ("large.json");
  g_autofree char *big = g_strnfill (100, 'x');
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (path, big, -1, NULL));
  g_assert_false (ck_user_file_read (path, 0, 99, &contents, NULL, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_assert_null (contents);
  g_clear_error (&error);

  /* Exactly the cap is fine. */
  g_assert_true (ck_user_file_read (path, 0, 100, &contents, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (contents), ==, 100);
}

/* A file whose size fstat does not tell (procfs says 0) is still capped
 * while it is read, not after. */
static void
test_cap_while_reading (void)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  gsize length = 0;

  g_assert_false (ck_user_file_read ("/proc/self/status", 0, 64, &contents, NULL, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_assert_null (contents);
  g_clear_error (&error);

  g_assert_true (ck_user_file_read ("/proc/self/status", CK_USER_FILE_SECRET,
                                    CK_USER_FILE_MAX_SIZE, &contents, &length, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (length, >, 64);
  g_assert_cmpuint (strlen (contents), ==, length);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/user-file/regular", test_regular);
  g_test_add_func ("/user-file/missing", test_missing);
  g_test_add_func ("/user-file/symlink", test_symlink);
  g_test_add_func ("/user-file/not-regular", test_not_regular);
  g_test_add_func ("/user-file/special-never-opened", test_special_never_opened);
  g_test_add_func ("/user-file/too-large", test_too_large);
  g_test_add_func ("/user-file/cap-while-reading", test_cap_while_reading);
  return g_test_run ();
}
