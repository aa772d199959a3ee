/* ck-config.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each endpoint is a setting; an environment variable of the agent wins
 * over it (DESIGN.md's table). Anything but https is refused, except plain
 * http to a loopback host, which is what tests use.
 */

#define G_LOG_DOMAIN "ck-config"

#include "config.h"

#include <string.h>

#include "ck-config.h"
#include "ck-error.h"

typedef struct
{
  const char *key;
  const char *env[2];
} EndpointInfo;

static const EndpointInfo endpoints[] = {
  [CK_ENDPOINT_AUTHORIZE] = { "authorize-url", { "CLAUDE_KEYRING_AUTHORIZE_URL", NULL } },
  [CK_ENDPOINT_CONSOLE_AUTHORIZE] = { "console-authorize-url", { "CLAUDE_KEYRING_CONSOLE_AUTHORIZE_URL", NULL } },
  [CK_ENDPOINT_TOKEN] = { "token-url", { "CLAUDE_KEYRING_TOKEN_URL", NULL } },
  [CK_ENDPOINT_MANUAL_REDIRECT] = { "manual-redirect-url", { "CLAUDE_KEYRING_MANUAL_REDIRECT_URL", NULL } },
  [CK_ENDPOINT_API_BASE] = { "api-base-url", { "CLAUDE_KEYRING_API_BASE_URL", "ANTHROPIC_BASE_URL" } },
  [CK_ENDPOINT_REVOKE] = { "revoke-url", { "CLAUDE_KEYRING_REVOKE_URL", NULL } },
};

static gboolean
host_is_loopback (const char *host)
{
  g_autoptr(GInetAddress) address = NULL;

  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return TRUE;
  address = g_inet_address_new_from_string (host);
  return address != NULL && g_inet_address_get_is_loopback (address);
}

gboolean
ck_config_check_url (const char  *url,
                     GError     **error)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  const char *scheme;

  if (uri == NULL || g_uri_get_host (uri) == NULL || g_uri_get_host (uri)[0] == '\0')
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "“%s” is not a valid URL; fix the setting or environment variable.", url);
      return FALSE;
    }
  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "https") == 0)
    return TRUE;
  if (g_ascii_strcasecmp (scheme, "http") == 0 && host_is_loopback (g_uri_get_host (uri)))
    return TRUE;
  g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
               "“%s” must use https (plain http is only allowed for localhost).", url);
  return FALSE;
}

static char *
derive_revoke_url (const char *token_url)
{
  const char *slash = strrchr (token_url, '/');
  const char *query = strpbrk (token_url, "?#");

  if (slash == NULL || (query != NULL && query < slash))
    return g_strdup (token_url);
  return g_strdup_printf ("%.*srevoke", (int) (slash - token_url + 1), token_url);
}

char *
ck_config_dup_endpoint (GSettings   *settings,
                        CkEndpoint   endpoint,
                        GError     **error)
{
  const EndpointInfo *info;
  g_autofree char *url = NULL;

  g_return_val_if_fail (endpoint < G_N_ELEMENTS (endpoints), NULL);

  info = &endpoints[endpoint];
  for (guint i = 0; i < G_N_ELEMENTS (info->env) && url == NULL; i++)
    {
      const char *value = info->env[i] != NULL ? g_getenv (info->env[i]) : NULL;

      if (value != NULL && value[0] != '\0')
        url = g_strdup (value);
    }
  if (url == NULL)
    url = g_settings_get_string (settings, info->key);

  if (endpoint == CK_ENDPOINT_REVOKE && url[0] == '\0')
    {
      g_autofree char *token_url = ck_config_dup_endpoint (settings, CK_ENDPOINT_TOKEN, error);

      if (token_url == NULL)
        return NULL;
      g_free (url);
      url = derive_revoke_url (token_url);
    }

  /* Base URLs are joined with paths; one trailing slash is noise. */
  if (endpoint == CK_ENDPOINT_API_BASE && g_str_has_suffix (url, "/"))
    url[strlen (url) - 1] = '\0';

  if (!ck_config_check_url (url, error))
    return NULL;
  return g_steal_pointer (&url);
}

char *
ck_config_dup_client_id (GSettings *settings)
{
  const char *value = g_getenv ("CLAUDE_KEYRING_CLIENT_ID");

  if (value != NULL && value[0] != '\0')
    return g_strdup (value);
  return g_settings_get_string (settings, "client-id");
}

char *
ck_config_dup_scopes (GSettings *settings,
                      gboolean   console)
{
  g_autofree char *scopes = g_settings_get_string (settings, "scopes");
  g_auto(GStrv) parts = g_strsplit (scopes, " ", -1);

  if (console && !g_strv_contains ((const char * const *) parts, CK_CONSOLE_EXTRA_SCOPE))
    return g_strconcat (scopes, " " CK_CONSOLE_EXTRA_SCOPE, NULL);
  return g_steal_pointer (&scopes);
}

/* @dir holds @path: the same directory or one of its parents, compared a
 * whole component at a time ("/work" does not hold "/workshop"). */
static gboolean
dir_holds (const char *dir,
           const char *path)
{
  gsize length = strlen (dir);

  while (length > 1 && dir[length - 1] == '/')
    length--;
  if (strncmp (dir, path, length) != 0)
    return FALSE;
  return path[length] == '\0' || path[length] == '/' || (length == 1 && dir[0] == '/');
}

char *
ck_config_match_account_rule (GSettings   *settings,
                              const char  *cwd,
                              char       **dir)
{
  g_autoptr(GVariant) rules = NULL;
  g_autofree char *best_dir = NULL;
  g_autofree char *best = NULL;
  g_autofree char *path = NULL;
  gsize best_length = 0;
  GVariantIter iter;
  const char *rule_dir, *account;

  if (cwd == NULL || cwd[0] != '/')
    return NULL;

  /* Both sides without "..", "." and doubled slashes (a rule written into
   * the setting by hand, a cwd given over the bus): "/work/../home" is not
   * in "/work", and "/a////" is not longer than "/a/b". */
  path = g_canonicalize_filename (cwd, NULL);
  rules = g_settings_get_value (settings, "account-rules");
  g_variant_iter_init (&iter, rules);
  while (g_variant_iter_next (&iter, "{&s&s}", &rule_dir, &account))
    {
      g_autofree char *canonical = NULL;

      if (rule_dir[0] != '/')
        continue;
      canonical = g_canonicalize_filename (rule_dir, NULL);
      if (dir_holds (canonical, path) && (best_dir == NULL || strlen (canonical) > best_length))
        {
          best_length = strlen (canonical);
          g_free (best_dir);
          best_dir = g_strdup (rule_dir);
          g_free (best);
          best = g_strdup (account);
        }
    }

  if (dir != NULL)
    *dir = g_steal_pointer (&best_dir);
  return g_steal_pointer (&best);
}
