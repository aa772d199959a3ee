/* ck-json-scanner.h: a strict JSON scanner that says where things are
 *
 * Checks text against strict JSON (RFC 8259: no comments, no trailing
 * commas, no single quotes, no NaN) without building a tree, and gives the
 * byte offsets of an object's top-level members, so that a caller can edit
 * the text in place and leave every other byte alone.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Containers nested deeper than this inside the top-level object are
 * refused, so the scanner's recursion stays bounded. */
#define CK_JSON_SCANNER_MAX_DEPTH 512

/* One top-level member; offsets into the scanned text. */
typedef struct
{
  gsize key_start;     /* the opening quote of the key */
  gsize key_end;       /* after the closing quote */
  gsize value_start;
  gsize value_end;     /* after the value */
} CkJsonMember;

/* Scans @text (@length bytes, which need not be NUL-terminated) that must
 * be one JSON object with optional whitespace around it, and returns its
 * top-level members (CkJsonMember) in the order they appear, duplicates
 * included. @open_brace and @close_brace receive the offsets of the
 * object's braces. Bytes are not checked as UTF-8: validate first.
 * Returns NULL with CK_ERROR_INVALID_ARGUMENT ("not a JSON object", or
 * "not valid JSON" with the line and column) otherwise. */
GArray   *ck_json_scanner_scan_object (const char         *text,
                                       gsize               length,
                                       gsize              *open_brace,
                                       gsize              *close_brace,
                                       GError            **error);

/* Whether the key of @member, a member scanned from @text, decodes to
 * @name (an ASCII string): keys may be spelt with escapes. */
gboolean  ck_json_scanner_key_equals  (const char         *text,
                                       const CkJsonMember *member,
                                       const char         *name);

/* JSON's four whitespace characters. */
static inline gboolean
ck_json_scanner_is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whether @text (@length bytes) is empty or JSON whitespace only. */
gboolean  ck_json_scanner_is_blank    (const char         *text,
                                       gsize               length);

G_END_DECLS
