/* ck-user-file.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Every file the CLI and the agent read from the user's directories goes
 * through here: `run` reads .claude/settings*.json from whatever checkout
 * it is started in, so a symlink to /dev/zero, a FIFO or a huge file must
 * fail at once with one line instead of eating memory or hanging. Only a
 * regular file is read (its type checked through an O_PATH descriptor
 * before the file is opened for reading, so that no device driver runs,
 * then read through that very descriptor, so nothing can be swapped in
 * between), the open never blocks (O_NONBLOCK, for FIFOs), and the size
 * cap holds while reading even if the file grows meanwhile.
 */

#define G_LOG_DOMAIN "ck-user-file"
#define _GNU_SOURCE  /* O_PATH */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "ck-user-file.h"

static void
buffer_free (char     *buffer,
             gsize     size,
             gboolean  secret)
{
  if (buffer != NULL && secret)
    explicit_bzero (buffer, size);
  g_free (buffer);
}

static gboolean
set_errno_error (GError     **error,
                 int          errsv,
                 const char  *path)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv),
               "Cannot read %s: %s", path, g_strerror (errsv));
  return FALSE;
}

static gboolean
refuse_size (const char  *path,
             gsize        max_size,
             GError     **error)
{
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
               "%s is larger than %" G_GSIZE_FORMAT " KiB, too large for what it should hold; "
               "remove it or replace it with the right file", path, max_size / 1024);
  return FALSE;
}

static gboolean
refuse_symlink (const char  *path,
                GError     **error)
{
  g_autofree char *target = g_file_read_link (path, NULL);

  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
               "%s is a symbolic link%s%s; replace it with the file itself",
               path, target != NULL ? " to " : "", target != NULL ? target : "");
  return FALSE;
}

gboolean
ck_user_file_read (const char       *path,
                   CkUserFileFlags   flags,
                   gsize             max_size,
                   char            **contents,
                   gsize            *length,
                   GError          **error)
{
  gboolean secret = (flags & CK_USER_FILE_SECRET) != 0;
  char *buffer = NULL;
  gsize size, used = 0;
  g_autofree char *fd_path = NULL;
  struct stat st;
  int path_fd, fd;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (contents != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *contents = NULL;
  if (length != NULL)
    *length = 0;

  /* O_PATH first: opening a device for reading already runs its driver
   * (a link to /dev/watchdog), so the type is checked before that. */
  path_fd = open (path, O_PATH | O_CLOEXEC |
                        ((flags & CK_USER_FILE_NO_SYMLINK) ? O_NOFOLLOW : 0));
  if (path_fd < 0)
    return set_errno_error (error, errno, path);
  if (fstat (path_fd, &st) != 0)
    {
      int errsv = errno;

      close (path_fd);
      return set_errno_error (error, errsv, path);
    }
  if (S_ISLNK (st.st_mode))
    {
      close (path_fd);
      return refuse_symlink (path, error);
    }
  if (!S_ISREG (st.st_mode))
    {
      close (path_fd);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   "%s is not a regular file; replace it with a file or remove it", path);
      return FALSE;
    }

  /* The very file checked, reopened for reading through its descriptor. */
  fd_path = g_strdup_printf ("/proc/self/fd/%d", path_fd);
  fd = open (fd_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  close (path_fd);
  if (fd < 0)
    return set_errno_error (error, errno, path);

  if ((guint64) st.st_size > max_size)
    {
      close (fd);
      return refuse_size (path, max_size, error);
    }

  /* One byte more than allowed tells a file that grew past the cap. */
  size = (gsize) st.st_size + 1;
  buffer = g_malloc (size + 1);
  for (;;)
    {
      gssize n;

      if (used == size)
        {
          gsize bigger = MIN (size * 2, max_size + 1);
          char *grown;

          if (bigger <= size)
            break;
          /* g_realloc could leave a copy of a secret behind. */
          grown = g_malloc (bigger + 1);
          memcpy (grown, buffer, used);
          buffer_free (buffer, size + 1, secret);
          buffer = grown;
          size = bigger;
        }

      n = read (fd, buffer + used, size - used);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;

          close (fd);
          buffer_free (buffer, size + 1, secret);
          return set_errno_error (error, errsv, path);
        }
      if (n == 0)
        break;
      used += n;
    }
  close (fd);

  if (used > max_size)
    {
      buffer_free (buffer, size + 1, secret);
      return refuse_size (path, max_size, error);
    }

  buffer[used] = '\0';
  *contents = buffer;
  if (length != NULL)
    *length = used;
  return TRUE;
}
