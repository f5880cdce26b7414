# SPDX-License-Identifier: GPL-2.0-or-later
"""SORT, THREAD (RFC 5256, SORT=DISPLAY of RFC 5957) and SEARCHRES (RFC 5182)
against the real daemon: messages with crafted headers appended with imaplib,
answers read raw so that every tree and order is compared exactly."""

import re

from test_imap import srv, tmp_root, imaps, ok, new_mailbox, append, Raw  # noqa: F401


def message(frm, subject, date=None, to=None, cc=None, msgid=None, refs=None, irt=None, body_len=10):
    head = f'From: {frm}\r\nSubject: {subject}\r\n'
    for name, value in (('To', to), ('Cc', cc), ('Date', date), ('Message-ID', msgid), ('References', refs),
                        ('In-Reply-To', irt)):
        if value is not None:
            head += f'{name}: {value}\r\n'
    return (head + '\r\n' + 'x' * body_len + '\r\n').encode()


# sequence numbers 1-7 are UIDs 2-8 (UID 1 is expunged)
SORT_MESSAGES = [
    (message('Aaron Zed <zed@example.net>', 'Project kickoff', 'Mon, 7 Dec 2026 09:00:00 +0000',
             to='mary@example.org', msgid='<k1@example.net>', body_len=900), '"07-Dec-2026 12:00:00 +0000"'),
    (message('Amy <amy@example.net>', 'Re: Project kickoff', 'Mon, 7 Dec 2026 10:00:00 +0000', to='bob@example.org',
             cc='carl@example.org', msgid='<k2@example.net>', refs='<k1@example.net>', body_len=100),
     '"07-Dec-2026 11:00:00 +0000"'),
    (message('bob@example.org', 'Lunch', 'Mon, 7 Dec 2026 07:30:00 -0300', msgid='<l1@example.net>', body_len=1500),
     '"07-Dec-2026 10:00:00 +0000"'),
    (message('carl@example.org', 'RE: project KICKOFF', 'Mon, 7 Dec 2026 11:00:00 +0000', to='Ann <zoe@example.org>',
             msgid='<k3@example.net>', refs='<k1@example.net> <k2@example.net>', body_len=300),
     '"07-Dec-2026 09:00:00 +0000"'),
    (message('dora@example.org', '[fwd: Lunch]', None, msgid='<l2@example.net>', irt='<l1@example.net>',
             body_len=1200), '"07-Dec-2026 08:00:00 +0000"'),
    (message('eve@example.org', 'Re: Budget', '7 Dec 2026 12:00 +0000', msgid='<b2@example.net>',
             refs='<b1@example.net>', body_len=600), '"07-Dec-2026 14:00:00 +0000"'),
    (message('fay@example.org', '=?UTF-8?Q?Re=3A_Budget?=', '7 Dec 2026 12:30 +0000', msgid='<b3@example.net>',
             refs='<b1@example.net>', body_len=20), '"07-Dec-2026 13:00:00 +0000"'),
]


def fill(srv, messages, user='bob'):
    m = imaps(srv, user)
    name = new_mailbox(m)
    append(m, name, message('x@example.net', 'expunged'))
    ok(m.select(name))
    ok(m.store('1', '+FLAGS', r'(\Deleted)'))
    ok(m.expunge())
    for msg, date in messages:
        append(m, name, msg, '', date)
    m.logout()
    return name


def session(srv, name, user='bob'):
    r = Raw(srv)
    r.login(user)
    _, t = r.cmd('S', f'SELECT {name}')
    assert t.startswith(b'S OK'), t
    return r


def answer(r, tag, command, word):
    """The numbers of the one untagged `word` answer of `command`."""
    lines, t = r.cmd(tag, command)
    assert t.startswith(tag.encode() + b' OK'), (command, t)
    found = [x for x in lines if x.startswith(b'* ' + word.encode())]
    assert len(found) == 1, (command, lines)
    return found[0][len(word) + 2:].strip().decode()


def failed(r, tag, command):
    lines, t = r.cmd(tag, command)
    assert lines == [], (command, lines)
    return t.decode().rstrip('\r\n')


def test_capabilities(srv):
    r = Raw(srv)
    assert b'SORT' not in r.greeting
    r.login('bob')
    lines, t = r.cmd('C', 'CAPABILITY')
    caps = lines[0].decode().split()
    for cap in ('SEARCHRES', 'SORT', 'SORT=DISPLAY', 'THREAD=ORDEREDSUBJECT', 'THREAD=REFERENCES', 'IMAP4rev2'):
        assert cap in caps, caps
    r.close()


def test_sort_orders(srv):
    name = fill(srv, SORT_MESSAGES)
    sizes = [len(x[0]) for x in SORT_MESSAGES]
    assert sorted(range(1, 8), key=lambda i: sizes[i - 1]) == [7, 2, 4, 6, 1, 5, 3]
    r = session(srv, name)
    cases = {
        '(ARRIVAL)': '5 4 3 2 1 7 6',
        '(REVERSE ARRIVAL)': '6 7 1 2 3 4 5',
        # Date: in UTC; 5 has none and sorts by its internal date
        '(DATE)': '5 1 2 3 4 6 7',
        '(REVERSE DATE)': '7 6 4 3 2 1 5',
        '(SIZE)': '7 2 4 6 1 5 3',
        '(REVERSE SIZE)': '3 5 1 6 4 2 7',
        # base subjects: budget, lunch, project kickoff; ties by sequence number
        '(SUBJECT)': '6 7 3 5 1 2 4',
        '(SUBJECT REVERSE DATE)': '7 6 3 5 4 2 1',
        '(REVERSE SUBJECT)': '1 2 4 3 5 6 7',
        '(REVERSE SUBJECT ARRIVAL)': '4 2 1 5 3 7 6',
        # the first address's local part; none sorts first
        '(FROM)': '2 3 4 5 6 7 1',
        '(REVERSE FROM)': '1 7 6 5 4 3 2',
        '(TO)': '3 5 6 7 2 1 4',
        '(CC)': '1 3 4 5 6 7 2',
        '(CC REVERSE ARRIVAL)': '6 7 1 3 4 5 2',
        # RFC 5957: display name, else the address
        '(DISPLAYFROM)': '1 2 3 4 5 6 7',
        '(DISPLAYTO)': '3 5 6 7 4 2 1',
        '(reverse displayto size)': '1 2 4 7 6 5 3',
    }
    for n, (criteria, want) in enumerate(cases.items()):
        assert answer(r, f'a{n}', f'SORT {criteria} UTF-8 ALL', 'SORT') == want, criteria
    # the search program picks the messages
    assert answer(r, 'b1', 'SORT (DATE) UTF-8 SUBJECT kickoff', 'SORT') == '1 2 4'
    assert answer(r, 'b2', 'SORT (REVERSE ARRIVAL) US-ASCII NOT FROM amy', 'SORT') == '6 7 1 3 4 5'
    assert answer(r, 'b3', 'SORT (SIZE) UTF-8 2:4', 'SORT') == '2 4 3'
    assert answer(r, 'b4', 'SORT (SIZE) UTF-8 SUBJECT nothing', 'SORT') == ''
    # UID SORT answers UIDs
    assert answer(r, 'c1', 'UID SORT (SUBJECT) UTF-8 ALL', 'SORT') == '7 8 4 6 2 3 5'
    assert answer(r, 'c2', 'UID SORT (REVERSE DATE) UTF-8 UID 2:4', 'SORT') == '4 3 2'
    # imaplib agrees
    m = imaps(srv, 'bob')
    ok(m.select(name))
    assert ok(m.sort('(REVERSE SIZE)', 'UTF-8', 'ALL')) == [b'3 5 1 6 4 2 7']
    m.logout()
    r.close()


def test_sort_errors(srv):
    name = fill(srv, SORT_MESSAGES[:2])
    r = session(srv, name)
    assert failed(r, 'e1', 'SORT (FOO) UTF-8 ALL') == 'e1 BAD Unknown sort criterion'
    assert failed(r, 'e2', 'SORT DATE UTF-8 ALL') == 'e2 BAD SORT criteria must be a parenthesised list'
    assert failed(r, 'e3', 'SORT () UTF-8 ALL') == 'e3 BAD Empty sort criteria'
    assert failed(r, 'e4', 'SORT (DATE REVERSE) UTF-8 ALL') == 'e4 BAD REVERSE must precede a sort criterion'
    assert failed(r, 'e5', 'SORT (DATE) KOI8-R ALL') == 'e5 NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset'
    assert failed(r, 'e6', 'SORT (DATE) UTF-8') == 'e6 BAD Wrong number of arguments for SORT'
    assert failed(r, 'e7', 'SORT (DATE) UTF-8 FOO') == 'e7 BAD Unknown search key'
    assert failed(r, 'e8', 'SORT (DATE) UTF-8 RETURN (ALL) ALL') == 'e8 BAD Unknown search key'
    assert failed(r, 'e9', 'THREAD FOO UTF-8 ALL') == 'e9 BAD Unknown threading algorithm'
    assert failed(r, 'e10', 'THREAD REFERENCES UTF-8 SINCE 1-Foo-2020') == 'e10 BAD Invalid date in search key'
    assert failed(r, 'e11', 'THREAD (REFERENCES) UTF-8 ALL') == 'e11 BAD Unknown threading algorithm'
    # not before SELECT
    _, t = r.cmd('u', 'UNSELECT')
    assert t.startswith(b'u OK')
    assert failed(r, 'e12', 'SORT (DATE) UTF-8 ALL') == 'e12 BAD Command not allowed in this state'
    # the session goes on
    _, t = r.cmd('S', f'SELECT {name}')
    assert answer(r, 'f', 'SORT (ARRIVAL) UTF-8 ALL', 'SORT') == '2 1'
    r.close()


def test_thread(srv):
    name = fill(srv, SORT_MESSAGES)
    r = session(srv, name)
    # References (5 by In-Reply-To), a dummy parent for the missing <b1>
    assert answer(r, 't1', 'THREAD REFERENCES UTF-8 ALL', 'THREAD') == '(1 2 4)(3 5)((6)(7))'
    assert answer(r, 't2', 'UID THREAD REFERENCES UTF-8 ALL', 'THREAD') == '(2 3 5)(4 6)((7)(8))'
    # only what matched: the missing parents are dummies, pruned
    assert answer(r, 't3', 'THREAD REFERENCES UTF-8 NOT SUBJECT lunch', 'THREAD') == '(1 2 4)((6)(7))'
    assert answer(r, 't4', 'THREAD REFERENCES UTF-8 FROM carl', 'THREAD') == '(4)'
    assert answer(r, 't5', 'THREAD REFERENCES UTF-8 OR 2 4', 'THREAD') == '(2 4)'
    # by base subject, threads by their first message's sent date, no grandchildren
    assert answer(r, 'o1', 'THREAD ORDEREDSUBJECT UTF-8 ALL', 'THREAD') == '(5 3)(1 (2)(4))(6 7)'
    assert answer(r, 'o2', 'UID THREAD orderedsubject UTF-8 ALL', 'THREAD') == '(6 4)(2 (3)(5))(7 8)'
    lines, t = r.cmd('o3', 'THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing')
    assert lines == [b'* THREAD\r\n'] and t.startswith(b'o3 OK'), lines
    m = imaps(srv, 'bob')
    ok(m.select(name))
    assert ok(m.thread('REFERENCES', 'UTF-8', 'ALL')) == [b'(1 2 4)(3 5)((6)(7))']
    m.logout()
    r.close()


def test_thread_subject_merging(srv):
    msgs = [
        (message('a@example.org', 'Hello', 'Mon, 7 Dec 2026 10:00:00 +0000', msgid='<h1@x.example>'), None),
        (message('b@example.org', 'Re: hello', 'Mon, 7 Dec 2026 10:05:00 +0000', msgid='<h2@x.example>'), None),
        (message('c@example.org', '[list] Hello', 'Mon, 7 Dec 2026 10:10:00 +0000', msgid='<h3@x.example>'), None),
        # a duplicate Message-ID: its own thread, the reply goes to the first
        (message('d@example.org', 'Other', 'Mon, 7 Dec 2026 09:00:00 +0000', msgid='<h1@x.example>'), None),
        (message('e@example.org', 'Re: nothing alike', 'Mon, 7 Dec 2026 10:20:00 +0000', msgid='<h5@x.example>',
                 refs='<h1@x.example>'), None),
        # a loop of References
        (message('f@example.org', 'Loop a', 'Mon, 7 Dec 2026 11:00:00 +0000', msgid='<la@x.example>',
                 refs='<lb@x.example>'), None),
        (message('g@example.org', 'Loop b', 'Mon, 7 Dec 2026 11:05:00 +0000', msgid='<lb@x.example>',
                 refs='<la@x.example>'), None),
    ]
    name = fill(srv, msgs)
    r = session(srv, name)
    # 2 (a reply) joins 1; 3 (not a reply) and 1 get a dummy parent
    assert answer(r, 't1', 'THREAD REFERENCES UTF-8 ALL', 'THREAD') == '(4)((1 (2)(5))(3))(7 6)'
    assert answer(r, 't2', 'THREAD ORDEREDSUBJECT UTF-8 ALL', 'THREAD') == '(4)(1 (2)(3))(5)(6)(7)'
    r.close()


def test_searchres(srv):
    msgs = [(message('a@example.org', f'm{i}', 'Mon, 7 Dec 2026 10:00:00 +0000'), None) for i in range(1, 6)]
    name = fill(srv, msgs)
    m = imaps(srv, 'bob')
    other = new_mailbox(m)
    m.logout()
    r = session(srv, name)
    # "$" before any SAVE: the empty set
    lines, t = r.cmd('a1', 'FETCH $ (UID)')
    assert lines == [] and t.startswith(b'a1 OK'), (lines, t)
    assert answer(r, 'a2', 'SEARCH $', 'SEARCH') == ''
    assert answer(r, 'a3', 'SEARCH NOT $', 'SEARCH') == '1 2 3 4 5'
    # RETURN (SAVE) alone: no answer but OK
    lines, t = r.cmd('b1', 'SEARCH RETURN (SAVE) OR SUBJECT m2 SUBJECT m4')
    assert lines == [] and t.startswith(b'b1 OK'), (lines, t)
    lines, t = r.cmd('b2', 'FETCH $ (UID)')
    assert lines == [b'* 2 FETCH (UID 3)\r\n', b'* 4 FETCH (UID 5)\r\n'] and t.startswith(b'b2 OK'), lines
    lines, t = r.cmd('b3', r'UID STORE $ +FLAGS (\Flagged)')
    assert lines == [b'* 2 FETCH (UID 3 FLAGS (\\Flagged))\r\n', b'* 4 FETCH (UID 5 FLAGS (\\Flagged))\r\n'], lines
    assert answer(r, 'b4', 'SEARCH FLAGGED', 'SEARCH') == '2 4'
    assert answer(r, 'b5', 'SEARCH $', 'SEARCH') == '2 4'
    assert answer(r, 'b6', 'SEARCH NOT $', 'SEARCH') == '1 3 5'
    assert answer(r, 'b7', 'UID SEARCH UID $', 'SEARCH') == '3 5'
    assert answer(r, 'b8', 'SORT (REVERSE SUBJECT) UTF-8 $', 'SORT') == '4 2'
    assert answer(r, 'b9', 'THREAD ORDEREDSUBJECT UTF-8 $', 'THREAD') == '(2)(4)'
    lines, t = r.cmd('b10', f'COPY $ {other}')
    assert t.startswith(b'b10 OK [COPYUID '), t
    lines, _ = r.cmd('b11', f'STATUS {other} (MESSAGES)')
    assert lines == [f'* STATUS "{other}" (MESSAGES 2)\r\n'.encode()], lines
    # the saved result is of UIDs: an expunge does not shift it
    r.cmd('c1', r'STORE 2 +FLAGS.SILENT (\Deleted)')
    lines, t = r.cmd('c2', 'EXPUNGE')
    assert [x for x in lines if b'EXPUNGE' in x] == [b'* 2 EXPUNGE\r\n'], lines
    lines, t = r.cmd('c3', 'FETCH $ (UID)')
    assert lines == [b'* 3 FETCH (UID 5)\r\n'], lines
    # SAVE with MIN or MAX saves only those; with ALL or COUNT everything
    assert answer(r, 'd1', 'SEARCH RETURN (SAVE MIN) ALL', 'ESEARCH') == '(TAG "d1") MIN 1'
    lines, _ = r.cmd('d2', 'FETCH $ (UID)')
    assert lines == [b'* 1 FETCH (UID 2)\r\n'], lines
    assert answer(r, 'd3', 'UID SEARCH RETURN (SAVE MIN MAX) NOT 1', 'ESEARCH') == '(TAG "d3") UID MIN 4 MAX 6'
    assert answer(r, 'd4', 'SEARCH $', 'SEARCH') == '2 4'
    assert answer(r, 'd5', 'SEARCH RETURN (COUNT SAVE MAX) 2:3', 'ESEARCH') == '(TAG "d5") MAX 3 COUNT 2'
    assert answer(r, 'd6', 'SEARCH $', 'SEARCH') == '2 3'
    # a SEARCH that uses $ and saves: the old $ is read, the new one saved
    lines, t = r.cmd('d7', 'SEARCH RETURN (SAVE) NOT $')
    assert lines == [] and t.startswith(b'd7 OK')
    assert answer(r, 'd8', 'SEARCH $', 'SEARCH') == '1 4'
    # a failed SEARCH with SAVE empties it
    assert failed(r, 'e1', 'SEARCH RETURN (SAVE) FOO') == 'e1 BAD Unknown search key'
    assert answer(r, 'e2', 'SEARCH $', 'SEARCH') == ''
    r.cmd('e3', 'SEARCH RETURN (SAVE) ALL')
    assert failed(r, 'e4', 'SEARCH RETURN (SAVE) CHARSET KOI8-R ALL').startswith('e4 NO [BADCHARSET')
    assert answer(r, 'e5', 'SEARCH $', 'SEARCH') == ''
    # a SEARCH without SAVE leaves it alone
    r.cmd('e6', 'SEARCH RETURN (SAVE) 3')
    assert answer(r, 'e7', 'SEARCH 1:2', 'SEARCH') == '1 2'
    assert failed(r, 'e8', 'SEARCH FOO') == 'e8 BAD Unknown search key'
    assert answer(r, 'e9', 'SEARCH $', 'SEARCH') == '3'
    # UID EXPUNGE $ and MOVE $
    r.cmd('f1', r'STORE 1:4 +FLAGS.SILENT (\Deleted)')
    lines, t = r.cmd('f2', 'UID EXPUNGE $')
    assert [x for x in lines if b'EXPUNGE' in x] == [b'* 3 EXPUNGE\r\n'] and t.startswith(b'f2 OK'), lines
    r.cmd('f3', 'SEARCH RETURN (SAVE) 1')
    lines, t = r.cmd('f4', f'MOVE $ {other}')
    assert t.startswith(b'f4 OK'), t
    assert [x for x in lines if b'EXPUNGE' in x] == [b'* 1 EXPUNGE\r\n'], lines
    assert answer(r, 'f5', 'SEARCH $', 'SEARCH') == ''
    # SELECT, UNSELECT and CLOSE reset it
    r.cmd('g1', 'SEARCH RETURN (SAVE) ALL')
    assert answer(r, 'g2', 'SEARCH $', 'SEARCH') == '1 2'
    r.cmd('g3', f'SELECT {name}')
    assert answer(r, 'g4', 'SEARCH $', 'SEARCH') == ''
    r.cmd('g5', 'SEARCH RETURN (SAVE) ALL')
    r.cmd('g6', 'UNSELECT')
    r.cmd('g7', f'EXAMINE {name}')
    assert answer(r, 'g8', 'SEARCH $', 'SEARCH') == ''
    r.cmd('g9', 'SEARCH RETURN (SAVE) ALL')
    r.cmd('g10', 'CLOSE')
    r.cmd('g11', f'SELECT {name}')
    assert answer(r, 'g12', 'SEARCH $', 'SEARCH') == ''
    r.close()


def test_searchres_rev2(srv):
    msgs = [(message('a@example.org', f'm{i}'), None) for i in range(1, 4)]
    name = fill(srv, msgs)
    r = Raw(srv)
    r.login('bob')
    lines, _ = r.cmd('e', 'ENABLE IMAP4rev2')
    assert lines == [b'* ENABLED IMAP4rev2\r\n']
    r.cmd('s', f'SELECT {name}')
    # RETURN (SAVE) alone gives no ESEARCH in rev2 either
    lines, t = r.cmd('a', 'SEARCH RETURN (SAVE) 2:3')
    assert lines == [] and t.startswith(b'a OK'), lines
    assert answer(r, 'b', 'SEARCH $', 'ESEARCH') == '(TAG "b") ALL 2:3'
    lines, _ = r.cmd('c', 'FETCH $ (UID)')
    assert lines == [b'* 2 FETCH (UID 3)\r\n', b'* 3 FETCH (UID 4)\r\n'], lines
    r.close()
