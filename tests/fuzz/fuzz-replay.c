/* fuzz-replay.c: main() for a fuzz target built without libFuzzer. Runs
 * LLVMFuzzerTestOneInput() on every file named, and on every file in every
 * directory named, so a target's corpus becomes a regression test:
 *
 *   fuzz-TARGET-replay tests/fuzz/corpus/TARGET [FILE...]
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <stdio.h>

#include "fuzz-common.h"

static int
run_file (const char *path)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  gsize length;
  char *exact;

  if (!g_file_get_contents (path, &contents, &length, &error))
    {
      fprintf (stderr, "fuzz-replay: %s\n", error->message);
      return 1;
    }
  /* Named first, so a crash says which input did it. */
  fprintf (stderr, "fuzz-replay: %s\n", path);
  /* Like libFuzzer: exactly @length bytes, no terminator. */
  exact = fuzz_copy_exact ((const uint8_t *) contents, length);
  LLVMFuzzerTestOneInput ((const uint8_t *) exact, length);
  free (exact);
  return 0;
}

int
main (int    argc,
      char **argv)
{
  guint count = 0;
  int status = 0;

  if (argc < 2)
    {
      fprintf (stderr, "usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
      return 2;
    }

  for (int i = 1; i < argc; i++)
    {
      g_autoptr(GDir) dir = NULL;
      const char *name;

      if (!g_file_test (argv[i], G_FILE_TEST_IS_DIR))
        {
          status |= run_file (argv[i]);
          count++;
          continue;
        }

      dir = g_dir_open (argv[i], 0, NULL);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename (argv[i], name, NULL);

          if (name[0] == '.' || !g_file_test (path, G_FILE_TEST_IS_REGULAR))
            continue;
          status |= run_file (path);
          count++;
        }
    }

  printf ("%u input(s) replayed\n", count);
  return count == 0 ? 1 : status;
}
