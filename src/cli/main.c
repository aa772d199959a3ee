/* main.c: claude-keyring (placeholder until the CLI lands)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

int
main (int argc, char *argv[])
{
  return 0;
}
