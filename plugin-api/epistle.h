/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Everything a module may use. */

#define __EPISTLE_H_INSIDE__

#include "ep-api.h"
#include "ep-auth-guard.h"
#include "ep-auth-login.h"
#include "ep-config-schema.h"
#include "ep-auth-results.h"
#include "ep-config.h"
#include "ep-connection.h"
#include "ep-context.h"
#include "ep-db-migrator.h"
#include "ep-db.h"
#include "ep-error.h"
#include "ep-event-bus.h"
#include "ep-events.h"
#include "ep-hook-bus.h"
#include "ep-hooks.h"
#include "ep-jwt.h"
#include "ep-line-framer.h"
#include "ep-log.h"
#include "ep-mime.h"
#include "ep-module.h"
#include "ep-password.h"
#include "ep-queue.h"
#include "ep-resolver.h"
#include "ep-sasl.h"
#include "ep-service-registry.h"
#include "ep-smtp-client.h"
#include "ep-smtp-reply.h"
#include "ep-store.h"
#include "ep-tls.h"
#include "ep-toml.h"
#include "ep-totp.h"
#include "ep-verdict.h"
#include "ep-worker-pool.h"

#undef __EPISTLE_H_INSIDE__
