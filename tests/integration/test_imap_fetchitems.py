# SPDX-License-Identifier: GPL-2.0-or-later
"""FETCH items and session options beyond the IMAP foundation, as clients
see them: BINARY (RFC 3516: decoded parts, BINARY.SIZE, partials, literal8,
UNKNOWN-CTE, APPEND of a literal8), OBJECTID (RFC 8474: EMAILID, THREADID,
SEARCH by them, MAILBOXID in CREATE, SELECT and STATUS) and UTF8=ACCEPT
(RFC 6855: UTF-8 mailbox names, APPEND ... UTF8 (~{n})).

Raw sockets (the Raw helper of test_imap.py) where the exact octets
matter, imaplib elsewhere; the daemon is the one of test_imap.py's srv
fixture (one per test module).
"""
import base64
import imaplib
import re
import smtplib
import uuid

import pytest

from test_imap import srv, tmp_root, imaps, ok, new_mailbox, append, Raw  # noqa: F401 (fixtures)

# bytes 0..255 four times: NULs included
BLOB = bytes(range(256)) * 4
B64 = base64.encodebytes(BLOB).replace(b'\n', b'\r\n').rstrip(b'\r\n')
# quoted-printable by hand: an encoded UTF-8 word, "=3D", a soft line break
QP_TEXT = b'caf\xc3\xa9 \xe2\x82\xac =sign\r\nsecond line, long enough to be broken here'
QP = b'caf=C3=A9 =E2=82=AC =3Dsign\r\nsecond line, long enough =\r\nto be broken here'
ALT = (b'Content-Type: multipart/alternative; boundary="b2"\r\n'
       b'\r\n'
       b'--b2\r\n'
       b'Content-Type: text/plain\r\n'
       b'\r\n'
       b'plain\r\n'
       b'--b2\r\n'
       b'Content-Type: text/html\r\n'
       b'\r\n'
       b'<p>html</p>\r\n'
       b'--b2--')
BINARY_MESSAGE = (b'From: Sender <sender@example.net>\r\n'
                  b'To: Alice <alice@example.org>\r\n'
                  b'Subject: binary parts\r\n'
                  b'MIME-Version: 1.0\r\n'
                  b'Content-Type: multipart/mixed; boundary="b1"\r\n'
                  b'\r\n'
                  b'--b1\r\n'
                  b'Content-Type: text/plain; charset=utf-8\r\n'
                  b'Content-Transfer-Encoding: quoted-printable\r\n'
                  b'\r\n' + QP + b'\r\n'
                  b'--b1\r\n'
                  b'Content-Type: application/octet-stream\r\n'
                  b'Content-Transfer-Encoding: Base64\r\n'
                  b'\r\n' + B64 + b'\r\n'
                  b'--b1\r\n'
                  b'Content-Type: application/octet-stream\r\n'
                  b'Content-Transfer-Encoding: x-uuencode\r\n'
                  b'\r\n'
                  b'begin 644 x\r\n'
                  b'--b1\r\n' + ALT + b'\r\n'
                  b'--b1--\r\n')


def fetch_items(line):
    """The BINARY/BODY items of one FETCH response: name -> (literal8, octets)
    for literals, name -> text for the others (NIL, numbers)."""
    out = {}
    pos = 0
    item = re.compile(rb'(BINARY\.SIZE\[[\d.]*\]|BINARY\[[\d.]*\](?:<\d+>)?|BODY\[[^\]]*\](?:<\d+>)?) ')
    while True:
        m = item.search(line, pos)
        if m is None:
            return out
        name = m.group(1).decode()
        pos = m.end()
        lit = re.match(rb'(~?)\{(\d+)\}\r\n', line[pos:])
        if lit:
            n = int(lit.group(2))
            start = pos + lit.end()
            out[name] = (lit.group(1) == b'~', line[start:start + n])
            pos = start + n
        else:
            word = re.match(rb'[^ )]+', line[pos:]).group(0)
            out[name] = word.decode()
            pos += len(word)


def raw_session(srv, mailbox, message, examine=False):
    m = imaps(srv)
    append(m, mailbox, message)
    m.logout()
    r = Raw(srv)
    r.login()
    _, t = r.cmd('s', f'{"EXAMINE" if examine else "SELECT"} {mailbox}')
    assert t.startswith(b's OK'), t
    return r


def imaps_store(srv, mailbox, uids, what, flags):
    m = imaps(srv)
    ok(m.select(mailbox))
    result = m.uid('STORE', uids, what, flags)
    m.logout()
    return result


def test_capabilities(srv):
    m = imaps(srv)
    caps = ok(m.capability())[0].split()
    for cap in (b'BINARY', b'OBJECTID', b'UTF8=ACCEPT'):
        assert cap in caps, caps
    m.logout()


def test_binary_base64_qp_sizes_and_partials(srv):
    m = imaps(srv)
    box = new_mailbox(m)
    m.logout()
    r = raw_session(srv, box, BINARY_MESSAGE)
    lines, t = r.cmd('f', 'FETCH 1 (BINARY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[1] BINARY.SIZE[2])')
    assert t == b'f OK FETCH completed\r\n'
    assert len(lines) == 1 and lines[0].startswith(b'* 1 FETCH (')
    items = fetch_items(lines[0])
    # byte-exact with what was encoded; the part with NULs as literal8
    assert items['BINARY[1]'] == (False, QP_TEXT)
    assert items['BINARY[2]'] == (True, BLOB)
    assert items['BINARY.SIZE[1]'] == str(len(QP_TEXT))
    assert items['BINARY.SIZE[2]'] == str(len(BLOB))
    assert b'FLAGS' not in lines[0]  # PEEK

    # partials count decoded octets; "~" only when the slice holds a NUL
    lines, t = r.cmd('g', 'FETCH 1 (BINARY.PEEK[2]<10.20>)')
    assert t.startswith(b'g OK')
    assert lines == [b'* 1 FETCH (BINARY[2]<10> {20}\r\n' + BLOB[10:30] + b')\r\n']
    lines, t = r.cmd('h', 'FETCH 1 (BINARY.PEEK[2]<250.10>)')
    assert lines == [b'* 1 FETCH (BINARY[2]<250> ~{10}\r\n' + BLOB[250:260] + b')\r\n']
    lines, t = r.cmd('i', 'FETCH 1 (BINARY.PEEK[1]<1000.5>)')
    assert lines == [b'* 1 FETCH (BINARY[1]<1000> {0}\r\n)\r\n']

    # a multipart part has no encoding to undo: BINARY[4] is BODY[4]
    lines, t = r.cmd('j', 'FETCH 1 (BINARY.PEEK[4] BODY.PEEK[4] BINARY.SIZE[4])')
    items = fetch_items(lines[0])
    assert items['BINARY[4]'] == (False, ALT.split(b'\r\n\r\n', 1)[1])
    assert items['BODY[4]'][1] == items['BINARY[4]'][1]
    assert items['BINARY.SIZE[4]'] == str(len(items['BINARY[4]'][1]))
    # a part of it, and a part that does not exist
    lines, t = r.cmd('k', 'UID FETCH 1 (BINARY.PEEK[4.2] BINARY.PEEK[9] BINARY.SIZE[9])')
    assert t.startswith(b'k OK')
    assert lines == [b'* 1 FETCH (UID 1 BINARY[4.2] {11}\r\n<p>html</p> BINARY[9] NIL BINARY.SIZE[9] 0)\r\n']

    # a message that is not multipart: its part 1 is its body
    single = (b'Subject: single\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n'
              b'Content-Transfer-Encoding: base64\r\n\r\n' + base64.b64encode(b'hello\x00world') + b'\r\n')
    m = imaps(srv)
    append(m, box, single)
    m.logout()
    lines, t = r.cmd('n', 'NOOP')
    assert b'* 2 EXISTS\r\n' in lines
    lines, t = r.cmd('o', 'FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[1.1])')
    assert lines == [b'* 2 FETCH (BINARY[1] ~{11}\r\nhello\x00world BINARY.SIZE[1] 11 BINARY[1.1] NIL)\r\n'], lines

    # BINARY[] is the whole message; without PEEK it sets \Seen
    lines, t = r.cmd('l', 'FETCH 1 (BINARY[] BINARY.SIZE[])')
    assert t.startswith(b'l OK')
    items = fetch_items(lines[0])
    assert items['BINARY[]'] == (False, BINARY_MESSAGE)
    assert items['BINARY.SIZE[]'] == str(len(BINARY_MESSAGE))
    assert b'FLAGS (\\Seen \\Recent)' in lines[0]  # the rev1 SELECT claimed it
    r.close()


def test_binary_unknown_cte_and_bad_syntax(srv):
    m = imaps(srv)
    box = new_mailbox(m)
    append(m, box, BINARY_MESSAGE)
    m.logout()
    r = raw_session(srv, box, BINARY_MESSAGE)
    for item in ('BINARY.PEEK[3]', 'BINARY.SIZE[3]', 'BINARY.PEEK[3]<0.10>', 'BINARY.PEEK[2] BINARY.PEEK[3]'):
        lines, t = r.cmd('u', f'FETCH 1:2 (UID {item})')
        assert lines == [] and t == b'u NO [UNKNOWN-CTE] Cannot decode the content-transfer-encoding of a part\r\n', \
            (item, lines, t)
    lines, t = r.cmd('v', 'FETCH 1:2 FLAGS')
    assert lines == [b'* 1 FETCH (FLAGS (\\Recent))\r\n', b'* 2 FETCH (FLAGS (\\Recent))\r\n'], lines
    # without PEEK: the messages answered are \Seen, those that failed are
    # left as they were (message 3 has no part 3: NIL; message 2 was seen)
    ok(imaps_store(srv, box, '2', '+FLAGS', '\\Seen'))
    _, t = r.cmd('n', 'NOOP')
    assert t.startswith(b'n OK')
    append_plain = imaps(srv)
    append(append_plain, box, b'Subject: plain\r\n\r\nplain\r\n')
    append_plain.logout()
    lines, t = r.cmd('n2', 'NOOP')
    assert lines == [b'* 3 EXISTS\r\n', b'* 3 RECENT\r\n'], lines
    lines, t = r.cmd('u2', 'FETCH 1:3 BINARY[3]')
    assert lines == [b'* 3 FETCH (FLAGS (\\Seen \\Recent) BINARY[3] NIL)\r\n'], lines
    assert t == b'u2 NO [UNKNOWN-CTE] Cannot decode the content-transfer-encoding of a part\r\n'
    lines, t = r.cmd('v2', 'FETCH 1:3 FLAGS')
    assert lines == [b'* 1 FETCH (FLAGS (\\Recent))\r\n', b'* 2 FETCH (FLAGS (\\Seen \\Recent))\r\n',
                     b'* 3 FETCH (FLAGS (\\Seen \\Recent))\r\n'], lines
    # the other parts still decode
    lines, t = r.cmd('w', 'FETCH 2 BINARY.SIZE[2]')
    assert lines == [f'* 2 FETCH (BINARY.SIZE[2] {len(BLOB)})\r\n'.encode()]
    for item in ('BINARY[1.MIME]', 'BINARY[HEADER]', 'BINARY.PEEK[TEXT]', 'BINARY[0]', 'BINARY[1.]',
                 'BINARY.SIZE[1]<0.5>', 'BINARY[1]<5>', 'BINARY', 'BINARY.SIZE', 'BINARYX[1]'):
        lines, t = r.cmd('x', f'FETCH 1 ({item})')
        assert lines == [] and t == b'x BAD Invalid fetch item\r\n', (item, t)
    lines, t = r.cmd('y', 'FETCH 1 (BINARY[1)')
    assert lines == [] and t == b"y BAD Missing ']'\r\n"
    r.close()


def test_append_literal8_round_trip(srv):
    m = imaps(srv)
    box = new_mailbox(m)
    m.logout()
    body = b'\x00\x01binary\r\n\x00\xff\xfe'
    msg = (b'Subject: literal8\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n'
           b'Content-Transfer-Encoding: binary\r\n\r\n' + body)
    r = Raw(srv)
    r.login()
    r.send(f'a APPEND {box} ~{{{len(msg)}}}\r\n')
    assert r.line().startswith(b'+ ')
    r.send(msg + b'\r\n')
    _, t = r.until('a')
    assert re.match(rb'a OK \[APPENDUID \d+ 1\] APPEND completed', t), t
    _, t = r.cmd('s', f'EXAMINE {box}')
    assert t.startswith(b's OK [READ-ONLY]')
    lines, t = r.cmd('f', 'FETCH 1 (RFC822.SIZE BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[])')
    assert t.startswith(b'f OK')
    assert lines == [f'* 1 FETCH (RFC822.SIZE {len(msg)} BINARY[1] ~{{{len(body)}}}\r\n'.encode() + body
                     + f' BINARY.SIZE[1] {len(body)} BINARY[] ~{{{len(msg)}}}\r\n'.encode() + msg + b')\r\n']
    # literal8 is for APPEND only
    lines, t = r.cmd('g', 'SEARCH TEXT ~{1}')
    assert t == b'g BAD literal8 only in APPEND\r\n'
    r.close()


# ---------------------------------------------------------------------------
# OBJECTID


def smtp_send(srv, subject, message_id, in_reply_to=None):
    head = (f'From: someone@example.net\r\nTo: alice@example.org\r\nSubject: {subject}\r\n'
            f'Message-ID: {message_id}\r\n')
    if in_reply_to:
        head += f'In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n'
    with smtplib.SMTP('127.0.0.1', srv.smtp_port, local_hostname='client.example.net', timeout=30) as s:
        s.sendmail('someone@example.net', ['alice@example.org'], head + '\r\nbody\r\n')


def object_ids(m, uid):
    data = ok(m.uid('FETCH', str(uid), '(EMAILID THREADID)'))
    mm = re.search(rb'EMAILID \(([^)]*)\) THREADID (\(([^)]*)\)|NIL)', data[0])
    assert mm, data
    return mm.group(1).decode(), (mm.group(3) or b'').decode() or None


def uid_of(m, message_id):
    data = ok(m.uid('SEARCH', 'HEADER', 'Message-ID', message_id))
    uids = data[0].split()
    assert len(uids) == 1, data
    return int(uids[0])


def test_emailid_threadid_and_search(srv):
    tag = uuid.uuid4().hex
    first, reply, other = (f'<{tag}.{n}@example.net>' for n in ('first', 'reply', 'other'))
    smtp_send(srv, f'plans {tag}', first)
    smtp_send(srv, f'Re: plans {tag}', reply, in_reply_to=first)
    smtp_send(srv, f'unrelated {tag}', other)
    m = imaps(srv)
    ok(m.select('INBOX'))
    u1, u2, u3 = uid_of(m, first), uid_of(m, reply), uid_of(m, other)
    e1, t1 = object_ids(m, u1)
    e2, t2 = object_ids(m, u2)
    e3, t3 = object_ids(m, u3)
    for e in (e1, e2, e3):
        assert re.fullmatch(r'M[0-9a-f]+', e), e
    for t in (t1, t2, t3):
        assert re.fullmatch(r'T[0-9a-f]+', t), t
    assert len({e1, e2, e3}) == 3
    assert t1 == t2 and t3 != t1

    assert ok(m.uid('SEARCH', 'EMAILID', e2)) == [str(u2).encode()]
    assert ok(m.uid('SEARCH', 'THREADID', t1)) == [f'{u1} {u2}'.encode()]
    assert ok(m.uid('SEARCH', 'NOT', 'THREADID', t1, 'UID', f'{u1}:{u3}')) == [str(u3).encode()]
    assert ok(m.uid('SEARCH', 'OR', 'EMAILID', e1, 'EMAILID', e3)) == [f'{u1} {u3}'.encode()]
    assert ok(m.uid('SEARCH', 'EMAILID', 'M0nosuchid')) == [b'']
    # object ids are case-sensitive
    assert ok(m.uid('SEARCH', 'EMAILID', e2.lower())) == [b'']
    for bad in ('"M1!"', '""', 'M' + 'a' * 255):
        with pytest.raises(imaplib.IMAP4.error, match='Invalid object id'):
            m.uid('SEARCH', 'EMAILID', bad)
    with pytest.raises(imaplib.IMAP4.error, match='Missing search key argument'):
        m.uid('SEARCH', 'THREADID')

    # COPY and MOVE keep the EMAILID and THREADID (RFC 8474 §5.1: the store
    # shares the message), and the copy is found by its id in its mailbox
    box = new_mailbox(m)
    ok(m.uid('COPY', str(u2), box))
    ok(m.select(box))
    e_copy, t_copy = object_ids(m, 1)
    assert (e_copy, t_copy) == (e2, t1)
    assert ok(m.uid('SEARCH', 'EMAILID', e2)) != [b'']
    box2 = new_mailbox(m)
    ok(m.uid('MOVE', '1:*', box2))
    ok(m.select(box2))
    assert object_ids(m, 1) == (e2, t1)
    m.logout()


def mailboxid(text):
    mm = re.search(rb'MAILBOXID \((F[0-9a-f]+)\)', text)
    assert mm, text
    return mm.group(1).decode()


def test_mailboxid_create_select_status_rename(srv):
    r = Raw(srv)
    r.login()
    name = 'Obj' + uuid.uuid4().hex[:8]
    _, t = r.cmd('c', f'CREATE {name}')
    assert re.fullmatch(rb'c OK \[MAILBOXID \(F[0-9a-f]+\)\] CREATE completed\r\n', t), t
    created = mailboxid(t)
    lines, t = r.cmd('s', f'SELECT {name}')
    assert t.startswith(b's OK [READ-WRITE]')
    assert f'* OK [MAILBOXID ({created})] Ok\r\n'.encode() in lines, lines
    lines, t = r.cmd('e', 'EXAMINE INBOX')
    inbox = mailboxid(b''.join(line for line in lines if b'MAILBOXID' in line))
    assert inbox != created
    lines, t = r.cmd('t', f'STATUS {name} (MESSAGES MAILBOXID UIDNEXT)')
    assert lines == [f'* STATUS "{name}" (MESSAGES 0 MAILBOXID ({created}) UIDNEXT 1)\r\n'.encode()]
    _, t = r.cmd('r', f'RENAME {name} {name}-renamed')
    assert t.startswith(b'r OK')
    lines, t = r.cmd('u', f'STATUS {name}-renamed (MAILBOXID)')
    assert lines == [f'* STATUS "{name}-renamed" (MAILBOXID ({created}))\r\n'.encode()]
    # a new mailbox of the old name is another mailbox
    _, t = r.cmd('d', f'CREATE {name}')
    assert mailboxid(t) not in (created, inbox)
    r.close()


# ---------------------------------------------------------------------------
# UTF8=ACCEPT

UTF8_NAME = 'Grüße ☃'
UTF8_MESSAGE = ('From: Jürgen <jürgen@example.org>\r\n'
                'To: alice@example.org\r\n'
                'Subject: Grüße aus Köln ☃\r\n'
                'MIME-Version: 1.0\r\n'
                'Content-Type: text/plain; charset=utf-8\r\n'
                'Content-Transfer-Encoding: 8bit\r\n'
                '\r\n'
                'Schöne Grüße\r\n').encode()


def test_utf8_accept_names_and_append(srv):
    r = Raw(srv)
    r.login()
    name = UTF8_NAME + uuid.uuid4().hex[:6]
    quoted = b'"' + name.encode() + b'"'
    # before ENABLE: APPEND UTF8 is refused, names are modified UTF-7
    r.send(b'a APPEND INBOX UTF8 (~{6}\r\n')
    assert r.line().startswith(b'+ ')
    r.send(b'x: y\r\n)\r\n')
    _, t = r.until('a')
    assert t == b'a BAD APPEND UTF8 needs ENABLE UTF8=ACCEPT\r\n'
    lines, t = r.cmd('b', 'ENABLE UTF8=ACCEPT')
    assert lines == [b'* ENABLED UTF8=ACCEPT\r\n'] and t.startswith(b'b OK')
    lines, t = r.cmd('b2', 'ENABLE UTF8=ACCEPT')
    assert lines == [b'* ENABLED\r\n']
    r.send(b'c CREATE ' + quoted + b'\r\n')
    _, t = r.until('c')
    assert t.startswith(b'c OK [MAILBOXID')
    r.send(b'l LIST "" ' + quoted + b'\r\n')
    lines, t = r.until('l')
    assert lines == [b'* LIST (\\HasNoChildren) "/" ' + quoted + b'\r\n']

    r.send(b'p APPEND ' + quoted + b' (\\Flagged) UTF8 (~{' + str(len(UTF8_MESSAGE)).encode() + b'}\r\n')
    assert r.line().startswith(b'+ ')
    r.send(UTF8_MESSAGE + b')\r\n')
    _, t = r.until('p')
    assert re.match(rb'p OK \[APPENDUID \d+ 1\] APPEND completed', t), t
    # not a literal8, or not alone in the parentheses
    r.send(b'q APPEND ' + quoted + b' UTF8 ({3}\r\n')
    assert r.line().startswith(b'+ ')
    r.send(b'a:b)\r\n')
    _, t = r.until('q')
    assert t == b'q BAD APPEND UTF8 takes a literal8 in parentheses\r\n'

    r.send(b's SELECT ' + quoted + b'\r\n')
    _, t = r.until('s')
    assert t.startswith(b's OK')
    lines, t = r.cmd('f', 'FETCH 1 (FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[TEXT])')
    # the raw UTF-8 header served as it is
    subject = 'Subject: Grüße aus Köln ☃\r\n\r\n'.encode()
    text = 'Schöne Grüße\r\n'.encode()
    assert lines == [f'* 1 FETCH (FLAGS (\\Flagged \\Recent) RFC822.SIZE {len(UTF8_MESSAGE)} '
                     f'BODY[HEADER.FIELDS (Subject)] {{{len(subject)}}}\r\n'.encode() + subject
                     + f' BODY[TEXT] {{{len(text)}}}\r\n'.encode() + text + b')\r\n'], lines
    lines, t = r.cmd('h', 'SEARCH SUBJECT "köln"')
    assert lines == [b'* SEARCH 1\r\n'], lines
    r.close()

    # a session that did not enable it sees the name in modified UTF-7
    m = imaps(srv)
    data = ok(m.list('""', '"Gr*"'))
    assert b'(\\HasNoChildren) "/" "Gr&APwA3w-e &JgM-' + name[-6:].encode() + b'"' in data, data
    m.logout()
