# SPDX-License-Identifier: GPL-2.0-or-later
"""FETCH items beyond the IMAP foundation, as clients see them: BINARY
(RFC 3516: decoded parts, BINARY.SIZE, partials, literal8, UNKNOWN-CTE,
APPEND of a literal8).

Raw sockets (the Raw helper of test_imap.py) where the exact octets
matter, imaplib elsewhere; the daemon is the one of test_imap.py's srv
fixture (one per test module).
"""
import base64
import imaplib
import re
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


def test_capabilities(srv):
    m = imaps(srv)
    caps = ok(m.capability())[0].split()
    for cap in (b'BINARY',):
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

    # BINARY[] is the whole message; without PEEK it sets \Seen
    lines, t = r.cmd('l', 'FETCH 1 (BINARY[] BINARY.SIZE[])')
    assert t.startswith(b'l OK')
    items = fetch_items(lines[0])
    assert items['BINARY[]'] == (False, BINARY_MESSAGE)
    assert items['BINARY.SIZE[]'] == str(len(BINARY_MESSAGE))
    assert b'FLAGS (\\Seen)' in lines[0]
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
    assert lines == [b'* 1 FETCH (FLAGS ())\r\n', b'* 2 FETCH (FLAGS ())\r\n'], lines
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
