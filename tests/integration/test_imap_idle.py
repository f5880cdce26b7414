# SPDX-License-Identifier: GPL-2.0-or-later
"""IMAP IDLE with many sessions on one mailbox (their synchronisation is
shared, docs/imap.md "IDLE") and input that arrives in pieces (the
connection layer gives its buffers back between commands)."""
import re
import time

from test_imap import srv, tmp_root, imaps, ok, new_mailbox, append, Raw, MESSAGE  # noqa: F401

SESSIONS = 8  # twice that, and one more: within [imap] max_connections_per_ip (20)


def idle_on(d, mailbox, qresync):
    r = Raw(d)
    r.login('alice')
    if qresync:
        _, t = r.cmd('e', 'ENABLE QRESYNC')
        assert t.startswith(b'e OK'), t
    lines, t = r.cmd('s', f'SELECT {mailbox}')
    assert t.startswith(b's OK'), t
    assert b'* 1 EXISTS\r\n' in lines, lines
    r.send('i IDLE\r\n')
    assert r.line() == b'+ idling\r\n'
    return r


def test_idling_sessions_of_one_mailbox_all_hear_each_change(srv):
    m = imaps(srv)
    box = new_mailbox(m)
    append(m, box)
    ok(m.select(box))
    plain = [idle_on(srv, box, False) for _ in range(SESSIONS)]
    qres = [idle_on(srv, box, True) for _ in range(SESSIONS)]

    # a new message: EXISTS to every session, within a second; then RECENT
    # (rev1 sessions): none of them has it as \Recent, the APPEND of m,
    # which has the mailbox selected, claimed it
    append(m, box)
    t0 = time.monotonic()
    for r in plain + qres:
        assert r.line(timeout=5) == b'* 2 EXISTS\r\n'
        assert r.line(timeout=5) == b'* 0 RECENT\r\n'
    assert time.monotonic() - t0 < 1.0
    uids = ok(m.uid('SEARCH', 'ALL'))[0].split()
    assert len(uids) == 2
    uid1, uid2 = int(uids[0]), int(uids[1])

    # a flag change: FETCH, with MODSEQ where QRESYNC (so CONDSTORE) is on
    ok(m.store('2', '+FLAGS', '(\\Flagged)'))
    for r in plain:
        assert r.line(timeout=5) == b'* 2 FETCH (UID %d FLAGS (\\Flagged))\r\n' % uid2
    for r in qres:
        line = r.line(timeout=5)
        assert re.fullmatch(rb'\* 2 FETCH \(UID %d FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)\r\n' % uid2, line), line

    # an expunge: EXPUNGE by number, VANISHED by UID with QRESYNC
    ok(m.store('1', '+FLAGS', '(\\Deleted)'))
    for r in plain + qres:
        assert b'* 1 FETCH (UID %d FLAGS (\\Deleted)' % uid1 in r.line(timeout=5)
    ok(m.expunge())
    for r in plain:
        assert r.line(timeout=5) == b'* 1 EXPUNGE\r\n'
    for r in qres:
        assert r.line(timeout=5) == b'* VANISHED %d\r\n' % uid1

    # every view is where the store is: DONE, then NOOP says nothing more
    for r in plain + qres:
        r.send('DONE\r\n')
        _, t = r.until('i')
        assert t == b'i OK IDLE terminated\r\n'
        lines, t = r.cmd('n', 'NOOP')
        assert lines == [] and t.startswith(b'n OK'), (lines, t)
        lines, t = r.cmd('f', 'FETCH 1:* (UID FLAGS)')
        assert len(lines) == 1 and lines[0].startswith(b'* 1 FETCH (UID %d FLAGS (\\Flagged)' % uid2), lines
        r.close()
    m.logout()


def test_a_session_that_closes_while_its_mailbox_changes(srv):
    m = imaps(srv)
    box = new_mailbox(m)
    append(m, box)
    gone = [idle_on(srv, box, False) for _ in range(4)]
    stays = idle_on(srv, box, False)
    for r in gone:
        r.close()
    append(m, box)
    assert stays.line(timeout=5) == b'* 2 EXISTS\r\n'
    # RECENT follows; a session whose client went away may still have
    # claimed the message, if the server had not yet seen it close
    assert stays.line(timeout=5) in (b'* 0 RECENT\r\n', b'* 1 RECENT\r\n')
    stays.send('DONE\r\n')
    _, t = stays.until('i')
    assert t == b'i OK IDLE terminated\r\n'
    stays.close()
    m.logout()


def test_commands_in_pieces_and_big_literals_between_idles(srv):
    r = Raw(srv)
    r.login('alice')
    m = imaps(srv)
    box = new_mailbox(m)
    m.logout()
    # a command line in three pieces
    for piece in (b'a SEL', b'ECT ', box.encode() + b'\r\n'):
        r.send(piece)
        time.sleep(0.05)
    lines, t = r.until('a')
    assert t.startswith(b'a OK'), t
    assert b'* 0 EXISTS\r\n' in lines
    # a literal far larger than one read, then a small command
    body = MESSAGE + b'x' * 90000 + b'\r\n'
    r.send(f'b APPEND {box} {{{len(body)}+}}\r\n'.encode() + body + b'\r\n')
    lines, t = r.until('b')
    assert t.startswith(b'b OK'), t
    lines, t = r.cmd('c', 'FETCH 1 RFC822.SIZE')
    assert lines == [b'* 1 FETCH (RFC822.SIZE %d)\r\n' % len(body)], lines
    r.send('i IDLE\r\n')
    assert r.line() == b'+ idling\r\n'
    r.send('DO')
    time.sleep(0.05)
    r.send('NE\r\n')
    _, t = r.until('i')
    assert t == b'i OK IDLE terminated\r\n'
    r.close()
