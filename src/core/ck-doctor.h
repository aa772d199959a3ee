/* ck-doctor.h: the agent's side of `claude-keyring doctor`
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "ck-helper-runner.h"
#include "ck-resolver.h"
#include "ck-token-store.h"

G_BEGIN_DECLS

#define CK_TYPE_DOCTOR (ck_doctor_get_type ())

G_DECLARE_FINAL_TYPE (CkDoctor, ck_doctor, CK, DOCTOR, GObject)

CkDoctor *ck_doctor_new        (GSettings            *settings,
                                CkTokenStore         *store,
                                CkHelperRunner       *helper,
                                CkResolver           *resolver);
/* Result: aa{sv}, one dict per check: id, status (ok/warn/fail), summary, detail. */
void      ck_doctor_run_async  (CkDoctor             *self,
                                GCancellable         *cancellable,
                                GAsyncReadyCallback   callback,
                                gpointer              user_data);
GVariant *ck_doctor_run_finish (CkDoctor             *self,
                                GAsyncResult         *result,
                                GError              **error);

/* The checks of a part outside core (the agent's automatic import): @func
 * adds them with ck_doctor_add_check at the end of every run. */
typedef void (*CkDoctorChecksFunc) (gpointer         user_data,
                                    GVariantBuilder *builder);

void      ck_doctor_set_extra_checks (CkDoctor             *self,
                                      CkDoctorChecksFunc    func,
                                      gpointer              user_data,
                                      GDestroyNotify        destroy);
void      ck_doctor_add_check        (GVariantBuilder      *builder,
                                      const char           *id,
                                      const char           *status,
                                      const char           *summary,
                                      const char           *detail);

G_END_DECLS
