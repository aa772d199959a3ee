/* ck-agent.h: the claude-keyring-agent application
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define CK_TYPE_AGENT (ck_agent_get_type ())

G_DECLARE_FINAL_TYPE (CkAgent, ck_agent, CK, AGENT, GApplication)

CkAgent *ck_agent_new (void);

G_END_DECLS
