/* ck-claude-settings.c: read and edit Claude Code's settings.json
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-claude-settings"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "ck-claude-settings.h"
#include "ck-error.h"

/* Deeper nesting than this is refused before any parser recurses into it. */
#define MAX_DEPTH 512

/* The settings file is the user's, often hand-edited and kept in a dotfiles
 * repository: the rewrite edits the text in place rather than regenerating
 * it, so formatting, number spelling and key order survive byte for byte.
 * A strict scanner finds the top-level members; json-glib then checks the
 * result means exactly the input with the one key changed. */

typedef struct
{
  gsize key_start;     /* the opening quote of the key */
  gsize key_end;       /* after the closing quote */
  gsize value_start;
  gsize value_end;
  gboolean is_helper;
} Member;

typedef struct
{
  const char *text;
  gsize       pos;
  gsize       len;
} Scanner;

static inline gboolean
is_ws (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
skip_ws (Scanner *s)
{
  while (s->pos < s->len && is_ws (s->text[s->pos]))
    s->pos++;
}

static inline gboolean
at (Scanner *s,
    char     c)
{
  return s->pos < s->len && s->text[s->pos] == c;
}

static gboolean
scan_string (Scanner *s)
{
  if (!at (s, '"'))
    return FALSE;
  s->pos++;

  while (s->pos < s->len)
    {
      guchar c = s->text[s->pos];

      if (c == '"')
        {
          s->pos++;
          return TRUE;
        }
      if (c < 0x20)
        return FALSE;
      if (c == '\\')
        {
          s->pos++;
          if (s->pos >= s->len)
            return FALSE;
          switch (s->text[s->pos])
            {
            case '"': case '\\': case '/': case 'b':
            case 'f': case 'n': case 'r': case 't':
              s->pos++;
              break;

            case 'u':
              if (s->len - s->pos < 5)
                return FALSE;
              for (guint i = 1; i <= 4; i++)
                if (!g_ascii_isxdigit (s->text[s->pos + i]))
                  return FALSE;
              s->pos += 5;
              break;

            default:
              return FALSE;
            }
          continue;
        }
      s->pos++;
    }

  return FALSE;
}

static gboolean
scan_digits (Scanner *s)
{
  gsize start = s->pos;

  while (s->pos < s->len && g_ascii_isdigit (s->text[s->pos]))
    s->pos++;

  return s->pos > start;
}

static gboolean
scan_number (Scanner *s)
{
  if (at (s, '-'))
    s->pos++;

  if (at (s, '0'))
    s->pos++;
  else if (!scan_digits (s))
    return FALSE;

  if (at (s, '.'))
    {
      s->pos++;
      if (!scan_digits (s))
        return FALSE;
    }

  if (at (s, 'e') || at (s, 'E'))
    {
      s->pos++;
      if (at (s, '+') || at (s, '-'))
        s->pos++;
      if (!scan_digits (s))
        return FALSE;
    }

  return TRUE;
}

static gboolean
scan_literal (Scanner    *s,
              const char *word)
{
  gsize n = strlen (word);

  if (s->len - s->pos < n || memcmp (s->text + s->pos, word, n) != 0)
    return FALSE;
  s->pos += n;
  return TRUE;
}

static gboolean scan_value (Scanner *s,
                            guint    depth);

static gboolean
scan_container (Scanner *s,
                guint    depth,
                gboolean is_object)
{
  char close = is_object ? '}' : ']';

  if (depth > MAX_DEPTH)
    return FALSE;

  s->pos++;
  skip_ws (s);
  if (at (s, close))
    {
      s->pos++;
      return TRUE;
    }

  for (;;)
    {
      if (is_object)
        {
          if (!scan_string (s))
            return FALSE;
          skip_ws (s);
          if (!at (s, ':'))
            return FALSE;
          s->pos++;
          skip_ws (s);
        }

      if (!scan_value (s, depth + 1))
        return FALSE;
      skip_ws (s);

      if (at (s, close))
        {
          s->pos++;
          return TRUE;
        }
      if (!at (s, ','))
        return FALSE;
      s->pos++;
      skip_ws (s);
    }
}

static gboolean
scan_value (Scanner *s,
            guint    depth)
{
  if (s->pos >= s->len)
    return FALSE;

  switch (s->text[s->pos])
    {
    case '{':
      return scan_container (s, depth, TRUE);
    case '[':
      return scan_container (s, depth, FALSE);
    case '"':
      return scan_string (s);
    case 't':
      return scan_literal (s, "true");
    case 'f':
      return scan_literal (s, "false");
    case 'n':
      return scan_literal (s, "null");
    default:
      return scan_number (s);
    }
}

static int
hex_value (char c)
{
  return g_ascii_xdigit_value (c);
}

/* Whether the raw key literal text[start, end) (quotes included) decodes
 * to @name, an ASCII string. Keys may be spelt with escapes. */
static gboolean
key_equals (const char *text,
            gsize       start,
            gsize       end,
            const char *name)
{
  gsize i = start + 1;
  gsize last = end - 1;

  for (; i < last; name++)
    {
      char c = text[i];

      if (c == '\\')
        {
          char e = text[i + 1];

          switch (e)
            {
            case 'u':
              {
                int cp = (hex_value (text[i + 2]) << 12) | (hex_value (text[i + 3]) << 8) |
                         (hex_value (text[i + 4]) << 4) | hex_value (text[i + 5]);

                /* Anything outside ASCII cannot match an ASCII name. */
                if (cp >= 0x80)
                  return FALSE;
                c = (char) cp;
                i += 6;
              }
              break;
            case 'b': c = '\b'; i += 2; break;
            case 'f': c = '\f'; i += 2; break;
            case 'n': c = '\n'; i += 2; break;
            case 'r': c = '\r'; i += 2; break;
            case 't': c = '\t'; i += 2; break;
            default:  c = e;    i += 2; break;
            }
        }
      else
        {
          i++;
        }

      if (*name == '\0' || c != *name)
        return FALSE;
    }

  return *name == '\0';
}

static void
set_syntax_error (GError     **error,
                  const char  *text,
                  gsize        pos)
{
  guint line = 1;
  guint column = 1;

  for (gsize i = 0; i < pos; i++)
    {
      if (text[i] == '\n')
        {
          line++;
          column = 1;
        }
      else if (((guchar) text[i] & 0xC0) != 0x80)
        {
          column++;
        }
    }

  g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
               "not valid JSON (line %u, column %u)", line, column);
}

/* Finds the top-level members of the object that @text must be. */
static GArray *
scan_top_object (const char  *text,
                 gsize        len,
                 gsize       *open_brace,
                 gsize       *close_brace,
                 GError     **error)
{
  g_autoptr(GArray) members = g_array_new (FALSE, TRUE, sizeof (Member));
  Scanner s = { text, 0, len };

  skip_ws (&s);
  if (!at (&s, '{'))
    {
      if (s.pos < len && (text[s.pos] == '[' || text[s.pos] == '"' ||
                          text[s.pos] == '-' || g_ascii_isdigit (text[s.pos]) ||
                          text[s.pos] == 't' || text[s.pos] == 'f' || text[s.pos] == 'n'))
        g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                             "not a JSON object");
      else
        set_syntax_error (error, text, s.pos);
      return NULL;
    }
  *open_brace = s.pos;
  s.pos++;
  skip_ws (&s);

  if (!at (&s, '}'))
    {
      for (;;)
        {
          Member m = { 0 };

          m.key_start = s.pos;
          if (!scan_string (&s))
            goto syntax;
          m.key_end = s.pos;
          skip_ws (&s);
          if (!at (&s, ':'))
            goto syntax;
          s.pos++;
          skip_ws (&s);
          m.value_start = s.pos;
          if (!scan_value (&s, 1))
            goto syntax;
          m.value_end = s.pos;
          m.is_helper = key_equals (text, m.key_start, m.key_end,
                                    CK_CLAUDE_SETTINGS_API_KEY_HELPER);
          g_array_append_val (members, m);

          skip_ws (&s);
          if (at (&s, '}'))
            break;
          if (!at (&s, ','))
            goto syntax;
          s.pos++;
          skip_ws (&s);
        }
    }

  *close_brace = s.pos;
  s.pos++;
  skip_ws (&s);
  if (s.pos != len)
    goto syntax;

  return g_steal_pointer (&members);

syntax:
  set_syntax_error (error, text, s.pos);
  return NULL;
}

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

static gboolean
is_blank (const char *text,
          gsize       len)
{
  for (gsize i = 0; i < len; i++)
    if (!is_ws (text[i]))
      return FALSE;
  return TRUE;
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

  if (!(members = scan_top_object (text, len, &open_brace, &close_brace, error)))
    return NULL;
  n = members->len;

  for (guint i = 0; i < n; i++)
    {
      if (g_array_index (members, Member, i).is_helper)
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
      const Member *m;
      gsize from;
      gsize to;

      target = last;
      m = &g_array_index (members, Member, target);

      if (n == 1)
        {
          from = open_brace + 1;
          to = close_brace;
        }
      else if (target + 1 < n)
        {
          from = m->key_start;
          to = g_array_index (members, Member, target + 1).key_start;
        }
      else
        {
          from = g_array_index (members, Member, target - 1).value_end;
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
      const Member *m = &g_array_index (members, Member, first);
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
      const Member *m = &g_array_index (members, Member, n - 1);
      gsize indent_start = m->key_start;

      while (indent_start > 0 && is_ws (text[indent_start - 1]))
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

  if (is_blank (before, before_len))
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

  if (is_blank (contents, len))
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

/* The helper value in @contents; NULL when absent or JSON null. */
static gboolean
helper_from_contents (const char  *contents,
                      gsize        length,
                      char       **helper,
                      GError     **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *object;
  JsonNode *node;

  *helper = NULL;

  if (is_blank (contents, length))
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

/* Reads @path; a missing file is not an error (*exists FALSE). */
static gboolean
read_settings (const char  *path,
               char       **contents,
               gsize       *length,
               gboolean    *exists,
               GError     **error)
{
  g_autoptr(GError) local_error = NULL;

  *exists = FALSE;
  *contents = NULL;
  *length = 0;

  if (!g_file_get_contents (path, contents, length, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  *exists = TRUE;
  return TRUE;
}

gboolean
ck_claude_settings_get_api_key_helper (const char  *path,
                                       char       **helper,
                                       GError     **error)
{
  g_autofree char *default_path = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;
  gboolean exists = FALSE;

  g_return_val_if_fail (helper != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *helper = NULL;

  if (path == NULL)
    path = default_path = ck_claude_settings_get_default_path ();

  if (!read_settings (path, &contents, &length, &exists, error))
    return FALSE;
  if (!exists)
    return TRUE;

  if (!helper_from_contents (contents, length, helper, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }

  return TRUE;
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

/* Replaces @path with @data: a temporary file in the same directory,
 * given @mode, synced, then renamed over the old one, so a crash leaves
 * either the old file or the new one, never half of one. */
static gboolean
write_atomically (const char  *path,
                  const char  *data,
                  gsize        length,
                  mode_t       mode,
                  GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp = NULL;
  gsize done = 0;
  int fd;
  int dir_fd;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    return set_errno_error (error, errno, "create the folder", dir);

  tmp = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    return set_errno_error (error, errno, "create a file in", dir);

  /* Exactly the old mode, whatever the umask says. */
  if (fchmod (fd, mode) != 0)
    goto fail;

  while (done < length)
    {
      gssize n = write (fd, data + done, length - done);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          goto fail;
        }
      done += n;
    }

  if (fsync (fd) != 0)
    goto fail;

  if (close (fd) != 0)
    {
      fd = -1;
      goto fail;
    }
  fd = -1;

  if (g_rename (tmp, path) != 0)
    goto fail;

  /* Make the rename itself durable; failing here loses nothing. */
  dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0)
    {
      fsync (dir_fd);
      close (dir_fd);
    }

  return TRUE;

fail:
  {
    int saved_errno = errno;

    if (fd >= 0)
      close (fd);
    g_unlink (tmp);
    return set_errno_error (error, saved_errno, "write", path);
  }
}

gboolean
ck_claude_settings_set_api_key_helper (const char  *path,
                                       const char  *helper,
                                       char       **previous,
                                       gboolean    *changed,
                                       GError     **error)
{
  g_autofree char *default_path = NULL;
  g_autofree char *real_path = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *old_helper = NULL;
  g_autofree char *rewritten = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize length = 0;
  gboolean exists = FALSE;
  mode_t mode = 0600;
  struct stat st;

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (previous != NULL)
    *previous = NULL;
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

  if (!read_settings (real_path, &contents, &length, &exists, error))
    return FALSE;

  if (!exists)
    {
      if (helper == NULL)
        return TRUE;
    }
  else
    {
      if (g_stat (real_path, &st) != 0)
        return set_errno_error (error, errno, "read", path);
      mode = st.st_mode & 07777;

      /* A non-string value is replaced all the same. */
      if (!helper_from_contents (contents, length, &old_helper, &local_error) &&
          !g_error_matches (local_error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }

  if (!(rewritten = ck_claude_settings_rewrite (exists ? contents : "",
                                                exists ? (gssize) length : 0,
                                                helper, error)))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }

  if (exists && strlen (rewritten) == length && memcmp (rewritten, contents, length) == 0)
    {
      if (previous != NULL)
        *previous = g_steal_pointer (&old_helper);
      return TRUE;
    }

  if (!write_atomically (real_path, rewritten, strlen (rewritten), mode, error))
    return FALSE;

  if (previous != NULL)
    *previous = g_steal_pointer (&old_helper);
  if (changed != NULL)
    *changed = TRUE;

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

char *
ck_claude_settings_helper_command (const char *program)
{
  g_autofree char *quoted = NULL;

  g_return_val_if_fail (program != NULL, NULL);

  /* Claude runs the value with /bin/sh: quote only when sh would split or
   * expand it, so the common case stays readable. */
  for (const char *p = program; *p; p++)
    {
      if (!g_ascii_isalnum (*p) && strchr ("/._-+,:@%=", *p) == NULL)
        {
          quoted = g_shell_quote (program);
          break;
        }
    }

  return g_strdup_printf ("%s helper", quoted ? quoted : program);
}
