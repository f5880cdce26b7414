/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <glib.h>

#include "ep-event-bus.h"

G_BEGIN_DECLS

/*
 * The payloads of the events.  An emitter fills one on the stack with
 * borrowed strings and emits it; the bus deep-copies it.  Every pointer
 * field must be listed in the copy table of ep-event-bus.c.  Addresses
 * (peer) are text, e.g. "192.0.2.1" or "2001:db8::1".
 *
 * Changing the layout of any of these structs changes the module ABI:
 * bump EP_MODULE_ABI_VERSION.
 */

/* message.delivered: a message was stored in a local mailbox, or the
 * outbound queue handed it to a remote server (protocol "smtp-out": then
 * @account and @mailbox are NULL, @recipient and @remote_host set). */
typedef struct {
	const char *session_id; /* (nullable) */
	const char *message_id; /* (nullable): the Message-ID header field */
	const char *sender;     /* the reverse path, "" for <> */
	const char *account;
	const char *mailbox; /* the mailbox name, e.g. "INBOX" */
	gint64 mailbox_id;
	guint32 uid;
	guint64 size; /* octets */
	const char *protocol; /* how it came: "smtp", "lmtp", "submission"; "smtp-out" for remote */
	const char *recipient;   /* (nullable): remote deliveries: the recipient */
	const char *remote_host; /* (nullable): remote deliveries: the server that accepted it */
	const char *queue_id;    /* (nullable): the queue's id of the message */
} EpMessageDeliveredEvent;

/* message.rejected: a message or recipient was refused during SMTP. */
typedef struct {
	const char *session_id;
	const char *peer;
	const char *sender;    /* (nullable) */
	const char *recipient; /* (nullable): when one recipient was refused */
	const char *stage;     /* the hook point that decided, e.g. "smtp.rcpt_to" */
	const char *module;    /* (nullable): the module that decided */
	guint code;            /* the SMTP reply code sent */
	const char *enhanced;  /* (nullable): the enhanced status code sent */
	const char *reason;    /* (nullable): the reply text sent */
} EpMessageRejectedEvent;

/* message.bounced: the queue gave up on a recipient and sent a DSN. */
typedef struct {
	const char *queue_id;
	const char *message_id;  /* (nullable) */
	const char *sender;      /* who gets the DSN; "" when there was no one */
	const char *recipient;
	const char *remote_host; /* (nullable): the MX that refused, if any */
	guint code;              /* (0 when no server answered) */
	const char *enhanced;    /* (nullable) */
	const char *diagnostic;  /* (nullable): what the remote server said, or why we gave up */
} EpMessageBouncedEvent;

/* queue.deferred: a delivery attempt failed temporarily. */
typedef struct {
	const char *queue_id;
	const char *message_id; /* (nullable) */
	const char *recipient;
	const char *domain;
	const char *remote_host; /* (nullable) */
	guint attempts;          /* attempts made so far */
	gint64 next_attempt;     /* wall-clock time of the next one, in seconds since the epoch */
	const char *reason;      /* (nullable) */
} EpQueueDeferredEvent;

/* auth.succeeded: a client authenticated. */
typedef struct {
	const char *session_id; /* (nullable) */
	const char *protocol;   /* "smtp", "imap", "pop3", "jmap", "managesieve" */
	const char *mechanism;  /* SASL mechanism, e.g. "PLAIN" */
	const char *peer;       /* (nullable) */
	const char *username;   /* the identity given */
	const char *account;    /* the account it opened */
} EpAuthSucceededEvent;

/* auth.failed: an authentication attempt failed. */
typedef struct {
	const char *session_id; /* (nullable) */
	const char *protocol;
	const char *mechanism;
	const char *peer;     /* (nullable) */
	const char *username; /* (nullable): the identity given, if any */
	const char *reason;   /* (nullable): for the log, e.g. "bad credentials" */
} EpAuthFailedEvent;

/* mailbox.changed: messages, flags or the mailbox itself changed (IMAP
 * IDLE and JMAP push listen). */
typedef struct {
	const char *account;
	const char *mailbox;
	gint64 mailbox_id;
	guint32 uidvalidity;
	guint32 uidnext;
	guint64 highest_modseq;
} EpMailboxChangedEvent;

typedef enum {
	EP_ACCOUNT_CHANGE_CREATED,
	EP_ACCOUNT_CHANGE_UPDATED,
	EP_ACCOUNT_CHANGE_DELETED,
} EpAccountChange;

/* account.changed: an account was created, changed or deleted. */
typedef struct {
	const char *account;
	EpAccountChange change;
} EpAccountChangedEvent;

/* config.reloaded: the configuration was re-read and re-applied. */
typedef struct {
	const char *main_file; /* the main configuration file */
} EpConfigReloadedEvent;

EP_EVENT_DEFINE (message_delivered, MessageDelivered, EP_EVENT_MESSAGE_DELIVERED, EpMessageDeliveredEvent)
EP_EVENT_DEFINE (message_rejected, MessageRejected, EP_EVENT_MESSAGE_REJECTED, EpMessageRejectedEvent)
EP_EVENT_DEFINE (message_bounced, MessageBounced, EP_EVENT_MESSAGE_BOUNCED, EpMessageBouncedEvent)
EP_EVENT_DEFINE (queue_deferred, QueueDeferred, EP_EVENT_QUEUE_DEFERRED, EpQueueDeferredEvent)
EP_EVENT_DEFINE (auth_succeeded, AuthSucceeded, EP_EVENT_AUTH_SUCCEEDED, EpAuthSucceededEvent)
EP_EVENT_DEFINE (auth_failed, AuthFailed, EP_EVENT_AUTH_FAILED, EpAuthFailedEvent)
EP_EVENT_DEFINE (mailbox_changed, MailboxChanged, EP_EVENT_MAILBOX_CHANGED, EpMailboxChangedEvent)
EP_EVENT_DEFINE (account_changed, AccountChanged, EP_EVENT_ACCOUNT_CHANGED, EpAccountChangedEvent)
EP_EVENT_DEFINE (config_reloaded, ConfigReloaded, EP_EVENT_CONFIG_RELOADED, EpConfigReloadedEvent)

G_END_DECLS
