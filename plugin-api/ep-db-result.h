/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib-object.h>

#include "ep-api.h"

G_BEGIN_DECLS

/*
 * The result of one SQL statement: rows and columns, or just the number
 * of rows a command touched.  Values are text unless the statement asked
 * for binary results (ep_db_params_set_binary_results()).  Asking for a
 * row or a column that does not exist is a programming error.
 */

typedef struct _EpDbResult EpDbResult;

#define EP_TYPE_DB_RESULT (ep_db_result_get_type ())
EP_API GType ep_db_result_get_type (void) G_GNUC_CONST;

EP_API EpDbResult *ep_db_result_ref (EpDbResult *self);
EP_API void        ep_db_result_unref (EpDbResult *self);

EP_API guint       ep_db_result_get_n_rows (EpDbResult *self);
EP_API guint       ep_db_result_get_n_columns (EpDbResult *self);
EP_API guint64     ep_db_result_get_affected_rows (EpDbResult *self);
EP_API const char *ep_db_result_get_command (EpDbResult *self);

EP_API const char *ep_db_result_get_column_name (EpDbResult *self, guint column);
EP_API gint        ep_db_result_find_column (EpDbResult *self, const char *name);

EP_API gboolean    ep_db_result_is_null (EpDbResult *self, guint row, guint column);
EP_API const char *ep_db_result_get_text (EpDbResult *self, guint row, guint column);
EP_API gint64      ep_db_result_get_int64 (EpDbResult *self, guint row, guint column);
EP_API gboolean    ep_db_result_get_boolean (EpDbResult *self, guint row, guint column);
EP_API GBytes     *ep_db_result_get_bytes (EpDbResult *self, guint row, guint column);

/* the same, with the column given by name */
EP_API gboolean    ep_db_result_is_null_by_name (EpDbResult *self, guint row, const char *name);
EP_API const char *ep_db_result_get_text_by_name (EpDbResult *self, guint row, const char *name);
EP_API gint64      ep_db_result_get_int64_by_name (EpDbResult *self, guint row, const char *name);
EP_API gboolean    ep_db_result_get_boolean_by_name (EpDbResult *self, guint row, const char *name);
EP_API GBytes     *ep_db_result_get_bytes_by_name (EpDbResult *self, guint row, const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpDbResult, ep_db_result_unref)

G_END_DECLS
