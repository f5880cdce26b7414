/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Shared between ep-sasl.c, ep-sasl-scram.c and ep-totp.c; not installed. */

#include "ep-error.h"
#include "ep-sasl.h"

G_BEGIN_DECLS

typedef enum {
	EP_SASL_MECH_PLAIN,
	EP_SASL_MECH_LOGIN,
	EP_SASL_MECH_SCRAM_SHA_256,
	EP_SASL_MECH_SCRAM_SHA_256_PLUS,
	EP_SASL_MECH_OAUTHBEARER,
	EP_SASL_MECH_XOAUTH2,
} EpSaslMech;

typedef enum {
	EP_SASL_STATE_START,          /* nothing received yet */
	EP_SASL_STATE_LOGIN_PASSWORD, /* LOGIN: the user name is in, "Password:" sent */
	EP_SASL_STATE_NEED_VERIFY,    /* waiting for ep_sasl_server_set_verified() */
	EP_SASL_STATE_VERIFIED,       /* set_verified() called, step (NULL) to finish */
	EP_SASL_STATE_NEED_SCRAM,     /* waiting for ep_sasl_server_set_scram_credentials() */
	EP_SASL_STATE_SCRAM_READY,    /* credentials in, step (NULL) gives server-first */
	EP_SASL_STATE_SCRAM_FINAL,    /* server-first sent, waiting for client-final */
	EP_SASL_STATE_OAUTH_ERROR,    /* error challenge sent, waiting for the dummy answer */
	EP_SASL_STATE_DONE,           /* SUCCESS or FAILURE given */
} EpSaslState;

struct _EpSaslServer {
	EpSaslMech mech;
	const char *mech_name;
	EpSaslState state;
	gboolean challenged; /* an empty first challenge was sent */
	GBytes *channel_binding;
	char *oauth_scope;
	char *oauth_openid_configuration;

	EpSaslCredentialKind kind;
	char *authcid;
	char *authzid;
	char *secret; /* wiped on free */
	char *account;

	/* SCRAM */
	char *gs2_header;        /* "n,,", "y,a=x,", "p=tls-exporter,," */
	char *client_first_bare; /* for AuthMessage */
	char *server_first;
	char *nonce; /* client nonce + server nonce */
	char *test_nonce;
	guint fake_iterations;
	gboolean scram_fake;
	GBytes *salt;
	guint iterations;
	guint8 stored_key[EP_SCRAM_KEY_LEN];
	guint8 server_key[EP_SCRAM_KEY_LEN];
};

gboolean ep_sasl_gcrypt_init (GError **error);
void     ep_sasl_wipe_free (char *s);
void     ep_sasl_hmac_sha256 (const guint8 *key, gsize key_len, const void *data, gsize len,
			      guint8 out[EP_SCRAM_KEY_LEN]);
gboolean ep_sasl_const_equal (const guint8 *a, const guint8 *b, gsize len);
/* strict RFC 4648 §4 base64 (alphabet, length a multiple of 4, padding at
 * the end only); NULL when it is not */
GBytes *ep_sasl_base64_decode_strict (const char *s, gsize len);
/* an identity: 1..EP_SASL_MAX_IDENTITY octets of UTF-8 without controls */
gboolean ep_sasl_identity_valid (const char *s, gsize len);

/*
 * The GS2 header of SCRAM and OAUTHBEARER (RFC 5801 §4):
 *   gs2-cbind-flag "," [ "a=" saslname ] ","
 * @flag: 'n', 'y' or 'p'; @cb_name: (out) (nullable) with 'p';
 * @authzid: (out) (nullable) unescaped.  Returns the header's length, 0
 * with @error when malformed.
 */
gsize ep_sasl_gs2_header_parse (const char *data, gsize len, char *flag, char **cb_name, char **authzid,
				GError **error);
/* saslname (RFC 5802 §5.1): "=2C" is ',', "=3D" is '=', any other '=' is
 * an error; NULL when malformed or not a valid identity */
char *ep_sasl_saslname_decode (const char *s, gsize len);

EpSaslStatus ep_sasl_server_fail (EpSaslServer *self, GError **error, EpError code, const char *format, ...)
	G_GNUC_PRINTF (4, 5);

EpSaslStatus ep_sasl_scram_step (EpSaslServer *self, GBytes *input, GBytes **output, GError **error);

G_END_DECLS
