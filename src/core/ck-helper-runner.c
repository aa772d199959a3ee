/* ck-helper-runner.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* How nothing of a helper outlives its run, not even a child that left
 * its process group (setsid, a double-forked daemon) holding stdout:
 *
 * The process GSubprocess starts is not the shell but a reaper, forked in
 * child_setup and never exec'd. It makes itself a child subreaper, so
 * that every orphan of the helper becomes its child, forks the shell in a
 * group of the shell's own, and waits. Once the shell has exited it
 * SIGKILLs its children until it has none (found in /proc, where each
 * one's parent is; /proc/PID/task/TID/children is not in every kernel),
 * reports the shell's wait status through a pipe and exits. The agent
 * kills the shell's group, never the reaper, to stop a run early, so that
 * the reaper cleans up after a timeout too.
 *
 * A forked copy rather than a helper binary: nothing more to install or
 * find, and the in-process tests drive the real thing. The agent itself
 * as subreaper would adopt every other orphan it ever makes (a browser
 * that daemonizes) and could not tell the helper's apart. A systemd scope
 * exists only where a user systemd runs.
 *
 * The result counts once the reaper has exited and stdout is at its end,
 * or GRACE_MSEC after the reaper has exited: something outside the
 * helper's tree (a process it handed the descriptor to) may hold the pipe.
 */

/* getdents64(), close_range(), _Fork() */
#define _GNU_SOURCE

#define G_LOG_DOMAIN "ck-helper-runner"

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "ck-error.h"
#include "ck-helper-runner.h"
#include "ck-oauth-tokens.h"

#define DEFAULT_TTL_SECONDS  300
#define DEFAULT_TIMEOUT_MSEC 10000
#define GRACE_MSEC           200
#define CHECK_SETTING        "check the command in the api-key-helper setting."

typedef struct _Run Run;

/* One caller of get_key_async() waiting for a run. */
typedef struct
{
  Run     *run;             /* weak: the run owns its waiters */
  GTask   *task;
  GSource *cancel_source;
} Waiter;

/* One execution of the helper, shared by every caller that arrives while
 * it is in flight. Reference counted because the read, the wait and the
 * timeout each hold it until they have noticed that it is over.
 */
struct _Run
{
  CkHelperRunner *runner;   /* weak; NULL once detached */
  GSubprocess    *subprocess;
  GCancellable   *cancellable;
  GSource        *timeout_source;
  GPtrArray      *waiters;
  guint8         *buffer;   /* CK_HELPER_OUTPUT_MAX + 1 bytes */
  gsize           length;
  pid_t           pgid;     /* the shell's; 0 when unknown or gone */
  int             report_fd; /* from the reaper: the shell's pid, then its status */
  int             status;   /* the shell's wait status, once exited */
  guint           timeout_msec;
  guint           finished : 1;
  guint           eof : 1;
  guint           exited : 1;
};

struct _CkHelperRunner
{
  GObject  parent_instance;

  char    *command;
  guint    ttl;
  guint    timeout;

  char    *cached_key;
  gint64   cached_at;       /* monotonic µs */

  Run     *run;             /* the run new callers join, or NULL */
};

G_DEFINE_FINAL_TYPE (CkHelperRunner, ck_helper_runner, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_COMMAND,
  PROP_TTL,
  PROP_TIMEOUT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void run_finish (Run        *run,
                        const char *key,
                        GError     *error);

/* Output parsing */

gboolean
ck_helper_output_parse (const char  *output,
                        gsize        length,
                        char       **key,
                        GError     **error)
{
  gsize start = 0;
  gsize end = length;

  g_return_val_if_fail (output != NULL || length == 0, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *key = NULL;

  while (start < end && g_ascii_isspace (output[start]))
    start++;
  while (end > start && g_ascii_isspace (output[end - 1]))
    end--;

  if (start == end)
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_HELPER_FAILED,
                           "The API key helper printed no key; " CHECK_SETTING);
      return FALSE;
    }

  /* Both ends are now non-blank, so a newline inside means two lines. */
  if (memchr (output + start, '\n', end - start) != NULL)
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_HELPER_FAILED,
                           "The API key helper printed more than one line; "
                           "make the command in the api-key-helper setting "
                           "print only the key.");
      return FALSE;
    }

  /* The key goes into an HTTP header and over D-Bus: printable ASCII only. */
  for (gsize i = start; i < end; i++)
    {
      guchar c = output[i];

      if (c <= ' ' || c >= 0x7f)
        {
          g_set_error_literal (error, CK_ERROR, CK_ERROR_HELPER_FAILED,
                               "The API key helper printed a key with spaces, "
                               "control characters or non-ASCII characters; "
                               CHECK_SETTING);
          return FALSE;
        }
    }

  *key = g_strndup (output + start, end - start);
  return TRUE;
}

/* Runs */

static Run *
run_ref (Run *run)
{
  return g_rc_box_acquire (run);
}

static void
waiter_free (Waiter *waiter)
{
  if (waiter->cancel_source != NULL)
    {
      g_source_destroy (waiter->cancel_source);
      g_clear_pointer (&waiter->cancel_source, g_source_unref);
    }
  g_clear_object (&waiter->task);
  g_free (waiter);
}

static void
run_clear (Run *run)
{
  g_assert (run->waiters->len == 0);
  g_assert (run->timeout_source == NULL);

  g_clear_object (&run->subprocess);
  g_clear_object (&run->cancellable);
  g_clear_pointer (&run->waiters, g_ptr_array_unref);
  if (run->report_fd >= 0)
    close (run->report_fd);
  if (run->buffer != NULL)
    {
      explicit_bzero (run->buffer, CK_HELPER_OUTPUT_MAX + 1);
      g_clear_pointer (&run->buffer, g_free);
    }
}

static void
run_unref (Run *run)
{
  g_rc_box_release_full (run, (GDestroyNotify) run_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Run, run_unref)

static void
run_kill_group (Run *run)
{
  if (run->pgid <= 0)
    return;

  /* Negative: the whole group at once. The reaper, outside it, then kills
   * whatever left the group.
   */
  if (kill (-run->pgid, SIGKILL) != 0 && errno != ESRCH)
    g_debug ("Could not kill the helper's process group: %s", g_strerror (errno));
}

static void
run_clear_timer (Run *run)
{
  if (run->timeout_source != NULL)
    {
      g_source_destroy (run->timeout_source);
      g_clear_pointer (&run->timeout_source, g_source_unref);
    }
}

/* Replaces the run's timer, if any. */
static void
run_set_timer (Run         *run,
               guint        msec,
               GSourceFunc  callback)
{
  run_clear_timer (run);
  run->timeout_source = g_timeout_source_new (msec);
  g_source_set_callback (run->timeout_source, callback,
                         run_ref (run), (GDestroyNotify) run_unref);
  g_source_attach (run->timeout_source, g_main_context_get_thread_default ());
}

/* Stops following the helper, kills what is left of it and hands @key or
 * @error to every waiter. Safe to call more than once; only the first
 * counts.
 */
static void
run_finish (Run        *run,
            const char *key,
            GError     *error)
{
  g_autoptr(Run) hold = run_ref (run);
  g_autoptr(GPtrArray) waiters = NULL;

  g_assert ((key == NULL) != (error == NULL));

  if (run->finished)
    return;
  run->finished = TRUE;

  if (!run->exited)
    run_kill_group (run);
  g_cancellable_cancel (run->cancellable);
  run_clear_timer (run);

  /* Detach before any callback runs, so that a caller who asks again from
   * its callback starts a new run instead of joining this one.
   */
  if (run->runner != NULL)
    {
      CkHelperRunner *self = run->runner;

      if (self->run == run)
        self->run = NULL;
      run->runner = NULL;

      if (key != NULL && self->ttl > 0)
        {
          g_clear_pointer (&self->cached_key, ck_secret_free);
          self->cached_key = g_strdup (key);
          self->cached_at = g_get_monotonic_time ();
        }
    }

  waiters = g_steal_pointer (&run->waiters);
  run->waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) waiter_free);

  for (guint i = 0; i < waiters->len; i++)
    {
      Waiter *waiter = g_ptr_array_index (waiters, i);

      /* No late cancellation may reach a task that has returned. */
      if (waiter->cancel_source != NULL)
        g_source_destroy (waiter->cancel_source);

      if (key != NULL)
        g_task_return_pointer (waiter->task, g_strdup (key), (GDestroyNotify) ck_secret_free);
      else
        g_task_return_error (waiter->task, g_error_copy (error));
    }
}

static void
run_fail (Run        *run,
          const char *format,
          ...) G_GNUC_PRINTF (2, 3);

static void
run_fail (Run        *run,
          const char *format,
          ...)
{
  g_autoptr(GError) error = NULL;
  va_list args;

  va_start (args, format);
  error = g_error_new_valist (CK_ERROR, CK_ERROR_HELPER_FAILED, format, args);
  va_end (args);

  g_debug ("%s", error->message);
  run_finish (run, NULL, error);
}

static void
run_maybe_complete (Run *run)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL;

  if (run->finished || !run->eof || !run->exited)
    return;

  if (WIFSIGNALED (run->status))
    run_fail (run, "The API key helper was killed by signal %d; " CHECK_SETTING,
              WTERMSIG (run->status));
  else if (!WIFEXITED (run->status) || WEXITSTATUS (run->status) != 0)
    run_fail (run, "The API key helper exited with status %d; " CHECK_SETTING,
              WEXITSTATUS (run->status));
  else if (!ck_helper_output_parse ((const char *) run->buffer, run->length, &key, &error))
    {
      g_debug ("%s", error->message);
      run_finish (run, NULL, error);
    }
  else
    {
      g_debug ("The API key helper printed a key");
      run_finish (run, key, NULL);
      explicit_bzero (key, strlen (key));
    }
}

static void run_read_next (Run *run);

static void
run_read_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(Run) run = user_data;
  g_autoptr(GError) error = NULL;
  gssize n_read;

  n_read = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);

  if (run->finished)
    return;

  if (n_read < 0)
    {
      g_debug ("Reading the helper's output failed: %s", error->message);
      run_fail (run, "The output of the API key helper could not be read; " CHECK_SETTING);
    }
  else if (n_read == 0)
    {
      run->eof = TRUE;
      run_maybe_complete (run);
    }
  else
    {
      run->length += n_read;

      /* We asked for at most one byte past the cap, so the buffer never
       * holds more than that however much the helper prints.
       */
      if (run->length > CK_HELPER_OUTPUT_MAX)
        run_fail (run, "The API key helper printed more than %u KiB; " CHECK_SETTING,
                  CK_HELPER_OUTPUT_MAX / 1024);
      else
        run_read_next (run);
    }
}

static void
run_read_next (Run *run)
{
  g_input_stream_read_async (g_subprocess_get_stdout_pipe (run->subprocess),
                             run->buffer + run->length,
                             CK_HELPER_OUTPUT_MAX + 1 - run->length,
                             G_PRIORITY_DEFAULT,
                             run->cancellable,
                             run_read_cb,
                             run_ref (run));
}

static gboolean
run_grace_cb (gpointer user_data)
{
  Run *run = user_data;

  g_debug ("Something outside the API key helper still holds its output; "
           "taking what it printed");
  run->eof = TRUE;
  run_maybe_complete (run);

  return G_SOURCE_REMOVE;
}

static void
run_wait_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(Run) run = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (object), result, &error) || run->finished)
    return;

  /* The reaper is gone, and with it the shell and all it left behind. */
  run->exited = TRUE;
  run->pgid = 0;

  /* A reaper that could not report (killed from outside) has its own
   * status stand in for the shell's.
   */
  if (read (run->report_fd, &run->status, sizeof run->status) != sizeof run->status)
    run->status = g_subprocess_get_status (run->subprocess);

  /* The helper finished in time: the timeout no longer applies. */
  if (!run->eof)
    run_set_timer (run, GRACE_MSEC, run_grace_cb);

  run_maybe_complete (run);
}

static gboolean
run_timeout_cb (gpointer user_data)
{
  Run *run = user_data;
  guint msec = run->timeout_msec;

  if (msec % 1000 == 0)
    run_fail (run, "The API key helper did not finish within %u second%s; "
              "check the command in the api-key-helper setting or raise its timeout.",
              msec / 1000, msec == 1000 ? "" : "s");
  else
    run_fail (run, "The API key helper did not finish within %u ms; "
              "check the command in the api-key-helper setting or raise its timeout.",
              msec);

  return G_SOURCE_REMOVE;
}

static void
run_waiter_cancelled (Waiter *waiter)
{
  g_autoptr(Run) run = run_ref (waiter->run);
  g_autoptr(GTask) task = g_object_ref (waiter->task);

  /* Frees @waiter. */
  g_ptr_array_remove (run->waiters, waiter);

  /* Nobody is left to want the key: stop the helper rather than let it
   * run to its timeout. Others still waiting keep the run going.
   */
  if (run->waiters->len == 0 && !run->finished)
    {
      g_autoptr(GError) error = NULL;

      g_debug ("Every caller cancelled; stopping the API key helper");
      error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                   "Every caller cancelled.");
      run_finish (run, NULL, error);
    }

  g_task_return_error_if_cancelled (task);
}

static gboolean
run_waiter_cancelled_cb (GCancellable *cancellable,
                         gpointer      user_data)
{
  run_waiter_cancelled (user_data);
  return G_SOURCE_REMOVE;
}

static void
run_add_waiter (Run   *run,
                GTask *task)
{
  Waiter *waiter = g_new0 (Waiter, 1);
  GCancellable *cancellable = g_task_get_cancellable (task);

  waiter->run = run;
  waiter->task = g_object_ref (task);

  if (cancellable != NULL)
    {
      /* A source rather than a signal handler: "cancelled" may be emitted
       * from any thread, and the task must return in its own context.
       */
      waiter->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (waiter->cancel_source,
                             G_SOURCE_FUNC (run_waiter_cancelled_cb),
                             waiter, NULL);
      g_source_attach (waiter->cancel_source, g_task_get_context (task));
    }

  g_ptr_array_add (run->waiters, waiter);
}

/* The reaper (see the top of the file). It is a fork of a threaded
 * process: only async-signal-safe calls, no GLib, no malloc, until _exit().
 */

/* _Fork() runs no atfork handlers, which might take locks that other
 * threads of the agent held when GLib forked.
 */
#ifdef __GLIBC__
# if __GLIBC_PREREQ (2, 34)
#  define reaper_fork _Fork
# endif
#endif
#ifndef reaper_fork
# define reaper_fork fork
#endif

/* The parent of process @name (digits) from /proc/@name/stat, which reads
 * "PID (COMM) STATE PPID ..."; COMM may hold anything but is short, so
 * the last ')' in the first bytes ends it. -1 if it cannot be read.
 */
static pid_t
reaper_parent_of (int         proc_fd,
                  const char *name)
{
  char path[32];
  char stat[256];
  gsize length = strlen (name);
  const char *p;
  pid_t ppid = 0;
  ssize_t n;
  int fd;

  if (length + sizeof "/stat" > sizeof path)
    return -1;
  memcpy (path, name, length);
  memcpy (path + length, "/stat", sizeof "/stat");

  fd = openat (proc_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  n = read (fd, stat, sizeof stat - 1);
  close (fd);
  if (n <= 0)
    return -1;
  stat[n] = '\0';

  p = strrchr (stat, ')');
  if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
    return -1;
  for (p += 4; *p >= '0' && *p <= '9'; p++)
    ppid = ppid * 10 + (*p - '0');

  return ppid;
}

/* SIGKILLs every living child of @self; FALSE if /proc cannot be read. */
static gboolean
reaper_kill_children (pid_t self)
{
  /* Aligned for the struct dirent64 records. */
  union { struct dirent64 entry; char bytes[4096]; } buffer;
  ssize_t n;
  int proc_fd;

  proc_fd = open ("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0)
    return FALSE;

  while ((n = getdents64 (proc_fd, &buffer, sizeof buffer)) > 0)
    {
      for (ssize_t offset = 0; offset < n;)
        {
          struct dirent64 *entry = (struct dirent64 *) (buffer.bytes + offset);
          pid_t pid = 0;
          const char *c;

          offset += entry->d_reclen;
          for (c = entry->d_name; *c >= '0' && *c <= '9' && pid < 1 << 24; c++)
            pid = pid * 10 + (*c - '0');
          if (*c == '\0' && pid > 0 && reaper_parent_of (proc_fd, entry->d_name) == self)
            kill (pid, SIGKILL);
        }
    }

  close (proc_fd);
  return TRUE;
}

/* Kills and reaps every child until there is none. A child's death hands
 * its own children to us (we are a subreaper), so look again after each.
 */
static void
reaper_kill_leftovers (void)
{
  pid_t self = getpid ();

  for (;;)
    {
      pid_t pid = waitpid (-1, NULL, WNOHANG);

      if (pid > 0 || (pid < 0 && errno == EINTR))
        continue;
      if (pid < 0)
        return;  /* ECHILD: none left */

      /* Without /proc, wait for them to end on their own; the agent does
       * not wait for us longer than its grace period.
       */
      reaper_kill_children (self);
      if (waitpid (-1, NULL, 0) < 0 && errno != EINTR)
        return;
    }
}

static void
reaper_close_fds_except (int keep)
{
  struct rlimit limit;

  /* Not a descriptor of GLib's may stay open: one of them tells the
   * agent's spawn that the exec happened.
   */
  if (close_range (0, keep - 1, 0) == 0 && close_range (keep + 1, ~0U, 0) == 0)
    return;

  /* Before Linux 5.9. */
  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur > 65536)
    limit.rlim_cur = 65536;
  for (int fd = 0; fd < (int) limit.rlim_cur; fd++)
    if (fd != keep)
      close (fd);
}

static void
child_setup (gpointer user_data)
{
  int report_fd = GPOINTER_TO_INT (user_data);
  pid_t shell;
  int status = 0;

  /* Groups of their own, so that a Ctrl-C meant for the agent on its
   * terminal reaches neither, and so that one kill (-pgid) stops the
   * shell and everything it starts that stays in its group.
   */
  setpgid (0, 0);
  prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  shell = reaper_fork ();
  if (shell == 0)
    {
      setpgid (0, 0);
      return;  /* GLib goes on to exec the shell in this process */
    }
  if (shell < 0)
    _exit (127);

  /* Here too, in case the shell has not run yet. The pid goes back
   * through the pipe because only we know it.
   */
  setpgid (shell, shell);
  if (write (report_fd, &shell, sizeof shell) != sizeof shell)
    kill (shell, SIGKILL);

  reaper_close_fds_except (report_fd);

  /* Orphans that die before the shell are reaped on the way. */
  for (;;)
    {
      pid_t pid = waitpid (-1, &status, 0);

      if (pid == shell)
        break;
      if (pid < 0 && errno != EINTR)
        _exit (127);
    }

  reaper_kill_leftovers ();

  _exit (write (report_fd, &status, sizeof status) == sizeof status ? 0 : 127);
}

static Run *
run_start (CkHelperRunner  *self,
           GError         **error)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(Run) run = NULL;
  pid_t shell_pid = 0;
  int report_pipe[2];

  if (!g_unix_open_pipe (report_pipe, FD_CLOEXEC, &local_error))
    {
      g_set_error (error, CK_ERROR, CK_ERROR_HELPER_FAILED,
                   "The API key helper could not be started: %s", local_error->message);
      return NULL;
    }

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_setenv (launcher, "CLAUDE_KEYRING_HELPER", "1", TRUE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup,
                                         GINT_TO_POINTER (report_pipe[1]), NULL);

  /* Non-blocking only to be safe: the reaper has written the pid by the
   * time the spawn returns, and the status by the time it has exited.
   */
  g_unix_set_fd_nonblocking (report_pipe[0], TRUE, NULL);

  run = g_rc_box_new0 (Run);
  run->report_fd = report_pipe[0];
  run->waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) waiter_free);
  run->cancellable = g_cancellable_new ();
  run->timeout_msec = self->timeout;

  /* stdin stays /dev/null: neither STDIN_PIPE nor STDIN_INHERIT. */
  run->subprocess = g_subprocess_launcher_spawn (launcher, &local_error,
                                                 "/bin/sh", "-c", self->command, NULL);
  close (report_pipe[1]);
  if (run->subprocess != NULL &&
      read (run->report_fd, &shell_pid, sizeof shell_pid) == sizeof shell_pid)
    run->pgid = shell_pid;

  if (run->subprocess == NULL)
    {
      /* The message names /bin/sh, never the command (it may hold a key). */
      g_debug ("Could not start the API key helper: %s", local_error->message);
      g_set_error_literal (error, CK_ERROR, CK_ERROR_HELPER_FAILED,
                           "The API key helper could not be started; "
                           "check that /bin/sh works.");
      return NULL;
    }


  run->buffer = g_malloc (CK_HELPER_OUTPUT_MAX + 1);
  run->runner = self;

  if (self->timeout > 0)
    run_set_timer (run, self->timeout, run_timeout_cb);

  g_subprocess_wait_async (run->subprocess, run->cancellable, run_wait_cb, run_ref (run));
  run_read_next (run);

  g_debug ("Started the API key helper");

  return g_steal_pointer (&run);
}

/* Runner */

static gboolean
cache_is_valid (CkHelperRunner *self)
{
  if (self->cached_key == NULL)
    return FALSE;

  if (self->ttl > 0 &&
      g_get_monotonic_time () - self->cached_at < (gint64) self->ttl * G_USEC_PER_SEC)
    return TRUE;

  g_clear_pointer (&self->cached_key, ck_secret_free);
  return FALSE;
}

/* Lets the run in flight finish for those already waiting, but keeps new
 * callers and its result away from this runner.
 */
static void
detach_run (CkHelperRunner *self)
{
  if (self->run != NULL)
    {
      self->run->runner = NULL;
      self->run = NULL;
    }
}

static void
ck_helper_runner_dispose (GObject *object)
{
  CkHelperRunner *self = (CkHelperRunner *) object;

  if (self->run != NULL)
    {
      g_autoptr(Run) run = run_ref (self->run);
      g_autoptr(GError) error = NULL;

      detach_run (self);
      error = g_error_new_literal (CK_ERROR, CK_ERROR_HELPER_FAILED,
                                   "The API key helper was stopped because the agent is shutting down; try again.");
      run_finish (run, NULL, error);
    }

  g_clear_pointer (&self->cached_key, ck_secret_free);

  G_OBJECT_CLASS (ck_helper_runner_parent_class)->dispose (object);
}

static void
ck_helper_runner_finalize (GObject *object)
{
  CkHelperRunner *self = (CkHelperRunner *) object;

  g_clear_pointer (&self->command, g_free);

  G_OBJECT_CLASS (ck_helper_runner_parent_class)->finalize (object);
}

static void
ck_helper_runner_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  CkHelperRunner *self = CK_HELPER_RUNNER (object);

  switch (prop_id)
    {
    case PROP_COMMAND:
      g_value_set_string (value, self->command);
      break;

    case PROP_TTL:
      g_value_set_uint (value, self->ttl);
      break;

    case PROP_TIMEOUT:
      g_value_set_uint (value, self->timeout);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_helper_runner_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  CkHelperRunner *self = CK_HELPER_RUNNER (object);

  switch (prop_id)
    {
    case PROP_COMMAND:
      ck_helper_runner_set_command (self, g_value_get_string (value));
      break;

    case PROP_TTL:
      ck_helper_runner_set_ttl (self, g_value_get_uint (value));
      break;

    case PROP_TIMEOUT:
      ck_helper_runner_set_timeout (self, g_value_get_uint (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_helper_runner_class_init (CkHelperRunnerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_helper_runner_dispose;
  object_class->finalize = ck_helper_runner_finalize;
  object_class->get_property = ck_helper_runner_get_property;
  object_class->set_property = ck_helper_runner_set_property;

  /* The shell command whose stdout is the key; "" for none. */
  properties[PROP_COMMAND] =
    g_param_spec_string ("command", NULL, NULL,
                         "",
                         (G_PARAM_READWRITE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  /* Seconds a key is reused; 0 runs the helper for every request. */
  properties[PROP_TTL] =
    g_param_spec_uint ("ttl", NULL, NULL,
                       0, G_MAXUINT, DEFAULT_TTL_SECONDS,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  /* Milliseconds a run may take before it is killed; 0 for no limit. */
  properties[PROP_TIMEOUT] =
    g_param_spec_uint ("timeout", NULL, NULL,
                       0, G_MAXUINT, DEFAULT_TIMEOUT_MSEC,
                       (G_PARAM_READWRITE |
                        G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ck_helper_runner_init (CkHelperRunner *self)
{
  self->command = g_strdup ("");
  self->ttl = DEFAULT_TTL_SECONDS;
  self->timeout = DEFAULT_TIMEOUT_MSEC;
}

CkHelperRunner *
ck_helper_runner_new (void)
{
  return g_object_new (CK_TYPE_HELPER_RUNNER, NULL);
}

const char *
ck_helper_runner_get_command (CkHelperRunner *self)
{
  g_return_val_if_fail (CK_IS_HELPER_RUNNER (self), NULL);

  return self->command;
}

/**
 * ck_helper_runner_set_command:
 * @command: (nullable): a shell command, or %NULL or "" for none
 *
 * A different command drops the cached key, and callers from now on never
 * get the result of a run of the old command.
 */
void
ck_helper_runner_set_command (CkHelperRunner *self,
                              const char     *command)
{
  g_return_if_fail (CK_IS_HELPER_RUNNER (self));

  if (command == NULL)
    command = "";

  if (g_strcmp0 (self->command, command) == 0)
    return;

  g_free (self->command);
  self->command = g_strdup (command);

  g_clear_pointer (&self->cached_key, ck_secret_free);
  detach_run (self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COMMAND]);
}

guint
ck_helper_runner_get_ttl (CkHelperRunner *self)
{
  g_return_val_if_fail (CK_IS_HELPER_RUNNER (self), 0);

  return self->ttl;
}

/* Applies to the key already cached too. */
void
ck_helper_runner_set_ttl (CkHelperRunner *self,
                          guint           seconds)
{
  g_return_if_fail (CK_IS_HELPER_RUNNER (self));

  if (self->ttl == seconds)
    return;

  self->ttl = seconds;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TTL]);
}

guint
ck_helper_runner_get_timeout (CkHelperRunner *self)
{
  g_return_val_if_fail (CK_IS_HELPER_RUNNER (self), 0);

  return self->timeout;
}

/* Applies from the next run on. */
void
ck_helper_runner_set_timeout (CkHelperRunner *self,
                              guint           msec)
{
  g_return_if_fail (CK_IS_HELPER_RUNNER (self));

  if (self->timeout == msec)
    return;

  self->timeout = msec;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIMEOUT]);
}

gboolean
ck_helper_runner_is_configured (CkHelperRunner *self)
{
  g_return_val_if_fail (CK_IS_HELPER_RUNNER (self), FALSE);

  return self->command[0] != '\0';
}

void
ck_helper_runner_invalidate (CkHelperRunner *self)
{
  g_return_if_fail (CK_IS_HELPER_RUNNER (self));

  g_clear_pointer (&self->cached_key, ck_secret_free);
}

/**
 * ck_helper_runner_get_key_async:
 *
 * Gets the key from the cache, or joins the run in flight, or starts one.
 * Cancelling one caller leaves the run to the others; the helper is killed
 * only when every caller of a run has cancelled.
 */
void
ck_helper_runner_get_key_async (CkHelperRunner      *self,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (CK_IS_HELPER_RUNNER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ck_helper_runner_get_key_async);

  if (g_task_return_error_if_cancelled (task))
    return;

  if (!ck_helper_runner_is_configured (self))
    {
      g_task_return_new_error (task, CK_ERROR, CK_ERROR_HELPER_FAILED,
                               "No API key helper is configured.");
      return;
    }

  if (cache_is_valid (self))
    {
      g_task_return_pointer (task, g_strdup (self->cached_key), (GDestroyNotify) ck_secret_free);
      return;
    }

  if (self->run == NULL)
    {
      g_autoptr(Run) run = run_start (self, &error);

      if (run == NULL)
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }

      /* Borrowed: the pending read and wait keep the run alive until
       * run_finish(), which clears this pointer.
       */
      self->run = run;
    }
  else
    g_debug ("Joining the API key helper run in flight");

  run_add_waiter (self->run, task);
}

/**
 * ck_helper_runner_get_key_finish:
 *
 * Returns: (transfer full): the key; free it with ck_secret_free()
 */
char *
ck_helper_runner_get_key_finish (CkHelperRunner  *self,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  g_return_val_if_fail (CK_IS_HELPER_RUNNER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_helper_runner_get_key_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
