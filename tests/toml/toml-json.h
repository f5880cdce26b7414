/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "ep-toml.h"

G_BEGIN_DECLS

/*
 * The JSON form of a TOML tree that toml-test expects: tables are objects,
 * arrays are arrays, every other value is {"type": ..., "value": "..."}.
 */
char     *ep_toml_json_write (const EpTomlValue *value, gboolean pretty);

/*
 * Reads JSON text into a json-glib tree.  json-glib cuts strings at U+0000,
 * so every string goes through a reversible substitution first: U+0000
 * becomes U+10FFFD followed by "0", and U+10FFFD itself becomes U+10FFFD
 * followed by "1".  Two texts are equal exactly when their loaded trees are.
 */
JsonNode *ep_toml_json_load (const char *text, gssize len, GError **error);

G_END_DECLS
