/* ck-access-control.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each connection is identified once, from GetConnectionCredentials and
 * /proc, and the result is kept until the connection goes away: a caller
 * pays for the check on its first call only. The policy itself is applied
 * on every call, so changing allow-sandboxed-callers takes effect at once.
 *
 * A PID alone names a process only while that process lives: a caller
 * that exits once connected (its connection kept by a child) leaves a PID
 * that another process may get before we read /proc. So the process is
 * pinned with a pidfd, the bus's own when it offers one (ProcessFD, from
 * recent dbus-daemon and dbus-broker; not Debian 12's), else one opened at
 * once, and it must still be alive once /proc has been read.
 */

#define G_LOG_DOMAIN "ck-access-control"

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>

#include "ck-access-control.h"
#include "ck-error.h"

/* A process in other namespaces than ours is in a sandbox even when it
 * kept our root directory (bwrap --ro-bind / /, unshare -m, firejail). */
static const char * const namespaces[] = { "user", "mnt", "pid" };

struct _CkAccessControl
{
  GObject          parent_instance;

  GDBusConnection *connection;
  GMutex           lock;         /* guards callers: the GDBus worker thread
                                  * looks callers up too (CkFastPath) */
  GHashTable      *callers;      /* sender → CkCaller */
  GHashTable      *refused;      /* senders already logged as refused */
  guint            name_owner_id;
  gint             allow_sandboxed;  /* read from any thread */
  uid_t            uid;              /* ours */
  dev_t            root_dev;         /* our root directory: a caller with */
  ino_t            root_ino;         /* another one is in a sandbox */
  ino_t            ns[G_N_ELEMENTS (namespaces)];  /* ours, 0 = unknown */
  GHashTable      *appeared;     /* unique name → when we saw it appear,
                                  * in clock ticks since boot */
};

G_DEFINE_FINAL_TYPE (CkAccessControl, ck_access_control, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ALLOW_SANDBOXED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
ck_caller_clear (CkCaller *caller)
{
  g_free (caller->sender);
  g_free (caller->app_id);
  g_free (caller->exe);
}

CkCaller *
ck_caller_ref (CkCaller *caller)
{
  return g_atomic_rc_box_acquire (caller);
}

void
ck_caller_unref (CkCaller *caller)
{
  g_atomic_rc_box_release_full (caller, (GDestroyNotify) ck_caller_clear);
}

/* The PID that @pidfd refers to, from /proc/self/fdinfo: > 0, 0 when the
 * process is in a PID namespace we do not see, -1 when it has exited (or
 * the kernel does not say). */
int
ck_pidfd_get_pid (int pidfd)
{
  g_autofree char *path = g_strdup_printf ("/proc/self/fdinfo/%d", pidfd);
  g_autofree char *contents = NULL;
  const char *line;
  gint64 pid;
  char *end;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;
  if (g_str_has_prefix (contents, "Pid:"))
    line = contents;
  else if ((line = strstr (contents, "\nPid:")) != NULL)
    line++;
  else
    return -1;

  line += strlen ("Pid:");
  pid = g_ascii_strtoll (line, &end, 10);
  if (end == line || (*end != '\n' && *end != '\0') || pid < -1 || pid > G_MAXINT)
    return -1;
  return (int) pid;
}

/* Whether the process behind @pidfd has not exited: a pidfd becomes
 * readable when it does. */
gboolean
ck_pidfd_is_alive (int pidfd)
{
  struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
  int ret;

  do
    ret = poll (&pfd, 1, 0);
  while (ret < 0 && errno == EINTR);
  return ret == 0;
}

/* The snap profile in an AppArmor label ("snap.SNAP.APP (enforce)"), or
 * NULL when the label is not a snap's: snapd confines every app of a snap,
 * also a classic one's helpers, under such a profile. */
char *
ck_apparmor_label_get_snap (const char *label)
{
  if (label == NULL || !g_str_has_prefix (label, "snap.") || label[strlen ("snap.")] == '\0')
    return NULL;
  return g_strndup (label, strcspn (label, " \n"));
}

/* The process's start time (field 22 of /proc/PID/stat, after the command
 * name, which may hold spaces and parentheses), or 0 when unknown. */
static guint64
read_start_time (guint32 pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/stat", pid);
  g_autofree char *contents = NULL;
  g_auto(GStrv) fields = NULL;
  const char *after_comm;

  if (!g_file_get_contents (path, &contents, NULL, NULL) ||
      (after_comm = strrchr (contents, ')')) == NULL)
    return 0;
  /* Fields 3 (the state) onwards. */
  fields = g_strsplit (after_comm + 1 + strspn (after_comm + 1, " "), " ", 21);
  if (g_strv_length (fields) < 21)
    return 0;
  return g_ascii_strtoull (fields[19], NULL, 10);
}

static ino_t
read_namespace (const char *pid,
                const char *name)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/ns/%s", pid, name);
  struct stat st;

  return stat (path, &st) == 0 ? st.st_ino : 0;
}

/* Now, in the unit of /proc/PID/stat's start time. */
static guint64
boot_ticks_now (void)
{
  struct timespec now;

  if (clock_gettime (CLOCK_BOOTTIME, &now) != 0)
    return 0;
  return (guint64) now.tv_sec * sysconf (_SC_CLK_TCK) +
         (guint64) now.tv_nsec * sysconf (_SC_CLK_TCK) / G_GUINT64_CONSTANT (1000000000);
}

static char *
read_apparmor_label (guint32 pid)
{
  /* attr/apparmor/ is AppArmor's own even when other LSMs are stacked;
   * attr/current is the older place (and SELinux's). */
  const char *files[] = { "attr/apparmor/current", "attr/current" };
  char *label = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (files) && label == NULL; i++)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%u/%s", pid, files[i]);

      g_file_get_contents (path, &label, NULL, NULL);
    }
  return label;
}

static gboolean
same_namespaces (CkAccessControl *self,
                 guint32          pid)
{
  g_autofree char *name = g_strdup_printf ("%u", pid);

  for (guint i = 0; i < G_N_ELEMENTS (namespaces); i++)
    if (read_namespace (name, namespaces[i]) != self->ns[i])
      return FALSE;
  return TRUE;
}

/* Whether caller->pid runs in a sandbox. Flatpak puts /.flatpak-info in
 * every sandbox (xdg-desktop-portal reads it this way too); other
 * sandboxes (bubblewrap, firejail, containers, a snap's base) give the
 * process a root directory of its own; snapd confines a snap with an
 * AppArmor profile, which is also what a classic snap has. */
static void
inspect_process (CkAccessControl *self,
                 CkCaller        *caller)
{
  g_autofree char *root = g_strdup_printf ("/proc/%u/root", caller->pid);
  g_autofree char *info = g_build_filename (root, ".flatpak-info", NULL);
  g_autofree char *exe_link = g_strdup_printf ("/proc/%u/exe", caller->pid);
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  struct stat st;

  caller->exe = g_file_read_link (exe_link, NULL);

  if (stat (root, &st) != 0 || access (root, X_OK) != 0)
    {
      /* We cannot see into its filesystem: assume the worst. */
      g_debug ("Cannot inspect the root of process %u: %s", caller->pid, g_strerror (errno));
      caller->sandbox = "not inspectable";
    }
  else if (g_key_file_load_from_file (keyfile, info, G_KEY_FILE_NONE, NULL))
    {
      caller->sandbox = "Flatpak";
      caller->app_id = g_key_file_get_string (keyfile, "Application", "name", NULL);
    }
  else if (access (info, F_OK) == 0 || errno != ENOENT)
    caller->sandbox = "Flatpak";
  else if (st.st_dev != self->root_dev || st.st_ino != self->root_ino)
    caller->sandbox = "another root directory";
  else if (!same_namespaces (self, caller->pid))
    caller->sandbox = "other namespaces";
  else
    {
      g_autofree char *label = read_apparmor_label (caller->pid);

      if ((caller->app_id = ck_apparmor_label_get_snap (label)) != NULL)
        caller->sandbox = "snap";
    }

  caller->sandboxed = caller->sandbox != NULL;
}

/* Fills in the process behind the connection from @pidfd (the bus's, or
 * -1; taken) or caller->pid. FALSE when that process is gone, or when its
 * PID may have changed hands while we looked. */
static gboolean
identify_process (CkAccessControl *self,
                  CkCaller        *caller,
                  int              pidfd,
                  gboolean         have_pid,
                  guint64          appeared)
{
  guint64 started = 0;
  gboolean alive = TRUE;
  int pid;

  if (pidfd >= 0)
    {
      pid = ck_pidfd_get_pid (pidfd);
      if (pid < 0)
        {
          close (pidfd);
          return FALSE;
        }
      if (pid > 0 && have_pid && caller->pid != (guint32) pid)
        g_debug ("The bus says pid %u, its pidfd %d", caller->pid, pid);
      if (pid > 0)
        caller->pid = pid;
      /* 0: alive, but in a PID namespace we do not see into. */
      have_pid = pid > 0;
    }
  else if (have_pid)
    {
      /* What is left is the time the bus took to answer. The start time
       * stands in where pidfd_open() is not allowed (old kernels,
       * seccomp). */
      pidfd = pidfd_open (caller->pid, 0);
      if (pidfd < 0 && errno == ESRCH)
        return FALSE;
      started = read_start_time (caller->pid);
      /* The bus gives the PID of the process that connected. One that
       * started after the connection appeared is not it: that process
       * exited (its connection kept by a child) and its PID changed
       * hands. Connections older than the agent are not known here. */
      if (appeared != 0 && started > appeared)
        {
          g_debug ("Process %u started after its connection appeared", caller->pid);
          if (pidfd >= 0)
            close (pidfd);
          return FALSE;
        }
    }

  if (have_pid)
    inspect_process (self, caller);
  else
    {
      caller->sandbox = "not inspectable";
      caller->sandboxed = TRUE;
    }

  if (pidfd >= 0)
    {
      alive = ck_pidfd_is_alive (pidfd);
      close (pidfd);
    }
  else if (started != 0)
    alive = read_start_time (caller->pid) == started;
  return alive;
}

static void
on_credentials (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  CkAccessControl *self = g_task_get_source_object (task);
  const char *sender = g_task_get_task_data (task);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(GUnixFDList) fd_list = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CkCaller) caller = NULL;
  gboolean have_uid, have_pid;
  const guint64 *appeared;
  gint32 fd_index;
  int pidfd = -1;

  reply = g_dbus_connection_call_with_unix_fd_list_finish (G_DBUS_CONNECTION (object), &fd_list,
                                                           result, &error);
  if (reply == NULL)
    {
      g_debug ("Cannot identify %s: %s", sender, error->message);
      g_task_return_new_error (task, CK_ERROR, CK_ERROR_ACCESS_DENIED,
                               "The caller could not be identified.");
      return;
    }

  caller = g_atomic_rc_box_new0 (CkCaller);
  caller->sender = g_strdup (sender);
  g_variant_get (reply, "(@a{sv})", &dict);
  have_uid = g_variant_lookup (dict, "UnixUserID", "u", &caller->uid);
  have_pid = g_variant_lookup (dict, "ProcessID", "u", &caller->pid);
  if (fd_list != NULL && g_variant_lookup (dict, "ProcessFD", "h", &fd_index))
    pidfd = g_unix_fd_list_get (fd_list, fd_index, NULL);

  if (!have_uid)
    caller->uid = G_MAXUINT32;
  appeared = g_hash_table_lookup (self->appeared, sender);
  if (!identify_process (self, caller, pidfd, have_pid, appeared != NULL ? *appeared : 0))
    {
      /* Not cached: the next call asks again (and fails again). */
      g_debug ("The process behind %s exited before it was identified", sender);
      g_task_return_new_error (task, CK_ERROR, CK_ERROR_ACCESS_DENIED,
                               "The caller could not be identified.");
      return;
    }

  /* The bus orders messages: if the caller disconnects, NameOwnerChanged
   * arrives after this reply and removes the entry again. */
  g_mutex_lock (&self->lock);
  g_hash_table_replace (self->callers, g_strdup (sender), ck_caller_ref (caller));
  g_mutex_unlock (&self->lock);

  g_task_return_pointer (task, g_steal_pointer (&caller), (GDestroyNotify) ck_caller_unref);
}

static void
on_name_owner_changed (GDBusConnection *connection,
                       const char      *sender_name,
                       const char      *object_path,
                       const char      *interface_name,
                       const char      *signal_name,
                       GVariant        *parameters,
                       gpointer         user_data)
{
  CkAccessControl *self = user_data;
  const char *name, *old_owner, *new_owner;

  g_variant_get (parameters, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (name[0] == ':' && old_owner[0] == '\0' && new_owner[0] != '\0')
    {
      guint64 now = boot_ticks_now ();

      if (now != 0)
        g_hash_table_replace (self->appeared, g_strdup (name), g_memdup2 (&now, sizeof now));
    }
  if (name[0] == ':' && new_owner[0] == '\0')
    {
      g_hash_table_remove (self->appeared, name);
      g_mutex_lock (&self->lock);
      g_hash_table_remove (self->callers, name);
      g_mutex_unlock (&self->lock);
      g_hash_table_remove (self->refused, name);
    }
}

CkAccessControl *
ck_access_control_new (GDBusConnection *connection)
{
  CkAccessControl *self;

  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);

  self = g_object_new (CK_TYPE_ACCESS_CONTROL, NULL);
  self->connection = g_object_ref (connection);
  self->name_owner_id =
    g_dbus_connection_signal_subscribe (connection, "org.freedesktop.DBus",
                                        "org.freedesktop.DBus", "NameOwnerChanged",
                                        "/org/freedesktop/DBus", NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE,
                                        on_name_owner_changed, self, NULL);
  return self;
}

/* Safe to call from any thread. */
CkCaller *
ck_access_control_dup_caller (CkAccessControl *self,
                              const char      *sender)
{
  CkCaller *caller;

  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (self), NULL);

  if (sender == NULL)
    return NULL;

  g_mutex_lock (&self->lock);
  caller = g_hash_table_lookup (self->callers, sender);
  if (caller != NULL)
    ck_caller_ref (caller);
  g_mutex_unlock (&self->lock);
  return caller;
}

void
ck_access_control_identify_async (CkAccessControl     *self,
                                  const char          *sender,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  CkCaller *caller;

  g_return_if_fail (CK_IS_ACCESS_CONTROL (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ck_access_control_identify_async);
  g_task_set_task_data (task, g_strdup (sender), g_free);

  if ((caller = ck_access_control_dup_caller (self, sender)))
    {
      g_task_return_pointer (task, caller, (GDestroyNotify) ck_caller_unref);
      return;
    }

  if (sender == NULL)
    {
      /* A peer-to-peer connection has no bus to ask; we never offer one. */
      g_task_return_new_error (task, CK_ERROR, CK_ERROR_ACCESS_DENIED,
                               "The caller could not be identified.");
      return;
    }

  /* With a fd list for the reply: ProcessFD comes in it. */
  g_dbus_connection_call_with_unix_fd_list (self->connection, "org.freedesktop.DBus",
                                            "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                            "GetConnectionCredentials",
                                            g_variant_new ("(s)", sender),
                                            G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE,
                                            5000, NULL, cancellable, on_credentials,
                                            g_steal_pointer (&task));
}

CkCaller *
ck_access_control_identify_finish (CkAccessControl  *self,
                                   GAsyncResult     *result,
                                   GError          **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* The policy alone, safe to call from any thread. */
gboolean
ck_access_control_permits (CkAccessControl *self,
                           const CkCaller  *caller)
{
  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (self), FALSE);

  return caller->uid == self->uid &&
         (!caller->sandboxed || g_atomic_int_get (&self->allow_sandboxed));
}

/* The unique names of the connected callers that are permitted now. */
GStrv
ck_access_control_dup_permitted (CkAccessControl *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  GHashTableIter iter;
  CkCaller *caller;

  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (self), NULL);

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->callers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &caller))
    if (ck_access_control_permits (self, caller))
      g_strv_builder_add (builder, caller->sender);
  g_mutex_unlock (&self->lock);
  return g_strv_builder_end (builder);
}

gboolean
ck_access_control_allows (CkAccessControl  *self,
                          const CkCaller   *caller,
                          GError          **error)
{
  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (self), FALSE);

  if (ck_access_control_permits (self, caller))
    return TRUE;

  if (caller->uid != self->uid)
    {
      if (g_hash_table_add (self->refused, g_strdup (caller->sender)))
        g_message ("Refused a caller of another user (uid %u, pid %u)", caller->uid, caller->pid);
      g_set_error_literal (error, CK_ERROR, CK_ERROR_ACCESS_DENIED,
                           "Only processes of the same user may use claude-keyring.");
    }
  else
    {
      if (g_hash_table_add (self->refused, g_strdup (caller->sender)))
        g_message ("Refused a sandboxed caller (%s, pid %u)",
                   caller->app_id != NULL ? caller->app_id : caller->sandbox, caller->pid);
      g_set_error_literal (error, CK_ERROR, CK_ERROR_ACCESS_DENIED,
                           "Sandboxed applications may not read Claude credentials; "
                           "allow them with the allow-sandboxed-callers setting.");
    }
  return FALSE;
}

gboolean
ck_access_control_get_allow_sandboxed (CkAccessControl *self)
{
  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (self), FALSE);

  return self->allow_sandboxed;
}

void
ck_access_control_set_allow_sandboxed (CkAccessControl *self,
                                       gboolean         allow)
{
  g_return_if_fail (CK_IS_ACCESS_CONTROL (self));

  allow = !!allow;
  if (self->allow_sandboxed != allow)
    {
      g_atomic_int_set (&self->allow_sandboxed, allow);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ALLOW_SANDBOXED]);
    }
}

static void
ck_access_control_dispose (GObject *object)
{
  CkAccessControl *self = (CkAccessControl *) object;

  if (self->name_owner_id != 0)
    {
      g_dbus_connection_signal_unsubscribe (self->connection, self->name_owner_id);
      self->name_owner_id = 0;
    }
  g_clear_object (&self->connection);
  g_mutex_lock (&self->lock);
  g_hash_table_remove_all (self->callers);
  g_mutex_unlock (&self->lock);

  G_OBJECT_CLASS (ck_access_control_parent_class)->dispose (object);
}

static void
ck_access_control_finalize (GObject *object)
{
  CkAccessControl *self = (CkAccessControl *) object;

  g_clear_pointer (&self->callers, g_hash_table_unref);
  g_clear_pointer (&self->refused, g_hash_table_unref);
  g_clear_pointer (&self->appeared, g_hash_table_unref);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (ck_access_control_parent_class)->finalize (object);
}

static void
ck_access_control_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  CkAccessControl *self = CK_ACCESS_CONTROL (object);

  switch (prop_id)
    {
    case PROP_ALLOW_SANDBOXED:
      g_value_set_boolean (value, self->allow_sandboxed);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_access_control_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  CkAccessControl *self = CK_ACCESS_CONTROL (object);

  switch (prop_id)
    {
    case PROP_ALLOW_SANDBOXED:
      ck_access_control_set_allow_sandboxed (self, g_value_get_boolean (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_access_control_class_init (CkAccessControlClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_access_control_dispose;
  object_class->finalize = ck_access_control_finalize;
  object_class->get_property = ck_access_control_get_property;
  object_class->set_property = ck_access_control_set_property;

  properties[PROP_ALLOW_SANDBOXED] =
    g_param_spec_boolean ("allow-sandboxed", NULL, NULL, FALSE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ck_access_control_init (CkAccessControl *self)
{
  struct stat st;

  g_mutex_init (&self->lock);
  self->uid = getuid ();
  /* Left 0 when unknown, which no real root has: every caller is then
   * sandboxed, which fails safe. */
  if (stat ("/proc/self/root", &st) == 0)
    {
      self->root_dev = st.st_dev;
      self->root_ino = st.st_ino;
    }
  self->callers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) ck_caller_unref);
  self->refused = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->appeared = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 0; i < G_N_ELEMENTS (namespaces); i++)
    self->ns[i] = read_namespace ("self", namespaces[i]);
}
