/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib-object.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * The parameters of one SQL statement: $1, $2, … in the order they are
 * added.  Values travel as text and the server converts them to the type
 * the statement expects, except byte strings, which travel in binary as
 * bytea (a 30 MB message is not hex-encoded on the way).
 *
 * A statement keeps a reference to its parameters; once passed to a query
 * they are sealed and adding more is a programming error.
 */

typedef struct _EpDbParams EpDbParams;

#define EP_TYPE_DB_PARAMS (ep_db_params_get_type ())
EP_API GType ep_db_params_get_type (void) G_GNUC_CONST;

EP_API EpDbParams *ep_db_params_new (void);
EP_API EpDbParams *ep_db_params_new_text (const char *first_value, ...) G_GNUC_NULL_TERMINATED;
EP_API EpDbParams *ep_db_params_ref (EpDbParams *self);
EP_API void        ep_db_params_unref (EpDbParams *self);

EP_API void  ep_db_params_add_text (EpDbParams *self, const char *value);
EP_API void  ep_db_params_add_int64 (EpDbParams *self, gint64 value);
EP_API void  ep_db_params_add_boolean (EpDbParams *self, gboolean value);
EP_API void  ep_db_params_add_bytes (EpDbParams *self, GBytes *value);
EP_API void  ep_db_params_add_null (EpDbParams *self);
EP_API guint ep_db_params_get_length (EpDbParams *self);

/* Ask for the result columns in binary: bytea arrives as raw bytes. */
EP_API void ep_db_params_set_binary_results (EpDbParams *self, gboolean binary);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpDbParams, ep_db_params_unref)

G_END_DECLS
