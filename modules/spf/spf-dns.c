/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SPF lookup interface and its production implementation over the
 * daemon's shared resolver.
 */
#include "config.h"

#include <string.h>

#include "spf-dns.h"

SpfDnsAnswer *
spf_dns_answer_new (guint16 rrtype)
{
	SpfDnsAnswer *answer = g_new0 (SpfDnsAnswer, 1);

	if (rrtype == EP_DNS_TYPE_A || rrtype == EP_DNS_TYPE_AAAA)
		answer->records = g_ptr_array_new_with_free_func (g_object_unref);
	else if (rrtype == EP_DNS_TYPE_TXT)
		answer->records = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
	else
		answer->records = g_ptr_array_new_with_free_func (g_free);
	return answer;
}

void
spf_dns_answer_free (SpfDnsAnswer *answer)
{
	if (answer == NULL)
		return;
	g_ptr_array_unref (answer->records);
	g_free (answer);
}

void
spf_dns_free (SpfDns *dns)
{
	if (dns != NULL)
		dns->klass->free (dns);
}

/* ---- EpResolver ----------------------------------------------------------- */

typedef struct {
	SpfDns parent;
	EpResolver *resolver;
} SpfDnsResolver;

static void
spf_dns_resolver_on_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
	g_autoptr (GTask) task = user_data;
	guint16 rrtype = GPOINTER_TO_UINT (g_task_get_task_data (task));
	g_autoptr (GError) error = NULL;
	g_autoptr (EpDnsAnswer) answer = ep_resolver_lookup_finish (EP_RESOLVER (source), result, &error);
	SpfDnsAnswer *out;

	if (answer == NULL) {
		g_task_return_error (task, g_steal_pointer (&error));
		return;
	}
	out = spf_dns_answer_new (rrtype);
	out->nxdomain = answer->nxdomain;
	for (guint i = 0; i < answer->records->len; i++) {
		gpointer rec = g_ptr_array_index (answer->records, i);
		switch (rrtype) {
		case EP_DNS_TYPE_A:
		case EP_DNS_TYPE_AAAA:
			g_ptr_array_add (out->records, g_object_ref (rec));
			break;
		case EP_DNS_TYPE_MX:
			g_ptr_array_add (out->records, g_strdup (((EpDnsMx *)rec)->host));
			break;
		case EP_DNS_TYPE_TXT:
			g_ptr_array_add (out->records, g_bytes_new (rec, strlen (rec)));
			break;
		default:
			g_ptr_array_add (out->records, g_strdup (rec));
			break;
		}
	}
	g_task_return_pointer (task, out, (GDestroyNotify)spf_dns_answer_free);
}

static void
spf_dns_resolver_lookup_async (SpfDns *dns, const char *name, guint16 rrtype, GCancellable *cancellable,
			       GAsyncReadyCallback callback, gpointer user_data)
{
	SpfDnsResolver *self = (SpfDnsResolver *)dns;
	GTask *task = g_task_new (NULL, cancellable, callback, user_data);

	g_task_set_source_tag (task, spf_dns_resolver_lookup_async);
	g_task_set_task_data (task, GUINT_TO_POINTER (rrtype), NULL);
	ep_resolver_lookup_async (self->resolver, name, rrtype, cancellable, spf_dns_resolver_on_answer, task);
}

static SpfDnsAnswer *
spf_dns_resolver_lookup_finish (SpfDns *dns, GAsyncResult *result, GError **error)
{
	(void)dns;
	return g_task_propagate_pointer (G_TASK (result), error);
}

static void
spf_dns_resolver_free (SpfDns *dns)
{
	SpfDnsResolver *self = (SpfDnsResolver *)dns;

	g_clear_object (&self->resolver);
	g_free (self);
}

static const SpfDnsClass spf_dns_resolver_class = {
    .lookup_async = spf_dns_resolver_lookup_async,
    .lookup_finish = spf_dns_resolver_lookup_finish,
    .free = spf_dns_resolver_free,
};

SpfDns *
spf_dns_new_resolver (EpResolver *resolver)
{
	SpfDnsResolver *self = g_new0 (SpfDnsResolver, 1);

	self->parent.klass = &spf_dns_resolver_class;
	self->resolver = g_object_ref (resolver);
	return &self->parent;
}
