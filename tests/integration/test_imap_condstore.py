# SPDX-License-Identifier: GPL-2.0-or-later
"""CONDSTORE and QRESYNC (RFC 7162) as clients see them: raw sockets
against the real daemon (imaplib knows neither), with a second session
(imaplib or raw) changing the mailbox meanwhile.  Every MODSEQ a test
expects is one the server told a session before.
"""
import re

from test_imap import srv, tmp_root, imaps, ok, new_mailbox, append, Raw  # noqa: F401  (fixtures)


def session(srv, *enable, user='alice'):
    r = Raw(srv)
    r.login(user)
    if enable:
        lines, t = r.cmd('en', 'ENABLE ' + ' '.join(enable))
        assert t == b'en OK ENABLE completed\r\n', t
    return r


def box_with(srv, n, flags=''):
    """A new mailbox with n messages, UIDs 1..n; (imaplib session, name)."""
    m = imaps(srv)
    name = new_mailbox(m)
    for _ in range(n):
        append(m, name, flags=flags)
    return m, name


def code(lines, name):
    for x in lines:
        mm = re.match(rb'\* OK \[%s (\d+)\]' % name.encode(), x)
        if mm:
            return int(mm.group(1))
    raise AssertionError(f'no {name} in {lines}')


def modseqs(r):
    """uid -> MODSEQ of the selected mailbox, as a CONDSTORE session reads them."""
    lines, t = r.cmd('ms', 'UID FETCH 1:* (MODSEQ)')
    assert t.startswith(b'ms OK'), t
    out = {}
    for x in lines:
        mm = re.fullmatch(rb'\* \d+ FETCH \(UID (\d+) MODSEQ \((\d+)\)\)\r\n', x)
        if mm:
            out[int(mm.group(1))] = int(mm.group(2))
    return out


def resync_lines(lines):
    return [x for x in lines if x.startswith(b'* VANISHED') or b' FETCH (' in x]


def test_capabilities_and_enable(srv):
    r = Raw(srv)
    assert b'CONDSTORE' not in r.greeting and b'QRESYNC' not in r.greeting
    r.login()
    lines, _ = r.cmd('c', 'CAPABILITY')
    caps = lines[0].split()
    assert b'CONDSTORE' in caps and b'QRESYNC' in caps, caps
    # QRESYNC implies CONDSTORE: neither is new afterwards
    lines, t = r.cmd('e1', 'ENABLE QRESYNC')
    assert lines == [b'* ENABLED QRESYNC\r\n'] and t == b'e1 OK ENABLE completed\r\n', (lines, t)
    lines, _ = r.cmd('e2', 'ENABLE CONDSTORE QRESYNC X-UNKNOWN')
    assert lines == [b'* ENABLED\r\n'], lines
    r.close()
    r = session(srv)
    lines, _ = r.cmd('e3', 'ENABLE condstore')
    assert lines == [b'* ENABLED CONDSTORE\r\n'], lines
    lines, _ = r.cmd('e4', 'ENABLE CONDSTORE QRESYNC')
    assert lines == [b'* ENABLED QRESYNC\r\n'], lines
    r.close()


def test_rev1_session_without_enable_sees_no_modseq(srv):
    m, name = box_with(srv, 2)
    r = session(srv)
    lines, _ = r.cmd('s', f'SELECT {name}')
    hms = code(lines, 'HIGHESTMODSEQ')  # sent, informational
    ok(m.select(name))
    m.store('1', '+FLAGS', '(\\Flagged)')
    lines, _ = r.cmd('n', 'NOOP')
    assert lines == [b'* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))\r\n'], lines
    lines, _ = r.cmd('st', 'STORE 2 +FLAGS (\\Seen)')
    assert lines == [b'* 2 FETCH (FLAGS (\\Seen \\Recent))\r\n'], lines
    lines, _ = r.cmd('f', 'FETCH 1:2 (FLAGS)')
    assert lines == [b'* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n', b'* 2 FETCH (FLAGS (\\Seen \\Recent))\r\n'], lines
    m.store('1', '+FLAGS', '(\\Deleted)')
    ok(m.expunge())
    lines, _ = r.cmd('n2', 'NOOP')
    # the session's own STORE of message 2 is in its view already: not told again
    assert lines == [b'* 1 EXPUNGE\r\n'], lines
    # FETCH MODSEQ turns CONDSTORE on: HIGHESTMODSEQ first, MODSEQ from then on
    lines, t = r.cmd('f2', 'FETCH 1 (MODSEQ)')
    assert t == b'f2 OK FETCH completed\r\n'
    assert len(lines) == 2 and code(lines[:1], 'HIGHESTMODSEQ') > hms, lines
    mm = re.fullmatch(rb'\* 1 FETCH \(MODSEQ \((\d+)\)\)\r\n', lines[1])
    assert mm, lines
    lines, _ = r.cmd('st2', 'STORE 1 -FLAGS (\\Seen)')
    assert lines == [b'* 1 FETCH (UID 2 FLAGS (\\Recent) MODSEQ (%d))\r\n' % modseqs(r)[2]], lines
    r.close()
    m.logout()


def test_qresync_resync_after_expunges_from_another_session(srv):
    m, name = box_with(srv, 6)
    # A notes UIDVALIDITY and HIGHESTMODSEQ, and goes away
    a = session(srv, 'QRESYNC')
    lines, t = a.cmd('s', f'SELECT {name}')
    assert t == b's OK [READ-WRITE] SELECT completed\r\n'
    validity, known = code(lines, 'UIDVALIDITY'), code(lines, 'HIGHESTMODSEQ')
    a.cmd('l', 'LOGOUT')
    a.close()
    # B expunges UIDs 3 and 4 and changes the flags of 2 and 5
    b = session(srv, 'CONDSTORE')
    b.cmd('s', f'SELECT {name}')
    b.cmd('d', 'STORE 3:4 +FLAGS.SILENT (\\Deleted)')
    b.cmd('x', 'EXPUNGE')
    b.cmd('f1', 'UID STORE 2 +FLAGS.SILENT (\\Seen)')
    b.cmd('f2', 'UID STORE 5 +FLAGS.SILENT (\\Flagged)')
    ms = modseqs(b)
    assert sorted(ms) == [1, 2, 5, 6] and ms[2] > known and ms[5] > ms[2] and ms[1] <= known, (ms, known)
    fetch2 = b'* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (%d))\r\n' % ms[2]
    fetch5 = b'* 3 FETCH (UID 5 FLAGS (\\Flagged) MODSEQ (%d))\r\n' % ms[5]
    b.close()

    a = session(srv, 'QRESYNC')
    cases = [
        (f'({validity} {known})', [b'* VANISHED (EARLIER) 3:4\r\n', fetch2, fetch5]),
        # known UIDs: only those are told of
        (f'({validity} {known} 1:3,5)', [b'* VANISHED (EARLIER) 3\r\n', fetch2, fetch5]),
        (f'({validity} {known} 1:4)', [b'* VANISHED (EARLIER) 3:4\r\n', fetch2]),
        (f'({validity} {known} 6)', []),
        # message sequence match data: pairs that match bound VANISHED
        (f'({validity} {known} 1:6 (1:2 1:2))', [b'* VANISHED (EARLIER) 3:4\r\n', fetch2, fetch5]),
        (f'({validity} {known} 1:6 (1,3 1,5))', [fetch2, fetch5]),
        (f'({validity} {known} 1:6 (1,3 1,3))', [b'* VANISHED (EARLIER) 3:4\r\n', fetch2, fetch5]),
        (f'({validity} {known} (2:4 2,5,6))', [fetch2, fetch5]),
        # what changed after a later MODSEQ only (the expunge came before it)
        (f'({validity} {ms[2]})', [fetch5]),
        # another UIDVALIDITY: a plain SELECT
        (f'({validity + 1} {known})', []),
    ]
    for i, (param, expected) in enumerate(cases):
        lines, t = a.cmd(f's{i}', f'SELECT {name} (QRESYNC {param})')
        assert t == b's%d OK [READ-WRITE] SELECT completed\r\n' % i, (param, t)
        assert resync_lines(lines) == expected, (param, lines)
        assert b'* 4 EXISTS\r\n' in lines and code(lines, 'HIGHESTMODSEQ') == max(ms.values())
        # a selected mailbox is closed first (RFC 7162 §3.2.11)
        assert (lines[0] == b'* OK [CLOSED] Previous mailbox closed\r\n') == (i > 0), (i, lines[:1])
    # after the resync, the view is the mailbox's
    lines, _ = a.cmd('u', 'FETCH 1:* (UID)')
    assert lines == [b'* %d FETCH (UID %d)\r\n' % (i + 1, u) for i, u in enumerate([1, 2, 5, 6])], lines
    # EXAMINE takes it too
    lines, t = a.cmd('e', f'EXAMINE {name} (QRESYNC ({validity} {known} 1:4))')
    assert t == b'e OK [READ-ONLY] EXAMINE completed\r\n'
    assert resync_lines(lines) == [b'* VANISHED (EARLIER) 3:4\r\n', fetch2], lines
    a.close()
    m.logout()


def test_qresync_select_errors(srv):
    m, name = box_with(srv, 1)
    r = session(srv)
    lines, t = r.cmd('a', f'SELECT {name} (QRESYNC (1 1))')
    assert t == b'a BAD QRESYNC is not enabled (ENABLE QRESYNC first)\r\n', t
    r.cmd('e', 'ENABLE QRESYNC')
    for i, param in enumerate(['(QRESYNC (0 1))', '(QRESYNC (1 0))', '(QRESYNC (1))', '(QRESYNC (1 2 1:*))',
                               '(QRESYNC (1 2 1:5 (1:2 5)))', '(QRESYNC (1 2 1:5 (2,1 5,6)))', '(FOO)', '()',
                               '(CONDSTORE CONDSTORE)', 'CONDSTORE']):
        lines, t = r.cmd(f'b{i}', f'SELECT {name} {param}')
        assert t.startswith(b'b%d BAD ' % i), (param, t)
    # SELECT (CONDSTORE) in a fresh session enables CONDSTORE
    r2 = session(srv)
    lines, t = r2.cmd('c', f'SELECT {name} (CONDSTORE)')
    assert t == b'c OK [READ-WRITE] SELECT completed\r\n', t
    ok(m.select(name))
    m.store('1', '+FLAGS', '(\\Answered)')
    lines, _ = r2.cmd('n', 'NOOP')
    assert lines == [b'* 1 FETCH (UID 1 FLAGS (\\Answered \\Recent) MODSEQ (%d))\r\n' % modseqs(r2)[1]], lines
    r.close()
    r2.close()
    m.logout()


def test_store_unchangedsince_conflict(srv):
    m, name = box_with(srv, 5)
    # UIDs 2..5 at message numbers 1..4, so that MODIFIED shows which it is
    ok(m.select(name))
    m.store('1', '+FLAGS', '(\\Deleted)')
    ok(m.expunge())
    a = session(srv, 'CONDSTORE')
    a.cmd('s', f'SELECT {name}')
    before = modseqs(a)
    assert sorted(before) == [2, 3, 4, 5]
    since = max(before.values())
    # B changes message 2 (UID 3) meanwhile
    b = session(srv, 'CONDSTORE')
    b.cmd('s', f'SELECT {name}')
    lines, _ = b.cmd('b1', 'STORE 2 +FLAGS (\\Flagged)')
    mm = re.fullmatch(rb'\* 2 FETCH \(UID 3 FLAGS \(\\Flagged\) MODSEQ \((\d+)\)\)\r\n', lines[0])
    assert mm and len(lines) == 1, lines
    b_modseq = int(mm.group(1))
    assert b_modseq > since
    lines, t = a.cmd('c1', f'STORE 1:3 (UNCHANGEDSINCE {since}) +FLAGS (\\Seen)')
    assert t == b'c1 OK [MODIFIED 2] Conditional STORE failed\r\n', t
    new = b_modseq + 1
    assert lines == [b'* 1 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (%d))\r\n' % new,
                     b'* 3 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (%d))\r\n' % new], lines
    # UID STORE answers UIDs; .SILENT still tells the MODSEQ with CONDSTORE
    lines, t = a.cmd('c2', f'UID STORE 2:5 (UNCHANGEDSINCE {new}) -FLAGS.SILENT (\\Seen)')
    assert t == b'c2 OK UID STORE completed\r\n', t
    assert lines == [b'* 1 FETCH (UID 2 MODSEQ (%d))\r\n' % (new + 1),
                     b'* 3 FETCH (UID 4 MODSEQ (%d))\r\n' % (new + 1)], lines
    lines, t = a.cmd('c3', f'UID STORE 2:5 (UNCHANGEDSINCE {b_modseq}) +FLAGS.SILENT (\\Answered)')
    assert t == b'c3 OK [MODIFIED 2,4] Conditional STORE failed\r\n', t
    assert lines == [b'* 2 FETCH (UID 3 MODSEQ (%d))\r\n' % (new + 2),
                     b'* 4 FETCH (UID 5 MODSEQ (%d))\r\n' % (new + 2)], lines
    # 0 fails for every message; nothing changes
    lines, t = a.cmd('c4', 'STORE 1:4 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)')
    assert (lines, t) == ([], b'c4 OK [MODIFIED 1:4] Conditional STORE failed\r\n'), (lines, t)
    assert modseqs(a) == {2: new + 1, 3: new + 2, 4: new + 1, 5: new + 2}
    for i, bad in enumerate(['(UNCHANGEDSINCE x)', '(UNCHANGEDSINCE)', '(FOO 1)', '(UNCHANGEDSINCE 1 UNCHANGEDSINCE 2)',
                             '(UNCHANGEDSINCE 9223372036854775808)', 'UNCHANGEDSINCE']):
        _, t = a.cmd(f'd{i}', f'STORE 1 {bad} +FLAGS (\\Seen)')
        assert t.startswith(b'd%d BAD ' % i), (bad, t)
    # a rev1 session that used UNCHANGEDSINCE has CONDSTORE on
    c = session(srv)
    c.cmd('s', f'SELECT {name}')
    lines, t = c.cmd('u', f'STORE 1 (UNCHANGEDSINCE {new + 2}) +FLAGS (\\Seen)')
    assert code(lines, 'HIGHESTMODSEQ') == new + 2 and t == b'u OK STORE completed\r\n', (lines, t)
    assert lines[1:] == [b'* 1 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (%d))\r\n' % (new + 3)], lines
    for x in (a, b, c):
        x.close()
    m.logout()


def test_fetch_changedsince(srv):
    m, name = box_with(srv, 4)
    a = session(srv, 'QRESYNC')
    lines, _ = a.cmd('s', f'SELECT {name}')
    since = code(lines, 'HIGHESTMODSEQ')
    ok(m.select(name))
    m.store('3', '+FLAGS', '(\\Seen)')
    m.store('1', '+FLAGS', '(\\Deleted)')
    ok(m.expunge())
    ms = {}
    # not synchronised yet: UID 1 is still message 1 of A's view
    lines, t = a.cmd('f', f'FETCH 1:* (FLAGS) (CHANGEDSINCE {since})')
    assert t == b'f OK FETCH completed\r\n'
    mm = re.fullmatch(rb'\* 3 FETCH \(MODSEQ \((\d+)\) FLAGS \(\\Seen \\Recent\)\)\r\n', lines[0])
    assert mm and len(lines) == 1, lines
    ms[3] = int(mm.group(1))
    lines, _ = a.cmd('f0', 'UID FETCH 1:* (FLAGS) (CHANGEDSINCE 0)')
    assert lines == [b'* 2 FETCH (UID 2 MODSEQ (%d) FLAGS (\\Recent))\r\n' % modseqs(a)[2],
                     b'* 3 FETCH (UID 3 MODSEQ (%d) FLAGS (\\Seen \\Recent))\r\n' % ms[3],
                     b'* 4 FETCH (UID 4 MODSEQ (%d) FLAGS (\\Recent))\r\n' % modseqs(a)[4]], lines
    lines, _ = a.cmd('n', 'NOOP')
    assert lines[0] == b'* VANISHED 1\r\n', lines
    # VANISHED (EARLIER) for what the client asks about, before the FETCHes
    lines, t = a.cmd('v', f'UID FETCH 1:* (FLAGS) (CHANGEDSINCE {since} VANISHED)')
    assert t == b'v OK UID FETCH completed\r\n'
    assert lines == [b'* VANISHED (EARLIER) 1\r\n', b'* 2 FETCH (UID 3 MODSEQ (%d) FLAGS (\\Seen \\Recent))\r\n' % ms[3]], lines
    lines, _ = a.cmd('v2', f'UID FETCH 2:4 (FLAGS) (VANISHED CHANGEDSINCE {ms[3]})')
    assert lines == [], lines
    lines, _ = a.cmd('v3', f'UID FETCH 1 (FLAGS) (CHANGEDSINCE {since} VANISHED)')
    assert lines == [b'* VANISHED (EARLIER) 1\r\n'], lines
    for i, bad in enumerate(['FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)', 'UID FETCH 1 (FLAGS) (VANISHED)',
                             'FETCH 1 (FLAGS) (CHANGEDSINCE -1)', 'FETCH 1 (FLAGS) (CHANGEDSINCE)',
                             'FETCH 1 (FLAGS) (FOO)', 'FETCH 1 (FLAGS) CHANGEDSINCE', 'FETCH 1 (FLAGS) ()']):
        _, t = a.cmd(f'b{i}', bad)
        assert t.startswith(b'b%d BAD ' % i), (bad, t)
    # VANISHED needs QRESYNC, CONDSTORE is not enough
    c = session(srv, 'CONDSTORE')
    c.cmd('s', f'SELECT {name}')
    _, t = c.cmd('v', 'UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)')
    assert t == b'v BAD QRESYNC is not enabled (ENABLE QRESYNC first)\r\n', t
    a.close()
    c.close()
    m.logout()


def test_search_modseq(srv):
    m, name = box_with(srv, 4)
    ok(m.select(name))
    r = session(srv)
    lines, _ = r.cmd('s', f'SELECT {name}')
    selected = code(lines, 'HIGHESTMODSEQ')
    m.store('2', '+FLAGS', '(\\Seen)')
    m.store('4', '+FLAGS', '(\\Flagged)')
    # SEARCH MODSEQ enables CONDSTORE: HIGHESTMODSEQ first
    lines, t = r.cmd('a', 'SEARCH MODSEQ 1')
    assert t == b'a OK SEARCH completed\r\n'
    hms = code(lines, 'HIGHESTMODSEQ')
    assert re.fullmatch(rb'\* SEARCH 1 2 3 4 \(MODSEQ \d+\)\r\n', lines[1]), lines
    ms = modseqs(r)
    assert ms[4] > ms[2] > ms[3] > ms[1], ms
    assert lines[1] == b'* SEARCH 1 2 3 4 (MODSEQ %d)\r\n' % ms[4]
    lines, _ = r.cmd('b', f'SEARCH MODSEQ {ms[3] + 1}')
    assert lines == [b'* SEARCH 2 4 (MODSEQ %d)\r\n' % ms[4]], lines
    lines, _ = r.cmd('c', f'UID SEARCH MODSEQ "/flags/\\\\seen" all {ms[2]} NOT FLAGGED')
    assert lines == [b'* SEARCH 2 (MODSEQ %d)\r\n' % ms[2]], lines
    lines, _ = r.cmd('d', f'SEARCH MODSEQ {ms[4] + 1}')
    assert lines == [b'* SEARCH\r\n'], lines
    lines, _ = r.cmd('e', f'SEARCH RETURN (MIN) MODSEQ {ms[3] + 1}')
    assert lines == [b'* ESEARCH (TAG "e") MIN 2 MODSEQ %d\r\n' % ms[2]], lines
    lines, _ = r.cmd('f', f'SEARCH RETURN (COUNT) MODSEQ {ms[3] + 1}')
    assert lines == [b'* ESEARCH (TAG "f") COUNT 2 MODSEQ %d\r\n' % ms[4]], lines
    lines, _ = r.cmd('g', 'SEARCH SEEN')
    assert lines == [b'* SEARCH 2\r\n'], lines
    # the view's: what the session was told of, not what it was not yet
    assert hms == selected < ms[2]
    for i, bad in enumerate(['SEARCH MODSEQ', 'SEARCH MODSEQ x', 'SEARCH MODSEQ "/flags/\\\\seen" mine 1',
                             'SEARCH MODSEQ "/other" all 1', 'SEARCH MODSEQ 9223372036854775808']):
        _, t = r.cmd(f'x{i}', bad)
        assert t.startswith(b'x%d BAD ' % i), (bad, t)
    # IMAP4rev2: ESEARCH with MODSEQ
    r2 = session(srv, 'IMAP4rev2')
    r2.cmd('s', f'SELECT {name}')
    lines, _ = r2.cmd('h', f'UID SEARCH MODSEQ {ms[3] + 1}')
    assert lines[1:] == [b'* ESEARCH (TAG "h") UID ALL 2,4 MODSEQ %d\r\n' % ms[4]], lines
    r.close()
    r2.close()
    m.logout()


def test_status_highestmodseq(srv):
    m, name = box_with(srv, 2)
    r = session(srv)
    lines, t = r.cmd('a', f'STATUS {name} (HIGHESTMODSEQ MESSAGES)')
    assert t == b'a OK STATUS completed\r\n'
    mm = re.fullmatch(rb'\* STATUS "%s" \(HIGHESTMODSEQ (\d+) MESSAGES 2\)\r\n' % name.encode(), lines[0])
    assert mm and len(lines) == 1, lines
    lines, _ = r.cmd('s', f'SELECT {name}')
    assert code(lines, 'HIGHESTMODSEQ') == int(mm.group(1))
    ok(m.select(name))
    m.store('2', '+FLAGS', '(\\Seen)')
    # STATUS HIGHESTMODSEQ enabled CONDSTORE: the sync carries MODSEQ
    lines, _ = r.cmd('n', 'NOOP')
    assert lines == [b'* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) MODSEQ (%d))\r\n' % (int(mm.group(1)) + 1)], lines
    lines, _ = r.cmd('b', f'STATUS {name} (HIGHESTMODSEQ)')
    assert lines == [b'* STATUS "%s" (HIGHESTMODSEQ %d)\r\n' % (name.encode(), int(mm.group(1)) + 1)], lines
    r.close()
    m.logout()


def test_vanished_at_noop_idle_expunge_and_move(srv):
    m, name = box_with(srv, 6)
    dest = new_mailbox(m)
    a = session(srv, 'QRESYNC')
    a.cmd('s', f'SELECT {name}')
    rev1 = session(srv)
    rev1.cmd('s', f'SELECT {name}')
    ok(m.select(name))
    m.store('2,4', '+FLAGS', '(\\Deleted)')
    ok(m.expunge())
    lines, _ = a.cmd('n', 'NOOP')
    vanished = [x for x in lines if b'EXPUNGE' in x or b'VANISHED' in x]
    assert vanished == [b'* VANISHED 2,4\r\n'], lines
    lines, _ = rev1.cmd('n', 'NOOP')
    assert [x for x in lines if b'EXPUNGE' in x] in ([b'* 2 EXPUNGE\r\n', b'* 3 EXPUNGE\r\n'],
                                                     [b'* 4 EXPUNGE\r\n', b'* 2 EXPUNGE\r\n']), lines
    # during IDLE
    a.send('i IDLE\r\n')
    assert a.line() == b'+ idling\r\n'
    m.store('4', '+FLAGS.SILENT', '(\\Deleted)')  # UID 6
    line = a.line(timeout=5)
    assert re.fullmatch(rb'\* 4 FETCH \(UID 6 FLAGS \(\\Deleted \\Recent\) MODSEQ \(\d+\)\)\r\n', line), line
    ok(m.expunge())
    assert a.line(timeout=5) == b'* VANISHED 6\r\n'
    a.send('DONE\r\n')
    _, t = a.until('i')
    assert t == b'i OK IDLE terminated\r\n'
    # its own EXPUNGE and MOVE
    a.cmd('d', 'UID STORE 1 +FLAGS.SILENT (\\Deleted)')
    lines, t = a.cmd('x', 'EXPUNGE')
    assert t == b'x OK EXPUNGE completed\r\n'
    assert [x for x in lines if b'EXPUNGE' in x or b'VANISHED' in x] == [b'* VANISHED 1\r\n'], lines
    lines, t = a.cmd('mv', f'UID MOVE 3 {dest}')
    assert t.startswith(b'mv OK'), t
    assert [x for x in lines if b'EXPUNGE' in x or b'VANISHED' in x] == [b'* VANISHED 3\r\n'], lines
    lines, _ = a.cmd('u', 'FETCH 1:* (UID)')
    assert lines == [b'* 1 FETCH (UID 5)\r\n'], lines
    a.close()
    rev1.close()
    m.logout()
