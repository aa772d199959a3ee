/* ck-claude-settings-json.c: the text of Claude Code's settings.json
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-claude-settings"

#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "ck-claude-settings.h"
#include "ck-claude-settings-json.h"
#include "ck-error.h"
#include "ck-json-scanner.h"

/* The settings file is the user's, often hand-edited and kept in a dotfiles
 * repository: the rewrite edits the text in place rather than regenerating
 * it, so formatting, number spelling and key order survive byte for byte.
 * A strict scanner (ck-json-scanner.c) finds the top-level members;
 * json-glib then checks the result means exactly the input with the one
 * key changed. */

static void
append_json_string (GString    *out,
                    const char *str)
{
  g_string_append_c (out, '"');
  for (const char *p = str; *p; p++)
    {
      guchar c = *p;

      switch (c)
        {
        case '"':  g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_c (out, c);
        }
    }
  g_string_append_c (out, '"');
}

/* One edit on @text: removes the duplicate helper members after the first
 * (JSON.parse keeps the last value, so leaving them would change nothing),
 * then sets or removes the first. Returns NULL when nothing is left to do. */
static char *
edit_once (const char  *text,
           gsize        len,
           const char  *helper,
           GError     **error)
{
  g_autoptr(GArray) members = NULL;
  g_autoptr(GString) out = NULL;
  gsize open_brace = 0;
  gsize close_brace = 0;
  guint first = G_MAXUINT;
  guint last = G_MAXUINT;
  guint target;
  guint n;

  if (!(members = ck_json_scanner_scan_object (text, len, &open_brace, &close_brace, error)))
    return NULL;
  n = members->len;

  for (guint i = 0; i < n; i++)
    {
      if (ck_json_scanner_key_equals (text, &g_array_index (members, CkJsonMember, i),
                                      CK_CLAUDE_SETTINGS_API_KEY_HELPER))
        {
          if (first == G_MAXUINT)
            first = i;
          last = i;
        }
    }

  out = g_string_sized_new (len + 64);

  if (first != last || (first != G_MAXUINT && helper == NULL))
    {
      /* Delete one member, leaving the separators around it tidy. */
      const CkJsonMember *m;
      gsize from;
      gsize to;

      target = last;
      m = &g_array_index (members, CkJsonMember, target);

      if (n == 1)
        {
          from = open_brace + 1;
          to = close_brace;
        }
      else if (target + 1 < n)
        {
          from = m->key_start;
          to = g_array_index (members, CkJsonMember, target + 1).key_start;
        }
      else
        {
          from = g_array_index (members, CkJsonMember, target - 1).value_end;
          to = m->value_end;
        }

      g_string_append_len (out, text, from);
      g_string_append_len (out, text + to, len - to);
      return g_string_free (g_steal_pointer (&out), FALSE);
    }

  if (helper == NULL)
    return NULL;

  if (first != G_MAXUINT)
    {
      const CkJsonMember *m = &g_array_index (members, CkJsonMember, first);
      g_autofree char *current = g_strndup (text + m->value_start,
                                            m->value_end - m->value_start);
      g_autoptr(GString) wanted = g_string_new (NULL);

      append_json_string (wanted, helper);
      if (g_str_equal (current, wanted->str))
        return NULL;

      g_string_append_len (out, text, m->value_start);
      g_string_append_len (out, wanted->str, wanted->len);
      g_string_append_len (out, text + m->value_end, len - m->value_end);
      return g_string_free (g_steal_pointer (&out), FALSE);
    }

  if (n == 0)
    {
      g_string_append_len (out, text, open_brace + 1);
      g_string_append (out, "\n  \"" CK_CLAUDE_SETTINGS_API_KEY_HELPER "\": ");
      append_json_string (out, helper);
      g_string_append_c (out, '\n');
      g_string_append_len (out, text + close_brace, len - close_brace);
      return g_string_free (g_steal_pointer (&out), FALSE);
    }
  else
    {
      /* Append after the last member, indented like it and with its
       * spelling of the colon. */
      const CkJsonMember *m = &g_array_index (members, CkJsonMember, n - 1);
      gsize indent_start = m->key_start;

      while (indent_start > 0 && ck_json_scanner_is_space (text[indent_start - 1]))
        indent_start--;

      g_string_append_len (out, text, m->value_end);
      g_string_append_c (out, ',');
      g_string_append_len (out, text + indent_start, m->key_start - indent_start);
      g_string_append (out, "\"" CK_CLAUDE_SETTINGS_API_KEY_HELPER "\"");
      g_string_append_len (out, text + m->key_end, m->value_start - m->key_end);
      append_json_string (out, helper);
      g_string_append_len (out, text + m->value_end, len - m->value_end);
      return g_string_free (g_steal_pointer (&out), FALSE);
    }
}

static JsonNode *
parse_json (const char  *text,
            gssize       len,
            GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();

  if (!json_parser_load_from_data (parser, text, len, error))
    return NULL;
  if (json_parser_get_root (parser) == NULL)
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "not valid JSON");
      return NULL;
    }

  return json_parser_steal_root (parser);
}

static gboolean
same_member_order (JsonObject *a,
                   JsonObject *b)
{
  g_autoptr(GList) la = json_object_get_members (a);
  g_autoptr(GList) lb = json_object_get_members (b);
  const GList *x;
  const GList *y;

  for (x = la, y = lb; x && y; x = x->next, y = y->next)
    if (!g_str_equal (x->data, y->data))
      return FALSE;

  return x == NULL && y == NULL;
}

/* The belt to the scanner's braces: the output must parse to the input
 * with only apiKeyHelper changed, in the same order. */
static gboolean
check_rewrite (const char  *before,
               gsize        before_len,
               const char  *after,
               const char  *helper,
               GError     **error)
{
  g_autoptr(JsonNode) expected = NULL;
  g_autoptr(JsonNode) actual = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *object;

  if (ck_json_scanner_is_blank (before, before_len))
    {
      g_autoptr(JsonObject) empty = json_object_new ();

      expected = json_node_init_object (json_node_alloc (), empty);
    }
  else if (!(expected = parse_json (before, before_len, &local_error)))
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "not valid JSON: %s", local_error->message);
      return FALSE;
    }

  object = json_node_get_object (expected);
  if (helper != NULL)
    json_object_set_string_member (object, CK_CLAUDE_SETTINGS_API_KEY_HELPER, helper);
  else if (json_object_has_member (object, CK_CLAUDE_SETTINGS_API_KEY_HELPER))
    json_object_remove_member (object, CK_CLAUDE_SETTINGS_API_KEY_HELPER);

  if (!(actual = parse_json (after, -1, NULL)) ||
      !JSON_NODE_HOLDS_OBJECT (actual) ||
      !json_node_equal (expected, actual) ||
      !same_member_order (object, json_node_get_object (actual)))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "uses JSON this tool cannot rewrite safely");
      return FALSE;
    }

  return TRUE;
}

char *
ck_claude_settings_rewrite (const char  *contents,
                            gssize       length,
                            const char  *helper,
                            GError     **error)
{
  g_autofree char *text = NULL;
  gsize len;

  g_return_val_if_fail (contents != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (contents == NULL)
    contents = "";
  len = length < 0 ? strlen (contents) : (gsize) length;

  /* Also refuses NUL bytes, so strlen is safe on everything below. */
  if (!g_utf8_validate_len (contents, len, NULL))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "not valid UTF-8 text");
      return NULL;
    }

  if (helper != NULL && !g_utf8_validate (helper, -1, NULL))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "the apiKeyHelper command is not valid UTF-8");
      return NULL;
    }

  if (ck_json_scanner_is_blank (contents, len))
    {
      g_autoptr(GString) out = NULL;

      if (helper == NULL)
        return g_strndup (contents, len);

      out = g_string_new ("{\n  \"" CK_CLAUDE_SETTINGS_API_KEY_HELPER "\": ");
      append_json_string (out, helper);
      g_string_append (out, "\n}\n");
      text = g_string_free (g_steal_pointer (&out), FALSE);
    }
  else
    {
      text = g_strndup (contents, len);

      /* Each pass removes a duplicate or makes the one edit; a file has
       * few enough members that rescanning is cheap. */
      for (;;)
        {
          g_autoptr(GError) local_error = NULL;
          char *next = edit_once (text, strlen (text), helper, &local_error);

          if (local_error != NULL)
            {
              g_propagate_error (error, g_steal_pointer (&local_error));
              return NULL;
            }
          if (next == NULL)
            break;
          g_free (text);
          text = next;
        }
    }

  if (!check_rewrite (contents, len, text, helper, error))
    return NULL;

  return g_steal_pointer (&text);
}

gboolean
ck_claude_settings_parse_api_key_helper (const char  *contents,
                                         gsize        length,
                                         char       **helper,
                                         GError     **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *object;
  JsonNode *node;

  g_return_val_if_fail (contents != NULL || length == 0, FALSE);
  g_return_val_if_fail (helper != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *helper = NULL;

  if (ck_json_scanner_is_blank (contents, length))
    return TRUE;

  if (!g_utf8_validate_len (contents, length, NULL))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "not valid UTF-8 text");
      return FALSE;
    }

  if (!(root = parse_json (contents, length, &local_error)))
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "not valid JSON: %s", local_error->message);
      return FALSE;
    }

  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "not a JSON object");
      return FALSE;
    }

  object = json_node_get_object (root);
  node = json_object_get_member (object, CK_CLAUDE_SETTINGS_API_KEY_HELPER);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "apiKeyHelper is not a string");
      return FALSE;
    }

  *helper = g_strdup (json_node_get_string (node));
  return TRUE;
}
