/* ck-user-file.h: reading a file from the user's directories, bounded
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What Claude Code's settings and credentials files can reasonably be. */
#define CK_USER_FILE_MAX_SIZE (1024 * 1024)

typedef enum
{
  CK_USER_FILE_NONE       = 0,
  /* The file itself must not be a symbolic link (its directories may). */
  CK_USER_FILE_NO_SYMLINK = 1 << 0,
  /* The contents are a secret: every buffer is wiped before it is freed. */
  CK_USER_FILE_SECRET     = 1 << 1,
} CkUserFileFlags;

gboolean ck_user_file_read (const char       *path,
                            CkUserFileFlags   flags,
                            gsize             max_size,
                            char            **contents,
                            gsize            *length,
                            GError          **error);

G_END_DECLS
