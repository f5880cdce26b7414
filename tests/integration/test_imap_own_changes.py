# SPDX-License-Identifier: GPL-2.0-or-later
"""A session's own changes (APPEND into the selected mailbox, STORE, the
\\Seen of FETCH BODY[], EXPUNGE) enter its view directly when no other
session changed the mailbox meanwhile, and through a full synchronisation
when one did: in both cases the client hears of every change exactly as
RFC 9051 §7 wants (EXISTS, EXPUNGE, FETCH), with raw sockets against the
real daemon and a second session changing the mailbox in between.
"""
import re

from test_imap import srv, tmp_root, imaps, ok, new_mailbox, append, Raw, MESSAGE  # noqa: F401  (fixtures)


def box_with(srv, n):
    m = imaps(srv)
    name = new_mailbox(m)
    for _ in range(n):
        append(m, name)
    return m, name


def raw_select(srv, name):
    r = Raw(srv)
    r.login()
    lines, t = r.cmd('s', f'SELECT {name}')
    assert t.startswith(b's OK'), t
    return r


def raw_append(r, tag, name, body=MESSAGE):
    data = body if isinstance(body, bytes) else body.encode()
    r.send(f'{tag} APPEND {name} {{{len(data)}+}}\r\n'.encode() + data + b'\r\n')
    return r.until(tag)


def uid_flags(r):
    lines, t = r.cmd('uf', 'UID FETCH 1:* (FLAGS)')
    assert t.startswith(b'uf OK'), t
    out = {}
    for x in lines:
        mm = re.fullmatch(rb'\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\)\)\r\n', x)
        assert mm, x
        out[int(mm.group(2))] = (int(mm.group(1)), mm.group(3).decode())
    return out


def test_append_alone_is_told_at_once(srv):
    m, name = box_with(srv, 2)
    r = raw_select(srv, name)
    lines, t = raw_append(r, 'a', name)
    # a rev1 session: it claimed UIDs 1 and 2 at SELECT, and claims its own APPEND
    assert lines == [b'* 3 EXISTS\r\n', b'* 3 RECENT\r\n'], lines
    assert re.fullmatch(rb'a OK \[APPENDUID \d+ 3\] APPEND completed\r\n', t), t
    lines, _ = r.cmd('n', 'NOOP')
    assert lines == [], lines
    assert sorted(uid_flags(r)) == [1, 2, 3]


def test_append_alone_rev2_has_no_recent(srv):
    m, name = box_with(srv, 1)
    r = Raw(srv)
    r.login()
    lines, t = r.cmd('e', 'ENABLE IMAP4rev2')
    assert t == b'e OK ENABLE completed\r\n', t
    lines, t = r.cmd('s', f'SELECT {name}')
    assert t.startswith(b's OK'), t
    lines, t = raw_append(r, 'a', name)
    assert lines == [b'* 2 EXISTS\r\n'], lines
    lines, _ = r.cmd('n', 'NOOP')
    assert lines == [], lines


def test_append_after_another_sessions_changes(srv):
    m, name = box_with(srv, 3)
    r = raw_select(srv, name)
    ok(m.select(name))
    append(m, name)                                   # UID 4, by the other session
    m.store('2', '+FLAGS', '(\\Flagged)')
    m.store('1', '+FLAGS', '(\\Deleted)')
    ok(m.expunge())                                   # UID 1 gone
    lines, t = raw_append(r, 'a', name)               # UID 5, by this one
    assert re.fullmatch(rb'a OK \[APPENDUID \d+ 5\] APPEND completed\r\n', t), t
    # UID 4 is recent to the other session (it had the mailbox selected)
    assert lines == [b'* 1 EXPUNGE\r\n', b'* 1 FETCH (UID 2 FLAGS (\\Flagged \\Recent))\r\n', b'* 4 EXISTS\r\n',
                     b'* 3 RECENT\r\n'], lines
    assert uid_flags(r) == {2: (1, '\\Flagged \\Recent'), 3: (2, '\\Recent'), 4: (3, ''), 5: (4, '\\Recent')}


def test_store_then_another_sessions_change_is_told(srv):
    m, name = box_with(srv, 3)
    r = raw_select(srv, name)
    ok(m.select(name))
    lines, _ = r.cmd('st', 'STORE 1 +FLAGS (\\Answered)')
    assert lines == [b'* 1 FETCH (FLAGS (\\Answered \\Recent))\r\n'], lines
    # the own change is not told again; the other session's is
    m.store('3', '+FLAGS', '(\\Draft)')
    lines, _ = r.cmd('n', 'NOOP')
    assert lines == [b'* 3 FETCH (UID 3 FLAGS (\\Draft \\Recent))\r\n'], lines
    # a change of the other session between two of this one: both known
    m.store('2', '+FLAGS', '(\\Flagged)')
    lines, _ = r.cmd('st2', 'STORE 1 -FLAGS (\\Answered)')
    assert lines == [b'* 1 FETCH (FLAGS (\\Recent))\r\n'], lines
    # the view took neither in: the synchronisation tells both (the own one again)
    lines, _ = r.cmd('n2', 'NOOP')
    assert lines == [b'* 1 FETCH (UID 1 FLAGS (\\Recent))\r\n', b'* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))\r\n'], lines
    lines, _ = r.cmd('n3', 'NOOP')
    assert lines == [], lines
    assert uid_flags(r) == {1: (1, '\\Recent'), 2: (2, '\\Flagged \\Recent'), 3: (3, '\\Draft \\Recent')}


def test_fetch_seen_alone_and_after_another_change(srv):
    m, name = box_with(srv, 2)
    r = raw_select(srv, name)
    ok(m.select(name))
    r.send(b'f FETCH 1 (BODY[])\r\n')
    lines, t = r.until('f')
    assert t == b'f OK FETCH completed\r\n', t
    assert b'\\Seen' in lines[0], lines
    lines, _ = r.cmd('n', 'NOOP')
    assert lines == [], lines
    m.store('2', '+FLAGS', '(\\Flagged)')
    r.send(b'f2 FETCH 1 (BODY[])\r\n')               # already \Seen: nothing changes
    lines, t = r.until('f2')
    assert t == b'f2 OK FETCH completed\r\n', t
    lines, _ = r.cmd('n2', 'NOOP')
    assert lines == [b'* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))\r\n'], lines


def test_uid_expunge_alone_and_with_another_sessions_expunge(srv):
    m, name = box_with(srv, 5)
    r = raw_select(srv, name)
    ok(m.select(name))
    lines, _ = r.cmd('st', 'UID STORE 2 +FLAGS.SILENT (\\Deleted)')
    assert lines == [], lines
    lines, t = r.cmd('x', 'UID EXPUNGE 2')
    assert (lines, t) == ([b'* 2 EXPUNGE\r\n'], b'x OK EXPUNGE completed\r\n'), (lines, t)
    lines, _ = r.cmd('n', 'NOOP')
    assert lines == [], lines
    # between this one's STORE and EXPUNGE, the other session's EXPUNGE
    # takes UID 4 (\Deleted by this one) and UID 5: told by the synchronisation
    lines, _ = r.cmd('st2', 'UID STORE 4 +FLAGS.SILENT (\\Deleted)')
    ok(m.noop())                                      # UID 2 leaves its view
    m.store('4', '+FLAGS', '(\\Deleted)')             # its message 4 is UID 5
    ok(m.expunge())
    lines, t = r.cmd('x2', 'UID EXPUNGE 4')
    assert t == b'x2 OK EXPUNGE completed\r\n', t
    # UID 4 (message 3) and UID 5 (then message 3 too), in the store's order
    assert lines == [b'* 3 EXPUNGE\r\n', b'* 3 EXPUNGE\r\n'], lines
    assert uid_flags(r) == {1: (1, '\\Recent'), 3: (2, '\\Recent')}
    # UID EXPUNGE leaves \Deleted messages outside its set alone
    lines, _ = r.cmd('st3', 'STORE 1:2 +FLAGS.SILENT (\\Deleted)')
    lines, t = r.cmd('x3', 'UID EXPUNGE 3')
    assert (lines, t) == ([b'* 2 EXPUNGE\r\n'], b'x3 OK EXPUNGE completed\r\n'), (lines, t)
    assert uid_flags(r) == {1: (1, '\\Deleted \\Recent')}
