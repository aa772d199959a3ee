/* ck-auto-import.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * `claude /login` writes the login to .credentials.json in claude's
 * configuration directory, by rename or in place. The agent watches those
 * directories (not the file: a rename replaces it) and, once the file has
 * been quiet for a moment, imports it the way ImportCredentials does,
 * checks the stored copy, takes the login out of the file and tells the
 * user.
 *
 * Nothing here may lose a login: a file is only read through
 * ck_claude_credentials_read (no link, a regular file, bounded) and only
 * when it is the user's own in a directory no one else may write, a file
 * that does not parse is left for claude to finish (the next change tries
 * again), one that is older than the stored login is left alone, and the
 * file goes only while it is still the one read
 * (ck_claude_credentials_remove_login). A keyring that is locked keeps
 * the file where it is; it is tried again with a backoff and as soon as
 * the keyring changes. Whatever is left in place is reported by doctor.
 *
 * Which stored login a file's login goes to is stored_login_for() and
 * import_login(): the account ck_token_store_pick_oauth_account picks.
 */

#define G_LOG_DOMAIN "ck-auto-import"

#include "config.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "ck-auto-import.h"
#include "ck-claude-credentials.h"
#include "ck-claude-settings.h"
#include "ck-doctor.h"
#include "ck-error.h"

/* How long the file must be quiet before it is read: claude's writes
 * (a rename, or a truncate and a write) come within a few milliseconds,
 * and the whole import must take well under two seconds. */
#define SETTLE_MS 250
/* A locked or missing keyring: tried again after 1 s, 2 s, … 60 s. */
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 60000

typedef enum
{
  PROBLEM_NONE,
  PROBLEM_UNREADABLE,  /* a link, not a regular file, too large */
  PROBLEM_FOREIGN,     /* another user's file, or others may write there */
  PROBLEM_MALFORMED,   /* not a login the agent can read */
  PROBLEM_EXPIRED,     /* expired, and no refresh token */
  PROBLEM_OLDER,       /* older than the login stored */
  PROBLEM_KEYRING,     /* locked or unavailable: tried again */
  PROBLEM_IMPORT,
  PROBLEM_VERIFY,
  PROBLEM_REMOVE,      /* stored, but the file stayed */
} Problem;

typedef struct
{
  CkAutoImport *self;         /* not a reference: stopped before self goes */
  char         *dir;
  char         *path;
  GFileMonitor *monitor;
  GFileMonitor *parent_monitor; /* only while dir is missing at the start */
  GCancellable *cancellable;
  guint         check_id;
  guint         retry_ms;     /* the last backoff */
  gboolean      busy;
  gboolean      again;        /* changed while busy */
  gboolean      stopped;
  Problem       problem;
  char         *message;      /* why, for doctor; never a secret */
} Watch;

struct _CkAutoImport
{
  GObject          parent_instance;

  GSettings       *settings;
  CkTokenStore    *store;
  CkOAuthManager  *oauth;
  gboolean         started;
  gboolean         enabled;
  GHashTable      *watches;   /* directory → Watch */
};

G_DEFINE_FINAL_TYPE (CkAutoImport, ck_auto_import, G_TYPE_OBJECT)

enum {
  IMPORTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void check_now (Watch *watch);

/* Watches */

static void
watch_clear (Watch *watch)
{
  g_free (watch->dir);
  g_free (watch->path);
  g_free (watch->message);
  g_clear_object (&watch->cancellable);
}

static Watch *
watch_ref (Watch *watch)
{
  return g_rc_box_acquire (watch);
}

static void
watch_unref (Watch *watch)
{
  g_rc_box_release_full (watch, (GDestroyNotify) watch_clear);
}

static void
watch_stop (Watch *watch)
{
  watch->stopped = TRUE;
  g_cancellable_cancel (watch->cancellable);
  g_clear_handle_id (&watch->check_id, g_source_remove);
  if (watch->monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (watch->monitor, watch);
      g_file_monitor_cancel (watch->monitor);
      g_clear_object (&watch->monitor);
    }
  if (watch->parent_monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (watch->parent_monitor, watch);
      g_file_monitor_cancel (watch->parent_monitor);
      g_clear_object (&watch->parent_monitor);
    }
}

static void
watch_free (Watch *watch)
{
  watch_stop (watch);
  watch_unref (watch);
}

static void
set_problem (Watch      *watch,
             Problem     problem,
             const char *message)
{
  /* Logged once per change, not at every retry. */
  if (problem != PROBLEM_NONE &&
      (problem != watch->problem || g_strcmp0 (message, watch->message) != 0))
    g_message ("%s stays in place: %s", watch->path, message);
  /* The backoff is the keyring's: the next time starts short again. */
  if (problem != PROBLEM_KEYRING)
    watch->retry_ms = 0;
  watch->problem = problem;
  g_free (watch->message);
  watch->message = g_strdup (message);
}

static gboolean
on_check (gpointer user_data)
{
  Watch *watch = user_data;

  watch->check_id = 0;
  check_now (watch);
  return G_SOURCE_REMOVE;
}

/* Looks at the file once it has been quiet for @delay_ms. */
static void
schedule_check (Watch *watch,
                guint  delay_ms)
{
  g_clear_handle_id (&watch->check_id, g_source_remove);
  watch->check_id = g_timeout_add (delay_ms, on_check, watch);
}

/* A locked or missing keyring: the next look after a backoff, unless a
 * change of the file or of the keyring comes first. */
static void
schedule_retry (Watch *watch)
{
  watch->retry_ms = watch->retry_ms == 0 ? RETRY_MIN_MS : MIN (watch->retry_ms * 2, RETRY_MAX_MS);
  schedule_check (watch, watch->retry_ms);
}

static gboolean
names_credentials (GFile *file)
{
  g_autofree char *name = file != NULL ? g_file_get_basename (file) : NULL;

  return g_strcmp0 (name, CK_CLAUDE_CREDENTIALS_FILE) == 0;
}

static void
on_directory_changed (GFileMonitor      *monitor,
                      GFile             *file,
                      GFile             *other_file,
                      GFileMonitorEvent  event,
                      gpointer           user_data)
{
  Watch *watch = user_data;
  g_autofree char *path = g_file_get_path (file);

  /* The file itself under either name of a rename, or the directory
   * (created after the watch began: what it holds was never seen). */
  if (names_credentials (file) || names_credentials (other_file) ||
      g_strcmp0 (path, watch->dir) == 0)
    schedule_check (watch, SETTLE_MS);
}

/* The directory, since claude may replace the file by a rename. */
static void
monitor_directory (Watch *watch)
{
  g_autoptr(GFile) file = g_file_new_for_path (watch->dir);
  g_autoptr(GError) error = NULL;

  if (watch->monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (watch->monitor, watch);
      g_file_monitor_cancel (watch->monitor);
      g_clear_object (&watch->monitor);
    }
  watch->monitor = g_file_monitor_directory (file, G_FILE_MONITOR_NONE, NULL, &error);
  if (watch->monitor == NULL)
    {
      g_warning ("Cannot watch %s for claude's logins: %s", watch->dir, error->message);
      return;
    }
  /* Changes to the same file are otherwise held back for 800 ms. */
  g_file_monitor_set_rate_limit (watch->monitor, 50);
  g_signal_connect (watch->monitor, "changed", G_CALLBACK (on_directory_changed), watch);
}

/* GIO notices a missing directory's creation only by polling it every
 * 4 s, while claude makes its directory and writes the login at once:
 * the parent says when it appears, and the directory is watched anew. */
static void
on_parent_changed (GFileMonitor      *monitor,
                   GFile             *file,
                   GFile             *other_file,
                   GFileMonitorEvent  event,
                   gpointer           user_data)
{
  Watch *watch = user_data;
  g_autofree char *path = g_file_get_path (file);
  g_autofree char *other_path = other_file != NULL ? g_file_get_path (other_file) : NULL;

  if ((g_strcmp0 (path, watch->dir) == 0 || g_strcmp0 (other_path, watch->dir) == 0) &&
      g_file_test (watch->dir, G_FILE_TEST_IS_DIR))
    {
      monitor_directory (watch);
      schedule_check (watch, SETTLE_MS);
    }
}

static Watch *
watch_new (CkAutoImport *self,
           const char   *dir)
{
  Watch *watch = g_rc_box_new0 (Watch);

  watch->self = self;
  watch->dir = g_strdup (dir);
  watch->path = g_build_filename (dir, CK_CLAUDE_CREDENTIALS_FILE, NULL);
  watch->cancellable = g_cancellable_new ();

  monitor_directory (watch);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GFile) file = g_file_new_for_path (dir);
      g_autoptr(GFile) parent = g_file_get_parent (file);

      if (parent != NULL &&
          (watch->parent_monitor = g_file_monitor_directory (parent, G_FILE_MONITOR_NONE,
                                                             NULL, NULL)) != NULL)
        g_signal_connect (watch->parent_monitor, "changed", G_CALLBACK (on_parent_changed), watch);
    }
  return watch;
}

/* Which directories */

static char *
expand_dir (const char *dir)
{
  if (dir[0] == '~' && (dir[1] == '/' || dir[1] == '\0'))
    {
      g_autofree char *path = g_build_filename (g_get_home_dir (), dir + 1, NULL);

      return g_canonicalize_filename (path, NULL);
    }
  if (!g_path_is_absolute (dir))
    return NULL;
  return g_canonicalize_filename (dir, NULL);
}

/* claude's own directory, as `import` finds it ($CLAUDE_CONFIG_DIR of the
 * agent, else ~/.claude), then the ones of claude-config-dirs. */
static GPtrArray *
dup_directories (CkAutoImport *self)
{
  g_auto(GStrv) extra = g_settings_get_strv (self->settings, "claude-config-dirs");
  g_autofree char *own = ck_claude_settings_get_config_dir ();
  GPtrArray *dirs = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (dirs, g_canonicalize_filename (own, NULL));
  for (guint i = 0; extra[i] != NULL; i++)
    {
      char *dir = expand_dir (extra[i]);

      if (dir == NULL)
        g_warning ("claude-config-dirs: “%s” is not an absolute path; it is not watched", extra[i]);
      else if (g_ptr_array_find_with_equal_func (dirs, dir, g_str_equal, NULL))
        g_free (dir);
      else
        g_ptr_array_add (dirs, dir);
    }
  return dirs;
}

static void
update_watches (CkAutoImport *self)
{
  g_autoptr(GPtrArray) dirs = NULL;
  GHashTableIter iter;
  const char *dir;

  self->enabled = self->started && g_settings_get_boolean (self->settings, "auto-import");
  dirs = self->enabled ? dup_directories (self) : g_ptr_array_new ();

  g_hash_table_iter_init (&iter, self->watches);
  while (g_hash_table_iter_next (&iter, (gpointer *) &dir, NULL))
    {
      if (!g_ptr_array_find_with_equal_func (dirs, dir, g_str_equal, NULL))
        g_hash_table_iter_remove (&iter);
    }

  for (guint i = 0; i < dirs->len; i++)
    {
      Watch *watch;

      dir = g_ptr_array_index (dirs, i);
      if (g_hash_table_contains (self->watches, dir))
        continue;
      watch = watch_new (self, dir);
      g_hash_table_insert (self->watches, g_strdup (dir), watch);
      g_debug ("Watching %s for claude's logins", watch->path);
      /* What claude wrote while nobody watched. */
      schedule_check (watch, 0);
    }
}

/* Which stored login: the account the login belongs to (the same
 * account uuid, else the same email), as the import picks it; NULL when
 * the login is a new account. */

static CkOAuthTokens *
stored_login_for (CkAutoImport        *self,
                  const CkOAuthTokens *tokens)
{
  g_autofree char *id = NULL;
  g_autofree char *name = NULL;

  if (!ck_token_store_pick_oauth_account (self->store, tokens, NULL, &id, &name, NULL))
    return NULL;
  return ck_token_store_get_oauth_for (self->store, id);
}

static void
import_login (CkAutoImport        *self,
              CkOAuthTokens       *tokens,
              GCancellable        *cancellable,
              GAsyncReadyCallback  callback,
              gpointer             user_data)
{
  /* Through the manager, as ImportCredentials: a refresh in flight
   * cannot overwrite it. */
  ck_oauth_manager_import_async (self->oauth, tokens, cancellable, callback, user_data);
}

/* One look at the file */

typedef struct
{
  Watch                      *watch;      /* a reference */
  char                       *contents;   /* a secret */
  gsize                       length;
  CkClaudeCredentialsStamp    stamp;
  GError                     *error;
  CkOAuthTokens              *tokens;
  gboolean                    imported;
  CkClaudeCredentialsRemoval  removal;
  gint64                      started;
} Attempt;

static void
attempt_free (Attempt *attempt)
{
  if (attempt->contents != NULL)
    {
      explicit_bzero (attempt->contents, attempt->length);
      g_free (attempt->contents);
    }
  g_clear_error (&attempt->error);
  g_clear_pointer (&attempt->tokens, ck_oauth_tokens_unref);
  watch_unref (attempt->watch);
  g_free (attempt);
}

static void
attempt_end (Attempt *attempt)
{
  Watch *watch = attempt->watch;

  watch->busy = FALSE;
  if (watch->again && !watch->stopped)
    schedule_check (watch, SETTLE_MS);
  attempt_free (attempt);
}

static void
run_in_thread (Attempt             *attempt,
               GTaskThreadFunc      func,
               GAsyncReadyCallback  callback)
{
  g_autoptr(GTask) task = g_task_new (attempt->watch->self, attempt->watch->cancellable,
                                      callback, attempt);

  g_task_set_source_tag (task, run_in_thread);
  g_task_set_task_data (task, attempt, NULL);
  g_task_run_in_thread (task, func);
}

/* Like the doctor's reads, off the main loop: a home directory on a slow
 * or hung file system must not stall the agent. */
/* Group write is ours alone in a user private group (umask 002). */
static gboolean
group_is_private (gid_t gid)
{
  struct group *group = getgrgid (gid);
  struct passwd *user = getpwuid (getuid ());

  return gid == getgid () && group != NULL && user != NULL &&
         (group->gr_mem == NULL || group->gr_mem[0] == NULL) &&
         g_strcmp0 (group->gr_name, user->pw_name) == 0;
}

static gboolean
writable_by_others (const struct stat *st)
{
  return st->st_uid != getuid () || (st->st_mode & S_IWOTH) != 0 ||
         ((st->st_mode & S_IWGRP) != 0 && !group_is_private (st->st_gid));
}

/* Only a login the user wrote is taken in: a file of another user, or one
 * in a directory others may write to (a shared claude-config-dirs entry),
 * could be anyone's login pushed into the user's keyring, and is not the
 * agent's to remove either. Checked on the very file read (its inode). */
static gboolean
check_owner (Watch                          *watch,
             const CkClaudeCredentialsStamp *stamp,
             GError                        **error)
{
  struct stat dir_st, file_st;

  if (stat (watch->dir, &dir_st) != 0 || lstat (watch->path, &file_st) != 0 ||
      file_st.st_ino != stamp->inode || file_st.st_dev != stamp->device)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_AGAIN, "%s changed while it was read", watch->path);
      return FALSE;
    }
  if (writable_by_others (&file_st) || writable_by_others (&dir_st))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                   "%s or its directory belongs to another user or may be written by others",
                   watch->path);
      return FALSE;
    }
  return TRUE;
}

static void
read_in_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  Attempt *attempt = task_data;

  if (ck_claude_credentials_read (attempt->watch->path, &attempt->contents, &attempt->length,
                                  &attempt->stamp, &attempt->error) &&
      !check_owner (attempt->watch, &attempt->stamp, &attempt->error))
    {
      explicit_bzero (attempt->contents, attempt->length);
      g_clear_pointer (&attempt->contents, g_free);
      attempt->length = 0;
    }
  g_task_return_boolean (task, TRUE);
}

static void
remove_in_thread (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  Attempt *attempt = task_data;

  ck_claude_credentials_remove_login (attempt->watch->path, attempt->contents, attempt->length,
                                      &attempt->stamp, &attempt->removal, &attempt->error);
  g_task_return_boolean (task, TRUE);
}

static void
on_removed (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Attempt *attempt = user_data;
  Watch *watch = attempt->watch;
  CkAutoImport *self = CK_AUTO_IMPORT (object);
  const char *account = attempt->tokens->account_email;
  gint64 ms = (g_get_monotonic_time () - attempt->started) / 1000;

  if (!g_task_propagate_boolean (G_TASK (result), NULL))
    {
      attempt_end (attempt);
      return;
    }

  if (attempt->error != NULL)
    {
      set_problem (watch, PROBLEM_REMOVE, attempt->error->message);
      attempt_end (attempt);
      return;
    }

  switch (attempt->removal)
    {
    case CK_CLAUDE_CREDENTIALS_CHANGED:
      /* claude wrote it again meanwhile: that write is the next look. */
      g_debug ("%s changed while it was imported; looking again", watch->path);
      watch->again = TRUE;
      break;

    case CK_CLAUDE_CREDENTIALS_REMOVED:
    case CK_CLAUDE_CREDENTIALS_KEPT_REST:
    case CK_CLAUDE_CREDENTIALS_GONE:
    default:
      set_problem (watch, PROBLEM_NONE, NULL);
      if (attempt->imported)
        {
          g_message ("Imported the Claude login%s%s from %s into the keyring and %s the file (%" G_GINT64_FORMAT " ms)",
                     account != NULL ? " of " : "", account != NULL ? account : "", watch->path,
                     attempt->removal == CK_CLAUDE_CREDENTIALS_KEPT_REST ? "took it out of" : "removed",
                     ms);
          g_signal_emit (self, signals[IMPORTED], 0, watch->path, account != NULL ? account : "");
        }
      break;
    }
  attempt_end (attempt);
}

static void
remove_login (Attempt *attempt)
{
  run_in_thread (attempt, remove_in_thread, on_removed);
}

static void
on_imported (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  Attempt *attempt = user_data;
  Watch *watch = attempt->watch;
  g_autoptr(GError) error = NULL;
  CkOAuthTokens *stored;

  if (!ck_oauth_manager_import_finish (CK_OAUTH_MANAGER (object), result, &error))
    {
      if (watch->stopped)
        g_debug ("Import from %s ended after the watch: %s", watch->path, error->message);
      else if (g_error_matches (error, CK_ERROR, CK_ERROR_KEYRING_LOCKED) ||
               g_error_matches (error, CK_ERROR, CK_ERROR_KEYRING_UNAVAILABLE))
        {
          set_problem (watch, PROBLEM_KEYRING, error->message);
          schedule_retry (watch);
        }
      else
        set_problem (watch, PROBLEM_IMPORT, error->message);
      attempt_end (attempt);
      return;
    }
  /* Stopped meanwhile (auto-import turned off): the file stays. */
  if (watch->stopped)
    {
      attempt_end (attempt);
      return;
    }
  attempt->imported = TRUE;

  /* The store read the keyring back after writing: what it holds now is
   * what the keyring gives. Anything else, and the file stays. */
  stored = stored_login_for (watch->self, attempt->tokens);
  if (!ck_oauth_tokens_equal (stored, attempt->tokens))
    {
      set_problem (watch, PROBLEM_VERIFY, "The keyring did not give back the login just stored.");
      attempt_end (attempt);
      return;
    }
  remove_login (attempt);
}

/* A JSON object without claudeAiOauth: claude's file holding only other
 * things (MCP servers' logins, as after a login is taken out of it). */
static gboolean
holds_no_login (const char *contents,
                gsize       length)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;

  return json_parser_load_from_data (parser, contents, length, NULL) &&
         (root = json_parser_get_root (parser)) != NULL &&
         JSON_NODE_HOLDS_OBJECT (root) &&
         !json_object_has_member (json_node_get_object (root), "claudeAiOauth");
}

/* The login read is usable: in the keyring already, older than what is
 * there, or to be imported. */
static void
decide (Attempt *attempt)
{
  Watch *watch = attempt->watch;
  CkAutoImport *self = watch->self;
  CkOAuthTokens *stored;

  stored = stored_login_for (self, attempt->tokens);
  if (stored != NULL && ck_oauth_tokens_equal (stored, attempt->tokens))
    {
      /* In the keyring already (`import --keep`, or a race with it). */
      remove_login (attempt);
      return;
    }

  /* A file claude wrote before the stored login was last renewed (left
   * behind by `import --keep`, say): its refresh token is used up. A new
   * login always expires later than the one it replaces. */
  if (stored != NULL && stored->expires_at_ms != 0 && attempt->tokens->expires_at_ms != 0 &&
      attempt->tokens->expires_at_ms < stored->expires_at_ms)
    {
      set_problem (watch, PROBLEM_OLDER, "It holds a login older than the one in the keyring.");
      attempt_end (attempt);
      return;
    }

  /* A new account never becomes the default by itself: with no default
   * set, the one chosen so far (the fallback, the latest expiry, which the
   * file sets) is pinned first, so a login dropped into the directory
   * cannot quietly serve every caller. */
  if (stored == NULL)
    {
      g_autofree char *named = g_settings_get_string (self->settings, "default-account");
      CkAccount *fallback = ck_token_store_get_fallback_account (self->store);

      if (ck_token_store_find_account (self->store, named) == NULL && fallback != NULL)
        g_settings_set_string (self->settings, "default-account", fallback->id);
    }
  import_login (self, attempt->tokens, watch->cancellable, on_imported, attempt);
}

static void
on_store_loaded (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Attempt *attempt = user_data;
  Watch *watch = attempt->watch;
  CkTokenStore *store = CK_TOKEN_STORE (object);

  ck_token_store_load_finish (store, result, NULL);
  if (watch->stopped)
    {
      attempt_end (attempt);
      return;
    }
  if (ck_token_store_get_state (store) != CK_KEYRING_STATE_READY)
    {
      /* Tried again with a backoff, and as soon as the keyring changes. */
      set_problem (watch, PROBLEM_KEYRING,
                   ck_token_store_get_state_message (store) != NULL
                     ? ck_token_store_get_state_message (store)
                     : "The keyring cannot be read.");
      schedule_retry (watch);
      attempt_end (attempt);
      return;
    }
  decide (attempt);
}

static void
on_read (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Attempt *attempt = user_data;
  Watch *watch = attempt->watch;
  CkAutoImport *self = CK_AUTO_IMPORT (object);
  g_autoptr(GError) error = NULL;
  gint64 now_ms = g_get_real_time () / 1000;

  if (!g_task_propagate_boolean (G_TASK (result), NULL))
    {
      attempt_end (attempt);
      return;
    }

  if (attempt->error != NULL)
    {
      if (g_error_matches (attempt->error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        set_problem (watch, PROBLEM_NONE, NULL);
      else if (g_error_matches (attempt->error, G_FILE_ERROR, G_FILE_ERROR_AGAIN))
        watch->again = TRUE;
      else if (g_error_matches (attempt->error, G_FILE_ERROR, G_FILE_ERROR_PERM))
        set_problem (watch, PROBLEM_FOREIGN, attempt->error->message);
      else
        set_problem (watch, PROBLEM_UNREADABLE, attempt->error->message);
      attempt_end (attempt);
      return;
    }

  attempt->tokens = ck_oauth_tokens_new_from_credentials_file (attempt->contents, attempt->length, &error);
  if (attempt->tokens == NULL)
    {
      if (holds_no_login (attempt->contents, attempt->length))
        {
          g_debug ("%s holds no Claude login; left alone", watch->path);
          set_problem (watch, PROBLEM_NONE, NULL);
        }
      else
        /* Half written, perhaps: the rest of the write is the next look. */
        set_problem (watch, PROBLEM_MALFORMED, error->message);
      attempt_end (attempt);
      return;
    }

  /* A login that can no longer be used or renewed would only push out a
   * working one. */
  if ((attempt->tokens->refresh_token == NULL || attempt->tokens->refresh_token[0] == '\0') &&
      attempt->tokens->expires_at_ms != 0 && attempt->tokens->expires_at_ms <= now_ms)
    {
      set_problem (watch, PROBLEM_EXPIRED, "It holds an expired login without a refresh token.");
      attempt_end (attempt);
      return;
    }

  /* The stored login must be known before this one may replace it: not
   * read yet, or hidden by a locked keyring, it is read first. */
  if (ck_token_store_get_state (self->store) != CK_KEYRING_STATE_READY)
    {
      ck_token_store_load_async (self->store, watch->cancellable, on_store_loaded, attempt);
      return;
    }
  decide (attempt);
}

static void
check_now (Watch *watch)
{
  Attempt *attempt;

  if (watch->stopped)
    return;
  if (watch->busy)
    {
      watch->again = TRUE;
      return;
    }

  watch->busy = TRUE;
  watch->again = FALSE;

  attempt = g_new0 (Attempt, 1);
  attempt->watch = watch_ref (watch);
  attempt->started = g_get_monotonic_time ();
  run_in_thread (attempt, read_in_thread, on_read);
}

/* The keyring unlocked (or changed otherwise): what waits for it goes now. */
static void
on_store_changed (CkAutoImport *self)
{
  GHashTableIter iter;
  Watch *watch;

  if (ck_token_store_get_state (self->store) != CK_KEYRING_STATE_READY)
    return;

  g_hash_table_iter_init (&iter, self->watches);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &watch))
    {
      if (watch->problem == PROBLEM_KEYRING && !watch->busy)
        schedule_check (watch, 0);
    }
}

/* Doctor */

static char *
sentence (const char *text)
{
  gsize length = text != NULL ? strlen (text) : 0;

  if (length == 0)
    return g_strdup ("");
  return text[length - 1] == '.' ? g_strdup (text) : g_strconcat (text, ".", NULL);
}

static void
add_problem_check (GVariantBuilder *builder,
                   Watch           *watch)
{
  g_autofree char *message = sentence (watch->message);
  g_autofree char *by_hand = g_strdup_printf ("“claude-keyring import --config-dir %s”", watch->dir);
  g_autofree char *summary = NULL;
  g_autofree char *detail = NULL;

  switch (watch->problem)
    {
    case PROBLEM_UNREADABLE:
      summary = g_strdup_printf ("%s is not a file the agent reads; it was not imported.", watch->path);
      detail = g_strdup_printf ("%s The agent reads only a regular file there, never through a link; "
                                "for a link, run %s on the directory it points into.",
                                message, by_hand);
      break;
    case PROBLEM_FOREIGN:
      summary = g_strdup_printf ("%s is not only yours; it was not imported.", watch->path);
      detail = g_strdup_printf ("The agent takes in a login only from a file of yours in a directory "
                                "no one else may write to: another user could have put it there. "
                                "If the login is yours, run %s.", by_hand);
      break;
    case PROBLEM_MALFORMED:
      summary = g_strdup_printf ("%s failed to parse; it was left in place.", watch->path);
      detail = g_strdup_printf ("%s If claude is not writing it right now, log in again "
                                "(claude /login or “claude-keyring login”) and remove the broken file.",
                                message);
      break;
    case PROBLEM_EXPIRED:
      summary = g_strdup_printf ("%s holds an expired login; it was not imported.", watch->path);
      detail = g_strdup_printf ("%s Log in again (claude /login or “claude-keyring login”) "
                                "and remove the file.", message);
      break;
    case PROBLEM_OLDER:
      summary = g_strdup_printf ("%s holds an older login than the keyring; it was not imported.", watch->path);
      detail = g_strdup_printf ("The stored login was renewed after claude wrote this one. Remove the file, "
                                "or run %s to use it anyway.", by_hand);
      break;
    case PROBLEM_KEYRING:
      summary = g_strdup_printf ("The login in %s waits for the keyring.", watch->path);
      detail = g_strdup_printf ("%s The file stays in place until then and is imported as soon as "
                                "the keyring can be written.", message);
      break;
    case PROBLEM_IMPORT:
      summary = g_strdup_printf ("The login in %s could not be imported.", watch->path);
      detail = g_strdup_printf ("%s The file stays in place; run %s to try by hand.", message, by_hand);
      break;
    case PROBLEM_VERIFY:
      summary = g_strdup_printf ("The keyring did not give back the login imported from %s.", watch->path);
      detail = g_strdup_printf ("The file stays in place, so nothing is lost. Check the keyring "
                                "(Passwords and Keys), then run %s.", by_hand);
      break;
    case PROBLEM_REMOVE:
      summary = g_strdup_printf ("The login from %s is in the keyring, but the file stayed.", watch->path);
      detail = g_strdup_printf ("%s Remove the file yourself.", message);
      break;
    case PROBLEM_NONE:
    default:
      return;
    }
  ck_doctor_add_check (builder, "auto-import", "warn", summary, detail);
}

static int
compare_watches (gconstpointer a,
                 gconstpointer b)
{
  return g_strcmp0 (((const Watch *) a)->dir, ((const Watch *) b)->dir);
}

void
ck_auto_import_add_checks (gpointer         user_data,
                           GVariantBuilder *builder)
{
  CkAutoImport *self = user_data;
  g_autoptr(GList) watches = NULL;
  g_autoptr(GString) dirs = g_string_new (NULL);
  g_autofree char *summary = NULL;
  gboolean problems = FALSE;

  g_return_if_fail (CK_IS_AUTO_IMPORT (self));

  if (!self->enabled)
    {
      ck_doctor_add_check (builder, "auto-import", "ok",
                           "Logins claude writes are not imported by themselves (auto-import is off).",
                           "After claude /login, run “claude-keyring import”.");
      return;
    }

  watches = g_list_sort (g_hash_table_get_values (self->watches), compare_watches);
  for (const GList *l = watches; l != NULL; l = l->next)
    {
      Watch *watch = l->data;

      g_string_append_printf (dirs, "%s%s", l != watches ? ", " : "", watch->dir);
      if (watch->problem != PROBLEM_NONE)
        {
          add_problem_check (builder, watch);
          problems = TRUE;
        }
    }

  if (!problems)
    {
      summary = g_strdup_printf ("Logins claude writes to %s are moved into the keyring.", dirs->str);
      ck_doctor_add_check (builder, "auto-import", "ok", summary, NULL);
    }
}

/* Life cycle */

void
ck_auto_import_start (CkAutoImport *self)
{
  g_return_if_fail (CK_IS_AUTO_IMPORT (self));

  self->started = TRUE;
  update_watches (self);
}

void
ck_auto_import_stop (CkAutoImport *self)
{
  g_return_if_fail (CK_IS_AUTO_IMPORT (self));

  self->started = FALSE;
  update_watches (self);
}

CkAutoImport *
ck_auto_import_new (GSettings      *settings,
                    CkTokenStore   *store,
                    CkOAuthManager *oauth)
{
  CkAutoImport *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);
  g_return_val_if_fail (CK_IS_TOKEN_STORE (store), NULL);
  g_return_val_if_fail (CK_IS_OAUTH_MANAGER (oauth), NULL);

  self = g_object_new (CK_TYPE_AUTO_IMPORT, NULL);
  self->settings = g_object_ref (settings);
  self->store = g_object_ref (store);
  self->oauth = g_object_ref (oauth);

  /* Live: turning it off stops every watch, on starts them. */
  g_signal_connect_object (settings, "changed::auto-import",
                           G_CALLBACK (update_watches), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (settings, "changed::claude-config-dirs",
                           G_CALLBACK (update_watches), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (store, "changed",
                           G_CALLBACK (on_store_changed), self, G_CONNECT_SWAPPED);
  /* GSettings reports changes only of keys read once. */
  g_settings_get_boolean (settings, "auto-import");
  g_strfreev (g_settings_get_strv (settings, "claude-config-dirs"));
  return self;
}

static void
ck_auto_import_dispose (GObject *object)
{
  CkAutoImport *self = (CkAutoImport *) object;

  g_hash_table_remove_all (self->watches);
  g_clear_object (&self->settings);
  g_clear_object (&self->store);
  g_clear_object (&self->oauth);

  G_OBJECT_CLASS (ck_auto_import_parent_class)->dispose (object);
}

static void
ck_auto_import_finalize (GObject *object)
{
  CkAutoImport *self = (CkAutoImport *) object;

  g_hash_table_unref (self->watches);

  G_OBJECT_CLASS (ck_auto_import_parent_class)->finalize (object);
}

static void
ck_auto_import_class_init (CkAutoImportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_auto_import_dispose;
  object_class->finalize = ck_auto_import_finalize;

  /**
   * CkAutoImport::imported:
   * @path: the file the login came from
   * @account: its account's email address, or ""
   *
   * A login claude wrote is in the keyring, and out of the file.
   */
  signals[IMPORTED] =
    g_signal_new ("imported", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

static void
ck_auto_import_init (CkAutoImport *self)
{
  self->watches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) watch_free);
}
