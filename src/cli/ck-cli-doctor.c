/* ck-cli-doctor.c: `claude-keyring doctor [--json]`
 *
 * The agent's checks (keyring, stored credentials, helper, OAuth), plus
 * what only the client can see: the caller's environment, Claude Code's
 * settings and a plaintext login file, and the combinations of those with
 * the stored credentials that make claude fail (see
 * docs/claude-code-behaviour.md).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "ck-claude-settings.h"
#include "ck-cli.h"
#include "ck-error.h"

#define DOCTOR_TIMEOUT_MS (20 * 1000)

typedef enum
{
  STATUS_OK,
  STATUS_WARN,
  STATUS_FAIL,
} Status;

typedef struct
{
  char   *id;
  Status  status;
  char   *summary;
  char   *detail;
} Check;

static void
check_clear (Check *check)
{
  g_free (check->id);
  g_free (check->summary);
  g_free (check->detail);
}

static const char *
status_to_string (Status status)
{
  switch (status)
    {
    case STATUS_OK:   return "ok";
    case STATUS_WARN: return "warn";
    case STATUS_FAIL: return "fail";
    default:          g_assert_not_reached ();
    }
}

static Status
status_from_string (const char *status)
{
  if (g_strcmp0 (status, "ok") == 0)
    return STATUS_OK;
  if (g_strcmp0 (status, "fail") == 0)
    return STATUS_FAIL;
  return STATUS_WARN;
}

static void add_check (GArray     *checks,
                       const char *id,
                       Status      status,
                       const char *detail,
                       const char *format,
                       ...) G_GNUC_PRINTF (5, 6);

static void
add_check (GArray     *checks,
           const char *id,
           Status      status,
           const char *detail,
           const char *format,
           ...)
{
  Check check;
  va_list args;

  va_start (args, format);
  check.id = g_strdup (id);
  check.status = status;
  check.summary = g_strdup_vprintf (format, args);
  check.detail = g_strdup (detail != NULL ? detail : "");
  va_end (args);

  g_array_append_val (checks, check);
}

static void
add_agent_checks (GArray *checks)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariantIter) iter = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *dict;

  reply = ck_cli_call ("Doctor", NULL, G_VARIANT_TYPE ("(aa{sv})"),
                       DOCTOR_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      if (g_dbus_error_is_remote_error (error))
        g_dbus_error_strip_remote_error (error);
      add_check (checks, "agent", STATUS_FAIL, error->message,
                 "The claude-keyring agent could not be asked.");
      return;
    }

  g_variant_get (reply, "(aa{sv})", &iter);
  while (g_variant_iter_next (iter, "@a{sv}", &dict))
    {
      const char *id = "agent";
      const char *status = "warn";
      const char *summary = "";
      const char *detail = "";

      g_variant_lookup (dict, "id", "&s", &id);
      g_variant_lookup (dict, "status", "&s", &status);
      g_variant_lookup (dict, "summary", "&s", &summary);
      g_variant_lookup (dict, "detail", "&s", &detail);
      add_check (checks, id, status_from_string (status), detail, "%s", summary);
      g_variant_unref (dict);
    }
}

static void
drop_checks (GArray     *checks,
             const char *id)
{
  for (guint i = checks->len; i > 0; i--)
    {
      if (g_str_equal (g_array_index (checks, Check, i - 1).id, id))
        g_array_remove_index (checks, i - 1);
    }
}

/* GetStatus's "state" and "source", or NULLs when the agent cannot say. */
static void
get_status (char **state,
            char **source)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) status = NULL;

  *state = NULL;
  *source = NULL;

  reply = ck_cli_call ("GetStatus", NULL, G_VARIANT_TYPE ("(a{sv})"),
                       DOCTOR_TIMEOUT_MS, NULL);
  if (reply == NULL)
    return;

  status = g_variant_get_child_value (reply, 0);
  g_variant_lookup (status, "state", "s", state);
  g_variant_lookup (status, "source", "s", source);
}

static gboolean
env_is_set (const char *name)
{
  const char *value = g_getenv (name);

  return value != NULL && value[0] != '\0';
}

static void
add_environment_checks (GArray *checks)
{
  static const char * const cloud_variables[] = {
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "ANTHROPIC_BEDROCK_BASE_URL",
    "ANTHROPIC_VERTEX_BASE_URL",
  };
  guint before = checks->len;

  if (env_is_set ("ANTHROPIC_API_KEY"))
    add_check (checks, "env-anthropic-api-key", STATUS_WARN,
               "claude uses it instead of every credential claude-keyring provides (with an apiKeyHelper "
               "it sends both). Unset it to use the keyring.",
               "ANTHROPIC_API_KEY is set in the environment.");

  if (env_is_set ("ANTHROPIC_API_KEY_HELPER"))
    add_check (checks, "env-anthropic-api-key-helper", STATUS_WARN,
               "Current claude ignores this variable; only apiKeyHelper in Claude Code's settings works. "
               "Run 'claude-keyring setup-claude' (with an API key stored) or start claude with "
               "'claude-keyring run', and unset the variable.",
               "ANTHROPIC_API_KEY_HELPER is set, but claude ignores it.");

  if (env_is_set ("ANTHROPIC_AUTH_TOKEN"))
    add_check (checks, "env-anthropic-auth-token", STATUS_WARN,
               "claude sends it as a Bearer token without the OAuth header, so an OAuth token there fails, "
               "and it overrides the login 'claude-keyring run' passes. Unset it.",
               "ANTHROPIC_AUTH_TOKEN is set in the environment.");

  if (env_is_set ("CLAUDE_CODE_OAUTH_TOKEN"))
    add_check (checks, "env-claude-code-oauth-token", STATUS_WARN,
               "claude uses it instead of the login claude-keyring keeps, and cannot refresh it. "
               "Unset it and start claude with 'claude-keyring run'.",
               "CLAUDE_CODE_OAUTH_TOKEN is set in the environment.");

  for (guint i = 0; i < G_N_ELEMENTS (cloud_variables); i++)
    {
      if (env_is_set (cloud_variables[i]))
        {
          add_check (checks, "env-cloud-provider", STATUS_WARN,
                     "claude then talks to Amazon Bedrock or Google Vertex AI with cloud credentials, "
                     "and does not use the ones claude-keyring keeps.",
                     "%s is set in the environment.", cloud_variables[i]);
          break;
        }
    }

  if (checks->len == before)
    add_check (checks, "environment", STATUS_OK, NULL,
               "No environment variable overrides the credentials.");
}

static char *
describe_program (const char *command)
{
  g_auto(GStrv) argv = NULL;
  g_autofree char *base = NULL;

  /* The command itself may hold a key: name only the program. */
  if (!g_shell_parse_argv (command, NULL, &argv, NULL) || argv[0] == NULL)
    return g_strdup ("a command");

  base = g_path_get_basename (argv[0]);
  if (strlen (base) > 40)
    return g_strdup ("a command");
  return g_strdup_printf ("'%s'", base);
}

static void
add_settings_checks (GArray     *checks,
                     const char *state,
                     const char *source)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *user_path = ck_claude_settings_get_default_path ();
  g_autofree char *user_helper = NULL;
  g_autofree char *helper = NULL;
  g_autofree char *path = NULL;
  gboolean has_api_key = g_strcmp0 (source, "keyring") == 0 || g_strcmp0 (source, "helper") == 0;

  if (!ck_claude_settings_get_api_key_helper (user_path, &user_helper, &error))
    add_check (checks, "claude-settings-file", STATUS_WARN, error->message,
               "Claude Code's settings (%s) cannot be read.", user_path);

  if (!ck_claude_settings_find_api_key_helper (&helper, &path))
    {
      /* A helper only helps with an API key; an OAuth login goes
       * through run. */
      add_check (checks, "claude-settings", STATUS_OK,
                 has_api_key
                 ? "Start claude with 'claude-keyring run', or run 'claude-keyring setup-claude' to have "
                   "claude ask for the stored API key itself."
                 : "Start claude with 'claude-keyring run'.",
                 "No apiKeyHelper is set in Claude Code's settings.");
      return;
    }

  if (!ck_claude_settings_is_our_helper (helper))
    {
      g_autofree char *program = describe_program (helper);

      add_check (checks, "claude-settings", STATUS_WARN,
                 "claude uses its output instead of the credentials claude-keyring keeps, even instead of "
                 "the login 'claude-keyring run' passes. Run 'claude-keyring setup-claude' to use "
                 "claude-keyring, or keep it if that is intended.",
                 "apiKeyHelper in %s runs another program (%s).", path, program);
      return;
    }

  if (has_api_key)
    {
      add_check (checks, "claude-settings", STATUS_OK, NULL,
                 "apiKeyHelper in %s runs claude-keyring helper.", path);
    }
  else if (g_strcmp0 (source, "oauth") == 0)
    {
      add_check (checks, "claude-settings", STATUS_FAIL,
                 "A helper overrides the login in claude and cannot pass an OAuth token. "
                 "Fix: 'claude-keyring setup-claude --remove', then start claude with 'claude-keyring run'.",
                 "apiKeyHelper in %s runs claude-keyring helper, but only a Claude login is stored: claude will fail.",
                 path);
    }
  else if (g_strcmp0 (state, "logged-out") == 0)
    {
      add_check (checks, "claude-settings", STATUS_FAIL,
                 "Store one with 'claude-keyring set-api-key', or remove the helper with "
                 "'claude-keyring setup-claude --remove'.",
                 "apiKeyHelper in %s runs claude-keyring helper, but no API key is stored: claude will fail.",
                 path);
    }
  else
    {
      add_check (checks, "claude-settings", STATUS_WARN,
                 "claude fails whenever the helper has no API key to print.",
                 "apiKeyHelper in %s runs claude-keyring helper; whether an API key is stored is unknown.",
                 path);
    }
}

/* Plain claude through the gateway (setup-claude --gateway): it listens
 * where the settings say, the token there is a live session's, and
 * nothing makes claude send something else instead. The token is only
 * compared (by SHA-256, in ck_cli_gateway_setup_read), never shown. */
static void
add_gateway_checks (GArray *checks)
{
  g_auto(CkCliGatewaySetup) setup = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *path = ck_claude_settings_get_default_path ();
  g_autofree char *helper = NULL;
  g_autofree char *helper_path = NULL;
  g_autoptr(GString) bypass = g_string_new (NULL);

  /* An unreadable file is the claude-settings-file check's. */
  if (!ck_cli_gateway_setup_read (path, &setup, &error))
    return;

  if (setup.token == NULL && setup.base_url == NULL)
    {
      add_check (checks, "gateway", STATUS_OK,
                 "'claude-keyring run' uses the gateway; 'claude-keyring setup-claude --gateway' sends plain claude through it.",
                 "Plain claude does not use the gateway (no ANTHROPIC_BASE_URL in %s).", path);
      return;
    }
  if (!ck_cli_gateway_setup_is_ours (&setup))
    {
      add_check (checks, "gateway", STATUS_OK, NULL,
                 "%s sends claude to a server of its own (env.ANTHROPIC_BASE_URL), not the gateway.", path);
      return;
    }

  if (setup.gateway_url == NULL)
    add_check (checks, "gateway", STATUS_FAIL,
               "Check the agent's log and the gateway-port setting, then run 'claude-keyring setup-claude --gateway' again.",
               "%s sends claude to the gateway at %s, but the gateway does not listen.", path, setup.base_url);
  else if (g_strcmp0 (setup.base_url, setup.gateway_url) != 0)
    add_check (checks, "gateway", STATUS_FAIL,
               "Run 'claude-keyring setup-claude --gateway' again to write the gateway's URL.",
               "%s sends claude to %s, but the gateway listens at %s.", path,
               setup.base_url != NULL ? setup.base_url : "no URL", setup.gateway_url);
  else
    add_check (checks, "gateway", STATUS_OK, NULL,
               "The gateway listens at %s, where %s sends claude.", setup.gateway_url, path);

  if (setup.token == NULL || setup.session_id == NULL || !setup.session_persistent)
    add_check (checks, "gateway-token", STATUS_FAIL,
               "Run 'claude-keyring setup-claude --gateway' again for a new one.",
               "The gateway token in %s is not a persistent session's (it was revoked): claude gets 401.", path);
  else
    add_check (checks, "gateway-token", STATUS_OK, NULL,
               "The gateway token in %s belongs to persistent session %s.", path, setup.session_id);

  if (env_is_set ("ANTHROPIC_API_KEY"))
    g_string_append (bypass, ", ANTHROPIC_API_KEY in the environment");
  if (env_is_set ("ANTHROPIC_AUTH_TOKEN"))
    g_string_append (bypass, ", ANTHROPIC_AUTH_TOKEN in the environment");
  if (ck_claude_settings_find_api_key_helper (&helper, &helper_path))
    g_string_append_printf (bypass, ", the apiKeyHelper in %s", helper_path);
  if (bypass->len > 0)
    add_check (checks, "gateway-bypass", STATUS_FAIL,
               "claude sends that instead of the gateway's token and fails at the gateway: remove it.",
               "claude would bypass the gateway's token: %s.", bypass->str + 2);

  add_check (checks, "gateway-remote-control", STATUS_OK,
             "Start claude with 'claude-keyring run --direct' when you need it.",
             "Claude Code turns Remote Control off with a base URL that is not Anthropic's, as the gateway's is.");
}

static void
add_plaintext_check (GArray *checks)
{
  g_autofree char *path = ck_claude_settings_get_credentials_path ();

  if (g_file_test (path, G_FILE_TEST_EXISTS))
    add_check (checks, "plaintext-credentials", STATUS_WARN,
               "Run 'claude-keyring import' to move it into the keyring and remove the file.",
               "%s holds a Claude login in plaintext.", path);
  else
    add_check (checks, "plaintext-credentials", STATUS_OK, NULL,
               "No plaintext Claude login file is left behind.");
}

static void
print_json (GArray *checks)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_array (builder);
  for (guint i = 0; i < checks->len; i++)
    {
      const Check *check = &g_array_index (checks, Check, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_string_value (builder, check->id);
      json_builder_set_member_name (builder, "status");
      json_builder_add_string_value (builder, status_to_string (check->status));
      json_builder_set_member_name (builder, "summary");
      json_builder_add_string_value (builder, check->summary);
      json_builder_set_member_name (builder, "detail");
      json_builder_add_string_value (builder, check->detail);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  text = json_generator_to_data (generator, NULL);
  printf ("%s\n", text);
}

/* Text for a terminal or file that may not take UTF-8. */
static char *
for_output (const char *text,
            gboolean    utf8)
{
  const char *charset = NULL;
  char *converted;

  if (utf8)
    return g_strdup (text);

  g_get_charset (&charset);
  converted = g_convert_with_fallback (text, -1, charset, "UTF-8", "?", NULL, NULL, NULL);
  return converted != NULL ? converted : g_strdup (text);
}

static void
print_human (GArray *checks)
{
  gboolean utf8 = g_get_charset (NULL);
  const char *marks[] = {
    [STATUS_OK]   = utf8 ? "✓" : "+",
    [STATUS_WARN] = "!",
    [STATUS_FAIL] = utf8 ? "✗" : "x",
  };
  guint counts[3] = { 0, 0, 0 };

  for (guint i = 0; i < checks->len; i++)
    {
      const Check *check = &g_array_index (checks, Check, i);
      g_autofree char *summary = for_output (check->summary, utf8);

      counts[check->status]++;
      printf ("%s %s\n", marks[check->status], summary);

      if (check->detail[0] != '\0')
        {
          g_autofree char *detail = for_output (check->detail, utf8);
          g_auto(GStrv) lines = g_strsplit (detail, "\n", -1);

          for (guint l = 0; lines[l] != NULL; l++)
            printf ("    %s\n", lines[l]);
        }
    }

  printf ("\n%u ok, %u %s, %u %s\n",
          counts[STATUS_OK],
          counts[STATUS_WARN], counts[STATUS_WARN] == 1 ? "warning" : "warnings",
          counts[STATUS_FAIL], counts[STATUS_FAIL] == 1 ? "failure" : "failures");
}

/* Which account claude started here gets, and why. */
static void
add_account_check (GArray *checks)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) account = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *cwd = g_get_current_dir ();
  const char *name = NULL, *reason = "", *rule = "";
  GVariantBuilder options;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  ck_cli_add_account_options (&options);
  reply = ck_cli_call ("ResolveAccount", g_variant_new ("(a{sv})", &options),
                       G_VARIANT_TYPE ("(a{sv})"), DOCTOR_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      /* An agent that does not answer is the agent check's to report. */
      if (g_error_matches (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT))
        add_check (checks, "account-here", STATUS_FAIL, NULL, "This directory's account: %s",
                   error->message);
      return;
    }
  account = g_variant_get_child_value (reply, 0);
  g_variant_lookup (account, "reason", "&s", &reason);
  g_variant_lookup (account, "rule", "&s", &rule);
  if (!g_variant_lookup (account, "name", "&s", &name))
    return;
  add_check (checks, "account-here", STATUS_OK, NULL, "%s uses the account %s (%s%s).", cwd, name,
             g_str_equal (reason, "rule") ? "bound to " : g_str_equal (reason, "option")
               ? "CLAUDE_KEYRING_ACCOUNT" : "the default account",
             g_str_equal (reason, "rule") ? rule : "");
}

int
ck_cli_doctor (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GArray) checks = NULL;
  g_autofree char *state = NULL;
  g_autofree char *source = NULL;
  gboolean json = FALSE;
  gboolean failed = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      "Print the checks as a JSON array of {id, status, summary, detail}", NULL },
    { NULL }
  };

  context = ck_cli_option_context_new ("doctor", NULL,
                                       "Checks the agent, the keyring, the stored credentials, Claude Code's\n"
                                       "settings and the environment, and says what would break claude.\n"
                                       "Exits 1 when a check fails.",
                                       entries);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;

  if (argc > 1)
    {
      ck_cli_error ("doctor takes no arguments; see 'claude-keyring doctor --help'");
      return CK_EXIT_USAGE;
    }

  checks = g_array_new (FALSE, FALSE, sizeof (Check));
  g_array_set_clear_func (checks, (GDestroyNotify) check_clear);

  add_agent_checks (checks);
  /* The agent looks at Claude Code's files too, but from its own
   * environment; the caller's CLAUDE_CONFIG_DIR and folder are what the
   * caller's claude will use, so those checks are redone here. */
  drop_checks (checks, "claude-settings");
  drop_checks (checks, "plaintext-credentials");
  get_status (&state, &source);
  add_environment_checks (checks);
  add_settings_checks (checks, state, source);
  add_gateway_checks (checks);
  add_plaintext_check (checks);
  add_account_check (checks);

  for (guint i = 0; i < checks->len; i++)
    failed |= g_array_index (checks, Check, i).status == STATUS_FAIL;

  if (json)
    print_json (checks);
  else
    print_human (checks);

  return failed ? CK_EXIT_FAILURE : CK_EXIT_OK;
}
