/* ck-service-private.h: parts of ck-service.c exposed for the fuzz
 * targets (tests/fuzz/fuzz-dbus-options.c); not an API.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-credential.h"

G_BEGIN_DECLS

/* Parses GetCredential's a{sv} options: "min-validity" u (capped at 30
 * days, default 300) and "kind" s; unknown keys are ignored, a known key
 * of the wrong type is CK_ERROR_INVALID_ARGUMENT. */
gboolean ck_service_parse_credential_options (GVariant          *options,
                                              guint             *min_validity,
                                              CkCredentialKind  *kind,
                                              GError           **error);

G_END_DECLS
