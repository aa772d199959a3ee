/* main.c: claude-keyring-agent
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <locale.h>
#include <string.h>
#include <sys/resource.h>

#include <glib/gi18n.h>

#include "ck-agent.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(CkAgent) agent = NULL;

  /* Every client of the gateway holds a descriptor here: use all the
   * descriptors the session allows, as systemd advises services to do,
   * so that running out takes far more than a burst of clients (the
   * gateway caps them, and tries a failed accept again shortly). */
  {
    struct rlimit limit;

    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
      {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
      }
  }

  setlocale (LC_ALL, "");
  /* CK_LOCALEDIR lets the build tree's tests use its own translations. */
  bindtextdomain (GETTEXT_PACKAGE,
                  g_getenv ("CK_LOCALEDIR") != NULL ? g_getenv ("CK_LOCALEDIR") : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  agent = ck_agent_new ();

  /* A session manager's autostart (DESKTOP_AUTOSTART_ID, which GTK takes
   * out of the environment later) is a start for the session even from a
   * copy of an older autostart entry without --gapplication-service, as
   * session settings tools keep in ~/.config/autostart. */
  if (g_getenv ("DESKTOP_AUTOSTART_ID") != NULL &&
      !g_strv_contains ((const char * const *) argv, "--gapplication-service"))
    {
      g_autofree char **service_argv = g_new0 (char *, argc + 2);

      memcpy (service_argv, argv, argc * sizeof (char *));
      service_argv[argc] = (char *) "--gapplication-service";
      return g_application_run (G_APPLICATION (agent), argc + 1, service_argv);
    }

  return g_application_run (G_APPLICATION (agent), argc, argv);
}
