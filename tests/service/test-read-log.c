/* test-read-log.c: CkReadLog, the record of credential reads, in process
 *
 * The service records from the main loop and CkFastPath from the GDBus
 * worker thread while the status window reads: the log must stay whole
 * under both.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "ck-read-log.h"

#define N_THREAD_READS 20000

static void
record (CkReadLog  *log,
        guint32     pid,
        const char *exe,
        const char *source)
{
  CkCaller caller = { .pid = pid, .exe = (char *) exe };

  ck_read_log_record (log, &caller, source, FALSE);
}

static void
test_record (void)
{
  g_autoptr(CkReadLog) log = ck_read_log_new ();
  g_autoptr(GPtrArray) reads = NULL;
  gint64 before = g_get_real_time ();
  const CkRead *read;

  reads = ck_read_log_dup_reads (log);
  g_assert_cmpuint (reads->len, ==, 0);
  g_assert_cmpuint (ck_read_log_get_count (log), ==, 0);
  g_clear_pointer (&reads, g_ptr_array_unref);

  record (log, 100, "/usr/bin/first", "keyring");
  record (log, 200, NULL, "oauth");

  g_assert_cmpuint (ck_read_log_get_count (log), ==, 2);
  reads = ck_read_log_dup_reads (log);
  g_assert_cmpuint (reads->len, ==, 2);

  /* Newest first. */
  read = g_ptr_array_index (reads, 0);
  g_assert_cmpuint (read->pid, ==, 200);
  g_assert_null (read->exe);
  g_assert_cmpstr (read->source, ==, "oauth");
  read = g_ptr_array_index (reads, 1);
  g_assert_cmpuint (read->pid, ==, 100);
  g_assert_cmpstr (read->exe, ==, "/usr/bin/first");
  g_assert_cmpstr (read->source, ==, "keyring");
  g_assert_cmpint (read->time, >=, before);
  g_assert_cmpint (read->time, <=, g_get_real_time ());
}

/* The caller owns its copy: later reads neither change nor free it. */
static void
test_copy (void)
{
  g_autoptr(CkReadLog) log = ck_read_log_new ();
  g_autoptr(GPtrArray) reads = NULL;
  const CkRead *read;

  record (log, 1, "/usr/bin/kept", "keyring");
  reads = ck_read_log_dup_reads (log);
  for (guint i = 0; i < CK_READ_LOG_MAX_READS + 1; i++)
    record (log, 2, "/usr/bin/later", "oauth");
  g_clear_object (&log);

  g_assert_cmpuint (reads->len, ==, 1);
  read = g_ptr_array_index (reads, 0);
  g_assert_cmpuint (read->pid, ==, 1);
  g_assert_cmpstr (read->exe, ==, "/usr/bin/kept");
  g_assert_cmpstr (read->source, ==, "keyring");
}

/* Only the most recent reads are kept; the count covers them all. */
static void
test_bounded (void)
{
  g_autoptr(CkReadLog) log = ck_read_log_new ();
  g_autoptr(GPtrArray) reads = NULL;
  guint total = CK_READ_LOG_MAX_READS + 10;

  for (guint i = 0; i < total; i++)
    record (log, i, "/usr/bin/many", "keyring");

  g_assert_cmpuint (ck_read_log_get_count (log), ==, total);
  reads = ck_read_log_dup_reads (log);
  g_assert_cmpuint (reads->len, ==, CK_READ_LOG_MAX_READS);
  for (guint i = 0; i < reads->len; i++)
    g_assert_cmpuint (((const CkRead *) g_ptr_array_index (reads, i))->pid, ==, total - 1 - i);
}

/* The debug line is the read's trace in the agent's log, which
 * tests/service/test-fast-path.sh and test-access.sh look for. */
static void
test_debug_line (void)
{
  g_autoptr(CkReadLog) log = ck_read_log_new ();
  CkCaller caller = { .pid = 4242, .exe = (char *) "/usr/bin/traced" };

  g_test_expect_message ("ck-read-log", G_LOG_LEVEL_DEBUG,
                         "Credential (keyring) read by pid 4242 (/usr/bin/traced)");
  ck_read_log_record (log, &caller, "keyring", FALSE);
  g_test_assert_expected_messages ();

  g_test_expect_message ("ck-read-log", G_LOG_LEVEL_DEBUG,
                         "Credential (oauth) read by pid 4242 (/usr/bin/traced), "
                         "answered in the bus thread");
  ck_read_log_record (log, &caller, "oauth", TRUE);
  g_test_assert_expected_messages ();
}

static gpointer
write_reads (gpointer data)
{
  CkReadLog *log = data;
  CkCaller caller = { .pid = 1, .exe = (char *) "/usr/bin/concurrent" };

  for (guint i = 0; i < N_THREAD_READS; i++)
    ck_read_log_record (log, &caller, "oauth", TRUE);
  return NULL;
}

/* As in the agent: one thread records (the fast path in GDBus's worker
 * thread) while the main thread records too (the service) and reads the
 * copy and the count (the status window). */
static void
test_threads (void)
{
  g_autoptr(CkReadLog) log = ck_read_log_new ();
  g_autoptr(GPtrArray) reads = NULL;
  CkCaller caller = { .pid = 2, .exe = (char *) "/usr/bin/concurrent" };
  GThread *thread;
  guint last_count = 0;

  thread = g_thread_new ("fake-gdbus-worker", write_reads, log);
  for (guint i = 0; i < N_THREAD_READS; i++)
    {
      g_autoptr(GPtrArray) seen = NULL;
      guint count;

      ck_read_log_record (log, &caller, "keyring", FALSE);
      count = ck_read_log_get_count (log);
      g_assert_cmpuint (count, >, last_count);
      last_count = count;

      seen = ck_read_log_dup_reads (log);
      g_assert_cmpuint (seen->len, >=, 1);
      g_assert_cmpuint (seen->len, <=, CK_READ_LOG_MAX_READS);
      for (guint k = 0; k < seen->len; k++)
        {
          const CkRead *read = g_ptr_array_index (seen, k);

          g_assert_cmpstr (read->exe, ==, "/usr/bin/concurrent");
          g_assert_cmpstr (read->source, ==, read->pid == 1 ? "oauth" : "keyring");
        }
    }
  g_thread_join (thread);

  g_assert_cmpuint (ck_read_log_get_count (log), ==, 2 * N_THREAD_READS);
  reads = ck_read_log_dup_reads (log);
  g_assert_cmpuint (reads->len, ==, CK_READ_LOG_MAX_READS);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/read-log/record", test_record);
  g_test_add_func ("/read-log/copy", test_copy);
  g_test_add_func ("/read-log/bounded", test_bounded);
  g_test_add_func ("/read-log/debug-line", test_debug_line);
  g_test_add_func ("/read-log/threads", test_threads);
  return g_test_run ();
}
