/* ck-login-flow.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * One login attempt, from the authorize URL to the exchanged tokens: its
 * PKCE verifier and state, its redirect URI and loopback server, its
 * timeout. The object lives exactly as long as the attempt: dropping the
 * last reference cancels what is under way and closes the server, so a
 * browser that comes back late is told nothing and no code of an attempt
 * that is over is redeemed. That is why the pending operations hold the
 * flow only weakly.
 */

#define G_LOG_DOMAIN "ck-login-flow"

#include "config.h"

#include <string.h>

#include "ck-config.h"
#include "ck-error.h"
#include "ck-login-flow.h"
#include "ck-loopback-server.h"
#include "ck-oauth-client.h"
#include "ck-pkce.h"

/* The flow's own timer ends the attempt; the server's is only a backstop. */
#define SERVER_GRACE_SEC 60

struct _CkLoginFlow
{
  GObject           parent_instance;

  GSettings        *settings;
  CkPkce           *pkce;
  char             *redirect_uri;
  char             *authorize_url;
  CkLoopbackServer *server;          /* NULL for a manual login */
  /* The whole attempt, and the wait for the browser alone, which a
   * pasted code ends while the rest goes on. */
  GCancellable     *cancellable;
  GCancellable     *wait_cancellable;
  guint             timeout;
  guint             timeout_id;
  gboolean          exchanging;
};

G_DEFINE_FINAL_TYPE (CkLoginFlow, ck_login_flow, G_TYPE_OBJECT)

enum {
  FINISHED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* What a pending operation holds: the flow, weakly, and what it carries
 * to the next step. */
typedef struct
{
  GWeakRef       flow;
  CkOAuthTokens *tokens;
} Step;

static Step *
step_new (CkLoginFlow *self)
{
  Step *step = g_new0 (Step, 1);

  g_weak_ref_init (&step->flow, self);
  return step;
}

static void
step_free (Step *step)
{
  g_weak_ref_clear (&step->flow);
  g_clear_pointer (&step->tokens, ck_oauth_tokens_unref);
  g_free (step);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Step, step_free)

/* The flow, if the attempt is still going on. */
static CkLoginFlow *
step_dup_flow (Step *step)
{
  CkLoginFlow *self = g_weak_ref_get (&step->flow);

  if (self != NULL && g_cancellable_is_cancelled (self->cancellable))
    g_clear_object (&self);
  return self;
}

/* Once: nothing of this attempt runs on after it. The handler may drop
 * the last reference to the flow. */
static void
finish (CkLoginFlow   *self,
        CkOAuthTokens *tokens,
        const char    *message)
{
  g_cancellable_cancel (self->wait_cancellable);
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  g_signal_emit (self, signals[FINISHED], 0, tokens, message);
}

static void
on_profile (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(Step) step = user_data;
  g_autoptr(CkLoginFlow) self = step_dup_flow (step);
  g_autoptr(GError) error = NULL;
  g_autoptr(CkOAuthTokens) profiled = NULL;

  profiled = ck_oauth_client_fetch_profile_finish (CK_OAUTH_CLIENT (object), result, &error);
  if (self == NULL)
    return;

  /* The account details are a nicety: the login works without them. */
  if (profiled == NULL)
    g_debug ("No account details from the profile endpoint: %s", error->message);
  finish (self, profiled != NULL ? profiled : step->tokens, NULL);
}

static void
on_exchanged (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(Step) step = user_data;
  g_autoptr(CkLoginFlow) self = step_dup_flow (step);
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;
  const CkOAuthTokens *tokens;

  step->tokens = ck_oauth_client_exchange_code_finish (CK_OAUTH_CLIENT (object), result, &error);
  if (self == NULL)
    return;

  if (step->tokens == NULL)
    {
      if (g_error_matches (error, CK_OAUTH_ERROR, CK_OAUTH_ERROR_INVALID_GRANT))
        message = g_strdup ("The server refused the login code; it may have expired or been "
                            "used already. Start the login again.");
      else
        message = g_strdup_printf ("Logging in failed: %s", error->message);
      finish (self, NULL, message);
      return;
    }

  tokens = step->tokens;
  ck_oauth_client_fetch_profile_async (CK_OAUTH_CLIENT (object), tokens, self->cancellable,
                                       on_profile, g_steal_pointer (&step));
}

static void
exchange_code (CkLoginFlow *self,
               const char  *code)
{
  g_autoptr(CkOAuthClient) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;

  self->exchanging = TRUE;
  g_clear_handle_id (&self->timeout_id, g_source_remove);

  if (!(client = ck_oauth_client_new_for_settings (self->settings, &error)))
    {
      message = g_strdup_printf ("Logging in failed: %s", error->message);
      finish (self, NULL, message);
      return;
    }

  ck_oauth_client_exchange_code_async (client, code, self->pkce->verifier, self->redirect_uri,
                                       self->pkce->state, self->cancellable,
                                       on_exchanged, step_new (self));
}

static void
on_callback (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(Step) step = user_data;
  g_autoptr(CkLoginFlow) self = step_dup_flow (step);
  g_autoptr(GError) error = NULL;
  char *code;

  code = ck_loopback_server_wait_finish (CK_LOOPBACK_SERVER (object), result, &error);
  /* The attempt ended, or a pasted code took over. */
  if (self == NULL || self->exchanging)
    {
      ck_secret_free (code);
      return;
    }
  if (code == NULL)
    {
      finish (self, NULL, error->message);
      return;
    }
  exchange_code (self, code);
  ck_secret_free (code);
}

static gboolean
on_timeout (gpointer user_data)
{
  CkLoginFlow *self = user_data;
  g_autofree char *message = NULL;
  guint minutes = (self->timeout + 59) / 60;

  self->timeout_id = 0;
  message = g_strdup_printf ("No answer from the browser within %u minute%s; run the login again.",
                             minutes, minutes == 1 ? "" : "s");
  finish (self, NULL, message);
  return G_SOURCE_REMOVE;
}

CkLoginFlow *
ck_login_flow_new (GSettings    *settings,
                   CkLoginMode   mode,
                   gboolean      manual,
                   GError      **error)
{
  g_autoptr(CkLoginFlow) self = NULL;
  g_autofree char *authorize_url = NULL;
  g_autofree char *client_id = NULL;
  g_autofree char *scopes = NULL;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  authorize_url = ck_config_dup_endpoint (settings,
                                          mode == CK_LOGIN_MODE_CONSOLE ? CK_ENDPOINT_CONSOLE_AUTHORIZE
                                                                        : CK_ENDPOINT_AUTHORIZE,
                                          error);
  if (authorize_url == NULL)
    return NULL;

  self = g_object_new (CK_TYPE_LOGIN_FLOW, NULL);
  self->settings = g_object_ref (settings);
  self->pkce = ck_pkce_new ();
  if (manual)
    {
      if (!(self->redirect_uri = ck_config_dup_endpoint (settings, CK_ENDPOINT_MANUAL_REDIRECT, error)))
        return NULL;
    }
  else
    {
      g_autoptr(GError) local_error = NULL;

      if (!(self->server = ck_loopback_server_new (self->pkce->state, &local_error)))
        {
          g_set_error (error, CK_ERROR, CK_ERROR_LOGIN_FAILED,
                       "Cannot listen for the browser on this machine (%s); try a manual login.",
                       local_error->message);
          return NULL;
        }
      self->redirect_uri = ck_loopback_server_dup_redirect_uri (self->server);
    }

  client_id = ck_config_dup_client_id (settings);
  scopes = ck_config_dup_scopes (settings, mode == CK_LOGIN_MODE_CONSOLE);
  self->authorize_url = ck_pkce_build_authorize_url (self->pkce, authorize_url, client_id,
                                                     self->redirect_uri, scopes);

  self->timeout = g_settings_get_uint (settings, "login-timeout");
  self->timeout_id = g_timeout_add_seconds (self->timeout, on_timeout, self);
  if (self->server != NULL)
    {
      ck_loopback_server_set_authorize_url (self->server, self->authorize_url);
      ck_loopback_server_wait_async (self->server, self->timeout + SERVER_GRACE_SEC,
                                     self->wait_cancellable, on_callback, step_new (self));
    }

  return g_steal_pointer (&self);
}

const char *
ck_login_flow_get_authorize_url (CkLoginFlow *self)
{
  g_return_val_if_fail (CK_IS_LOGIN_FLOW (self), NULL);

  return self->authorize_url;
}

gboolean
ck_login_flow_complete (CkLoginFlow  *self,
                        const char   *pasted,
                        GError      **error)
{
  g_autoptr(CkLoginFlow) hold = NULL;
  g_autofree char *trimmed = NULL;
  g_autofree char *code = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (CK_IS_LOGIN_FLOW (self), FALSE);
  g_return_val_if_fail (pasted != NULL, FALSE);

  /* Also once the attempt is over: its owner has it still while it saves
   * the new login. */
  if (self->exchanging || g_cancellable_is_cancelled (self->cancellable))
    {
      g_set_error_literal (error, CK_ERROR, CK_ERROR_LOGIN_IN_PROGRESS,
                           "The login is already being completed.");
      return FALSE;
    }

  trimmed = g_strstrip (g_strdup (pasted));
  if (g_str_has_prefix (trimmed, "http://") || g_str_has_prefix (trimmed, "https://"))
    {
      g_autoptr(GUri) uri = g_uri_parse (trimmed, G_URI_FLAGS_ENCODED, NULL);

      /* The address the browser could not open still carries the code. */
      if (uri == NULL ||
          !ck_loopback_parse_callback (CK_LOOPBACK_CALLBACK_PATH, g_uri_get_query (uri),
                                       self->pkce->state, &code, &local_error))
        {
          g_set_error_literal (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                               "The pasted address does not belong to this login; paste the "
                               "code shown after you approved, or start the login again.");
          explicit_bzero (trimmed, strlen (trimmed));
          return FALSE;
        }
    }
  else if (!ck_pkce_parse_manual_code (trimmed, self->pkce->state, &code, error))
    {
      explicit_bzero (trimmed, strlen (trimmed));
      return FALSE;
    }
  explicit_bzero (trimmed, strlen (trimmed));

  /* A failure is reported through ::finished, whose handler may drop the
   * last other reference. */
  hold = g_object_ref (self);
  g_cancellable_cancel (self->wait_cancellable);
  exchange_code (self, code);
  explicit_bzero (code, strlen (code));
  return TRUE;
}

static void
ck_login_flow_dispose (GObject *object)
{
  CkLoginFlow *self = (CkLoginFlow *) object;

  /* Cancelling the wait closes the loopback server. */
  g_cancellable_cancel (self->wait_cancellable);
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  g_clear_object (&self->server);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (ck_login_flow_parent_class)->dispose (object);
}

static void
ck_login_flow_finalize (GObject *object)
{
  CkLoginFlow *self = (CkLoginFlow *) object;

  g_clear_object (&self->cancellable);
  g_clear_object (&self->wait_cancellable);
  g_clear_pointer (&self->pkce, ck_pkce_free);
  g_clear_pointer (&self->redirect_uri, g_free);
  /* It carries the state and the PKCE challenge. */
  g_clear_pointer (&self->authorize_url, ck_secret_free);

  G_OBJECT_CLASS (ck_login_flow_parent_class)->finalize (object);
}

static void
ck_login_flow_class_init (CkLoginFlowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ck_login_flow_dispose;
  object_class->finalize = ck_login_flow_finalize;

  /**
   * CkLoginFlow::finished:
   * @tokens: (nullable): the new login, with the account details the
   *   profile endpoint gave, or %NULL when the attempt failed
   * @message: (nullable): why it failed, one sentence for the user
   *
   * Emitted once; everything else of the attempt has stopped by then, and
   * a handler may drop the flow.
   */
  signals[FINISHED] =
    g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  CK_TYPE_OAUTH_TOKENS | G_SIGNAL_TYPE_STATIC_SCOPE,
                  G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
ck_login_flow_init (CkLoginFlow *self)
{
  self->cancellable = g_cancellable_new ();
  self->wait_cancellable = g_cancellable_new ();
}
