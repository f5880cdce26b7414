/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <epistle.h>

#include "ep-db.h"
#include "ep-store.h"

G_BEGIN_DECLS

/*
 * EpStorePg: the EpStore of the store-pg module, on the PostgreSQL
 * database.  Every write is one statement (a function of the module's
 * migrations), so it commits before it answers.  Deliveries that come
 * while another is in flight go together in one transaction (group
 * commit), each still all-or-nothing on its own.
 */

#define EP_TYPE_STORE_PG (ep_store_pg_get_type ())
G_DECLARE_FINAL_TYPE (EpStorePg, ep_store_pg, EP, STORE_PG, GObject)

/* @events, @workers: (nullable): without a bus no event is emitted; without
 * a pool, parsing at delivery runs on GIO's thread pool */
G_GNUC_WARN_UNUSED_RESULT EpStorePg *ep_store_pg_new (EpDb *db, EpEventBus *events, EpWorkerPool *workers,
						      GError **error);

/* Parses the thread keys of a message header: exposed for the tests. */
void ep_store_pg_scan_header (const char *data, gsize len, char **message_id, char ***refs, char **base_subject);

/* A PostgreSQL array literal of @values; exposed for the tests. */
char *ep_store_pg_text_array (const char *const *values, gssize n_values);
char **ep_store_pg_parse_array (const char *literal);

G_END_DECLS
