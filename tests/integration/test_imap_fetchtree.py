# SPDX-License-Identifier: GPL-2.0-or-later
"""FETCH answers body sections, BINARY, BODYSTRUCTURE and ENVELOPE from
the MIME tree the store kept at delivery, read in the same batch as the
octets (ep_store_read_messages_full): no message is parsed again, small
or large, single-part or nested. A message stored without its tree (or
with an unreadable one) is parsed, and answers the same.

The daemon logs at debug level "UID n parsed for FETCH: …" whenever it
parses a message for FETCH; the tests read its log (G_MESSAGES_DEBUG=all).
"""
import base64
import random
import re
import smtplib

from test_imap import MESSAGE, Raw, append, imaps, new_mailbox, ok, pytestmark, srv, tmp_root
from test_pop3 import sql

# pytestmark (imported): skipped without store-pg, imap, auth-sql or certtool
assert pytestmark and srv and tmp_root


def lit(data):
    return b'{%d}\r\n' % len(data) + data


def part(headers, body):
    return b''.join(h + b'\r\n' for h in headers) + b'\r\n' + body


def multipart(boundary, parts):
    out = b''
    for p in parts:
        out += b'--' + boundary + b'\r\n' + p + b'\r\n'
    return out + b'--' + boundary + b'--\r\n'


def b64lines(data):
    text = base64.b64encode(data)
    return b'\r\n'.join(text[i:i + 76] for i in range(0, len(text), 76))


# a nested message: quoted-printable text, then a message/rfc822 holding a
# multipart/alternative
QP_BODY = b'caf=C3=A9 =3D ok=\r\nsoft break'
QP_DECODED = b'caf\xc3\xa9 = oksoft break'
INNER_HEADER = (b'From: Inner <inner@example.net>\r\nSubject: inner\r\nMIME-Version: 1.0\r\n'
                b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n')
INNER_TEXT = multipart(b'alt', [part([b'Content-Type: text/plain'], b'plain inner'),
                                part([b'Content-Type: text/html'], b'<p>html inner</p>')])
NESTED_HEADER = (b'From: Nested <nested@example.net>\r\nTo: Alice <alice@example.org>\r\nSubject: nested\r\n'
                 b'Date: Mon, 07 Dec 2026 13:00:00 +0000\r\nMessage-ID: <nested@example.net>\r\n'
                 b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="outer"\r\n\r\n')
NESTED_PART1_MIME = b'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
NESTED_TEXT = multipart(b'outer', [NESTED_PART1_MIME + QP_BODY,
                                   part([b'Content-Type: message/rfc822'], INNER_HEADER + INNER_TEXT)])
NESTED = NESTED_HEADER + NESTED_TEXT


def with_attachment(subject, blob):
    """A multipart/mixed message: a line of text, then @blob in base64."""
    header = (b'From: Big <big@example.net>\r\nTo: Alice <alice@example.org>\r\nSubject: ' + subject + b'\r\n'
              b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="big"\r\n\r\n')
    encoded = b64lines(blob)
    text = multipart(b'big', [part([b'Content-Type: text/plain'], b'see the attachment'),
                              part([b'Content-Type: application/octet-stream',
                                    b'Content-Transfer-Encoding: base64'], encoded)])
    return header, text, encoded


BLOB = random.Random(8).randbytes(60000)         # its message is > 64 KiB: the worker-pool size
HUGE_BLOB = random.Random(9).randbytes(900000)   # its message is > 1 MiB: read alone
LARGE_HEADER, LARGE_TEXT, LARGE_ENCODED = with_attachment(b'large', BLOB)
LARGE = LARGE_HEADER + LARGE_TEXT
HUGE_HEADER, HUGE_TEXT, HUGE_ENCODED = with_attachment(b'huge', HUGE_BLOB)
PLAIN = b'Subject: plain\r\nFrom: p@example.net\r\n\r\njust text\r\n'
PART1 = b'Hello, \xc3\xa9t\xc3\xa9.'

# the BODYSTRUCTURE of each, as RFC 9051 wants it (checked by hand)
BS_MESSAGE = (b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 13 1 NIL NIL NIL NIL)'
              b'("application" "octet-stream" NIL NIL NIL "base64" 4 NIL NIL NIL NIL) "mixed" ("boundary" "b1") '
              b'NIL NIL NIL)')
BS_PLAIN = b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 1 NIL NIL NIL NIL)'


BS_NESTED = (b'(("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 29 2 NIL NIL NIL NIL)'
             b'("message" "rfc822" NIL NIL NIL "7bit" %d (NIL "inner" (("Inner" NIL "inner" "example.net")) '
             b'(("Inner" NIL "inner" "example.net")) (("Inner" NIL "inner" "example.net")) NIL NIL NIL NIL NIL) '
             b'(("text" "plain" NIL NIL NIL "7bit" 11 1 NIL NIL NIL NIL)'
             b'("text" "html" NIL NIL NIL "7bit" 17 1 NIL NIL NIL NIL) "alternative" ("boundary" "alt") NIL NIL NIL) '
             b'14 NIL NIL NIL NIL) "mixed" ("boundary" "outer") NIL NIL NIL)' % len(INNER_HEADER + INNER_TEXT))


def big_bs(encoded):
    return (b'(("text" "plain" NIL NIL NIL "7bit" 18 1 NIL NIL NIL NIL)'
            b'("application" "octet-stream" NIL NIL NIL "base64" %d NIL NIL NIL NIL) "mixed" ("boundary" "big") '
            b'NIL NIL NIL)' % len(encoded))


def fetch(r, tag, what, items):
    lines, t = r.cmd(tag, f'UID FETCH {what} ({items})')
    assert t == tag.encode() + b' OK UID FETCH completed\r\n', (lines, t)
    return lines


def parses(d, since):
    """The UIDs the daemon parsed for FETCH since log offset @since."""
    return [int(u) for u in re.findall(r'UID (\d+) parsed for FETCH', d.log()[since:])]


def set_structure(d, box, uid, value):
    assert sql(d, f"UPDATE store_messages s SET structure = {value} FROM store_mailboxes m "
                  f"WHERE s.mailbox_id = m.id AND m.name = '{box}' AND s.uid = {uid} RETURNING s.uid") == str(uid)


def fill(d):
    """A mailbox: MESSAGE, NESTED, LARGE, PLAIN, three more MESSAGEs."""
    m = imaps(d)
    box = new_mailbox(m)
    for msg in (MESSAGE, NESTED, LARGE, PLAIN, MESSAGE, MESSAGE, MESSAGE):
        append(m, box, msg)
    m.logout()
    r = Raw(d)
    r.login()
    _, t = r.cmd('s', f'EXAMINE {box}')
    assert t.startswith(b's OK'), t
    return box, r


# UID → (the message, its Subject field, BODY[1], BINARY.SIZE[1])
EXPECT = {1: (MESSAGE, b'Subject: the test message\r\n\r\n', PART1, len(PART1)),
          2: (NESTED, b'Subject: nested\r\n\r\n', QP_BODY, len(QP_DECODED)),
          3: (LARGE, b'Subject: large\r\n\r\n', b'see the attachment', 18),
          4: (PLAIN, b'Subject: plain\r\n\r\n', b'just text\r\n', 11)}
for _uid in (5, 6, 7):
    EXPECT[_uid] = EXPECT[1]

COMMON = 'BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[1] BINARY.SIZE[1] BODY.PEEK[]<0.20>'


def common_line(uid, bs):
    """The response to COMMON of message @uid (sequence number @uid)."""
    msg, subject, first, size = EXPECT[uid]
    return (b'* %d FETCH (UID %d BODYSTRUCTURE %s BODY[HEADER.FIELDS (SUBJECT)] ' % (uid, uid, bs) + lit(subject)
            + b' BODY[1] ' + lit(first) + b' BINARY.SIZE[1] %d BODY[]<0> ' % size + lit(msg[:20]) + b')\r\n')


NESTED_ITEMS = ('BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[2.1] BODY.PEEK[2.2.MIME] BODY.PEEK[2.2]<3.4> '
                'BODY.PEEK[1.MIME] BINARY.PEEK[1] BINARY.PEEK[1]<4.5> '
                'BODY.PEEK[HEADER.FIELDS.NOT (FROM TO DATE MESSAGE-ID MIME-VERSION)] BODY.PEEK[TEXT] '
                'BODY.PEEK[2.1.MIME] BODY.PEEK[3] BINARY.PEEK[2.2]')
LARGE_ITEMS = 'BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[2]<0.100> BODY.PEEK[HEADER] BODY.PEEK[2.MIME]'


def test_sections_come_from_the_stored_trees(srv):
    box, r = fill(srv)
    since = len(srv.log())
    # every message at once: one batch with the octets and the trees
    lines = fetch(r, 'a', '1:*', COMMON)
    bs = {1: BS_MESSAGE, 2: BS_NESTED, 3: big_bs(LARGE_ENCODED), 4: BS_PLAIN, 5: BS_MESSAGE, 6: BS_MESSAGE,
          7: BS_MESSAGE}
    assert lines == [common_line(uid, bs[uid]) for uid in range(1, 8)]

    # the sections of a nested message, partials of them, and BINARY
    lines = fetch(r, 'b', 2, NESTED_ITEMS)
    assert lines == [b'* 2 FETCH (UID 2 BODY[2.HEADER] ' + lit(INNER_HEADER) + b' BODY[2.TEXT] ' + lit(INNER_TEXT)
                     + b' BODY[2.1] ' + lit(b'plain inner')
                     + b' BODY[2.2.MIME] ' + lit(b'Content-Type: text/html\r\n\r\n')
                     + b' BODY[2.2]<3> ' + lit(b'html') + b' BODY[1.MIME] ' + lit(NESTED_PART1_MIME)
                     + b' BINARY[1] ' + lit(QP_DECODED) + b' BINARY[1]<4> ' + lit(QP_DECODED[4:9])
                     + b' BODY[HEADER.FIELDS.NOT (FROM TO DATE MESSAGE-ID MIME-VERSION)] '
                     + lit(b'Subject: nested\r\nContent-Type: multipart/mixed; boundary="outer"\r\n\r\n')
                     + b' BODY[TEXT] ' + lit(NESTED_TEXT)
                     + b' BODY[2.1.MIME] ' + lit(b'Content-Type: text/plain\r\n\r\n')
                     + b' BODY[3] NIL BINARY[2.2] ' + lit(b'<p>html inner</p>') + b')\r\n']

    # a large message: its attachment decoded, a partial of it, its header
    lines = fetch(r, 'c', 3, LARGE_ITEMS)
    assert lines == [b'* 3 FETCH (UID 3 BINARY[2] ~' + lit(BLOB) + b' BINARY.SIZE[2] %d' % len(BLOB)
                     + b' BODY[2]<0> ' + lit(LARGE_ENCODED[:100]) + b' BODY[HEADER] ' + lit(LARGE_HEADER)
                     + b' BODY[2.MIME] '
                     + lit(b'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n')
                     + b')\r\n']
    # the trees alone: ENVELOPE and BODYSTRUCTURE of all, in one read of the trees
    lines = fetch(r, 'd', '1:*', 'ENVELOPE BODYSTRUCTURE')
    assert len(lines) == 7
    assert lines[0] == (b'* 1 FETCH (UID 1 ENVELOPE ("Mon, 07 Dec 2026 12:00:00 +0000" "the test message" '
                        b'(("Sender" NIL "sender" "example.net")) (("Sender" NIL "sender" "example.net")) '
                        b'(("Sender" NIL "sender" "example.net")) (("Alice" NIL "alice" "example.org")) NIL NIL NIL '
                        b'"<m1@example.net>") BODYSTRUCTURE ' + BS_MESSAGE + b')\r\n')
    assert lines[3] == (b'* 4 FETCH (UID 4 ENVELOPE (NIL "plain" ((NIL NIL "p" "example.net")) '
                        b'((NIL NIL "p" "example.net")) ((NIL NIL "p" "example.net")) NIL NIL NIL NIL NIL) '
                        b'BODYSTRUCTURE ' + BS_PLAIN + b')\r\n')
    assert lines[1] == (b'* 2 FETCH (UID 2 ENVELOPE ("Mon, 07 Dec 2026 13:00:00 +0000" "nested" '
                        b'(("Nested" NIL "nested" "example.net")) (("Nested" NIL "nested" "example.net")) '
                        b'(("Nested" NIL "nested" "example.net")) (("Alice" NIL "alice" "example.org")) NIL NIL NIL '
                        b'"<nested@example.net>") BODYSTRUCTURE ' + BS_NESTED + b')\r\n')
    assert lines[2] == (b'* 3 FETCH (UID 3 ENVELOPE (NIL "large" (("Big" NIL "big" "example.net")) '
                        b'(("Big" NIL "big" "example.net")) (("Big" NIL "big" "example.net")) '
                        b'(("Alice" NIL "alice" "example.org")) NIL NIL NIL NIL) '
                        b'BODYSTRUCTURE ' + big_bs(LARGE_ENCODED) + b')\r\n')
    assert lines[4:] == [lines[0].replace(b'* 1 FETCH (UID 1 ', b'* %d FETCH (UID %d ' % (i, i)) for i in (5, 6, 7)]
    assert parses(srv, since) == []
    r.close()


def test_without_a_tree_the_message_is_parsed_and_answers_the_same(srv):
    box, r = fill(srv)
    common = fetch(r, 'a', '1:*', COMMON)
    nested = fetch(r, 'b', 2, NESTED_ITEMS)
    large = fetch(r, 'c', 3, LARGE_ITEMS)
    trees = fetch(r, 'd', '1:*', 'ENVELOPE BODYSTRUCTURE')
    # stored without a tree (small and large), or with one that cannot be read
    set_structure(srv, box, 2, 'NULL')
    set_structure(srv, box, 3, 'NULL')
    set_structure(srv, box, 5, "'\\x00'::bytea")
    since = len(srv.log())
    assert fetch(r, 'e', '1:*', COMMON) == common
    assert parses(srv, since) == [2, 3, 5]
    since = len(srv.log())
    assert fetch(r, 'f', 2, NESTED_ITEMS) == nested
    assert fetch(r, 'g', 3, LARGE_ITEMS) == large
    assert parses(srv, since) == [2, 3]
    # the trees alone were read: those without one are read and parsed
    since = len(srv.log())
    assert fetch(r, 'h', '1:*', 'ENVELOPE BODYSTRUCTURE') == trees
    assert parses(srv, since) == [2, 3, 5]
    assert 'UID 5: unreadable stored MIME structure, parsed again' in srv.log()[since:]
    r.close()


def test_a_message_over_the_batch_limit_comes_with_its_tree(srv):
    """A message over 1 MiB (delivered over SMTP: above append_limit) is
    read alone, between two batches, and its tree with it."""
    m = imaps(srv)
    ok(m.select('INBOX'))
    append(m, 'INBOX', MESSAGE)
    with smtplib.SMTP('127.0.0.1', srv.smtp_port, local_hostname='client.example.net', timeout=30) as s:
        s.sendmail('big@example.net', ['alice@example.org'], HUGE_HEADER + HUGE_TEXT)
    append(m, 'INBOX', MESSAGE)
    uids = ok(m.uid('SEARCH', 'ALL'))[0].split()
    assert len(uids) == 3
    m.logout()
    assert len(HUGE_HEADER + HUGE_TEXT) > 1024 * 1024
    r = Raw(srv)
    r.login()
    r.cmd('s', 'EXAMINE INBOX')
    since = len(srv.log())
    lines = fetch(r, 'a', '1:*', 'BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BINARY.SIZE[2] BODY.PEEK[2]<0.50>')
    small = [b'* %d FETCH (UID %s BODYSTRUCTURE ' % (seq, uids[seq - 1]) + BS_MESSAGE
             + b' BODY[HEADER.FIELDS (SUBJECT)] ' + lit(b'Subject: the test message\r\n\r\n')
             + b' BINARY.SIZE[2] 3 BODY[2]<0> ' + lit(b'AAEC') + b')\r\n' for seq in (1, 3)]
    assert lines == [small[0],
                     b'* 2 FETCH (UID %s BODYSTRUCTURE ' % uids[1] + big_bs(HUGE_ENCODED)
                     + b' BODY[HEADER.FIELDS (SUBJECT)] ' + lit(b'Subject: huge\r\n\r\n')
                     + b' BINARY.SIZE[2] %d BODY[2]<0> ' % len(HUGE_BLOB) + lit(HUGE_ENCODED[:50]) + b')\r\n',
                     small[1]]
    lines = fetch(r, 'b', uids[1].decode(), 'BINARY.PEEK[2] BODY.PEEK[TEXT]')
    assert lines == [b'* 2 FETCH (UID %s BINARY[2] ~' % uids[1] + lit(HUGE_BLOB) + b' BODY[TEXT] ' + lit(HUGE_TEXT)
                     + b')\r\n']
    assert parses(srv, since) == []
    r.close()
