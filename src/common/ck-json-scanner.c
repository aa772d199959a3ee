/* ck-json-scanner.c: a strict JSON scanner that says where things are
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-json-scanner"

#include "config.h"

#include <string.h>

#include "ck-error.h"
#include "ck-json-scanner.h"

typedef struct
{
  const char *text;
  gsize       pos;
  gsize       len;
} Scanner;

static void
skip_ws (Scanner *s)
{
  while (s->pos < s->len && ck_json_scanner_is_space (s->text[s->pos]))
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

  if (depth > CK_JSON_SCANNER_MAX_DEPTH)
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

gboolean
ck_json_scanner_key_equals (const char         *text,
                            const CkJsonMember *member,
                            const char         *name)
{
  /* The scanner checked every escape, so none reads past the key. */
  gsize i = member->key_start + 1;
  gsize last = member->key_end - 1;

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

GArray *
ck_json_scanner_scan_object (const char  *text,
                             gsize        len,
                             gsize       *open_brace,
                             gsize       *close_brace,
                             GError     **error)
{
  g_autoptr(GArray) members = NULL;
  Scanner s = { text, 0, len };

  g_return_val_if_fail (text != NULL || len == 0, NULL);
  g_return_val_if_fail (open_brace != NULL && close_brace != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  members = g_array_new (FALSE, TRUE, sizeof (CkJsonMember));
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
          CkJsonMember m = { 0 };

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

gboolean
ck_json_scanner_is_blank (const char *text,
                          gsize       len)
{
  for (gsize i = 0; i < len; i++)
    if (!ck_json_scanner_is_space (text[i]))
      return FALSE;
  return TRUE;
}
