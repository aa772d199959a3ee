/* ck-claude-credentials.h: claude's plaintext login file, .credentials.json
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The file in a claude configuration directory (~/.claude, or
 * $CLAUDE_CONFIG_DIR) where claude keeps its logins in plaintext. */
#define CK_CLAUDE_CREDENTIALS_FILE ".credentials.json"

/* Which file was read: a newer write, in place or by rename, changes it. */
typedef struct
{
  guint64 device;
  guint64 inode;
  gint64  size;
  gint64  mtime_ns;
} CkClaudeCredentialsStamp;

typedef enum
{
  CK_CLAUDE_CREDENTIALS_REMOVED,    /* the file is gone */
  CK_CLAUDE_CREDENTIALS_KEPT_REST,  /* it holds only its other logins now (MCP servers') */
  CK_CLAUDE_CREDENTIALS_CHANGED,    /* it is no longer the file read: left as it is */
  CK_CLAUDE_CREDENTIALS_GONE,       /* someone else removed it first */
} CkClaudeCredentialsRemoval;

/* Reads the file at @path with ck_user_file_read (a regular file, never
 * through a symbolic link, bounded; the contents are a secret) and fills
 * @stamp. A file that changed while it was read gives G_FILE_ERROR_AGAIN. */
gboolean ck_claude_credentials_read         (const char                      *path,
                                             char                           **contents,
                                             gsize                           *length,
                                             CkClaudeCredentialsStamp        *stamp,
                                             GError                         **error);

/* Takes the Claude login (claudeAiOauth) out of @path once it is safely
 * stored elsewhere, but only while @path is still the very file read
 * (@stamp and @contents): a newer write is never touched. Other members
 * (mcpOAuth) stay in the file; without any the file is removed. */
gboolean ck_claude_credentials_remove_login (const char                      *path,
                                             const char                      *contents,
                                             gsize                            length,
                                             const CkClaudeCredentialsStamp  *stamp,
                                             CkClaudeCredentialsRemoval      *result,
                                             GError                         **error);

G_END_DECLS
