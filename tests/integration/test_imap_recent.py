# SPDX-License-Identifier: GPL-2.0-or-later
"""\\Recent for IMAP4rev1 sessions (RFC 3501 §2.3.2): a SELECT claims the
messages no session has seen as recent (EXAMINE and IMAP4rev2 sessions
claim none).  Subscriptions as names of their own (RFC 9051 §6.3.7, RFC
5258 §5): SUBSCRIBE of a name without mailbox, DELETE keeping the subscription,
RENAME moving it, LIST (SUBSCRIBED) answering \\NonExistent \\Subscribed,
LSUB answering the name.  Raw sockets against the real daemon."""
import uuid

import pytest

import tlsutil
from test_imap import srv, tmp_root, Raw, imaps, ok, append  # noqa: F401 (fixtures)

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
