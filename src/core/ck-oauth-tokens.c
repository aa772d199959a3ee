/* ck-oauth-tokens.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-oauth-tokens"

#include "config.h"

#include <string.h>

#include "ck-error.h"
#include "ck-oauth-tokens.h"

G_DEFINE_BOXED_TYPE (CkOAuthTokens, ck_oauth_tokens,
                     ck_oauth_tokens_ref, ck_oauth_tokens_unref)

/* Members mapped to fields; everything else goes to @extra. */
static const char *known_members[] = {
  "accessToken", "refreshToken", "expiresAt", "scopes",
  "subscriptionType", "rateLimitTier", "account", "organization",
  "expiresAtAssumed",
};

void
ck_secret_free (char *secret)
{
  if (secret == NULL)
    return;
  explicit_bzero (secret, strlen (secret));
  g_free (secret);
}

static void
ck_oauth_tokens_clear (CkOAuthTokens *self)
{
  g_clear_pointer (&self->access_token, ck_secret_free);
  g_clear_pointer (&self->refresh_token, ck_secret_free);
  g_clear_pointer (&self->scopes, g_strfreev);
  g_clear_pointer (&self->subscription_type, g_free);
  g_clear_pointer (&self->rate_limit_tier, g_free);
  g_clear_pointer (&self->account_uuid, g_free);
  g_clear_pointer (&self->account_email, g_free);
  g_clear_pointer (&self->organization_uuid, g_free);
  g_clear_pointer (&self->organization_name, g_free);
  g_clear_pointer (&self->extra, json_object_unref);
}

CkOAuthTokens *
ck_oauth_tokens_new (void)
{
  CkOAuthTokens *self = g_atomic_rc_box_new0 (CkOAuthTokens);

  self->scopes = g_new0 (char *, 1);
  return self;
}

CkOAuthTokens *
ck_oauth_tokens_ref (CkOAuthTokens *self)
{
  return g_atomic_rc_box_acquire (self);
}

void
ck_oauth_tokens_unref (CkOAuthTokens *self)
{
  g_atomic_rc_box_release_full (self, (GDestroyNotify) ck_oauth_tokens_clear);
}

CkOAuthTokens *
ck_oauth_tokens_copy (const CkOAuthTokens *self)
{
  CkOAuthTokens *copy = ck_oauth_tokens_new ();

  copy->access_token = g_strdup (self->access_token);
  copy->refresh_token = g_strdup (self->refresh_token);
  copy->expires_at_ms = self->expires_at_ms;
  copy->expiry_assumed = self->expiry_assumed;
  g_strfreev (copy->scopes);
  copy->scopes = g_strdupv (self->scopes);
  copy->subscription_type = g_strdup (self->subscription_type);
  copy->rate_limit_tier = g_strdup (self->rate_limit_tier);
  copy->account_uuid = g_strdup (self->account_uuid);
  copy->account_email = g_strdup (self->account_email);
  copy->organization_uuid = g_strdup (self->organization_uuid);
  copy->organization_name = g_strdup (self->organization_name);
  /* @extra is never modified after parsing, so it can be shared. */
  if (self->extra != NULL)
    copy->extra = json_object_ref (self->extra);
  return copy;
}

/* A missing @object has no members: the profile's halves are optional. */
static const char *
member_string (JsonObject *object,
               const char *name)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* An email or organization name, shown in terminals, menus and
 * notifications and read from a file anyone with write access to it
 * wrote: none with control or format (bidi) characters. */
static const char *
member_label (JsonObject *object,
              const char *name)
{
  const char *value = member_string (object, name);

  if (value == NULL || strlen (value) > 256 || !g_utf8_validate (value, -1, NULL))
    return NULL;
  for (const char *p = value; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_iscntrl (c) || g_unichar_type (c) == G_UNICODE_FORMAT)
        return NULL;
    }
  return value;
}

static gboolean
member_int (JsonObject *object,
            const char *name,
            gint64     *value)
{
  JsonNode *node = json_object_get_member (object, name);
  GType type;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    *value = json_node_get_int (node);
  else if (type == G_TYPE_DOUBLE && ABS (json_node_get_double (node)) < 9.2e18)
    *value = (gint64) json_node_get_double (node);
  else
    return FALSE;
  return TRUE;
}

static JsonObject *
member_object (JsonObject *object,
               const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  return json_node_get_object (node);
}

static char **
split_scopes (const char *scope)
{
  g_auto(GStrv) parts = g_strsplit_set (scope != NULL ? scope : "", " ", -1);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] != '\0')
      g_strv_builder_add (builder, parts[i]);
  return g_strv_builder_end (builder);
}

static JsonObject *
parse_object (const char  *json,
              gssize       length,
              const char  *what,
              GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonNode *root;

  if (json == NULL || !json_parser_load_from_data (parser, json, length, NULL))
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "%s is not valid JSON", what);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "%s is not a JSON object", what);
      return NULL;
    }

  /* json-glib 1.6 accepts a lone surrogate escape and turns it into
   * invalid UTF-8, and writes some numbers it cannot read back. What we
   * store must load again, so such input is refused here. */
  {
    g_autofree char *again = json_to_string (root, FALSE);
    g_autoptr(JsonNode) reparsed = NULL;

    if (!g_utf8_validate (again, -1, NULL) ||
        !(reparsed = json_from_string (again, NULL)))
      {
        g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                     "%s holds text or numbers that cannot be stored", what);
        if (again != NULL)
          explicit_bzero (again, strlen (again));
        return NULL;
      }
    explicit_bzero (again, strlen (again));
  }

  return json_object_ref (json_node_get_object (root));
}

static CkOAuthTokens *
tokens_from_object (JsonObject  *object,
                    const char  *what,
                    GError     **error)
{
  g_autoptr(CkOAuthTokens) self = ck_oauth_tokens_new ();
  JsonObject *account, *organization;
  JsonNode *scopes, *node;
  GList *members;

  self->access_token = g_strdup (member_string (object, "accessToken"));
  self->refresh_token = g_strdup (member_string (object, "refreshToken"));
  if (self->access_token == NULL || self->access_token[0] == '\0')
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "%s has no accessToken", what);
      return NULL;
    }
  if (!member_int (object, "expiresAt", &self->expires_at_ms))
    self->expires_at_ms = 0;
  node = json_object_get_member (object, "expiresAtAssumed");
  self->expiry_assumed = node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
                         json_node_get_value_type (node) == G_TYPE_BOOLEAN &&
                         json_node_get_boolean (node);

  scopes = json_object_get_member (object, "scopes");
  if (scopes != NULL && JSON_NODE_HOLDS_ARRAY (scopes))
    {
      JsonArray *array = json_node_get_array (scopes);
      g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *item = json_array_get_element (array, i);

          if (JSON_NODE_HOLDS_VALUE (item) &&
              json_node_get_value_type (item) == G_TYPE_STRING)
            g_strv_builder_add (builder, json_node_get_string (item));
        }
      g_strfreev (self->scopes);
      self->scopes = g_strv_builder_end (builder);
    }
  else if (member_string (object, "scopes") != NULL)
    {
      g_strfreev (self->scopes);
      self->scopes = split_scopes (member_string (object, "scopes"));
    }

  self->subscription_type = g_strdup (member_string (object, "subscriptionType"));
  self->rate_limit_tier = g_strdup (member_string (object, "rateLimitTier"));

  if ((account = member_object (object, "account")))
    {
      self->account_uuid = g_strdup (member_string (account, "uuid"));
      self->account_email = g_strdup (member_label (account, "emailAddress"));
    }
  if ((organization = member_object (object, "organization")))
    {
      self->organization_uuid = g_strdup (member_string (organization, "uuid"));
      self->organization_name = g_strdup (member_label (organization, "name"));
    }

  members = json_object_get_members (object);
  for (const GList *l = members; l != NULL; l = l->next)
    {
      if (g_strv_contains (known_members, l->data))
        continue;
      if (self->extra == NULL)
        self->extra = json_object_new ();
      json_object_set_member (self->extra, l->data,
                              json_node_copy (json_object_get_member (object, l->data)));
    }
  g_list_free (members);

  return g_steal_pointer (&self);
}

CkOAuthTokens *
ck_oauth_tokens_new_from_json (const char  *json,
                               gssize       length,
                               GError     **error)
{
  g_autoptr(JsonObject) object = parse_object (json, length, "The stored login", error);

  if (object == NULL)
    return NULL;
  return tokens_from_object (object, "The stored login", error);
}

CkOAuthTokens *
ck_oauth_tokens_new_from_credentials_file (const char  *contents,
                                           gssize       length,
                                           GError     **error)
{
  const char *what = "The credentials file";
  g_autoptr(JsonObject) object = parse_object (contents, length, what, error);
  JsonObject *oauth;

  if (object == NULL)
    return NULL;
  if (!(oauth = member_object (object, "claudeAiOauth")))
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "%s has no claudeAiOauth login", what);
      return NULL;
    }
  return tokens_from_object (oauth, what, error);
}

CkOAuthTokens *
ck_oauth_tokens_new_from_token_response (const char  *body,
                                         gssize       length,
                                         gint64       now_ms,
                                         GError     **error)
{
  const char *what = "The token endpoint's reply";
  g_autoptr(JsonObject) object = parse_object (body, length, what, error);
  g_autoptr(CkOAuthTokens) self = NULL;
  JsonObject *account, *organization;
  gint64 expires_in;

  if (object == NULL)
    return NULL;

  self = ck_oauth_tokens_new ();
  self->access_token = g_strdup (member_string (object, "access_token"));
  if (self->access_token == NULL || self->access_token[0] == '\0')
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "%s has no access_token", what);
      return NULL;
    }
  self->refresh_token = g_strdup (member_string (object, "refresh_token"));
  if (member_int (object, "expires_in", &expires_in) && expires_in > 0 &&
      expires_in < G_MAXINT64 / 1000 - now_ms / 1000)
    self->expires_at_ms = now_ms + expires_in * 1000;
  ck_oauth_tokens_assume_lifetime (self, now_ms);

  if (member_string (object, "scope") != NULL)
    {
      g_strfreev (self->scopes);
      self->scopes = split_scopes (member_string (object, "scope"));
    }

  if ((account = member_object (object, "account")))
    {
      self->account_uuid = g_strdup (member_string (account, "uuid"));
      self->account_email = g_strdup (member_label (account, "email_address"));
    }
  if ((organization = member_object (object, "organization")))
    {
      self->organization_uuid = g_strdup (member_string (organization, "uuid"));
      self->organization_name = g_strdup (member_label (organization, "name"));
    }

  return g_steal_pointer (&self);
}

static void
replace_string (char       **field,
                const char  *value)
{
  if (value == NULL || value[0] == '\0')
    return;

  g_free (*field);
  *field = g_strdup (value);
}

/* Claude Code stores the plan under these short names. */
static const char *
subscription_from_organization_type (const char *type)
{
  static const struct {
    const char *type;
    const char *subscription;
  } map[] = {
    { "claude_max", "max" },
    { "claude_pro", "pro" },
    { "claude_team", "team" },
    { "claude_enterprise", "enterprise" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (g_strcmp0 (type, map[i].type) == 0)
      return map[i].subscription;

  return type;
}

gboolean
ck_oauth_tokens_apply_profile (CkOAuthTokens  *self,
                               const char     *body,
                               gssize          length,
                               GError        **error)
{
  const char *what = "The profile";
  g_autoptr(JsonObject) object = parse_object (body, length, what, error);
  JsonObject *account, *organization;

  if (object == NULL)
    return FALSE;

  account = member_object (object, "account");
  organization = member_object (object, "organization");
  if (account == NULL && organization == NULL)
    {
      g_set_error (error, CK_ERROR, CK_ERROR_INVALID_ARGUMENT,
                   "%s names no account and no organization", what);
      return FALSE;
    }

  replace_string (&self->account_uuid, member_string (account, "uuid"));
  if (member_label (account, "email") != NULL)
    replace_string (&self->account_email, member_label (account, "email"));
  else
    replace_string (&self->account_email, member_label (account, "email_address"));

  replace_string (&self->organization_uuid, member_string (organization, "uuid"));
  replace_string (&self->organization_name, member_label (organization, "name"));
  replace_string (&self->subscription_type,
                  subscription_from_organization_type (member_string (organization,
                                                                      "organization_type")));
  replace_string (&self->rate_limit_tier, member_string (organization, "rate_limit_tier"));

  return TRUE;
}

const char *
ck_oauth_reply_find_error (const char         *body,
                           gssize              length,
                           const char * const *known)
{
  g_autoptr(JsonObject) object = parse_object (body, length, "The reply", NULL);
  const char *value;

  if (object == NULL || (value = member_string (object, "error")) == NULL)
    return NULL;

  for (guint i = 0; known[i] != NULL; i++)
    if (g_str_equal (value, known[i]))
      return known[i];

  return NULL;
}

static void
set_string (JsonBuilder *builder,
            const char  *name,
            const char  *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

char *
ck_oauth_tokens_to_json (const CkOAuthTokens *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new_immutable ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  set_string (builder, "accessToken", self->access_token);
  set_string (builder, "refreshToken", self->refresh_token);
  json_builder_set_member_name (builder, "expiresAt");
  json_builder_add_int_value (builder, self->expires_at_ms);
  if (self->expiry_assumed)
    {
      json_builder_set_member_name (builder, "expiresAtAssumed");
      json_builder_add_boolean_value (builder, TRUE);
    }
  json_builder_set_member_name (builder, "scopes");
  json_builder_begin_array (builder);
  for (guint i = 0; self->scopes != NULL && self->scopes[i] != NULL; i++)
    json_builder_add_string_value (builder, self->scopes[i]);
  json_builder_end_array (builder);
  set_string (builder, "subscriptionType", self->subscription_type);
  set_string (builder, "rateLimitTier", self->rate_limit_tier);
  if (self->account_uuid != NULL || self->account_email != NULL)
    {
      json_builder_set_member_name (builder, "account");
      json_builder_begin_object (builder);
      set_string (builder, "uuid", self->account_uuid);
      set_string (builder, "emailAddress", self->account_email);
      json_builder_end_object (builder);
    }
  if (self->organization_uuid != NULL || self->organization_name != NULL)
    {
      json_builder_set_member_name (builder, "organization");
      json_builder_begin_object (builder);
      set_string (builder, "uuid", self->organization_uuid);
      set_string (builder, "name", self->organization_name);
      json_builder_end_object (builder);
    }
  if (self->extra != NULL)
    {
      GList *members = json_object_get_members (self->extra);

      for (const GList *l = members; l != NULL; l = l->next)
        {
          json_builder_set_member_name (builder, l->data);
          json_builder_add_value (builder,
                                  json_node_copy (json_object_get_member (self->extra, l->data)));
        }
      g_list_free (members);
    }
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

gboolean
ck_oauth_tokens_equal (const CkOAuthTokens *a,
                       const CkOAuthTokens *b)
{
  g_autofree char *ja = NULL;
  g_autofree char *jb = NULL;
  gboolean equal;

  if (a == b)
    return TRUE;
  if (a == NULL || b == NULL)
    return FALSE;
  ja = ck_oauth_tokens_to_json (a);
  jb = ck_oauth_tokens_to_json (b);
  equal = g_strcmp0 (ja, jb) == 0;
  explicit_bzero (ja, strlen (ja));
  explicit_bzero (jb, strlen (jb));
  return equal;
}

void
ck_oauth_tokens_assume_lifetime (CkOAuthTokens *self,
                                 gint64         now_ms)
{
  /* Without a lifetime the token would never be refreshed and would fail
   * the day the server drops it; refreshing early costs one request. A
   * token that cannot be refreshed keeps "unknown": cutting it short
   * would only lock the user out sooner. */
  if (self->expires_at_ms != 0 ||
      self->refresh_token == NULL || self->refresh_token[0] == '\0')
    return;
  self->expires_at_ms = now_ms + CK_OAUTH_ASSUMED_LIFETIME_SEC * 1000;
  self->expiry_assumed = TRUE;
}

gboolean
ck_oauth_tokens_valid_for (const CkOAuthTokens *self,
                           gint64               now_ms,
                           guint                seconds)
{
  /* A token without a known expiry is taken as valid, as Claude Code does. */
  if (self->expires_at_ms == 0)
    return TRUE;
  return self->expires_at_ms > now_ms + (gint64) seconds * 1000;
}

char *
ck_oauth_tokens_dup_scopes_string (const CkOAuthTokens *self)
{
  return g_strjoinv (" ", self->scopes);
}
