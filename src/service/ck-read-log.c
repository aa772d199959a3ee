/* ck-read-log.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Every credential the agent hands out is counted here, whichever thread
 * answered: the main loop (CkService) or the GDBus worker thread
 * (CkFastPath). The status window reads it from the main loop, so the
 * log keeps its own lock.
 */

#define G_LOG_DOMAIN "ck-read-log"

#include "config.h"

#include "ck-read-log.h"

struct _CkReadLog
{
  GObject  parent_instance;

  GMutex   lock;   /* guards reads */
  GQueue   reads;  /* of CkRead, newest first */
  guint    count;  /* atomic: the status window polls it */
};

G_DEFINE_FINAL_TYPE (CkReadLog, ck_read_log, G_TYPE_OBJECT)

static void
ck_read_free (CkRead *read)
{
  g_free (read->exe);
  g_free (read->source);
  g_free (read);
}

static CkRead *
ck_read_copy (const CkRead *read)
{
  CkRead *copy = g_memdup2 (read, sizeof *read);

  copy->exe = g_strdup (read->exe);
  copy->source = g_strdup (read->source);
  return copy;
}

CkReadLog *
ck_read_log_new (void)
{
  return g_object_new (CK_TYPE_READ_LOG, NULL);
}

/* Safe to call from any thread. @in_bus_thread only tells the debug log
 * which path answered. */
void
ck_read_log_record (CkReadLog      *self,
                    const CkCaller *caller,
                    const char     *source,
                    gboolean        in_bus_thread)
{
  CkRead *read;

  g_return_if_fail (CK_IS_READ_LOG (self));
  g_return_if_fail (caller != NULL);

  read = g_new0 (CkRead, 1);
  read->time = g_get_real_time ();
  read->pid = caller->pid;
  read->exe = g_strdup (caller->exe);
  read->source = g_strdup (source);

  g_mutex_lock (&self->lock);
  g_queue_push_head (&self->reads, read);
  if (self->reads.length > CK_READ_LOG_MAX_READS)
    ck_read_free (g_queue_pop_tail (&self->reads));
  g_atomic_int_inc (&self->count);
  g_mutex_unlock (&self->lock);

  g_debug ("Credential (%s) read by pid %u (%s)%s", source, caller->pid,
           caller->exe != NULL ? caller->exe : "unknown executable",
           in_bus_thread ? ", answered in the bus thread" : "");
}

/* A copy of the most recent reads, newest first. */
GPtrArray *
ck_read_log_dup_reads (CkReadLog *self)
{
  GPtrArray *reads;

  g_return_val_if_fail (CK_IS_READ_LOG (self), NULL);

  g_mutex_lock (&self->lock);
  reads = g_ptr_array_new_full (self->reads.length, (GDestroyNotify) ck_read_free);
  for (GList *l = self->reads.head; l != NULL; l = l->next)
    g_ptr_array_add (reads, ck_read_copy (l->data));
  g_mutex_unlock (&self->lock);
  return reads;
}

/* Every read since the agent started, also those no longer kept. */
guint
ck_read_log_get_count (CkReadLog *self)
{
  g_return_val_if_fail (CK_IS_READ_LOG (self), 0);

  return (guint) g_atomic_int_get (&self->count);
}

static void
ck_read_log_finalize (GObject *object)
{
  CkReadLog *self = (CkReadLog *) object;

  g_queue_clear_full (&self->reads, (GDestroyNotify) ck_read_free);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (ck_read_log_parent_class)->finalize (object);
}

static void
ck_read_log_class_init (CkReadLogClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ck_read_log_finalize;
}

static void
ck_read_log_init (CkReadLog *self)
{
  g_mutex_init (&self->lock);
  g_queue_init (&self->reads);
}
