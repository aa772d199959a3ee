/* ck-claude-credentials.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * `claude-keyring import` and the agent's automatic import both move a
 * login out of claude's plaintext file, and both must never lose one:
 * claude may write the file again at any moment (a refreshed token, by
 * rename or in place), and a newer write holds the only valid refresh
 * token. So the file is moved aside under a name of our own before it is
 * checked: a write that lands after the move makes a new file we never
 * touch, and one that landed before it is what the check finds and puts
 * back. Only the login goes: the MCP servers' logins claude keeps in the
 * same file (mcpOAuth) are written back without it.
 */

#define G_LOG_DOMAIN "ck-claude-credentials"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "ck-claude-credentials.h"
#include "ck-user-file.h"

#define LOGIN_MEMBER "claudeAiOauth"

static void
secret_free (char  *secret,
             gsize  length)
{
  if (secret == NULL)
    return;
  explicit_bzero (secret, length);
  g_free (secret);
}

static void
stamp_from_stat (CkClaudeCredentialsStamp *stamp,
                 const struct stat        *st)
{
  stamp->device = st->st_dev;
  stamp->inode = st->st_ino;
  stamp->size = st->st_size;
  stamp->mtime_ns = (gint64) st->st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_mtim.tv_nsec;
}

static gboolean
stamp_of (const char               *path,
          CkClaudeCredentialsStamp *stamp)
{
  struct stat st;

  if (lstat (path, &st) != 0)
    return FALSE;
  stamp_from_stat (stamp, &st);
  return TRUE;
}

static gboolean
stamps_equal (const CkClaudeCredentialsStamp *a,
              const CkClaudeCredentialsStamp *b)
{
  return a->device == b->device && a->inode == b->inode &&
         a->size == b->size && a->mtime_ns == b->mtime_ns;
}

gboolean
ck_claude_credentials_read (const char                *path,
                            char                     **contents,
                            gsize                     *length,
                            CkClaudeCredentialsStamp  *stamp,
                            GError                   **error)
{
  CkClaudeCredentialsStamp after;
  gboolean stamped;
  char *data = NULL;
  gsize size = 0;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (contents != NULL && length != NULL && stamp != NULL, FALSE);

  *contents = NULL;
  *length = 0;

  /* Before and after: equal stamps mean the bytes read are that file's. */
  stamped = stamp_of (path, stamp);
  if (!ck_user_file_read (path, CK_USER_FILE_NO_SYMLINK | CK_USER_FILE_SECRET,
                          CK_USER_FILE_MAX_SIZE, &data, &size, error))
    return FALSE;

  if (!stamped || !stamp_of (path, &after) || !stamps_equal (stamp, &after))
    {
      secret_free (data, size);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_AGAIN,
                   "%s changed while it was read (is claude writing it?); try again", path);
      return FALSE;
    }

  *contents = data;
  *length = size;
  return TRUE;
}

/* The file's other members without the login, as JSON; NULL when there
 * are none. A secret too: MCP servers' tokens. */
static char *
dup_rest (const char *contents,
          gsize       length)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(JsonObject) rest = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *object;
  GList *members;

  if (!json_parser_load_from_data (parser, contents, length, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return NULL;

  object = json_node_get_object (json_parser_get_root (parser));
  rest = json_object_new ();
  members = json_object_get_members (object);
  for (const GList *l = members; l != NULL; l = l->next)
    {
      if (!g_str_equal (l->data, LOGIN_MEMBER))
        json_object_set_member (rest, l->data,
                                json_node_copy (json_object_get_member (object, l->data)));
    }
  g_list_free (members);

  if (json_object_get_size (rest) == 0)
    return NULL;

  node = json_node_init_object (json_node_alloc (), rest);
  return json_to_string (node, FALSE);
}

/* A name of our own next to the file, reserved by creating it empty. */
static char *
reserve_name (const char  *dir,
              GError     **error)
{
  g_autofree char *name = g_build_filename (dir, CK_CLAUDE_CREDENTIALS_FILE ".ck-XXXXXX", NULL);
  int fd = g_mkstemp_full (name, O_RDWR | O_CLOEXEC, 0600);

  if (fd < 0)
    {
      int errsv = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv),
                   "Cannot create a file in %s: %s", dir, g_strerror (errsv));
      return NULL;
    }
  close (fd);
  return g_steal_pointer (&name);
}

/* @text in a new file only the user may read, under a name of our own. */
static char *
write_private_file (const char  *dir,
                    const char  *text,
                    GError     **error)
{
  g_autofree char *name = reserve_name (dir, error);
  gsize length = text != NULL ? strlen (text) : 0;
  gsize done = 0;
  int fd;

  if (name == NULL)
    return NULL;

  fd = open (name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  while (fd >= 0 && done < length)
    {
      gssize n = write (fd, text + done, length - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        break;
      done += n;
    }
  if (fd < 0 || done < length || fsync (fd) != 0)
    {
      int errsv = errno;

      if (fd >= 0)
        close (fd);
      g_unlink (name);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv),
                   "Cannot write a file in %s: %s", dir, g_strerror (errsv));
      return NULL;
    }
  close (fd);
  return g_steal_pointer (&name);
}

typedef enum
{
  PLACED,
  TAKEN,   /* a newer write from claude has the name: it wins */
  FAILED,
} Placing;

/* Gives @from the name @to unless something has taken it meanwhile. */
static Placing
link_into_place (const char *from,
                 const char *to)
{
  if (link (from, to) == 0)
    {
      g_unlink (from);
      return PLACED;
    }
  if (errno == EEXIST)
    return TAKEN;

  /* A file system without hard links: a plain rename, which only a
   * write within these microseconds could lose to. */
  return g_rename (from, to) == 0 ? PLACED : FAILED;
}

static gboolean
is_file_read (const char                     *path,
              const char                     *contents,
              gsize                           length,
              const CkClaudeCredentialsStamp *stamp)
{
  CkClaudeCredentialsStamp now;
  char *data = NULL;
  gsize size = 0;
  gboolean same;

  if (!stamp_of (path, &now) || !stamps_equal (stamp, &now))
    return FALSE;
  if (!ck_user_file_read (path, CK_USER_FILE_NO_SYMLINK | CK_USER_FILE_SECRET,
                          CK_USER_FILE_MAX_SIZE, &data, &size, NULL))
    return FALSE;
  same = size == length && memcmp (data, contents, length) == 0;
  secret_free (data, size);
  return same;
}

gboolean
ck_claude_credentials_remove_login (const char                      *path,
                                    const char                      *contents,
                                    gsize                            length,
                                    const CkClaudeCredentialsStamp  *stamp,
                                    CkClaudeCredentialsRemoval      *result,
                                    GError                         **error)
{
  g_autofree char *dir = NULL;
  g_autofree char *aside = NULL;
  g_autofree char *rest_path = NULL;
  char *rest;

  g_return_val_if_fail (path != NULL && contents != NULL && stamp != NULL, FALSE);
  g_return_val_if_fail (result != NULL, FALSE);

  dir = g_path_get_dirname (path);

  /* The other logins are on disk before the file is touched. */
  rest = dup_rest (contents, length);
  if (rest != NULL)
    {
      rest_path = write_private_file (dir, rest, error);
      secret_free (rest, strlen (rest));
      if (rest_path == NULL)
        return FALSE;
    }

  if (!(aside = reserve_name (dir, error)))
    {
      if (rest_path != NULL)
        g_unlink (rest_path);
      return FALSE;
    }

  if (g_rename (path, aside) != 0)
    {
      int errsv = errno;

      g_unlink (aside);
      if (rest_path != NULL)
        g_unlink (rest_path);
      if (errsv == ENOENT)
        {
          *result = CK_CLAUDE_CREDENTIALS_GONE;
          return TRUE;
        }
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv),
                   "Cannot remove %s: %s", path, g_strerror (errsv));
      return FALSE;
    }

  if (!is_file_read (aside, contents, length, stamp))
    {
      /* A newer write landed before the move: it goes back untouched,
       * unless an even newer one has taken its place meanwhile. Where it
       * cannot go back, it stays under our name rather than be lost. */
      if (link_into_place (aside, path) == TAKEN)
        g_unlink (aside);
      if (rest_path != NULL)
        g_unlink (rest_path);
      *result = CK_CLAUDE_CREDENTIALS_CHANGED;
      return TRUE;
    }

  *result = CK_CLAUDE_CREDENTIALS_REMOVED;
  if (rest_path != NULL)
    {
      switch (link_into_place (rest_path, path))
        {
        case PLACED:
          *result = CK_CLAUDE_CREDENTIALS_KEPT_REST;
          break;
        case TAKEN:
          /* claude wrote a new file meanwhile: it holds claude's own,
           * newer copy of the other logins. */
          g_unlink (rest_path);
          break;
        case FAILED:
        default:
          {
            int errsv = errno;

            g_unlink (rest_path);
            link_into_place (aside, path);
            g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errsv),
                         "Cannot rewrite %s: %s", path, g_strerror (errsv));
            return FALSE;
          }
        }
    }
  g_unlink (aside);
  return TRUE;
}
