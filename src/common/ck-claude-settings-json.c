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

/* The whitespace that starts the line holding @text[@at]. */
static char *
line_indent (const char *text,
             gsize       at)
{
  gsize start = at;
  gsize end;

  while (start > 0 && text[start - 1] != '\n' && text[start - 1] != '\r')
    start--;
  for (end = start; end < at && (text[end] == ' ' || text[end] == '\t'); end++)
    ;
  return g_strndup (text + start, end - start);
}

/* One edit on the object at @text[@start, @end): removes the duplicate
 * @key members after the first (JSON.parse keeps the last value, so
 * leaving them would change nothing), then sets the first to @value (JSON
 * text) or removes it (@value NULL). Returns NULL when nothing is left to
 * do. */
static char *
edit_member (const char  *text,
             gsize        len,
             gsize        start,
             gsize        end,
             const char  *key,
             const char  *value,
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

  if (!(members = ck_json_scanner_scan_object (text + start, end - start,
                                               &open_brace, &close_brace, error)))
    return NULL;
  open_brace += start;
  close_brace += start;
  n = members->len;

  for (guint i = 0; i < n; i++)
    {
      CkJsonMember *m = &g_array_index (members, CkJsonMember, i);

      m->key_start += start;
      m->key_end += start;
      m->value_start += start;
      m->value_end += start;
      if (ck_json_scanner_key_equals (text, m, key))
        {
          if (first == G_MAXUINT)
            first = i;
          last = i;
        }
    }

  out = g_string_sized_new (len + 64);

  if (first != last || (first != G_MAXUINT && value == NULL))
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

  if (value == NULL)
    return NULL;

  if (first != G_MAXUINT)
    {
      const CkJsonMember *m = &g_array_index (members, CkJsonMember, first);

      if (m->value_end - m->value_start == strlen (value) &&
          memcmp (text + m->value_start, value, strlen (value)) == 0)
        return NULL;

      g_string_append_len (out, text, m->value_start);
      g_string_append (out, value);
      g_string_append_len (out, text + m->value_end, len - m->value_end);
      return g_string_free (g_steal_pointer (&out), FALSE);
    }

  if (n == 0)
    {
      /* A nested object's member is indented one step more than the line
       * the object starts on; the top level's by one step. */
      g_autofree char *indent = start > 0 ? line_indent (text, open_brace) : g_strdup ("");

      g_string_append_len (out, text, open_brace + 1);
      g_string_append_printf (out, "\n%s  ", indent);
      append_json_string (out, key);
      g_string_append (out, ": ");
      g_string_append (out, value);
      g_string_append_printf (out, "\n%s", indent);
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
      append_json_string (out, key);
      g_string_append_len (out, text + m->key_end, m->value_start - m->key_end);
      g_string_append (out, value);
      g_string_append_len (out, text + m->value_end, len - m->value_end);
      return g_string_free (g_steal_pointer (&out), FALSE);
    }
}

/* One edit on @text for @edit: a top-level member, or a member of the
 * top-level object @edit->object (created when missing; the last one of
 * that name counts, as JSON.parse reads it). */
static char *
edit_once (const char                 *text,
           gsize                       len,
           const CkClaudeSettingsEdit *edit,
           GError                    **error)
{
  g_autoptr(GArray) members = NULL;
  g_autoptr(GString) value = NULL;
  const CkJsonMember *holder = NULL;
  gsize open_brace = 0;
  gsize close_brace = 0;

  if (edit->value != NULL)
    {
      value = g_string_new (NULL);
      append_json_string (value, edit->value);
    }

  if (edit->object == NULL)
    return edit_member (text, len, 0, len, edit->key, value != NULL ? value->str : NULL, error);

  if (!(members = ck_json_scanner_scan_object (text, len, &open_brace, &close_brace, error)))
    return NULL;
  for (guint i = 0; i < members->len; i++)
    if (ck_json_scanner_key_equals (text, &g_array_index (members, CkJsonMember, i), edit->object))
      holder = &g_array_index (members, CkJsonMember, i);

  if (holder == NULL)
    return value != NULL ? edit_member (text, len, 0, len, edit->object, "{}", error) : NULL;

  if (text[holder->value_start] != '{')
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "%s is not a JSON object", edit->object);
      return NULL;
    }

  return edit_member (text, len, holder->value_start, holder->value_end,
                      edit->key, value != NULL ? value->str : NULL, error);
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
 * with only the edited members changed, in the same order. */
static gboolean
check_rewrite (const char                 *before,
               gsize                       before_len,
               const char                 *after,
               const CkClaudeSettingsEdit *edits,
               guint                       n_edits,
               GError                    **error)
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
  for (guint i = 0; i < n_edits; i++)
    {
      JsonObject *target = object;

      if (edits[i].object != NULL)
        {
          JsonNode *node = json_object_get_member (object, edits[i].object);

          if (node == NULL && edits[i].value == NULL)
            continue;
          if (node == NULL)
            {
              json_object_set_object_member (object, edits[i].object, json_object_new ());
              node = json_object_get_member (object, edits[i].object);
            }
          if (!JSON_NODE_HOLDS_OBJECT (node))
            {
              g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "%s is not a JSON object", edits[i].object);
              return FALSE;
            }
          target = json_node_get_object (node);
        }

      if (edits[i].value != NULL)
        json_object_set_string_member (target, edits[i].key, edits[i].value);
      else if (json_object_has_member (target, edits[i].key))
        json_object_remove_member (target, edits[i].key);
    }

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
ck_claude_settings_rewrite_edits (const char                 *contents,
                                  gssize                      length,
                                  const CkClaudeSettingsEdit *edits,
                                  guint                       n_edits,
                                  GError                    **error)
{
  g_autofree char *text = NULL;
  gsize len;

  g_return_val_if_fail (contents != NULL || length == 0, NULL);
  g_return_val_if_fail (edits != NULL || n_edits == 0, NULL);
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

  for (guint i = 0; i < n_edits; i++)
    {
      if (edits[i].value != NULL && !g_utf8_validate (edits[i].value, -1, NULL))
        {
          g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                       "the value for %s is not valid UTF-8", edits[i].key);
          return NULL;
        }
    }

  text = g_strndup (contents, len);
  if (ck_json_scanner_is_blank (contents, len))
    {
      gboolean sets = FALSE;

      for (guint i = 0; i < n_edits; i++)
        sets |= edits[i].value != NULL;
      if (!sets)
        return g_steal_pointer (&text);
      g_free (text);
      text = g_strdup ("{}\n");
    }

  /* Each pass removes a duplicate or makes one edit; a file has few
   * enough members that rescanning is cheap. */
  for (guint i = 0; i < n_edits; i++)
    {
      for (;;)
        {
          g_autoptr(GError) local_error = NULL;
          char *next = edit_once (text, strlen (text), &edits[i], &local_error);

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

  if (!check_rewrite (contents, len, text, edits, n_edits, error))
    return NULL;

  return g_steal_pointer (&text);
}

char *
ck_claude_settings_rewrite (const char  *contents,
                            gssize       length,
                            const char  *helper,
                            GError     **error)
{
  const CkClaudeSettingsEdit edit = { NULL, CK_CLAUDE_SETTINGS_API_KEY_HELPER, helper };

  if (helper != NULL && !g_utf8_validate (helper, -1, NULL))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "the apiKeyHelper command is not valid UTF-8");
      return NULL;
    }

  return ck_claude_settings_rewrite_edits (contents, length, &edit, 1, error);
}

gboolean
ck_claude_settings_parse_string (const char  *contents,
                                 gsize        length,
                                 const char  *object_name,
                                 const char  *key,
                                 char       **value,
                                 GError     **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *object;
  JsonNode *node;

  g_return_val_if_fail (contents != NULL || length == 0, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *value = NULL;

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
  if (object_name != NULL)
    {
      node = json_object_get_member (object, object_name);
      if (node == NULL || JSON_NODE_HOLDS_NULL (node))
        return TRUE;
      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                       "%s is not a JSON object", object_name);
          return FALSE;
        }
      object = json_node_get_object (node);
    }

  node = json_object_get_member (object, key);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "%s is not a string", key);
      return FALSE;
    }

  *value = g_strdup (json_node_get_string (node));
  return TRUE;
}

gboolean
ck_claude_settings_parse_api_key_helper (const char  *contents,
                                         gsize        length,
                                         char       **helper,
                                         GError     **error)
{
  return ck_claude_settings_parse_string (contents, length, NULL,
                                          CK_CLAUDE_SETTINGS_API_KEY_HELPER, helper, error);
}
