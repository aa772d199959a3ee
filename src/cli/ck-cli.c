/* ck-cli.c: what every claude-keyring command shares
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-cli"

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck-claude-settings.h"
#include "ck-cli.h"
#include "ck-error.h"

#define AGENT_NOT_RUNNING \
  "the agent is not installed or could not start; run claude-keyring-agent and try again"

static GDBusConnection *session_bus;

void
ck_cli_error (const char *format,
              ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  /* One line, whatever the message holds. */
  g_strdelimit (message, "\r\n", ' ');
  g_strchomp (message);

  fflush (stdout);
  fprintf (stderr, "claude-keyring: %s\n", message);
  fflush (stderr);
}

void
ck_cli_print_error (const GError *error)
{
  g_autoptr(GError) copy = NULL;

  g_return_if_fail (error != NULL);

  copy = g_error_copy (error);
  if (g_dbus_error_is_remote_error (copy))
    g_dbus_error_strip_remote_error (copy);

  ck_cli_error ("%s", copy->message);
}

static char *cli_account;

void
ck_cli_set_account (const char *name)
{
  g_free (cli_account);
  cli_account = g_strdup (name);
}

void
ck_cli_add_account_options (GVariantBuilder *options)
{
  const char *name = cli_account != NULL ? cli_account : g_getenv ("CLAUDE_KEYRING_ACCOUNT");
  /* The physical directory (g_get_current_dir () prefers $PWD, which may
   * go through a symlink): `bind` stores rules with symlinks resolved. */
  g_autofree char *cwd = realpath (".", NULL);

  if (name != NULL && name[0] != '\0')
    g_variant_builder_add (options, "{sv}", "account", g_variant_new_string (name));
  if (cwd != NULL && cwd[0] == '/')
    g_variant_builder_add (options, "{sv}", "cwd", g_variant_new_string (cwd));
}

const char *
ck_cli_get_env_api_key (void)
{
  const char *key = g_getenv ("ANTHROPIC_API_KEY");

  return key != NULL && key[0] != '\0' ? key : NULL;
}

gboolean
ck_cli_print_secret (const char  *secret,
                     GError     **error)
{
  gsize len;
  gsize done = 0;
  char *line;
  gboolean ret = TRUE;

  g_return_val_if_fail (secret != NULL, FALSE);

  len = strlen (secret);
  line = g_malloc (len + 1);
  memcpy (line, secret, len);
  line[len++] = '\n';

  /* Whatever stdio already holds goes first; the secret itself bypasses
   * stdio so that no copy stays behind in its buffer. */
  fflush (stdout);

  while (done < len)
    {
      gssize n = write (STDOUT_FILENO, line + done, len - done);

      if (n < 0)
        {
          int errsv = errno;

          if (errsv == EINTR)
            continue;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                       "could not write to standard output: %s",
                       g_strerror (errsv));
          ret = FALSE;
          break;
        }

      done += n;
    }

  explicit_bzero (line, len);
  g_free (line);

  return ret;
}

GOptionContext *
ck_cli_option_context_new (const char         *command,
                           const char         *parameters,
                           const char         *summary,
                           const GOptionEntry *entries)
{
  g_autofree char *prgname = NULL;
  GOptionContext *context;

  g_return_val_if_fail (command != NULL, NULL);

  /* The help's usage line is "PRGNAME [OPTION…] PARAMETERS". */
  prgname = g_strdup_printf ("claude-keyring %s", command);
  g_set_prgname (prgname);

  context = g_option_context_new (parameters);
  if (summary != NULL)
    g_option_context_set_summary (context, summary);
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, NULL);

  return context;
}

gboolean
ck_cli_parse_options (GOptionContext   *context,
                      int              *argc,
                      char           ***argv)
{
  g_autoptr(GError) error = NULL;

  g_return_val_if_fail (context != NULL, FALSE);

  if (!g_option_context_parse (context, argc, argv, &error))
    {
      ck_cli_error ("%s; see '%s --help'", error->message, g_get_prgname ());
      return FALSE;
    }

  return TRUE;
}

GDBusConnection *
ck_cli_get_bus (GError **error)
{
  g_autoptr(GError) local_error = NULL;

  if (session_bus != NULL)
    return session_bus;

  session_bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &local_error);
  if (session_bus == NULL)
    {
      g_set_error (error, local_error->domain, local_error->code,
                   "cannot connect to the session bus (%s); run it inside your desktop or login session",
                   local_error->message);
      return NULL;
    }

  return session_bus;
}

static gboolean
is_activation_error (const GError *error)
{
  g_autofree char *remote = NULL;

  if (error->domain == G_DBUS_ERROR)
    {
      switch (error->code)
        {
        case G_DBUS_ERROR_SERVICE_UNKNOWN:
        case G_DBUS_ERROR_NAME_HAS_NO_OWNER:
        case G_DBUS_ERROR_SPAWN_EXEC_FAILED:
        case G_DBUS_ERROR_SPAWN_FORK_FAILED:
        case G_DBUS_ERROR_SPAWN_CHILD_EXITED:
        case G_DBUS_ERROR_SPAWN_CHILD_SIGNALED:
        case G_DBUS_ERROR_SPAWN_FAILED:
        case G_DBUS_ERROR_SPAWN_SETUP_FAILED:
        case G_DBUS_ERROR_SPAWN_CONFIG_INVALID:
        case G_DBUS_ERROR_SPAWN_SERVICE_INVALID:
        case G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND:
        case G_DBUS_ERROR_SPAWN_PERMISSIONS_INVALID:
        case G_DBUS_ERROR_SPAWN_FILE_INVALID:
        case G_DBUS_ERROR_SPAWN_NO_MEMORY:
          return TRUE;

        default:
          break;
        }
    }

  /* Activation through systemd fails with systemd's own error names. */
  remote = g_dbus_error_get_remote_error (error);
  return remote != NULL &&
         (g_str_has_prefix (remote, "org.freedesktop.systemd1.") ||
          g_str_has_prefix (remote, "org.freedesktop.DBus.Error.Spawn."));
}

/* Turns what the bus or the agent said into one sentence a user can act
 * on. CK_ERROR keeps the agent's own message, which is written for users. */
static GError *
translate_error (const char *method,
                 int         timeout_ms,
                 GError     *error)
{
  if (g_dbus_error_is_remote_error (error))
    g_dbus_error_strip_remote_error (error);

  if (error->domain == CK_ERROR)
    {
      g_autofree char *lower = g_ascii_strdown (error->message, -1);

      /* The agent's message says whether to log in again; make sure the
       * line also says that it was the refresh that failed. */
      if (error->code == CK_ERROR_REFRESH_FAILED && strstr (lower, "refresh") == NULL)
        {
          char *message = g_strdup_printf ("refreshing the token failed: %s", error->message);
          g_free (error->message);
          error->message = message;
        }

      return error;
    }

  if (is_activation_error (error))
    {
      g_free (error->message);
      error->message = g_strdup (AGENT_NOT_RUNNING);
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
           g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_TIMEOUT) ||
           g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_TIMED_OUT))
    {
      g_free (error->message);
      error->message = g_strdup_printf ("the agent did not answer within %d s; try again, or restart it with claude-keyring-agent --replace",
                                        MAX (1, (timeout_ms + 999) / 1000));
    }
  else if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY))
    {
      g_free (error->message);
      error->message = g_strdup ("the agent stopped before it answered; try again (it restarts on demand)");
    }
  else if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
           g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_INTERFACE) ||
           g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT))
    {
      g_free (error->message);
      error->message = g_strdup_printf ("the running agent does not know %s; update claude-keyring and restart the agent with claude-keyring-agent --replace",
                                        method);
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    {
      g_free (error->message);
      error->message = g_strdup ("the connection to the session bus was closed; try again");
    }
  else
    {
      char *message = g_strdup_printf ("calling the agent (%s) failed: %s",
                                       method, error->message);
      g_free (error->message);
      error->message = message;
    }

  return error;
}

GVariant *
ck_cli_call (const char          *method,
             GVariant            *parameters,
             const GVariantType  *reply_type,
             int                  timeout_ms,
             GError             **error)
{
  g_autoptr(GError) local_error = NULL;
  GDBusConnection *bus;
  GVariant *reply;

  g_return_val_if_fail (method != NULL, NULL);

  /* Registers io.github.claudekeyring.Error.* (once; later calls are a
   * lookup) so that remote errors come back as CK_ERROR codes. */
  (void) ck_error_quark ();

  if (!(bus = ck_cli_get_bus (error)))
    {
      if (parameters != NULL)
        g_variant_unref (g_variant_ref_sink (parameters));
      return NULL;
    }

  reply = g_dbus_connection_call_sync (bus,
                                       APP_ID,
                                       OBJECT_PATH,
                                       DBUS_INTERFACE,
                                       method,
                                       parameters,
                                       reply_type,
                                       G_DBUS_CALL_FLAGS_NONE,
                                       timeout_ms,
                                       NULL,
                                       &local_error);
  if (reply == NULL)
    {
      g_propagate_error (error, translate_error (method, timeout_ms,
                                                 g_steal_pointer (&local_error)));
      return NULL;
    }

  return reply;
}

GVariant *
ck_cli_get_credential (guint        min_validity,
                       const char  *kind,
                       int          timeout_ms,
                       GError     **error)
{
  g_autoptr(GVariant) reply = NULL;
  GVariantBuilder options;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "min-validity",
                         g_variant_new_uint32 (min_validity));
  if (kind != NULL)
    g_variant_builder_add (&options, "{sv}", "kind",
                           g_variant_new_string (kind));
  ck_cli_add_account_options (&options);

  reply = ck_cli_call ("GetCredential",
                       g_variant_new ("(a{sv})", &options),
                       G_VARIANT_TYPE ("(a{sv})"),
                       timeout_ms,
                       error);
  if (reply == NULL)
    return NULL;

  return g_variant_get_child_value (reply, 0);
}

/* Far beyond any real token, and well inside a pipe's buffer, so that
 * writing one to a pipe can never block. */
#define MAX_TOKEN_LENGTH 16384

gboolean
ck_cli_lookup_token (GVariant    *reply,
                     const char **token,
                     gboolean    *is_oauth)
{
  const char *kind = NULL;

  if (!g_variant_lookup (reply, "token", "&s", token) || (*token)[0] == '\0' ||
      !g_variant_lookup (reply, "kind", "&s", &kind))
    {
      ck_cli_error ("the agent returned no token; run 'claude-keyring status' to see why");
      return FALSE;
    }

  if (strlen (*token) > MAX_TOKEN_LENGTH || strpbrk (*token, "\r\n") != NULL)
    {
      ck_cli_error ("the agent returned a token claude could not use; run 'claude-keyring doctor'");
      return FALSE;
    }

  *is_oauth = g_str_equal (kind, "oauth");
  if (!*is_oauth && !g_str_equal (kind, "api-key"))
    {
      ck_cli_error ("the agent returned a credential of unknown kind; update claude-keyring");
      return FALSE;
    }
  return TRUE;
}

void
ck_cli_print_credential_error (const GError *error)
{
  if (g_error_matches (error, CK_ERROR, CK_ERROR_NOT_LOGGED_IN))
    ck_cli_error ("no credentials are stored; run: claude-keyring login (or claude-keyring set-api-key)");
  else
    ck_cli_print_error (error);
}

char *
ck_cli_display_command (char **command)
{
  GString *display = g_string_new (NULL);

  for (guint i = 0; command[i] != NULL; i++)
    {
      g_autofree char *quoted = NULL;
      const char *word = command[i];

      if (word[0] == '\0' || word[strspn (word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                 "0123456789-_./:=@%+,")] != '\0')
        word = quoted = g_shell_quote (word);
      if (i > 0)
        g_string_append_c (display, ' ');
      g_string_append (display, word);
    }
  return g_string_free (display, FALSE);
}

/* The gateway entries in Claude Code's settings */

void
ck_cli_gateway_setup_clear (CkCliGatewaySetup *setup)
{
  g_clear_pointer (&setup->base_url, g_free);
  if (setup->token != NULL)
    explicit_bzero (setup->token, strlen (setup->token));
  g_clear_pointer (&setup->token, g_free);
  g_clear_pointer (&setup->session_id, g_free);
  g_clear_pointer (&setup->gateway_url, g_free);
  setup->token_is_oauth = FALSE;
  setup->session_persistent = FALSE;
}

gboolean
ck_cli_gateway_setup_read (const char         *path,
                           CkCliGatewaySetup  *setup,
                           GError            **error)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) sessions = NULL;
  g_autoptr(GVariant) status = NULL;
  g_autofree char *digest = NULL;
  GVariantIter iter;
  GVariant *session;

  memset (setup, 0, sizeof *setup);

  if (!ck_claude_settings_get_string (path, CK_CLAUDE_SETTINGS_ENV, CK_CLAUDE_SETTINGS_BASE_URL,
                                      &setup->base_url, error) ||
      !ck_claude_settings_get_string (path, CK_CLAUDE_SETTINGS_ENV, CK_CLAUDE_SETTINGS_OAUTH_TOKEN,
                                      &setup->token, error))
    return FALSE;
  setup->token_is_oauth = setup->token != NULL;
  if (setup->token == NULL &&
      !ck_claude_settings_get_string (path, CK_CLAUDE_SETTINGS_ENV, CK_CLAUDE_SETTINGS_API_KEY,
                                      &setup->token, error))
    return FALSE;

  if (setup->token == NULL && setup->base_url == NULL)
    return TRUE;

  if (!(reply = ck_cli_call ("GetStatus", NULL, G_VARIANT_TYPE ("(a{sv})"), 15000, error)))
    return FALSE;
  status = g_variant_get_child_value (reply, 0);
  g_variant_lookup (status, "gateway-url", "s", &setup->gateway_url);
  g_clear_pointer (&reply, g_variant_unref);

  if (setup->token == NULL)
    return TRUE;

  if (!(reply = ck_cli_call ("ListGatewaySessions", NULL, G_VARIANT_TYPE ("(aa{sv})"), 15000, error)))
    return FALSE;
  digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, setup->token, -1);
  sessions = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, sessions);
  while ((session = g_variant_iter_next_value (&iter)))
    {
      g_autoptr(GVariant) owned = session;
      const char *hash = NULL;

      if (g_variant_lookup (session, "token-sha256", "&s", &hash) && g_str_equal (hash, digest))
        {
          g_variant_lookup (session, "id", "s", &setup->session_id);
          g_variant_lookup (session, "persistent", "b", &setup->session_persistent);
          break;
        }
    }
  explicit_bzero (digest, strlen (digest));
  return TRUE;
}

gboolean
ck_cli_gateway_setup_is_ours (const CkCliGatewaySetup *setup)
{
  return setup->session_id != NULL ||
         (setup->base_url != NULL && setup->gateway_url != NULL &&
          g_str_equal (setup->base_url, setup->gateway_url));
}
