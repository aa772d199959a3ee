/* ck-status.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The a{sv} of GetStatus / StatusChanged, parsed once so that the tray,
 * the status window and the notifications word every state the same way.
 * It never holds a secret: the agent's status carries none.
 */

#define G_LOG_DOMAIN "ck-status"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "ck-account-row.h"
#include "ck-status.h"

struct _CkStatus
{
  GObject   parent_instance;

  GVariant *dict;
  CkState   state;
  char     *state_name;
  char     *source;
  char     *account;
  char     *organization;
  char     *subscription;
  char    **scopes;
  char     *keyring;
  char     *detail;
  char     *last_refresh_error;
  GVariant *accounts;           /* aa{sv}, the rows of ListAccounts */
  gint64    expires_at;
  gint64    last_refresh;
  guint32   gateway_sessions;
  guint32   gateway_remote_sessions;
};

G_DEFINE_FINAL_TYPE (CkStatus, ck_status, G_TYPE_OBJECT)

enum {
  CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static const struct {
  const char *name;
  CkState     state;
} states[] = {
  { "logged-out", CK_STATE_LOGGED_OUT },
  { "logged-in", CK_STATE_LOGGED_IN },
  { "expired", CK_STATE_EXPIRED },
  { "refreshing", CK_STATE_REFRESHING },
  { "login-pending", CK_STATE_LOGIN_PENDING },
  { "locked", CK_STATE_LOCKED },
  { "error", CK_STATE_ERROR },
};

static char *
lookup_string (GVariantDict *dict,
               const char   *key)
{
  const char *value = NULL;

  if (!g_variant_dict_lookup (dict, key, "&s", &value))
    return g_strdup ("");
  return g_strdup (value);
}

static gint64
lookup_int64 (GVariantDict *dict,
              const char   *key)
{
  gint64 value = 0;

  if (!g_variant_dict_lookup (dict, key, "x", &value))
    return 0;
  return value;
}

/* Returns TRUE and emits ::changed when @dict differs from the last one. */
gboolean
ck_status_update (CkStatus *self,
                  GVariant *dict)
{
  g_auto(GVariantDict) parsed = G_VARIANT_DICT_INIT (NULL);
  g_autofree char *state_name = NULL;

  g_return_val_if_fail (CK_IS_STATUS (self), FALSE);
  g_return_val_if_fail (dict != NULL && g_variant_is_of_type (dict, G_VARIANT_TYPE_VARDICT), FALSE);

  if (self->dict != NULL && g_variant_equal (self->dict, dict))
    return FALSE;

  g_clear_pointer (&self->dict, g_variant_unref);
  self->dict = g_variant_ref_sink (dict);
  g_variant_dict_init (&parsed, dict);

  state_name = lookup_string (&parsed, "state");
  self->state = CK_STATE_ERROR;
  for (guint i = 0; i < G_N_ELEMENTS (states); i++)
    if (g_str_equal (states[i].name, state_name))
      self->state = states[i].state;

  g_free (self->state_name);
  self->state_name = g_steal_pointer (&state_name);
  g_free (self->source);
  self->source = lookup_string (&parsed, "source");
  g_free (self->account);
  self->account = lookup_string (&parsed, "account");
  g_free (self->organization);
  self->organization = lookup_string (&parsed, "organization");
  g_free (self->subscription);
  self->subscription = lookup_string (&parsed, "subscription");
  g_free (self->keyring);
  self->keyring = lookup_string (&parsed, "keyring");
  g_free (self->detail);
  self->detail = lookup_string (&parsed, "detail");
  g_free (self->last_refresh_error);
  self->last_refresh_error = lookup_string (&parsed, "last-refresh-error");
  self->expires_at = lookup_int64 (&parsed, "expires-at");
  self->last_refresh = lookup_int64 (&parsed, "last-refresh");
  if (!g_variant_dict_lookup (&parsed, "gateway-sessions", "u", &self->gateway_sessions))
    self->gateway_sessions = 0;
  if (!g_variant_dict_lookup (&parsed, "gateway-remote-sessions", "u", &self->gateway_remote_sessions))
    self->gateway_remote_sessions = 0;

  g_clear_pointer (&self->scopes, g_strfreev);
  if (!g_variant_dict_lookup (&parsed, "scopes", "^as", &self->scopes))
    self->scopes = g_new0 (char *, 1);

  g_clear_pointer (&self->accounts, g_variant_unref);
  self->accounts = g_variant_dict_lookup_value (&parsed, "accounts", G_VARIANT_TYPE ("aa{sv}"));
  if (self->accounts == NULL)
    self->accounts = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARDICT, NULL, 0));
  /* Serialised, the strings of its rows live as long as it does (the
   * accessors below hand them out). */
  g_variant_get_data (self->accounts);

  g_signal_emit (self, signals[CHANGED], 0);
  return TRUE;
}

CkState
ck_status_get_state (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), CK_STATE_UNKNOWN);
  return self->state;
}

const char *
ck_status_get_state_name (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);
  return self->state_name;
}

const char *
ck_status_get_source (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);
  return self->source;
}

const char *
ck_status_get_account (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);
  return self->account;
}

const char *
ck_status_get_organization (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);
  return self->organization;
}

const char *
ck_status_get_subscription (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);
  return self->subscription;
}

gint64
ck_status_get_expires_at (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), 0);
  return self->expires_at;
}

const char * const *
ck_status_get_scopes (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);
  return (const char * const *) self->scopes;
}

const char *
ck_status_get_keyring (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);
  return self->keyring;
}

const char *
ck_status_get_detail (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);
  return self->detail;
}

gint64
ck_status_get_last_refresh (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), 0);
  return self->last_refresh;
}

const char *
ck_status_get_last_refresh_error (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);
  return self->last_refresh_error;
}

/* Every stored account, as ListAccounts lists them (sorted by name). */
GVariant *
ck_status_get_accounts (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);
  return self->accounts;
}

/* The id of the account used where nothing chooses another, or NULL. */
const char *
ck_status_get_default_account_id (CkStatus *self)
{
  GVariantIter iter;
  GVariant *row;

  g_return_val_if_fail (CK_IS_STATUS (self), NULL);

  g_variant_iter_init (&iter, self->accounts);
  while ((row = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) owned = row;
      g_auto(CkAccountRow) account = { 0 };

      ck_account_row_init (&account, row);
      if (account.is_default)
        return account.id;   /* points into self->accounts, which outlives @row */
    }
  return NULL;
}

/* The name of the login of @email among @accounts (rows of ListAccounts,
 * serialised): what the user calls it. */
const char *
ck_accounts_find_name (GVariant   *accounts,
                       const char *email)
{
  GVariantIter iter;
  GVariant *row;

  g_return_val_if_fail (accounts != NULL, NULL);

  if (email == NULL || email[0] == '\0')
    return NULL;
  g_variant_iter_init (&iter, accounts);
  while ((row = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr(GVariant) owned = row;
      g_auto(CkAccountRow) account = { 0 };

      ck_account_row_init (&account, row);
      if (g_str_equal (account.email, email))
        return account.name;
    }
  return NULL;
}

/* The number of open gateway sessions (ListGatewaySessions has them). */
guint
ck_status_get_gateway_sessions (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), 0);
  return self->gateway_sessions;
}

/* "2 gateway sessions open", "2 gateway sessions open (1 over SSH)", or
 * NULL when there are none. */
char *
ck_status_dup_gateway_summary (CkStatus *self)
{
  g_autofree char *open = NULL;
  g_autofree char *remote = NULL;

  g_return_val_if_fail (CK_IS_STATUS (self), NULL);

  if (self->gateway_sessions == 0)
    return NULL;
  open = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                       "%u gateway session open",
                                       "%u gateway sessions open",
                                       self->gateway_sessions),
                          self->gateway_sessions);
  if (self->gateway_remote_sessions == 0)
    return g_steal_pointer (&open);
  remote = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                         "%u over SSH",
                                         "%u over SSH",
                                         self->gateway_remote_sessions),
                            self->gateway_remote_sessions);
  return g_strdup_printf ("%s (%s)", open, remote);
}

/* Whether something is stored that Log Out would remove. */
gboolean
ck_status_has_credentials (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), FALSE);
  return self->source[0] != '\0';
}

/* Whether the user has to log in for Claude Code to work. */
gboolean
ck_status_needs_login (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), FALSE);
  return self->state == CK_STATE_LOGGED_OUT ||
         self->state == CK_STATE_EXPIRED ||
         self->state == CK_STATE_LOGIN_PENDING;
}

/* Whether "Log In…" belongs in the menu and the window: not while logged
 * in, and not while the keyring is locked (a login could not be stored). */
gboolean
ck_status_offers_login (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), FALSE);
  return ck_status_needs_login (self) || self->state == CK_STATE_ERROR;
}

gboolean
ck_status_needs_attention (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), FALSE);
  return self->state == CK_STATE_EXPIRED ||
         self->state == CK_STATE_LOCKED ||
         self->state == CK_STATE_ERROR;
}

const char *
ck_status_get_icon_name (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);

  switch (self->state)
    {
    case CK_STATE_LOGGED_IN:     return APP_ID "-logged-in";
    case CK_STATE_EXPIRED:       return APP_ID "-expired";
    case CK_STATE_REFRESHING:    return APP_ID "-refreshing";
    case CK_STATE_LOGIN_PENDING: return APP_ID "-login-pending";
    case CK_STATE_LOCKED:        return APP_ID "-locked";
    case CK_STATE_ERROR:         return APP_ID "-error";
    case CK_STATE_LOGGED_OUT:
    case CK_STATE_UNKNOWN:
    default:                     return APP_ID "-logged-out";
    }
}

const char *
ck_status_get_symbolic_icon_name (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);

  switch (self->state)
    {
    case CK_STATE_LOGGED_IN:     return APP_ID "-logged-in-symbolic";
    case CK_STATE_EXPIRED:       return APP_ID "-expired-symbolic";
    case CK_STATE_REFRESHING:    return APP_ID "-refreshing-symbolic";
    case CK_STATE_LOGIN_PENDING: return APP_ID "-login-pending-symbolic";
    case CK_STATE_LOCKED:        return APP_ID "-locked-symbolic";
    case CK_STATE_ERROR:         return APP_ID "-error-symbolic";
    case CK_STATE_LOGGED_OUT:
    case CK_STATE_UNKNOWN:
    default:                     return APP_ID "-logged-out-symbolic";
    }
}

const char *
ck_status_get_title (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);

  switch (self->state)
    {
    case CK_STATE_UNKNOWN:       return _("Connecting to the Agent");
    case CK_STATE_LOGGED_OUT:    return _("Not Logged In");
    case CK_STATE_LOGGED_IN:     return _("Logged In");
    case CK_STATE_EXPIRED:       return _("Login Expired");
    case CK_STATE_REFRESHING:    return _("Renewing the Login");
    case CK_STATE_LOGIN_PENDING: return _("Waiting for Login");
    case CK_STATE_LOCKED:        return _("Keyring Locked");
    case CK_STATE_ERROR:
    default:
      if (g_strcmp0 (self->keyring, "unavailable") == 0)
        return _("No Keyring");
      return _("Something Went Wrong");
    }
}

/* One sentence: who, until when, or what to do. */
char *
ck_status_dup_summary (CkStatus *self)
{
  g_autofree char *until = NULL;

  g_return_val_if_fail (CK_IS_STATUS (self), NULL);

  if (self->expires_at > 0)
    until = ck_format_time (self->expires_at);

  switch (self->state)
    {
    case CK_STATE_UNKNOWN:
      return g_strdup (_("Asking the credential agent for its status…"));

    case CK_STATE_LOGGED_OUT:
      return g_strdup (_("Log in so that Claude Code can use your account."));

    case CK_STATE_LOGGED_IN:
      if (g_str_equal (self->source, "helper"))
        return g_strdup (_("Claude Code uses the key printed by your API key helper."));
      if (g_str_equal (self->source, "keyring"))
        return g_strdup (_("Claude Code uses the API key stored in your keyring."));
      if (self->account[0] != '\0' && until != NULL)
        /* Translators: %s are an email address and a time such as 14:05 */
        return g_strdup_printf (_("As %s, renewed automatically (this token until %s)."),
                                self->account, until);
      if (until != NULL)
        return g_strdup_printf (_("Renewed automatically (this token until %s)."), until);
      return g_strdup (_("Claude Code can use your account."));

    case CK_STATE_EXPIRED:
      if (self->last_refresh_error[0] != '\0')
        return g_strdup_printf (_("Renewing the login failed: %s"), self->last_refresh_error);
      return g_strdup (_("The login could not be renewed. Log in again."));

    case CK_STATE_REFRESHING:
      return g_strdup (_("Getting a new token from the server…"));

    case CK_STATE_LOGIN_PENDING:
      return g_strdup (_("Approve the login in your browser."));

    case CK_STATE_LOCKED:
      return g_strdup (_("Unlock your keyring to use the stored login."));

    case CK_STATE_ERROR:
    default:
      if (self->detail[0] != '\0')
        return g_strdup (self->detail);
      return g_strdup (_("The agent reported an error; run the checks for details."));
    }
}

const char *
ck_status_get_source_label (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);

  if (g_str_equal (self->source, "helper"))
    return _("API key helper");
  if (g_str_equal (self->source, "keyring"))
    return _("API key in the keyring");
  if (g_str_equal (self->source, "oauth"))
    return _("Claude account (OAuth)");
  return _("None");
}

const char *
ck_status_get_subscription_label (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);

  if (g_str_equal (self->subscription, "pro"))
    return _("Claude Pro");
  if (g_str_equal (self->subscription, "max"))
    return _("Claude Max");
  if (g_str_equal (self->subscription, "team"))
    return _("Claude Team");
  if (g_str_equal (self->subscription, "enterprise"))
    return _("Claude Enterprise");
  return self->subscription;
}

const char *
ck_status_get_keyring_label (CkStatus *self)
{
  g_return_val_if_fail (CK_IS_STATUS (self), NULL);

  if (g_str_equal (self->keyring, "unlocked"))
    return _("Unlocked");
  if (g_str_equal (self->keyring, "locked"))
    return _("Locked");
  if (g_str_equal (self->keyring, "unavailable"))
    return _("Unavailable");
  return _("Not read yet");
}

/* A local time of day, with the date when it is not today. */
char *
ck_format_time (gint64 unix_seconds)
{
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_local (unix_seconds);
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();

  if (time == NULL)
    return g_strdup ("");

  if (g_date_time_get_year (time) == g_date_time_get_year (now) &&
      g_date_time_get_day_of_year (time) == g_date_time_get_day_of_year (now))
    return g_date_time_format (time, "%H:%M");

  /* Translators: a date and time, see g_date_time_format() */
  return g_date_time_format (time, _("%e %b %Y, %H:%M"));
}

/* "1 h 05 min", "4 min 09 s", "12 s": a countdown that reads well. */
char *
ck_format_duration (gint64 seconds)
{
  seconds = ABS (seconds);

  if (seconds >= 3600)
    /* Translators: hours and minutes of a countdown */
    return g_strdup_printf (_("%d h %02d min"), (int) (seconds / 3600), (int) (seconds % 3600 / 60));
  if (seconds >= 60)
    /* Translators: minutes and seconds of a countdown */
    return g_strdup_printf (_("%d min %02d s"), (int) (seconds / 60), (int) (seconds % 60));
  /* Translators: seconds of a countdown */
  return g_strdup_printf (_("%d s"), (int) seconds);
}

static void
ck_status_finalize (GObject *object)
{
  CkStatus *self = (CkStatus *) object;

  g_clear_pointer (&self->dict, g_variant_unref);
  g_clear_pointer (&self->state_name, g_free);
  g_clear_pointer (&self->source, g_free);
  g_clear_pointer (&self->account, g_free);
  g_clear_pointer (&self->organization, g_free);
  g_clear_pointer (&self->subscription, g_free);
  g_clear_pointer (&self->scopes, g_strfreev);
  g_clear_pointer (&self->keyring, g_free);
  g_clear_pointer (&self->detail, g_free);
  g_clear_pointer (&self->last_refresh_error, g_free);
  g_clear_pointer (&self->accounts, g_variant_unref);

  G_OBJECT_CLASS (ck_status_parent_class)->finalize (object);
}

static void
ck_status_class_init (CkStatusClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = ck_status_finalize;

  /**
   * CkStatus::changed:
   *
   * Emitted once per new status dict from the agent.
   */
  signals[CHANGED] =
    g_signal_new ("changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 0);
}

static void
ck_status_init (CkStatus *self)
{
  self->state = CK_STATE_UNKNOWN;
  self->state_name = g_strdup ("unknown");
  self->source = g_strdup ("");
  self->account = g_strdup ("");
  self->organization = g_strdup ("");
  self->subscription = g_strdup ("");
  self->scopes = g_new0 (char *, 1);
  self->keyring = g_strdup ("unknown");
  self->detail = g_strdup ("");
  self->last_refresh_error = g_strdup ("");
  self->accounts = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARDICT, NULL, 0));
}

CkStatus *
ck_status_new (void)
{
  return g_object_new (CK_TYPE_STATUS, NULL);
}
