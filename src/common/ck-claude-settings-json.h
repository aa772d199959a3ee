/* ck-claude-settings-json.h: the text of Claude Code's settings.json
 *
 * What a settings file's text says about apiKeyHelper, and the same text
 * with apiKeyHelper changed. No file is touched here: ck-claude-settings.c
 * reads and writes the files.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-claude-settings.h"

G_BEGIN_DECLS


/* The string @key in @contents (in the top-level object @object_name when
 * not NULL): *@value NULL when missing or null. Text that is not a JSON
 * object, or a value that is not a string, gives
 * CK_ERROR_INVALID_ARGUMENT. */
gboolean  ck_claude_settings_parse_string         (const char  *contents,
                                                   gsize        length,
                                                   const char  *object_name,
                                                   const char  *key,
                                                   char       **value,
                                                   GError     **error);

/* The apiKeyHelper in @contents (@length bytes): *@helper NULL when the
 * key is missing or null, or @contents blank. Text that is not a JSON
 * object, or an apiKeyHelper that is not a string, gives
 * CK_ERROR_INVALID_ARGUMENT. */
gboolean  ck_claude_settings_parse_api_key_helper (const char  *contents,
                                                   gsize        length,
                                                   char       **helper,
                                                   GError     **error);

/* Returns @contents (@length bytes, -1 for NUL-terminated) with the
 * top-level apiKeyHelper set to @helper, or removed when @helper is NULL,
 * touching nothing else. Empty or blank @contents counts as an empty
 * object. Returns NULL with CK_ERROR_INVALID_ARGUMENT when @contents is not
 * a JSON object (or uses syntax strict JSON does not allow, such as
 * comments). */
char     *ck_claude_settings_rewrite              (const char  *contents,
                                                   gssize       length,
                                                   const char  *helper,
                                                   GError     **error);

/* ck_claude_settings_rewrite() for any number of edits, made in order. */
char     *ck_claude_settings_rewrite_edits        (const char                 *contents,
                                                   gssize                      length,
                                                   const CkClaudeSettingsEdit *edits,
                                                   guint                       n_edits,
                                                   GError                    **error);

G_END_DECLS
