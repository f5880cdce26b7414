/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * SPF macros (RFC 7208 §7): syntax checks and expansion of macro-strings,
 * pure functions over buffers.  The caller supplies every value a macro
 * letter can stand for, including the validated domain of %{p}, which
 * needs DNS lookups and is therefore found by the evaluator beforehand.
 */

typedef enum {
	SPF_MACRO_DOMAIN_SPEC, /* a domain-spec: letters s l o d i p h v, no space, ends in a domain-end */
	SPF_MACRO_STRING,      /* the value of an unknown modifier: any macro letter, no space */
	SPF_MACRO_EXPLANATION, /* an explanation TXT record: c r t allowed too, spaces allowed */
} SpfMacroKind;

/* The longest expansion kept: longer ones are an error. */
#define SPF_MACRO_MAX_OUTPUT 8192

/* Longest domain name; an expanded domain-spec is cut from the left to fit. */
#define SPF_DOMAIN_MAX 253

typedef struct {
	const char *sender;	      /* %{s}: <local-part>@<domain> of the identity */
	const char *local_part;	      /* %{l} */
	const char *sender_domain;    /* %{o} */
	const char *domain;	      /* %{d}: the domain being checked */
	GInetAddress *ip;	      /* %{i} %{c} %{v}: the client, IPv4 for an IPv4-mapped address */
	const char *validated_domain; /* %{p}: (nullable): "unknown" when NULL */
	const char *helo;	      /* %{h}: (nullable): "unknown" when NULL */
	const char *receiver;	      /* %{r}: (nullable): "unknown" when NULL */
	gint64 timestamp;	      /* %{t}: seconds since the epoch */
} SpfMacroVars;

/**
 * spf_macro_check:
 * @uses_p: (out) (optional): set when the string has a %{p} macro
 *
 * Checks the syntax of a macro-string of @kind (RFC 7208 §7.1), including,
 * for a domain-spec, that it ends in "." toplabel or a macro.
 *
 * Returns: %FALSE with @error (EP_ERROR_INVALID) on a syntax error
 */
gboolean spf_macro_check (const char *str, gsize len, SpfMacroKind kind, gboolean *uses_p, GError **error);

/**
 * spf_macro_expand:
 *
 * Expands a macro-string of @kind.  For a domain-spec the result loses a
 * final dot and, longer than 253 characters, its leftmost labels.
 *
 * Returns: (transfer full): the expansion, or %NULL with @error
 *   (EP_ERROR_INVALID) on a syntax error or an expansion longer than
 *   %SPF_MACRO_MAX_OUTPUT
 */
char *spf_macro_expand (const char *str, gsize len, SpfMacroKind kind, const SpfMacroVars *vars, GError **error);

/* Whether @c is a letter that may follow "%{" in a string of @kind. */
gboolean spf_macro_letter_allowed (char c, SpfMacroKind kind);

/* Cuts @domain (no final dot) from the left, whole labels at a time, until
 * it is at most SPF_DOMAIN_MAX characters; modifies it in place. */
void spf_domain_truncate (GString *domain);

G_END_DECLS
