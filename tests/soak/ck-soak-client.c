/* ck-soak-client.c: one of the soak test's clients. Calls GetCredential
 * (kind oauth) in a loop for a while and checks every answer:
 *
 *   * a token is never expired when it arrives (expires-at > now), and is
 *     valid for the min-validity asked, give or take a second of rounding;
 *   * the only error allowed is RefreshFailed, and a client that saw one
 *     gets a token again later (recovery);
 *   * every call is answered within the timeout.
 *
 *   ck-soak-client --seconds S [--min-validity N] [--pause-ms N]
 *
 * Prints one line "ok=N refresh-failed=N other=N expired=N recovered=0|1
 * max-ms=N" and exits 1 if a check failed. GIO only.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <gio/gio.h>

#define BUS_NAME    "io.github.claudekeyring.ClaudeKeyring"
#define OBJECT_PATH "/io/github/claudekeyring/ClaudeKeyring"
#define INTERFACE   "io.github.claudekeyring.Credentials1"
#define REFRESH_FAILED "io.github.claudekeyring.Error.RefreshFailed"

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first_other = NULL;
  int seconds = 30, min_validity = 2, pause_ms = 0;
  guint ok = 0, refresh_failed = 0, other = 0, expired = 0, short_lived = 0;
  gboolean failed_since_ok = FALSE;
  gint64 deadline, max_us = 0;
  GOptionEntry entries[] = {
    { "seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "How long to call", "S" },
    { "min-validity", 0, 0, G_OPTION_ARG_INT, &min_validity, "GetCredential's min-validity", "N" },
    { "pause-ms", 0, 0, G_OPTION_ARG_INT, &pause_ms, "Pause between calls", "MS" },
    { NULL }
  };

  context = g_option_context_new (NULL);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("ck-soak-client: %s\n", error->message);
      return 2;
    }

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL)
    {
      g_printerr ("ck-soak-client: %s\n", error->message);
      return 1;
    }

  deadline = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_autoptr(GVariant) reply = NULL;
      g_autoptr(GVariant) credential = NULL;
      g_autoptr(GError) call_error = NULL;
      GVariantBuilder options;
      gint64 start = g_get_monotonic_time (), expires_at = 0, now_s;
      const char *token = NULL;

      g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&options, "{sv}", "kind", g_variant_new_string ("oauth"));
      g_variant_builder_add (&options, "{sv}", "min-validity",
                             g_variant_new_uint32 ((guint32) min_validity));
      reply = g_dbus_connection_call_sync (bus, BUS_NAME, OBJECT_PATH, INTERFACE, "GetCredential",
                                           g_variant_new ("(a{sv})", &options),
                                           G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE,
                                           20000, NULL, &call_error);
      max_us = MAX (max_us, g_get_monotonic_time () - start);
      now_s = g_get_real_time () / G_USEC_PER_SEC;

      if (reply == NULL)
        {
          g_autofree char *name = g_dbus_error_get_remote_error (call_error);

          if (g_strcmp0 (name, REFRESH_FAILED) == 0)
            {
              refresh_failed++;
              failed_since_ok = TRUE;
            }
          else
            {
              other++;
              if (first_other == NULL)
                first_other = g_strdup (call_error->message);
            }
        }
      else
        {
          credential = g_variant_get_child_value (reply, 0);
          g_variant_lookup (credential, "expires-at", "x", &expires_at);
          g_variant_lookup (credential, "token", "&s", &token);
          if (token == NULL || token[0] == '\0' || expires_at <= now_s)
            expired++;
          else if (expires_at < now_s + min_validity - 1)
            short_lived++;
          else
            {
              ok++;
              failed_since_ok = FALSE;
            }
        }

      if (pause_ms > 0)
        g_usleep ((gulong) pause_ms * 1000);
    }

  g_print ("ok=%u refresh-failed=%u other=%u expired=%u short-lived=%u recovered=%d max-ms=%"
           G_GINT64_FORMAT "\n",
           ok, refresh_failed, other, expired, short_lived, !failed_since_ok, max_us / 1000);
  if (first_other != NULL)
    g_print ("first unexpected error: %s\n", first_other);
  return other == 0 && expired == 0 && short_lived == 0 && ok > 0 && !failed_since_ok ? 0 : 1;
}
