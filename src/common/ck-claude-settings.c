/* ck-claude-settings.c: Claude Code's settings files
 *
 * Where they are, reading them, and replacing one with its rewritten
 * text (ck-claude-settings-json.c does the text).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-claude-settings"

#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "ck-claude-settings.h"
#include "ck-claude-settings-json.h"
#include "ck-error.h"
#include "ck-user-file.h"

char *
ck_claude_settings_get_config_dir (void)
{
  const char *dir = g_getenv ("CLAUDE_CONFIG_DIR");

  if (dir != NULL && dir[0] != '\0')
    return g_strdup (dir);

  return g_build_filename (g_get_home_dir (), ".claude", NULL);
}

char *
ck_claude_settings_get_default_path (void)
{
  g_autofree char *dir = ck_claude_settings_get_config_dir ();

  return g_build_filename (dir, "settings.json", NULL);
}

char *
ck_claude_settings_get_credentials_path (void)
{
  g_autofree char *dir = ck_claude_settings_get_config_dir ();

  return g_build_filename (dir, ".credentials.json", NULL);
}

static gboolean
set_errno_error (GError     **error,
                 int          saved_errno,
                 const char  *what,
                 const char  *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
               "Could not %s %s: %s", what, path, g_strerror (saved_errno));
  return FALSE;
}

/* Every settings file is read here, with its mode when @mode is not NULL.
 * A missing file is not an error: TRUE with *@contents NULL. */
static gboolean
read_settings (const char  *path,
               char       **contents,
               gsize       *length,
               mode_t      *mode,
               GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *data = NULL;
  struct stat st;

  *contents = NULL;
  *length = 0;

  /* Settings may well be links into a dotfiles repository; what they
   * point to must still be a small regular file (a checkout can hold a
   * link to /dev/zero or a FIFO). */
  if (!ck_user_file_read (path, CK_USER_FILE_NONE, CK_USER_FILE_MAX_SIZE,
                          &data, length, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  if (mode != NULL)
    {
      if (g_stat (path, &st) != 0)
        return set_errno_error (error, errno, "read", path);
      *mode = st.st_mode & 07777;
    }

  *contents = g_steal_pointer (&data);
  return TRUE;
}

gboolean
ck_claude_settings_get_api_key_helper (const char  *path,
                                       char       **helper,
                                       GError     **error)
{
  return ck_claude_settings_get_string (path, NULL, CK_CLAUDE_SETTINGS_API_KEY_HELPER, helper, error);
}

gboolean
ck_claude_settings_find_api_key_helper (char **helper,
                                        char **path)
{
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *user = ck_claude_settings_get_default_path ();
  g_autofree char *local = g_build_filename (cwd, ".claude", "settings.local.json", NULL);
  g_autofree char *project = g_build_filename (cwd, ".claude", "settings.json", NULL);
  const char *files[] = {
    "/etc/claude-code/managed-settings.json",
    local,
    project,
    user,
  };

  g_return_val_if_fail (helper != NULL, FALSE);

  *helper = NULL;
  if (path != NULL)
    *path = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *value = NULL;

      if (!ck_claude_settings_get_api_key_helper (files[i], &value, &error))
        {
          g_debug ("Skipping %s: %s", files[i], error->message);
          continue;
        }

      if (value != NULL)
        {
          *helper = g_steal_pointer (&value);
          if (path != NULL)
            *path = g_strdup (files[i]);
          return TRUE;
        }
    }

  return FALSE;
}

/* Replaces @path with @data: a crash leaves either the old file or the
 * new one, never half of one. */
static gboolean
write_settings (const char  *path,
                const char  *data,
                gsize        length,
                mode_t       mode,
                GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);

  if (g_mkdir_with_parents (dir, 0700) != 0)
    return set_errno_error (error, errno, "create the folder", dir);

  if (!g_file_set_contents_full (path, data, length,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 mode, error))
    return FALSE;

  /* GLib (2.74) creates the new file with open (…, @mode), so the umask
   * can narrow its mode: put back exactly the mode the user chose. Until
   * then the file is only ever less readable than @mode, never more. */
  if (g_chmod (path, mode) != 0)
    g_warning ("Could not set the mode of %s to %04o: %s",
               path, (guint) mode, g_strerror (errno));

  return TRUE;
}

gboolean
ck_claude_settings_get_string (const char  *path,
                               const char  *object,
                               const char  *key,
                               char       **value,
                               GError     **error)
{
  g_autofree char *default_path = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *value = NULL;

  if (path == NULL)
    path = default_path = ck_claude_settings_get_default_path ();

  if (!read_settings (path, &contents, &length, NULL, error))
    return FALSE;
  if (contents == NULL)
    return TRUE;

  if (!ck_claude_settings_parse_string (contents, length, object, key, value, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }

  return TRUE;
}

gboolean
ck_claude_settings_edit (const char                 *path,
                         const CkClaudeSettingsEdit *edits,
                         guint                       n_edits,
                         gboolean                    owner_only,
                         gboolean                   *narrowed,
                         gboolean                   *changed,
                         GError                    **error)
{
  g_autofree char *default_path = NULL;
  g_autofree char *real_path = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *rewritten = NULL;
  gsize length = 0;
  mode_t mode = 0600;
  gboolean sets = FALSE;

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (narrowed != NULL)
    *narrowed = FALSE;
  if (changed != NULL)
    *changed = FALSE;

  if (path == NULL)
    path = default_path = ck_claude_settings_get_default_path ();

  /* A settings.json symlinked into a dotfiles repository stays a symlink:
   * the file it points to is the one replaced. */
  real_path = realpath (path, NULL);
  if (real_path == NULL)
    {
      if (errno != ENOENT)
        return set_errno_error (error, errno, "read", path);
      real_path = g_strdup (path);
    }

  if (!read_settings (real_path, &contents, &length, &mode, error))
    return FALSE;

  for (guint i = 0; i < n_edits; i++)
    sets |= edits[i].value != NULL;
  if (contents == NULL && !sets)
    return TRUE;

  if (!(rewritten = ck_claude_settings_rewrite_edits (contents, (gssize) length, edits, n_edits, error)))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }

  if (owner_only && (mode & 077) != 0)
    {
      mode &= ~(mode_t) 077;
      if (narrowed != NULL)
        *narrowed = TRUE;
    }
  else if (contents != NULL && strlen (rewritten) == length && memcmp (rewritten, contents, length) == 0)
    {
      return TRUE;
    }

  if (!write_settings (real_path, rewritten, strlen (rewritten), mode, error))
    return FALSE;

  if (changed != NULL)
    *changed = TRUE;

  return TRUE;
}

gboolean
ck_claude_settings_set_api_key_helper (const char  *path,
                                       const char  *helper,
                                       char       **previous,
                                       gboolean    *changed,
                                       GError     **error)
{
  const CkClaudeSettingsEdit edit = { NULL, CK_CLAUDE_SETTINGS_API_KEY_HELPER, helper };
  g_autofree char *default_path = NULL;
  g_autofree char *old_helper = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (previous != NULL)
    *previous = NULL;

  if (path == NULL)
    path = default_path = ck_claude_settings_get_default_path ();

  /* A non-string value is replaced all the same. */
  if (!ck_claude_settings_get_api_key_helper (path, &old_helper, &local_error) &&
      !g_error_matches (local_error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  if (helper != NULL && !g_utf8_validate (helper, -1, NULL))
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "%s: the apiKeyHelper command is not valid UTF-8", path);
      return FALSE;
    }

  if (!ck_claude_settings_edit (path, &edit, 1, FALSE, NULL, changed, error))
    return FALSE;

  if (previous != NULL)
    *previous = g_steal_pointer (&old_helper);
  return TRUE;
}

gboolean
ck_claude_settings_is_our_helper (const char *command)
{
  g_auto(GStrv) argv = NULL;
  g_autofree char *base = NULL;

  if (command == NULL || !g_shell_parse_argv (command, NULL, &argv, NULL))
    return FALSE;

  if (g_strv_length (argv) != 2 || !g_str_equal (argv[1], "helper"))
    return FALSE;

  base = g_path_get_basename (argv[0]);
  return g_str_equal (base, "claude-keyring");
}
