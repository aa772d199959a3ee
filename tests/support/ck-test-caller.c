/* ck-test-caller.c: one long-lived client connection, driven from stdin
 *
 * The CLI opens a new connection per run; claude-keyring's agent also
 * answers clients that keep theirs (tests/service/test-fast-path.sh,
 * test-access.sh). Each line read is a GetCredential call on the same
 * connection:
 *
 *   [KIND [MIN-VALIDITY]]      KIND: any, api-key or oauth
 *
 * and each answer is one line:
 *
 *   ok KIND SOURCE EXPIRES-AT TOKEN-HASH
 *   error D-BUS-ERROR-NAME
 *
 * TOKEN-HASH is the first 12 hex digits of the token's SHA-256, so that a
 * test can tell tokens apart without one ever reaching its log.
 *
 *   ck-test-caller --watch-status MS
 *
 * instead listens to the interface's signals, calls GetStatus once on the
 * same connection ("status STATE" or "error D-BUS-ERROR-NAME"), then
 * counts the signals that reach it in the next MS milliseconds:
 * "login-finished M" (those of them that were LoginFinished) and
 * "signals N" (tests/service/test-access.sh, test-oauth-loopback.sh);
 * SIGTERM ends the wait early.
 *
 *   ck-test-caller --open-gateway OPTIONS TOKEN-FILE [--orphan]
 *
 * calls OpenGatewaySession with OPTIONS (an a{sv} in GVariant text),
 * writes the session's token to TOKEN-FILE (mode 0600, never to stdout)
 * and prints "session ID KIND URL PERSISTENT" (or "error NAME"), for a
 * remote session then "socket PATH REMOTE-PORT", and keeps its
 * connection until stdin closes. With --orphan the connection
 * is kept by a child ("child PID") while this process exits at once: the
 * session must end with the process that opened it, not only with its
 * connection (tests/service/test-gateway-sessions.sh).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

static void
answer (GDBusConnection *bus,
        const char      *kind,
        guint            min_validity)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) dict = NULL;
  g_autofree char *hash = NULL;
  GVariantBuilder options;
  const char *token = "", *got_kind = "?", *source = "?";
  gint64 expires_at = 0;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (kind != NULL && !g_str_equal (kind, "any"))
    g_variant_builder_add (&options, "{sv}", "kind", g_variant_new_string (kind));
  if (min_validity > 0)
    g_variant_builder_add (&options, "{sv}", "min-validity", g_variant_new_uint32 (min_validity));

  reply = g_dbus_connection_call_sync (bus, "io.github.claudekeyring.ClaudeKeyring",
                                       "/io/github/claudekeyring/ClaudeKeyring",
                                       "io.github.claudekeyring.Credentials1", "GetCredential",
                                       g_variant_new ("(a{sv})", &options),
                                       G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE,
                                       30000, NULL, &error);
  if (reply == NULL)
    {
      g_autofree char *name = g_dbus_error_get_remote_error (error);

      printf ("error %s\n", name != NULL ? name : "local");
      return;
    }

  g_variant_get (reply, "(@a{sv})", &dict);
  g_variant_lookup (dict, "token", "&s", &token);
  g_variant_lookup (dict, "kind", "&s", &got_kind);
  g_variant_lookup (dict, "source", "&s", &source);
  g_variant_lookup (dict, "expires-at", "x", &expires_at);
  hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, token, -1);
  hash[12] = '\0';
  printf ("ok %s %s %" G_GINT64_FORMAT " %s\n", got_kind, source, expires_at, hash);
}

static void
on_signal (GDBusConnection *connection,
                   const char      *sender,
                   const char      *path,
                   const char      *interface,
                   const char      *signal,
                   GVariant        *parameters,
                   gpointer         user_data)
{
  guint *counts = user_data;

  counts[0]++;
  if (g_str_equal (signal, "LoginFinished"))
    counts[1]++;
}

static gboolean
on_watch_done (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

static int
watch_status (GDBusConnection *bus,
              guint            ms)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  guint counts[2] = { 0, 0 };

  g_dbus_connection_signal_subscribe (bus, NULL, "io.github.claudekeyring.Credentials1",
                                      NULL, "/io/github/claudekeyring/ClaudeKeyring",
                                      NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                      on_signal, counts, NULL);
  reply = g_dbus_connection_call_sync (bus, "io.github.claudekeyring.ClaudeKeyring",
                                       "/io/github/claudekeyring/ClaudeKeyring",
                                       "io.github.claudekeyring.Credentials1", "GetStatus",
                                       NULL, G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE,
                                       30000, NULL, &error);
  if (reply == NULL)
    {
      g_autofree char *name = g_dbus_error_get_remote_error (error);

      printf ("error %s\n", name != NULL ? name : "local");
    }
  else
    {
      const char *state = "?";
      g_autoptr(GVariant) dict = NULL;

      g_variant_get (reply, "(@a{sv})", &dict);
      g_variant_lookup (dict, "state", "&s", &state);
      printf ("status %s\n", state);
    }

  g_timeout_add (ms, on_watch_done, loop);
  g_unix_signal_add (SIGTERM, on_watch_done, loop);
  g_main_loop_run (loop);
  printf ("login-finished %u\nsignals %u\n", counts[1], counts[0]);
  return 0;
}

static int
open_gateway (GDBusConnection *bus,
              const char      *options_text,
              const char      *token_file,
              gboolean         orphan)
{
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(GError) error = NULL;
  const char *token = "", *id = "?", *kind = "?", *url = "?", *socket = NULL;
  gboolean persistent = FALSE;
  guint32 remote_port = 0;
  char buffer[64];
  pid_t child;

  options = g_variant_parse (G_VARIANT_TYPE_VARDICT, options_text, NULL, NULL, &error);
  if (options == NULL)
    {
      fprintf (stderr, "ck-test-caller: bad options: %s\n", error->message);
      return 2;
    }
  reply = g_dbus_connection_call_sync (bus, "io.github.claudekeyring.ClaudeKeyring",
                                       "/io/github/claudekeyring/ClaudeKeyring",
                                       "io.github.claudekeyring.Credentials1", "OpenGatewaySession",
                                       g_variant_new_tuple (&options, 1),
                                       G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE,
                                       30000, NULL, &error);
  if (reply == NULL)
    {
      g_autofree char *name = g_dbus_error_get_remote_error (error);

      printf ("error %s\n", name != NULL ? name : "local");
      return 1;
    }

  g_variant_get (reply, "(@a{sv})", &dict);
  g_variant_lookup (dict, "token", "&s", &token);
  g_variant_lookup (dict, "id", "&s", &id);
  g_variant_lookup (dict, "kind", "&s", &kind);
  g_variant_lookup (dict, "url", "&s", &url);
  g_variant_lookup (dict, "persistent", "b", &persistent);
  g_variant_lookup (dict, "socket", "&s", &socket);
  g_variant_lookup (dict, "remote-port", "u", &remote_port);
  if (!g_file_set_contents_full (token_file, token, -1, G_FILE_SET_CONTENTS_NONE, 0600, &error))
    {
      fprintf (stderr, "ck-test-caller: %s\n", error->message);
      return 1;
    }
  printf ("session %s %s %s %s\n", id, kind, url, persistent ? "true" : "false");
  if (socket != NULL)
    printf ("socket %s %u\n", socket, remote_port);

  if (orphan)
    {
      child = fork ();
      if (child < 0)
        return 1;
      if (child > 0)
        {
          printf ("child %d\n", (int) child);
          fflush (stdout);
          _exit (0);
        }
      /* The child only holds the connection's socket, inherited. */
      fclose (stdout);
    }
  while (read (STDIN_FILENO, buffer, sizeof buffer) > 0)
    ;
  if (orphan)
    _exit (0);
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;
  char line[256];

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    {
      fprintf (stderr, "ck-test-caller: no session bus: %s\n", error->message);
      return 1;
    }

  setvbuf (stdout, NULL, _IOLBF, 0);
  if (argc == 3 && g_str_equal (argv[1], "--watch-status"))
    return watch_status (bus, (guint) g_ascii_strtoull (argv[2], NULL, 10));
  if ((argc == 4 || argc == 5) && g_str_equal (argv[1], "--open-gateway"))
    return open_gateway (bus, argv[2], argv[3], argc == 5 && g_str_equal (argv[4], "--orphan"));

  printf ("ready %s\n", g_dbus_connection_get_unique_name (bus));

  while (fgets (line, sizeof line, stdin) != NULL)
    {
      g_auto(GStrv) words = g_strsplit_set (g_strstrip (line), " \t", 3);
      const char *kind = words[0] != NULL && words[0][0] != '\0' ? words[0] : NULL;
      guint64 min_validity = 0;

      if (kind != NULL && words[1] != NULL)
        min_validity = g_ascii_strtoull (words[1], NULL, 10);
      answer (bus, kind, (guint) MIN (min_validity, G_MAXUINT32));
    }
  return 0;
}
