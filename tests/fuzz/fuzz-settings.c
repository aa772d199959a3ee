/* fuzz-settings.c: the in-place rewriter of Claude Code's settings.json,
 * ck_claude_settings_rewrite(). Whatever the input, a rewrite that
 * succeeds must be a JSON object whose apiKeyHelper is what was asked
 * (or gone), and rewriting it again must change nothing.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <json-glib/json-glib.h>

#include "fuzz-common.h"

#include "ck-claude-settings-json.h"

static void
check_rewrite (const char *contents,
               size_t      size,
               const char *helper)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *rewritten = NULL;
  g_autofree char *again = NULL;
  g_autoptr(JsonParser) parser = NULL;
  JsonObject *object;

  rewritten = ck_claude_settings_rewrite (contents, size, helper, &error);
  if (rewritten == NULL)
    {
      g_assert_nonnull (error);
      return;
    }
  g_assert_no_error (error);

  parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, rewritten, -1, NULL));
  if (json_parser_get_root (parser) == NULL)
    {
      /* Blank input stays blank when there is nothing to remove. */
      g_assert_null (helper);
    }
  else
    {
      g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
      object = json_node_get_object (json_parser_get_root (parser));
      if (helper != NULL)
        g_assert_cmpstr (json_object_get_string_member_with_default (object, "apiKeyHelper", NULL),
                         ==, helper);
      else
        g_assert_false (json_object_has_member (object, "apiKeyHelper"));
    }

  again = ck_claude_settings_rewrite (rewritten, -1, helper, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again, ==, rewritten);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  char *contents;

  fuzz_init ();
  if (fuzz_json_glib_would_leak (data, size))
    return 0;
  contents = fuzz_copy_exact (data, size);
  check_rewrite (contents, size, "claude-keyring helper");
  check_rewrite (contents, size, "'/opt/my tools/claude-keyring' helper # \"é\" \\ \t");
  check_rewrite (contents, size, NULL);
  free (contents);
  return 0;
}
