/* ck-claude-settings.h: read and edit Claude Code's settings.json
 *
 * The files: where they are, reading them, replacing them. The text
 * itself is ck-claude-settings-json.h's.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The settings key Claude Code runs to get an API key. */
#define CK_CLAUDE_SETTINGS_API_KEY_HELPER "apiKeyHelper"

/* One change to a settings file: the member @key of the top-level object
 * (@object NULL) or of the top-level member @object, an object such as
 * "env" (created when a value is set and it is missing), set to the
 * string @value or removed (@value NULL). */
typedef struct
{
  const char *object;
  const char *key;
  const char *value;
} CkClaudeSettingsEdit;

/* The env members setup-claude --gateway writes. */
#define CK_CLAUDE_SETTINGS_ENV "env"
#define CK_CLAUDE_SETTINGS_BASE_URL "ANTHROPIC_BASE_URL"
#define CK_CLAUDE_SETTINGS_OAUTH_TOKEN "CLAUDE_CODE_OAUTH_TOKEN"
#define CK_CLAUDE_SETTINGS_API_KEY "ANTHROPIC_API_KEY"

/* $CLAUDE_CONFIG_DIR when set, else ~/.claude: where claude keeps
 * settings.json and .credentials.json. */
char     *ck_claude_settings_get_config_dir       (void);
/* CONFIG_DIR/settings.json */
char     *ck_claude_settings_get_default_path     (void);
/* CONFIG_DIR/.credentials.json, claude's plaintext OAuth login. */
char     *ck_claude_settings_get_credentials_path (void);

/* Reads apiKeyHelper from the settings file at @path (NULL: the default).
 * A missing file or key gives TRUE with *@helper NULL; a file that is not a
 * JSON object, or an apiKeyHelper that is not a string, gives
 * CK_ERROR_INVALID_ARGUMENT. */
gboolean  ck_claude_settings_get_api_key_helper   (const char  *path,
                                                   char       **helper,
                                                   GError     **error);

/* The apiKeyHelper claude would run when started in the current folder:
 * the first one set in the managed settings, the project's
 * .claude/settings.local.json, .claude/settings.json, then the user's
 * settings, as claude ranks them. Unreadable files are skipped. TRUE with
 * @helper and @path (which file) when one is set. */
gboolean  ck_claude_settings_find_api_key_helper  (char       **helper,
                                                   char       **path);

/* Sets apiKeyHelper to @helper, or removes it when @helper is NULL, in the
 * settings file at @path (NULL: the default). Every other byte of the file
 * stays as it was; the file keeps its mode (a new one is 0600 in a 0700
 * directory) and is replaced atomically. A file that is not a JSON object
 * is left untouched (CK_ERROR_INVALID_ARGUMENT). Removing from a missing
 * file does nothing. @previous receives the old value (NULL if none);
 * @changed whether the file was written. */
gboolean  ck_claude_settings_set_api_key_helper   (const char  *path,
                                                   const char  *helper,
                                                   char       **previous,
                                                   gboolean    *changed,
                                                   GError     **error);

/* The string @key of the settings file at @path (NULL: the default), in
 * its top-level object @object when not NULL; a missing file or key gives
 * TRUE with *@value NULL. */
gboolean  ck_claude_settings_get_string           (const char  *path,
                                                   const char  *object,
                                                   const char  *key,
                                                   char       **value,
                                                   GError     **error);

/* Makes @edits in the settings file at @path (NULL: the default), keeping
 * every other byte and the file's mode as ck_claude_settings_set_api_key_helper
 * does; with @owner_only (a secret goes in) a mode that lets anyone else
 * read or write the file is narrowed to the owner's bits, and *@narrowed
 * says so. Edits that only remove do not create a missing file. */
gboolean  ck_claude_settings_edit                 (const char                 *path,
                                                   const CkClaudeSettingsEdit *edits,
                                                   guint                       n_edits,
                                                   gboolean                    owner_only,
                                                   gboolean                   *narrowed,
                                                   gboolean                   *changed,
                                                   GError                    **error);

/* Whether @command (an apiKeyHelper value) runs this project's
 * `claude-keyring helper`. */
gboolean  ck_claude_settings_is_our_helper        (const char  *command);

G_END_DECLS
