# SPDX-License-Identifier: GPL-2.0-or-later
"""IMAP commands that are one store transaction, as clients see them: COPY
and MOVE (flags, keywords and internal date kept, COPYUID, all or nothing
over quota, MOVE seen by another session as expunges), MULTIAPPEND (RFC
3502), RENAME INBOX (RFC 9051 6.3.6), and FETCH reading message data
ahead in batches (ep_store_read_messages): every message answered with its
own octets, in order, across batch boundaries of count and size.

The daemon of test_imap.py (srv, append_limit = 100000), and a second one
(qsrv) whose accounts have a quota.
"""
import os
import re
import shutil
import tempfile
import uuid

import pytest

import tlsutil
from conftest import free_port
from test_imap import (MESSAGE, PASSWORDS, Raw, append, imaps, new_mailbox, ok, pytestmark, srv, tmp_root,
                       token_hash)
from test_pop3 import sql
from test_smtp import listener, new_config, start_daemon

QUOTA = 3000

# pytestmark (imported): skipped without store-pg, imap, auth-sql or certtool
assert pytestmark and srv and tmp_root


@pytest.fixture(scope='module')
def qsrv():
    root = tempfile.mkdtemp(prefix='epistle-imapq-')
    os.chmod(root, 0o755)
    material = tlsutil.TestMaterial(os.path.join(root, 'tls'))
    config = new_config(root, 'imapq')
    imaps_port = free_port()
    accounts = ''.join(f'''
[[accounts]]
name = "{name}"
addresses = ["{name}@example.org"]
password_hash = "{token_hash(PASSWORDS[name])}"
quota_bytes = {QUOTA}
''' for name in ('bob', 'carol'))
    config.write(config.base(modules=['store-pg', 'auth-sql', 'imap']) + accounts
                 + listener('imaps', imaps_port)
                 + '\n[auth-sql]\ndelay_base_ms = 10\ndelay_max_ms = 50\nban_after_ip = 100000\n'
                 + material.tls_section())
    d = start_daemon(config)
    d.imaps_port, d.material = imaps_port, material
    yield d
    d.close()
    log = d.log()
    shutil.rmtree(root, ignore_errors=True)
    assert not re.search(r'CRITICAL|assertion .* failed|AddressSanitizer|runtime error', log), log[-5000:]


def uidvalidity(m, mailbox):
    data = ok(m.status(mailbox, '(UIDVALIDITY)'))
    return int(re.search(rb'UIDVALIDITY (\d+)', data[0]).group(1))


def status(m, mailbox):
    data = ok(m.status(mailbox, '(MESSAGES UIDNEXT)'))
    return tuple(int(x) for x in re.search(rb'MESSAGES (\d+) UIDNEXT (\d+)', data[0]).groups())


def message(n, size=0):
    body = f'Subject: message {n}\r\nMessage-ID: <{n}@store-ops.example>\r\n\r\nbody {n}\r\n'.encode()
    return body + b'x' * max(0, size - len(body) - 2) + (b'\r\n' if size else b'')


def fetch_meta(r, tag, what='1:*'):
    """UID, FLAGS and INTERNALDATE of messages, by UID, through a Raw session."""
    lines, t = r.cmd(tag, f'UID FETCH {what} (UID FLAGS INTERNALDATE)')
    assert t.startswith(tag.encode() + b' OK'), t
    out = {}
    for line in lines:
        m = re.fullmatch(rb'\* \d+ FETCH \((.*)\)\r\n', line)
        assert m, line
        uid = int(re.search(rb'UID (\d+)', m.group(1)).group(1))
        out[uid] = (re.search(rb'FLAGS \(([^)]*)\)', m.group(1)).group(1),
                    re.search(rb'INTERNALDATE "([^"]*)"', m.group(1)).group(1))
    return out


def without_recent(meta):
    """fetch_meta() of a rev1 SELECT session that claimed every message as
    \\Recent, as a session that did not claim them sees it."""
    for flags, _ in meta.values():
        assert rb'\Recent' in flags.split(), meta
    return {uid: (b' '.join(f for f in flags.split() if f != rb'\Recent'), date)
            for uid, (flags, date) in meta.items()}


# ---------------------------------------------------------------------------
# COPY and MOVE


def test_copy_keeps_flags_keywords_date_and_gives_copyuid(srv):
    m = imaps(srv)
    src, dst = new_mailbox(m), new_mailbox(m)
    append(m, src, message(1), flags='(\\Flagged $Work)', date='"01-Dec-2026 10:30:00 +0000"')
    append(m, src, message(2), flags='(\\Deleted)')
    append(m, src, message(3), flags='(\\Seen \\Answered)', date='"02-Jan-2020 23:59:59 +0000"')
    append(m, src, message(4), flags='($Label1 \\Draft)', date='"29-Feb-2024 00:00:01 +0000"')
    v = uidvalidity(m, dst)
    r = Raw(srv)
    r.login()
    r.cmd('s', f'SELECT {src}')
    lines, t = r.cmd('e', 'EXPUNGE')
    assert lines == [b'* 2 EXPUNGE\r\n'] and t.startswith(b'e OK'), lines
    # messages 1:3 are UIDs 1, 3, 4: their copies are 1, 2, 3, in that order
    lines, t = r.cmd('a', f'COPY 1:3 {dst}')
    assert lines == [] and t == f'a OK [COPYUID {v} 1,3,4 1,2,3] COPY completed\r\n'.encode(), (lines, t)
    lines, t = r.cmd('b', f'UID COPY 4,1 {dst}')
    assert t == f'b OK [COPYUID {v} 1,4 4,5] UID COPY completed\r\n'.encode(), t
    original = without_recent(fetch_meta(r, 'c'))
    _, t = r.cmd('d', f'EXAMINE {dst}')
    assert t.startswith(b'd OK'), t
    copies = fetch_meta(r, 'f')
    assert copies == {1: original[1], 2: original[3], 3: original[4], 4: original[1], 5: original[4]}, copies
    assert copies[1] == (rb'\Flagged $Work', b'01-Dec-2026 10:30:00 +0000'), copies
    assert copies[2] == (rb'\Seen \Answered', b'02-Jan-2020 23:59:59 +0000'), copies
    assert copies[3] == (rb'\Draft $Label1', b'29-Feb-2024 00:00:01 +0000'), copies
    lines, _ = r.cmd('g', 'UID FETCH 2 (BODY.PEEK[])')
    assert message(3) in lines[0], lines
    r.close()
    # the source is unchanged
    assert status(m, src) == (3, 5)
    assert status(m, dst) == (5, 6)
    m.logout()


def test_copy_errors(srv):
    m = imaps(srv)
    src = new_mailbox(m)
    append(m, src, message(1))
    r = Raw(srv)
    r.login()
    r.cmd('s', f'SELECT {src}')
    _, t = r.cmd('a', f'COPY 1 {src}nope')
    assert t == b'a NO [TRYCREATE] No such mailbox\r\n', t
    _, t = r.cmd('b', f'COPY 2 {src}')
    assert t.startswith(b'b BAD'), t
    _, t = r.cmd('c', 'COPY 1')
    assert t.startswith(b'c BAD'), t
    # a UID set that names no message copies nothing, and says so without COPYUID
    _, t = r.cmd('d', f'UID COPY 7:9 {src}')
    assert t == b'd OK UID COPY completed\r\n', t
    r.close()
    assert status(m, src) == (1, 2)
    m.logout()


def test_move_keeps_flags_and_other_session_sees_expunges(srv):
    m = imaps(srv)
    src, dst = new_mailbox(m), new_mailbox(m)
    append(m, src, message(1))
    append(m, src, message(2), flags='(\\Flagged $Moved)', date='"03-Mar-2023 03:03:03 +0000"')
    append(m, src, message(3), flags='(\\Seen)', date='"04-Apr-2024 04:04:04 +0000"')
    append(m, src, message(4))
    v = uidvalidity(m, dst)
    a, b = Raw(srv), Raw(srv)
    a.login()
    b.login('alice')
    a.cmd('s', f'SELECT {src}')
    b.cmd('s', f'SELECT {src}')
    before = without_recent(fetch_meta(a, 'm'))
    lines, t = a.cmd('a', f'MOVE 2:3 {dst}')
    assert t == b'a OK MOVE completed\r\n', t
    assert lines == [f'* OK [COPYUID {v} 2,3 1,2] Moved\r\n'.encode(), b'* 2 EXPUNGE\r\n', b'* 2 EXPUNGE\r\n'], lines
    # the other session hears of it at its next NOOP, as expunges
    lines, t = b.cmd('n', 'NOOP')
    assert lines == [b'* 2 EXPUNGE\r\n', b'* 2 EXPUNGE\r\n'] and t.startswith(b'n OK'), lines
    lines, _ = b.cmd('f', 'FETCH 1:* (UID)')
    assert lines == [b'* 1 FETCH (UID 1)\r\n', b'* 2 FETCH (UID 4)\r\n'], lines
    _, t = b.cmd('e', f'EXAMINE {dst}')
    assert fetch_meta(b, 'g') == {1: before[2], 2: before[3]}
    assert before[2] == (rb'\Flagged $Moved', b'03-Mar-2023 03:03:03 +0000'), before
    # UID MOVE into the same mailbox: a new UID, the old one expunged
    lines, t = a.cmd('b', f'UID MOVE 4 {src}')
    v_src = uidvalidity(m, src)
    assert t == b'b OK UID MOVE completed\r\n', t
    assert lines[0] == f'* OK [COPYUID {v_src} 4 5] Moved\r\n'.encode(), lines
    # the copy is claimed as \Recent by a, which claimed UID 1 at SELECT
    assert lines[1:] == [b'* 2 EXPUNGE\r\n', b'* 2 EXISTS\r\n', b'* 2 RECENT\r\n'], lines
    lines, _ = a.cmd('c', 'UID FETCH 1:* (UID)')
    assert lines == [b'* 1 FETCH (UID 1)\r\n', b'* 2 FETCH (UID 5)\r\n'], lines
    a.close()
    b.close()
    assert status(m, src) == (2, 6)
    assert status(m, dst) == (2, 3)
    m.logout()


def test_copy_over_quota_copies_nothing(qsrv):
    m = imaps(qsrv, 'carol')
    dst = new_mailbox(m)
    for n in (1, 2):
        append(m, 'INBOX', message(n, 1000))
    r = Raw(qsrv)
    r.login('carol')
    r.cmd('s', 'SELECT INBOX')
    # 2000 + 2000 octets > 3000: not one of them is copied
    _, t = r.cmd('a', f'COPY 1:2 {dst}')
    assert t == b'a NO [OVERQUOTA] Quota exceeded\r\n', t
    assert status(m, dst) == (0, 1)
    # one fits exactly; then the quota is full, and a move needs no room
    v = uidvalidity(m, dst)
    _, t = r.cmd('b', f'COPY 2 {dst}')
    assert t == f'b OK [COPYUID {v} 2 1] COPY completed\r\n'.encode(), t
    _, t = r.cmd('c', f'COPY 1 {dst}')
    assert t == b'c NO [OVERQUOTA] Quota exceeded\r\n', t
    lines, t = r.cmd('d', f'MOVE 1:2 {dst}')
    assert t == b'd OK MOVE completed\r\n', t
    assert lines == [f'* OK [COPYUID {v} 1,2 2,3] Moved\r\n'.encode(), b'* 1 EXPUNGE\r\n', b'* 1 EXPUNGE\r\n'], lines
    r.close()
    assert status(m, dst) == (3, 4)
    assert status(m, 'INBOX') == (0, 3)
    m.logout()


# ---------------------------------------------------------------------------
# MULTIAPPEND (RFC 3502)


def literal_plus(data):
    return f'{{{len(data)}+}}\r\n'.encode() + data


def test_multiappend_appenduid(srv):
    m = imaps(srv)
    box = new_mailbox(m)
    v = uidvalidity(m, box)
    r = Raw(srv)
    r.login()
    lines, _ = r.cmd('c', 'CAPABILITY')
    assert b' MULTIAPPEND ' in lines[0], lines
    # three messages, {n+} literals: one command, one transaction
    r.send(f'a APPEND {box} (\\Seen $One) "01-Dec-2026 10:30:00 +0000" '.encode() + literal_plus(message(1))
           + b' ($Two) ' + literal_plus(message(2)) + b' "31-Jan-2025 08:00:00 +0000" ' + literal_plus(message(3))
           + b'\r\n')
    lines, t = r.until('a')
    assert lines == [] and t == f'a OK [APPENDUID {v} 1,2,3] APPEND completed\r\n'.encode(), (lines, t)
    # synchronising literals, into the selected mailbox: EXISTS before OK
    r.cmd('s', f'SELECT {box}')
    r.send(f'b APPEND {box} {{{len(message(4))}}}\r\n')
    assert r.line() == b'+ Ready for literal data\r\n'
    r.send(message(4) + f' (\\Flagged) {{{len(message(5))}}}\r\n'.encode())
    assert r.line() == b'+ Ready for literal data\r\n'
    r.send(message(5) + b'\r\n')
    lines, t = r.until('b')
    # the APPEND's synchronisation claims the two new messages for this SELECT
    assert lines == [b'* 5 EXISTS\r\n', b'* 5 RECENT\r\n'], lines
    assert t == f'b OK [APPENDUID {v} 4,5] APPEND completed\r\n'.encode(), t
    meta = fetch_meta(r, 'f')
    meta = without_recent(meta)
    assert meta[1] == (rb'\Seen $One', b'01-Dec-2026 10:30:00 +0000'), meta
    assert meta[2][0] == b'$Two' and meta[3] == (b'', b'31-Jan-2025 08:00:00 +0000'), meta
    assert meta[4][0] == b'' and meta[5][0] == rb'\Flagged', meta
    for n in range(1, 6):
        lines, _ = r.cmd('g', f'UID FETCH {n} (BODY.PEEK[])')
        assert lines[0].endswith(b'{%d}\r\n' % len(message(n)) + message(n) + b')\r\n'), lines
    r.close()
    m.logout()


def test_multiappend_all_or_nothing(srv):
    m = imaps(srv)
    box = new_mailbox(m)
    r = Raw(srv)
    r.login()
    # a bad flag in the second message: BAD, nothing appended
    r.send(f'a APPEND {box} '.encode() + literal_plus(message(1)) + b' (\\Bogus) ' + literal_plus(message(2))
           + b'\r\n')
    _, t = r.until('a')
    assert t == b'a BAD Invalid flag\r\n', t
    # a bad date-time in the third
    r.send(f'b APPEND {box} '.encode() + literal_plus(message(1)) + b' ' + literal_plus(message(2))
           + b' "31-Feb-2025 08:00:00 +0000" ' + literal_plus(message(3)) + b'\r\n')
    _, t = r.until('b')
    assert t == b'b BAD Invalid APPEND date-time\r\n', t
    # the second over APPENDLIMIT (100000): refused before it is sent
    r.send(f'c APPEND {box} {{{len(message(1))}}}\r\n')
    assert r.line() == b'+ Ready for literal data\r\n'
    r.send(message(1) + b' {100001}\r\n')
    _, t = r.until('c')
    assert t == b'c NO [TOOBIG] Literal too big (at most 100000 octets)\r\n', t
    # flags after the last message
    r.send(f'd APPEND {box} '.encode() + literal_plus(message(1)) + b' (\\Seen)\r\n')
    _, t = r.until('d')
    assert t.startswith(b'd BAD APPEND takes a mailbox'), t
    r.send(f'e APPEND {box}nope '.encode() + literal_plus(message(1)) + b' ' + literal_plus(message(2)) + b'\r\n')
    _, t = r.until('e')
    assert t == b'e NO [TRYCREATE] No such mailbox\r\n', t
    # nothing of it was stored, not even a UID used
    assert status(m, box) == (0, 1)
    lines, t = r.cmd('f', 'NOOP')
    assert t == b'f OK NOOP completed\r\n', t
    r.close()
    m.logout()


def test_multiappend_over_quota_appends_nothing(qsrv):
    m = imaps(qsrv, 'bob')
    box = new_mailbox(m)
    r = Raw(qsrv)
    r.login('bob')
    r.send(f'a APPEND {box} '.encode() + literal_plus(message(1, 1000)) + b' ' + literal_plus(message(2, 1000))
           + b'\r\n')
    _, t = r.until('a')
    assert re.fullmatch(rb'a OK \[APPENDUID \d+ 1,2\] APPEND completed\r\n', t), t
    # 2000 + 2000 > 3000: the first would fit, but neither is stored
    r.send(f'b APPEND {box} '.encode() + literal_plus(message(3, 1000)) + b' ' + literal_plus(message(4, 1000))
           + b'\r\n')
    _, t = r.until('b')
    assert t == b'b NO [OVERQUOTA] Quota exceeded\r\n', t
    assert status(m, box) == (2, 3)
    r.send(f'c APPEND {box} '.encode() + literal_plus(message(3, 1000)) + b'\r\n')
    _, t = r.until('c')
    assert re.fullmatch(rb'c OK \[APPENDUID \d+ 3\] APPEND completed\r\n', t), t
    r.close()
    m.logout()


# ---------------------------------------------------------------------------
# RENAME INBOX (RFC 9051 6.3.6)


def test_rename_inbox_moves_its_messages(srv):
    m = imaps(srv, 'bob')
    ok(m.create('INBOX/kept'))
    append(m, 'INBOX', message(1), flags='(\\Seen $Old)', date='"05-May-2025 05:05:05 +0000"')
    append(m, 'INBOX', message(2))
    append(m, 'INBOX', message(3), flags='(\\Flagged)')
    append(m, 'INBOX/kept', message(4))
    v_inbox = uidvalidity(m, 'INBOX')
    a, b = Raw(srv), Raw(srv)
    a.login('bob')
    b.login('bob')
    a.cmd('s', 'SELECT INBOX')
    b.cmd('s', 'SELECT INBOX')
    before = without_recent(fetch_meta(a, 'm'))
    # the session that renames hears of the expunges before OK, another at its NOOP
    lines, t = a.cmd('a', 'RENAME inbox "Old mail"')
    assert t == b'a OK RENAME completed\r\n', t
    assert lines == [b'* 1 EXPUNGE\r\n'] * 3, lines
    lines, t = b.cmd('n', 'NOOP')
    assert lines == [b'* 1 EXPUNGE\r\n'] * 3, lines
    # INBOX stays (empty, same UIDVALIDITY, UIDs not used again), its children too
    assert status(m, 'INBOX') == (0, 4)
    assert uidvalidity(m, 'INBOX') == v_inbox
    assert status(m, 'INBOX/kept') == (1, 2)
    assert status(m, '"Old mail"') == (3, 4)
    assert uidvalidity(m, '"Old mail"') != v_inbox
    _, t = b.cmd('e', 'EXAMINE "Old mail"')
    assert fetch_meta(b, 'f') == before, before
    assert before[1] == (rb'\Seen $Old', b'05-May-2025 05:05:05 +0000'), before
    lines, _ = b.cmd('g', 'UID FETCH 3 (BODY.PEEK[])')
    assert message(3) in lines[0], lines
    lines, _ = b.cmd('l', 'LIST "" "*"')
    names = sorted(re.search(rb' "/" (.*)\r\n$', x).group(1) for x in lines)
    assert names == [b'"Archive"', b'"Drafts"', b'"INBOX"', b'"INBOX/kept"', b'"Junk"', b'"Old mail"', b'"Sent"',
                     b'"Trash"'], names
    # an existing name is refused; INBOX still takes mail
    _, t = a.cmd('b', 'RENAME INBOX "Old mail"')
    assert t == b'b NO [ALREADYEXISTS] Mailbox already exists\r\n', t
    _, t = a.cmd('c', 'RENAME INBOX inbox')
    assert t.startswith(b'c NO [CANNOT]'), t
    data = append(m, 'INBOX', message(5))
    assert data[0] == f'[APPENDUID {v_inbox} 4] APPEND completed'.encode(), data
    lines, _ = a.cmd('n', 'NOOP')
    assert lines == [b'* 1 EXISTS\r\n', b'* 1 RECENT\r\n'], lines
    # an empty INBOX: an empty new mailbox
    lines, t = a.cmd('d', 'RENAME INBOX Again')
    assert t == b'd OK RENAME completed\r\n' and lines == [b'* 1 EXPUNGE\r\n'], (lines, t)
    assert status(m, 'Again') == (1, 2)
    lines, t = a.cmd('e', 'RENAME INBOX Empty')
    assert t == b'e OK RENAME completed\r\n' and lines == [], (lines, t)
    assert status(m, 'Empty') == (0, 1)
    a.close()
    b.close()
    m.logout()


# ---------------------------------------------------------------------------
# the MIME structure the store keeps


def fetch_items(r, tag, uid, items):
    """The items of one message's FETCH response, without its sequence number."""
    lines, t = r.cmd(tag, f'UID FETCH {uid} ({items})')
    assert t.startswith(tag.encode() + b' OK') and len(lines) == 1, (lines, t)
    return re.sub(rb'^\* \d+ FETCH \(UID \d+ ', b'', lines[0])


def test_fetch_uses_the_stored_structure_else_parses(srv):
    m = imaps(srv)
    box = new_mailbox(m)
    for _ in range(3):
        append(m, box, MESSAGE)
    append(m, box, message(4))
    r = Raw(srv)
    r.login()
    r.cmd('s', f'EXAMINE {box}')
    items = 'ENVELOPE BODYSTRUCTURE BODY BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[HEADER.FIELDS (Subject)]'
    stored = fetch_items(r, 'a', 1, items)
    assert stored.startswith(b'ENVELOPE ("Mon, 07 Dec 2026 12:00:00 +0000" "the test message" '), stored
    assert b'BODY[1] {13}\r\nHello, \xc3\xa9t\xc3\xa9. BODY[2.MIME]' in stored, stored

    def set_structure(uid, value):
        assert sql(srv, f"UPDATE store_messages s SET structure = {value} FROM store_mailboxes m "
                        f"WHERE s.mailbox_id = m.id AND m.name = '{box}' AND s.uid = {uid} RETURNING s.uid") == str(uid)

    # stored without a tree, or with one that cannot be read: parsed, the same answer
    set_structure(2, 'NULL')
    set_structure(3, "'\\x00'::bytea")
    assert fetch_items(r, 'b', 2, items) == stored
    assert fetch_items(r, 'c', 3, items) == stored
    # the stored tree is what FETCH answers from: another message's tree shows
    other = fetch_items(r, 'd', 4, 'BODYSTRUCTURE')
    set_structure(1, f"(SELECT s.structure FROM store_messages s JOIN store_mailboxes m ON m.id = s.mailbox_id "
                     f"WHERE m.name = '{box}' AND s.uid = 4)")
    assert fetch_items(r, 'e', 1, 'BODYSTRUCTURE') == other
    assert other.startswith(b'BODYSTRUCTURE ("text" "plain"'), other
    r.close()
    m.logout()


# ---------------------------------------------------------------------------
# FETCH reads message data ahead, many messages a store read


def multiappend(r, tag, box, messages):
    """Appends @messages in one MULTIAPPEND (LITERAL+); their UIDs."""
    text = ''.join(f' {{{len(x)}+}}\r\n' for x in messages)
    parts = text.split('\r\n')
    out = f'{tag} APPEND {box}'.encode()
    for part, data in zip(parts, messages):
        out += part.encode() + b'\r\n' + data
    r.send(out + b'\r\n')
    lines, t = r.until(tag)
    m = re.match(rb'\S+ OK \[APPENDUID \d+ ([\d:,]+)\]', t)
    assert m, t
    uids = []
    for part in m.group(1).split(b','):
        first, _, last = part.partition(b':')
        uids += range(int(first), int(last or first) + 1)
    return uids


def fetch_bodies(r, tag, command):
    """(seq, uid, flags or None, the literal) of each FETCH response, in order, and the tagged line."""
    lines, t = r.cmd(tag, command)
    out = []
    for line in lines:
        m = re.fullmatch(rb'\* (\d+) FETCH \((.*?)\{(\d+)\}\r\n(.*)\)\r\n', line, re.S)
        assert m, line[:200]
        uid = re.search(rb'UID (\d+)', m.group(2))
        flags = re.search(rb'FLAGS \(([^)]*)\)', m.group(2))
        assert len(m.group(4)) == int(m.group(3)), line[:200]
        out.append((int(m.group(1)), int(uid.group(1)) if uid else None, flags.group(1) if flags else None,
                    m.group(4)))
    return out, t


def sized(n, size):
    head = f'Subject: batch {n}\r\nMessage-ID: <batch{n}@store-ops.example>\r\n\r\n'.encode()
    return head + (f'{n:04d}'.encode() * size)[:max(0, size - len(head))]


def test_fetch_reads_ahead_across_batch_boundaries(srv):
    # 150 small messages (more than two batches of 64), then 30 of ~95 kB
    # (about eleven to the 1 MiB a batch holds), then small ones again
    sizes = [200 + 37 * (i % 11) for i in range(150)] + [95000 + i for i in range(30)] + [300] * 20
    bodies = [sized(i, size) for i, size in enumerate(sizes)]
    r = Raw(srv)
    r.login()
    box = 'Batch' + uuid.uuid4().hex[:8]
    _, t = r.cmd('c', f'CREATE {box}')
    assert t.startswith(b'c OK'), t
    uids, group = [], []
    for body in bodies + [None]:
        # a MULTIAPPEND holds at most append_limit (100000 here) + 64 KiB
        if group and (body is None or sum(map(len, group)) + len(body) > 100000):
            uids += multiappend(r, f'a{len(uids)}', box, group)
            group = []
        group.append(body)
    assert uids == list(range(1, len(bodies) + 1))
    # some are expunged by another session: gaps in what is read together
    gone = [3, 64, 65, 66, 129, 151, 152, 170, 190]
    _, t = r.cmd('s', f'SELECT {box}')
    assert t.startswith(b's OK'), t
    m = imaps(srv)
    ok(m.select(box))
    ok(m.uid('STORE', ','.join(map(str, gone)), '+FLAGS.SILENT', '(\\Deleted)'))
    ok(m.expunge())
    m.logout()
    _, t = r.cmd('n', 'NOOP')
    assert t.startswith(b'n OK'), t
    kept = [u for u in uids if u not in gone]

    # the Subject field of every message, in order
    got, t = fetch_bodies(r, 'h', 'FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject)])')
    assert t == b'h OK FETCH completed\r\n', t
    assert [(seq, body) for seq, _, _, body in got] == \
        [(seq, f'Subject: batch {u - 1}\r\n\r\n'.encode()) for seq, u in enumerate(kept, 1)]

    # every message's octets, of a set with holes, by UID
    wanted = [u for u in kept if u <= 60 or 100 <= u <= 140 or u >= 160]
    got, t = fetch_bodies(r, 'b', 'UID FETCH 1:60,100:140,160:* (BODY.PEEK[])')
    assert t == b'b OK UID FETCH completed\r\n', t
    assert [uid for _, uid, _, _ in got] == wanted
    assert [body for _, _, _, body in got] == [bodies[u - 1] for u in wanted]
    assert [seq for seq, _, _, _ in got] == [kept.index(u) + 1 for u in wanted]

    # a partial of each, and the tree the store keeps with the data (the
    # large ones take the stored-structure path, then the read ahead)
    got, t = fetch_bodies(r, 'p', 'UID FETCH 140:185 (BODYSTRUCTURE BODY.PEEK[TEXT]<4.8>)')
    assert t == b'p OK UID FETCH completed\r\n', t
    assert [(uid, body) for _, uid, _, body in got] == \
        [(u, bodies[u - 1].split(b'\r\n\r\n', 1)[1][4:12]) for u in kept if 140 <= u <= 185]

    # without PEEK: each message answered is \Seen, and says so
    got, t = fetch_bodies(r, 'q', 'UID FETCH 100:200 (BODY[HEADER.FIELDS (Message-ID)])')
    assert t == b'q OK UID FETCH completed\r\n', t
    assert [(uid, flags, body) for _, uid, flags, body in got] == \
        [(u, b'\\Seen \\Recent', f'Message-ID: <batch{u - 1}@store-ops.example>\r\n\r\n'.encode())
         for u in kept if u >= 100]
    lines, t = r.cmd('f', 'UID SEARCH UNSEEN')
    lines = [x for x in lines if x.startswith(b'* SEARCH')]
    assert lines == [('* SEARCH ' + ' '.join(str(u) for u in kept if u < 100) + '\r\n').encode()], lines

    # a FETCH whose client goes away while batches are read: the daemon
    # goes on serving others (the fixture checks its log)
    r.send('z UID FETCH 1:* (BODY.PEEK[])\r\n')
    r.close()
    r2 = Raw(srv)
    r2.login()
    _, t = r2.cmd('e', f'EXAMINE {box}')
    assert t.startswith(b'e OK'), t
    got, t = fetch_bodies(r2, 'l', f'UID FETCH {kept[-1]} (BODY.PEEK[])')
    assert [(uid, body) for _, uid, _, body in got] == [(kept[-1], bodies[kept[-1] - 1])], got
    r2.close()


def test_fetch_read_ahead_keeps_binary_failures_and_changedsince(srv):
    plain = [b'Subject: plain %d\r\n\r\nplain body %d\r\n' % (i, i) for i in range(6)]
    bad = (b'Subject: undecodable\r\nMIME-Version: 1.0\r\n'
           b'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n'
           b'begin 644 x\r\n')
    messages = plain[:3] + [bad] + plain[3:]
    r = Raw(srv)
    r.login()
    box = 'Bin' + uuid.uuid4().hex[:8]
    _, t = r.cmd('e', 'ENABLE CONDSTORE')
    assert t.startswith(b'e OK'), t
    _, t = r.cmd('c', f'CREATE {box}')
    assert t.startswith(b'c OK'), t
    assert multiappend(r, 'a', box, messages) == list(range(1, 8))
    _, t = r.cmd('s', f'SELECT {box}')
    assert t.startswith(b's OK'), t
    # one message of the batch cannot be decoded: it gets no answer and
    # keeps no \Seen; the others are answered and seen
    lines, t = r.cmd('b', 'FETCH 1:* (BINARY[1])')
    assert t == b'b NO [UNKNOWN-CTE] Cannot decode the content-transfer-encoding of a part\r\n', t
    assert [re.sub(rb' MODSEQ \(\d+\)', b'', x) for x in lines] == \
        [b'* %d FETCH (UID %d FLAGS (\\Seen \\Recent) BINARY[1] {%d}\r\n%s)\r\n'
         % (n, n, len(body.split(b'\r\n\r\n', 1)[1]), body.split(b'\r\n\r\n', 1)[1])
         for n, body in enumerate(messages, 1) if body is not bad], lines
    lines, t = r.cmd('u', 'UID SEARCH UNSEEN')
    lines = [x for x in lines if x.startswith(b'* SEARCH')]
    assert lines == [b'* SEARCH 4\r\n'], lines
    # CHANGEDSINCE: only the messages changed since are read and answered
    # (message 4's \Seen taken back is the newest change so far)
    lines, t = r.cmd('m', 'FETCH 1:* (MODSEQ)')
    since = max(int(re.search(rb'MODSEQ \((\d+)\)', x).group(1)) for x in lines)
    assert len(lines) == 7 and since == int(re.search(rb'MODSEQ \((\d+)\)', lines[3]).group(1)), lines
    _, t = r.cmd('f', 'UID STORE 2,5,6 +FLAGS.SILENT (\\Flagged)')
    assert t.startswith(b'f OK'), t
    got, t = fetch_bodies(r, 'g', f'UID FETCH 1:* (BODY.PEEK[]) (CHANGEDSINCE {since})')
    assert t == b'g OK UID FETCH completed\r\n', t
    assert [(uid, body) for _, uid, _, body in got] == [(u, messages[u - 1]) for u in (2, 5, 6)]
    r.close()
