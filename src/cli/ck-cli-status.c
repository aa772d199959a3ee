/* ck-cli-status.c: `claude-keyring status [--json]`
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "ck-cli.h"

/* The agent answers from memory; the margin covers its activation. */
#define STATUS_TIMEOUT_MS (15 * 1000)

static const char *
lookup_string (GVariant   *status,
               const char *key)
{
  const char *value = NULL;

  if (!g_variant_lookup (status, key, "&s", &value) || value[0] == '\0')
    return NULL;

  return value;
}

/* Whether claude gets a credential from the agent right now. "refreshing"
 * means tokens exist and a new access token is on its way; during a new
 * login the old credential still serves when there is one. */
static gboolean
is_usable (GVariant *status)
{
  const char *state = lookup_string (status, "state");
  gint64 expires_at = 0;

  if (g_strcmp0 (state, "logged-in") == 0 ||
      g_strcmp0 (state, "refreshing") == 0)
    return TRUE;

  if (g_strcmp0 (state, "login-pending") == 0 &&
      lookup_string (status, "source") != NULL)
    {
      g_variant_lookup (status, "expires-at", "x", &expires_at);
      return expires_at == 0 || expires_at > g_get_real_time () / G_USEC_PER_SEC;
    }

  return FALSE;
}

static const char *
describe_state (const char *state)
{
  static const struct {
    const char *state;
    const char *text;
  } states[] = {
    { "logged-in",     "logged in" },
    { "logged-out",    "logged out; run 'claude-keyring login' or 'claude-keyring set-api-key'" },
    { "expired",       "expired; run 'claude-keyring login'" },
    { "refreshing",    "refreshing the access token" },
    { "login-pending", "a login is in progress" },
    { "locked",        "the keyring is locked; unlock it and try again" },
    { "error",         "error; run 'claude-keyring doctor'" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (states); i++)
    {
      if (g_strcmp0 (states[i].state, state) == 0)
        return states[i].text;
    }

  return state;
}

static const char *
describe_source (const char *source)
{
  if (g_strcmp0 (source, "oauth") == 0)
    return "Claude login (OAuth)";
  if (g_strcmp0 (source, "keyring") == 0)
    return "API key in the keyring";
  if (g_strcmp0 (source, "helper") == 0)
    return "API key helper";
  return source;
}

static char *
format_duration (gint64 seconds)
{
  gint64 days = seconds / 86400;
  gint64 hours = (seconds % 86400) / 3600;
  gint64 minutes = (seconds % 3600) / 60;

  if (days > 0)
    return hours > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT " d %" G_GINT64_FORMAT " h", days, hours)
                     : g_strdup_printf ("%" G_GINT64_FORMAT " d", days);
  if (hours > 0)
    return minutes > 0 ? g_strdup_printf ("%" G_GINT64_FORMAT " h %" G_GINT64_FORMAT " min", hours, minutes)
                       : g_strdup_printf ("%" G_GINT64_FORMAT " h", hours);
  if (minutes > 0)
    return g_strdup_printf ("%" G_GINT64_FORMAT " min", minutes);
  return g_strdup_printf ("%" G_GINT64_FORMAT " s", seconds);
}

static char *
format_last_refresh (GVariant *status)
{
  g_autoptr(GDateTime) when = NULL;
  g_autofree char *date = NULL;
  g_autofree char *ago = NULL;
  const char *refresh_error = lookup_string (status, "last-refresh-error");
  gint64 last_refresh = 0;
  gint64 elapsed;

  if (!g_variant_lookup (status, "last-refresh", "x", &last_refresh) || last_refresh <= 0)
    return NULL;

  when = g_date_time_new_from_unix_local (last_refresh);
  date = when != NULL ? g_date_time_format (when, "%Y-%m-%d %H:%M") : g_strdup ("?");
  elapsed = MAX (0, g_get_real_time () / G_USEC_PER_SEC - last_refresh);
  ago = format_duration (elapsed);

  if (refresh_error != NULL)
    return g_strdup_printf ("%s (%s ago), failed: %s", date, ago, refresh_error);

  return g_strdup_printf ("%s (%s ago)", date, ago);
}

static char *
format_expiry (gint64 expires_at)
{
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_local (expires_at);
  g_autofree char *date = NULL;
  g_autofree char *relative = NULL;
  gint64 left = expires_at - g_get_real_time () / G_USEC_PER_SEC;

  date = when != NULL ? g_date_time_format (when, "%Y-%m-%d %H:%M") : NULL;

  if (left >= 0)
    {
      g_autofree char *duration = format_duration (left);
      relative = g_strdup_printf ("in %s", duration);
    }
  else
    {
      g_autofree char *duration = format_duration (-left);
      relative = g_strdup_printf ("expired %s ago", duration);
    }

  return g_strdup_printf ("%s (%s)", date ? date : "?", relative);
}

static void
print_line (const char *label,
            const char *value)
{
  if (value != NULL)
    printf ("%-14s%s\n", label, value);
}

/* The gateway's sessions (ListGatewaySessions' aa{sv}), or NULL when
 * there are none or the agent does not list them. */
static GVariant *
dup_gateway_sessions (GVariant *status)
{
  g_autoptr(GVariant) reply = NULL;
  guint32 count = 0;

  if (!g_variant_lookup (status, "gateway-sessions", "u", &count) || count == 0)
    return NULL;
  reply = ck_cli_call ("ListGatewaySessions", NULL, G_VARIANT_TYPE ("(aa{sv})"),
                       STATUS_TIMEOUT_MS, NULL);
  return reply != NULL ? g_variant_get_child_value (reply, 0) : NULL;
}

static void
print_gateway (GVariant *status,
               GVariant *sessions)
{
  g_autofree char *line = NULL;
  const char *url = lookup_string (status, "gateway-url");
  guint32 count = 0;
  GVariantIter iter;
  GVariant *session;

  g_variant_lookup (status, "gateway-sessions", "u", &count);
  if (url == NULL && count == 0)
    return;

  line = g_strdup_printf ("%s, %u session%s", url != NULL ? url : "not listening", count,
                          count == 1 ? "" : "s");
  print_line ("Gateway:", line);
  if (sessions == NULL)
    return;

  g_variant_iter_init (&iter, sessions);
  while ((session = g_variant_iter_next_value (&iter)))
    {
      g_autoptr(GVariant) owned = session;
      g_autofree char *opener = NULL;
      g_autofree char *ago = NULL;
      g_autofree char *size = NULL;
      g_autofree char *title = NULL;
      const char *command = lookup_string (session, "command");
      const char *remote = lookup_string (session, "remote");
      guint64 requests = 0, bytes = 0;
      gint64 created = 0;
      guint32 pid = 0;
      gboolean persistent = FALSE;
      gboolean connected = TRUE;

      g_variant_lookup (session, "pid", "u", &pid);
      g_variant_lookup (session, "connected", "b", &connected);
      g_variant_lookup (session, "since", "x", &created);
      g_variant_lookup (session, "requests", "t", &requests);
      g_variant_lookup (session, "bytes", "t", &bytes);
      g_variant_lookup (session, "persistent", "b", &persistent);
      opener = pid != 0 ? g_strdup_printf ("%spid %u", persistent ? "persistent, opened by " : "", pid)
                        : g_strdup (persistent ? "persistent" : "pid unknown");
      ago = format_duration (MAX (0, g_get_real_time () / G_USEC_PER_SEC - created));
      size = g_format_size (bytes);
      /* A remote session (claude-keyring ssh) is for its destination. */
      if (remote != NULL)
        title = g_strdup_printf ("ssh %s%s", remote, connected ? "" : " (not connected)");
      else
        title = g_strdup (command != NULL ? command : "?");
      printf ("%-14s%s (%s, %s ago, %" G_GUINT64_FORMAT " request%s, %s)\n", "",
              title, opener, ago, requests, requests == 1 ? "" : "s", size);
    }
}

/* "personal (default), work, ci-key" when there are several accounts. */
static char *
dup_account_list (GVariant *status)
{
  g_autoptr(GVariant) rows = g_variant_lookup_value (status, "accounts", G_VARIANT_TYPE ("aa{sv}"));
  g_autoptr(GString) list = g_string_new (NULL);

  if (rows == NULL || g_variant_n_children (rows) < 2)
    return NULL;
  for (gsize i = 0; i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);
      const char *name = "";
      gboolean is_default = FALSE;

      g_variant_lookup (row, "name", "&s", &name);
      g_variant_lookup (row, "default", "b", &is_default);
      g_string_append_printf (list, "%s%s%s", i > 0 ? ", " : "", name, is_default ? " (default)" : "");
    }
  return g_string_free (g_steal_pointer (&list), FALSE);
}

static void
print_human (GVariant *status,
             GVariant *sessions)
{
  g_autofree char *accounts = dup_account_list (status);
  g_autofree const char **scopes = NULL;
  g_autofree char *expires = NULL;
  g_autofree char *scope_list = NULL;
  g_autofree char *keyring = NULL;
  g_autofree char *last_refresh = NULL;
  const char *detail = lookup_string (status, "detail");
  gint64 expires_at = 0;

  if (g_variant_lookup (status, "expires-at", "x", &expires_at) && expires_at > 0)
    expires = format_expiry (expires_at);

  if (g_variant_lookup (status, "scopes", "^a&s", &scopes) && scopes[0] != NULL)
    scope_list = g_strjoinv (" ", (char **) scopes);

  if (lookup_string (status, "keyring") != NULL && detail != NULL)
    keyring = g_strdup_printf ("%s (%s)", lookup_string (status, "keyring"), detail);
  else
    keyring = g_strdup (lookup_string (status, "keyring"));

  last_refresh = format_last_refresh (status);

  print_line ("State:", describe_state (lookup_string (status, "state")));
  print_line ("Source:", describe_source (lookup_string (status, "source")));
  print_line ("Keyring:", keyring);
  print_line ("Account:", lookup_string (status, "account"));
  print_line ("Organization:", lookup_string (status, "organization"));
  print_line ("Subscription:", lookup_string (status, "subscription"));
  print_line ("Expires:", expires);
  print_line ("Scopes:", scope_list);
  print_line ("Last refresh:", last_refresh);
  print_line ("Accounts:", accounts);
  print_gateway (status, sessions);

  if (ck_cli_get_env_api_key () != NULL)
    print_line ("Environment:", "ANTHROPIC_API_KEY is set; it overrides everything above for claude");
}

static void
print_json (GVariant *status,
            GVariant *sessions)
{
  g_autoptr(JsonGenerator) generator = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  JsonObject *object;

  root = json_gvariant_serialize (status);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      json_node_unref (root);
      root = json_node_init_object (json_node_alloc (), json_object_new ());
    }

  /* Keep the documented keys present and typed even when the agent leaves
   * one out. */
  object = json_node_get_object (root);
  if (!json_object_has_member (object, "state"))
    json_object_set_string_member (object, "state", "error");
  if (!json_object_has_member (object, "expires-at"))
    json_object_set_int_member (object, "expires-at", 0);
  if (!json_object_has_member (object, "scopes"))
    json_object_set_array_member (object, "scopes", json_array_new ());
  json_object_set_boolean_member (object, "usable", is_usable (status));
  json_object_set_boolean_member (object, "environment-api-key",
                                  ck_cli_get_env_api_key () != NULL);
  /* The gateway's sessions themselves, beside GetStatus' count. */
  if (sessions != NULL)
    json_object_set_member (object, "sessions", json_gvariant_serialize (sessions));
  else
    json_object_set_array_member (object, "sessions", json_array_new ());

  generator = json_generator_new ();
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);

  printf ("%s\n", text);
}

/* status --account (or CLAUDE_KEYRING_ACCOUNT): that account's row. */
static int
print_account (GVariant *status,
               gboolean  json)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) chosen = NULL;
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder options;
  const char *id = NULL;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  ck_cli_add_account_options (&options);
  reply = ck_cli_call ("ResolveAccount", g_variant_new ("(a{sv})", &options),
                       G_VARIANT_TYPE ("(a{sv})"), STATUS_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }
  chosen = g_variant_get_child_value (reply, 0);
  g_variant_lookup (chosen, "id", "&s", &id);
  rows = g_variant_lookup_value (status, "accounts", G_VARIANT_TYPE ("aa{sv}"));
  for (gsize i = 0; id != NULL && rows != NULL && i < g_variant_n_children (rows); i++)
    {
      g_autoptr(GVariant) row = g_variant_get_child_value (rows, i);
      const char *row_id = "", *state = "";
      gint64 expires = 0;

      if (!g_variant_lookup (row, "id", "&s", &row_id) || !g_str_equal (row_id, id))
        continue;
      g_variant_lookup (row, "state", "&s", &state);
      if (json)
        {
          g_autoptr(JsonNode) node = json_gvariant_serialize (row);
          g_autofree char *text = json_to_string (node, TRUE);

          printf ("%s\n", text);
        }
      else
        {
          print_line ("Account:", lookup_string (row, "name"));
          print_line ("Kind:", lookup_string (row, "kind"));
          print_line ("State:", describe_state (state));
          print_line ("Email:", lookup_string (row, "email"));
          print_line ("Organization:", lookup_string (row, "organization"));
          if (g_variant_lookup (row, "expires", "x", &expires) && expires > 0)
            {
              g_autoptr(GDateTime) time = g_date_time_new_from_unix_local (expires);
              g_autofree char *text = g_date_time_format (time, "%Y-%m-%d %H:%M:%S");

              print_line ("Expires:", text);
            }
        }
      return g_str_equal (state, "logged-in") || g_str_equal (state, "stored")
             ? CK_EXIT_OK : CK_EXIT_FAILURE;
    }
  ck_cli_error ("no such account is stored; see 'claude-keyring accounts'");
  return CK_EXIT_FAILURE;
}

int
ck_cli_status (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autoptr(GVariant) sessions = NULL;
  g_autoptr(GError) error = NULL;
  gboolean json = FALSE;
  g_autofree char *account = NULL;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the status as a JSON object", NULL },
    CK_CLI_ACCOUNT_ENTRY (account),
    { NULL }
  };

  context = ck_cli_option_context_new ("status", NULL,
                                       "Shows which credential claude gets, for which account, and until when.\n"
                                       "Exits 0 when usable credentials exist, 1 when not.",
                                       entries);
  if (!ck_cli_parse_options (context, &argc, &argv))
    return CK_EXIT_USAGE;

  if (argc > 1)
    {
      ck_cli_error ("status takes no arguments; see 'claude-keyring status --help'");
      return CK_EXIT_USAGE;
    }

  reply = ck_cli_call ("GetStatus", NULL, G_VARIANT_TYPE ("(a{sv})"),
                       STATUS_TIMEOUT_MS, &error);
  if (reply == NULL)
    {
      ck_cli_print_error (error);
      return CK_EXIT_FAILURE;
    }

  status = g_variant_get_child_value (reply, 0);
  if (account != NULL)
    {
      ck_cli_set_account (account);
      return print_account (status, json);
    }
  sessions = dup_gateway_sessions (status);

  if (json)
    print_json (status, sessions);
  else
    print_human (status, sessions);

  return is_usable (status) ? CK_EXIT_OK : CK_EXIT_FAILURE;
}
