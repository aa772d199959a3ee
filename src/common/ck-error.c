/* ck-error.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "ck-error"

#include "config.h"

#include "ck-error.h"

static const GDBusErrorEntry ck_error_entries[] = {
  { CK_ERROR_NOT_LOGGED_IN, "io.github.claudekeyring.Error.NotLoggedIn" },
  { CK_ERROR_KEYRING_LOCKED, "io.github.claudekeyring.Error.KeyringLocked" },
  { CK_ERROR_KEYRING_UNAVAILABLE, "io.github.claudekeyring.Error.KeyringUnavailable" },
  { CK_ERROR_ACCESS_DENIED, "io.github.claudekeyring.Error.AccessDenied" },
  { CK_ERROR_REFRESH_FAILED, "io.github.claudekeyring.Error.RefreshFailed" },
  { CK_ERROR_HELPER_FAILED, "io.github.claudekeyring.Error.HelperFailed" },
  { CK_ERROR_LOGIN_IN_PROGRESS, "io.github.claudekeyring.Error.LoginInProgress" },
  { CK_ERROR_LOGIN_FAILED, "io.github.claudekeyring.Error.LoginFailed" },
  { CK_ERROR_INVALID_ARGUMENT, "io.github.claudekeyring.Error.InvalidArgument" },
  { CK_ERROR_NETWORK, "io.github.claudekeyring.Error.Network" },
  { CK_ERROR_CANCELLED, "io.github.claudekeyring.Error.Cancelled" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (ck_error_entries) == CK_ERROR_N_ERRORS);

GQuark
ck_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("ck-error-quark",
                                      &quark,
                                      ck_error_entries,
                                      G_N_ELEMENTS (ck_error_entries));
  return (GQuark) quark;
}
