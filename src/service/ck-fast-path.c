/* ck-fast-path.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * GDBus reads messages in its worker thread and hands method calls to the
 * main loop, which costs two thread wake-ups per call: more than the rest
 * of GetCredential together. Most calls ask again for what the previous
 * call got, so CkService teaches this filter every answer it gave from
 * memory (ck_fast_path_learn), and the filter sends the same reply from the
 * worker thread while the answer still holds:
 *
 *  - the caller was already identified and the policy still permits it;
 *  - the keyring's contents have not changed since (the store's
 *    generation) and the service has not forgotten the answer (a change of
 *    the helper command, for example);
 *  - an OAuth token is still valid for the min-validity asked for.
 *
 * Anything else (first calls, refreshes, errors, the helper) goes on to the
 * main loop as before. The answers and the access checks are the same on
 * both paths; only the thread differs.
 */

#define G_LOG_DOMAIN "ck-fast-path"

#include "config.h"

#include "ck-credential-options.h"
#include "ck-dbus-generated.h"
#include "ck-fast-path.h"

#define N_KINDS (CK_CREDENTIAL_KIND_OAUTH + 1)

typedef struct
{
  GVariant   *reply;       /* the (a{sv}) body */
  char       *source;
  gint64      expires_at;  /* unix seconds, 0 = does not expire */
  guint       generation;  /* the store's, when learnt */
} Answer;

/* Shared with the filter, which may outlive ck_fast_path_free() a little
 * (see g_dbus_connection_remove_filter()): refcounted, and "closed" tells
 * the filter to let everything through. The lock is held for the whole of
 * a filtered call; the main thread takes it only to learn or forget. */
typedef struct
{
  GMutex              lock;
  gboolean            closed;
  char               *object_path;
  CkAccessControl    *access;
  CkTokenStore       *store;
  CkReadLog          *read_log;
  Answer             *answers[N_KINDS];
  gboolean            has_rules;   /* a cwd may then choose another account */
} State;

struct _CkFastPath
{
  GDBusConnection *connection;
  guint            filter_id;
  State           *state;
};

static void
answer_free (Answer *answer)
{
  g_variant_unref (answer->reply);
  g_free (answer->source);
  g_free (answer);
}

static void
forget_locked (State *state)
{
  for (guint i = 0; i < N_KINDS; i++)
    g_clear_pointer (&state->answers[i], answer_free);
}

static void
state_clear (State *state)
{
  forget_locked (state);
  g_clear_object (&state->access);
  g_clear_object (&state->store);
  g_clear_object (&state->read_log);
  g_clear_pointer (&state->object_path, g_free);
  g_mutex_clear (&state->lock);
}

static void
state_unref (gpointer data)
{
  g_atomic_rc_box_release_full (data, (GDestroyNotify) state_clear);
}

static gboolean
is_get_credential (GDBusMessage *message,
                   const char   *object_path)
{
  return g_dbus_message_get_message_type (message) == G_DBUS_MESSAGE_TYPE_METHOD_CALL &&
         g_strcmp0 (g_dbus_message_get_member (message), "GetCredential") == 0 &&
         g_strcmp0 (g_dbus_message_get_interface (message),
                    ck_dbus_credentials1_interface_info ()->name) == 0 &&
         g_strcmp0 (g_dbus_message_get_path (message), object_path) == 0 &&
         g_strcmp0 (g_dbus_message_get_signature (message), "a{sv}") == 0;
}

/* Under the lock: the reply for @message, or NULL to let it through. */
static GDBusMessage *
answer_locked (State        *state,
               GDBusMessage *message,
               CkCaller    **caller_out,
               const char  **source_out)
{
  g_autoptr(CkCaller) caller = NULL;
  g_autoptr(GVariant) options = NULL;
  GDBusMessage *reply;
  CkCredentialKind kind;
  guint min_validity;
  const char *account, *cwd;
  Answer *answer;

  if (state->closed)
    return NULL;

  caller = ck_access_control_dup_caller (state->access, g_dbus_message_get_sender (message));
  if (caller == NULL || !ck_access_control_permits (state->access, caller))
    return NULL;

  options = g_variant_get_child_value (g_dbus_message_get_body (message), 0);
  if (!ck_credential_options_parse (options, &min_validity, &kind, NULL) ||
      !ck_credential_options_parse_account (options, &account, &cwd, NULL))
    return NULL;
  /* Learnt answers are the default account's. */
  if (account != NULL || (cwd != NULL && state->has_rules))
    return NULL;

  answer = state->answers[kind];
  if (answer == NULL || answer->generation != ck_token_store_get_generation (state->store))
    return NULL;
  /* As ck_oauth_tokens_valid_for(), to the second (so a little stricter).
   * In seconds, so that no expiry, however absurd, overflows. */
  if (answer->expires_at != 0 &&
      answer->expires_at <= g_get_real_time () / G_USEC_PER_SEC + (gint64) min_validity)
    return NULL;

  reply = g_dbus_message_new_method_reply (message);
  g_dbus_message_set_body (reply, answer->reply);
  *caller_out = g_steal_pointer (&caller);
  *source_out = answer->source;
  return reply;
}

static GDBusMessage *
filter_cb (GDBusConnection *connection,
           GDBusMessage    *message,
           gboolean         incoming,
           gpointer         user_data)
{
  State *state = user_data;
  g_autoptr(GDBusMessage) reply = NULL;
  g_autoptr(CkCaller) caller = NULL;
  g_autoptr(GError) error = NULL;
  const char *source = NULL;

  if (!incoming || !is_get_credential (message, state->object_path))
    return message;

  g_mutex_lock (&state->lock);
  reply = answer_locked (state, message, &caller, &source);
  if (reply != NULL)
    {
      /* Recorded first, as on the main loop's path. */
      ck_read_log_record (state->read_log, caller, source, TRUE);
      if (!(g_dbus_message_get_flags (message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) &&
          !g_dbus_connection_send_message (connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE,
                                           NULL, &error))
        g_debug ("Could not send a reply: %s", error->message);
    }
  g_mutex_unlock (&state->lock);

  if (reply == NULL)
    return message;
  g_object_unref (message);
  return NULL;
}

CkFastPath *
ck_fast_path_new (GDBusConnection    *connection,
                  const char         *object_path,
                  CkAccessControl    *access,
                  CkTokenStore       *store,
                  CkReadLog          *read_log)
{
  CkFastPath *self;
  State *state;

  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  g_return_val_if_fail (CK_IS_ACCESS_CONTROL (access), NULL);
  g_return_val_if_fail (CK_IS_TOKEN_STORE (store), NULL);
  g_return_val_if_fail (CK_IS_READ_LOG (read_log), NULL);

  state = g_atomic_rc_box_new0 (State);
  g_mutex_init (&state->lock);
  state->object_path = g_strdup (object_path);
  state->access = g_object_ref (access);
  state->store = g_object_ref (store);
  state->read_log = g_object_ref (read_log);

  self = g_new0 (CkFastPath, 1);
  self->connection = g_object_ref (connection);
  self->state = state;
  self->filter_id = g_dbus_connection_add_filter (connection, filter_cb,
                                                  g_atomic_rc_box_acquire (state),
                                                  state_unref);
  return self;
}

void
ck_fast_path_free (CkFastPath *self)
{
  State *state;

  if (self == NULL)
    return;

  state = self->state;
  g_mutex_lock (&state->lock);
  state->closed = TRUE;
  forget_locked (state);
  g_mutex_unlock (&state->lock);

  g_dbus_connection_remove_filter (self->connection, self->filter_id);
  state_unref (state);
  g_object_unref (self->connection);
  g_free (self);
}

/* Remember @reply, the answer to a GetCredential of @kind that the service
 * gave from memory while the store was at @store_generation. Only answers
 * that depend on nothing but the store belong here. */
void
ck_fast_path_learn (CkFastPath         *self,
                    CkCredentialKind    kind,
                    const CkCredential *credential,
                    GVariant           *reply,
                    guint               store_generation)
{
  Answer *answer;

  g_return_if_fail (self != NULL);
  g_return_if_fail (kind < N_KINDS);
  g_return_if_fail (g_variant_is_of_type (reply, G_VARIANT_TYPE ("(a{sv})")));

  answer = g_new0 (Answer, 1);
  answer->reply = g_variant_ref_sink (reply);
  answer->source = g_strdup (credential->source);
  answer->expires_at = credential->expires_at;
  answer->generation = store_generation;

  g_mutex_lock (&self->state->lock);
  g_clear_pointer (&self->state->answers[kind], answer_free);
  self->state->answers[kind] = answer;
  g_mutex_unlock (&self->state->lock);
}

/* Whether account-rules has any rule: then a call naming its cwd is the
 * main loop's to answer. */
void
ck_fast_path_set_has_rules (CkFastPath *self,
                            gboolean    has_rules)
{
  g_return_if_fail (self != NULL);

  g_mutex_lock (&self->state->lock);
  self->state->has_rules = has_rules;
  g_mutex_unlock (&self->state->lock);
}

/* Drop every answer learnt: call on any change that the store's
 * generation does not cover. */
void
ck_fast_path_forget (CkFastPath *self)
{
  g_return_if_fail (self != NULL);

  g_mutex_lock (&self->state->lock);
  forget_locked (self->state);
  g_mutex_unlock (&self->state->lock);
}
