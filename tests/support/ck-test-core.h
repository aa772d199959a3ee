/* ck-test-core.h: what the C tests of src/core share: waits in the main
 * loop, the keyring through CkTokenStore, a capture of the log, and
 * tests/support/fake-oauth-server.py with a "browser" for its authorize
 * endpoint
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "ck-token-store.h"

G_BEGIN_DECLS

/* Waiting for one async result in the default main context. */
typedef struct
{
  gboolean      done;
  GAsyncResult *result;
} CkTestAsync;

void          ck_test_run_until         (const gboolean *flag);
/* Runs the main loop for @ms milliseconds. */
void          ck_test_run_for           (guint           ms);
void          ck_test_async_cb          (GObject        *object,
                                         GAsyncResult   *result,
                                         gpointer        user_data);
GAsyncResult *ck_test_async_wait        (CkTestAsync    *async);
void          ck_test_async_clear       (CkTestAsync    *async);

/* The keyring of the test session, through @store; each asserts success. */
void          ck_test_store_load        (CkTokenStore   *store);
/* Removes every secret of ours, then reads the (empty) keyring. */
void          ck_test_store_clear       (CkTokenStore   *store);
void          ck_test_store_set_oauth   (CkTokenStore   *store,
                                         CkOAuthTokens  *tokens);
void          ck_test_store_set_api_key (CkTokenStore   *store,
                                         const char     *key);

/* Call before g_test_init(): every message logged from then on, debug
 * ones too, is kept in the array returned (which the caller must not
 * free); only warnings and worse are printed. */
GPtrArray    *ck_test_capture_log       (void);

/* Another local user: nobody, through setpriv (the tests run as root). */

/* Programs that another user can run: not through root's own PATH. */
#define CK_TEST_CURL    "/usr/bin/curl"
#define CK_TEST_PYTHON3 "/usr/bin/python3"

/* Whether this test can act as another user (root, setpriv, curl and
 * python3); skips the test when not. */
gboolean      ck_test_can_switch_user   (void);
/* tests/support/hold-connections.py as nobody: @count idle connections
 * to 127.0.0.1:@port, while the main loop runs (the server may be in
 * this process). Returns the process, which holds them until its stdin
 * is closed; @open is how many the server left open. */
GSubprocess  *ck_test_hold_connections  (guint16         port,
                                         guint           count,
                                         guint          *open);

#define CK_FAKE_OAUTH_CLIENT_ID "ck-test-client"

/* Every token, code and secret the fake server issues starts with this,
 * and its fault modes echo them into error bodies: no message and no log
 * line may ever contain it. */
#define CK_FAKE_OAUTH_PREFIX "fake-"

/* g_test_init() for a test that talks to the fake server: isolated
 * directories, no proxy lookups (the isolated directories hide the
 * schemas GNOME's proxy resolver needs, and only loopback is reached),
 * and the log captured as by ck_test_capture_log(). */
GPtrArray    *ck_fake_oauth_test_init   (int            *argc,
                                         char         ***argv);
/* Once per test program, around g_test_run(). */
void          ck_fake_oauth_start       (void);
void          ck_fake_oauth_stop        (void);

const char   *ck_fake_oauth_get_base    (void);
char         *ck_fake_oauth_url         (const char     *path);
/* Forgets every code, token and counter; the mode goes back to "ok". */
void          ck_fake_oauth_reset       (void);
/* See the control API at the top of fake-oauth-server.py. */
void          ck_fake_oauth_set_mode    (const char     *json);
JsonObject   *ck_fake_oauth_get_stats   (void);
/* A counter of ck_fake_oauth_get_stats(), "a.b" for a nested one. */
gint64        ck_fake_oauth_stat_int    (JsonObject     *stats,
                                         const char     *path);

/* Opens @url, an authorize URL, and returns where the server redirects
 * to; asserts that it does. */
char         *ck_fake_oauth_authorize   (const char     *url);
/* GET @url without following redirects: the HTTP status, or 0 with
 * @error when nothing answered. The main loop runs meanwhile, so the
 * server may be in this process. */
guint         ck_fake_oauth_browse      (const char     *url,
                                         GError        **error);

G_END_DECLS
