/* ck-bench.c: claude-keyring benchmarks, each against a baseline measured
 * in the same run (absolute times on a shared machine mean little).
 *
 *   ck-bench latency    [--count N] [--kind api-key|oauth]
 *       GetCredential vs org.freedesktop.DBus.Peer.Ping to the agent, both
 *       on the same connection, interleaved call by call: p50 and p99.
 *   ck-bench throughput [--clients N] [--seconds S] [--kind K]
 *       N client processes calling as fast as they can; GetCredential
 *       calls per second vs Ping calls per second under the same load.
 *   ck-bench spawn      [--runs N] BASELINE CMD...
 *       whole-process medians of shell-split commands, run round-robin,
 *       each against the first.
 *   ck-bench herd       [--clients N] [--kind K]
 *       N processes released at once, each connecting and asking for a
 *       credential; wall time until the last has its answer, against one
 *       process doing the same. Checks every answer is unexpired.
 *
 * Every result is printed as a human line and as "RESULT key value" for
 * the driver script. GIO only.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>

#include "ck-bench-common.h"

#define BUS_NAME    "io.github.claudekeyring.ClaudeKeyring"
#define OBJECT_PATH "/io/github/claudekeyring/ClaudeKeyring"
#define INTERFACE   "io.github.claudekeyring.Credentials1"

extern char **environ;

static int agent_pid, bus_pid;
static char *only;  /* latency: "ping" or "get" alone, for profiling */

static GVariant *
credential_options (const char *kind,
                    guint       min_validity)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  if (kind != NULL && kind[0] != '\0')
    g_variant_builder_add (&builder, "{sv}", "kind", g_variant_new_string (kind));
  if (min_validity > 0)
    g_variant_builder_add (&builder, "{sv}", "min-validity", g_variant_new_uint32 (min_validity));
  return g_variant_new ("(@a{sv})", g_variant_builder_end (&builder));
}

static GVariant *
call_get_credential (GDBusConnection  *bus,
                     const char       *kind,
                     GError          **error)
{
  return g_dbus_connection_call_sync (bus, BUS_NAME, OBJECT_PATH, INTERFACE, "GetCredential",
                                      credential_options (kind, 0),
                                      G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE,
                                      30000, NULL, error);
}

static GVariant *
call_ping (GDBusConnection  *bus,
           GError          **error)
{
  return g_dbus_connection_call_sync (bus, BUS_NAME, OBJECT_PATH, "org.freedesktop.DBus.Peer",
                                      "Ping", NULL, NULL, G_DBUS_CALL_FLAGS_NONE,
                                      30000, NULL, error);
}

/* One call of the measured kind; FALSE with a message on failure. */
static gboolean
one_call (GDBusConnection *bus,
          gboolean         ping,
          const char      *kind)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = ping ? call_ping (bus, &error) : call_get_credential (bus, kind, &error);

  if (reply == NULL)
    {
      g_printerr ("ck-bench: %s failed: %s\n", ping ? "Ping" : "GetCredential", error->message);
      return FALSE;
    }
  return TRUE;
}

/* latency */

static int
run_latency (guint       count,
             const char *kind)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_autofree gint64 *ping = g_new (gint64, count);
  g_autofree gint64 *get = g_new (gint64, count);
  double ping_p50, ping_p99, get_p50, get_p99, r50, r99;
  const char *label = kind != NULL ? kind : "any";

  if (bus == NULL)
    {
      g_printerr ("ck-bench: no session bus: %s\n", error->message);
      return 1;
    }

  /* Warm up: the first call activates the agent and identifies us. */
  for (guint i = 0; i < 200; i++)
    if (!one_call (bus, TRUE, kind) || !one_call (bus, FALSE, kind))
      return 1;

  /* Interleaved, so a noisy moment hits both series alike. */
  for (guint i = 0; i < count; i++)
    {
      gboolean ping_first = (i & 1) == 0;

      for (int j = 0; j < 2; j++)
        {
          gboolean is_ping = (j == 0) == ping_first;
          gint64 start;

          if (only != NULL && g_str_equal (only, is_ping ? "get" : "ping"))
            {
              (is_ping ? ping : get)[i] = 1;
              continue;
            }
          start = now_ns ();

          if (!one_call (bus, is_ping, kind))
            return 1;
          (is_ping ? ping : get)[i] = now_ns () - start;
        }
    }

  qsort (ping, count, sizeof (gint64), compare_i64);
  qsort (get, count, sizeof (gint64), compare_i64);
  ping_p50 = percentile (ping, count, 50) / 1000.0;
  ping_p99 = percentile (ping, count, 99) / 1000.0;
  get_p50 = percentile (get, count, 50) / 1000.0;
  get_p99 = percentile (get, count, 99) / 1000.0;
  r50 = get_p50 / ping_p50;
  r99 = get_p99 / ping_p99;

  g_print ("GetCredential (%s) vs Peer.Ping on one connection, %u calls each\n", label, count);
  g_print ("  Ping            p50 %8.1f us   p99 %8.1f us\n", ping_p50, ping_p99);
  g_print ("  GetCredential   p50 %8.1f us   p99 %8.1f us\n", get_p50, get_p99);
  g_print ("  ratio p50 %.2fx (target <= 1.5x) %s\n", r50, verdict (r50 <= 1.5));
  g_print ("  ratio p99 %.2fx (target <= 2.5x) %s\n", r99, verdict (r99 <= 2.5));
  g_print ("RESULT latency-%s-ping-p50-us %.1f\n", label, ping_p50);
  g_print ("RESULT latency-%s-ping-p99-us %.1f\n", label, ping_p99);
  g_print ("RESULT latency-%s-get-p50-us %.1f\n", label, get_p50);
  g_print ("RESULT latency-%s-get-p99-us %.1f\n", label, get_p99);
  g_print ("RESULT latency-%s-ratio-p50 %.3f %s\n", label, r50, verdict (r50 <= 1.5));
  g_print ("RESULT latency-%s-ratio-p99 %.3f %s\n", label, r99, verdict (r99 <= 2.5));
  return 0;
}

/* Child processes, released together through a pipe */

typedef struct
{
  gint32 ok;
  gint64 value;       /* calls made, or end time (ns) */
  gint64 expires_at;  /* herd: the credential's expires-at */
  guint32 token_hash; /* herd: to check every caller got the same token */
  char   error[96];
} ChildResult;

typedef struct
{
  int      go_read;
  int      ready_write;
  int      result_write;
} ChildPipes;

static gboolean
write_all (int         fd,
           const void *data,
           gsize       len)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= (gsize) n;
    }
  return TRUE;
}

static gboolean
read_all (int   fd,
          void *data,
          gsize len)
{
  char *p = data;

  while (len > 0)
    {
      ssize_t n = read (fd, p, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= (gsize) n;
    }
  return TRUE;
}

static void
wait_for_go (int go_read)
{
  char byte;

  /* The parent closes its end: EOF is the start signal for everyone. */
  while (read (go_read, &byte, 1) < 0 && errno == EINTR)
    ;
  close (go_read);
}

/* throughput: connect, warm up, wait, call for @seconds, report the count */
static void
throughput_child (ChildPipes *pipes,
                  gboolean    ping,
                  const char *kind,
                  double      seconds)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  ChildResult result = { 0 };
  gint64 deadline;
  char ready = 1;

  if (bus == NULL || !one_call (bus, ping, kind) || !one_call (bus, !ping, kind))
    {
      write_all (pipes->ready_write, &ready, 1);
      write_all (pipes->result_write, &result, sizeof result);
      _exit (1);
    }
  write_all (pipes->ready_write, &ready, 1);
  wait_for_go (pipes->go_read);

  deadline = now_ns () + (gint64) (seconds * 1e9);
  while (now_ns () < deadline)
    {
      if (!one_call (bus, ping, kind))
        break;
      result.value++;
    }
  result.ok = 1;
  write_all (pipes->result_write, &result, sizeof result);
  _exit (0);
}

/* herd: wait, then connect and ask once, as a fresh client would */
static void
herd_child (ChildPipes *pipes,
            const char *kind)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) credential = NULL;
  ChildResult result = { 0 };
  const char *token;
  char ready = 1;

  write_all (pipes->ready_write, &ready, 1);
  wait_for_go (pipes->go_read);

  /* A private connection: a new client, not a shared one. */
  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (bus != NULL)
    reply = call_get_credential (bus, kind, &error);
  result.value = now_ns ();
  if (reply == NULL)
    {
      g_strlcpy (result.error, error->message, sizeof result.error);
    }
  else
    {
      credential = g_variant_get_child_value (reply, 0);
      if (g_variant_lookup (credential, "token", "&s", &token))
        result.token_hash = g_str_hash (token);
      g_variant_lookup (credential, "expires-at", "x", &result.expires_at);
      result.ok = 1;
    }
  write_all (pipes->result_write, &result, sizeof result);
  _exit (0);
}

typedef void (*ChildFunc) (ChildPipes *pipes,
                           gpointer    data);

typedef struct
{
  gboolean    ping;
  const char *kind;
  double      seconds;
} ThroughputArgs;

static void
throughput_trampoline (ChildPipes *pipes,
                       gpointer    data)
{
  ThroughputArgs *args = data;

  throughput_child (pipes, args->ping, args->kind, args->seconds);
}

static void
herd_trampoline (ChildPipes *pipes,
                 gpointer    data)
{
  herd_child (pipes, data);
}

/* Forks @n children running @func, waits until each is ready, releases
 * them at once and collects their results. Returns the release time. The
 * parent never touches the bus, so forking is safe. */
static gboolean
run_children (guint        n,
              ChildFunc    func,
              gpointer     data,
              ChildResult *results,
              gint64      *released)
{
  int go[2], ready[2], result[2];
  g_autofree pid_t *pids = g_new0 (pid_t, n);
  gboolean ok = TRUE;

  if (pipe (go) < 0 || pipe (ready) < 0 || pipe (result) < 0)
    return FALSE;

  for (guint i = 0; i < n; i++)
    {
      pid_t pid = fork ();

      if (pid < 0)
        {
          g_printerr ("ck-bench: fork: %s\n", g_strerror (errno));
          return FALSE;
        }
      if (pid == 0)
        {
          ChildPipes pipes = { go[0], ready[1], result[1] };

          close (go[1]);
          close (ready[0]);
          close (result[0]);
          func (&pipes, data);
          _exit (0);
        }
      pids[i] = pid;
    }
  close (go[0]);
  close (ready[1]);
  close (result[1]);

  for (guint i = 0; i < n; i++)
    {
      char byte;

      if (!read_all (ready[0], &byte, 1))
        {
          ok = FALSE;
          break;
        }
    }

  *released = now_ns ();
  close (go[1]);

  for (guint i = 0; i < n && ok; i++)
    if (!read_all (result[0], &results[i], sizeof (ChildResult)))
      ok = FALSE;

  close (ready[0]);
  close (result[0]);
  for (guint i = 0; i < n; i++)
    {
      int status;

      if (!ok)
        kill (pids[i], SIGKILL);
      while (waitpid (pids[i], &status, 0) < 0 && errno == EINTR)
        ;
    }
  return ok;
}

/* CPU time (user + system) of a process so far, in microseconds; -1 if
 * it cannot be read. */
static gint64
process_cpu_us (int pid)
{
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  unsigned long long utime, stime;
  const char *p;

  if (pid <= 0)
    return -1;
  path = g_strdup_printf ("/proc/%d/stat", pid);
  if (!g_file_get_contents (path, &contents, NULL, NULL) ||
      (p = strrchr (contents, ')')) == NULL ||
      sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return -1;
  return (gint64) ((utime + stime) * G_USEC_PER_SEC / sysconf (_SC_CLK_TCK));
}


/* throughput */

static gboolean
throughput_round (guint       clients,
                  double      seconds,
                  gboolean    ping,
                  const char *kind,
                  double     *calls,
                  gint64     *agent_cpu,
                  gint64     *bus_cpu)
{
  ThroughputArgs args = { ping, kind, seconds };
  g_autofree ChildResult *results = g_new0 (ChildResult, clients);
  gint64 released, agent_before, bus_before;

  agent_before = process_cpu_us (agent_pid);
  bus_before = process_cpu_us (bus_pid);
  if (!run_children (clients, throughput_trampoline, &args, results, &released))
    return FALSE;
  /* Includes the children's connection set-up: a small, equal share. */
  *agent_cpu += process_cpu_us (agent_pid) - agent_before;
  *bus_cpu += process_cpu_us (bus_pid) - bus_before;
  for (guint i = 0; i < clients; i++)
    {
      if (!results[i].ok)
        return FALSE;
      *calls += results[i].value;
    }
  return TRUE;
}

static int
run_throughput (guint       clients,
                double      seconds,
                const char *kind)
{
  double ping_calls = 0, get_calls = 0, ping_rate, get_rate, ratio;
  gint64 ping_agent = 0, ping_bus = 0, get_agent = 0, get_bus = 0;
  /* Short rounds, alternating, so that the drift of a busy machine's
   * load falls on both sides alike. */
  const guint rounds = 4;
  const char *label = kind != NULL ? kind : "any";

  for (guint r = 0; r < rounds; r++)
    {
      if (!throughput_round (clients, seconds / rounds, TRUE, kind, &ping_calls,
                             &ping_agent, &ping_bus) ||
          !throughput_round (clients, seconds / rounds, FALSE, kind, &get_calls,
                             &get_agent, &get_bus))
        {
          g_printerr ("ck-bench: a throughput client failed\n");
          return 1;
        }
    }
  ping_rate = ping_calls / seconds;
  get_rate = get_calls / seconds;
  ratio = get_rate / ping_rate;

  g_print ("Throughput, %u client processes, %.1f s each (%s)\n", clients, seconds, label);
  g_print ("  Ping            %9.0f calls/s\n", ping_rate);
  g_print ("  GetCredential   %9.0f calls/s\n", get_rate);
  g_print ("  ratio %.2fx (target >= 0.7x) %s\n", ratio, verdict (ratio >= 0.7));
  if (agent_pid > 0)
    g_print ("  CPU per call: agent %.1f us (Ping) vs %.1f us (GetCredential); "
             "dbus-daemon %.1f us vs %.1f us\n",
             ping_agent / ping_calls, get_agent / get_calls,
             ping_bus / ping_calls, get_bus / get_calls);
  g_print ("RESULT throughput-%s-ping-per-s %.0f\n", label, ping_rate);
  g_print ("RESULT throughput-%s-get-per-s %.0f\n", label, get_rate);
  g_print ("RESULT throughput-%s-ratio %.3f %s\n", label, ratio, verdict (ratio >= 0.7));
  return 0;
}

/* herd */

static gboolean
herd_round (guint       clients,
            const char *kind,
            double     *wall_ms,
            guint      *failures,
            guint      *expired,
            guint      *distinct_tokens,
            char      **first_error)
{
  g_autofree ChildResult *results = g_new0 (ChildResult, clients);
  g_autoptr(GHashTable) tokens = g_hash_table_new (NULL, NULL);
  gint64 released, last = 0, now_s = g_get_real_time () / G_USEC_PER_SEC;

  if (!run_children (clients, herd_trampoline, (gpointer) kind, results, &released))
    return FALSE;

  *failures = *expired = 0;
  for (guint i = 0; i < clients; i++)
    {
      last = MAX (last, results[i].value);
      if (!results[i].ok)
        {
          (*failures)++;
          if (*first_error == NULL)
            *first_error = g_strdup (results[i].error);
          continue;
        }
      if (results[i].expires_at != 0 && results[i].expires_at <= now_s)
        (*expired)++;
      g_hash_table_add (tokens, GUINT_TO_POINTER (results[i].token_hash));
    }
  *distinct_tokens = g_hash_table_size (tokens);
  *wall_ms = (last - released) / 1e6;
  return TRUE;
}

static int
run_herd (guint       clients,
          const char *kind,
          gboolean    single)
{
  g_autofree char *first_error = NULL;
  double wall_ms;
  guint failures, expired, distinct;
  const char *what = single ? "single" : "herd";

  if (!herd_round (single ? 1 : clients, kind, &wall_ms, &failures, &expired, &distinct,
                   &first_error))
    {
      g_printerr ("ck-bench: the %s clients could not run\n", what);
      return 1;
    }

  g_print ("%s: %u process(es) connecting and calling GetCredential at once: %.1f ms, "
           "%u failed, %u expired, %u distinct token(s)\n",
           what, single ? 1 : clients, wall_ms, failures, expired, distinct);
  if (first_error != NULL)
    g_print ("  first error: %s\n", first_error);
  g_print ("RESULT %s-wall-ms %.2f\n", what, wall_ms);
  g_print ("RESULT %s-failures %u\n", what, failures);
  g_print ("RESULT %s-expired %u\n", what, expired);
  g_print ("RESULT %s-distinct-tokens %u\n", what, distinct);
  return failures == 0 && expired == 0 ? 0 : 1;
}

/* spawn */

static gint64
spawn_once (char **argv,
            int    devnull)
{
  posix_spawn_file_actions_t actions;
  gint64 start, elapsed;
  pid_t pid;
  int status, rc;

  posix_spawn_file_actions_init (&actions);
  posix_spawn_file_actions_adddup2 (&actions, devnull, STDIN_FILENO);
  posix_spawn_file_actions_adddup2 (&actions, devnull, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2 (&actions, devnull, STDERR_FILENO);

  start = now_ns ();
  rc = posix_spawnp (&pid, argv[0], &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&actions);
  if (rc != 0)
    {
      g_printerr ("ck-bench: cannot run %s: %s\n", argv[0], g_strerror (rc));
      return -1;
    }
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  elapsed = now_ns () - start;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      g_printerr ("ck-bench: %s exited with status %d\n", argv[0], status);
      return -1;
    }
  return elapsed;
}

static int
run_spawn (guint   runs,
           char  **commands,
           int     n_commands)
{
  g_autofree char ***argvs = g_new0 (char **, n_commands);
  g_autofree gint64 **times = g_new0 (gint64 *, n_commands);
  g_autofree double *medians = g_new0 (double, n_commands);
  int devnull = open ("/dev/null", O_RDWR);
  int status = 0;

  if (n_commands < 2)
    {
      g_printerr ("ck-bench spawn: give a baseline command and at least one to compare\n");
      return 2;
    }

  for (int c = 0; c < n_commands; c++)
    {
      g_autoptr(GError) error = NULL;

      if (!g_shell_parse_argv (commands[c], NULL, &argvs[c], &error))
        {
          g_printerr ("ck-bench: %s: %s\n", commands[c], error->message);
          return 2;
        }
      times[c] = g_new0 (gint64, runs);
    }

  /* Warm the page cache and the agent's caches. */
  for (guint w = 0; w < 5; w++)
    for (int c = 0; c < n_commands; c++)
      if (spawn_once (argvs[c], devnull) < 0)
        return 1;

  /* Round-robin, so every command sees the same machine. */
  for (guint r = 0; r < runs; r++)
    for (int c = 0; c < n_commands; c++)
      if ((times[c][r] = spawn_once (argvs[c], devnull)) < 0)
        return 1;

  g_print ("Whole-process medians, %u runs each, round-robin\n", runs);
  for (int c = 0; c < n_commands; c++)
    {
      qsort (times[c], runs, sizeof (gint64), compare_i64);
      medians[c] = percentile (times[c], runs, 50) / 1e6;
    }
  for (int c = 0; c < n_commands; c++)
    {
      double ratio = medians[c] / medians[0];

      g_print ("  %-40s median %6.2f ms  p90 %6.2f ms", commands[c], medians[c],
               percentile (times[c], runs, 90) / 1e6);
      if (c == 0)
        g_print ("  (baseline)\n");
      else
        g_print ("  ratio %.2fx (target <= 0.8x) %s\n", ratio, verdict (ratio <= 0.8));
      g_print ("RESULT spawn-%d-median-ms %.3f\n", c, medians[c]);
      if (c > 0)
        g_print ("RESULT spawn-%d-ratio %.3f %s\n", c, ratio, verdict (ratio <= 0.8));
    }

  for (int c = 0; c < n_commands; c++)
    {
      g_strfreev (argvs[c]);
      g_free (times[c]);
    }
  close (devnull);
  return status;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *kind = NULL;
  int count = 2000, clients = 16, runs = 100;
  double seconds = 3.0;
  gboolean single = FALSE;
  const char *mode;
  GOptionEntry entries[] = {
    { "count", 0, 0, G_OPTION_ARG_INT, &count, "Calls per series (latency)", "N" },
    { "clients", 0, 0, G_OPTION_ARG_INT, &clients, "Client processes (throughput, herd)", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Seconds per series (throughput)", "S" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "Runs per command (spawn)", "N" },
    { "kind", 0, 0, G_OPTION_ARG_STRING, &kind, "GetCredential's kind option", "KIND" },
    { "agent-pid", 0, 0, G_OPTION_ARG_INT, &agent_pid, "Report the agent's CPU time (throughput)", "PID" },
    { "bus-pid", 0, 0, G_OPTION_ARG_INT, &bus_pid, "Report the bus daemon's CPU time (throughput)", "PID" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only, "Measure only ping or get (latency, for profiling)", "SERIES" },
    { "single", 0, 0, G_OPTION_ARG_NONE, &single, "One client instead of a herd (herd)", NULL },
    { NULL }
  };

  context = g_option_context_new ("latency|throughput|spawn|herd [COMMANDS...]");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || argc < 2 ||
      count < 10 || clients < 1 || runs < 3 || seconds <= 0)
    {
      g_printerr ("ck-bench: %s\n", error != NULL ? error->message : "bad arguments; see --help");
      return 2;
    }

  /* Output goes to a log: line by line. */
  setvbuf (stdout, NULL, _IOLBF, 0);
  mode = argv[1];
  if (g_str_equal (mode, "latency"))
    return run_latency ((guint) count, kind);
  if (g_str_equal (mode, "throughput"))
    return run_throughput ((guint) clients, seconds, kind);
  if (g_str_equal (mode, "herd"))
    return run_herd ((guint) clients, kind, single);
  if (g_str_equal (mode, "spawn"))
    return run_spawn ((guint) runs, argv + 2, argc - 2);

  g_printerr ("ck-bench: unknown mode %s\n", mode);
  return 2;
}
