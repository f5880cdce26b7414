# SPDX-License-Identifier: GPL-2.0-or-later
"""\\Recent for IMAP4rev1 sessions (RFC 3501 §2.3.2): a SELECT claims the
messages no session has seen as recent (EXAMINE and IMAP4rev2 sessions
claim none); a synchronisation that finds new messages claims them too,
so exactly one session sees a message as recent; FETCH FLAGS, SEARCH
RECENT/NEW/OLD and STATUS RECENT; keywords in FLAGS.  Subscriptions as names of their own (RFC 9051 §6.3.7, RFC
5258 §5): SUBSCRIBE of a name without mailbox, DELETE keeping the subscription,
RENAME moving it, LIST (SUBSCRIBED) answering \\NonExistent \\Subscribed,
LSUB answering the name.  Raw sockets against the real daemon."""
import uuid

import pytest

import tlsutil
from test_imap import srv, tmp_root, Raw, imaps, ok, append, deliver  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.skipif(not tlsutil.have_certtool(), reason='certtool (Debian package gnutls-bin) is not installed'),
]


def session(d, rev2=False):
    r = Raw(d)
    r.login('alice')
    if rev2:
        lines, t = r.cmd('E', 'ENABLE IMAP4rev2')
        assert lines == [b'* ENABLED IMAP4rev2\r\n'] and t.startswith(b'E OK'), (lines, t)
    return r


def run(r, text):
    lines, t = r.cmd('T', text)
    assert t.startswith(b'T OK'), (text, lines, t)
    return [line.decode()[:-2] for line in lines]


def test_subscribe_missing_name_and_delete_keeps_it(srv):
    top = 'S' + uuid.uuid4().hex[:10]
    r = session(srv)
    # a name without mailbox can be subscribed (was NO [NONEXISTENT])
    assert run(r, f'SUBSCRIBE {top}/Ghost') == []
    assert run(r, f'LIST (SUBSCRIBED) "" "{top}*"') == [
        f'* LIST (\\NonExistent \\Subscribed \\HasNoChildren) "/" "{top}/Ghost"',
    ]
    # LSUB: the name itself, and with "%" its parent as \Noselect
    assert run(r, f'LSUB "" "{top}*"') == [f'* LSUB (\\HasNoChildren) "/" "{top}/Ghost"']
    assert run(r, f'LSUB "" "{top}"') == [f'* LSUB (\\Noselect \\HasNoChildren) "/" "{top}"']
    # RECURSIVEMATCH: the missing parent with CHILDINFO
    assert run(r, f'LIST (SUBSCRIBED RECURSIVEMATCH) "" "{top}"') == [
        f'* LIST (\\NonExistent \\HasNoChildren) "/" "{top}" ("CHILDINFO" ("SUBSCRIBED"))',
    ]
    # a plain LIST does not show it
    assert run(r, f'LIST "" "{top}*"') == []
    assert run(r, f'LIST "" "{top}*" RETURN (SUBSCRIBED)') == []

    # a created mailbox is subscribed; DELETE keeps the subscription
    assert run(r, f'CREATE {top}/Box') == []
    assert run(r, f'LIST "" "{top}/*" RETURN (SUBSCRIBED)') == [
        f'* LIST (\\Subscribed \\HasNoChildren) "/" "{top}/Box"',
    ]
    assert run(r, f'DELETE {top}/Box') == []
    assert run(r, f'LIST (SUBSCRIBED) "" "{top}/*"') == [
        f'* LIST (\\NonExistent \\Subscribed \\HasNoChildren) "/" "{top}/Box"',
        f'* LIST (\\NonExistent \\Subscribed \\HasNoChildren) "/" "{top}/Ghost"',
    ]
    # IMAP4rev2 says the same
    r2 = session(srv, rev2=True)
    assert run(r2, f'LIST (SUBSCRIBED) "" "{top}/*"') == run(r, f'LIST (SUBSCRIBED) "" "{top}/*"')
    r2.close()
    # created again: still subscribed, and exists
    assert run(r, f'CREATE {top}/Ghost') == []
    assert run(r, f'LIST (SUBSCRIBED) "" "{top}/*"') == [
        f'* LIST (\\NonExistent \\Subscribed \\HasNoChildren) "/" "{top}/Box"',
        f'* LIST (\\Subscribed \\HasNoChildren) "/" "{top}/Ghost"',
    ]
    # UNSUBSCRIBE of a missing name takes it away
    assert run(r, f'UNSUBSCRIBE {top}/Box') == []
    assert run(r, f'LSUB "" "{top}/*"') == [f'* LSUB (\\HasNoChildren) "/" "{top}/Ghost"']
    r.close()


def test_rename_moves_subscriptions(srv):
    top = 'R' + uuid.uuid4().hex[:10]
    r = session(srv)
    assert run(r, f'CREATE {top}/a/b') == []
    assert run(r, f'CREATE {top}/c') == []
    assert run(r, f'UNSUBSCRIBE {top}/c') == []
    assert run(r, f'LSUB "" "{top}*"') == [
        f'* LSUB (\\HasChildren) "/" "{top}"',
        f'* LSUB (\\HasChildren) "/" "{top}/a"',
        f'* LSUB (\\HasNoChildren) "/" "{top}/a/b"',
    ]
    assert run(r, f'RENAME {top} {top}x') == []
    assert run(r, f'LSUB "" "{top}*"') == [
        f'* LSUB (\\HasChildren) "/" "{top}x"',
        f'* LSUB (\\HasChildren) "/" "{top}x/a"',
        f'* LSUB (\\HasNoChildren) "/" "{top}x/a/b"',
    ]
    assert run(r, f'LIST "" "{top}x/*" RETURN (SUBSCRIBED)') == [
        f'* LIST (\\Subscribed \\HasChildren) "/" "{top}x/a"',
        f'* LIST (\\Subscribed \\HasNoChildren) "/" "{top}x/a/b"',
        f'* LIST (\\HasNoChildren) "/" "{top}x/c"',
    ]
    r.close()


def test_subscribe_bad_names(srv):
    r = session(srv)
    _, t = r.cmd('T', 'SUBSCRIBE "a//b"')
    assert t == b'T NO [CANNOT] Invalid mailbox name\r\n', t
    _, t = r.cmd('T', 'SUBSCRIBE')
    assert t.startswith(b'T BAD'), t
    r.close()


def select_lines(r, cmd, name):
    lines, t = r.cmd('S', f'{cmd} {name}')
    assert t.startswith(b'S OK'), (lines, t)
    return [line.decode()[:-2] for line in lines]


def test_recent_claimed_by_one_select(srv):
    name = 'N' + uuid.uuid4().hex[:10]
    m = imaps(srv)
    ok(m.create(name))
    append(m, name)
    append(m, name)
    a, b, e, v2 = session(srv), session(srv), session(srv), session(srv, rev2=True)
    # EXAMINE and an IMAP4rev2 SELECT claim nothing
    assert '* 0 RECENT' in select_lines(e, 'EXAMINE', name)
    assert not [x for x in select_lines(v2, 'SELECT', name) if x.endswith('RECENT')]
    # the first rev1 SELECT takes both messages, the next one none
    la = select_lines(a, 'SELECT', name)
    assert '* 2 EXISTS' in la and '* 2 RECENT' in la, la
    lb = select_lines(b, 'SELECT', name)
    assert '* 2 EXISTS' in lb and '* 0 RECENT' in lb, lb
    # a new message: the next SELECT sees it, and only it, as recent
    append(m, name)
    la = select_lines(a, 'SELECT', name)
    assert '* 3 EXISTS' in la and '* 1 RECENT' in la, la
    la = select_lines(a, 'SELECT', name)
    assert '* 0 RECENT' in la, la
    for r in (a, b, e, v2):
        r.close()
    m.logout()


SYSTEM = '\\Answered \\Flagged \\Deleted \\Seen \\Draft'


def uids_of(lines):
    """UID SEARCH's answer as a list of ints."""
    assert len(lines) == 1 and lines[0].startswith('* SEARCH'), lines
    return [int(x) for x in lines[0].split()[2:]]


def test_recent_of_new_messages_goes_to_one_session(srv):
    name = 'N' + uuid.uuid4().hex[:10]
    m = imaps(srv)
    ok(m.create(name))
    a, b, e, v2 = session(srv), session(srv), session(srv), session(srv, rev2=True)
    for r, cmd in ((a, 'SELECT'), (b, 'SELECT'), (e, 'EXAMINE'), (v2, 'SELECT')):
        select_lines(r, cmd, name)
    append(m, name)
    # every session hears of it; the first rev1 SELECT to synchronise takes it
    assert run(a, 'NOOP') == ['* 1 EXISTS', '* 1 RECENT']
    assert run(b, 'NOOP') == ['* 1 EXISTS', '* 0 RECENT']
    assert run(e, 'NOOP') == ['* 1 EXISTS', '* 0 RECENT']
    assert run(v2, 'NOOP') == ['* 1 EXISTS']
    assert run(a, 'FETCH 1 FLAGS') == ['* 1 FETCH (FLAGS (\\Recent))']
    assert run(b, 'FETCH 1 FLAGS') == ['* 1 FETCH (FLAGS ())']
    assert run(e, 'FETCH 1 FLAGS') == ['* 1 FETCH (FLAGS ())']
    assert run(v2, 'FETCH 1 FLAGS') == ['* 1 FETCH (FLAGS ())']
    # two more, one APPENDed by a session that has the mailbox selected:
    # its APPEND synchronises, and claims both
    append(m, name, flags='(\\Seen)')
    body = 'Subject: appended\r\n\r\nhi\r\n'
    a.send(f'T APPEND {name} {{{len(body)}+}}\r\n{body}\r\n')
    lines, t = a.until('T')
    assert t.startswith(b'T OK [APPENDUID'), (lines, t)
    assert [x.decode()[:-2] for x in lines] == ['* 3 EXISTS', '* 3 RECENT']
    assert run(b, 'NOOP') == ['* 3 EXISTS', '* 0 RECENT']
    # STORE answers with \Recent; \Recent cannot be stored
    assert run(a, 'STORE 2 +FLAGS (\\Flagged)') == ['* 2 FETCH (FLAGS (\\Seen \\Flagged \\Recent))']
    assert run(b, 'STORE 2 -FLAGS (\\Flagged)') == ['* 2 FETCH (FLAGS (\\Seen))']
    _, t = a.cmd('T', 'STORE 1 +FLAGS (\\Recent)')
    assert t.startswith(b'T BAD'), t
    # the sync of a flag change carries \Recent too
    assert run(a, 'NOOP') == ['* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent))']
    # an expunged message leaves the count
    assert run(a, 'STORE 1 +FLAGS.SILENT (\\Deleted)') == []
    assert run(a, 'EXPUNGE') == ['* 1 EXPUNGE']
    assert run(a, 'FETCH 1:* FLAGS') == ['* 1 FETCH (FLAGS (\\Seen \\Recent))', '* 2 FETCH (FLAGS (\\Recent))']
    # a SELECT again: what the session claimed is gone with the view
    assert '* 0 RECENT' in select_lines(a, 'SELECT', name)
    assert run(a, 'FETCH 1:* FLAGS') == ['* 1 FETCH (FLAGS (\\Seen))', '* 2 FETCH (FLAGS ())']
    for r in (a, b, e, v2):
        r.close()
    m.logout()


def test_recent_of_smtp_delivery_to_idling_sessions(srv):
    a, b = Raw(srv), Raw(srv)
    a.login('bob')
    b.login('bob')
    select_lines(a, 'SELECT', 'INBOX')
    select_lines(b, 'SELECT', 'INBOX')
    la = select_lines(a, 'SELECT', 'INBOX')  # what the first SELECT claimed is gone
    assert '* 0 RECENT' in la, la
    n = next(int(x.split()[1]) for x in la if x.endswith(' EXISTS'))
    for r in (a, b):
        r.send('I IDLE\r\n')
        assert r.line() == b'+ idling\r\n'
    deliver(srv, 'bob@example.org', 'recent while idling')
    recent = []
    for r in (a, b):
        assert r.line(timeout=5) == b'* %d EXISTS\r\n' % (n + 1)
        line = r.line(timeout=5).decode()
        assert line in ('* 0 RECENT\r\n', '* 1 RECENT\r\n'), line
        recent.append(int(line.split()[1]))
        r.send('DONE\r\n')
        lines, t = r.until('I')
        assert lines == [] and t == b'I OK IDLE terminated\r\n', (lines, t)
    assert sorted(recent) == [0, 1]
    flags = [run(r, f'FETCH {n + 1} FLAGS') for r in (a, b)]
    assert sorted(flags) == [[f'* {n + 1} FETCH (FLAGS ())'], [f'* {n + 1} FETCH (FLAGS (\\Recent))']], flags
    assert flags[recent.index(1)] == [f'* {n + 1} FETCH (FLAGS (\\Recent))']
    a.close()
    b.close()


def test_search_recent_new_old(srv):
    name = 'S' + uuid.uuid4().hex[:10]
    m = imaps(srv)
    ok(m.create(name))
    append(m, name)
    append(m, name, flags='(\\Seen)')
    a, b, v2 = session(srv), session(srv), session(srv, rev2=True)
    assert '* 2 RECENT' in select_lines(b, 'SELECT', name)
    assert '* 0 RECENT' in select_lines(a, 'SELECT', name)
    select_lines(v2, 'SELECT', name)
    append(m, name, flags='(\\Seen)')
    append(m, name)
    assert run(a, 'NOOP') == ['* 4 EXISTS', '* 2 RECENT']
    assert run(b, 'NOOP') == ['* 4 EXISTS', '* 2 RECENT']
    assert uids_of(run(a, 'UID SEARCH RECENT')) == [3, 4]
    assert uids_of(run(a, 'UID SEARCH NEW')) == [4]
    assert uids_of(run(a, 'UID SEARCH OLD')) == [1, 2]
    assert uids_of(run(a, 'UID SEARCH NOT NEW')) == [1, 2, 3]
    assert uids_of(run(a, 'UID SEARCH OR NEW SEEN')) == [2, 3, 4]
    assert uids_of(run(b, 'UID SEARCH RECENT')) == [1, 2]
    assert uids_of(run(b, 'UID SEARCH NEW')) == [1]
    assert uids_of(run(b, 'UID SEARCH OLD')) == [3, 4]
    assert run(b, 'SEARCH RECENT UNSEEN') == ['* SEARCH 1']
    # IMAP4rev2 has no \Recent: RECENT and NEW match nothing, OLD everything
    assert run(v2, 'NOOP') == ['* 4 EXISTS']
    assert run(v2, 'UID SEARCH RECENT') == ['* ESEARCH (TAG "T") UID']
    assert run(v2, 'UID SEARCH NEW') == ['* ESEARCH (TAG "T") UID']
    assert run(v2, 'UID SEARCH OLD') == ['* ESEARCH (TAG "T") UID ALL 1:4']
    for r in (a, b, v2):
        r.close()
    m.logout()


def test_status_recent_reads_without_claiming(srv):
    name = 'U' + uuid.uuid4().hex[:10]
    m = imaps(srv)
    ok(m.create(name))
    append(m, name)
    append(m, name)
    a, v2 = session(srv), session(srv, rev2=True)
    for _ in range(2):
        assert run(a, f'STATUS {name} (MESSAGES RECENT)') == [f'* STATUS "{name}" (MESSAGES 2 RECENT 2)']
    select_lines(a, 'EXAMINE', name)
    assert run(a, f'STATUS {name} (RECENT)') == [f'* STATUS "{name}" (RECENT 2)']
    assert '* 2 RECENT' in select_lines(a, 'SELECT', name)
    assert run(a, f'STATUS {name} (RECENT)') == [f'* STATUS "{name}" (RECENT 0)']
    append(m, name)
    assert run(a, f'STATUS {name} (RECENT UNSEEN)') == [f'* STATUS "{name}" (RECENT 1 UNSEEN 3)']
    # RECENT is not an IMAP4rev2 status item
    _, t = v2.cmd('T', f'STATUS {name} (RECENT)')
    assert t.startswith(b'T BAD'), t
    a.close()
    v2.close()
    m.logout()


def test_keywords_in_flags(srv):
    name = 'K' + uuid.uuid4().hex[:10]
    m = imaps(srv)
    ok(m.create(name))
    append(m, name, flags='(\\Seen $Work)')
    append(m, name, flags='(Later $work)')
    a, b, e = session(srv), session(srv), session(srv)
    la = select_lines(a, 'SELECT', name)
    assert f'* FLAGS ({SYSTEM} $Work Later)' in la, la
    assert f'* OK [PERMANENTFLAGS ({SYSTEM} $Work Later \\*)] Flags permitted' in la, la
    le = select_lines(e, 'EXAMINE', name)
    assert f'* FLAGS ({SYSTEM} $Work Later)' in le, le
    assert '* OK [PERMANENTFLAGS ()] Read-only mailbox' in le, le
    select_lines(b, 'SELECT', name)
    # a new keyword: FLAGS and PERMANENTFLAGS again, before the FETCH
    assert run(a, 'STORE 1 +FLAGS (Urgent)') == [
        f'* FLAGS ({SYSTEM} $Work Later Urgent)',
        f'* OK [PERMANENTFLAGS ({SYSTEM} $Work Later Urgent \\*)] Flags permitted',
        '* 1 FETCH (FLAGS (\\Seen \\Recent $Work Urgent))',
    ]
    # known keywords (in any case) do not repeat it; .SILENT still tells a new one
    assert run(a, 'STORE 2 +FLAGS (urgent)') == ['* 2 FETCH (FLAGS (\\Recent $work Later urgent))']
    assert run(a, 'STORE 2 +FLAGS.SILENT (Done)') == [
        f'* FLAGS ({SYSTEM} $Work Later Urgent Done)',
        f'* OK [PERMANENTFLAGS ({SYSTEM} $Work Later Urgent Done \\*)] Flags permitted',
    ]
    # another session learns them at its synchronisation
    assert run(b, 'NOOP') == [
        f'* FLAGS ({SYSTEM} $Work Later Urgent)',
        f'* OK [PERMANENTFLAGS ({SYSTEM} $Work Later Urgent \\*)] Flags permitted',
        '* 1 FETCH (UID 1 FLAGS (\\Seen $Work Urgent))',
        f'* FLAGS ({SYSTEM} $Work Later Urgent Done)',
        f'* OK [PERMANENTFLAGS ({SYSTEM} $Work Later Urgent Done \\*)] Flags permitted',
        '* 2 FETCH (UID 2 FLAGS ($work Done Later urgent))',
    ]
    assert run(e, 'NOOP') == [
        f'* FLAGS ({SYSTEM} $Work Later Urgent)',
        '* OK [PERMANENTFLAGS ()] Read-only mailbox',
        '* 1 FETCH (UID 1 FLAGS (\\Seen $Work Urgent))',
        f'* FLAGS ({SYSTEM} $Work Later Urgent Done)',
        '* OK [PERMANENTFLAGS ()] Read-only mailbox',
        '* 2 FETCH (UID 2 FLAGS ($work Done Later urgent))',
    ]
    # a message appended with a new keyword: FLAGS before EXISTS
    append(m, name, flags='(Fresh)')
    assert run(b, 'NOOP') == [
        f'* FLAGS ({SYSTEM} $Work Later Urgent Done Fresh)',
        f'* OK [PERMANENTFLAGS ({SYSTEM} $Work Later Urgent Done Fresh \\*)] Flags permitted',
        '* 3 EXISTS',
        '* 1 RECENT',
    ]
    assert run(b, 'FETCH 3 FLAGS') == ['* 3 FETCH (FLAGS (\\Recent Fresh))']
    # a FETCH that reads a keyword the session was not told of (set by
    # another session, before the synchronisation) tells it first too
    assert run(b, 'STORE 2 +FLAGS.SILENT (Fetched)') == [
        f'* FLAGS ({SYSTEM} $Work Later Urgent Done Fresh Fetched)',
        f'* OK [PERMANENTFLAGS ({SYSTEM} $Work Later Urgent Done Fresh Fetched \\*)] Flags permitted',
    ]
    assert run(e, 'FETCH 2 FLAGS') == [
        f'* FLAGS ({SYSTEM} $Work Later Urgent Done Fetched)',
        '* OK [PERMANENTFLAGS ()] Read-only mailbox',
        '* 2 FETCH (FLAGS ($work Done Fetched Later urgent))',
    ]
    for r in (a, b, e):
        r.close()
    m.logout()
