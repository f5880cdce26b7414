/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib-object.h>

#include "ep-api.h"
#include "ep-db-params.h"

G_BEGIN_DECLS

/*
 * Several statements sent to the server in one pipeline and answered in
 * one round trip.  They run as one unit: if one fails, none of them takes
 * effect and the batch fails with the error of the first that failed.
 * Statements cannot use each other's results, except through SQL itself
 * (a CTE, currval(), a temporary table).
 */

typedef struct _EpDbBatch EpDbBatch;

#define EP_TYPE_DB_BATCH (ep_db_batch_get_type ())
EP_API GType ep_db_batch_get_type (void) G_GNUC_CONST;

EP_API EpDbBatch *ep_db_batch_new (void);
EP_API EpDbBatch *ep_db_batch_ref (EpDbBatch *self);
EP_API void       ep_db_batch_unref (EpDbBatch *self);

/* @params: (nullable) (transfer none) */
EP_API void  ep_db_batch_add (EpDbBatch *self, const char *sql, EpDbParams *params);
EP_API void  ep_db_batch_add_prepared (EpDbBatch *self, const char *name, EpDbParams *params);
EP_API guint ep_db_batch_get_length (EpDbBatch *self);

/* 0 (the default) keeps the query timeout of the database */
EP_API void ep_db_batch_set_timeout (EpDbBatch *self, guint timeout_ms);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpDbBatch, ep_db_batch_unref)

G_END_DECLS
