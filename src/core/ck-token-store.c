/* ck-token-store.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Keeps the credentials in the Secret Service and a copy in memory, so that
 * callers are answered without a keyring round trip. Every operation goes
 * through one queue, one at a time, and ends with a fresh read of the
 * keyring: the memory copy is always what the keyring holds. Reads never
 * ask to unlock (no prompt can block us); writes check the default
 * collection first and fail fast when it is locked; every operation has a
 * deadline.
 *
 * Besides the credentials, the store keeps the gateway's persistent
 * sessions (kind "gateway", the session id as "account"): not Anthropic
 * credentials, so a logout leaves them, and only their own removal
 * revokes them.
 *
 * Each credential is an account (CkAccount): the item's "account"
 * attribute is its id, "name" its short name. Items written before
 * accounts have no name (it is derived: the login's email, "api-key"),
 * and an API key's id was "default", as a login without uuid may be:
 * such a key is rewritten once under an id of its own (written, read
 * back, then the old item deleted), so ids are unique across kinds.
 */

#define G_LOG_DOMAIN "ck-token-store"

#include "config.h"

#include <string.h>

/* For secret_service_search_for_dbus_paths (): see step_final_load (). */
#define SECRET_API_SUBJECT_TO_CHANGE
#include <libsecret/secret.h>

#include "ck-error.h"
#include "ck-token-store.h"

#define DEFAULT_TIMEOUT_MSEC 5000
#define RELOAD_DELAY_MSEC    100

typedef enum
{
  OP_LOAD,
  OP_SET_API_KEY,
  OP_SET_OAUTH,
  OP_SET_GATEWAY,
  OP_CLEAR,
  OP_RENAME,
} OpKind;

typedef struct
{
  OpKind         kind;
  char          *secret;
  char          *account;
  char          *label;
  char          *name;
  char          *clear_kind;
  CkOAuthTokens *tokens;
  GCancellable  *caller_cancellable;
  gulong         cancelled_id;
  guint          timeout_id;
  gint64         waited_us;   /* towards the deadline, see on_op_tick () */
  gint64         last_tick;
  gboolean       timed_out;
  GList         *doomed;
  /* Reading: the paths of our unlocked items, the proxies made so far,
   * and whether some item was locked. */
  char         **paths;
  guint          next_path;
  GPtrArray     *items;
  gboolean       any_locked;
  GHashTable    *gateway;     /* what was read, until it is shown */
} Op;

struct _CkTokenStore
{
  GObject         parent_instance;

  SecretService  *service;
  guint           signal_id;
  guint           reload_source;

  GQueue          queue;
  GTask          *current;
  guint           timeout_ms;

  CkKeyringState  state;
  GError         *state_error;
  gboolean        loaded;
  GPtrArray      *accounts;    /* of CkAccount, sorted by name */
  const char     *api_key;     /* the fallback's, borrowed from accounts */
  CkOAuthTokens  *oauth;
  gboolean        migrated;    /* a legacy key was rewritten, or tried */
  guint           generation;  /* bumped on every change of the above */
  GHashTable     *gateway;     /* session id → its secret; never NULL */
};

G_DEFINE_FINAL_TYPE (CkTokenStore, ck_token_store, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_TIMEOUT,
  N_PROPS
};

enum {
  CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static const SecretSchema *
ck_token_store_get_schema (void)
{
  static const SecretSchema schema = {
    CK_SECRET_SCHEMA_NAME, SECRET_SCHEMA_NONE,
    {
      { "kind", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "account", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "name", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    }
  };

  return &schema;
}

static void run_next (CkTokenStore *self);
static char *dup_api_key_id (CkTokenStore *self,
                             const char   *name);
static void step_final_load (GTask *task);

static void
op_free (Op *op)
{
  g_clear_pointer (&op->secret, ck_secret_free);
  g_clear_pointer (&op->account, g_free);
  g_clear_pointer (&op->label, g_free);
  g_clear_pointer (&op->name, g_free);
  g_clear_pointer (&op->clear_kind, g_free);
  g_clear_pointer (&op->tokens, ck_oauth_tokens_unref);
  g_clear_handle_id (&op->timeout_id, g_source_remove);
  if (op->caller_cancellable != NULL)
    g_cancellable_disconnect (op->caller_cancellable, op->cancelled_id);
  g_clear_object (&op->caller_cancellable);
  g_list_free_full (op->doomed, g_object_unref);
  g_strfreev (op->paths);
  g_clear_pointer (&op->items, g_ptr_array_unref);
  g_clear_pointer (&op->gateway, g_hash_table_unref);
  g_free (op);
}

static void
on_caller_cancelled (GCancellable *caller,
                     GCancellable *ours)
{
  g_cancellable_cancel (ours);
}

static GError *
locked_error_new (void)
{
  return g_error_new_literal (CK_ERROR, CK_ERROR_KEYRING_LOCKED,
                              "The keyring is locked; unlock it and try again.");
}

/* Turns whatever libsecret or GIO said into one of our errors. */
static GError *
map_error (CkTokenStore *self,
           Op           *op,
           GError       *error)
{
  if (op->timed_out)
    {
      if (self->service == NULL)
        return g_error_new (CK_ERROR, CK_ERROR_KEYRING_UNAVAILABLE,
                            "The Secret Service did not answer within %u seconds; "
                            "check that GNOME Keyring or another keyring is running.",
                            (self->timeout_ms + 999) / 1000);
      return g_error_new (CK_ERROR, CK_ERROR_KEYRING_LOCKED,
                          "The keyring did not answer within %u seconds; it may be "
                          "locked or waiting for a password. Unlock it and try again.",
                          (self->timeout_ms + 999) / 1000);
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_new_literal (CK_ERROR, CK_ERROR_CANCELLED,
                                "The keyring request was cancelled.");
  if (error->domain == CK_ERROR)
    return g_error_copy (error);
  if (g_error_matches (error, SECRET_ERROR, SECRET_ERROR_IS_LOCKED))
    return locked_error_new ();
  if (self->service == NULL)
    return g_error_new_literal (CK_ERROR, CK_ERROR_KEYRING_UNAVAILABLE,
                                "No Secret Service is running; install and start "
                                "GNOME Keyring (or another keyring) and try again.");
  return g_error_new (CK_ERROR, CK_ERROR_KEYRING_UNAVAILABLE,
                      "The keyring refused the request: %s", error->message);
}

static void
account_free (CkAccount *account)
{
  g_free (account->id);
  g_free (account->name);
  g_free (account->kind);
  g_clear_pointer (&account->api_key, ck_secret_free);
  g_clear_pointer (&account->oauth, ck_oauth_tokens_unref);
  g_free (account);
}

static GPtrArray *
accounts_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) account_free);
}

static gboolean
accounts_equal (GPtrArray *a,
                GPtrArray *b)
{
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    {
      CkAccount *x = g_ptr_array_index (a, i), *y = g_ptr_array_index (b, i);

      if (g_strcmp0 (x->id, y->id) != 0 || g_strcmp0 (x->name, y->name) != 0 ||
          g_strcmp0 (x->kind, y->kind) != 0 || g_strcmp0 (x->api_key, y->api_key) != 0 ||
          !ck_oauth_tokens_equal (x->oauth, y->oauth))
        return FALSE;
    }
  return TRUE;
}

static int
account_compare (gconstpointer a,
                 gconstpointer b)
{
  const CkAccount *x = *(CkAccount **) a, *y = *(CkAccount **) b;
  int by_name = g_strcmp0 (x->name, y->name);

  return by_name != 0 ? by_name : g_strcmp0 (x->id, y->id);
}

static CkAccount *
find_account (GPtrArray  *accounts,
              const char *kind,
              const char *id)
{
  for (guint i = 0; i < accounts->len; i++)
    {
      CkAccount *account = g_ptr_array_index (accounts, i);

      if ((kind == NULL || g_str_equal (account->kind, kind)) && g_str_equal (account->id, id))
        return account;
    }
  return NULL;
}

gboolean
ck_account_name_is_valid (const char *name)
{
  gsize length = name != NULL ? strlen (name) : 0;

  if (length == 0 || length > 64 || !g_utf8_validate (name, -1, NULL))
    return FALSE;
  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      /* Not graphic: spaces, C0 and C1 controls, bidi overrides, zero
       * width characters, which would let one name pass for another or
       * drive a terminal that prints it. */
      if (!g_unichar_isgraph (c) || c == '/' || g_unichar_type (c) == G_UNICODE_FORMAT)
        return FALSE;
    }
  return TRUE;
}

static CkAccount *
find_by_name (GPtrArray  *accounts,
              const char *name)
{
  for (guint i = 0; i < accounts->len; i++)
    {
      CkAccount *account = g_ptr_array_index (accounts, i);

      if (g_str_equal (account->name, name))
        return account;
    }
  return NULL;
}

/* Before accounts, a key was always stored as "default". */
static gboolean
account_is_legacy_key (const CkAccount *account)
{
  return g_str_equal (account->kind, "api-key") && g_str_equal (account->id, "default");
}

static void
set_state (CkTokenStore   *self,
           CkKeyringState  state,
           const GError   *error)
{
  if (self->state != state ||
      (state != CK_KEYRING_STATE_READY && self->accounts->len > 0))
    g_atomic_int_inc (&self->generation);
  self->state = state;
  g_clear_error (&self->state_error);
  if (error != NULL)
    self->state_error = g_error_copy (error);
  if (state != CK_KEYRING_STATE_READY)
    {
      g_ptr_array_set_size (self->accounts, 0);
      self->api_key = NULL;
      self->oauth = NULL;
      g_hash_table_remove_all (self->gateway);
    }
}

static GHashTable *
gateway_table_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) ck_secret_free);
}

/* The gateway sessions read, or none; not part of the generation, which
 * tells the fast path when a credential may have changed. */
static void
set_gateway (CkTokenStore *self,
             GHashTable   *gateway)
{
  g_hash_table_unref (self->gateway);
  self->gateway = gateway != NULL ? gateway : gateway_table_new ();
}

static void
set_locked (CkTokenStore *self)
{
  g_autoptr(GError) locked = locked_error_new ();

  set_state (self, CK_KEYRING_STATE_LOCKED, locked);
}

/* What the keyring holds now; the generation moves only on a change, so
 * that reading back our own writes keeps answers learnt from memory. */
static void
set_contents (CkTokenStore *self,
              GPtrArray    *accounts)
{
  CkAccount *fallback;

  if (accounts == NULL)
    accounts = accounts_new ();
  g_ptr_array_sort (accounts, account_compare);
  if (!accounts_equal (self->accounts, accounts))
    g_atomic_int_inc (&self->generation);
  g_ptr_array_unref (self->accounts);
  self->accounts = accounts;

  self->api_key = NULL;
  self->oauth = NULL;
  fallback = ck_token_store_get_fallback_account (self);
  for (guint i = 0; i < accounts->len; i++)
    {
      CkAccount *account = g_ptr_array_index (accounts, i);

      if (self->api_key == NULL && account->api_key != NULL)
        self->api_key = account->api_key;
    }
  if (fallback != NULL && fallback->oauth != NULL)
    self->oauth = fallback->oauth;
  else
    for (guint i = 0; i < accounts->len; i++)
      {
        CkAccount *account = g_ptr_array_index (accounts, i);

        if (account->oauth != NULL &&
            (self->oauth == NULL || account->oauth->expires_at_ms > self->oauth->expires_at_ms))
          self->oauth = account->oauth;
      }
}

static void
finish_op (GTask  *task,
           GError *error)
{
  g_autoptr(CkTokenStore) self = g_object_ref (g_task_get_source_object (task));
  Op *op = g_task_get_task_data (task);

  g_assert (self->current == task);

  g_clear_handle_id (&op->timeout_id, g_source_remove);
  self->current = NULL;

  if (error != NULL)
    {
      g_autoptr(GError) mapped = map_error (self, op, error);

      g_debug ("Keyring operation %d failed: %s", op->kind, mapped->message);
      /* Any operation that finds the keyring locked or gone tells us its
       * state; a cancelled one tells us nothing. */
      if (g_error_matches (mapped, CK_ERROR, CK_ERROR_KEYRING_LOCKED) ||
          g_error_matches (mapped, CK_ERROR, CK_ERROR_KEYRING_UNAVAILABLE))
        {
          CkKeyringState before = self->state;

          set_state (self,
                     g_error_matches (mapped, CK_ERROR, CK_ERROR_KEYRING_LOCKED)
                       ? CK_KEYRING_STATE_LOCKED : CK_KEYRING_STATE_UNAVAILABLE,
                     mapped);
          self->loaded = TRUE;
          if (before != self->state || op->kind == OP_LOAD)
            g_signal_emit (self, signals[CHANGED], 0);
        }
      g_task_return_error (task, g_steal_pointer (&mapped));
      g_error_free (error);
    }
  else
    g_task_return_boolean (task, TRUE);

  g_object_unref (task);
  run_next (self);
}

/* The deadline counts the time the keyring had to answer while we were
 * listening: a tick adds the time since the last one, but no more than
 * two ticks' worth, so a stall of the agent itself (a busy main loop, a
 * stopped process, a slow sanitizer build) does not count, and the reply
 * waiting behind it is taken instead of being called late. */
#define TICK_MS 100

static gboolean
on_op_tick (gpointer user_data)
{
  GTask *task = user_data;
  CkTokenStore *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  gint64 now = g_get_monotonic_time ();

  op->waited_us += MIN (now - op->last_tick, 2 * TICK_MS * 1000);
  op->last_tick = now;
  if (op->waited_us < (gint64) self->timeout_ms * 1000)
    return G_SOURCE_CONTINUE;

  op->timeout_id = 0;
  op->timed_out = TRUE;
  g_debug ("Keyring operation %d timed out", op->kind);
  g_cancellable_cancel (g_task_get_cancellable (task));
  return G_SOURCE_REMOVE;
}

static GHashTable *
attributes_new (const char *kind,
                const char *account)
{
  GHashTable *attributes = g_hash_table_new (g_str_hash, g_str_equal);

  if (kind != NULL)
    g_hash_table_insert (attributes, (gpointer) "kind", (gpointer) kind);
  if (account != NULL)
    g_hash_table_insert (attributes, (gpointer) "account", (gpointer) account);
  return attributes;
}

static void on_legacy_key_rewritten (GObject      *object,
                                     GAsyncResult *result,
                                     gpointer      user_data);

/* A key stored before accounts: written again under an id of its own,
 * then (once read back) the old item deleted. Once per run: a keyring
 * that refuses writes keeps serving the old item. */
static void
migrate_legacy_key (CkTokenStore *self)
{
  CkAccount *legacy = NULL;

  if (self->migrated)
    return;
  for (guint i = 0; i < self->accounts->len && legacy == NULL; i++)
    if (account_is_legacy_key (g_ptr_array_index (self->accounts, i)))
      legacy = g_ptr_array_index (self->accounts, i);
  if (legacy == NULL)
    return;

  self->migrated = TRUE;
  /* (Its name is no other account's, see on_secrets: a write under a name
   * in use would replace that account's key.) */
  g_message ("Giving the API key stored by an older version an account of its own");
  ck_token_store_set_api_key_as_async (self, legacy->name, legacy->api_key, NULL,
                                       on_legacy_key_rewritten, g_strdup (legacy->api_key));
}

/* Loading */

static gboolean
reload_cb (gpointer user_data)
{
  CkTokenStore *self = user_data;

  self->reload_source = 0;
  ck_token_store_load_async (self, NULL, NULL, NULL);
  return G_SOURCE_REMOVE;
}

static void
on_secret_signal (GDBusConnection *connection,
                  const char      *sender_name,
                  const char      *object_path,
                  const char      *interface_name,
                  const char      *signal_name,
                  GVariant        *parameters,
                  gpointer         user_data)
{
  CkTokenStore *self = user_data;

  /* Someone changed, locked or unlocked something: read again, once. */
  if (self->reload_source == 0)
    self->reload_source = g_timeout_add (RELOAD_DELAY_MSEC, reload_cb, self);
}

static void
on_default_collection_for_load (GObject      *object,
                                GAsyncResult *result,
                                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  CkTokenStore *self = g_task_get_source_object (task);
  g_autoptr(SecretCollection) collection = NULL;
  g_autoptr(GError) error = NULL;

  collection = secret_collection_for_alias_finish (result, &error);
  if (error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      finish_op (g_steal_pointer (&task), g_steal_pointer (&error));
      return;
    }

  /* Nothing of ours was readable, and writes would hit a locked keyring.
   * Only now is the empty store shown: a caller asking meanwhile got
   * what was there before, never a "logged out" that is really "locked". */
  if (collection != NULL && secret_collection_get_locked (collection))
    set_locked (self);
  else
    {
      Op *op = g_task_get_task_data (task);

      set_state (self, CK_KEYRING_STATE_READY, NULL);
      set_contents (self, NULL);
      set_gateway (self, g_steal_pointer (&op->gateway));
    }
  self->loaded = TRUE;

  g_signal_emit (self, signals[CHANGED], 0);
  finish_op (g_steal_pointer (&task), NULL);
}

static void
on_secrets (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  CkTokenStore *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) accounts = accounts_new ();
  g_autoptr(GPtrArray) legacy_keys = g_ptr_array_new_with_free_func (g_object_unref);
  gboolean any_locked = op->any_locked;
  CkAccount *written;

  if (result != NULL && !secret_item_load_secrets_finish (result, &error))
    {
      finish_op (g_steal_pointer (&task), g_steal_pointer (&error));
      return;
    }

  g_clear_pointer (&op->gateway, g_hash_table_unref);
  op->gateway = gateway_table_new ();

  for (guint i = 0; i < op->items->len; i++)
    {
      SecretItem *item = g_ptr_array_index (op->items, i);
      g_autoptr(GHashTable) attributes = secret_item_get_attributes (item);
      const char *kind = g_hash_table_lookup (attributes, "kind");
      const char *id = g_hash_table_lookup (attributes, "account");
      const char *name = g_hash_table_lookup (attributes, "name");
      CkAccount *account;
      g_autoptr(SecretValue) value = secret_item_get_secret (item);
      const char *text = value != NULL ? secret_value_get_text (value) : NULL;

      /* Locked since the search: gnome-keyring gives no secret for it. */
      if (text == NULL)
        {
          any_locked |= secret_item_get_locked (item);
          continue;
        }

      if (id == NULL || id[0] == '\0')
        id = "default";
      if (g_strcmp0 (kind, "api-key") == 0 && text[0] != '\0' && g_str_equal (id, "default"))
        {
          /* Sorted out below, once every account is known. */
          g_ptr_array_add (legacy_keys, g_object_ref (item));
          continue;
        }
      if (g_strcmp0 (kind, "api-key") == 0 && text[0] != '\0')
        {
          /* Two items of one account: a rewrite cut short; either will do. */
          if (find_account (accounts, kind, id) != NULL)
            continue;
          account = g_new0 (CkAccount, 1);
          account->id = g_strdup (id);
          account->kind = g_strdup (kind);
          account->name = g_strdup (name != NULL && name[0] != '\0' ? name : "api-key");
          account->api_key = g_strdup (text);
          g_ptr_array_add (accounts, account);
        }
      else if (g_strcmp0 (kind, "gateway") == 0 && g_hash_table_lookup (attributes, "account") != NULL)
        g_hash_table_replace (op->gateway, g_strdup (g_hash_table_lookup (attributes, "account")),
                              g_strdup (text));
      else if (g_strcmp0 (kind, "oauth") == 0)
        {
          g_autoptr(GError) parse_error = NULL;
          g_autoptr(CkOAuthTokens) tokens = ck_oauth_tokens_new_from_json (text, -1, &parse_error);

          if (tokens == NULL)
            g_warning ("Ignoring a stored login that cannot be read: %s",
                       parse_error->message);
          else if ((account = find_account (accounts, kind, id)) == NULL)
            {
              account = g_new0 (CkAccount, 1);
              account->id = g_strdup (id);
              account->kind = g_strdup (kind);
              account->name = g_strdup (name != NULL && name[0] != '\0' ? name
                                        : tokens->account_email != NULL ? tokens->account_email
                                        : "login");
              account->oauth = g_steal_pointer (&tokens);
              g_ptr_array_add (accounts, account);
            }
          else if (tokens->expires_at_ms > account->oauth->expires_at_ms)
            {
              ck_oauth_tokens_unref (account->oauth);
              account->oauth = g_steal_pointer (&tokens);
              if (name != NULL && name[0] != '\0')
                {
                  g_free (account->name);
                  account->name = g_strdup (name);
                }
            }
        }
    }

  /* Keys stored before accounts: one that is already written again under
   * its own id, its old item not deleted yet, is not a second account;
   * of the others (two "default" keys, say: one without an account
   * attribute) the first is the legacy account, migrated at this start,
   * the next at the next one. */
  for (guint i = 0; i < legacy_keys->len; i++)
    {
      SecretItem *item = g_ptr_array_index (legacy_keys, i);
      g_autoptr(GHashTable) attributes = secret_item_get_attributes (item);
      g_autoptr(SecretValue) value = secret_item_get_secret (item);
      const char *text = secret_value_get_text (value);
      const char *name = g_hash_table_lookup (attributes, "name");
      const char *base = name != NULL && name[0] != '\0' ? name : "api-key";
      CkAccount *account;
      gboolean held = FALSE;

      for (guint j = 0; j < accounts->len && !held; j++)
        held = g_strcmp0 (((CkAccount *) g_ptr_array_index (accounts, j))->api_key, text) == 0;
      if (held)
        continue;
      account = g_new0 (CkAccount, 1);
      account->id = g_strdup ("default");
      account->kind = g_strdup ("api-key");
      /* Under a name no other account has: migrating it under a name in
       * use would replace that account's key. */
      account->name = g_strdup (base);
      for (guint n = 2; find_by_name (accounts, account->name) != NULL; n++)
        {
          g_free (account->name);
          account->name = g_strdup_printf ("%s-%u", base, n);
        }
      account->api_key = g_strdup (text);
      g_ptr_array_add (accounts, account);
      break;
    }

  if (any_locked && accounts->len == 0)
    {
      set_locked (self);
      self->loaded = TRUE;
      g_signal_emit (self, signals[CHANGED], 0);
      finish_op (g_steal_pointer (&task), NULL);
      return;
    }

  if (op->kind == OP_LOAD && accounts->len == 0)
    {
      /* (The gateway's sessions, if any, are shown with the state.) */
      /* Empty: say "locked" rather than "logged out" when a write would fail. */
      GCancellable *cancellable = g_task_get_cancellable (task);

      secret_collection_for_alias (self->service, "default", SECRET_COLLECTION_NONE,
                                   cancellable, on_default_collection_for_load,
                                   g_steal_pointer (&task));
      return;
    }

  set_state (self, CK_KEYRING_STATE_READY, NULL);
  set_contents (self, g_steal_pointer (&accounts));
  set_gateway (self, g_steal_pointer (&op->gateway));
  self->loaded = TRUE;

  /* Check that what we wrote is what the keyring gives back. */
  written = op->account != NULL ? find_account (self->accounts, NULL, op->account) : NULL;
  if (((op->kind == OP_SET_API_KEY || op->kind == OP_SET_OAUTH || op->kind == OP_RENAME) &&
       (written == NULL || g_strcmp0 (written->name, op->name) != 0)) ||
      (op->kind == OP_SET_API_KEY && g_strcmp0 (written->api_key, op->secret) != 0) ||
      (op->kind == OP_SET_OAUTH && !ck_oauth_tokens_equal (written->oauth, op->tokens)) ||
      (op->kind == OP_SET_GATEWAY &&
       g_strcmp0 (g_hash_table_lookup (self->gateway, op->account), op->secret) != 0))
    {
      g_signal_emit (self, signals[CHANGED], 0);
      finish_op (g_steal_pointer (&task),
                 g_error_new_literal (CK_ERROR, CK_ERROR_KEYRING_UNAVAILABLE,
                                      "The keyring did not keep the credential; "
                                      "check that its default collection is writable."));
      return;
    }

  g_signal_emit (self, signals[CHANGED], 0);
  /* Queued before the task (and its reference on us) goes. */
  migrate_legacy_key (self);
  finish_op (g_steal_pointer (&task), NULL);
}

static void read_next_item (GTask *task);

static void
on_item (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  GTask *task = user_data;
  Op *op = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  SecretItem *item;

  item = secret_item_new_for_dbus_path_finish (result, &error);
  if (item != NULL)
    g_ptr_array_add (op->items, item);
  /* Deleted since the search (by another program): it is not there.
   * libsecret says so with UnknownMethod, "No such secret item". */
  else if (!g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
    {
      finish_op (task, g_steal_pointer (&error));
      return;
    }
  read_next_item (task);
}

/* One item at a time, skipping the ones gone, then the secrets of all in
 * one GetSecrets call. */
static void
read_next_item (GTask *task)
{
  CkTokenStore *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  const char *path = op->paths[op->next_path];
  GList *items = NULL;

  if (path != NULL)
    {
      op->next_path++;
      secret_item_new_for_dbus_path (self->service, path, SECRET_ITEM_NONE,
                                     g_task_get_cancellable (task), on_item, task);
      return;
    }

  for (guint i = op->items->len; i > 0; i--)
    items = g_list_prepend (items, g_ptr_array_index (op->items, i - 1));

  if (items == NULL)
    on_secrets (NULL, NULL, task);
  else
    secret_item_load_secrets (items, g_task_get_cancellable (task), on_secrets, task);
  g_list_free (items);
}

static void
on_paths (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  GTask *task = user_data;
  Op *op = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) locked = NULL;

  if (!secret_service_search_for_dbus_paths_finish (SECRET_SERVICE (object), result,
                                                    &op->paths, &locked, &error))
    {
      finish_op (task, g_steal_pointer (&error));
      return;
    }
  if (op->paths == NULL)
    op->paths = g_new0 (char *, 1);
  op->any_locked = locked != NULL && locked[0] != NULL;
  read_next_item (task);
}

/* Reads what the keyring holds now: the paths of our items, a proxy for
 * each unlocked one, one at a time, and their secrets in one call. Not
 * secret_service_search (): it makes the proxies all at once, and when
 * another program deletes items between its search and their proxies,
 * one such item failed the whole read and two made libsecret (0.20.5 to
 * 0.21.7) return its task twice. An item gone meanwhile is simply not
 * there. (Not secret_service_get_secrets_for_dbus_paths () either: it
 * leaks the reply in libsecret 0.20.5.) */
static void
step_final_load (GTask *task)
{
  CkTokenStore *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  g_autoptr(GHashTable) attributes = attributes_new (NULL, NULL);

  g_clear_pointer (&op->paths, g_strfreev);
  op->next_path = 0;
  g_clear_pointer (&op->items, g_ptr_array_unref);
  op->items = g_ptr_array_new_with_free_func (g_object_unref);
  secret_service_search_for_dbus_paths (self->service, ck_token_store_get_schema (), attributes,
                                        g_task_get_cancellable (task), on_paths, task);
}

/* Deleting */

static void delete_next (GTask *task);

static void
on_item_deleted (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;

  if (!secret_item_delete_finish (SECRET_ITEM (object), result, &error))
    {
      finish_op (task, g_steal_pointer (&error));
      return;
    }
  delete_next (task);
}

static void
delete_next (GTask *task)
{
  Op *op = g_task_get_task_data (task);
  SecretItem *item;

  if (op->doomed == NULL)
    {
      step_final_load (task);
      return;
    }
  item = op->doomed->data;
  op->doomed = g_list_delete_link (op->doomed, op->doomed);
  secret_item_delete (item, g_task_get_cancellable (task), on_item_deleted, task);
  g_object_unref (item);
}

static gboolean
secret_is (SecretItem *item,
           const char *secret)
{
  g_autoptr(SecretValue) value = secret_item_get_secret (item);
  const char *text = value != NULL ? secret_value_get_text (value) : NULL;

  return g_strcmp0 (text, secret) == 0;
}

static void
on_searched_for_delete (GObject      *object,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  GTask *task = user_data;
  Op *op = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  GList *items;

  items = secret_service_search_finish (SECRET_SERVICE (object), result, &error);
  if (error != NULL)
    {
      finish_op (task, g_steal_pointer (&error));
      return;
    }

  for (GList *l = items; l != NULL; l = l->next)
    {
      SecretItem *item = l->data;
      g_autoptr(GHashTable) attributes = secret_item_get_attributes (item);

      const char *account = g_hash_table_lookup (attributes, "account");
      gboolean same_name = g_strcmp0 (g_hash_table_lookup (attributes, "name"), op->name) == 0;

      /* A write keeps the item just written and drops the account's older
       * ones, and for a key, the items of another id under its name (a
       * write that seemed to time out, then landed); clearing every kind
       * (a logout) leaves the gateway's sessions. */
      if ((op->kind == OP_CLEAR && op->secret != NULL &&
           !secret_is (item, op->secret)) ||
          (op->kind != OP_CLEAR &&
           !(g_strcmp0 (account, op->account) == 0 ? !same_name
             : same_name && op->kind == OP_SET_API_KEY)) ||
          (op->kind == OP_CLEAR && op->account != NULL && g_strcmp0 (account, op->account) != 0) ||
          (op->clear_kind == NULL && g_strcmp0 (g_hash_table_lookup (attributes, "kind"), "gateway") == 0))
        g_object_unref (item);
      else
        op->doomed = g_list_prepend (op->doomed, item);
    }
  g_list_free (items);

  delete_next (task);
}

static void
step_delete (GTask      *task,
             const char *kind)
{
  CkTokenStore *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  /* A write replaces items of its own kind only (see on_searched_for_delete). */
  g_autoptr(GHashTable) attributes = attributes_new (kind, op->kind == OP_CLEAR ? op->account : NULL);

  secret_service_search (self->service, ck_token_store_get_schema (), attributes,
                         SECRET_SEARCH_ALL |
                         (op->kind == OP_CLEAR && op->secret != NULL ? SECRET_SEARCH_LOAD_SECRETS : 0),
                         g_task_get_cancellable (task), on_searched_for_delete, task);
}

/* Writing */

static void
on_stored (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  GTask *task = user_data;
  Op *op = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!secret_service_store_finish (SECRET_SERVICE (object), result, &error))
    {
      finish_op (task, g_steal_pointer (&error));
      return;
    }

  if (op->kind == OP_SET_OAUTH || op->kind == OP_SET_API_KEY || op->kind == OP_RENAME)
    step_delete (task, op->clear_kind);
  else
    step_final_load (task);
}

static void
on_default_collection (GObject      *object,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  GTask *task = user_data;
  CkTokenStore *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  g_autoptr(SecretCollection) collection = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) attributes = NULL;
  g_autoptr(SecretValue) value = NULL;

  collection = secret_collection_for_alias_finish (result, &error);
  if (error != NULL)
    {
      finish_op (task, g_steal_pointer (&error));
      return;
    }
  if (collection == NULL)
    {
      finish_op (task, g_error_new_literal (CK_ERROR, CK_ERROR_KEYRING_UNAVAILABLE,
                                            "The keyring has no default collection; create "
                                            "one in Passwords and Keys and try again."));
      return;
    }
  if (secret_collection_get_locked (collection))
    {
      finish_op (task, locked_error_new ());
      return;
    }

  if (op->kind == OP_RENAME)
    {
      CkAccount *account = find_account (self->accounts, NULL, op->account);

      if (account == NULL)
        {
          finish_op (task, g_error_new (CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                                        "There is no account “%s”; see “claude-keyring accounts”.",
                                        op->account));
          return;
        }
      op->clear_kind = g_strdup (account->kind);
      if (account->oauth != NULL)
        {
          op->kind = OP_SET_OAUTH;
          op->tokens = ck_oauth_tokens_ref (account->oauth);
          op->secret = ck_oauth_tokens_to_json (account->oauth);
        }
      else
        {
          op->kind = OP_SET_API_KEY;
          op->secret = g_strdup (account->api_key);
        }
      op->label = op->kind == OP_SET_OAUTH ? g_strdup_printf ("Claude Code login (%s)", op->name)
                                           : g_strdup_printf ("Claude Code API key (%s)", op->name);
    }

  /* Chosen now, from what the last operation read. */
  if (op->kind == OP_SET_API_KEY && op->account == NULL)
    op->account = dup_api_key_id (self, op->name);

  switch (op->kind)
    {
    case OP_SET_API_KEY:
    case OP_SET_OAUTH:
    case OP_SET_GATEWAY:
      attributes = attributes_new (op->kind == OP_SET_API_KEY ? "api-key"
                                   : op->kind == OP_SET_OAUTH ? "oauth" : "gateway",
                                   op->account);
      if (op->name != NULL)
        g_hash_table_insert (attributes, (gpointer) "name", op->name);
      value = secret_value_new (op->secret, -1, "text/plain");
      secret_service_store (self->service, ck_token_store_get_schema (), attributes,
                            SECRET_COLLECTION_DEFAULT, op->label, value,
                            g_task_get_cancellable (task), on_stored, task);
      break;

    case OP_CLEAR:
      step_delete (task, op->clear_kind);
      break;

    case OP_LOAD:
    case OP_RENAME:
    default:
      g_assert_not_reached ();
    }
}

static void
step_ready (GTask *task)
{
  CkTokenStore *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);

  if (op->kind == OP_LOAD)
    step_final_load (task);
  else
    secret_collection_for_alias (self->service, "default", SECRET_COLLECTION_NONE,
                                 g_task_get_cancellable (task),
                                 on_default_collection, task);
}

static void
on_service (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  GTask *task = user_data;
  CkTokenStore *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  SecretService *service;

  service = secret_service_get_finish (result, &error);
  if (service == NULL)
    {
      finish_op (task, g_steal_pointer (&error));
      return;
    }

  if (self->service == NULL)
    {
      GDBusConnection *connection = g_dbus_proxy_get_connection (G_DBUS_PROXY (service));

      self->service = service;
      self->signal_id =
        g_dbus_connection_signal_subscribe (connection, "org.freedesktop.secrets",
                                            NULL, NULL, NULL, NULL,
                                            G_DBUS_SIGNAL_FLAGS_NONE,
                                            on_secret_signal, self, NULL);
    }
  else
    g_object_unref (service);

  step_ready (task);
}

static void
run_next (CkTokenStore *self)
{
  GTask *task;
  Op *op;

  if (self->current != NULL || g_queue_is_empty (&self->queue))
    return;

  self->current = task = g_queue_pop_head (&self->queue);
  op = g_task_get_task_data (task);

  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      finish_op (task, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Cancelled"));
      return;
    }

  op->last_tick = g_get_monotonic_time ();
  op->timeout_id = g_timeout_add (MIN (TICK_MS, self->timeout_ms), on_op_tick, task);

  if (self->service == NULL)
    secret_service_get (SECRET_SERVICE_OPEN_SESSION, g_task_get_cancellable (task),
                        on_service, task);
  else
    step_ready (task);
}

static void
queue_op (CkTokenStore        *self,
          Op                  *op,
          gpointer             source_tag,
          GCancellable        *cancellable,
          GAsyncReadyCallback  callback,
          gpointer             user_data)
{
  g_autoptr(GCancellable) ours = g_cancellable_new ();
  GTask *task;

  task = g_task_new (self, ours, callback, user_data);
  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, op, (GDestroyNotify) op_free);
  /* Keep the task alive only through the queue; errors are reported to
   * the caller, not checked against the caller's cancellable twice. */
  g_task_set_check_cancellable (task, FALSE);

  if (cancellable != NULL)
    {
      op->caller_cancellable = g_object_ref (cancellable);
      op->cancelled_id = g_cancellable_connect (cancellable,
                                                G_CALLBACK (on_caller_cancelled),
                                                g_object_ref (ours), g_object_unref);
    }

  g_queue_push_tail (&self->queue, task);
  run_next (self);
}

/* Public API */

CkTokenStore *
ck_token_store_new (void)
{
  return g_object_new (CK_TYPE_TOKEN_STORE, NULL);
}

guint
ck_token_store_get_timeout (CkTokenStore *self)
{
  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), 0);

  return self->timeout_ms;
}

void
ck_token_store_set_timeout (CkTokenStore *self,
                            guint         msec)
{
  g_return_if_fail (CK_IS_TOKEN_STORE (self));

  msec = MAX (msec, 1);
  if (self->timeout_ms != msec)
    {
      self->timeout_ms = msec;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIMEOUT]);
    }
}

/* A number that changes whenever what the getters below return may have
 * changed; safe to read from any thread. */
guint
ck_token_store_get_generation (CkTokenStore *self)
{
  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), 0);

  return (guint) g_atomic_int_get (&self->generation);
}

gboolean
ck_token_store_is_loaded (CkTokenStore *self)
{
  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), FALSE);

  return self->loaded;
}

CkKeyringState
ck_token_store_get_state (CkTokenStore *self)
{
  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), CK_KEYRING_STATE_UNKNOWN);

  return self->state;
}

const char *
ck_token_store_get_state_message (CkTokenStore *self)
{
  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), NULL);

  return self->state_error != NULL ? self->state_error->message : NULL;
}

GError *
ck_token_store_dup_state_error (CkTokenStore *self)
{
  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), NULL);

  return self->state_error != NULL ? g_error_copy (self->state_error) : NULL;
}

const char *
ck_token_store_get_api_key (CkTokenStore *self)
{
  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), NULL);

  return self->api_key;
}

CkOAuthTokens *
ck_token_store_get_oauth (CkTokenStore *self)
{
  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), NULL);

  return self->oauth;
}

void
ck_token_store_load_async (CkTokenStore        *self,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  Op *op;

  g_return_if_fail (CK_IS_TOKEN_STORE (self));

  op = g_new0 (Op, 1);
  op->kind = OP_LOAD;
  queue_op (self, op, ck_token_store_load_async, cancellable, callback, user_data);
}

gboolean
ck_token_store_load_finish (CkTokenStore  *self,
                            GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_token_store_load_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* The id an API key stored under @name gets: the account's of that name,
 * else a new one (a key from before accounts gets a new one too). */
static char *
dup_api_key_id (CkTokenStore *self,
                const char   *name)
{
  for (guint i = 0; i < self->accounts->len; i++)
    {
      CkAccount *account = g_ptr_array_index (self->accounts, i);

      if (g_str_equal (account->name, name) && g_str_equal (account->kind, "api-key") &&
          !account_is_legacy_key (account))
        return g_strdup (account->id);
    }
  return g_uuid_string_random ();
}

/* The key's id is chosen when the operation runs (on_default_collection). */
static Op *
api_key_op_new (const char *name,
                const char *api_key)
{
  Op *op = g_new0 (Op, 1);

  op->kind = OP_SET_API_KEY;
  op->secret = g_strdup (api_key);
  op->name = g_strdup (name != NULL && name[0] != '\0' ? name : "api-key");
  op->clear_kind = g_strdup ("api-key");
  op->label = g_strdup_printf ("Claude Code API key (%s)", op->name);
  return op;
}

/* Removes the items of @kind (NULL: every kind but the gateway's) and,
 * with @account, of that account only. */
static Op *
clear_op_new (const char *kind,
              const char *account)
{
  Op *op = g_new0 (Op, 1);

  op->kind = OP_CLEAR;
  op->clear_kind = g_strdup (kind);
  op->account = g_strdup (account);
  return op;
}

static Op *
oauth_op_new (CkTokenStore  *self,
              CkOAuthTokens *tokens,
              const char    *id,
              const char    *name)
{
  Op *op = g_new0 (Op, 1);

  op->kind = OP_SET_OAUTH;
  op->tokens = ck_oauth_tokens_ref (tokens);
  op->secret = ck_oauth_tokens_to_json (tokens);
  op->clear_kind = g_strdup ("oauth");
  if (id == NULL)
    ck_token_store_pick_oauth_account (self, tokens, NULL, &op->account, &op->name, NULL);
  else
    {
      op->account = g_strdup (id);
      op->name = g_strdup (name);
    }
  op->label = g_strdup_printf ("Claude Code login (%s)", op->name);
  return op;
}

void
ck_token_store_set_api_key_async (CkTokenStore        *self,
                                  const char          *api_key,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  Op *op;

  g_return_if_fail (CK_IS_TOKEN_STORE (self));
  g_return_if_fail (api_key != NULL && api_key[0] != '\0');

  op = api_key_op_new (NULL, api_key);
  queue_op (self, op, ck_token_store_set_api_key_async, cancellable, callback, user_data);
}

gboolean
ck_token_store_set_api_key_finish (CkTokenStore  *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_token_store_set_api_key_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
ck_token_store_set_oauth_async (CkTokenStore        *self,
                                CkOAuthTokens       *tokens,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  Op *op;

  g_return_if_fail (CK_IS_TOKEN_STORE (self));
  g_return_if_fail (tokens != NULL && tokens->access_token != NULL);

  op = oauth_op_new (self, tokens, NULL, NULL);
  queue_op (self, op, ck_token_store_set_oauth_async, cancellable, callback, user_data);
}

gboolean
ck_token_store_set_oauth_finish (CkTokenStore  *self,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_token_store_set_oauth_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
ck_token_store_clear_async (CkTokenStore        *self,
                            const char          *kind,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  Op *op;

  g_return_if_fail (CK_IS_TOKEN_STORE (self));

  op = clear_op_new (kind, NULL);
  queue_op (self, op, ck_token_store_clear_async, cancellable, callback, user_data);
}

gboolean
ck_token_store_clear_finish (CkTokenStore  *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_token_store_clear_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* The gateway's persistent sessions: session id → the secret stored for
 * it, as the keyring held them at the last read. */
GHashTable *
ck_token_store_get_gateway_sessions (CkTokenStore *self)
{
  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), NULL);

  return self->gateway;
}

void
ck_token_store_set_gateway_session_async (CkTokenStore        *self,
                                          const char          *id,
                                          const char          *label,
                                          const char          *secret,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data)
{
  Op *op;

  g_return_if_fail (CK_IS_TOKEN_STORE (self));
  g_return_if_fail (id != NULL && id[0] != '\0');
  g_return_if_fail (secret != NULL && secret[0] != '\0');

  op = g_new0 (Op, 1);
  op->kind = OP_SET_GATEWAY;
  op->secret = g_strdup (secret);
  op->account = g_strdup (id);
  op->label = g_strdup (label != NULL ? label : "Claude Code gateway session");
  queue_op (self, op, ck_token_store_set_gateway_session_async, cancellable, callback, user_data);
}

gboolean
ck_token_store_set_gateway_session_finish (CkTokenStore  *self,
                                           GAsyncResult  *result,
                                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_token_store_set_gateway_session_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
ck_token_store_remove_gateway_session_async (CkTokenStore        *self,
                                             const char          *id,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data)
{
  Op *op;

  g_return_if_fail (CK_IS_TOKEN_STORE (self));
  g_return_if_fail (id != NULL && id[0] != '\0');

  op = clear_op_new ("gateway", id);
  queue_op (self, op, ck_token_store_remove_gateway_session_async, cancellable, callback, user_data);
}

gboolean
ck_token_store_remove_gateway_session_finish (CkTokenStore  *self,
                                              GAsyncResult  *result,
                                              GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ck_token_store_remove_gateway_session_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Accounts */

GPtrArray *
ck_token_store_get_accounts (CkTokenStore *self)
{
  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), NULL);

  return self->accounts;
}

/* By id first, then by name. */
CkAccount *
ck_token_store_find_account (CkTokenStore *self,
                             const char   *name_or_id)
{
  CkAccount *account;

  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), NULL);

  if (name_or_id == NULL || name_or_id[0] == '\0')
    return NULL;
  if ((account = find_account (self->accounts, NULL, name_or_id)) != NULL)
    return account;
  return find_by_name (self->accounts, name_or_id);
}

CkAccount *
ck_token_store_get_fallback_account (CkTokenStore *self)
{
  CkAccount *best = NULL;

  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), NULL);

  for (guint i = 0; i < self->accounts->len; i++)
    {
      CkAccount *account = g_ptr_array_index (self->accounts, i);

      if (account->api_key != NULL)
        return account;
      if (best == NULL || account->oauth->expires_at_ms > best->oauth->expires_at_ms)
        best = account;
    }
  return best;
}

CkOAuthTokens *
ck_token_store_get_oauth_for (CkTokenStore *self,
                              const char   *id)
{
  CkAccount *account;

  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), NULL);

  if (id == NULL)
    return self->oauth;
  account = find_account (self->accounts, "oauth", id);
  return account != NULL ? account->oauth : NULL;
}

gboolean
ck_token_store_pick_oauth_account (CkTokenStore         *self,
                                   const CkOAuthTokens  *tokens,
                                   const char           *as_name,
                                   char                **id,
                                   char                **name,
                                   GError              **error)
{
  CkAccount *account = NULL;
  const char *uuid = tokens->account_uuid;

  g_return_val_if_fail (CK_IS_TOKEN_STORE (self), FALSE);

  if (as_name != NULL && as_name[0] != '\0')
    account = ck_token_store_find_account (self, as_name);
  else
    {
      if (uuid != NULL)
        account = find_account (self->accounts, "oauth", uuid);
      /* A login that names no account (claude's .credentials.json) is
       * "default", as before accounts: it replaces the one stored so. */
      else if (tokens->account_email == NULL)
        account = find_account (self->accounts, "oauth", "default");
      for (guint i = 0; i < self->accounts->len && account == NULL; i++)
        {
          CkAccount *other = g_ptr_array_index (self->accounts, i);

          if (other->oauth != NULL && tokens->account_email != NULL &&
              g_strcmp0 (other->oauth->account_email, tokens->account_email) == 0)
            account = other;
        }
    }

  if (account != NULL && account->oauth == NULL)
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "“%s” is the name of an API key; choose another name for the login.",
                   account->name);
      return FALSE;
    }
  if (account != NULL)
    {
      *id = g_strdup (account->id);
      *name = g_strdup (account->name);
      return TRUE;
    }

  /* The uuid and email come from the login's file as well as from the
   * server: an id that is another account's name would be found first
   * for that name ("work"), one or a name with controls could drive the
   * terminal that lists it. */
  if (uuid != NULL && ck_account_name_is_valid (uuid) && ck_token_store_find_account (self, uuid) == NULL)
    *id = g_strdup (uuid);
  else if (uuid == NULL && tokens->account_email == NULL &&
           find_account (self->accounts, NULL, "default") == NULL)
    *id = g_strdup ("default");
  else
    *id = g_uuid_string_random ();
  if (as_name != NULL && as_name[0] != '\0')
    *name = g_strdup (as_name);
  else
    {
      const char *base = ck_account_name_is_valid (tokens->account_email) &&
                         strlen (tokens->account_email) <= 60 ? tokens->account_email : "login";

      *name = g_strdup (base);
      for (guint n = 2; find_by_name (self->accounts, *name) != NULL; n++)
        {
          g_free (*name);
          *name = g_strdup_printf ("%s-%u", base, n);
        }
    }
  return TRUE;
}

void
ck_token_store_set_oauth_for_async (CkTokenStore        *self,
                                    const char          *id,
                                    const char          *name,
                                    CkOAuthTokens       *tokens,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_return_if_fail (CK_IS_TOKEN_STORE (self));
  g_return_if_fail (tokens != NULL && tokens->access_token != NULL);
  g_return_if_fail (id != NULL && name != NULL);

  queue_op (self, oauth_op_new (self, tokens, id, name), ck_token_store_set_oauth_for_async,
            cancellable, callback, user_data);
}

void
ck_token_store_set_api_key_as_async (CkTokenStore        *self,
                                     const char          *name,
                                     const char          *api_key,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  Op *op;

  g_return_if_fail (CK_IS_TOKEN_STORE (self));
  g_return_if_fail (api_key != NULL && api_key[0] != '\0');

  op = api_key_op_new (name, api_key);
  queue_op (self, op, ck_token_store_set_api_key_as_async, cancellable, callback, user_data);
}

static void
on_legacy_key_rewritten (GObject      *object,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  CkTokenStore *self = CK_TOKEN_STORE (object);
  g_autoptr(GError) error = NULL;
  char *key = user_data;
  Op *op;

  /* Not read back as written: the old item stays, nothing is lost. */
  if (!ck_token_store_op_finish (self, result, &error))
    {
      g_message ("The API key stays in its old item for now: %s", error->message);
      ck_secret_free (key);
      return;
    }
  /* Only the items of the key written again: another "default" key (two
   * of them, left by hand or by another tool) waits for its own turn. */
  op = clear_op_new ("api-key", "default");
  op->secret = key;
  queue_op (self, op, ck_token_store_remove_account_async, NULL, NULL, NULL);
}

void
ck_token_store_remove_account_async (CkTokenStore        *self,
                                     const char          *id,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  CkAccount *account;
  Op *op;

  g_return_if_fail (CK_IS_TOKEN_STORE (self));
  g_return_if_fail (id != NULL);

  account = find_account (self->accounts, NULL, id);
  /* Never a gateway session, whatever its id. */
  op = clear_op_new (account != NULL ? account->kind : "oauth", id);
  queue_op (self, op, ck_token_store_remove_account_async, cancellable, callback, user_data);
}

void
ck_token_store_rename_account_async (CkTokenStore        *self,
                                     const char          *id,
                                     const char          *name,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  Op *op;

  g_return_if_fail (CK_IS_TOKEN_STORE (self));
  g_return_if_fail (id != NULL && name != NULL && name[0] != '\0');

  op = g_new0 (Op, 1);
  op->kind = OP_RENAME;
  op->account = g_strdup (id);
  op->name = g_strdup (name);
  queue_op (self, op, ck_token_store_rename_account_async, cancellable, callback, user_data);
}

gboolean
ck_token_store_op_finish (CkTokenStore  *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* GObject */

static void
ck_token_store_dispose (GObject *object)
{
  CkTokenStore *self = (CkTokenStore *) object;

  g_clear_handle_id (&self->reload_source, g_source_remove);
  if (self->service != NULL && self->signal_id != 0)
    {
      GDBusConnection *connection = g_dbus_proxy_get_connection (G_DBUS_PROXY (self->service));

      g_dbus_connection_signal_unsubscribe (connection, self->signal_id);
      self->signal_id = 0;
    }

  G_OBJECT_CLASS (ck_token_store_parent_class)->dispose (object);
}

static void
ck_token_store_finalize (GObject *object)
{
  CkTokenStore *self = (CkTokenStore *) object;

  /* Queued tasks hold a reference on us, so none can be left here. */
  g_assert (self->current == NULL);
  g_assert (g_queue_is_empty (&self->queue));

  g_clear_object (&self->service);
  g_clear_error (&self->state_error);
  g_clear_pointer (&self->accounts, g_ptr_array_unref);
  g_clear_pointer (&self->gateway, g_hash_table_unref);

  G_OBJECT_CLASS (ck_token_store_parent_class)->finalize (object);
}

static void
ck_token_store_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  CkTokenStore *self = CK_TOKEN_STORE (object);

  switch (prop_id)
    {
    case PROP_TIMEOUT:
      g_value_set_uint (value, self->timeout_ms);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_token_store_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  CkTokenStore *self = CK_TOKEN_STORE (object);

  switch (prop_id)
    {
    case PROP_TIMEOUT:
      ck_token_store_set_timeout (self, g_value_get_uint (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ck_token_store_class_init (CkTokenStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_token_store_dispose;
  object_class->finalize = ck_token_store_finalize;
  object_class->get_property = ck_token_store_get_property;
  object_class->set_property = ck_token_store_set_property;

  properties[PROP_TIMEOUT] =
    g_param_spec_uint ("timeout", NULL, NULL,
                       1, G_MAXUINT, DEFAULT_TIMEOUT_MSEC,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * CkTokenStore::changed:
   *
   * The keyring was read again: the state, the API key or the login may
   * differ.
   */
  signals[CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
ck_token_store_init (CkTokenStore *self)
{
  self->timeout_ms = DEFAULT_TIMEOUT_MSEC;
  self->gateway = gateway_table_new ();
  self->accounts = accounts_new ();
  g_queue_init (&self->queue);
}
