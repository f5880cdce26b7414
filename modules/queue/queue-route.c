/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where the mail for a domain goes (RFC 5321 §5.1): a [[transport]] that
 * names the domain (or "*"), else the domain's MX records by preference
 * (equal preferences in random order), else — no MX at all — the domain
 * itself (implicit MX).  A null MX (RFC 7505) or a domain that does not
 * exist is a permanent failure; DNS trouble is a temporary one.  Each
 * host's addresses are looked up, IPv6 first, then IPv4.
 */
#include "config.h"

#include <string.h>

#include "queue-private.h"

#define QUEUE_MAX_HOPS 10

void
queue_hop_free (QueueHop *hop)
{
	g_free (hop->name);
	g_clear_pointer (&hop->addresses, g_ptr_array_unref);
	g_free (hop->verify_name);
	g_free (hop->ca_file);
	g_free (hop->username);
	g_free (hop->password);
	g_free (hop);
}

void
queue_route_free (QueueRoute *route)
{
	g_clear_pointer (&route->hops, g_ptr_array_unref);
	g_free (route->status);
	g_free (route->reason);
	g_free (route);
}

typedef struct {
	EpResolver *resolver;
	GCancellable *cancellable;
	char *domain;
	QueueRoute *route;
	guint next_hop;	   /* the hop whose addresses are being looked up */
	gboolean want_a;   /* AAAA done, A next */
	char *temp_reason; /* the last temporary DNS failure */
} RouteOp;

static void
route_op_free (RouteOp *op)
{
	g_clear_object (&op->resolver);
	g_clear_object (&op->cancellable);
	g_free (op->domain);
	if (op->route != NULL)
		queue_route_free (op->route);
	g_free (op->temp_reason);
	g_free (op);
}

static QueueHop *
route_hop_new (const char *name, guint port)
{
	QueueHop *hop = g_new0 (QueueHop, 1);

	hop->name = g_strdup (name);
	hop->port = port;
	hop->addresses = g_ptr_array_new_with_free_func (g_object_unref);
	hop->tls = EP_SMTP_CLIENT_TLS_OPPORTUNISTIC;
	return hop;
}

static void
route_fail (GTask *task, guint code, const char *status, const char *format, ...) G_GNUC_PRINTF (4, 5);

static void
route_fail (GTask *task, guint code, const char *status, const char *format, ...)
{
	RouteOp *op = g_task_get_task_data (task);
	va_list ap;

	g_ptr_array_set_size (op->route->hops, 0);
	op->route->code = code;
	op->route->status = g_strdup (status);
	va_start (ap, format);
	op->route->reason = g_strdup_vprintf (format, ap);
	va_end (ap);
	g_task_return_pointer (task, g_steal_pointer (&op->route), (GDestroyNotify)queue_route_free);
	g_object_unref (task);
}

static void route_next_address (GTask *task);

static void
route_on_address (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = user_data;
	RouteOp *op = g_task_get_task_data (task);
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDnsAnswer) answer = ep_resolver_lookup_finish (EP_RESOLVER (source), result, &error);
	QueueHop *hop = g_ptr_array_index (op->route->hops, op->next_hop);

	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_task_return_error (task, g_steal_pointer (&error));
		g_object_unref (task);
		return;
	}
	if (answer == NULL) {
		g_free (op->temp_reason);
		op->temp_reason = g_strdup_printf ("cannot look up %s: %s", hop->name, error->message);
	} else {
		for (guint i = 0; i < answer->records->len; i++)
			g_ptr_array_add (hop->addresses, g_object_ref (g_ptr_array_index (answer->records, i)));
	}
	if (!op->want_a) {
		op->want_a = TRUE;
	} else {
		op->want_a = FALSE;
		op->next_hop++;
	}
	route_next_address (task);
}

static void
route_next_address (GTask *task)
{
	RouteOp *op = g_task_get_task_data (task);
	QueueRoute *route = op->route;

	if (op->next_hop < route->hops->len) {
		QueueHop *hop = g_ptr_array_index (route->hops, op->next_hop);
		g_autoptr (GInetAddress) literal = g_inet_address_new_from_string (hop->name);

		if (literal != NULL) {
			g_ptr_array_add (hop->addresses, g_steal_pointer (&literal));
			op->next_hop++;
			route_next_address (task);
			return;
		}
		ep_resolver_lookup_async (op->resolver, hop->name, op->want_a ? EP_DNS_TYPE_A : EP_DNS_TYPE_AAAA,
					  op->cancellable, route_on_address, task);
		return;
	}
	/* the hops that have an address */
	for (guint i = route->hops->len; i > 0; i--) {
		QueueHop *hop = g_ptr_array_index (route->hops, i - 1);
		if (hop->addresses->len == 0)
			g_ptr_array_remove_index (route->hops, i - 1);
	}
	if (route->hops->len == 0) {
		if (op->temp_reason != NULL)
			route_fail (task, 451, "4.4.3", "%s", op->temp_reason);
		else
			route_fail (task, 550, "5.4.4", "no address for the mail servers of %s", op->domain);
		return;
	}
	g_task_return_pointer (task, g_steal_pointer (&op->route), (GDestroyNotify)queue_route_free);
	g_object_unref (task);
}

static gint
route_mx_compare (gconstpointer a, gconstpointer b)
{
	const EpDnsMx *x = *(EpDnsMx *const *)a;
	const EpDnsMx *y = *(EpDnsMx *const *)b;

	return (gint)x->preference - (gint)y->preference;
}

static void
route_on_mx (GObject *source, GAsyncResult *result, gpointer user_data)
{
	GTask *task = user_data;
	RouteOp *op = g_task_get_task_data (task);
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDnsAnswer) answer = ep_resolver_lookup_finish (EP_RESOLVER (source), result, &error);
	g_autoptr (GPtrArray) mx = NULL;

	if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_task_return_error (task, g_steal_pointer (&error));
		g_object_unref (task);
		return;
	}
	if (answer == NULL) {
		route_fail (task, 451, "4.4.3", "cannot look up the MX of %s: %s", op->domain, error->message);
		return;
	}
	if (answer->nxdomain) {
		route_fail (task, 550, "5.1.2", "the domain %s does not exist", op->domain);
		return;
	}
	if (answer->records->len == 0) {
		/* no MX: the domain itself (RFC 5321 §5.1) */
		g_ptr_array_add (op->route->hops, route_hop_new (op->domain, 0));
		route_next_address (task);
		return;
	}
	mx = g_ptr_array_new ();
	for (guint i = 0; i < answer->records->len; i++) {
		EpDnsMx *m = g_ptr_array_index (answer->records, i);
		if (m->host == NULL || m->host[0] == '\0' || strcmp (m->host, ".") == 0) {
			/* RFC 7505: a null MX says the domain takes no mail */
			route_fail (task, 556, "5.1.10", "the domain %s accepts no mail (null MX)", op->domain);
			return;
		}
		g_ptr_array_add (mx, m);
	}
	/* equal preferences in random order, spreading the load */
	for (guint i = mx->len; i > 1; i--) {
		guint j = g_random_int_range (0, (gint32)i);
		gpointer t = mx->pdata[i - 1];
		mx->pdata[i - 1] = mx->pdata[j];
		mx->pdata[j] = t;
	}
	g_ptr_array_sort (mx, route_mx_compare); /* a stable sort: the shuffle stays within preferences */
	for (guint i = 0; i < mx->len && i < QUEUE_MAX_HOPS; i++) {
		EpDnsMx *m = g_ptr_array_index (mx, i);
		g_ptr_array_add (op->route->hops, route_hop_new (m->host, 0));
	}
	route_next_address (task);
}

static const QueueTransport *
route_find_transport (const QueueRouter *router, const char *domain)
{
	const QueueTransport *any = NULL;

	for (guint i = 0; router->transports != NULL && i < router->transports->len; i++) {
		const QueueTransport *t = g_ptr_array_index (router->transports, i);
		if (g_ascii_strcasecmp (t->domain, domain) == 0)
			return t;
		if (any == NULL && strcmp (t->domain, "*") == 0)
			any = t;
	}
	return any;
}

void
queue_route_async (const QueueRouter *router, const char *domain, GCancellable *cancellable,
		   GAsyncReadyCallback callback, gpointer user_data)
{
	GTask *task = g_task_new (NULL, cancellable, callback, user_data);
	RouteOp *op = g_new0 (RouteOp, 1);
	const QueueTransport *t = route_find_transport (router, domain);

	op->resolver = g_object_ref (router->resolver);
	op->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
	op->domain = g_ascii_strdown (domain, -1);
	op->route = g_new0 (QueueRoute, 1);
	op->route->hops = g_ptr_array_new_with_free_func ((GDestroyNotify)queue_hop_free);
	g_task_set_task_data (task, op, (GDestroyNotify)route_op_free);
	if (t != NULL) {
		QueueHop *hop = route_hop_new (t->host, t->port);
		hop->tls = t->starttls ? EP_SMTP_CLIENT_TLS_VERIFY : EP_SMTP_CLIENT_TLS_OPPORTUNISTIC;
		hop->verify_name = g_strdup (t->host);
		hop->ca_file = g_strdup (t->ca_file);
		hop->username = g_strdup (t->username);
		hop->password = g_strdup (t->password);
		g_ptr_array_add (op->route->hops, hop);
		route_next_address (task);
		return;
	}
	ep_resolver_lookup_async (op->resolver, op->domain, EP_DNS_TYPE_MX, cancellable, route_on_mx, task);
}

QueueRoute *
queue_route_finish (GAsyncResult *result)
{
	return g_task_propagate_pointer (G_TASK (result), NULL);
}

/* ---- message helpers ----------------------------------------------------- */

/* the end of the header block: the offset of the empty line, or @len */
static gsize
queue_header_end (const guint8 *data, gsize len)
{
	for (gsize i = 0; i + 1 < len; i++) {
		if (data[i] == '\n' && (data[i + 1] == '\n' || (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n')))
			return i + 1;
	}
	return len;
}

static gboolean
queue_line_is_field (const guint8 *line, gsize n, const char *name)
{
	gsize name_len = strlen (name);

	return n > name_len && g_ascii_strncasecmp ((const char *)line, name, name_len) == 0 && line[name_len] == ':';
}

guint
queue_count_received (const guint8 *data, gsize len)
{
	gsize end = queue_header_end (data, len);
	guint count = 0;

	for (gsize i = 0; i < end;) {
		const guint8 *nl = memchr (data + i, '\n', end - i);
		gsize n = nl != NULL ? (gsize)(nl - (data + i)) : end - i;
		if (queue_line_is_field (data + i, n, "Received"))
			count++;
		i += n + 1;
	}
	return count;
}

char *
queue_find_header (const guint8 *data, gsize len, const char *name)
{
	gsize end = queue_header_end (data, len);
	g_autoptr (GString) value = NULL;

	for (gsize i = 0; i < end;) {
		const guint8 *nl = memchr (data + i, '\n', end - i);
		gsize n = nl != NULL ? (gsize)(nl - (data + i)) : end - i;
		gsize k = n;

		while (k > 0 && data[i + k - 1] == '\r')
			k--;
		if (value != NULL) {
			if (k > 0 && (data[i] == ' ' || data[i] == '\t')) {
				g_string_append_len (value, (const char *)data + i, (gssize)k);
			} else {
				break;
			}
		} else if (queue_line_is_field (data + i, k, name)) {
			gsize skip = strlen (name) + 1;
			value = g_string_new_len ((const char *)data + i + skip, (gssize)(k - skip));
		}
		i += n + 1;
	}
	if (value == NULL)
		return NULL;
	/* no control characters travel on into logs and events */
	for (gsize i = 0; i < value->len; i++) {
		if ((guchar)value->str[i] < 0x20 || value->str[i] == 0x7f)
			value->str[i] = ' ';
	}
	return g_strstrip (g_string_free (g_steal_pointer (&value), FALSE));
}

gint64
queue_retry_delay (guint attempts, gint64 min_s, gint64 max_s)
{
	gint64 delay = min_s;

	for (guint i = 1; i < attempts && delay < max_s; i++)
		delay *= 2;
	return MIN (delay, max_s);
}
