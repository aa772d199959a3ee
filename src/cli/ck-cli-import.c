/* ck-cli-import.c: `claude-keyring import [--keep] [--config-dir DIR]`
 *
 * Moves the login claude keeps in plaintext (~/.claude/.credentials.json,
 * or in $CLAUDE_CONFIG_DIR, or in DIR) into the keyring through the agent,
 * and takes it out of the file once the agent has stored the login and
 * read it back (ck_claude_credentials_remove_login, which the agent's
 * automatic import uses too).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "ck-claude-credentials.h"
#include "ck-claude-settings.h"
#include "ck-cli.h"
#include "ck-error.h"

/* The agent writes to the keyring and reads the login back. */
#define IMPORT_TIMEOUT_MS (30 * 1000)

typedef struct
{
  char  *data;
  gsize  length;
} Secret;

static void
secret_free (Secret *secret)
{
  if (secret == NULL)
    return;
  if (secret->data != NULL)
    {
      explicit_bzero (secret->data, secret->length);
      g_free (secret->data);
    }
  g_free (secret);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Secret, secret_free)

static void
wipe_and_free (gpointer data)
{
  Secret *secret = data;

  secret_free (secret);
}

/* Checks the shape the agent expects before anything is sent: an object
 * whose claudeAiOauth.accessToken is a non-empty string. */
static gboolean
check_credentials (const char  *contents,
                   gsize        length,
                   GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;
  JsonObject *object;
  JsonNode *oauth;
  JsonNode *token;

  if (!g_utf8_validate_len (contents, length, NULL) ||
      !json_parser_load_from_data (parser, contents, length, NULL) ||
      !(root = json_parser_get_root (parser)) ||
      !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "is not valid JSON");
      return FALSE;
    }

  object = json_node_get_object (root);
  oauth = json_object_get_member (object, "claudeAiOauth");
  if (oauth == NULL || !JSON_NODE_HOLDS_OBJECT (oauth))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "holds no Claude login (no claudeAiOauth)");
      return FALSE;
    }

  token = json_object_get_member (json_node_get_object (oauth), "accessToken");
  if (token == NULL || !JSON_NODE_HOLDS_VALUE (token) ||
      json_node_get_value_type (token) != G_TYPE_STRING ||
      json_node_get_string (token)[0] == '\0')
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "holds no Claude login (no claudeAiOauth.accessToken)");
      return FALSE;
    }

  return TRUE;
}

static Secret *
read_credentials (const char                *path,
                  CkClaudeCredentialsStamp  *stamp,
                  GError                   **error)
{
  g_autoptr(Secret) secret = g_new0 (Secret, 1);

  /* A link is refused rather than followed: removing it would leave the
   * login in its target while saying the plaintext is gone. */
  if (!ck_claude_credentials_read (path, &secret->data, &secret->length, stamp, error))
    return NULL;

  return g_steal_pointer (&secret);
}

int
ck_cli_import (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(Secret) secret = NULL;
  g_autofree char *path = NULL;
  g_autofree char *config_dir = NULL;
  g_autofree char *account_note = NULL;
  CkClaudeCredentialsStamp stamp;
  CkClaudeCredentialsRemoval removal;
  const char *account = NULL;
  gboolean keep = FALSE;
  GBytes *bytes;
  GVariant *contents;
  const GOptionEntry entries[] = {
    { "keep", 0, 0, G_OPTION_ARG_NONE, &keep,
      "Keep the plaintext file after importing it", NULL },
    { "config-dir", 0, 0, G_OPTION_ARG_FILENAME, &config_dir,
      "Import DIR/.credentials.json, for a claude run with CLAUDE_CONFIG_DIR=DIR", "DIR" },
    { NULL }
  };

  context = ck_cli_option_context_new ("import", NULL,
                                       "Moves the Claude login from ~/.claude/.credentials.json (or\n"
                                       "$CLAUDE_CONFIG_DIR/.credentials.json, or DIR/.credentials.json with\n"
                                       "--config-dir) into the keyring, and takes it out of the plaintext\n"
                                       "file once the keyring holds it. The agent does this by itself when\n"
                                       "claude writes a login (the auto-import setting).",
                                       entries);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;

  if (argc > 1)
    {
      ck_cli_error ("import takes no arguments; see 'claude-keyring import --help'");
      return CK_EXIT_USAGE;
    }

  if (config_dir != NULL && config_dir[0] == '\0')
    {
      ck_cli_error ("--config-dir needs a directory; see 'claude-keyring import --help'");
      return CK_EXIT_USAGE;
    }
  if (config_dir != NULL)
    path = g_build_filename (config_dir, CK_CLAUDE_CREDENTIALS_FILE, NULL);
  else
    path = ck_claude_settings_get_credentials_path ();

  if (!(secret = read_credentials (path, &stamp, &error)))
    {
      if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        ck_cli_error ("no Claude login to import: %s does not exist", path);
      else
        ck_cli_error ("%s; nothing changed", error->message);
      return CK_EXIT_FAILURE;
    }

  if (!check_credentials (secret->data, secret->length, &error))
    {
      ck_cli_error ("%s %s; nothing changed", path, error->message);
      return CK_EXIT_FAILURE;
    }

  /* The string handed to D-Bus is a copy that is wiped when the message
   * lets go of it. */
  {
    Secret *copy = g_new0 (Secret, 1);

    copy->length = secret->length + 1;
    copy->data = g_malloc (copy->length);
    memcpy (copy->data, secret->data, secret->length);
    copy->data[secret->length] = '\0';
    bytes = g_bytes_new_with_free_func (copy->data, copy->length, wipe_and_free, copy);
    contents = g_variant_new_from_bytes (G_VARIANT_TYPE_STRING, bytes, TRUE);
    g_bytes_unref (bytes);
  }

  reply = ck_cli_call ("ImportCredentials",
                       g_variant_new_tuple (&contents, 1),
                       G_VARIANT_TYPE ("(s)"),
                       IMPORT_TIMEOUT_MS,
                       &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      ck_cli_error ("%s was left in place", path);
      return CK_EXIT_FAILURE;
    }

  g_variant_get (reply, "(&s)", &account);
  account_note = account[0] != '\0' ? g_strdup_printf (" (%s)", account) : g_strdup ("");

  if (keep)
    {
      ck_cli_error ("imported the Claude login%s into the keyring; kept %s, which still holds it in plaintext",
                    account_note, path);
      return CK_EXIT_OK;
    }

  if (!ck_claude_credentials_remove_login (path, secret->data, secret->length, &stamp, &removal, &error))
    {
      ck_cli_error ("imported the Claude login%s into the keyring, but the file stayed (%s); remove it yourself",
                    account_note, error->message);
      return CK_EXIT_FAILURE;
    }

  switch (removal)
    {
    case CK_CLAUDE_CREDENTIALS_CHANGED:
      ck_cli_error ("imported the Claude login%s into the keyring, but %s changed meanwhile (is claude running?); "
                    "kept it: quit claude and run claude-keyring import again",
                    account_note, path);
      return CK_EXIT_FAILURE;

    case CK_CLAUDE_CREDENTIALS_KEPT_REST:
      ck_cli_error ("imported the Claude login%s into the keyring and removed it from %s, which keeps only "
                    "the MCP servers' logins; start claude with: claude-keyring run",
                    account_note, path);
      return CK_EXIT_OK;

    case CK_CLAUDE_CREDENTIALS_GONE:
      /* The agent's automatic import got there first. */
      ck_cli_error ("imported the Claude login%s into the keyring; %s is gone already; "
                    "start claude with: claude-keyring run", account_note, path);
      return CK_EXIT_OK;

    case CK_CLAUDE_CREDENTIALS_REMOVED:
    default:
      ck_cli_error ("imported the Claude login%s into the keyring and removed %s; start claude with: claude-keyring run",
                    account_note, path);
      return CK_EXIT_OK;
    }
}
