/* SPDX-License-Identifier: GPL-2.0-or-later */

#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "ep-mime.h"
#include "store-pg-store.h"

#define STORE_PG_CHANNEL	  "epistle_mailbox"
#define STORE_PG_FTS_MAX_TEXT	  (256 * 1024)
#define STORE_PG_MAX_LOCAL_EVENTS 4096
#define STORE_PG_MAX_TARGETS	  1000
#define STORE_PG_PENDING_MAX_US	  (500 * 1000)
/* group commit: a delivery ready while this many delivery transactions
 * are in flight waits, and the deliveries that waited go together in one
 * transaction (one commit, one round trip) as soon as one of them ends.
 * 1 delivered most on tests/bench/smtp-bench.sh (2 and 4: less, with
 * smaller batches); at most _MAX messages or _BYTES octets a batch */
#define STORE_PG_DELIVER_IN_FLIGHT   1
#define STORE_PG_DELIVER_BATCH_MAX   64
#define STORE_PG_DELIVER_BATCH_BYTES (8 * 1024 * 1024)
/* a delivery chosen as the victim of a deadlock runs again, this often */
#define STORE_PG_DELIVER_RETRIES 3
/* messages of one append_many */
#define STORE_PG_MAX_APPEND_MANY 1000

struct _EpStorePg {
	GObject parent_instance;

	EpDb *db;
	EpEventBus *events;    /* nullable */
	EpWorkerPool *workers; /* nullable */
	guint listen_id;
	/* "mailbox_id modseq" of changes this process announced already and
	 * whose NOTIFY it is still to receive */
	GHashTable *local_changes;
	/* NOTIFYs not known as local yet: they wait while local writes that
	 * notify are under way, since the result of a local write may come
	 * after its NOTIFY (they travel on different connections) */
	GQueue pending;
	guint n_writing;
	GSource *pending_source;
	/* deliveries waiting to go together (of GTask), and the delivery
	 * transactions in flight */
	GQueue deliver_queue;
	guint n_delivering;
};

static void ep_store_pg_iface_init (EpStoreInterface *iface);

G_DEFINE_TYPE_WITH_CODE (EpStorePg, ep_store_pg, G_TYPE_OBJECT,
			 G_IMPLEMENT_INTERFACE (EP_TYPE_STORE, ep_store_pg_iface_init))

/* the mailbox of an account, by name */
#define STORE_PG_MAILBOX_SQL                                                                                           \
	"SELECT m.id, m.uidvalidity, m.uidnext FROM store_mailboxes m JOIN store_accounts a ON a.id = m.account_id "   \
	"WHERE a.name = $1 AND m.name = $2"

/* The mailbox of a flag change or an expunge, looked up with
 * synchronous_commit off for the rest of that statement's transaction:
 * its commit does not wait for the WAL flush.  Never for a delivery, an
 * APPEND or a COPY (see docs/store.md, "Durability"). */
#define STORE_PG_MAILBOX_ASYNC_SQL STORE_PG_MAILBOX_SQL " AND set_config('synchronous_commit', 'off', true) IS NOT NULL"

static const struct {
	const char *name;
	const char *sql;
} store_pg_statements[] = {
    {"store_pg_list_accounts",
     "SELECT a.name, a.source, a.password_hash, a.catch_all, a.quota_bytes, a.used_bytes, a.message_count, "
     "ARRAY(SELECT d.address FROM store_addresses d WHERE d.account_id = a.id ORDER BY d.address) "
     "FROM store_accounts a WHERE $1::text IS NULL OR a.name = $1 ORDER BY a.name"},
    {"store_pg_create_account", "SELECT store_account_create($1, 'db', $2, $3::boolean, $4::bigint, $5::text[])"},
    {"store_pg_delete_account", "SELECT store_account_delete($1, 'db')"},
    {"store_pg_set_password_hash",
     "WITH u AS (UPDATE store_accounts SET password_hash = $2 WHERE name = $1 AND source = 'db' RETURNING 1) "
     "SELECT (SELECT source FROM store_accounts WHERE name = $1), (SELECT count(*) FROM u)"},
    {"store_pg_sync_config_accounts", "SELECT name, change FROM store_sync_config_accounts($1::jsonb)"},
    {"store_pg_resolve_address", "SELECT store_resolve_address(lower($1))"},
    {"store_pg_get_quota", "SELECT used_bytes, quota_bytes, message_count FROM store_accounts WHERE name = $1"},
    {"store_pg_list_mailboxes",
     "SELECT m.id, m.name, m.role, m.uidvalidity, m.uidnext, m.highestmodseq, "
     "EXISTS (SELECT 1 FROM store_subscriptions b WHERE b.account_id = a.id AND b.name = m.name), "
     "c.n, c.unseen, c.size, c.recent "
     "FROM (SELECT id FROM store_accounts WHERE name = $1) a "
     "LEFT JOIN store_mailboxes m ON m.account_id = a.id AND ($2::text IS NULL OR m.name = $2) "
     "LEFT JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE s.flags & 1 = 0) AS unseen, "
     "COALESCE(sum(s.size), 0) AS size, count(*) FILTER (WHERE s.uid >= m.recent_uid) AS recent "
     "FROM store_messages s WHERE s.mailbox_id = m.id) c ON true "
     "ORDER BY m.name"},
    {"store_pg_create_mailbox",
     "WITH acc AS (SELECT id FROM store_accounts WHERE name = $1), "
     "par AS (INSERT INTO store_mailboxes (account_id, name, uidvalidity) "
     "SELECT acc.id, p, nextval('store_uidvalidity_seq') FROM acc, unnest($4::text[]) p ON CONFLICT DO NOTHING) "
     "INSERT INTO store_mailboxes (account_id, name, role, uidvalidity) "
     "SELECT acc.id, $2, $3, nextval('store_uidvalidity_seq') FROM acc "
     "RETURNING id, name, role, uidvalidity, uidnext, highestmodseq, true, 0, 0, 0, 0"},
    {"store_pg_delete_mailbox", "SELECT account_id, mailbox_id FROM store_mailbox_delete($1, $2)"},
    {"store_pg_rename_mailbox",
     "WITH acc AS (SELECT id FROM store_accounts WHERE name = $1), "
     "ren AS (UPDATE store_mailboxes m SET name = $3 || substr(m.name, length($2) + 1) FROM acc "
     "WHERE m.account_id = acc.id AND (m.name = $2 OR left(m.name, length($2) + 1) = $2 || '/') "
     "RETURNING m.id, m.name, m.uidvalidity, m.uidnext, m.highestmodseq), "
     "par AS (INSERT INTO store_mailboxes (account_id, name, uidvalidity) "
     "SELECT acc.id, p, nextval('store_uidvalidity_seq') FROM acc, unnest($4::text[]) p "
     "WHERE EXISTS (SELECT 1 FROM ren) ON CONFLICT DO NOTHING) "
     "SELECT id, name, uidvalidity, uidnext, highestmodseq FROM ren"},
    /* a name is subscribed whether a mailbox has it or not (RFC 9051 §6.3.7);
     * one row when the account exists, the mailbox's columns NULL without one */
    {"store_pg_set_subscribed",
     "WITH acc AS (SELECT id FROM store_accounts WHERE name = $1), "
     "ins AS (INSERT INTO store_subscriptions (account_id, name) SELECT acc.id, $2 FROM acc "
     "WHERE $3::boolean ON CONFLICT DO NOTHING), "
     "del AS (DELETE FROM store_subscriptions s USING acc WHERE s.account_id = acc.id AND s.name = $2 "
     "AND NOT $3::boolean) "
     "SELECT m.id, m.uidvalidity, m.uidnext, m.highestmodseq FROM acc "
     "LEFT JOIN store_mailboxes m ON m.account_id = acc.id AND m.name = $2"},
    {"store_pg_list_subscriptions",
     "SELECT a.id, b.name FROM (SELECT id FROM store_accounts WHERE name = $1) a "
     "LEFT JOIN store_subscriptions b ON b.account_id = a.id ORDER BY b.name COLLATE \"C\""},
    /* the row lock of FOR UPDATE makes the claim one caller's (migration 009) */
    /* the row lock only when there is something to claim: a SELECT of a
     * mailbox without new messages does not wait behind its deliveries;
     * the commit does not wait for the WAL flush (a crash can only make a
     * message recent to nobody, docs/store.md "Durability") */
    {"store_pg_claim_recent",
     "WITH cur AS (SELECT m.id, m.recent_uid, m.uidnext FROM store_mailboxes m "
     "JOIN store_accounts a ON a.id = m.account_id WHERE a.name = $1 AND m.name = $2 "
     "AND set_config('synchronous_commit', 'off', true) IS NOT NULL), "
     "old AS (SELECT m.id, m.recent_uid FROM store_mailboxes m JOIN cur ON cur.id = m.id "
     "WHERE cur.recent_uid < cur.uidnext FOR UPDATE OF m), "
     "claimed AS (UPDATE store_mailboxes m SET recent_uid = m.uidnext FROM old WHERE m.id = old.id "
     "RETURNING old.recent_uid, m.uidnext) "
     "SELECT recent_uid, uidnext FROM claimed "
     "UNION ALL SELECT cur.uidnext, cur.uidnext FROM cur WHERE NOT EXISTS (SELECT 1 FROM claimed)"},
    {"store_pg_deliver",
     "SELECT account, mailbox, mailbox_id, uidvalidity, uid, modseq, email_id, thread_id "
     "FROM store_deliver_named($1, $2, $3::text[], $4::text[], $5::integer, $6::text[], "
     "to_timestamp($7::double precision), $8, to_tsvector('simple'::regconfig, $9), $10, $11::text[], $12)"},
    {"store_pg_lock_for_delivery", "SELECT store_lock_for_delivery($1::text[], $2::text[])"},
    {"store_pg_list_messages",
     "SELECT mb.id, s.uid, s.modseq, s.flags, s.keywords, extract(epoch FROM s.internal_date)::bigint, "
     "s.size, s.email_id, s.thread_id FROM (" STORE_PG_MAILBOX_SQL ") mb "
     "LEFT JOIN LATERAL (SELECT * FROM store_messages s WHERE s.mailbox_id = mb.id "
     "AND s.uid BETWEEN $3::bigint AND $4::bigint AND s.modseq > $5::bigint "
     "ORDER BY s.uid LIMIT $6::bigint) s ON true ORDER BY s.uid"},
    {"store_pg_read_message", "SELECT b.data FROM (" STORE_PG_MAILBOX_SQL ") mb "
			      "JOIN store_messages s ON s.mailbox_id = mb.id AND s.uid = $3::bigint "
			      "JOIN store_blobs b ON b.hash = s.blob_hash"},
    /* one row per message found; a mailbox without them gives one row of NULLs */
    {"store_pg_read_messages", "SELECT mb.id, s.uid, b.data FROM (" STORE_PG_MAILBOX_SQL ") mb "
			       "LEFT JOIN (store_messages s JOIN store_blobs b ON b.hash = s.blob_hash) "
			       "ON s.mailbox_id = mb.id AND s.uid = ANY($3::bigint[])"},
    /* as store_pg_read_messages, with the tree of each message */
    {"store_pg_read_messages_full", "SELECT mb.id, s.uid, b.data, s.structure FROM (" STORE_PG_MAILBOX_SQL ") mb "
				    "LEFT JOIN (store_messages s JOIN store_blobs b ON b.hash = s.blob_hash) "
				    "ON s.mailbox_id = mb.id AND s.uid = ANY($3::bigint[])"},
    /* the trees alone: the blobs are not touched */
    {"store_pg_read_structures", "SELECT mb.id, s.uid, s.structure FROM (" STORE_PG_MAILBOX_SQL ") mb "
				 "LEFT JOIN store_messages s ON s.mailbox_id = mb.id AND s.uid = ANY($3::bigint[])"},
    {"store_pg_read_structure", "SELECT s.structure FROM (" STORE_PG_MAILBOX_SQL ") mb "
				"JOIN store_messages s ON s.mailbox_id = mb.id AND s.uid = $3::bigint"},
    {"store_pg_store_flags",
     "WITH mb AS (" STORE_PG_MAILBOX_ASYNC_SQL ") "
     "SELECT f.uid, f.modseq, f.flags, f.keywords, f.failed, mb.id, mb.uidvalidity, mb.uidnext "
     "FROM store_set_flags((SELECT id FROM mb), $3::bigint[], $4::integer, $5::integer, $6::text[], "
     "$7::bigint) f LEFT JOIN mb ON true"},
    {"store_pg_expunge", "WITH mb AS (" STORE_PG_MAILBOX_ASYNC_SQL ") "
			 "SELECT e.uid, e.modseq, mb.id, mb.uidvalidity, mb.uidnext "
			 "FROM store_expunge((SELECT id FROM mb), $3::bigint[]) e LEFT JOIN mb ON true ORDER BY e.uid"},
    {"store_pg_list_tombstones", "SELECT mb.id, t.uid, t.modseq FROM (" STORE_PG_MAILBOX_SQL ") mb "
				 "LEFT JOIN store_tombstones t ON t.mailbox_id = mb.id AND t.modseq > $3::bigint "
				 "ORDER BY t.modseq, t.uid"},
    /* plainto_tsquery: the words of the query, ANDed, no operators */
    {"store_pg_search_text", "SELECT mb.id, s.uid FROM (" STORE_PG_MAILBOX_SQL ") mb "
			     "LEFT JOIN store_message_fts s ON s.mailbox_id = mb.id "
			     "AND s.fts @@ plainto_tsquery('simple'::regconfig, $3) ORDER BY s.uid"},
    {"store_pg_copy", "SELECT * FROM store_copy($1, $2, $3::bigint[], $4, $5::boolean)"},
    {"store_pg_rename_inbox", "SELECT * FROM store_rename_inbox($1, $2, $3::text[])"},
    {"store_pg_mailbox_info",
     "SELECT a.name, m.name, m.uidvalidity, m.uidnext, m.highestmodseq "
     "FROM store_mailboxes m JOIN store_accounts a ON a.id = m.account_id WHERE m.id = $1::bigint"},
};

/* ---- helpers ------------------------------------------------------------- */

/**
 * ep_store_pg_text_array:
 *
 * Returns: a PostgreSQL array literal of @values, every element quoted
 */
char *
ep_store_pg_text_array (const char *const *values, gssize n_values)
{
	GString *out = g_string_new ("{");

	for (gssize i = 0; values != NULL && (n_values < 0 ? values[i] != NULL : i < n_values); i++) {
		if (i > 0)
			g_string_append_c (out, ',');
		g_string_append_c (out, '"');
		for (const char *p = values[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				g_string_append_c (out, '\\');
			g_string_append_c (out, *p);
		}
		g_string_append_c (out, '"');
	}
	g_string_append_c (out, '}');
	return g_string_free (out, FALSE);
}

static char *
store_pg_uid_array (const guint32 *uids, guint n_uids)
{
	GString *out = g_string_new ("{");

	for (guint i = 0; i < n_uids; i++)
		g_string_append_printf (out, "%s%u", i > 0 ? "," : "", uids[i]);
	g_string_append_c (out, '}');
	return g_string_free (out, FALSE);
}

/**
 * ep_store_pg_parse_array:
 * @literal: a one-dimensional text array as PostgreSQL writes it
 *
 * Returns: (transfer full): its elements; a NULL element becomes ""
 */
char **
ep_store_pg_parse_array (const char *literal)
{
	g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
	const char *p = literal;

	if (p == NULL || *p != '{')
		return g_strv_builder_end (builder);
	p++;
	while (*p != '\0' && *p != '}') {
		g_autoptr (GString) value = g_string_new (NULL);

		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				g_string_append_c (value, *p);
			}
			if (*p == '"')
				p++;
		} else {
			for (; *p != '\0' && *p != ',' && *p != '}'; p++)
				g_string_append_c (value, *p);
			if (g_strcmp0 (value->str, "NULL") == 0)
				g_string_truncate (value, 0);
		}
		g_strv_builder_add (builder, value->str);
		if (*p == ',')
			p++;
	}
	return g_strv_builder_end (builder);
}

/* The errors of the module's SQL functions, and constraint violations
 * that mean something more precise here. */
static GError *
store_pg_convert_error (GError *error)
{
	static const struct {
		const char *sqlstate;
		EpError code;
		const char *message;
	} codes[] = {
	    {"EPN01", EP_ERROR_NOT_FOUND, "no such account or mailbox"},
	    {"EPQ01", EP_ERROR_LIMIT, "quota exceeded"},
	    {"EPL01", EP_ERROR_LIMIT, "the mailbox has used every UID"},
	    {"EPE01", EP_ERROR_EXISTS, "the account exists already"},
	    {"EPP01", EP_ERROR_PERM, "not allowed"},
	};

	if (error->domain != EP_ERROR || error->code != EP_ERROR_INTERNAL ||
	    !g_str_has_prefix (error->message, "SQLSTATE "))
		return error;
	for (guint i = 0; i < G_N_ELEMENTS (codes); i++) {
		if (strncmp (error->message + strlen ("SQLSTATE "), codes[i].sqlstate, 5) == 0) {
			GError *converted = g_error_new_literal (EP_ERROR, codes[i].code, codes[i].message);

			g_error_free (error);
			return converted;
		}
	}
	return error;
}

static gboolean
store_pg_validate_account (const char *name, GError **error)
{
	gsize len = name != NULL ? strlen (name) : 0;

	if (len == 0 || len > 64) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "invalid account name");
		return FALSE;
	}
	for (const char *p = name; *p != '\0'; p++) {
		if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '-') {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "invalid account name");
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
store_pg_validate_address (const char *address, GError **error)
{
	const char *at = address != NULL ? strrchr (address, '@') : NULL;

	if (at == NULL || at == address || at[1] == '\0' || strlen (address) > 320 ||
	    !g_utf8_validate (address, -1, NULL)) {
		g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "invalid address");
		return FALSE;
	}
	for (const char *p = address; *p != '\0'; p++) {
		if ((guchar)*p <= 0x20 || *p == 0x7f) {
			g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "invalid address");
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
store_pg_validate_role (const char *role, GError **error)
{
	const char *const roles[] = {"inbox", "sent", "drafts", "trash", "junk", "archive", NULL};

	if (role == NULL || g_strv_contains (roles, role))
		return TRUE;
	g_set_error (error, EP_ERROR, EP_ERROR_INVALID, "unknown mailbox role '%s'", role);
	return FALSE;
}

/* "a/b/c" → {"a", "a/b"} */
static char *
store_pg_parents_array (const char *name)
{
	g_autoptr (GPtrArray) parents = g_ptr_array_new_with_free_func (g_free);

	for (const char *p = strchr (name, '/'); p != NULL; p = strchr (p + 1, '/'))
		g_ptr_array_add (parents, g_strndup (name, p - name));
	return ep_store_pg_text_array ((const char *const *)parents->pdata, parents->len);
}

/* ---- events -------------------------------------------------------------- */

static char *
store_pg_change_key (gint64 mailbox_id, guint64 modseq)
{
	return g_strdup_printf ("%" G_GINT64_FORMAT " %" G_GUINT64_FORMAT, mailbox_id, modseq);
}

/* a change made here: announce it now, and not again when its NOTIFY
 * comes back (@modseq 0: a change without NOTIFY) */
static void
store_pg_emit_local (EpStorePg *self, const char *account, const char *mailbox, gint64 mailbox_id, guint32 uidvalidity,
		     guint64 uidnext, guint64 modseq, gboolean notified)
{
	EpMailboxChangedEvent event = {
	    .account = account,
	    .mailbox = mailbox,
	    .mailbox_id = mailbox_id,
	    .uidvalidity = uidvalidity,
	    .uidnext = (guint32)MIN (uidnext, G_MAXUINT32),
	    .highest_modseq = modseq,
	};

	if (self->events == NULL)
		return;
	if (notified) {
		if (g_hash_table_size (self->local_changes) >= STORE_PG_MAX_LOCAL_EVENTS)
			g_hash_table_remove_all (self->local_changes);
		g_hash_table_add (self->local_changes, store_pg_change_key (mailbox_id, modseq));
	}
	ep_event_mailbox_changed_emit (self->events, &event);
}

static void
store_pg_on_notified (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (GError) error = NULL;

	if (!ep_db_notify_finish (EP_DB (source), result, &error))
		ep_log_warning ("store-pg", NULL, "other processes will not hear of a mailbox change: %s",
				error->message);
}

/* a change of the mailbox itself (created, renamed, subscribed), which
 * no SQL function announces: announce it here and to the other processes
 * (after the commit: the NOTIFY goes out on its own) */
static void
store_pg_emit_structure (EpStorePg *self, const char *account, const char *mailbox, gint64 mailbox_id,
			 guint32 uidvalidity, guint64 uidnext, guint64 modseq)
{
	g_autofree char *payload = g_strdup_printf ("0 %" G_GINT64_FORMAT " %" G_GUINT64_FORMAT, mailbox_id, modseq);

	store_pg_emit_local (self, account, mailbox, mailbox_id, uidvalidity, uidnext, modseq, TRUE);
	ep_db_notify_async (self->db, STORE_PG_CHANNEL, payload, NULL, store_pg_on_notified, NULL);
}

static void
store_pg_emit_account (EpStorePg *self, const char *account, EpAccountChange change)
{
	EpAccountChangedEvent event = {.account = account, .change = change};

	if (self->events != NULL)
		ep_event_account_changed_emit (self->events, &event);
}

typedef struct {
	EpStorePg *self;
	gint64 mailbox_id;
	guint64 modseq;
	gint64 received; /* monotonic */
} StorePgNotify;

static void
store_pg_notify_free (StorePgNotify *notify)
{
	g_clear_object (&notify->self);
	g_free (notify);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StorePgNotify, store_pg_notify_free)

static void
store_pg_on_mailbox_info (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (StorePgNotify) notify = user_data;
	EpStorePg *self = notify->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDbResult) res = ep_db_execute_finish (EP_DB (source), result, &error);
	g_autofree char *key = store_pg_change_key (notify->mailbox_id, notify->modseq);
	EpMailboxChangedEvent event = {.mailbox_id = notify->mailbox_id, .highest_modseq = notify->modseq};

	/* announced here while the query ran */
	if (g_hash_table_remove (self->local_changes, key))
		return;
	if (res == NULL) {
		ep_log_warning ("store-pg", NULL, "cannot read a changed mailbox: %s", error->message);
		return;
	}
	if (ep_db_result_get_n_rows (res) == 1) {
		event.account = ep_db_result_get_text (res, 0, 0);
		event.mailbox = ep_db_result_get_text (res, 0, 1);
		event.uidvalidity = (guint32)ep_db_result_get_int64 (res, 0, 2);
		event.uidnext = (guint32)MIN (ep_db_result_get_int64 (res, 0, 3), G_MAXUINT32);
		event.highest_modseq = ep_db_result_get_int64 (res, 0, 4);
	} else {
		/* deleted since */
		event.account = "";
		event.mailbox = "";
	}
	ep_event_mailbox_changed_emit (self->events, &event);
}

static gboolean store_pg_on_pending_timeout (gpointer user_data);

/* NOTIFYs that are not local changes, or waited long enough, are
 * announced once the mailbox is read */
static void
store_pg_process_pending (EpStorePg *self)
{
	gint64 now = g_get_monotonic_time ();

	for (GList *l = self->pending.head; l != NULL;) {
		StorePgNotify *notify = l->data;
		GList *next = l->next;
		g_autofree char *key = store_pg_change_key (notify->mailbox_id, notify->modseq);

		if (g_hash_table_remove (self->local_changes, key)) {
			g_queue_delete_link (&self->pending, l);
			g_free (notify);
		} else if (self->n_writing == 0 || now - notify->received > STORE_PG_PENDING_MAX_US) {
			g_autoptr (EpDbParams) params = ep_db_params_new ();

			g_queue_delete_link (&self->pending, l);
			notify->self = g_object_ref (self);
			ep_db_params_add_int64 (params, notify->mailbox_id);
			ep_db_execute_async (self->db, "store_pg_mailbox_info", params, NULL, store_pg_on_mailbox_info,
					     notify);
		}
		l = next;
	}
	if (self->pending.length > 0 && self->pending_source == NULL) {
		self->pending_source = g_timeout_source_new (50);
		g_source_set_callback (self->pending_source, store_pg_on_pending_timeout, self, NULL);
		g_source_attach (self->pending_source, g_main_context_get_thread_default ());
	}
}

static gboolean
store_pg_on_pending_timeout (gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (user_data);

	g_clear_pointer (&self->pending_source, g_source_unref);
	store_pg_process_pending (self);
	return G_SOURCE_REMOVE;
}

static void
store_pg_on_notify (EpDb *db, const char *channel, const char *payload, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (user_data);
	g_auto (GStrv) fields = NULL;
	g_autofree char *key = NULL;
	g_autoptr (EpDbParams) params = NULL;
	StorePgNotify *notify;

	if (payload == NULL || payload[0] == '\0') {
		/* (re)subscribed: the NOTIFYs of local changes may be lost */
		g_hash_table_remove_all (self->local_changes);
		return;
	}
	if (self->events == NULL)
		return;
	fields = g_strsplit (payload, " ", 3);
	if (g_strv_length (fields) != 3)
		return;
	notify = g_new0 (StorePgNotify, 1);
	notify->mailbox_id = g_ascii_strtoll (fields[1], NULL, 10);
	notify->modseq = g_ascii_strtoull (fields[2], NULL, 10);
	notify->received = g_get_monotonic_time ();
	key = store_pg_change_key (notify->mailbox_id, notify->modseq);
	if (g_hash_table_remove (self->local_changes, key)) {
		g_free (notify);
		return;
	}
	g_queue_push_tail (&self->pending, notify);
	store_pg_process_pending (self);
}

/* ---- calls --------------------------------------------------------------- */

/*
 * Every call runs one prepared statement; its callback converts the
 * errors and hands the result to a parser, which returns what _finish
 * gives back (or %NULL and an error).
 */
typedef gpointer (*StorePgParseFunc) (EpStorePg *self, GTask *task, EpDbResult *res, GError **error);

typedef struct {
	StorePgParseFunc parse;
	GDestroyNotify free_result;
	char *account;
	char *mailbox;
	char *new_name;
	gboolean flag;	   /* per call */
	gboolean notifies; /* a write whose SQL sends a NOTIFY */
	gboolean delivers; /* store_deliver: a constraint conflict is a race to retry */
	/* store_deliver: its parameters, to send it again or with others */
	EpDbParams *params;
	GBytes *hash;
	GPtrArray *accounts; /* of its targets */
	GPtrArray *mailboxes;
	gsize size; /* of the message */
	guint attempts;
	EpDbBatch *batch;	/* append_many: its transaction, to run again */
	GSource *cancel_source; /* while it waits in the deliver queue */
} StorePgCall;

static void
store_pg_call_free (StorePgCall *call)
{
	if (call->cancel_source != NULL) {
		g_source_destroy (call->cancel_source);
		g_source_unref (call->cancel_source);
	}
	g_clear_pointer (&call->params, ep_db_params_unref);
	g_clear_pointer (&call->batch, ep_db_batch_unref);
	g_clear_pointer (&call->hash, g_bytes_unref);
	g_clear_pointer (&call->accounts, g_ptr_array_unref);
	g_clear_pointer (&call->mailboxes, g_ptr_array_unref);
	g_free (call->account);
	g_free (call->mailbox);
	g_free (call->new_name);
	g_free (call);
}

static GTask *
store_pg_task_new (EpStorePg *self, gpointer source_tag, StorePgParseFunc parse, GDestroyNotify free_result,
		   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new (self, cancellable, callback, user_data);
	StorePgCall *call = g_new0 (StorePgCall, 1);

	call->parse = parse;
	call->free_result = free_result;
	g_task_set_source_tag (task, source_tag);
	g_task_set_task_data (task, call, (GDestroyNotify)store_pg_call_free);
	return task;
}

static void store_pg_deliver_send (EpStorePg *self, GTask *task);
static void store_pg_deliver_flush (EpStorePg *self);

/* PostgreSQL rolled the transaction back to let another go on (deadlock,
 * serialization failure): nothing of it took effect */
static gboolean
store_pg_error_is_conflict (const GError *error)
{
	return error != NULL && error->domain == EP_ERROR &&
	       (g_str_has_prefix (error->message, "SQLSTATE 40P01") ||
		g_str_has_prefix (error->message, "SQLSTATE 40001"));
}

static void
store_pg_on_executed (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (GTask) task = G_TASK (user_data);
	EpStorePg *self = g_task_get_source_object (task);
	StorePgCall *call = g_task_get_task_data (task);
	GError *error = NULL;
	g_autoptr (EpDbResult) res = ep_db_execute_finish (EP_DB (source), result, &error);
	gpointer value = NULL;

	if (res != NULL)
		value = call->parse (self, task, res, &error);
	else
		error = store_pg_convert_error (error);
	if (call->delivers) {
		self->n_delivering--;
		/* nothing was stored: the same delivery may well go through now */
		if (store_pg_error_is_conflict (error) && call->attempts < STORE_PG_DELIVER_RETRIES) {
			ep_log_debug ("store-pg", NULL, "delivery trying again: %s", error->message);
			g_clear_error (&error);
			call->attempts++;
			self->n_writing--;
			store_pg_deliver_send (self, g_steal_pointer (&task));
			store_pg_process_pending (self);
			return;
		}
	}
	/* a concurrent expunge removed the blob this delivery found: nothing
	 * was stored, and trying again stores the blob anew */
	if (call->delivers && g_error_matches (error, EP_ERROR, EP_ERROR_EXISTS)) {
		ep_log_debug ("store-pg", NULL, "delivery raced with an expunge: %s", error->message);
		g_clear_error (&error);
		error = g_error_new_literal (EP_ERROR, EP_ERROR_TEMP, "conflicting concurrent change, try again");
	}
	/* the change is announced (by the parser) before its NOTIFY is looked at */
	if (call->notifies) {
		self->n_writing--;
		store_pg_process_pending (self);
	}
	if (error != NULL)
		g_task_return_error (task, error);
	else if (call->free_result == NULL)
		g_task_return_boolean (task, TRUE);
	else
		g_task_return_pointer (task, value, call->free_result);
	if (call->delivers)
		store_pg_deliver_flush (self);
}

static void
store_pg_execute (EpStorePg *self, GTask *task, const char *statement, EpDbParams *params)
{
	StorePgCall *call = g_task_get_task_data (task);
	const char *const writes[] = {"store_pg_deliver",
				      "store_pg_expunge",
				      "store_pg_store_flags",
				      "store_pg_delete_mailbox",
				      "store_pg_copy",
				      "store_pg_rename_inbox",
				      NULL};

	if (g_strv_contains (writes, statement)) {
		call->notifies = TRUE;
		self->n_writing++;
	}
	call->delivers = g_strcmp0 (statement, "store_pg_deliver") == 0;
	ep_db_execute_async (self->db, statement, params, g_task_get_cancellable (task), store_pg_on_executed, task);
}

/* ---- group commit of deliveries ------------------------------------------ */

/*
 * Deliveries into one mailbox queue on its row lock, held until commit,
 * so each paid for its commit (and its WAL flush) alone.  While
 * STORE_PG_DELIVER_IN_FLIGHT delivery transactions are under way, the
 * next deliveries wait here; when one ends, those that waited go as one
 * batch: a pipeline of store_pg_deliver statements, one transaction.
 * Under light load nothing waits.
 *
 * A batch first locks all its mailboxes, then all their accounts, then
 * holds its blobs in hash order, as every delivery and expunge does
 * (migration 006), so that batches and single deliveries do not
 * deadlock one another; should PostgreSQL still break a deadlock, the
 * deliveries run again.
 *
 * Each delivery stays all-or-nothing on its own: when the batch fails
 * for a reason that may belong to one member only (quota, unknown
 * mailbox, a constraint, a deadlock), nothing was committed and every
 * member runs again alone, with its own verdict.  When it fails for want
 * of the database (connection lost, timeout), every member fails so.
 * Everyone is answered, and its change announced, after the commit that
 * holds it.
 */

typedef struct {
	EpStorePg *self;
	GPtrArray *tasks; /* of GTask, in the order of the batch */
} StorePgBatch;

static void
store_pg_batch_free (StorePgBatch *batch)
{
	g_ptr_array_unref (batch->tasks);
	g_object_unref (batch->self);
	g_free (batch);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StorePgBatch, store_pg_batch_free)

/* takes @task */
static void
store_pg_deliver_send (EpStorePg *self, GTask *task)
{
	StorePgCall *call = g_task_get_task_data (task);

	self->n_delivering++;
	store_pg_execute (self, task, "store_pg_deliver", call->params);
}

static void
store_pg_deliver_unqueue (GTask *task)
{
	StorePgCall *call = g_task_get_task_data (task);

	if (call->cancel_source != NULL) {
		g_source_destroy (call->cancel_source);
		g_clear_pointer (&call->cancel_source, g_source_unref);
	}
}

static gboolean
store_pg_on_queued_cancelled (GCancellable *cancellable, gpointer user_data)
{
	GTask *task = G_TASK (user_data);
	EpStorePg *self = g_task_get_source_object (task);

	/* the queue held the task */
	g_queue_remove (&self->deliver_queue, task);
	store_pg_deliver_unqueue (task);
	g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the delivery was cancelled");
	g_object_unref (task);
	return G_SOURCE_REMOVE;
}

/* takes @task; @params: the store_pg_deliver statement's */
static void
store_pg_deliver_submit (EpStorePg *self, GTask *task, EpDbParams *params)
{
	StorePgCall *call = g_task_get_task_data (task);
	GCancellable *cancellable = g_task_get_cancellable (task);

	call->params = ep_db_params_ref (params);
	if (self->n_delivering < STORE_PG_DELIVER_IN_FLIGHT) {
		store_pg_deliver_send (self, task);
		return;
	}
	if (cancellable != NULL) {
		call->cancel_source = g_cancellable_source_new (cancellable);
		g_source_set_callback (call->cancel_source, G_SOURCE_FUNC (store_pg_on_queued_cancelled), task, NULL);
		g_source_attach (call->cancel_source, g_main_context_get_thread_default ());
	}
	g_queue_push_tail (&self->deliver_queue, task);
}

/* a batch holds its blobs in hash order, as every other does
 * (migration 006) */
static gint
store_pg_deliver_compare (gconstpointer a, gconstpointer b)
{
	StorePgCall *ca = g_task_get_task_data (*(GTask *const *)a);
	StorePgCall *cb = g_task_get_task_data (*(GTask *const *)b);

	return g_bytes_compare (ca->hash, cb->hash);
}

/* the first statement of a batch: locks every mailbox, then every
 * account, it delivers to */
static EpDbParams *
store_pg_deliver_lock_params (GPtrArray *tasks)
{
	g_autoptr (GPtrArray) accounts = g_ptr_array_new ();
	g_autoptr (GPtrArray) mailboxes = g_ptr_array_new ();
	g_autofree char *accounts_array = NULL;
	g_autofree char *mailboxes_array = NULL;
	EpDbParams *params = ep_db_params_new ();

	for (guint i = 0; i < tasks->len; i++) {
		StorePgCall *call = g_task_get_task_data (g_ptr_array_index (tasks, i));

		g_ptr_array_extend (accounts, call->accounts, NULL, NULL);
		g_ptr_array_extend (mailboxes, call->mailboxes, NULL, NULL);
	}
	accounts_array = ep_store_pg_text_array ((const char *const *)accounts->pdata, accounts->len);
	mailboxes_array = ep_store_pg_text_array ((const char *const *)mailboxes->pdata, mailboxes->len);
	ep_db_params_add_text (params, accounts_array);
	ep_db_params_add_text (params, mailboxes_array);
	return params;
}

static gboolean
store_pg_error_is_unavailable (const GError *error)
{
	if (store_pg_error_is_conflict (error))
		return FALSE;
	return g_error_matches (error, EP_ERROR, EP_ERROR_TEMP) ||
	       g_error_matches (error, EP_ERROR, EP_ERROR_UNAVAILABLE) ||
	       g_error_matches (error, EP_ERROR, EP_ERROR_TIMEOUT);
}

static void
store_pg_on_batch_executed (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (StorePgBatch) batch = user_data;
	EpStorePg *self = batch->self;
	g_autoptr (GError) error = NULL;
	g_autoptr (GPtrArray) results = ep_db_run_batch_finish (EP_DB (source), result, &error);

	self->n_delivering--;
	/* the locks, then one result per delivery */
	if (results != NULL && results->len != batch->tasks->len + 1) {
		error = g_error_new (EP_ERROR, EP_ERROR_INTERNAL, "a batch of %u deliveries gave %u results",
				     batch->tasks->len, results->len);
		g_clear_pointer (&results, g_ptr_array_unref);
	}
	if (results == NULL && !store_pg_error_is_unavailable (error)) {
		/* nothing was committed: each on its own, for its own verdict */
		ep_log_debug ("store-pg", NULL, "a batch of %u deliveries failed, trying each alone: %s",
			      batch->tasks->len, error->message);
		self->n_writing -= batch->tasks->len;
		for (guint i = 0; i < batch->tasks->len; i++)
			store_pg_deliver_send (self, g_object_ref (g_ptr_array_index (batch->tasks, i)));
		store_pg_process_pending (self);
		return;
	}
	for (guint i = 0; i < batch->tasks->len; i++) {
		GTask *task = g_ptr_array_index (batch->tasks, i);
		StorePgCall *call = g_task_get_task_data (task);
		GError *task_error = NULL;
		gpointer value;

		if (results == NULL) {
			g_task_return_new_error (task, error->domain, error->code, "%s", error->message);
			continue;
		}
		/* announces the change */
		value = call->parse (self, task, g_ptr_array_index (results, i + 1), &task_error);
		if (task_error != NULL)
			g_task_return_error (task, task_error);
		else
			g_task_return_pointer (task, value, call->free_result);
	}
	self->n_writing -= batch->tasks->len;
	store_pg_process_pending (self);
	store_pg_deliver_flush (self);
}

/* sends what waits, while fewer than STORE_PG_DELIVER_IN_FLIGHT are in
 * flight */
static void
store_pg_deliver_flush (EpStorePg *self)
{
	while (self->n_delivering < STORE_PG_DELIVER_IN_FLIGHT && !g_queue_is_empty (&self->deliver_queue)) {
		g_autoptr (EpDbBatch) db_batch = NULL;
		g_autoptr (EpDbParams) lock_params = NULL;
		StorePgBatch *batch;
		GTask *task;
		gsize bytes = 0;

		if (self->deliver_queue.length == 1) {
			task = g_queue_pop_head (&self->deliver_queue);
			store_pg_deliver_unqueue (task);
			store_pg_deliver_send (self, task);
			continue;
		}
		batch = g_new0 (StorePgBatch, 1);
		batch->self = g_object_ref (self);
		batch->tasks = g_ptr_array_new_with_free_func (g_object_unref);
		while (batch->tasks->len < STORE_PG_DELIVER_BATCH_MAX && bytes < STORE_PG_DELIVER_BATCH_BYTES &&
		       (task = g_queue_pop_head (&self->deliver_queue)) != NULL) {
			store_pg_deliver_unqueue (task);
			if (g_task_return_error_if_cancelled (task)) {
				g_object_unref (task);
				continue;
			}
			bytes += ((StorePgCall *)g_task_get_task_data (task))->size;
			g_ptr_array_add (batch->tasks, task);
		}
		if (batch->tasks->len == 0) {
			store_pg_batch_free (batch);
			continue;
		}
		g_ptr_array_sort (batch->tasks, store_pg_deliver_compare);
		lock_params = store_pg_deliver_lock_params (batch->tasks);
		db_batch = ep_db_batch_new ();
		ep_db_batch_add_prepared (db_batch, "store_pg_lock_for_delivery", lock_params);
		for (guint i = 0; i < batch->tasks->len; i++) {
			StorePgCall *call = g_task_get_task_data (g_ptr_array_index (batch->tasks, i));

			call->notifies = TRUE;
			call->delivers = TRUE;
			ep_db_batch_add_prepared (db_batch, "store_pg_deliver", call->params);
		}
		self->n_writing += batch->tasks->len;
		self->n_delivering++;
		/* once sent, a delivery commits or fails with the others:
		 * the batch itself is not cancelled */
		ep_db_run_batch_async (self->db, db_batch, NULL, store_pg_on_batch_executed, batch);
	}
}

static void
store_pg_return_error (GTask *task, GError *error)
{
	g_task_return_error (task, error);
	g_object_unref (task);
}

static GPtrArray *
store_pg_propagate_pointer (EpStorePg *self, GAsyncResult *result, gpointer tag, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), NULL);
	g_return_val_if_fail (g_async_result_is_tagged (result, tag), NULL);
	return g_task_propagate_pointer (G_TASK (result), error);
}

static gboolean
store_pg_propagate_boolean (EpStorePg *self, GAsyncResult *result, gpointer tag, GError **error)
{
	g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
	g_return_val_if_fail (g_async_result_is_tagged (result, tag), FALSE);
	return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- accounts ------------------------------------------------------------ */

static gpointer
store_pg_parse_accounts (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (GPtrArray) accounts = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_account_free);

	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		EpStoreAccount *account = g_new0 (EpStoreAccount, 1);

		account->name = g_strdup (ep_db_result_get_text (res, i, 0));
		account->source = g_strcmp0 (ep_db_result_get_text (res, i, 1), "config") == 0
				      ? EP_STORE_ACCOUNT_SOURCE_CONFIG
				      : EP_STORE_ACCOUNT_SOURCE_DB;
		if (!ep_db_result_is_null (res, i, 2))
			account->password_hash = g_strdup (ep_db_result_get_text (res, i, 2));
		account->catch_all = ep_db_result_get_boolean (res, i, 3);
		account->quota_bytes = ep_db_result_get_int64 (res, i, 4);
		account->used_bytes = ep_db_result_get_int64 (res, i, 5);
		account->message_count = ep_db_result_get_int64 (res, i, 6);
		account->addresses = ep_store_pg_parse_array (ep_db_result_get_text (res, i, 7));
		g_ptr_array_add (accounts, account);
	}
	if (call->account != NULL && accounts->len == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such account");
		return NULL;
	}
	return g_steal_pointer (&accounts);
}

static void
ep_store_pg_list_accounts_async (EpStore *store, const char *name, GCancellable *cancellable,
				 GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_list_accounts_async, store_pg_parse_accounts,
					 (GDestroyNotify)g_ptr_array_unref, cancellable, callback, user_data);
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) params = ep_db_params_new ();

	call->account = g_strdup (name);
	if (name != NULL)
		ep_db_params_add_text (params, name);
	else
		ep_db_params_add_null (params);
	store_pg_execute (self, task, "store_pg_list_accounts", params);
}

static GPtrArray *
ep_store_pg_list_accounts_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_list_accounts_async, error);
}

static gpointer
store_pg_parse_account_created (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);

	store_pg_emit_account (self, call->account, call->flag ? EP_ACCOUNT_CHANGE_DELETED : EP_ACCOUNT_CHANGE_CREATED);
	return NULL;
}

static void
ep_store_pg_create_account_async (EpStore *store, const char *name, const char *const *addresses,
				  const char *password_hash, gboolean catch_all, gint64 quota_bytes,
				  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_create_account_async, store_pg_parse_account_created, NULL,
					 cancellable, callback, user_data);
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) params = ep_db_params_new ();
	g_autofree char *array = NULL;
	GError *error = NULL;

	if (!store_pg_validate_account (name, &error)) {
		store_pg_return_error (task, error);
		return;
	}
	for (guint i = 0; addresses != NULL && addresses[i] != NULL; i++) {
		if (!store_pg_validate_address (addresses[i], &error)) {
			store_pg_return_error (task, error);
			return;
		}
	}
	if (quota_bytes < 0) {
		store_pg_return_error (task, g_error_new (EP_ERROR, EP_ERROR_INVALID, "negative quota"));
		return;
	}
	call->account = g_strdup (name);
	array = ep_store_pg_text_array (addresses, -1);
	ep_db_params_add_text (params, name);
	if (password_hash != NULL)
		ep_db_params_add_text (params, password_hash);
	else
		ep_db_params_add_null (params);
	ep_db_params_add_boolean (params, catch_all);
	ep_db_params_add_int64 (params, quota_bytes);
	ep_db_params_add_text (params, array);
	store_pg_execute (self, task, "store_pg_create_account", params);
}

static gboolean
ep_store_pg_create_account_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_boolean (EP_STORE_PG (store), result, ep_store_pg_create_account_async, error);
}

static void
ep_store_pg_delete_account_async (EpStore *store, const char *name, GCancellable *cancellable,
				  GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_delete_account_async, store_pg_parse_account_created, NULL,
					 cancellable, callback, user_data);
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) params = ep_db_params_new_text (name, NULL);

	call->account = g_strdup (name);
	call->flag = TRUE;
	store_pg_execute (self, task, "store_pg_delete_account", params);
}

static gboolean
ep_store_pg_delete_account_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_boolean (EP_STORE_PG (store), result, ep_store_pg_delete_account_async, error);
}

static gpointer
store_pg_parse_password_set (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);

	if (ep_db_result_is_null (res, 0, 0)) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such account");
		return NULL;
	}
	if (ep_db_result_get_int64 (res, 0, 1) == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_PERM, "the configuration defines this account");
		return NULL;
	}
	store_pg_emit_account (self, call->account, EP_ACCOUNT_CHANGE_UPDATED);
	return NULL;
}

static void
ep_store_pg_set_password_hash_async (EpStore *store, const char *name, const char *password_hash,
				     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_set_password_hash_async, store_pg_parse_password_set, NULL,
					 cancellable, callback, user_data);
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) params = ep_db_params_new ();

	call->account = g_strdup (name);
	ep_db_params_add_text (params, name);
	if (password_hash != NULL)
		ep_db_params_add_text (params, password_hash);
	else
		ep_db_params_add_null (params);
	store_pg_execute (self, task, "store_pg_set_password_hash", params);
}

static gboolean
ep_store_pg_set_password_hash_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_boolean (EP_STORE_PG (store), result, ep_store_pg_set_password_hash_async, error);
}

static gpointer
store_pg_parse_synced (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		const char *name = ep_db_result_get_text (res, i, 0);
		const char *change = ep_db_result_get_text (res, i, 1);

		if (g_strcmp0 (change, "created") == 0)
			store_pg_emit_account (self, name, EP_ACCOUNT_CHANGE_CREATED);
		else if (g_strcmp0 (change, "updated") == 0)
			store_pg_emit_account (self, name, EP_ACCOUNT_CHANGE_UPDATED);
		else if (g_strcmp0 (change, "deleted") == 0)
			store_pg_emit_account (self, name, EP_ACCOUNT_CHANGE_DELETED);
		else if (g_strcmp0 (change, "skipped") == 0)
			ep_log_warning ("store-pg", NULL,
					"account '%s' of the configuration is not mirrored: an account created "
					"at run time has its name or one of its addresses",
					name);
	}
	return NULL;
}

static void
ep_store_pg_sync_config_accounts_async (EpStore *store, GPtrArray *accounts, GCancellable *cancellable,
					GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_sync_config_accounts_async, store_pg_parse_synced, NULL,
					 cancellable, callback, user_data);
	g_autoptr (JsonBuilder) builder = json_builder_new ();
	g_autoptr (JsonNode) root = NULL;
	g_autofree char *json = NULL;
	g_autoptr (EpDbParams) params = NULL;
	GError *error = NULL;

	json_builder_begin_array (builder);
	for (guint i = 0; accounts != NULL && i < accounts->len; i++) {
		const EpConfigAccount *account = g_ptr_array_index (accounts, i);

		if (!store_pg_validate_account (account->name, &error)) {
			g_prefix_error (&error, "account '%s': ", account->name);
			store_pg_return_error (task, error);
			return;
		}
		json_builder_begin_object (builder);
		json_builder_set_member_name (builder, "name");
		json_builder_add_string_value (builder, account->name);
		json_builder_set_member_name (builder, "password_hash");
		if (account->password_hash != NULL)
			json_builder_add_string_value (builder, account->password_hash);
		else
			json_builder_add_null_value (builder);
		json_builder_set_member_name (builder, "catch_all");
		json_builder_add_boolean_value (builder, account->catch_all);
		json_builder_set_member_name (builder, "quota_bytes");
		json_builder_add_int_value (builder, MAX (account->quota_bytes, 0));
		json_builder_set_member_name (builder, "addresses");
		json_builder_begin_array (builder);
		for (guint j = 0; account->addresses != NULL && account->addresses[j] != NULL; j++) {
			if (!store_pg_validate_address (account->addresses[j], &error)) {
				g_prefix_error (&error, "account '%s': ", account->name);
				store_pg_return_error (task, error);
				return;
			}
			json_builder_add_string_value (builder, account->addresses[j]);
		}
		json_builder_end_array (builder);
		json_builder_end_object (builder);
	}
	json_builder_end_array (builder);
	root = json_builder_get_root (builder);
	json = json_to_string (root, FALSE);
	params = ep_db_params_new_text (json, NULL);
	store_pg_execute (self, task, "store_pg_sync_config_accounts", params);
}

static gboolean
ep_store_pg_sync_config_accounts_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_boolean (EP_STORE_PG (store), result, ep_store_pg_sync_config_accounts_async, error);
}

static gpointer
store_pg_parse_resolved (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	if (ep_db_result_get_n_rows (res) != 1 || ep_db_result_is_null (res, 0, 0)) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such address");
		return NULL;
	}
	return g_strdup (ep_db_result_get_text (res, 0, 0));
}

static void
ep_store_pg_resolve_address_async (EpStore *store, const char *address, GCancellable *cancellable,
				   GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_resolve_address_async, store_pg_parse_resolved, g_free,
					 cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = NULL;
	GError *error = NULL;

	if (!store_pg_validate_address (address, &error)) {
		store_pg_return_error (task, error);
		return;
	}
	params = ep_db_params_new_text (address, NULL);
	store_pg_execute (self, task, "store_pg_resolve_address", params);
}

static char *
ep_store_pg_resolve_address_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (char *)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_resolve_address_async,
						   error);
}

static gpointer
store_pg_parse_quota (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	gint64 *quota;

	if (ep_db_result_get_n_rows (res) != 1) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such account");
		return NULL;
	}
	quota = g_new0 (gint64, 3);
	for (guint i = 0; i < 3; i++)
		quota[i] = ep_db_result_get_int64 (res, 0, i);
	return quota;
}

static void
ep_store_pg_get_quota_async (EpStore *store, const char *account, GCancellable *cancellable,
			     GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_get_quota_async, store_pg_parse_quota, g_free, cancellable,
					 callback, user_data);
	g_autoptr (EpDbParams) params = ep_db_params_new_text (account, NULL);

	store_pg_execute (self, task, "store_pg_get_quota", params);
}

static gboolean
ep_store_pg_get_quota_finish (EpStore *store, GAsyncResult *result, gint64 *used_bytes, gint64 *quota_bytes,
			      gint64 *message_count, GError **error)
{
	g_autofree gint64 *quota =
	    (gint64 *)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_get_quota_async, error);

	if (quota == NULL)
		return FALSE;
	if (used_bytes != NULL)
		*used_bytes = quota[0];
	if (quota_bytes != NULL)
		*quota_bytes = quota[1];
	if (message_count != NULL)
		*message_count = quota[2];
	return TRUE;
}

/* ---- mailboxes ----------------------------------------------------------- */

static EpStoreMailbox *
store_pg_mailbox_from_row (EpDbResult *res, guint row)
{
	EpStoreMailbox *mailbox = g_new0 (EpStoreMailbox, 1);

	mailbox->id = ep_db_result_get_int64 (res, row, 0);
	mailbox->name = g_strdup (ep_db_result_get_text (res, row, 1));
	if (!ep_db_result_is_null (res, row, 2))
		mailbox->role = g_strdup (ep_db_result_get_text (res, row, 2));
	mailbox->uidvalidity = (guint32)ep_db_result_get_int64 (res, row, 3);
	mailbox->uidnext = ep_db_result_get_int64 (res, row, 4);
	mailbox->highest_modseq = ep_db_result_get_int64 (res, row, 5);
	mailbox->subscribed = ep_db_result_get_boolean (res, row, 6);
	mailbox->n_messages = ep_db_result_get_int64 (res, row, 7);
	mailbox->n_unseen = ep_db_result_get_int64 (res, row, 8);
	mailbox->size = ep_db_result_get_int64 (res, row, 9);
	mailbox->n_recent = ep_db_result_get_int64 (res, row, 10);
	return mailbox;
}

static gpointer
store_pg_parse_mailboxes (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (GPtrArray) mailboxes = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_mailbox_free);

	if (ep_db_result_get_n_rows (res) == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such account");
		return NULL;
	}
	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		if (!ep_db_result_is_null (res, i, 0))
			g_ptr_array_add (mailboxes, store_pg_mailbox_from_row (res, i));
	}
	if (call->mailbox != NULL && mailboxes->len == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such mailbox");
		return NULL;
	}
	return g_steal_pointer (&mailboxes);
}

static void
ep_store_pg_list_mailboxes_async (EpStore *store, const char *account, const char *name, GCancellable *cancellable,
				  GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_list_mailboxes_async, store_pg_parse_mailboxes,
					 (GDestroyNotify)g_ptr_array_unref, cancellable, callback, user_data);
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) params = ep_db_params_new ();
	GError *error = NULL;

	if (name != NULL) {
		call->mailbox = ep_store_normalize_mailbox_name (name, &error);
		if (call->mailbox == NULL) {
			store_pg_return_error (task, error);
			return;
		}
	}
	ep_db_params_add_text (params, account);
	if (call->mailbox != NULL)
		ep_db_params_add_text (params, call->mailbox);
	else
		ep_db_params_add_null (params);
	store_pg_execute (self, task, "store_pg_list_mailboxes", params);
}

static GPtrArray *
ep_store_pg_list_mailboxes_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_list_mailboxes_async, error);
}

static gpointer
store_pg_parse_mailbox_created (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);
	EpStoreMailbox *mailbox;

	if (ep_db_result_get_n_rows (res) != 1) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such account");
		return NULL;
	}
	mailbox = store_pg_mailbox_from_row (res, 0);
	store_pg_emit_structure (self, call->account, mailbox->name, mailbox->id, mailbox->uidvalidity,
				 mailbox->uidnext, mailbox->highest_modseq);
	return mailbox;
}

static void
ep_store_pg_create_mailbox_async (EpStore *store, const char *account, const char *name, const char *role,
				  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_create_mailbox_async, store_pg_parse_mailbox_created,
					 (GDestroyNotify)ep_store_mailbox_free, cancellable, callback, user_data);
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) params = ep_db_params_new ();
	g_autofree char *parents = NULL;
	GError *error = NULL;

	call->account = g_strdup (account);
	call->mailbox = ep_store_normalize_mailbox_name (name, &error);
	if (call->mailbox == NULL || !store_pg_validate_role (role, &error)) {
		store_pg_return_error (task, error);
		return;
	}
	parents = store_pg_parents_array (call->mailbox);
	ep_db_params_add_text (params, account);
	ep_db_params_add_text (params, call->mailbox);
	if (role != NULL)
		ep_db_params_add_text (params, role);
	else
		ep_db_params_add_null (params);
	ep_db_params_add_text (params, parents);
	store_pg_execute (self, task, "store_pg_create_mailbox", params);
}

static EpStoreMailbox *
ep_store_pg_create_mailbox_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (EpStoreMailbox *)store_pg_propagate_pointer (EP_STORE_PG (store), result,
							     ep_store_pg_create_mailbox_async, error);
}

static gpointer
store_pg_parse_mailbox_deleted (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);

	store_pg_emit_local (self, call->account, call->mailbox, ep_db_result_get_int64 (res, 0, 1), 0, 0, 0, TRUE);
	return NULL;
}

static void
ep_store_pg_delete_mailbox_async (EpStore *store, const char *account, const char *name, GCancellable *cancellable,
				  GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_delete_mailbox_async, store_pg_parse_mailbox_deleted, NULL,
					 cancellable, callback, user_data);
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) params = ep_db_params_new ();
	GError *error = NULL;

	call->account = g_strdup (account);
	call->mailbox = ep_store_normalize_mailbox_name (name, &error);
	if (call->mailbox == NULL) {
		store_pg_return_error (task, error);
		return;
	}
	ep_db_params_add_text (params, account);
	ep_db_params_add_text (params, call->mailbox);
	store_pg_execute (self, task, "store_pg_delete_mailbox", params);
}

static gboolean
ep_store_pg_delete_mailbox_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_boolean (EP_STORE_PG (store), result, ep_store_pg_delete_mailbox_async, error);
}

static gpointer
store_pg_parse_renamed (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);

	if (ep_db_result_get_n_rows (res) == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such mailbox");
		return NULL;
	}
	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++)
		store_pg_emit_structure (self, call->account, ep_db_result_get_text (res, i, 1),
					 ep_db_result_get_int64 (res, i, 0), ep_db_result_get_int64 (res, i, 2),
					 ep_db_result_get_int64 (res, i, 3), ep_db_result_get_int64 (res, i, 4));
	return NULL;
}

/* one copy_messages or rename_inbox: the changes it made */
static EpStoreCopy *
store_pg_copy_from_result (EpStorePg *self, StorePgCall *call, const char *dest, EpDbResult *res, gboolean move,
			   GError **error)
{
	guint n_rows = ep_db_result_get_n_rows (res);
	g_autoptr (EpStoreCopy) copy = g_new0 (EpStoreCopy, 1);

	if (n_rows == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such mailbox");
		return NULL;
	}
	copy->mailbox = g_strdup (dest);
	copy->mailbox_id = ep_db_result_get_int64 (res, 0, 2);
	copy->uidvalidity = (guint32)ep_db_result_get_int64 (res, 0, 3);
	copy->source_uids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), n_rows);
	copy->uids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), n_rows);
	for (guint i = 0; i < n_rows; i++) {
		guint32 from, to;

		if (ep_db_result_is_null (res, i, 0))
			continue;
		from = (guint32)ep_db_result_get_int64 (res, i, 0);
		to = (guint32)ep_db_result_get_int64 (res, i, 1);
		g_array_append_val (copy->source_uids, from);
		g_array_append_val (copy->uids, to);
	}
	if (copy->uids->len == 0)
		return g_steal_pointer (&copy);
	copy->modseq = ep_db_result_get_int64 (res, 0, 5);
	store_pg_emit_local (self, call->account, copy->mailbox, copy->mailbox_id, copy->uidvalidity,
			     ep_db_result_get_int64 (res, 0, 4), copy->modseq, TRUE);
	if (move) {
		copy->expunge_modseq = ep_db_result_get_int64 (res, 0, 9);
		store_pg_emit_local (self, call->account, call->mailbox, ep_db_result_get_int64 (res, 0, 6),
				     ep_db_result_get_int64 (res, 0, 7), ep_db_result_get_int64 (res, 0, 8),
				     copy->expunge_modseq, TRUE);
	}
	return g_steal_pointer (&copy);
}

static gpointer
store_pg_parse_inbox_renamed (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpStoreCopy) copy = store_pg_copy_from_result (self, call, call->new_name, res, TRUE, error);

	if (copy == NULL)
		return NULL;
	/* INBOX was empty: the new mailbox is all the change, which no SQL announced */
	if (copy->uids->len == 0)
		store_pg_emit_structure (self, call->account, copy->mailbox, copy->mailbox_id, copy->uidvalidity,
					 ep_db_result_get_int64 (res, 0, 4), ep_db_result_get_int64 (res, 0, 5));
	return NULL;
}

/* RFC 9051 6.3.6: INBOX's messages move to a new mailbox; @params holds
 * the account */
static void
store_pg_rename_inbox (EpStorePg *self, GTask *task, EpDbParams *params)
{
	StorePgCall *call = g_task_get_task_data (task);
	g_autofree char *parents = NULL;

	if (g_strcmp0 (call->new_name, "INBOX") == 0) {
		store_pg_return_error (
		    task, g_error_new (EP_ERROR, EP_ERROR_INVALID, "a mailbox cannot be renamed into itself"));
		return;
	}
	call->parse = store_pg_parse_inbox_renamed;
	parents = store_pg_parents_array (call->new_name);
	ep_db_params_add_text (params, call->account);
	ep_db_params_add_text (params, call->new_name);
	ep_db_params_add_text (params, parents);
	store_pg_execute (self, task, "store_pg_rename_inbox", params);
}

static void
ep_store_pg_rename_mailbox_async (EpStore *store, const char *account, const char *name, const char *new_name,
				  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_rename_mailbox_async, store_pg_parse_renamed, NULL,
					 cancellable, callback, user_data);
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) params = ep_db_params_new ();
	g_autofree char *parents = NULL;
	g_autofree char *inside = NULL;
	GError *error = NULL;

	call->account = g_strdup (account);
	call->mailbox = ep_store_normalize_mailbox_name (name, &error);
	if (call->mailbox != NULL)
		call->new_name = ep_store_normalize_mailbox_name (new_name, &error);
	if (call->new_name == NULL) {
		store_pg_return_error (task, error);
		return;
	}
	if (g_strcmp0 (call->mailbox, "INBOX") == 0) {
		store_pg_rename_inbox (self, task, params);
		return;
	}
	inside = g_strconcat (call->mailbox, "/", NULL);
	if (g_strcmp0 (call->mailbox, call->new_name) == 0 || g_str_has_prefix (call->new_name, inside)) {
		store_pg_return_error (
		    task, g_error_new (EP_ERROR, EP_ERROR_INVALID, "a mailbox cannot be renamed into itself"));
		return;
	}
	parents = store_pg_parents_array (call->new_name);
	ep_db_params_add_text (params, account);
	ep_db_params_add_text (params, call->mailbox);
	ep_db_params_add_text (params, call->new_name);
	ep_db_params_add_text (params, parents);
	store_pg_execute (self, task, "store_pg_rename_mailbox", params);
}

static gboolean
ep_store_pg_rename_mailbox_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_boolean (EP_STORE_PG (store), result, ep_store_pg_rename_mailbox_async, error);
}

static gpointer
store_pg_parse_subscribed (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);

	if (ep_db_result_get_n_rows (res) == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such account");
		return NULL;
	}
	if (ep_db_result_is_null (res, 0, 0))
		return NULL; /* a name without mailbox: nobody has it selected */
	store_pg_emit_structure (self, call->account, call->mailbox, ep_db_result_get_int64 (res, 0, 0),
				 ep_db_result_get_int64 (res, 0, 1), ep_db_result_get_int64 (res, 0, 2),
				 ep_db_result_get_int64 (res, 0, 3));
	return NULL;
}

static void
ep_store_pg_set_subscribed_async (EpStore *store, const char *account, const char *name, gboolean subscribed,
				  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_set_subscribed_async, store_pg_parse_subscribed, NULL,
					 cancellable, callback, user_data);
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) params = ep_db_params_new ();
	GError *error = NULL;

	call->account = g_strdup (account);
	call->mailbox = ep_store_normalize_mailbox_name (name, &error);
	if (call->mailbox == NULL) {
		store_pg_return_error (task, error);
		return;
	}
	ep_db_params_add_text (params, account);
	ep_db_params_add_text (params, call->mailbox);
	ep_db_params_add_boolean (params, subscribed);
	store_pg_execute (self, task, "store_pg_set_subscribed", params);
}

static gboolean
ep_store_pg_set_subscribed_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_boolean (EP_STORE_PG (store), result, ep_store_pg_set_subscribed_async, error);
}

static gpointer
store_pg_parse_subscriptions (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	g_autoptr (GStrvBuilder) names = g_strv_builder_new ();

	(void)self;
	(void)task;
	if (ep_db_result_get_n_rows (res) == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such account");
		return NULL;
	}
	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		if (!ep_db_result_is_null (res, i, 1))
			g_strv_builder_add (names, ep_db_result_get_text (res, i, 1));
	}
	return g_strv_builder_end (names);
}

static void
ep_store_pg_list_subscriptions_async (EpStore *store, const char *account, GCancellable *cancellable,
				      GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_list_subscriptions_async, store_pg_parse_subscriptions,
					 (GDestroyNotify)g_strfreev, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = ep_db_params_new ();

	ep_db_params_add_text (params, account);
	store_pg_execute (self, task, "store_pg_list_subscriptions", params);
}

static char **
ep_store_pg_list_subscriptions_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (char **)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_list_subscriptions_async,
						    error);
}

/* ---- storing messages ---------------------------------------------------- */

static const char *
store_pg_find_header_end (const char *data, gsize len)
{
	for (gsize i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		if (i + 1 < len && data[i + 1] == '\n')
			return data + i + 1;
		if (i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n')
			return data + i + 1;
	}
	return data + len;
}

/* the unfolded value of the first field @name, or NULL */
static char *
store_pg_header_value (const char *header, gsize len, const char *name)
{
	gsize name_len = strlen (name);
	const char *end = header + len;

	for (const char *line = header; line < end;) {
		const char *eol = memchr (line, '\n', end - line);
		const char *next = eol != NULL ? eol + 1 : end;

		if ((gsize)(end - line) > name_len && g_ascii_strncasecmp (line, name, name_len) == 0 &&
		    line[name_len] == ':') {
			g_autoptr (GString) value = g_string_new (NULL);
			const char *p = line + name_len + 1;

			for (;;) {
				const char *stop = eol != NULL ? eol : end;

				for (; p < stop; p++) {
					if (*p != '\r')
						g_string_append_c (value, *p == '\t' ? ' ' : *p);
				}
				if (next >= end || (*next != ' ' && *next != '\t'))
					break;
				p = next;
				eol = memchr (next, '\n', end - next);
				next = eol != NULL ? eol + 1 : end;
			}
			return g_strstrip (g_string_free (g_steal_pointer (&value), FALSE));
		}
		line = next;
	}
	return NULL;
}

static void
store_pg_add_msgids (GPtrArray *out, const char *value)
{
	for (const char *p = value != NULL ? strchr (value, '<') : NULL; p != NULL; p = strchr (p, '<')) {
		const char *close = strchr (p, '>');

		if (close == NULL)
			return;
		if (close > p + 1 && close - p < 1000)
			g_ptr_array_add (out, g_strndup (p + 1, close - p - 1));
		p = close;
	}
}

/* RFC 5256 base subject, without decoding encoded words */
static char *
store_pg_base_subject (const char *subject)
{
	g_autofree char *s = g_ascii_strdown (subject, -1);
	gboolean again = TRUE;
	char *p;
	char *w = s;

	/* runs of white space become one space */
	for (const char *r = s; *r != '\0'; r++) {
		if (*r == ' ' || *r == '\t') {
			if (w > s && w[-1] == ' ')
				continue;
			*w++ = ' ';
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	g_strstrip (s);
	while (again) {
		again = FALSE;
		p = s;
		if (g_str_has_suffix (p, "(fwd)")) {
			p[strlen (p) - 5] = '\0';
			g_strchomp (p);
			again = TRUE;
		}
		for (const char *const *prefix = (const char *const[]){"re", "fwd", "fw", NULL}; *prefix != NULL;
		     prefix++) {
			gsize n = strlen (*prefix);
			char *q;

			if (strncmp (p, *prefix, n) != 0)
				continue;
			q = p + n;
			if (*q == '[') {
				q = strchr (q, ']');
				if (q == NULL)
					continue;
				q++;
			}
			if (*q != ':')
				continue;
			memmove (s, q + 1, strlen (q + 1) + 1);
			g_strchug (s);
			again = TRUE;
			break;
		}
		if (!again && s[0] == '[') {
			char *close = strchr (s, ']');

			if (close != NULL && close[1] != '\0') {
				memmove (s, close + 1, strlen (close + 1) + 1);
				g_strchug (s);
				again = TRUE;
			}
		}
	}
	if (strlen (s) > 500)
		s[500] = '\0';
	return g_steal_pointer (&s);
}

/**
 * ep_store_pg_scan_header:
 *
 * The thread keys of a message: its Message-ID, the ids of References and
 * In-Reply-To, and its base subject (all %NULL when absent).
 */
void
ep_store_pg_scan_header (const char *data, gsize len, char **message_id, char ***refs, char **base_subject)
{
	gsize header_len = store_pg_find_header_end (data, len) - data;
	g_autofree char *id = store_pg_header_value (data, header_len, "Message-ID");
	g_autofree char *references = store_pg_header_value (data, header_len, "References");
	g_autofree char *in_reply_to = store_pg_header_value (data, header_len, "In-Reply-To");
	g_autofree char *subject = store_pg_header_value (data, header_len, "Subject");
	g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
	g_autoptr (GPtrArray) all = g_ptr_array_new_null_terminated (0, g_free, TRUE);

	store_pg_add_msgids (ids, id);
	*message_id = ids->len > 0 ? g_strdup (g_ptr_array_index (ids, 0)) : NULL;
	store_pg_add_msgids (all, references);
	store_pg_add_msgids (all, in_reply_to);
	*refs = all->len > 0 ? (char **)g_ptr_array_steal (all, NULL) : NULL;
	*base_subject = subject != NULL ? store_pg_base_subject (subject) : NULL;
}

/* what a message needs before it is stored, computed off the main loop */
typedef struct {
	GBytes *data;
	GPtrArray *accounts; /* of char* */
	GPtrArray *mailboxes;
	EpStoreFlags flags;
	char **keywords;
	gint64 internal_date;
	/* computed */
	GBytes *hash;
	GBytes *structure;
	char *fts_text;
	char *message_id;
	char **refs;
	char *base_subject;
} StorePgDelivery;

static void
store_pg_delivery_free (StorePgDelivery *d)
{
	g_clear_pointer (&d->data, g_bytes_unref);
	g_clear_pointer (&d->accounts, g_ptr_array_unref);
	g_clear_pointer (&d->mailboxes, g_ptr_array_unref);
	g_strfreev (d->keywords);
	g_clear_pointer (&d->hash, g_bytes_unref);
	g_clear_pointer (&d->structure, g_bytes_unref);
	g_free (d->fts_text);
	g_free (d->message_id);
	g_strfreev (d->refs);
	g_free (d->base_subject);
	g_free (d);
}

static void
store_pg_delivery_compute (StorePgDelivery *d)
{
	gsize len;
	const char *data = g_bytes_get_data (d->data, &len);
	g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
	guint8 digest[32];
	gsize digest_len = sizeof (digest);
	g_autoptr (EpMimeMessage) msg = NULL;

	g_checksum_update (checksum, (const guchar *)data, len);
	g_checksum_get_digest (checksum, digest, &digest_len);
	d->hash = g_bytes_new (digest, digest_len);
	ep_store_pg_scan_header (data, len, &d->message_id, &d->refs, &d->base_subject);
	msg = ep_mime_message_parse (data, len);
	d->structure = ep_mime_message_serialize (msg);
	d->fts_text = ep_mime_message_extract_text (msg, data, len, STORE_PG_FTS_MAX_TEXT);
	if (d->fts_text != NULL && !g_utf8_validate (d->fts_text, -1, NULL))
		g_clear_pointer (&d->fts_text, g_free);
}

static void
store_pg_delivery_prepare (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	store_pg_delivery_compute (task_data);
	g_task_return_boolean (task, TRUE);
}

static gpointer
store_pg_parse_delivered (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	g_autoptr (GPtrArray) deliveries = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_delivery_free);

	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		EpStoreDelivery *delivery = g_new0 (EpStoreDelivery, 1);

		delivery->account = g_strdup (ep_db_result_get_text (res, i, 0));
		delivery->mailbox = g_strdup (ep_db_result_get_text (res, i, 1));
		delivery->mailbox_id = ep_db_result_get_int64 (res, i, 2);
		delivery->uidvalidity = (guint32)ep_db_result_get_int64 (res, i, 3);
		delivery->uid = (guint32)ep_db_result_get_int64 (res, i, 4);
		delivery->modseq = ep_db_result_get_int64 (res, i, 5);
		delivery->email_id = g_strdup (ep_db_result_get_text (res, i, 6));
		delivery->thread_id = g_strdup (ep_db_result_get_text (res, i, 7));
		store_pg_emit_local (self, delivery->account, delivery->mailbox, delivery->mailbox_id,
				     delivery->uidvalidity, (guint64)delivery->uid + 1, delivery->modseq, TRUE);
		g_ptr_array_add (deliveries, delivery);
	}
	return g_steal_pointer (&deliveries);
}

/* the parameters of store_pg_deliver for @d, computed */
static EpDbParams *
store_pg_delivery_params (StorePgDelivery *d)
{
	EpDbParams *params = ep_db_params_new ();
	g_autofree char *accounts = NULL;
	g_autofree char *mailboxes = NULL;
	g_autofree char *keywords = NULL;
	g_autofree char *refs = NULL;

	accounts = ep_store_pg_text_array ((const char *const *)d->accounts->pdata, d->accounts->len);
	mailboxes = ep_store_pg_text_array ((const char *const *)d->mailboxes->pdata, d->mailboxes->len);
	keywords = ep_store_pg_text_array ((const char *const *)d->keywords, -1);
	ep_db_params_add_bytes (params, d->hash);
	ep_db_params_add_bytes (params, d->data);
	ep_db_params_add_text (params, accounts);
	ep_db_params_add_text (params, mailboxes);
	ep_db_params_add_int64 (params, d->flags);
	ep_db_params_add_text (params, keywords);
	ep_db_params_add_int64 (params, d->internal_date);
	if (d->structure != NULL)
		ep_db_params_add_bytes (params, d->structure);
	else
		ep_db_params_add_null (params);
	if (d->fts_text != NULL)
		ep_db_params_add_text (params, d->fts_text);
	else
		ep_db_params_add_null (params);
	if (d->message_id != NULL)
		ep_db_params_add_text (params, d->message_id);
	else
		ep_db_params_add_null (params);
	if (d->refs != NULL) {
		refs = ep_store_pg_text_array ((const char *const *)d->refs, -1);
		ep_db_params_add_text (params, refs);
	} else {
		ep_db_params_add_null (params);
	}
	if (d->base_subject != NULL)
		ep_db_params_add_text (params, d->base_subject);
	else
		ep_db_params_add_null (params);
	return params;
}

static void
store_pg_on_prepared (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = G_TASK (user_data);
	EpStorePg *self = EP_STORE_PG (source);
	StorePgDelivery *d = g_task_get_task_data (G_TASK (result));
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) params = NULL;
	GError *error = NULL;

	if (!g_task_propagate_boolean (G_TASK (result), &error)) {
		store_pg_return_error (task, error);
		return;
	}
	params = store_pg_delivery_params (d);
	call->size = g_bytes_get_size (d->data);
	call->hash = g_bytes_ref (d->hash);
	call->accounts = g_ptr_array_ref (d->accounts);
	call->mailboxes = g_ptr_array_ref (d->mailboxes);
	store_pg_deliver_submit (self, task, params);
}

/* takes @task and @d */
static void
store_pg_deliver_start (EpStorePg *self, GTask *task, StorePgDelivery *d)
{
	g_autoptr (GTask) prepare = g_task_new (self, g_task_get_cancellable (task), store_pg_on_prepared, task);

	if (d->internal_date <= 0)
		d->internal_date = g_get_real_time () / G_USEC_PER_SEC;
	g_task_set_task_data (prepare, d, (GDestroyNotify)store_pg_delivery_free);
	if (self->workers != NULL)
		ep_worker_pool_run (self->workers, prepare, store_pg_delivery_prepare);
	else
		g_task_run_in_thread (prepare, store_pg_delivery_prepare);
}

static gpointer
store_pg_parse_appended (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	g_autoptr (GPtrArray) deliveries = store_pg_parse_delivered (self, task, res, error);

	if (deliveries == NULL || deliveries->len != 1) {
		if (error != NULL && *error == NULL)
			g_set_error (error, EP_ERROR, EP_ERROR_INTERNAL, "store_deliver stored %u copies",
				     deliveries != NULL ? deliveries->len : 0);
		return NULL;
	}
	return g_ptr_array_steal_index (deliveries, 0);
}

static void
ep_store_pg_append_async (EpStore *store, const char *account, const char *mailbox, GBytes *data, EpStoreFlags flags,
			  const char *const *keywords, gint64 internal_date, GCancellable *cancellable,
			  GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_append_async, store_pg_parse_appended,
					 (GDestroyNotify)ep_store_delivery_free, cancellable, callback, user_data);
	StorePgDelivery *d;
	g_autofree char *name = NULL;
	GError *error = NULL;

	name = ep_store_normalize_mailbox_name (mailbox, &error);
	if (name == NULL) {
		store_pg_return_error (task, error);
		return;
	}
	if ((flags & ~EP_STORE_FLAGS_ALL) != 0 || data == NULL) {
		store_pg_return_error (task, g_error_new (EP_ERROR, EP_ERROR_INVALID, "invalid flags or message"));
		return;
	}
	d = g_new0 (StorePgDelivery, 1);
	d->data = g_bytes_ref (data);
	d->accounts = g_ptr_array_new_with_free_func (g_free);
	d->mailboxes = g_ptr_array_new_with_free_func (g_free);
	g_ptr_array_add (d->accounts, g_strdup (account));
	g_ptr_array_add (d->mailboxes, g_steal_pointer (&name));
	d->flags = flags;
	d->keywords = g_strdupv ((char **)keywords);
	d->internal_date = internal_date;
	store_pg_deliver_start (self, task, d);
}

static EpStoreDelivery *
ep_store_pg_append_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (EpStoreDelivery *)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_append_async,
							      error);
}

static void
ep_store_pg_deliver_async (EpStore *store, const EpStoreTarget *targets, guint n_targets, GBytes *data,
			   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_deliver_async, store_pg_parse_delivered,
					 (GDestroyNotify)g_ptr_array_unref, cancellable, callback, user_data);
	StorePgDelivery *d;

	if (n_targets == 0 || n_targets > STORE_PG_MAX_TARGETS || data == NULL) {
		store_pg_return_error (task, g_error_new (EP_ERROR, EP_ERROR_INVALID, "invalid delivery"));
		return;
	}
	d = g_new0 (StorePgDelivery, 1);
	d->data = g_bytes_ref (data);
	d->accounts = g_ptr_array_new_with_free_func (g_free);
	d->mailboxes = g_ptr_array_new_with_free_func (g_free);
	for (guint i = 0; i < n_targets; i++) {
		GError *error = NULL;
		char *name =
		    ep_store_normalize_mailbox_name (targets[i].mailbox != NULL ? targets[i].mailbox : "INBOX", &error);

		if (name == NULL || targets[i].account == NULL) {
			g_free (name);
			g_clear_error (&error);
			store_pg_delivery_free (d);
			store_pg_return_error (task, g_error_new (EP_ERROR, EP_ERROR_INVALID, "invalid target"));
			return;
		}
		g_ptr_array_add (d->accounts, g_strdup (targets[i].account));
		g_ptr_array_add (d->mailboxes, name);
	}
	store_pg_deliver_start (self, task, d);
}

static GPtrArray *
ep_store_pg_deliver_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_deliver_async, error);
}

/* ---- several messages in one transaction -------------------------------- */

static EpDbParams *store_pg_mailbox_params (GTask *task, const char *account, const char *mailbox);

/* append_many: every message is prepared off the main loop, then one
 * batch (one transaction) locks the mailbox and its account and runs
 * store_pg_deliver for each, in order: all or none */

static void
store_pg_many_prepare (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
	GPtrArray *messages = task_data;

	for (guint i = 0; i < messages->len; i++)
		store_pg_delivery_compute (g_ptr_array_index (messages, i));
	g_task_return_boolean (task, TRUE);
}

static void store_pg_many_run (EpStorePg *self, GTask *task);

static void
store_pg_on_many_executed (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = G_TASK (user_data);
	EpStorePg *self = g_task_get_source_object (task);
	StorePgCall *call = g_task_get_task_data (task);
	GError *error = NULL;
	g_autoptr (GPtrArray) results = ep_db_run_batch_finish (EP_DB (source), result, &error);
	g_autoptr (GPtrArray) deliveries = NULL;
	guint n = ep_db_batch_get_length (call->batch) - 1;

	self->n_writing--;
	if (results != NULL && results->len != n + 1) {
		error =
		    g_error_new (EP_ERROR, EP_ERROR_INTERNAL, "a batch of %u appends gave %u results", n, results->len);
		g_clear_pointer (&results, g_ptr_array_unref);
	}
	if (results == NULL) {
		/* nothing was stored: run it again after a deadlock */
		if (store_pg_error_is_conflict (error) && call->attempts < STORE_PG_DELIVER_RETRIES) {
			ep_log_debug ("store-pg", NULL, "appends trying again: %s", error->message);
			g_clear_error (&error);
			call->attempts++;
			store_pg_many_run (self, task);
			store_pg_process_pending (self);
			return;
		}
		error = store_pg_convert_error (error);
		if (g_error_matches (error, EP_ERROR, EP_ERROR_EXISTS)) {
			g_clear_error (&error);
			error =
			    g_error_new_literal (EP_ERROR, EP_ERROR_TEMP, "conflicting concurrent change, try again");
		}
		store_pg_process_pending (self);
		store_pg_return_error (task, error);
		return;
	}
	deliveries = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_delivery_free);
	for (guint i = 0; i < n; i++) {
		/* announces the change */
		g_autoptr (GPtrArray) one =
		    store_pg_parse_delivered (self, task, g_ptr_array_index (results, i + 1), NULL);

		if (one->len != 1) {
			store_pg_process_pending (self);
			store_pg_return_error (task, g_error_new (EP_ERROR, EP_ERROR_INTERNAL,
								  "store_deliver stored %u copies", one->len));
			return;
		}
		g_ptr_array_add (deliveries, g_ptr_array_steal_index (one, 0));
	}
	store_pg_process_pending (self);
	g_task_return_pointer (task, g_steal_pointer (&deliveries), (GDestroyNotify)g_ptr_array_unref);
	g_object_unref (task);
}

/* takes @task */
static void
store_pg_many_run (EpStorePg *self, GTask *task)
{
	StorePgCall *call = g_task_get_task_data (task);

	self->n_writing++;
	/* once sent, it commits or fails as a whole: not cancelled */
	ep_db_run_batch_async (self->db, call->batch, NULL, store_pg_on_many_executed, task);
}

static void
store_pg_on_many_prepared (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = G_TASK (user_data);
	EpStorePg *self = EP_STORE_PG (source);
	GPtrArray *messages = g_task_get_task_data (G_TASK (result));
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) lock = ep_db_params_new ();
	g_autofree char *accounts = NULL;
	g_autofree char *mailboxes = NULL;
	GError *error = NULL;

	if (!g_task_propagate_boolean (G_TASK (result), &error)) {
		store_pg_return_error (task, error);
		return;
	}
	accounts = ep_store_pg_text_array ((const char *const *)&call->account, 1);
	mailboxes = ep_store_pg_text_array ((const char *const *)&call->mailbox, 1);
	ep_db_params_add_text (lock, accounts);
	ep_db_params_add_text (lock, mailboxes);
	call->batch = ep_db_batch_new ();
	ep_db_batch_add_prepared (call->batch, "store_pg_lock_for_delivery", lock);
	for (guint i = 0; i < messages->len; i++) {
		g_autoptr (EpDbParams) params = store_pg_delivery_params (g_ptr_array_index (messages, i));

		ep_db_batch_add_prepared (call->batch, "store_pg_deliver", params);
	}
	store_pg_many_run (self, task);
}

static void
ep_store_pg_append_many_async (EpStore *store, const char *account, const char *mailbox, const EpStoreAppendItem *items,
			       guint n_items, GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_append_many_async, NULL, (GDestroyNotify)g_ptr_array_unref,
					 cancellable, callback, user_data);
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify)store_pg_delivery_free);
	g_autoptr (GTask) prepare = NULL;
	gint64 now = g_get_real_time () / G_USEC_PER_SEC;
	GError *error = NULL;

	call->account = g_strdup (account);
	call->mailbox = ep_store_normalize_mailbox_name (mailbox, &error);
	if (call->mailbox == NULL) {
		store_pg_return_error (task, error);
		return;
	}
	if (n_items == 0 || n_items > STORE_PG_MAX_APPEND_MANY || account == NULL) {
		store_pg_return_error (task, g_error_new (EP_ERROR, EP_ERROR_INVALID, "invalid number of messages"));
		return;
	}
	for (guint i = 0; i < n_items; i++) {
		StorePgDelivery *d;

		if ((items[i].flags & ~EP_STORE_FLAGS_ALL) != 0 || items[i].data == NULL) {
			store_pg_return_error (task,
					       g_error_new (EP_ERROR, EP_ERROR_INVALID, "invalid flags or message"));
			return;
		}
		d = g_new0 (StorePgDelivery, 1);
		d->data = g_bytes_ref (items[i].data);
		d->accounts = g_ptr_array_new_with_free_func (g_free);
		d->mailboxes = g_ptr_array_new_with_free_func (g_free);
		g_ptr_array_add (d->accounts, g_strdup (account));
		g_ptr_array_add (d->mailboxes, g_strdup (call->mailbox));
		d->flags = items[i].flags;
		d->keywords = g_strdupv ((char **)items[i].keywords);
		d->internal_date = items[i].internal_date > 0 ? items[i].internal_date : now;
		g_ptr_array_add (messages, d);
	}
	prepare = g_task_new (self, cancellable, store_pg_on_many_prepared, task);
	g_task_set_task_data (prepare, g_steal_pointer (&messages), (GDestroyNotify)g_ptr_array_unref);
	if (self->workers != NULL)
		ep_worker_pool_run (self->workers, prepare, store_pg_many_prepare);
	else
		g_task_run_in_thread (prepare, store_pg_many_prepare);
}

static GPtrArray *
ep_store_pg_append_many_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_append_many_async, error);
}

static gpointer
store_pg_parse_copied (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);

	return store_pg_copy_from_result (self, call, call->new_name, res, call->flag, error);
}

static void
ep_store_pg_copy_messages_async (EpStore *store, const char *account, const char *mailbox, const guint32 *uids,
				 guint n_uids, const char *dest_mailbox, gboolean move, GCancellable *cancellable,
				 GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_copy_messages_async, store_pg_parse_copied,
					 (GDestroyNotify)ep_store_copy_free, cancellable, callback, user_data);
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (EpDbParams) params = store_pg_mailbox_params (task, account, mailbox);
	g_autofree char *uid_array = NULL;
	GError *error = NULL;

	if (params == NULL)
		return;
	call->new_name = ep_store_normalize_mailbox_name (dest_mailbox, &error);
	if (call->new_name == NULL) {
		store_pg_return_error (task, error);
		return;
	}
	call->flag = move;
	uid_array = store_pg_uid_array (uids, n_uids);
	ep_db_params_add_text (params, uid_array);
	ep_db_params_add_text (params, call->new_name);
	ep_db_params_add_boolean (params, move);
	store_pg_execute (self, task, "store_pg_copy", params);
}

static EpStoreCopy *
ep_store_pg_copy_messages_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (EpStoreCopy *)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_copy_messages_async,
							  error);
}

/* ---- reading messages ---------------------------------------------------- */

static gpointer
store_pg_parse_messages (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_message_free);

	if (ep_db_result_get_n_rows (res) == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such mailbox");
		return NULL;
	}
	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		EpStoreMessage *message;

		if (ep_db_result_is_null (res, i, 1))
			continue;
		message = g_new0 (EpStoreMessage, 1);
		message->uid = (guint32)ep_db_result_get_int64 (res, i, 1);
		message->modseq = ep_db_result_get_int64 (res, i, 2);
		message->flags = (EpStoreFlags)ep_db_result_get_int64 (res, i, 3);
		message->keywords = ep_store_pg_parse_array (ep_db_result_get_text (res, i, 4));
		message->internal_date = ep_db_result_get_int64 (res, i, 5);
		message->size = ep_db_result_get_int64 (res, i, 6);
		message->email_id = g_strdup (ep_db_result_get_text (res, i, 7));
		message->thread_id = g_strdup (ep_db_result_get_text (res, i, 8));
		g_ptr_array_add (messages, message);
	}
	return g_steal_pointer (&messages);
}

/* a task whose mailbox name is normalized into call->mailbox, and params
 * that start with the account and the mailbox; NULL once @task failed */
static EpDbParams *
store_pg_mailbox_params (GTask *task, const char *account, const char *mailbox)
{
	StorePgCall *call = g_task_get_task_data (task);
	EpDbParams *params;
	GError *error = NULL;

	call->account = g_strdup (account);
	call->mailbox = ep_store_normalize_mailbox_name (mailbox, &error);
	if (call->mailbox == NULL) {
		store_pg_return_error (task, error);
		return NULL;
	}
	params = ep_db_params_new ();
	ep_db_params_add_text (params, account);
	ep_db_params_add_text (params, call->mailbox);
	return params;
}

static void
ep_store_pg_list_messages_async (EpStore *store, const char *account, const char *mailbox, guint32 first_uid,
				 guint32 last_uid, guint64 changed_since, guint limit, GCancellable *cancellable,
				 GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_list_messages_async, store_pg_parse_messages,
					 (GDestroyNotify)g_ptr_array_unref, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = store_pg_mailbox_params (task, account, mailbox);

	if (params == NULL)
		return;
	ep_db_params_add_int64 (params, first_uid);
	ep_db_params_add_int64 (params, last_uid);
	ep_db_params_add_int64 (params, (gint64)MIN (changed_since, G_MAXINT64));
	ep_db_params_add_int64 (params, limit);
	store_pg_execute (self, task, "store_pg_list_messages", params);
}

static GPtrArray *
ep_store_pg_list_messages_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_list_messages_async, error);
}

static gpointer
store_pg_parse_message_data (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	if (ep_db_result_get_n_rows (res) != 1) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such message");
		return NULL;
	}
	return ep_db_result_get_bytes (res, 0, 0);
}

static void
ep_store_pg_read_message_async (EpStore *store, const char *account, const char *mailbox, guint32 uid,
				GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_read_message_async, store_pg_parse_message_data,
					 (GDestroyNotify)g_bytes_unref, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = store_pg_mailbox_params (task, account, mailbox);

	if (params == NULL)
		return;
	ep_db_params_add_int64 (params, uid);
	ep_db_params_set_binary_results (params, TRUE);
	store_pg_execute (self, task, "store_pg_read_message", params);
}

static GBytes *
ep_store_pg_read_message_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (GBytes *)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_read_message_async,
						     error);
}

static gpointer
store_pg_parse_messages_data (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	g_autoptr (GHashTable) messages = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify)g_bytes_unref);

	if (ep_db_result_get_n_rows (res) == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such mailbox");
		return NULL;
	}
	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		if (ep_db_result_is_null (res, i, 1))
			continue;
		g_hash_table_insert (messages, GUINT_TO_POINTER ((guint32)ep_db_result_get_int64 (res, i, 1)),
				     ep_db_result_get_bytes (res, i, 2));
	}
	return g_steal_pointer (&messages);
}

static void
ep_store_pg_read_messages_async (EpStore *store, const char *account, const char *mailbox, const guint32 *uids,
				 guint n_uids, GCancellable *cancellable, GAsyncReadyCallback callback,
				 gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_read_messages_async, store_pg_parse_messages_data,
					 (GDestroyNotify)g_hash_table_unref, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = store_pg_mailbox_params (task, account, mailbox);
	g_autofree char *uid_array = NULL;

	if (params == NULL)
		return;
	uid_array = store_pg_uid_array (uids, n_uids);
	ep_db_params_add_text (params, uid_array);
	ep_db_params_set_binary_results (params, TRUE);
	store_pg_execute (self, task, "store_pg_read_messages", params);
}

static GHashTable *
ep_store_pg_read_messages_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (GHashTable *)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_read_messages_async,
							 error);
}

/* the rows of store_pg_read_messages (mailbox, uid, data),
 * store_pg_read_structures (mailbox, uid, structure) or
 * store_pg_read_messages_full (mailbox, uid, data, structure) */
static gpointer
store_pg_parse_messages_full (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	gboolean with_data = g_strcmp0 (ep_db_result_get_column_name (res, 2), "data") == 0;
	gint structure_col = ep_db_result_get_n_columns (res) == 4 ? 3 : with_data ? -1 : 2;
	g_autoptr (GHashTable) messages =
	    g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify)ep_store_message_data_free);

	if (ep_db_result_get_n_rows (res) == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such mailbox");
		return NULL;
	}
	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		EpStoreMessageData *m;

		if (ep_db_result_is_null (res, i, 1))
			continue;
		m = g_new0 (EpStoreMessageData, 1);
		if (with_data)
			m->data = ep_db_result_get_bytes (res, i, 2);
		/* a message stored without its tree: an empty one */
		if (structure_col >= 0)
			m->structure = ep_db_result_is_null (res, i, (guint)structure_col)
					   ? g_bytes_new (NULL, 0)
					   : ep_db_result_get_bytes (res, i, (guint)structure_col);
		g_hash_table_insert (messages, GUINT_TO_POINTER ((guint32)ep_db_result_get_int64 (res, i, 1)), m);
	}
	return g_steal_pointer (&messages);
}

static void
ep_store_pg_read_messages_full_async (EpStore *store, const char *account, const char *mailbox, const guint32 *uids,
				      guint n_uids, EpStoreReadFlags flags, GCancellable *cancellable,
				      GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_read_messages_full_async, store_pg_parse_messages_full,
					 (GDestroyNotify)g_hash_table_unref, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = store_pg_mailbox_params (task, account, mailbox);
	g_autofree char *uid_array = NULL;
	const char *statement = "store_pg_read_messages_full";

	if (params == NULL)
		return;
	if ((flags & EP_STORE_READ_STRUCTURE) == 0)
		statement = "store_pg_read_messages";
	else if ((flags & EP_STORE_READ_DATA) == 0)
		statement = "store_pg_read_structures"; /* the blobs are not touched */
	uid_array = store_pg_uid_array (uids, n_uids);
	ep_db_params_add_text (params, uid_array);
	ep_db_params_set_binary_results (params, TRUE);
	store_pg_execute (self, task, statement, params);
}

static GHashTable *
ep_store_pg_read_messages_full_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (GHashTable *)store_pg_propagate_pointer (EP_STORE_PG (store), result,
							 ep_store_pg_read_messages_full_async, error);
}

static gpointer
store_pg_parse_structure (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	if (ep_db_result_get_n_rows (res) != 1) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such message");
		return NULL;
	}
	if (ep_db_result_is_null (res, 0, 0))
		return g_bytes_new (NULL, 0);
	return ep_db_result_get_bytes (res, 0, 0);
}

static void
ep_store_pg_read_structure_async (EpStore *store, const char *account, const char *mailbox, guint32 uid,
				  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_read_structure_async, store_pg_parse_structure,
					 (GDestroyNotify)g_bytes_unref, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = store_pg_mailbox_params (task, account, mailbox);

	if (params == NULL)
		return;
	ep_db_params_add_int64 (params, uid);
	ep_db_params_set_binary_results (params, TRUE);
	store_pg_execute (self, task, "store_pg_read_structure", params);
}

static GBytes *
ep_store_pg_read_structure_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (GBytes *)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_read_structure_async,
						     error);
}

/* ---- \Recent ------------------------------------------------------------- */

static gpointer
store_pg_parse_claimed (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	guint64 *claim;

	(void)self;
	(void)task;
	if (ep_db_result_get_n_rows (res) != 1) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such mailbox");
		return NULL;
	}
	claim = g_new (guint64, 2);
	claim[0] = ep_db_result_get_int64 (res, 0, 0);
	claim[1] = ep_db_result_get_int64 (res, 0, 1);
	return claim;
}

static void
ep_store_pg_claim_recent_async (EpStore *store, const char *account, const char *mailbox, GCancellable *cancellable,
				GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_claim_recent_async, store_pg_parse_claimed, g_free,
					 cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = store_pg_mailbox_params (task, account, mailbox);

	if (params == NULL)
		return;
	store_pg_execute (self, task, "store_pg_claim_recent", params);
}

static gboolean
ep_store_pg_claim_recent_finish (EpStore *store, GAsyncResult *result, guint32 *first_uid, guint64 *uidnext,
				 GError **error)
{
	g_autofree guint64 *claim =
	    (guint64 *)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_claim_recent_async, error);

	if (claim == NULL)
		return FALSE;
	if (first_uid != NULL)
		*first_uid = (guint32)MIN (claim[0], G_MAXUINT32);
	if (uidnext != NULL)
		*uidnext = claim[1];
	return TRUE;
}

/* ---- flags, expunge, tombstones ------------------------------------------ */

static gpointer
store_pg_parse_flag_changes (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);
	g_autoptr (GPtrArray) changes = g_ptr_array_new_with_free_func ((GDestroyNotify)ep_store_flag_change_free);
	guint64 modseq = 0;

	for (guint i = 0; i < ep_db_result_get_n_rows (res); i++) {
		EpStoreFlagChange *change = g_new0 (EpStoreFlagChange, 1);

		change->uid = (guint32)ep_db_result_get_int64 (res, i, 0);
		change->modseq = ep_db_result_get_int64 (res, i, 1);
		change->flags = (EpStoreFlags)ep_db_result_get_int64 (res, i, 2);
		change->keywords = ep_store_pg_parse_array (ep_db_result_get_text (res, i, 3));
		change->failed = ep_db_result_get_boolean (res, i, 4);
		if (!change->failed)
			modseq = MAX (modseq, change->modseq);
		g_ptr_array_add (changes, change);
	}
	if (modseq > 0) {
		guint row = 0;

		store_pg_emit_local (self, call->account, call->mailbox, ep_db_result_get_int64 (res, row, 5),
				     ep_db_result_get_int64 (res, row, 6), ep_db_result_get_int64 (res, row, 7), modseq,
				     TRUE);
	}
	return g_steal_pointer (&changes);
}

static void
ep_store_pg_store_flags_async (EpStore *store, const char *account, const char *mailbox, const guint32 *uids,
			       guint n_uids, EpStoreFlagsMode mode, EpStoreFlags flags, const char *const *keywords,
			       guint64 unchanged_since, GCancellable *cancellable, GAsyncReadyCallback callback,
			       gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_store_flags_async, store_pg_parse_flag_changes,
					 (GDestroyNotify)g_ptr_array_unref, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = store_pg_mailbox_params (task, account, mailbox);
	g_autofree char *uid_array = NULL;
	g_autofree char *keyword_array = NULL;

	if (params == NULL)
		return;
	if ((flags & ~EP_STORE_FLAGS_ALL) != 0 || mode > EP_STORE_FLAGS_REMOVE) {
		store_pg_return_error (task, g_error_new (EP_ERROR, EP_ERROR_INVALID, "invalid flags"));
		return;
	}
	uid_array = store_pg_uid_array (uids, n_uids);
	keyword_array = ep_store_pg_text_array (keywords, -1);
	ep_db_params_add_text (params, uid_array);
	ep_db_params_add_int64 (params, mode);
	ep_db_params_add_int64 (params, flags);
	ep_db_params_add_text (params, keyword_array);
	if (unchanged_since > 0)
		ep_db_params_add_int64 (params, (gint64)MIN (unchanged_since, G_MAXINT64));
	else
		ep_db_params_add_null (params);
	store_pg_execute (self, task, "store_pg_store_flags", params);
}

static GPtrArray *
ep_store_pg_store_flags_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_store_flags_async, error);
}

static gpointer
store_pg_parse_expunged (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	StorePgCall *call = g_task_get_task_data (task);
	guint n_rows = ep_db_result_get_n_rows (res);
	GArray *expunged = g_array_sized_new (FALSE, FALSE, sizeof (EpStoreTombstone), n_rows);

	for (guint i = 0; i < n_rows; i++) {
		EpStoreTombstone t = {
		    .uid = (guint32)ep_db_result_get_int64 (res, i, 0),
		    .modseq = ep_db_result_get_int64 (res, i, 1),
		};

		g_array_append_val (expunged, t);
	}
	if (n_rows > 0)
		store_pg_emit_local (self, call->account, call->mailbox, ep_db_result_get_int64 (res, 0, 2),
				     ep_db_result_get_int64 (res, 0, 3), ep_db_result_get_int64 (res, 0, 4),
				     ep_db_result_get_int64 (res, 0, 1), TRUE);
	return expunged;
}

static void
ep_store_pg_expunge_async (EpStore *store, const char *account, const char *mailbox, const guint32 *uids, guint n_uids,
			   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_expunge_async, store_pg_parse_expunged,
					 (GDestroyNotify)g_array_unref, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = store_pg_mailbox_params (task, account, mailbox);
	g_autofree char *uid_array = NULL;

	if (params == NULL)
		return;
	uid_array = store_pg_uid_array (uids, n_uids);
	ep_db_params_add_text (params, uid_array);
	store_pg_execute (self, task, "store_pg_expunge", params);
}

static GArray *
ep_store_pg_expunge_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (GArray *)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_expunge_async, error);
}

static gpointer
store_pg_parse_tombstones (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	guint n_rows = ep_db_result_get_n_rows (res);
	GArray *tombstones;

	if (n_rows == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such mailbox");
		return NULL;
	}
	tombstones = g_array_sized_new (FALSE, FALSE, sizeof (EpStoreTombstone), n_rows);
	for (guint i = 0; i < n_rows; i++) {
		EpStoreTombstone t;

		if (ep_db_result_is_null (res, i, 1))
			continue;
		t.uid = (guint32)ep_db_result_get_int64 (res, i, 1);
		t.modseq = ep_db_result_get_int64 (res, i, 2);
		g_array_append_val (tombstones, t);
	}
	return tombstones;
}

static void
ep_store_pg_list_tombstones_async (EpStore *store, const char *account, const char *mailbox, guint64 since_modseq,
				   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_list_tombstones_async, store_pg_parse_tombstones,
					 (GDestroyNotify)g_array_unref, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = store_pg_mailbox_params (task, account, mailbox);

	if (params == NULL)
		return;
	ep_db_params_add_int64 (params, (gint64)MIN (since_modseq, G_MAXINT64));
	store_pg_execute (self, task, "store_pg_list_tombstones", params);
}

static GArray *
ep_store_pg_list_tombstones_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (GArray *)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_list_tombstones_async,
						     error);
}

static gpointer
store_pg_parse_uids (EpStorePg *self, GTask *task, EpDbResult *res, GError **error)
{
	guint n_rows = ep_db_result_get_n_rows (res);
	GArray *uids;

	if (n_rows == 0) {
		g_set_error (error, EP_ERROR, EP_ERROR_NOT_FOUND, "no such mailbox");
		return NULL;
	}
	uids = g_array_sized_new (FALSE, FALSE, sizeof (guint32), n_rows);
	for (guint i = 0; i < n_rows; i++) {
		guint32 uid;

		if (ep_db_result_is_null (res, i, 1))
			continue;
		uid = (guint32)ep_db_result_get_int64 (res, i, 1);
		g_array_append_val (uids, uid);
	}
	return uids;
}

static void
ep_store_pg_search_text_async (EpStore *store, const char *account, const char *mailbox, const char *query,
			       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
	EpStorePg *self = EP_STORE_PG (store);
	GTask *task = store_pg_task_new (self, ep_store_pg_search_text_async, store_pg_parse_uids,
					 (GDestroyNotify)g_array_unref, cancellable, callback, user_data);
	g_autoptr (EpDbParams) params = NULL;

	if (!g_utf8_validate (query, -1, NULL)) {
		g_task_return_new_error (task, EP_ERROR, EP_ERROR_INVALID, "the search text is not UTF-8");
		g_object_unref (task);
		return;
	}
	params = store_pg_mailbox_params (task, account, mailbox);
	if (params == NULL)
		return;
	ep_db_params_add_text (params, query);
	store_pg_execute (self, task, "store_pg_search_text", params);
}

static GArray *
ep_store_pg_search_text_finish (EpStore *store, GAsyncResult *result, GError **error)
{
	return (GArray *)store_pg_propagate_pointer (EP_STORE_PG (store), result, ep_store_pg_search_text_async, error);
}

/* ---- object -------------------------------------------------------------- */

static void
ep_store_pg_iface_init (EpStoreInterface *iface)
{
	iface->list_accounts_async = ep_store_pg_list_accounts_async;
	iface->list_accounts_finish = ep_store_pg_list_accounts_finish;
	iface->create_account_async = ep_store_pg_create_account_async;
	iface->create_account_finish = ep_store_pg_create_account_finish;
	iface->delete_account_async = ep_store_pg_delete_account_async;
	iface->delete_account_finish = ep_store_pg_delete_account_finish;
	iface->set_password_hash_async = ep_store_pg_set_password_hash_async;
	iface->set_password_hash_finish = ep_store_pg_set_password_hash_finish;
	iface->sync_config_accounts_async = ep_store_pg_sync_config_accounts_async;
	iface->sync_config_accounts_finish = ep_store_pg_sync_config_accounts_finish;
	iface->resolve_address_async = ep_store_pg_resolve_address_async;
	iface->resolve_address_finish = ep_store_pg_resolve_address_finish;
	iface->get_quota_async = ep_store_pg_get_quota_async;
	iface->get_quota_finish = ep_store_pg_get_quota_finish;
	iface->list_mailboxes_async = ep_store_pg_list_mailboxes_async;
	iface->list_mailboxes_finish = ep_store_pg_list_mailboxes_finish;
	iface->create_mailbox_async = ep_store_pg_create_mailbox_async;
	iface->create_mailbox_finish = ep_store_pg_create_mailbox_finish;
	iface->delete_mailbox_async = ep_store_pg_delete_mailbox_async;
	iface->delete_mailbox_finish = ep_store_pg_delete_mailbox_finish;
	iface->rename_mailbox_async = ep_store_pg_rename_mailbox_async;
	iface->rename_mailbox_finish = ep_store_pg_rename_mailbox_finish;
	iface->set_subscribed_async = ep_store_pg_set_subscribed_async;
	iface->set_subscribed_finish = ep_store_pg_set_subscribed_finish;
	iface->append_async = ep_store_pg_append_async;
	iface->append_finish = ep_store_pg_append_finish;
	iface->deliver_async = ep_store_pg_deliver_async;
	iface->deliver_finish = ep_store_pg_deliver_finish;
	iface->list_messages_async = ep_store_pg_list_messages_async;
	iface->list_messages_finish = ep_store_pg_list_messages_finish;
	iface->read_message_async = ep_store_pg_read_message_async;
	iface->read_message_finish = ep_store_pg_read_message_finish;
	iface->store_flags_async = ep_store_pg_store_flags_async;
	iface->store_flags_finish = ep_store_pg_store_flags_finish;
	iface->expunge_async = ep_store_pg_expunge_async;
	iface->expunge_finish = ep_store_pg_expunge_finish;
	iface->list_tombstones_async = ep_store_pg_list_tombstones_async;
	iface->list_tombstones_finish = ep_store_pg_list_tombstones_finish;
	iface->search_text_async = ep_store_pg_search_text_async;
	iface->search_text_finish = ep_store_pg_search_text_finish;
	iface->copy_messages_async = ep_store_pg_copy_messages_async;
	iface->copy_messages_finish = ep_store_pg_copy_messages_finish;
	iface->append_many_async = ep_store_pg_append_many_async;
	iface->append_many_finish = ep_store_pg_append_many_finish;
	iface->read_structure_async = ep_store_pg_read_structure_async;
	iface->read_structure_finish = ep_store_pg_read_structure_finish;
	iface->list_subscriptions_async = ep_store_pg_list_subscriptions_async;
	iface->list_subscriptions_finish = ep_store_pg_list_subscriptions_finish;
	iface->claim_recent_async = ep_store_pg_claim_recent_async;
	iface->claim_recent_finish = ep_store_pg_claim_recent_finish;
	iface->read_messages_async = ep_store_pg_read_messages_async;
	iface->read_messages_finish = ep_store_pg_read_messages_finish;
	iface->read_messages_full_async = ep_store_pg_read_messages_full_async;
	iface->read_messages_full_finish = ep_store_pg_read_messages_full_finish;
}

static void
ep_store_pg_dispose (GObject *object)
{
	EpStorePg *self = EP_STORE_PG (object);

	if (self->listen_id != 0 && self->db != NULL) {
		ep_db_unlisten (self->db, self->listen_id);
		self->listen_id = 0;
	}
	if (self->pending_source != NULL) {
		g_source_destroy (self->pending_source);
		g_clear_pointer (&self->pending_source, g_source_unref);
	}
	g_queue_clear_full (&self->pending, g_free);
	g_clear_object (&self->db);
	g_clear_object (&self->events);
	g_clear_object (&self->workers);
	G_OBJECT_CLASS (ep_store_pg_parent_class)->dispose (object);
}

static void
ep_store_pg_finalize (GObject *object)
{
	EpStorePg *self = EP_STORE_PG (object);

	g_hash_table_unref (self->local_changes);
	G_OBJECT_CLASS (ep_store_pg_parent_class)->finalize (object);
}

static void
ep_store_pg_class_init (EpStorePgClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS (klass);

	object_class->dispose = ep_store_pg_dispose;
	object_class->finalize = ep_store_pg_finalize;
}

static void
ep_store_pg_init (EpStorePg *self)
{
	self->local_changes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/**
 * ep_store_pg_new:
 *
 * Registers the module's prepared statements with @db and listens for
 * the mailbox changes of other processes.  Nothing is sent to the
 * database before the first call.
 */
EpStorePg *
ep_store_pg_new (EpDb *db, EpEventBus *events, EpWorkerPool *workers, GError **error)
{
	g_autoptr (EpStorePg) self = g_object_new (EP_TYPE_STORE_PG, NULL);

	g_return_val_if_fail (EP_IS_DB (db), NULL);

	for (guint i = 0; i < G_N_ELEMENTS (store_pg_statements); i++) {
		if (!ep_db_prepare (db, store_pg_statements[i].name, store_pg_statements[i].sql, error))
			return NULL;
	}
	self->db = g_object_ref (db);
	self->events = events != NULL ? g_object_ref (events) : NULL;
	self->workers = workers != NULL ? g_object_ref (workers) : NULL;
	/* the callback holds no reference: dispose unlistens first */
	self->listen_id = ep_db_listen (db, STORE_PG_CHANNEL, store_pg_on_notify, self, NULL);
	return g_steal_pointer (&self);
}
