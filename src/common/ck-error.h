/* ck-error.h: the errors callers of the agent can see
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define CK_ERROR (ck_error_quark ())

/* Each value maps to io.github.claudekeyring.Error.<Name> on the bus. */
typedef enum
{
  CK_ERROR_NOT_LOGGED_IN,
  CK_ERROR_KEYRING_LOCKED,
  CK_ERROR_KEYRING_UNAVAILABLE,
  CK_ERROR_ACCESS_DENIED,
  CK_ERROR_REFRESH_FAILED,
  CK_ERROR_HELPER_FAILED,
  CK_ERROR_LOGIN_IN_PROGRESS,
  CK_ERROR_LOGIN_FAILED,
  CK_ERROR_INVALID_ARGUMENT,
  CK_ERROR_NETWORK,
  CK_ERROR_CANCELLED,
} CkError;

#define CK_ERROR_N_ERRORS (CK_ERROR_CANCELLED + 1)

GQuark ck_error_quark (void);

G_END_DECLS
