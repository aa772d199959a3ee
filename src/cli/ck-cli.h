/* ck-cli.h: what every claude-keyring command shares
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Exit statuses of every command. */
enum
{
  CK_EXIT_OK = 0,
  CK_EXIT_FAILURE = 1,   /* also "no usable credential" for status */
  CK_EXIT_USAGE = 2,
};

/* One command: parses its own options from argv (argv[0] is the command
 * name) and returns an exit status. */
typedef int (*CkCliCommandFunc) (int argc, char **argv);

typedef struct
{
  const char       *name;
  const char       *summary;   /* one line for `claude-keyring --help` */
  CkCliCommandFunc  func;
} CkCliCommand;

/* Prints "claude-keyring: MESSAGE" as one line on stderr. */
void             ck_cli_error          (const char *format,
                                        ...) G_GNUC_PRINTF (1, 2);
/* Prints @error's message (D-Bus prefix stripped, agent-not-running and
 * timeouts translated into advice) as one line on stderr. */
void             ck_cli_print_error    (const GError *error);

/* The session bus, connected lazily once. */
GDBusConnection *ck_cli_get_bus        (GError    **error);

/* Calls a Credentials1 method on the agent, starting it through D-Bus
 * activation when needed. @timeout_ms bounds the wait; remote errors come
 * back as CK_ERROR codes. */
GVariant        *ck_cli_call           (const char  *method,
                                        GVariant    *parameters,
                                        const GVariantType *reply_type,
                                        int          timeout_ms,
                                        GError     **error);

/* GetCredential with @min_validity seconds; returns the a{sv} dict. */
GVariant        *ck_cli_get_credential (guint        min_validity,
                                        const char  *kind,
                                        int          timeout_ms,
                                        GError     **error);

/* The account for the calls that use one: --account (set here by the
 * command), else CLAUDE_KEYRING_ACCOUNT; the agent gets it as "account",
 * and the working directory as "cwd" for its directory rules. */
void             ck_cli_set_account    (const char       *name);
void             ck_cli_add_account_options (GVariantBuilder *options);
/* The --account option of run, token, status and helper. */
#define CK_CLI_ACCOUNT_ENTRY(var) \
  { "account", 0, 0, G_OPTION_ARG_STRING, &(var), \
    "Use the account NAME (default: CLAUDE_KEYRING_ACCOUNT, else the directory's rule, else the default account)", "NAME" }

/* ANTHROPIC_API_KEY when it is set and not empty, else NULL. */
const char      *ck_cli_get_env_api_key (void);

/* Writes @secret and a newline to stdout in one write and flushes; the
 * temporary copy is wiped. FALSE with errno-based @error when stdout is
 * closed. */
gboolean         ck_cli_print_secret   (const char  *secret,
                                        GError     **error);

/* A GOptionContext for one command: `claude-keyring COMMAND --help` shows
 * "claude-keyring COMMAND [OPTION…] PARAMETERS", @summary and @entries
 * (which may be NULL). */
GOptionContext  *ck_cli_option_context_new (const char         *command,
                                            const char         *parameters,
                                            const char         *summary,
                                            const GOptionEntry *entries);
/* Parses a command's options. `--help` prints the help on stdout and
 * exits 0; a bad option prints one line on stderr and returns FALSE: the
 * command then returns CK_EXIT_USAGE. */
gboolean         ck_cli_parse_options  (GOptionContext  *context,
                                        int             *argc,
                                        char          ***argv);

/* The token and kind of GetCredential's or OpenGatewaySession's reply,
 * checked; FALSE (said on stderr) when claude could not use them. */
gboolean         ck_cli_lookup_token   (GVariant    *reply,
                                        const char **token,
                                        gboolean    *is_oauth);
/* Says why no credential or session was had: NotLoggedIn with the fix,
 * anything else as ck_cli_print_error(). */
void             ck_cli_print_credential_error (const GError *error);
/* @command as a shell would show it, for the status. */
char            *ck_cli_display_command (char **command);

/* The gateway entries of Claude Code's settings file @path (NULL: the
 * default), as setup-claude --gateway writes them. */
typedef struct
{
  char     *base_url;     /* env.ANTHROPIC_BASE_URL */
  char     *token;        /* env.CLAUDE_CODE_OAUTH_TOKEN, else env.ANTHROPIC_API_KEY: a secret */
  gboolean  token_is_oauth;
  char     *session_id;   /* the gateway session that token belongs to, or NULL */
  gboolean  session_persistent;
  char     *gateway_url;  /* where the agent's gateway listens, or NULL */
} CkCliGatewaySetup;

void             ck_cli_gateway_setup_clear (CkCliGatewaySetup *setup);
/* Reads the entries and asks the agent which session the token belongs
 * to (by SHA-256: the token itself never leaves this process); the agent
 * is only asked when a token is there. FALSE with @error when the file
 * cannot be read or the agent not asked. */
gboolean         ck_cli_gateway_setup_read  (const char         *path,
                                             CkCliGatewaySetup  *setup,
                                             GError            **error);
/* Whether the entries are claude-keyring's: the token is a gateway
 * session's, or the base URL is the gateway's own. */
gboolean         ck_cli_gateway_setup_is_ours (const CkCliGatewaySetup *setup);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CkCliGatewaySetup, ck_cli_gateway_setup_clear)

/* Commands, one file each (ck-cli-NAME.c). */
int ck_cli_login        (int argc, char **argv);
int ck_cli_logout       (int argc, char **argv);
int ck_cli_status       (int argc, char **argv);
int ck_cli_token        (int argc, char **argv);
int ck_cli_set_api_key  (int argc, char **argv);
int ck_cli_helper       (int argc, char **argv);
int ck_cli_run          (int argc, char **argv);
int ck_cli_setup_claude (int argc, char **argv);
int ck_cli_import       (int argc, char **argv);
int ck_cli_doctor       (int argc, char **argv);
int ck_cli_ssh          (int argc, char **argv);
int ck_cli_accounts     (int argc, char **argv);
int ck_cli_switch       (int argc, char **argv);
int ck_cli_bind         (int argc, char **argv);
int ck_cli_unbind       (int argc, char **argv);
int ck_cli_rename       (int argc, char **argv);

G_END_DECLS
