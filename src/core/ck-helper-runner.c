/* ck-helper-runner.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-helper-runner"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <glib-unix.h>

#include "ck-error.h"
#include "ck-helper-runner.h"
#include "ck-oauth-tokens.h"

#define DEFAULT_TTL_SECONDS  300
#define DEFAULT_TIMEOUT_MSEC 10000
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
  pid_t           pgid;     /* 0 when unknown */
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

  /* Negative: the whole group, so grandchildren go too. */
  if (kill (-run->pgid, SIGKILL) != 0 && errno != ESRCH)
    g_debug ("Could not kill the helper's process group: %s", g_strerror (errno));
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

  if (run->timeout_source != NULL)
    {
      g_source_destroy (run->timeout_source);
      g_clear_pointer (&run->timeout_source, g_source_unref);
    }

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

  if (g_subprocess_get_if_signaled (run->subprocess))
    run_fail (run, "The API key helper was killed by signal %d; " CHECK_SETTING,
              g_subprocess_get_term_sig (run->subprocess));
  else if (g_subprocess_get_exit_status (run->subprocess) != 0)
    run_fail (run, "The API key helper exited with status %d; " CHECK_SETTING,
              g_subprocess_get_exit_status (run->subprocess));
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

static void
run_wait_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(Run) run = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (object), result, &error) || run->finished)
    return;

  run->exited = TRUE;

  /* Whatever the helper left running in its group would hold our pipe open
   * or outlive the run; it goes now rather than at the timeout.
   */
  run_kill_group (run);
  run->pgid = 0;

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

static void
child_setup (gpointer user_data)
{
  int pid_fd = GPOINTER_TO_INT (user_data);
  pid_t pid = getpid ();

  /* Async-signal-safe; lets us kill the helper and everything it starts
   * with one kill (-pgid). The pid goes back through a pipe because GLib
   * may reap a quick shell (and forget its pid) before we could ask.
   */
  setpgid (0, 0);
  if (write (pid_fd, &pid, sizeof pid) != sizeof pid)
    _exit (127);
}

static Run *
run_start (CkHelperRunner  *self,
           GError         **error)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(Run) run = NULL;
  pid_t shell_pid = 0;
  int pid_pipe[2];

  if (!g_unix_open_pipe (pid_pipe, FD_CLOEXEC, &local_error))
    {
      g_set_error (error, CK_ERROR, CK_ERROR_HELPER_FAILED,
                   "The API key helper could not be started: %s", local_error->message);
      return NULL;
    }

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_setenv (launcher, "CLAUDE_KEYRING_HELPER", "1", TRUE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup,
                                         GINT_TO_POINTER (pid_pipe[1]), NULL);

  run = g_rc_box_new0 (Run);
  run->waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) waiter_free);
  run->cancellable = g_cancellable_new ();
  run->timeout_msec = self->timeout;

  /* stdin stays /dev/null: neither STDIN_PIPE nor STDIN_INHERIT. */
  run->subprocess = g_subprocess_launcher_spawn (launcher, &local_error,
                                                 "/bin/sh", "-c", self->command, NULL);
  close (pid_pipe[1]);
  /* The spawn returned after the exec, so child_setup has written. */
  if (run->subprocess != NULL &&
      read (pid_pipe[0], &shell_pid, sizeof shell_pid) == sizeof shell_pid)
    run->pgid = shell_pid;
  close (pid_pipe[0]);

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
    {
      run->timeout_source = g_timeout_source_new (self->timeout);
      g_source_set_callback (run->timeout_source, run_timeout_cb,
                             run_ref (run), (GDestroyNotify) run_unref);
      g_source_attach (run->timeout_source, g_main_context_get_thread_default ());
    }

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
