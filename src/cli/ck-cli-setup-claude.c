/* ck-cli-setup-claude.c: `claude-keyring setup-claude [--gateway] [--remove] [--settings PATH]`
 *
 * Points Claude Code's apiKeyHelper at `claude-keyring helper`, or removes
 * it. claude ranks a configured helper above an OAuth login and does not
 * fall back when it fails, and it sends the helper's output as an API key:
 * so a helper is only right when an API key is stored. OAuth logins go
 * through `claude-keyring run` instead.
 *
 * With --gateway, plain `claude` goes through the agent's gateway instead:
 * env.ANTHROPIC_BASE_URL and a persistent session's token (as
 * env.CLAUDE_CODE_OAUTH_TOKEN, or env.ANTHROPIC_API_KEY for an API key)
 * in the settings. That token is useless anywhere but the gateway, and
 * --remove revokes it. Where a user systemd runs, a socket unit on the
 * gateway's port (claude-keyring-gateway.socket) starts the agent on
 * claude's first connection; elsewhere the agent starts with the session.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>

#include "ck-claude-settings.h"
#include "ck-cli.h"
#include "ck-error.h"

#define SETUP_TIMEOUT_MS (15 * 1000)
#define GATEWAY_SOCKET_UNIT "claude-keyring-gateway.socket"

static char *
gateway_socket_path (void)
{
  return g_build_filename (g_get_user_config_dir (), "systemd", "user", GATEWAY_SOCKET_UNIT, NULL);
}

/* `systemctl --user --quiet ARGS…`, silent; FALSE, without trying, where no
 * user systemd runs (its private socket is not there). */
static gboolean
user_systemctl (const char *verb,
                const char *unit)
{
  g_autofree char *manager = g_build_filename (g_get_user_runtime_dir (), "systemd", "private", NULL);
  const char *argv[] = { "systemctl", "--user", "--quiet", verb, unit, NULL };
  int status = 1;

  if (!g_file_test (manager, G_FILE_TEST_EXISTS))
    return FALSE;
  if (!g_spawn_sync (NULL, (char **) argv, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, NULL))
    return FALSE;
  return g_spawn_check_wait_status (status, NULL);
}

/* The socket unit on the gateway's fixed port (the port of @url), enabled
 * for the next login where a user systemd runs: not started now, as the
 * running agent holds that port. A failure is only a note: the agent still
 * starts with the session. */
static void
write_gateway_socket (const char *url)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  g_autofree char *path = gateway_socket_path ();
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *unit = NULL;
  g_autoptr(GError) error = NULL;

  if (uri == NULL || g_uri_get_port (uri) <= 0)
    return;
  unit = g_strdup_printf ("# Written by 'claude-keyring setup-claude --gateway'; --remove removes it.\n"
                          "[Unit]\n"
                          "Description=Claude Keyring gateway socket (starts the agent for claude)\n"
                          "\n"
                          "[Socket]\n"
                          "ListenStream=127.0.0.1:%d\n"
                          "Accept=no\n"
                          "Service=claude-keyring-agent.service\n"
                          "\n"
                          "[Install]\n"
                          "WantedBy=sockets.target\n", g_uri_get_port (uri));
  if (g_mkdir_with_parents (dir, 0700) < 0 ||
      !g_file_set_contents (path, unit, -1, &error))
    {
      ck_cli_error ("note: could not write %s (%s); the agent starts with the session only",
                    path, error != NULL ? error->message : g_strerror (errno));
      return;
    }
  if (user_systemctl ("daemon-reload", NULL) && user_systemctl ("enable", GATEWAY_SOCKET_UNIT))
    ck_cli_error ("enabled %s: from the next login, claude's first connection starts the agent",
                  GATEWAY_SOCKET_UNIT);
}

static void
remove_gateway_socket (void)
{
  g_autofree char *path = gateway_socket_path ();

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return;
  user_systemctl ("disable", GATEWAY_SOCKET_UNIT);
  user_systemctl ("stop", GATEWAY_SOCKET_UNIT);
  if (g_unlink (path) < 0)
    ck_cli_error ("note: could not remove %s: %s", path, g_strerror (errno));
  else
    user_systemctl ("daemon-reload", NULL);
}

/* Names what a helper command runs without printing the command itself,
 * which may hold a key (`echo sk-…` is a common helper). */
static char *
describe_helper (const char *command)
{
  g_auto(GStrv) argv = NULL;
  g_autofree char *base = NULL;

  if (ck_claude_settings_is_our_helper (command))
    return g_strdup ("claude-keyring helper");

  if (!g_shell_parse_argv (command, NULL, &argv, NULL) || argv[0] == NULL)
    return g_strdup ("another command");

  base = g_path_get_basename (argv[0]);
  if (strlen (base) > 40)
    return g_strdup ("another command");
  return g_strdup_printf ("'%s'", base);
}

/* The apiKeyHelper value that runs @program as a helper. claude runs it
 * with /bin/sh: quote only when sh would split or expand it, so the common
 * case stays readable. */
static char *
helper_command (const char *program)
{
  for (const char *p = program; *p; p++)
    {
      if (!g_ascii_isalnum (*p) && strchr ("/._-+,:@%=", *p) == NULL)
        {
          g_autofree char *quoted = g_shell_quote (program);

          return g_strdup_printf ("%s helper", quoted);
        }
    }

  return g_strdup_printf ("%s helper", program);
}

static char *
get_own_path (GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *path = g_file_read_link ("/proc/self/exe", &local_error);

  if (path == NULL)
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "cannot find this program's own path (%s)", local_error->message);
      return NULL;
    }

  if (g_str_has_suffix (path, " (deleted)"))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                           "this claude-keyring was deleted or replaced while running; run the installed one");
      return NULL;
    }

  return g_steal_pointer (&path);
}

/* FALSE (after saying why) when a helper would break claude: only an
 * OAuth login is stored. */
static gboolean
check_api_key_available (void)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  const char *state = "";
  const char *source = "";

  reply = ck_cli_call ("GetStatus", NULL, G_VARIANT_TYPE ("(a{sv})"),
                       SETUP_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return FALSE;
    }

  status = g_variant_get_child_value (reply, 0);
  g_variant_lookup (status, "state", "&s", &state);
  g_variant_lookup (status, "source", "&s", &source);

  /* "helper" and "keyring" both hand claude an API key; the agent ranks
   * them above OAuth, so "oauth" means no API key is stored. */
  if (g_str_equal (source, "oauth"))
    {
      ck_cli_error ("only a Claude login (OAuth) is stored, and claude cannot use it through an apiKeyHelper "
                    "(a helper would also override the login); start claude with: claude-keyring run "
                    "(or store an API key first: claude-keyring set-api-key)");
      return FALSE;
    }

  if (g_str_equal (state, "locked"))
    ck_cli_error ("note: the keyring is locked, so whether an API key is stored is unknown; "
                  "claude gets a key once it is unlocked");
  else if (!g_str_equal (source, "helper") && !g_str_equal (source, "keyring"))
    ck_cli_error ("note: no API key is stored yet; claude fails until you run: claude-keyring set-api-key");

  return TRUE;
}

/* FALSE (after saying why) when claude would not use the gateway's token:
 * an apiKeyHelper wins over both CLAUDE_CODE_OAUTH_TOKEN and
 * ANTHROPIC_API_KEY, and a credential of someone else's in the same env
 * would compete with ours. */
static gboolean
check_nothing_bypasses (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *helper = NULL;
  g_autofree char *helper_path = NULL;
  g_autofree char *value = NULL;

  if (!ck_claude_settings_get_api_key_helper (path, &helper, &error))
    {
      ck_cli_error ("%s; nothing changed", error->message);
      return FALSE;
    }
  if (helper != NULL || ck_claude_settings_find_api_key_helper (&helper, &helper_path))
    {
      const char *where = helper_path != NULL ? helper_path : path;
      g_autofree char *user_path = ck_claude_settings_get_default_path ();

      ck_cli_error ("%s sets an apiKeyHelper, which claude would use instead of the gateway; %s",
                    where, g_strcmp0 (where, path) == 0 || g_strcmp0 (where, user_path) == 0
                           ? "run: claude-keyring setup-claude --remove, then this again"
                           : "remove apiKeyHelper from that file first");
      return FALSE;
    }

  if (!ck_claude_settings_get_string (path, CK_CLAUDE_SETTINGS_ENV, "ANTHROPIC_AUTH_TOKEN", &value, &error))
    {
      ck_cli_error ("%s; nothing changed", error->message);
      return FALSE;
    }
  if (value != NULL)
    {
      explicit_bzero (value, strlen (value));
      ck_cli_error ("%s sets env.ANTHROPIC_AUTH_TOKEN, which claude would send instead of the gateway's token; "
                    "remove it from that file first", path);
      return FALSE;
    }
  return TRUE;
}

/* The kind of credential the gateway would serve now: what claude must be
 * told it holds. NULL (said) when none is stored. */
static const char *
current_kind (void)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GError) error = NULL;
  const char *source = "";

  reply = ck_cli_call ("GetStatus", NULL, G_VARIANT_TYPE ("(a{sv})"), SETUP_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return NULL;
    }
  status = g_variant_get_child_value (reply, 0);
  g_variant_lookup (status, "source", "&s", &source);
  if (g_str_equal (source, "oauth"))
    return "oauth";
  if (g_str_equal (source, "helper") || g_str_equal (source, "keyring"))
    return "api-key";
  ck_cli_error ("no credentials are stored; run: claude-keyring login (or claude-keyring set-api-key), then this again");
  return NULL;
}

static gboolean
close_session (const char *id)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = ck_cli_call ("CloseGatewaySession", g_variant_new ("(s)", id), NULL, SETUP_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return FALSE;
    }
  return TRUE;
}

/* Writes the entries for @url and @token (of @kind) into @path, and takes
 * out the token variable of the other kind when it was ours. */
static gboolean
write_gateway (const char *path,
               const char *url,
               const char *token,
               gboolean    is_oauth,
               gboolean    drop_other)
{
  g_autoptr(GError) error = NULL;
  CkClaudeSettingsEdit edits[3] = {
    { CK_CLAUDE_SETTINGS_ENV, CK_CLAUDE_SETTINGS_BASE_URL, url },
    { CK_CLAUDE_SETTINGS_ENV, is_oauth ? CK_CLAUDE_SETTINGS_OAUTH_TOKEN : CK_CLAUDE_SETTINGS_API_KEY, token },
    { CK_CLAUDE_SETTINGS_ENV, is_oauth ? CK_CLAUDE_SETTINGS_API_KEY : CK_CLAUDE_SETTINGS_OAUTH_TOKEN, NULL },
  };
  gboolean narrowed = FALSE;
  gboolean changed = FALSE;

  if (!ck_claude_settings_edit (path, edits, drop_other ? 3 : 2, TRUE, &narrowed, &changed, &error))
    {
      ck_cli_error ("%s; nothing changed", error->message);
      return FALSE;
    }
  if (narrowed)
    ck_cli_error ("note: %s now holds a token, so it is readable by you only (mode 0600)", path);
  return TRUE;
}

static int
setup_gateway (const char *path)
{
  g_auto(CkCliGatewaySetup) setup = { 0 };
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) session = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *command = NULL;
  GVariantBuilder options;
  const char *kind;
  const char *url = NULL;
  const char *token = NULL;
  const char *id = NULL;
  gboolean is_oauth;

  if (!check_nothing_bypasses (path))
    return CK_EXIT_FAILURE;

  if (!ck_cli_gateway_setup_read (path, &setup, &error))
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  if (setup.base_url != NULL && !ck_cli_gateway_setup_is_ours (&setup))
    {
      ck_cli_error ("%s sets env.ANTHROPIC_BASE_URL to another server; remove it from that file, "
                    "or make it the gateway's upstream (gsettings set io.github.claudekeyring.ClaudeKeyring api-base-url URL), "
                    "then run this again", path);
      return CK_EXIT_FAILURE;
    }
  if (setup.token != NULL && setup.session_id == NULL && !ck_cli_gateway_setup_is_ours (&setup))
    {
      ck_cli_error ("%s sets env.%s to a credential of its own, which claude would use instead of the gateway; "
                    "remove it from that file first", path,
                    setup.token_is_oauth ? CK_CLAUDE_SETTINGS_OAUTH_TOKEN : CK_CLAUDE_SETTINGS_API_KEY);
      return CK_EXIT_FAILURE;
    }

  if (!(kind = current_kind ()))
    return CK_EXIT_FAILURE;
  is_oauth = g_str_equal (kind, "oauth");

  /* Set up already: keep the session (a second one would only pile up). */
  if (setup.session_id != NULL && setup.session_persistent && setup.token_is_oauth == is_oauth &&
      g_strcmp0 (setup.base_url, setup.gateway_url) == 0)
    {
      write_gateway_socket (setup.base_url);
      ck_cli_error ("%s already sends claude through the gateway (%s); nothing changed", path, setup.base_url);
      return CK_EXIT_OK;
    }

  command = g_strdup_printf ("claude (%s)", path);
  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "persistent", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&options, "{sv}", "kind", g_variant_new_string (kind));
  g_variant_builder_add (&options, "{sv}", "command", g_variant_new_string (command));
  /* As with run: a base URL the caller uses is where the session goes
   * (the agent ignores its own URL here). */
  if (g_getenv ("ANTHROPIC_BASE_URL") != NULL && g_getenv ("ANTHROPIC_BASE_URL")[0] != '\0')
    g_variant_builder_add (&options, "{sv}", "upstream", g_variant_new_string (g_getenv ("ANTHROPIC_BASE_URL")));
  reply = ck_cli_call ("OpenGatewaySession", g_variant_new ("(a{sv})", &options),
                       G_VARIANT_TYPE ("(a{sv})"), SETUP_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }
  session = g_variant_get_child_value (reply, 0);
  if (!g_variant_lookup (session, "url", "&s", &url) ||
      !g_variant_lookup (session, "token", "&s", &token) ||
      !g_variant_lookup (session, "id", "&s", &id))
    {
      ck_cli_error ("the agent returned no gateway session; run 'claude-keyring doctor'");
      return CK_EXIT_FAILURE;
    }

  if (!write_gateway (path, url, token, is_oauth, setup.token != NULL))
    {
      close_session (id);
      return CK_EXIT_FAILURE;
    }

  /* The token it replaced is revoked: nothing should hold it any more. */
  if (setup.session_id != NULL && setup.session_persistent && !g_str_equal (setup.session_id, id))
    close_session (setup.session_id);
  write_gateway_socket (url);

  ck_cli_error ("set env.%s and env.%s in %s: claude now goes through the gateway (%s); "
                "Remote Control is off with a base URL that is not Anthropic's (use claude-keyring run --direct for it)",
                CK_CLAUDE_SETTINGS_BASE_URL,
                is_oauth ? CK_CLAUDE_SETTINGS_OAUTH_TOKEN : CK_CLAUDE_SETTINGS_API_KEY, path, url);
  return CK_EXIT_OK;
}

/* Takes the gateway entries out of @path when they are ours, and revokes
 * their session. */
static gboolean
remove_gateway (const char *path,
                gboolean   *removed)
{
  g_auto(CkCliGatewaySetup) setup = { 0 };
  g_autoptr(GError) error = NULL;
  const CkClaudeSettingsEdit edits[] = {
    { CK_CLAUDE_SETTINGS_ENV, CK_CLAUDE_SETTINGS_BASE_URL, NULL },
    { CK_CLAUDE_SETTINGS_ENV, CK_CLAUDE_SETTINGS_OAUTH_TOKEN, NULL },
    { CK_CLAUDE_SETTINGS_ENV, CK_CLAUDE_SETTINGS_API_KEY, NULL },
  };

  *removed = FALSE;
  if (!ck_cli_gateway_setup_read (path, &setup, &error))
    {
      if (g_error_matches (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT))
        ck_cli_error ("%s; nothing changed", error->message);
      else
        ck_cli_print_error (error);
      return FALSE;
    }
  if (setup.token == NULL && setup.base_url == NULL)
    return TRUE;
  if (!ck_cli_gateway_setup_is_ours (&setup))
    {
      ck_cli_error ("note: env.ANTHROPIC_BASE_URL or the token in %s is not claude-keyring's gateway; left as it is", path);
      return TRUE;
    }

  /* Revoked first: should the file not be writable, the token in it is
   * useless all the same. */
  if (setup.session_id != NULL && !close_session (setup.session_id))
    return FALSE;
  if (!ck_claude_settings_edit (path, edits, G_N_ELEMENTS (edits), FALSE, NULL, NULL, &error))
    {
      ck_cli_error ("%s; the session is revoked, but its entries are still there", error->message);
      return FALSE;
    }
  remove_gateway_socket ();
  ck_cli_error ("removed the gateway's entries from %s and revoked its token", path);
  *removed = TRUE;
  return TRUE;
}

int
ck_cli_setup_claude (int    argc,
                     char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *settings = NULL;
  g_autofree char *path = NULL;
  g_autofree char *program = NULL;
  g_autofree char *command = NULL;
  g_autofree char *previous = NULL;
  gboolean remove = FALSE;
  gboolean gateway = FALSE;
  gboolean changed = FALSE;
  gboolean gateway_removed = FALSE;
  const GOptionEntry entries[] = {
    { "gateway", 0, 0, G_OPTION_ARG_NONE, &gateway,
      "Send plain claude through the agent's gateway (ANTHROPIC_BASE_URL and a gateway token in env)", NULL },
    { "remove", 0, 0, G_OPTION_ARG_NONE, &remove,
      "Remove what setup-claude set (apiKeyHelper, the gateway's entries, revoking their token)", NULL },
    { "settings", 0, 0, G_OPTION_ARG_FILENAME, &settings,
      "Claude Code's settings file (default: ~/.claude/settings.json, or in $CLAUDE_CONFIG_DIR)", "PATH" },
    { NULL }
  };

  context = ck_cli_option_context_new ("setup-claude", NULL,
                                       "Sets apiKeyHelper in Claude Code's settings to 'claude-keyring helper',\n"
                                       "so that claude gets the stored API key on every start. Every other\n"
                                       "setting is kept. For a Claude login (OAuth), use 'claude-keyring run'.\n"
                                       "\n"
                                       "With --gateway, plain claude (OAuth or API key) goes through the agent's\n"
                                       "gateway instead: env.ANTHROPIC_BASE_URL and a gateway token that is\n"
                                       "useless anywhere else. Claude Code turns Remote Control off with a base\n"
                                       "URL that is not Anthropic's. Where a user systemd runs, it also enables\n"
                                       "claude-keyring-gateway.socket, so that claude's first connection starts\n"
                                       "the agent; elsewhere the agent starts with the session.",
                                       entries);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;

  if (argc > 1)
    {
      ck_cli_error ("setup-claude takes no arguments; see 'claude-keyring setup-claude --help'");
      return CK_EXIT_USAGE;
    }

  if (settings != NULL && settings[0] == '\0')
    {
      ck_cli_error ("--settings needs a file name");
      return CK_EXIT_USAGE;
    }

  path = settings != NULL ? g_canonicalize_filename (settings, NULL)
                          : ck_claude_settings_get_default_path ();

  if (remove)
    {
      g_autofree char *what = NULL;

      if (!remove_gateway (path, &gateway_removed))
        return CK_EXIT_FAILURE;
      if (gateway)
        {
          if (!gateway_removed)
            ck_cli_error ("no gateway entries of claude-keyring in %s; nothing changed", path);
          return CK_EXIT_OK;
        }

      if (!ck_claude_settings_set_api_key_helper (path, NULL, &previous, &changed, &error))
        {
          ck_cli_error ("%s; nothing changed", error->message);
          return CK_EXIT_FAILURE;
        }

      if (!changed)
        {
          if (!gateway_removed)
            ck_cli_error ("no apiKeyHelper in %s; nothing changed", path);
          return CK_EXIT_OK;
        }

      what = previous != NULL ? describe_helper (previous) : g_strdup ("a value that was not a string");
      ck_cli_error ("removed apiKeyHelper from %s (it ran %s)", path, what);
      return CK_EXIT_OK;
    }

  if (gateway)
    return setup_gateway (path);

  if (!(program = get_own_path (&error)))
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }
  command = helper_command (program);

  if (!check_api_key_available ())
    return CK_EXIT_FAILURE;

  if (!ck_claude_settings_set_api_key_helper (path, command, &previous, &changed, &error))
    {
      ck_cli_error ("%s; nothing changed", error->message);
      return CK_EXIT_FAILURE;
    }

  if (!changed)
    {
      ck_cli_error ("apiKeyHelper in %s already runs %s; nothing changed", path, command);
      return CK_EXIT_OK;
    }

  if (previous != NULL && !g_str_equal (previous, command))
    {
      g_autofree char *what = describe_helper (previous);

      ck_cli_error ("set apiKeyHelper in %s to: %s (it ran %s before)", path, command, what);
    }
  else
    {
      ck_cli_error ("set apiKeyHelper in %s to: %s", path, command);
    }

  return CK_EXIT_OK;
}
