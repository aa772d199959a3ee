/* main.c: claude-keyring-agent (placeholder until the agent lands)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <gio/gio.h>

int
main (int argc, char *argv[])
{
  return 0;
}
