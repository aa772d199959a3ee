/* test-helper-runner.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ck-error.h"
#include "ck-helper-runner.h"
#include "ck-oauth-tokens.h"

#define TEST_KEY      "test-key-123"
#define PRINT_KEY     "printf 'test-key-123\\n'"

typedef struct
{
  gboolean  done;
  char     *key;
  GError   *error;
  gint64    done_at;
} Result;

static void
result_clear (Result *result)
{
  g_clear_pointer (&result->key, ck_secret_free);
  g_clear_error (&result->error);
  result->done = FALSE;
}

static void
on_key (GObject      *object,
        GAsyncResult *async_result,
        gpointer      user_data)
{
  Result *result = user_data;

  g_assert_false (result->done);
  result->key = ck_helper_runner_get_key_finish (CK_HELPER_RUNNER (object),
                                                 async_result, &result->error);
  g_assert_true ((result->key == NULL) != (result->error == NULL));
  result->done = TRUE;
  result->done_at = g_get_monotonic_time ();
}

static void
wait_for (Result *result)
{
  while (!result->done)
    g_main_context_iteration (NULL, TRUE);
}

static char *
get_key (CkHelperRunner  *runner,
         GError         **error)
{
  Result result = { 0 };

  ck_helper_runner_get_key_async (runner, NULL, on_key, &result);
  /* Never synchronously, even from the cache. */
  g_assert_false (result.done);
  wait_for (&result);

  if (result.error != NULL)
    g_propagate_error (error, result.error);
  return result.key;
}

/* A file in the per-test isolated directories. */
static char *
scratch_file (const char *name)
{
  const char *dir = g_get_user_cache_dir ();

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  return g_build_filename (dir, name, NULL);
}

/* Runs @command, expects CK_ERROR_HELPER_FAILED and returns the message. */
static char *
expect_failure (const char *command,
                guint       timeout_msec)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL;

  ck_helper_runner_set_command (runner, command);
  if (timeout_msec > 0)
    ck_helper_runner_set_timeout (runner, timeout_msec);

  key = get_key (runner, &error);
  g_assert_null (key);
  g_assert_error (error, CK_ERROR, CK_ERROR_HELPER_FAILED);

  /* Nothing the helper printed may end up in a message. */
  g_assert_null (strstr (error->message, TEST_KEY));
  g_assert_null (strstr (error->message, "key-one"));
  g_assert_null (strstr (error->message, "key-two"));
  g_assert_null (strstr (error->message, "aaaaaaaa"));

  return g_strdup (error->message);
}

static guint
count_lines (const char *path)
{
  g_autofree char *contents = NULL;
  guint n = 0;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  for (const char *p = contents; *p; p++)
    n += *p == '\n';
  return n;
}

/* Orphaned grandchildren of the helper are re-parented to us, so that we
 * can reap them and see them gone (PID 1 of a container may never reap).
 */
static void
become_subreaper (void)
{
  g_assert_cmpint (prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), ==, 0);
}

static pid_t
read_pid_file (const char *path)
{
  g_autofree char *contents = NULL;
  gint64 pid;

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  pid = g_ascii_strtoll (contents, NULL, 10);
  g_assert_cmpint (pid, >, 1);
  return (pid_t) pid;
}

/* Waits up to @bound_usec for @pid to be gone for good. */
static gboolean
process_gone_within (pid_t  pid,
                     gint64 bound_usec)
{
  gint64 deadline = g_get_monotonic_time () + bound_usec;

  while (g_get_monotonic_time () < deadline)
    {
      int status;

      if (waitpid (pid, &status, WNOHANG) == pid)
        g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
      if (kill (pid, 0) == -1 && errno == ESRCH)
        return TRUE;
      g_usleep (10 * 1000);
    }

  return FALSE;
}

static gsize
peak_rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  line = strstr (status, "VmHWM:");
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen ("VmHWM:"), NULL, 10);
}

static void
reset_peak_rss (void)
{
  int fd = open ("/proc/self/clear_refs", O_WRONLY);

  /* "5" resets VmHWM to the current RSS (Linux >= 4.0). */
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, "5", 1), ==, 1);
  close (fd);
}

static void
test_parse (void)
{
  static const struct {
    const char *output;
    gsize       length;
    const char *key;        /* or, for a failure, part of the message */
  } cases[] = {
    { "test-key-123", 12, "test-key-123" },
    { "test-key-123\n", 13, "test-key-123" },
    { "  \ttest-key-123 \r\n\n", 19, "test-key-123" },
    { "\n\ntest-key-123\n", 15, "test-key-123" },
    { "", 0, "printed no key" },
    { " \n\t\r\n ", 6, "printed no key" },
    { "key-one\nkey-two\n", 16, "more than one line" },
    { "key-one\n\nkey-two", 16, "more than one line" },
    { "key-one\r\nkey-two", 16, "more than one line" },
    { "key-one key-two", 15, "spaces" },
    { "key-one\tkey-two", 15, "spaces" },
    { "key-one\rkey-two", 15, "control characters" },
    { "key-one\x01key-two", 15, "control characters" },
    { "key-one\0key-two", 15, "control characters" },
    { "key-one\x7fkey-two", 15, "control characters" },
    { "key-one\xc3\xa9key-two", 16, "non-ASCII" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      char *key = (char *) "untouched";
      gboolean ok;

      g_test_message ("case %u", i);
      ok = ck_helper_output_parse (cases[i].output, cases[i].length, &key, &error);

      if (g_str_has_prefix (cases[i].key, "test-key"))
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_cmpstr (key, ==, cases[i].key);
          ck_secret_free (key);
        }
      else
        {
          g_assert_false (ok);
          g_assert_null (key);
          g_assert_error (error, CK_ERROR, CK_ERROR_HELPER_FAILED);
          g_assert_nonnull (strstr (error->message, cases[i].key));
          g_assert_null (strstr (error->message, "key-one"));
          g_assert_null (strstr (error->message, "key-two"));
        }
    }
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  guint *count = user_data;

  (*count)++;
}

static void
test_properties (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autofree char *command = NULL;
  guint ttl, timeout;
  guint notified = 0;

  g_object_get (runner, "command", &command, "ttl", &ttl, "timeout", &timeout, NULL);
  g_assert_cmpstr (command, ==, "");
  g_assert_cmpuint (ttl, ==, 300);
  g_assert_cmpuint (timeout, ==, 10000);
  g_assert_false (ck_helper_runner_is_configured (runner));

  g_signal_connect (runner, "notify", G_CALLBACK (count_notify), &notified);

  g_object_set (runner, "command", "true", "ttl", 5, "timeout", 250, NULL);
  g_assert_cmpuint (notified, ==, 3);
  g_assert_cmpstr (ck_helper_runner_get_command (runner), ==, "true");
  g_assert_cmpuint (ck_helper_runner_get_ttl (runner), ==, 5);
  g_assert_cmpuint (ck_helper_runner_get_timeout (runner), ==, 250);
  g_assert_true (ck_helper_runner_is_configured (runner));

  /* Explicit notify: setting the same values says nothing. */
  g_object_set (runner, "command", "true", "ttl", 5, "timeout", 250, NULL);
  g_assert_cmpuint (notified, ==, 3);

  ck_helper_runner_set_command (runner, NULL);
  g_assert_cmpuint (notified, ==, 4);
  g_assert_cmpstr (ck_helper_runner_get_command (runner), ==, "");
  g_assert_false (ck_helper_runner_is_configured (runner));
}

static void
test_unconfigured (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL;

  key = get_key (runner, &error);
  g_assert_null (key);
  g_assert_error (error, CK_ERROR, CK_ERROR_HELPER_FAILED);
  g_assert_cmpstr (error->message, ==, "No API key helper is configured.");
}

static void
test_success (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL;
  g_autofree char *env_key = NULL;

  ck_helper_runner_set_command (runner, PRINT_KEY);
  key = get_key (runner, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (key, ==, TEST_KEY);

  /* The helper is told it runs under us, so the CLI can refuse to recurse;
   * stdin is /dev/null, not whatever the agent has.
   */
  ck_helper_runner_set_command (runner,
                                "[ \"$(stat -L -c %t:%T /dev/stdin)\" = \"$(stat -L -c %t:%T /dev/null)\" ] || exit 9; "
                                "printf 'env-%s\\n' \"$CLAUDE_KEYRING_HELPER\"");
  env_key = get_key (runner, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (env_key, ==, "env-1");
}

static void
test_exit_status (void)
{
  g_autofree char *message = NULL;
  g_autofree char *with_key = NULL;
  g_autofree char *signaled = NULL;

  message = expect_failure ("exit 3", 0);
  g_assert_cmpstr (message, ==,
                   "The API key helper exited with status 3; "
                   "check the command in the api-key-helper setting.");

  /* A key printed before failing is not used. */
  with_key = expect_failure (PRINT_KEY "; exit 1", 0);
  g_assert_nonnull (strstr (with_key, "status 1"));

  signaled = expect_failure (PRINT_KEY "; kill -TERM $$", 0);
  g_assert_nonnull (strstr (signaled, "signal 15"));
}

static void
test_bad_output (void)
{
  static const struct {
    const char *command;
    const char *message_part;
  } cases[] = {
    { "true", "printed no key" },
    { "printf '  \\n\\t\\n'", "printed no key" },
    { "printf 'key-one\\nkey-two\\n'", "more than one line" },
    { "printf 'test-key-123 key-two\\n'", "spaces" },
    { "printf 'test-key-123\\001\\n'", "control characters" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *message = NULL;

      g_test_message ("command %s", cases[i].command);
      message = expect_failure (cases[i].command, 0);
      g_assert_nonnull (strstr (message, cases[i].message_part));
    }
}

static void
test_stderr_never_logged (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
      g_autoptr(GError) error = NULL;
      g_autofree char *key = NULL;

      g_log_set_debug_enabled (TRUE);

      ck_helper_runner_set_command (runner, "echo stderr-secret >&2; " PRINT_KEY);
      key = get_key (runner, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (key, ==, TEST_KEY);

      ck_helper_runner_set_command (runner, "echo stderr-secret >&2; " PRINT_KEY "; exit 4");
      g_clear_pointer (&key, ck_secret_free);
      key = get_key (runner, &error);
      g_assert_error (error, CK_ERROR, CK_ERROR_HELPER_FAILED);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  /* Debug logging was on and said something, but never the secrets. */
  g_test_trap_assert_stdout ("*API key helper*");
  g_test_trap_assert_stdout_unmatched ("*stderr-secret*");
  g_test_trap_assert_stderr_unmatched ("*stderr-secret*");
  g_test_trap_assert_stdout_unmatched ("*" TEST_KEY "*");
  g_test_trap_assert_stderr_unmatched ("*" TEST_KEY "*");
}

static void
test_timeout (void)
{
  g_autofree char *message = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed;

  message = expect_failure ("sleep 30", 300);
  elapsed = g_get_monotonic_time () - start;

  g_assert_cmpint (elapsed, >=, 250 * 1000);
  g_assert_cmpint (elapsed, <, 1000 * 1000);
  g_assert_nonnull (strstr (message, "did not finish within 300 ms"));
}

static void
test_timeout_kills_group (void)
{
  g_autofree char *pid_file = scratch_file ("grandchild.pid");
  g_autofree char *quoted = g_shell_quote (pid_file);
  g_autofree char *inner = g_strdup_printf ("sleep 30 & echo $! > %s; wait", quoted);
  g_autofree char *quoted_inner = g_shell_quote (inner);
  g_autofree char *command = g_strdup_printf ("sh -c %s", quoted_inner);
  g_autofree char *message = NULL;
  pid_t grandchild;

  become_subreaper ();

  message = expect_failure (command, 300);
  g_assert_nonnull (strstr (message, "did not finish"));

  grandchild = read_pid_file (pid_file);
  g_assert_true (process_gone_within (grandchild, G_USEC_PER_SEC));
}

static void
test_output_cap (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autofree char *message = NULL;
  g_autofree char *forever = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL;
  gsize before, after;
  gint64 start;

  /* Exactly the cap is still a key. */
  ck_helper_runner_set_command (runner, "head -c 65536 /dev/zero | tr '\\0' a");
  key = get_key (runner, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (key), ==, 65536);

  message = expect_failure ("head -c 65537 /dev/zero | tr '\\0' a", 0);
  g_assert_nonnull (strstr (message, "more than 64 KiB"));
  g_clear_pointer (&message, g_free);

  /* 10 MB must not be buffered: the peak RSS stays far below it. */
  reset_peak_rss ();
  before = peak_rss_kib ();
  message = expect_failure ("head -c 10000000 /dev/zero | tr '\\0' a", 0);
  after = peak_rss_kib ();
  g_assert_nonnull (strstr (message, "more than 64 KiB"));
  g_test_message ("peak RSS grew by %" G_GSIZE_FORMAT " KiB", after - before);
  g_assert_cmpuint (after - before, <, 2048);

  /* A helper that never stops printing is stopped at once, not at the
   * timeout.
   */
  start = g_get_monotonic_time ();
  forever = expect_failure ("yes aaaaaaaaaaaaaaaa", 5000);
  g_assert_nonnull (strstr (forever, "more than 64 KiB"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
}

static void
test_cache (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autofree char *counter = scratch_file ("counter");
  g_autofree char *quoted = g_shell_quote (counter);
  g_autofree char *command = g_strdup_printf ("echo run >> %s; " PRINT_KEY, quoted);

  ck_helper_runner_set_command (runner, command);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *key = get_key (runner, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (key, ==, TEST_KEY);
    }
  g_assert_cmpuint (count_lines (counter), ==, 1);

  ck_helper_runner_invalidate (runner);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *key = get_key (runner, &error);

      g_assert_cmpstr (key, ==, TEST_KEY);
    }
  g_assert_cmpuint (count_lines (counter), ==, 2);

  /* ttl 0: no cache at all. */
  ck_helper_runner_set_ttl (runner, 0);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *key = get_key (runner, &error);

      g_assert_cmpstr (key, ==, TEST_KEY);
    }
  g_assert_cmpuint (count_lines (counter), ==, 5);

  /* The key expires after ttl seconds. */
  ck_helper_runner_set_ttl (runner, 1);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *key = get_key (runner, &error);

      g_assert_cmpstr (key, ==, TEST_KEY);
    }
  g_assert_cmpuint (count_lines (counter), ==, 6);
  g_usleep (1100 * 1000);
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *key = get_key (runner, &error);

    g_assert_cmpstr (key, ==, TEST_KEY);
  }
  g_assert_cmpuint (count_lines (counter), ==, 7);
}

static void
test_failure_not_cached (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autofree char *counter = scratch_file ("counter");
  g_autofree char *quoted = g_shell_quote (counter);
  g_autofree char *command = g_strdup_printf ("echo run >> %s; exit 1", quoted);

  ck_helper_runner_set_command (runner, command);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *key = get_key (runner, &error);

      g_assert_error (error, CK_ERROR, CK_ERROR_HELPER_FAILED);
    }
  g_assert_cmpuint (count_lines (counter), ==, 2);
}

static void
test_command_change (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *again = NULL;
  g_autofree char *second = NULL;

  ck_helper_runner_set_command (runner, "printf 'key-one\\n'");
  first = get_key (runner, &error);
  g_assert_cmpstr (first, ==, "key-one");

  /* The same command keeps the cache. */
  ck_helper_runner_set_command (runner, "printf 'key-one\\n'");
  ck_helper_runner_set_command (runner, "printf 'key-one\\n'");
  again = get_key (runner, &error);
  g_assert_cmpstr (again, ==, "key-one");

  ck_helper_runner_set_command (runner, "printf 'key-two\\n'");
  second = get_key (runner, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (second, ==, "key-two");
}

static void
test_command_change_in_flight (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  Result old_result = { 0 };
  Result new_result = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL;

  /* A caller who asked before the change gets the old command's answer,
   * but nobody after it does, not even from the cache.
   */
  ck_helper_runner_set_command (runner, "sleep 0.3; printf 'key-one\\n'");
  ck_helper_runner_get_key_async (runner, NULL, on_key, &old_result);
  ck_helper_runner_set_command (runner, "printf 'key-two\\n'");
  ck_helper_runner_get_key_async (runner, NULL, on_key, &new_result);
  wait_for (&old_result);
  wait_for (&new_result);
  g_assert_cmpstr (old_result.key, ==, "key-one");
  g_assert_cmpstr (new_result.key, ==, "key-two");

  key = get_key (runner, &error);
  g_assert_cmpstr (key, ==, "key-two");

  result_clear (&old_result);
  result_clear (&new_result);
}

static void
test_concurrent (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autofree char *counter = scratch_file ("counter");
  g_autofree char *quoted = g_shell_quote (counter);
  g_autofree char *command = g_strdup_printf ("echo run >> %s; sleep 0.2; " PRINT_KEY, quoted);
  Result results[10] = { { 0 } };

  /* No cache, so only single flight can make them share a run. */
  ck_helper_runner_set_ttl (runner, 0);
  ck_helper_runner_set_command (runner, command);

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    ck_helper_runner_get_key_async (runner, NULL, on_key, &results[i]);
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    wait_for (&results[i]);

  g_assert_cmpuint (count_lines (counter), ==, 1);
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_assert_no_error (results[i].error);
      g_assert_cmpstr (results[i].key, ==, TEST_KEY);
      /* Each caller owns its copy. */
      if (i > 0)
        g_assert_true (results[i].key != results[i - 1].key);
    }

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    result_clear (&results[i]);
}

static void
test_cancel_one (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autofree char *counter = scratch_file ("counter");
  g_autofree char *quoted = g_shell_quote (counter);
  g_autofree char *command = g_strdup_printf ("echo run >> %s; sleep 0.5; " PRINT_KEY, quoted);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Result cancelled = { 0 };
  Result others[3] = { { 0 } };
  gint64 start;

  ck_helper_runner_set_command (runner, command);

  start = g_get_monotonic_time ();
  ck_helper_runner_get_key_async (runner, cancellable, on_key, &cancelled);
  for (guint i = 0; i < G_N_ELEMENTS (others); i++)
    ck_helper_runner_get_key_async (runner, NULL, on_key, &others[i]);

  g_cancellable_cancel (cancellable);
  wait_for (&cancelled);
  g_assert_error (cancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* At once, not when the helper is done. */
  g_assert_cmpint (cancelled.done_at - start, <, 400 * 1000);

  for (guint i = 0; i < G_N_ELEMENTS (others); i++)
    {
      wait_for (&others[i]);
      g_assert_no_error (others[i].error);
      g_assert_cmpstr (others[i].key, ==, TEST_KEY);
      result_clear (&others[i]);
    }
  g_assert_cmpuint (count_lines (counter), ==, 1);

  result_clear (&cancelled);
}

static char *
grandchild_command (const char *pid_file)
{
  g_autofree char *quoted = g_shell_quote (pid_file);

  return g_strdup_printf ("sleep 30 & echo $! > %s; wait", quoted);
}

static void
wait_for_file (const char *path)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (10 * 1000);
    }
  /* Let the shell finish writing it. */
  g_usleep (50 * 1000);
}

static void
test_cancel_all_kills (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autofree char *pid_file = scratch_file ("grandchild.pid");
  g_autofree char *command = grandchild_command (pid_file);
  g_autoptr(GCancellable) first = g_cancellable_new ();
  g_autoptr(GCancellable) second = g_cancellable_new ();
  Result results[2] = { { 0 } };
  pid_t grandchild;

  become_subreaper ();

  ck_helper_runner_set_command (runner, command);
  ck_helper_runner_get_key_async (runner, first, on_key, &results[0]);
  ck_helper_runner_get_key_async (runner, second, on_key, &results[1]);
  wait_for_file (pid_file);
  grandchild = read_pid_file (pid_file);

  /* One caller leaving keeps the helper running for the other... */
  g_cancellable_cancel (first);
  wait_for (&results[0]);
  g_assert_error (results[0].error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (process_gone_within (grandchild, 200 * 1000));

  /* ...the last one leaving stops it. */
  g_cancellable_cancel (second);
  wait_for (&results[1]);
  g_assert_error (results[1].error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (process_gone_within (grandchild, G_USEC_PER_SEC));

  result_clear (&results[0]);
  result_clear (&results[1]);
}

static void
test_dispose_kills (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autofree char *pid_file = scratch_file ("grandchild.pid");
  g_autofree char *command = grandchild_command (pid_file);
  Result result = { 0 };
  pid_t grandchild;

  become_subreaper ();

  ck_helper_runner_set_command (runner, command);
  ck_helper_runner_get_key_async (runner, NULL, on_key, &result);
  wait_for_file (pid_file);
  grandchild = read_pid_file (pid_file);

  g_object_run_dispose (G_OBJECT (runner));
  wait_for (&result);
  g_assert_error (result.error, CK_ERROR, CK_ERROR_HELPER_FAILED);
  g_assert_true (process_gone_within (grandchild, G_USEC_PER_SEC));

  result_clear (&result);
}

/* Runs @command, which prints the key and leaves running, on its stdout,
 * the process whose pid it wrote to @pid_file: the key still counts as
 * soon as the helper exits, not at the timeout, and that process is gone
 * soon after.
 */
static void
expect_key_and_gone (const char *command,
                     const char *pid_file)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL;
  gint64 start;

  become_subreaper ();

  ck_helper_runner_set_command (runner, command);
  ck_helper_runner_set_timeout (runner, 5000);
  start = g_get_monotonic_time ();
  key = get_key (runner, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (key, ==, TEST_KEY);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_assert_true (process_gone_within (read_pid_file (pid_file), G_USEC_PER_SEC));
}

/* A child left in the helper's group. */
static void
test_leftovers_killed (void)
{
  g_autofree char *pid_file = scratch_file ("leftover.pid");
  g_autofree char *quoted = g_shell_quote (pid_file);
  g_autofree char *command = g_strdup_printf ("sleep 30 & echo $! > %s; " PRINT_KEY, quoted);

  expect_key_and_gone (command, pid_file);
}

/* A command that leaves a child, with stdout inherited, outside its
 * process group and session; the child writes its pid to @pid_file and
 * sleeps. The command goes on with @then once the pid is written.
 */
static char *
escaping_command (const char *pid_file,
                  gboolean    double_fork,
                  const char *then)
{
  g_autofree char *quoted_file = g_shell_quote (pid_file);
  g_autofree char *inner = g_strdup_printf ("echo $$ > %s; exec sleep 30", quoted_file);
  g_autofree char *quoted_inner = g_shell_quote (inner);
  g_autofree char *child = g_strdup_printf ("sh -c %s", quoted_inner);
  g_autofree char *daemon = NULL;

  if (double_fork)
    {
      /* The classic daemon: fork, setsid, fork, and the middle one exits. */
      g_autofree char *middle = g_strdup_printf ("%s &", child);
      g_autofree char *quoted_middle = g_shell_quote (middle);

      daemon = g_strdup_printf ("(setsid sh -c %s &)", quoted_middle);
    }
  else
    {
      /* setsid(1) in the background is no group leader: it does not fork. */
      daemon = g_strdup_printf ("setsid %s &", child);
    }

  /* A newline, as the daemon's command may end in '&'. */
  return g_strdup_printf ("%s\nwhile [ ! -s %s ]; do sleep 0.01; done; %s",
                          daemon, quoted_file, then);
}

/* A child that left the helper's group and session. */
static void
expect_escaped_child_gone (gboolean double_fork)
{
  g_autofree char *pid_file = scratch_file ("escaped.pid");
  g_autofree char *command = escaping_command (pid_file, double_fork, PRINT_KEY);

  expect_key_and_gone (command, pid_file);
}

static void
test_setsid_child_killed (void)
{
  expect_escaped_child_gone (FALSE);
}

static void
test_daemon_killed (void)
{
  expect_escaped_child_gone (TRUE);
}

/* The timeout kills what left the group while the helper still runs. */
static void
test_timeout_kills_setsid_child (void)
{
  g_autofree char *pid_file = scratch_file ("escaped.pid");
  g_autofree char *command = escaping_command (pid_file, FALSE, "sleep 30");
  g_autofree char *message = NULL;

  become_subreaper ();

  message = expect_failure (command, 1000);
  g_assert_nonnull (strstr (message, "did not finish"));
  g_assert_true (process_gone_within (read_pid_file (pid_file), G_USEC_PER_SEC));
}

/* Someone outside the helper's tree holds its stdout open (here we do,
 * as a process it handed the descriptor to would): the key counts a
 * short grace period after the helper exits, not at the timeout.
 */
static void
test_stdout_held_elsewhere (void)
{
  g_autoptr(CkHelperRunner) runner = ck_helper_runner_new ();
  g_autofree char *pid_file = scratch_file ("helper.pid");
  g_autofree char *go_file = scratch_file ("go");
  g_autofree char *quoted_pid = g_shell_quote (pid_file);
  g_autofree char *quoted_go = g_shell_quote (go_file);
  g_autofree char *command = NULL;
  g_autofree char *stdout_path = NULL;
  Result result = { 0 };
  gint64 start;
  int held;

  command = g_strdup_printf ("echo $$ > %s; while [ ! -e %s ]; do sleep 0.01; done; " PRINT_KEY,
                             quoted_pid, quoted_go);
  ck_helper_runner_set_command (runner, command);
  ck_helper_runner_set_timeout (runner, 5000);
  ck_helper_runner_get_key_async (runner, NULL, on_key, &result);
  wait_for_file (pid_file);

  stdout_path = g_strdup_printf ("/proc/%d/fd/1", read_pid_file (pid_file));
  held = open (stdout_path, O_WRONLY | O_CLOEXEC);
  g_assert_cmpint (held, >=, 0);
  g_assert_true (g_file_set_contents (go_file, "", 0, NULL));

  start = g_get_monotonic_time ();
  wait_for (&result);
  g_assert_no_error (result.error);
  g_assert_cmpstr (result.key, ==, TEST_KEY);
  g_assert_cmpint (result.done_at - start, <, 2 * G_USEC_PER_SEC);

  close (held);
  result_clear (&result);

  /* The cancelled read lets go of the run when it is dispatched. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/helper-runner/parse", test_parse);
  g_test_add_func ("/helper-runner/properties", test_properties);
  g_test_add_func ("/helper-runner/unconfigured", test_unconfigured);
  g_test_add_func ("/helper-runner/success", test_success);
  g_test_add_func ("/helper-runner/exit-status", test_exit_status);
  g_test_add_func ("/helper-runner/bad-output", test_bad_output);
  g_test_add_func ("/helper-runner/stderr-never-logged", test_stderr_never_logged);
  g_test_add_func ("/helper-runner/timeout", test_timeout);
  g_test_add_func ("/helper-runner/timeout-kills-group", test_timeout_kills_group);
  g_test_add_func ("/helper-runner/output-cap", test_output_cap);
  g_test_add_func ("/helper-runner/cache", test_cache);
  g_test_add_func ("/helper-runner/failure-not-cached", test_failure_not_cached);
  g_test_add_func ("/helper-runner/command-change", test_command_change);
  g_test_add_func ("/helper-runner/command-change-in-flight", test_command_change_in_flight);
  g_test_add_func ("/helper-runner/concurrent", test_concurrent);
  g_test_add_func ("/helper-runner/cancel-one", test_cancel_one);
  g_test_add_func ("/helper-runner/cancel-all-kills", test_cancel_all_kills);
  g_test_add_func ("/helper-runner/dispose-kills", test_dispose_kills);
  g_test_add_func ("/helper-runner/leftovers-killed", test_leftovers_killed);
  g_test_add_func ("/helper-runner/setsid-child-killed", test_setsid_child_killed);
  g_test_add_func ("/helper-runner/daemon-killed", test_daemon_killed);
  g_test_add_func ("/helper-runner/timeout-kills-setsid-child", test_timeout_kills_setsid_child);
  g_test_add_func ("/helper-runner/stdout-held-elsewhere", test_stdout_held_elsewhere);

  return g_test_run ();
}
