# SPDX-License-Identifier: GPL-2.0-or-later
"""IMAP (RFC 9051 / RFC 3501) as clients see it: Python's imaplib over
STARTTLS (port 143 kind "imap") and implicit TLS (kind "imaps"), and a raw
socket for what imaplib cannot say (IDLE, literals, SASL-IR, broken
commands).

One daemon (one embedded PostgreSQL): store-pg, smtp (to deliver mail the
way it arrives), auth-sql (credentials and the brute-force guard) and imap,
with an smtp, an imap and an imaps listener.
"""
import base64
import imaplib
import os
import re
import shutil
import smtplib
import socket
import ssl
import tempfile
import time
import uuid

import pytest

from conftest import MODULE_DIR, free_port, run_mail
import tlsutil
from test_smtp import listener, new_config, start_daemon

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, 'store-pg.so')),
                       reason='the store-pg module was not built'),
    pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, 'imap.so')),
                       reason='the imap module was not built'),
    pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, 'auth-sql.so')),
                       reason='the auth-sql module was not built: nobody checks credentials'),
    pytest.mark.skipif(not tlsutil.have_certtool(), reason='certtool (Debian package gnutls-bin) is not installed'),
]

HOSTNAME = 'mail.example.org'
PASSWORDS = {'alice': 'alice imap password', 'bob': 'bob imap password', 'carol': 'carol imap password'}

MESSAGE = (b'From: Sender <sender@example.net>\r\n'
           b'To: Alice <alice@example.org>\r\n'
           b'Subject: the test message\r\n'
           b'Date: Mon, 07 Dec 2026 12:00:00 +0000\r\n'
           b'Message-ID: <m1@example.net>\r\n'
           b'MIME-Version: 1.0\r\n'
           b'Content-Type: multipart/mixed; boundary="b1"\r\n'
           b'\r\n'
           b'--b1\r\n'
           b'Content-Type: text/plain; charset=utf-8\r\n'
           b'\r\n'
           b'Hello, \xc3\xa9t\xc3\xa9.\r\n'
           b'--b1\r\n'
           b'Content-Type: application/octet-stream\r\n'
           b'Content-Transfer-Encoding: base64\r\n'
           b'\r\n'
           b'AAEC\r\n'
           b'--b1--\r\n')
HEADER, TEXT = MESSAGE.split(b'\r\n\r\n', 1)
HEADER += b'\r\n\r\n'


def token_hash(secret):
    r = run_mail('token-hash', input=secret + '\n')
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope='module')
def tmp_root():
    d = tempfile.mkdtemp(prefix='epistle-imap-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def srv(tmp_root):
    material = tlsutil.TestMaterial(os.path.join(tmp_root, 'tls'))
    config = new_config(tmp_root, 'imap')
    smtp_port, imap_port, imaps_port = free_port(), free_port(), free_port()
    accounts = ''.join(f'''
[[accounts]]
name = "{name}"
addresses = ["{name}@example.org"]
password_hash = "{token_hash(pw)}"
''' for name, pw in PASSWORDS.items())
    config.write(config.base(modules=['store-pg', 'smtp', 'auth-sql', 'imap']) + accounts
                 + listener('smtp', smtp_port) + listener('imap', imap_port) + listener('imaps', imaps_port)
                 + '\n[auth-sql]\ndelay_base_ms = 10\ndelay_max_ms = 50\nban_after_ip = 100000\n'
                 + '\n[imap]\nappend_limit = 100000\n'
                 + material.tls_section())
    d = start_daemon(config)
    d.smtp_port, d.imap_port, d.imaps_port, d.material = smtp_port, imap_port, imaps_port, material
    yield d
    d.close()
    log = d.log()
    if os.environ.get('EPISTLE_IMAP_LOG'):
        with open(os.environ['EPISTLE_IMAP_LOG'], 'w') as f:
            f.write(log)
    assert not re.search(r'CRITICAL|assertion .* failed|AddressSanitizer|runtime error', log), log[-5000:]
    for secret in PASSWORDS.values():
        assert secret not in log


def imaps(d, user='alice'):
    m = imaplib.IMAP4_SSL('127.0.0.1', d.imaps_port, ssl_context=d.material.client_context())
    if user is not None:
        m.login(user, PASSWORDS[user])
    return m


def starttls(d, user='alice'):
    m = imaplib.IMAP4('127.0.0.1', d.imap_port)
    m.starttls(ssl_context=d.material.client_context())
    if user is not None:
        m.login(user, PASSWORDS[user])
    return m


def ok(result):
    typ, data = result
    assert typ == 'OK', data
    return data


def new_mailbox(m):
    name = 'T' + uuid.uuid4().hex[:10]
    ok(m.create(name))
    return name


def append(m, mailbox, message=MESSAGE, flags='', date=None):
    return ok(m.append(mailbox, flags, date, message))


def deliver(d, rcpt, subject):
    msg = (f'From: someone@example.net\r\nTo: {rcpt}\r\nSubject: {subject}\r\n'
           f'Message-ID: <{uuid.uuid4().hex}@example.net>\r\n\r\nbody of {subject}\r\n')
    with smtplib.SMTP('127.0.0.1', d.smtp_port, local_hostname='client.example.net', timeout=30) as s:
        s.sendmail('someone@example.net', [rcpt], msg)


class Raw:
    """A raw IMAP client: lines out, responses in (literals read whole)."""

    def __init__(self, d, tls=True):
        sock = socket.create_connection(('127.0.0.1', d.imaps_port if tls else d.imap_port), timeout=10)
        if tls:
            sock = d.material.client_context().wrap_socket(sock, server_hostname=HOSTNAME)
        self.sock = sock
        self.f = sock.makefile('rb')
        self.greeting = self.line()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self, timeout=10):
        self.sock.settimeout(timeout)
        line = self.f.readline()
        if not line:
            raise EOFError('connection closed')
        assert line.endswith(b'\r\n'), line
        m = re.search(rb'\{(\d+)\}\r\n$', line)
        if m:
            line += self.f.read(int(m.group(1)))
            line += self.line(timeout)
        return line

    def cmd(self, tag, text):
        """Sends `tag text`; returns (untagged lines, tagged line)."""
        self.send(f'{tag} {text}\r\n')
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            line = self.line()
            if line.startswith(tag.encode() + b' '):
                return lines, line
            lines.append(line)

    def login(self, user='alice'):
        _, t = self.cmd('L', f'LOGIN {user} "{PASSWORDS[user]}"')
        assert t.startswith(b'L OK'), t

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# connection, TLS and authentication


def test_greeting_and_logindisabled_before_tls(srv):
    m = imaplib.IMAP4('127.0.0.1', srv.imap_port)
    caps = m.capabilities
    assert 'IMAP4REV1' in caps and 'IMAP4REV2' in caps
    assert 'STARTTLS' in caps and 'LOGINDISABLED' in caps
    assert not any(c.startswith('AUTH=') for c in caps), caps
    typ, data = m._simple_command('LOGIN', 'alice', m._quote(PASSWORDS['alice']))
    assert typ == 'NO' and data[0].startswith(b'[PRIVACYREQUIRED]'), data
    m.starttls(ssl_context=srv.material.client_context())
    caps = m.capabilities
    assert 'LOGINDISABLED' not in caps and 'STARTTLS' not in caps
    assert 'AUTH=PLAIN' in caps and 'SASL-IR' in caps
    typ, data = m.login('alice', PASSWORDS['alice'])
    assert typ == 'OK'
    assert b'CAPABILITY' in data[0] and b'APPENDLIMIT=100000' in data[0]
    m.logout()


def test_starttls_discards_injected_commands(srv):
    s = socket.create_connection(('127.0.0.1', srv.imap_port), timeout=10)
    f = s.makefile('rb')
    assert f.readline().startswith(b'* OK')
    # a command pipelined after STARTTLS in clear must not run under TLS
    s.sendall(b'a STARTTLS\r\nb CAPABILITY\r\n')
    assert f.readline().startswith(b'a OK')
    t = srv.material.client_context().wrap_socket(s, server_hostname=HOSTNAME)
    t.sendall(b'c NOOP\r\n')
    tf = t.makefile('rb')
    assert tf.readline() == b'c OK NOOP completed\r\n'
    t.close()


def test_imaps_login_and_bad_password(srv):
    m = imaps(srv, None)
    with pytest.raises(imaplib.IMAP4.error, match='AUTHENTICATIONFAILED'):
        m.login('alice', 'wrong password')
    m.login('alice', PASSWORDS['alice'])
    ok(m.noop())
    m.logout()


def test_authenticate_plain(srv):
    m = imaps(srv, None)
    typ, _ = m.authenticate('PLAIN', lambda _: b'\0bob\0' + PASSWORDS['bob'].encode())
    assert typ == 'OK'
    assert m.state == 'AUTH'
    m.logout()
    m = starttls(srv, None)
    with pytest.raises(imaplib.IMAP4.error, match='AUTHENTICATIONFAILED'):
        m.authenticate('PLAIN', lambda _: b'\0bob\0nope')
    m.logout()


def test_authenticate_sasl_ir_and_cancel(srv):
    r = Raw(srv)
    ir = base64.b64encode(b'\0alice\0' + PASSWORDS['alice'].encode()).decode()
    _, t = r.cmd('a', 'AUTHENTICATE PLAIN ' + ir)
    assert t.startswith(b'a OK [CAPABILITY '), t
    r.close()
    r = Raw(srv)
    r.send('b AUTHENTICATE PLAIN\r\n')
    assert r.line() == b'+ \r\n'
    r.send('*\r\n')
    _, t = r.until('b')
    assert t.startswith(b'b BAD'), t
    r.send('c AUTHENTICATE PLAIN\r\n')
    assert r.line() == b'+ \r\n'
    r.send('not base64!\r\n')
    _, t = r.until('c')
    assert t.startswith(b'c BAD'), t
    _, t = r.cmd('d', 'AUTHENTICATE NOSUCH')
    assert t.startswith(b'd NO'), t
    r.close()


def test_literals_sync_and_nonsync(srv):
    r = Raw(srv)
    user, pw = b'alice', PASSWORDS['alice'].encode()
    r.send(b'a LOGIN {%d}\r\n' % len(user))
    assert r.line().startswith(b'+ ')
    # LITERAL+: no continuation is awaited
    r.send(user + b' {%d+}\r\n' % len(pw) + pw + b'\r\n')
    _, t = r.until('a')
    assert t.startswith(b'a OK'), t
    # an empty synchronizing literal is a literal all the same
    r.send(b'e CREATE {0}\r\n')
    assert r.line().startswith(b'+ ')
    r.send(b'\r\n')
    _, t = r.until('e')
    assert t.startswith(b'e NO [CANNOT]'), t
    # a literal over the limit of a command other than APPEND
    _, t = r.cmd('b', 'ID {70000}')
    assert t.startswith(b'b BAD [TOOBIG]'), t
    # the connection goes on
    _, t = r.cmd('c', 'NOOP')
    assert t == b'c OK NOOP completed\r\n'
    # a non-synchronizing literal over the limit: its octets are on their way, so BYE
    r.send(b'd APPEND INBOX {200000+}\r\n')
    lines = [r.line(), r.line()]
    assert lines[0].startswith(b'd NO [TOOBIG]') and lines[1].startswith(b'* BYE'), lines
    r.close()


def test_bad_commands(srv):
    r = Raw(srv)
    for tag, text, want in [('a1', 'FOO', b'a1 BAD Unknown command'),
                            ('a2', 'SELECT INBOX', b'a2 BAD Log in first'),
                            ('a3', 'LOGIN onlyuser', b'a3 BAD Wrong number of arguments'),
                            ('a4', 'NOOP  ', b'a4 BAD'),
                            ('a5', 'LIST (a', b'a5 BAD Missing \')\''),
                            ('a6', 'LOGIN "unterminated', b'a6 BAD')]:
        _, t = r.cmd(tag, text)
        assert t.startswith(want), (text, t)
    r.send(b'\r\n')
    assert r.line().startswith(b'* BAD Empty command line')
    r.login()
    _, t = r.cmd('b1', 'FETCH 1 FLAGS')
    assert t.startswith(b'b1 BAD Command not allowed'), t
    _, t = r.cmd('b2', 'SELECT INBOX')
    assert t.startswith(b'b2 OK'), t
    _, t = r.cmd('b3', 'FETCH 99999 FLAGS')
    assert t.startswith(b'b3 BAD Invalid message sequence number'), t
    _, t = r.cmd('b4', 'FETCH 1:* (FLAGS BOGUS)')
    assert t.startswith(b'b4 BAD'), t
    _, t = r.cmd('b5', 'STORE 1 +FLAGS (\\Recent)')
    assert t.startswith(b'b5 BAD'), t
    r.close()


def test_too_many_errors_bye(srv):
    r = Raw(srv)
    for i in range(19):
        _, t = r.cmd(f'x{i}', 'BOGUS')
        assert b'BAD' in t
    r.send('x19 BOGUS\r\n')
    assert r.line().startswith(b'x19 BAD')
    assert r.line().startswith(b'* BYE')
    with pytest.raises(EOFError):
        r.line()
    r.close()


def test_logout(srv):
    r = Raw(srv)
    r.login()
    lines, t = r.cmd('z', 'LOGOUT')
    assert lines == [b'* BYE Logging out\r\n'] and t == b'z OK LOGOUT completed\r\n'
    with pytest.raises(EOFError):
        r.line()
    r.close()


# ---------------------------------------------------------------------------
# mailboxes


def test_capability_after_login_and_namespace_id(srv):
    m = imaps(srv)
    typ, data = m._simple_command('CAPABILITY')
    caps = m.untagged_responses.pop('CAPABILITY')[0].split()
    assert b'UNSELECT' in caps and b'IDLE' in caps and b'APPENDLIMIT=100000' in caps
    assert not any(c.startswith(b'AUTH=') for c in caps)
    typ, data = m.namespace()
    assert data == [b'(("" "/")) NIL NIL']
    m.logout()
    r = Raw(srv)
    lines, t = r.cmd('i', 'ID ("name" "pytest")')
    assert lines[0].startswith(b'* ID ("name" "epistle"') and t.startswith(b'i OK'), lines
    _, t = r.cmd('j', 'ID foo')
    assert t.startswith(b'j BAD'), t
    r.close()


def test_list_special_use_and_lsub_status(srv):
    m = imaps(srv)
    lines = ok(m.list('""', '*'))
    text = b'\n'.join(lines)
    assert b'"INBOX"' in text
    assert re.search(rb'\(\\HasNoChildren \\Sent\) "/" "Sent"', text), text
    assert re.search(rb'\\Trash\) "/" "Trash"', text), text
    lines = ok(m.list('""', '%'))
    assert lines[0] is not None
    typ, data = m._simple_command('LIST', '""', '""')
    assert m.untagged_responses.pop('LIST') == [b'(\\Noselect) "/" ""']
    name = new_mailbox(m)
    ok(m.create(name + '/child'))
    text = b'\n'.join(ok(m.list('""', name + '*')))
    assert b'(\\HasChildren) "/" "%s"' % name.encode() in text
    assert b'(\\HasNoChildren) "/" "%s/child"' % name.encode() in text
    ok(m.subscribe(name))
    ok(m.unsubscribe(name + '/child'))
    text = b'\n'.join(ok(m.lsub('""', name + '*')))
    assert name.encode() in text and b'child' not in text, text
    ok(m.unsubscribe(name))
    assert ok(m.lsub('""', name)) == [None]
    append(m, name, flags='(\\Seen)')
    append(m, name)
    data = ok(m.status(name, '(MESSAGES UNSEEN UIDNEXT UIDVALIDITY SIZE DELETED)'))
    assert re.fullmatch(rb'"%s" \(MESSAGES 2 UNSEEN 1 UIDNEXT 3 UIDVALIDITY \d+ SIZE %d DELETED 0\)'
                        % (name.encode(), 2 * len(MESSAGE)), data[0]), data
    typ, data = m.status('NoSuchBox', '(MESSAGES)')
    assert typ == 'NO' and b'NONEXISTENT' in data[0]
    ok(m.rename(name, name + 'R'))
    assert ok(m.list('""', name))[0] is None
    typ, data = m.create(name + 'R')
    assert typ == 'NO' and b'ALREADYEXISTS' in data[0]
    ok(m.delete(name + 'R/child'))
    ok(m.delete(name + 'R'))
    typ, data = m.delete('INBOX')
    assert typ == 'NO'
    m.logout()


def test_select_and_examine(srv):
    m = imaps(srv)
    name = new_mailbox(m)
    append(m, name, flags='(\\Seen)')
    append(m, name)
    append(m, name, flags='(\\Seen \\Flagged)')
    r = Raw(srv)
    r.login()
    lines, t = r.cmd('s', f'SELECT {name}')
    assert t == b's OK [READ-WRITE] SELECT completed\r\n'
    text = b''.join(lines)
    assert b'* 3 EXISTS\r\n' in text
    assert b'* 3 RECENT\r\n' in text  # the first SELECT: all three are recent
    assert b'* OK [UNSEEN 2]' in text
    assert re.search(rb'\* OK \[UIDVALIDITY \d+\]', text)
    assert b'* OK [UIDNEXT 4]' in text
    assert b'* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n' in text
    assert b'* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]' in text
    assert re.search(rb'\* OK \[HIGHESTMODSEQ \d+\]', text)
    lines, t = r.cmd('e', f'EXAMINE {name}')
    assert t == b'e OK [READ-ONLY] EXAMINE completed\r\n'
    assert b'* 3 EXISTS\r\n' in lines
    _, t = r.cmd('f', 'STORE 1 +FLAGS (\\Deleted)')
    assert t.startswith(b'f NO [READ-ONLY]'), t
    # BODY[] in a read-only mailbox does not set \Seen
    r.cmd('g', 'FETCH 2 BODY[]')
    lines, _ = r.cmd('h', 'FETCH 2 FLAGS')
    assert lines == [b'* 2 FETCH (FLAGS ())\r\n'], lines
    _, t = r.cmd('i', 'SELECT NoSuchMailbox')
    assert t.startswith(b'i NO [NONEXISTENT]'), t
    _, t = r.cmd('j', 'FETCH 1 FLAGS')
    assert t.startswith(b'j BAD'), t  # a failed SELECT leaves no mailbox selected
    r.close()
    m.logout()


# ---------------------------------------------------------------------------
# messages


def test_append_then_fetch_bytes_exact(srv):
    m = imaps(srv)
    name = new_mailbox(m)
    date = imaplib.Time2Internaldate(time.mktime((2026, 12, 1, 10, 30, 0, 0, 0, -1)))
    data = append(m, name, flags='(\\Flagged $Work)', date=date)
    ok(m.select(name))
    typ, data = m.fetch('1', '(UID FLAGS RFC822.SIZE INTERNALDATE)')
    meta = data[0]
    assert re.search(rb'UID 1 ', meta)
    assert rb'FLAGS (\Flagged \Recent $Work)' in meta  # the SELECT claimed it
    assert b'RFC822.SIZE %d' % len(MESSAGE) in meta
    assert imaplib.Internaldate2tuple(meta)[:6] == time.gmtime(time.mktime((2026, 12, 1, 10, 30, 0, 0, 0, -1)))[:6] \
        or b'INTERNALDATE "' in meta
    typ, data = m.fetch('1', '(BODY.PEEK[])')
    assert data[0][1] == MESSAGE
    typ, data = m.fetch('1', '(BODY.PEEK[HEADER])')
    assert data[0][1] == HEADER
    typ, data = m.fetch('1', '(BODY.PEEK[TEXT])')
    assert data[0][1] == TEXT
    typ, data = m.fetch('1', '(BODY.PEEK[]<10.20>)')
    assert data[0][0].endswith(b'BODY[]<10> {20}') and data[0][1] == MESSAGE[10:30]
    typ, data = m.fetch('1', '(BODY.PEEK[1])')
    assert data[0][1] == 'Hello, été.'.encode()
    typ, data = m.fetch('1', '(BODY.PEEK[2.MIME])')
    assert data[0][1] == b'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    typ, data = m.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT TO)])')
    assert data[0][1] == b'To: Alice <alice@example.org>\r\nSubject: the test message\r\n\r\n'
    typ, data = m.fetch('1', '(RFC822.HEADER)')
    assert data[0][1] == HEADER
    typ, data = m.fetch('1', '(FLAGS)')
    assert b'\\Seen' not in data[0]
    typ, data = m.fetch('1', '(ENVELOPE BODYSTRUCTURE)')
    text = data[0] if isinstance(data[0], bytes) else b''.join(x if isinstance(x, bytes) else b''.join(x) for x in data)
    assert b'ENVELOPE ("Mon, 07 Dec 2026 12:00:00 +0000" "the test message" (("Sender" NIL "sender" "example.net"))' \
        in text, text
    assert b'BODYSTRUCTURE (("text" "plain" ("charset" "utf-8")' in text, text
    assert b'"mixed"' in text
    # BODY[] (not PEEK) sets \Seen and says so
    typ, data = m.fetch('1', '(BODY[])')
    assert data[0][1] == MESSAGE
    assert b'\\Seen' in data[0][0] or b'\\Seen' in data[1]
    typ, data = m.fetch('1', '(FLAGS)')
    assert b'\\Seen' in data[0]
    typ, data = m.fetch('1', '(RFC822)')
    assert data[0][1] == MESSAGE
    # UID FETCH
    typ, data = m.uid('FETCH', '1', '(BODY.PEEK[TEXT]<0.7>)')
    assert data[0][0].startswith(b'1 (UID 1 BODY[TEXT]<0> {7}') and data[0][1] == TEXT[:7]
    typ, data = m.uid('FETCH', '999', '(FLAGS)')
    assert typ == 'OK' and data == [None]
    # APPEND to a mailbox that does not exist
    typ, data = m.append('NoSuchMailbox' + uuid.uuid4().hex, '', None, MESSAGE)
    assert typ == 'NO' and b'TRYCREATE' in data[0]
    # over APPENDLIMIT: refused before the client sends it
    typ, data = m.append(name, '', None, b'X' * 100001)
    assert typ == 'NO' and data[0].startswith(b'[TOOBIG]'), data
    ok(m.noop())
    m.logout()


def test_append_to_selected_mailbox_reports_exists(srv):
    r = Raw(srv)
    r.login()
    m = imaps(srv)
    name = new_mailbox(m)
    r.cmd('s', f'SELECT {name}')
    msg = b'Subject: x\r\n\r\nbody\r\n'
    r.send(b'a APPEND %s (\\Draft) {%d+}\r\n' % (name.encode(), len(msg)) + msg + b'\r\n')
    lines, t = r.until('a')
    assert t.startswith(b'a OK'), t
    assert b'* 1 EXISTS\r\n' in lines, lines
    m.logout()
    r.close()


def test_store_seen_by_second_session(srv):
    a = imaps(srv)
    name = new_mailbox(a)
    append(a, name)
    append(a, name)
    ok(a.select(name))
    typ, data = a.store('1', '+FLAGS', '(\\Flagged $Label1)')
    # a's SELECT claimed both messages: \Recent for a, not for b
    assert typ == 'OK' and rb'1 (FLAGS (\Flagged \Recent $Label1))' == data[0], data
    typ, data = a.store('2', '+FLAGS.SILENT', '(\\Answered)')
    assert typ == 'OK' and data == [None], data
    typ, data = a.uid('STORE', '2', '-FLAGS', '(\\Answered)')
    assert data[0] == rb'2 (UID 2 FLAGS (\Recent))', data
    b = imaps(srv)
    ok(b.select(name))
    typ, data = b.fetch('1:2', '(FLAGS)')
    assert data == [rb'1 (FLAGS (\Flagged $Label1))', b'2 (FLAGS ())'], data
    typ, data = a.store('1', 'FLAGS', '(\\Seen)')
    assert data[0] == rb'1 (FLAGS (\Seen \Recent))', data
    # b learns of it at NOOP
    typ, data = b.noop()
    assert rb'1 FETCH (UID 1 FLAGS (\Seen))' in b.untagged_responses.get('FETCH', [b''])[0] or \
        any(rb'FLAGS (\Seen)' in x for x in b.untagged_responses.get('FETCH', []))
    a.logout()
    b.logout()


def test_expunge_and_close(srv):
    m = imaps(srv)
    name = new_mailbox(m)
    for _ in range(4):
        append(m, name)
    r = Raw(srv)
    r.login()
    r.cmd('s', f'SELECT {name}')
    r.cmd('d', 'STORE 2,4 +FLAGS.SILENT (\\Deleted)')
    lines, t = r.cmd('e', 'EXPUNGE')
    assert t == b'e OK EXPUNGE completed\r\n'
    assert lines == [b'* 4 EXPUNGE\r\n', b'* 2 EXPUNGE\r\n'] or lines == [b'* 2 EXPUNGE\r\n', b'* 3 EXPUNGE\r\n'], lines
    lines, _ = r.cmd('f', 'FETCH 1:* (UID)')
    assert lines == [b'* 1 FETCH (UID 1)\r\n', b'* 2 FETCH (UID 3)\r\n'], lines
    # another session expunges: this one hears of it at NOOP only
    ok(m.select(name))
    m.store('1', '+FLAGS', '(\\Deleted)')
    ok(m.expunge())
    lines, _ = r.cmd('g', 'FETCH 2 (UID)')
    assert lines == [b'* 2 FETCH (UID 3)\r\n'], lines
    lines, _ = r.cmd('h', 'NOOP')
    assert b'* 1 EXPUNGE\r\n' in lines, lines
    lines, _ = r.cmd('i', 'FETCH 1 (UID)')
    assert lines == [b'* 1 FETCH (UID 3)\r\n'], lines
    # CLOSE expunges silently
    r.cmd('j', 'STORE 1 +FLAGS.SILENT (\\Deleted)')
    lines, t = r.cmd('k', 'CLOSE')
    assert lines == [] and t.startswith(b'k OK'), (lines, t)
    data = ok(m.status(name, '(MESSAGES)'))
    assert b'MESSAGES 0' in data[0]
    # UNSELECT does not
    append(m, name, flags='(\\Deleted)')
    r.cmd('l', f'SELECT {name}')
    _, t = r.cmd('m', 'UNSELECT')
    assert t.startswith(b'm OK')
    assert b'MESSAGES 1' in ok(m.status(name, '(MESSAGES)'))[0]
    m.logout()
    r.close()


def test_idle_hears_smtp_delivery_within_a_second(srv):
    r = Raw(srv)
    r.login('carol')
    lines, _ = r.cmd('s', 'SELECT INBOX')
    n = int(next(re.match(rb'\* (\d+) EXISTS', x).group(1) for x in lines if x.endswith(b'EXISTS\r\n')))
    r.send('i IDLE\r\n')
    assert r.line() == b'+ idling\r\n'
    deliver(srv, 'carol@example.org', 'idle test')
    t0 = time.monotonic()
    line = r.line(timeout=5)
    assert line == b'* %d EXISTS\r\n' % (n + 1), line
    assert time.monotonic() - t0 < 1.0
    # the only rev1 SELECT session: the new message is \Recent for it
    assert r.line(timeout=5) == b'* 1 RECENT\r\n'
    # a flag change by another session reaches the idling one
    m = imaps(srv, 'carol')
    ok(m.select('INBOX'))
    m.store(str(n + 1), '+FLAGS', '(\\Flagged)')
    line = r.line(timeout=5)
    assert re.fullmatch(rb'\* %d FETCH \(UID \d+ FLAGS \(\\Flagged \\Recent\)\)\r\n' % (n + 1), line), line
    # and an expunge too
    m.store(str(n + 1), '+FLAGS', '(\\Deleted)')
    assert b'FLAGS (\\Flagged \\Deleted \\Recent)' in r.line(timeout=5)
    ok(m.expunge())
    assert r.line(timeout=5) == b'* %d EXPUNGE\r\n' % (n + 1)
    r.send('DONE\r\n')
    _, t = r.until('i')
    assert t == b'i OK IDLE terminated\r\n'
    r.send('j IDLE\r\n')
    assert r.line() == b'+ idling\r\n'
    r.send('NOTDONE\r\n')
    _, t = r.until('j')
    assert t.startswith(b'j BAD'), t
    m.logout()
    r.close()


def test_rev1_and_rev2_sessions(srv):
    m = imaps(srv)
    name = 'Entwürfe-' + uuid.uuid4().hex[:6]
    utf7 = name.replace('ü', '&APw-')
    ok(m._simple_command('CREATE', utf7))
    append(m, utf7)
    text = b'\n'.join(ok(m.list('""', 'Entw*')))
    assert utf7.encode() in text, text
    m.logout()

    r = Raw(srv)
    r.login()
    lines, t = r.cmd('e', 'ENABLE IMAP4rev2')
    assert lines == [b'* ENABLED IMAP4rev2\r\n'] and t.startswith(b'e OK'), lines
    lines, t = r.cmd('f', 'ENABLE IMAP4rev2')
    assert lines == [b'* ENABLED\r\n'], lines
    lines, _ = r.cmd('l', 'LIST "" "Entw*"')
    assert any(name.encode() in x for x in lines), lines
    lines, t = r.cmd('s', f'SELECT "{name}"')
    text = b''.join(lines)
    assert t.startswith(b's OK [READ-WRITE]')
    assert b'RECENT' not in text and b'[UNSEEN' not in text
    assert ('* LIST () "/" "%s"\r\n' % name).encode() in text, text
    _, t = r.cmd('t', f'STATUS "{name}" (RECENT)')
    assert t.startswith(b't BAD'), t
    lines, _ = r.cmd('u', 'FETCH 1 (UID)')
    assert lines == [b'* 1 FETCH (UID 1)\r\n']
    # the rev1 name is not a rev2 name
    _, t = r.cmd('v', f'SELECT "{utf7}"')
    assert t.startswith(b'v NO'), t
    r.close()


def test_imaps_without_tls_is_a_config_error(tmp_root):
    config = new_config(tmp_root, 'notls')
    config.write(config.base(modules=['store-pg', 'imap']) + listener('imaps', free_port()))
    r = run_mail('config-check', '--config', config.path)
    assert r.returncode == 78, r.stderr
    assert "listener kind 'imaps' is implicit TLS and needs a certificate" in r.stderr


def test_large_fetch_is_paced_and_complete(srv):
    # more than the 1 MiB the session queues before it waits for the client
    m = imaps(srv)
    name = new_mailbox(m)
    bodies = []
    for i in range(24):
        body = (b'Subject: big %d\r\n\r\n' % i) + (b'%02d' % i) * 45000 + b'\r\n'
        bodies.append(body)
        append(m, name, message=body)
    ok(m.select(name, readonly=True))
    typ, data = m.fetch('1:*', '(BODY.PEEK[])')
    got = [x[1] for x in data if isinstance(x, tuple)]
    assert got == bodies
    # sections of messages this large are parsed on the worker pool
    typ, data = m.fetch('1:*', '(BODY.PEEK[TEXT] BODYSTRUCTURE)')
    got = [x[1] for x in data if isinstance(x, tuple)]
    assert got == [b.split(b'\r\n\r\n', 1)[1] for b in bodies]
    assert all(b'BODYSTRUCTURE ("text" "plain"' in x[0] or b'BODYSTRUCTURE ("text" "plain"' in y
               for x, y in zip(data[0::2], data[1::2]) if isinstance(x, tuple))
    m.logout()


def test_limits_before_login(srv):
    r = Raw(srv)
    # APPEND before login is held to the 64 KiB of any other command: no "+"
    r.send(b'a APPEND INBOX {70000}\r\n')
    assert r.line().startswith(b'a BAD [TOOBIG]')
    _, t = r.cmd('b', 'NOOP')
    assert t == b'b OK NOOP completed\r\n'
    # a line over 8 KiB ends the session
    r.send(b'c LOGIN ' + b'x' * 9000 + b' y\r\n')
    assert r.line().startswith(b'* BYE')
    with pytest.raises(EOFError):
        r.line()
    r.close()


def test_uid_sets(srv):
    m = imaps(srv)
    name = new_mailbox(m)
    for _ in range(3):
        append(m, name)
    r = Raw(srv)
    r.login()
    r.cmd('s', f'SELECT {name}')
    lines, _ = r.cmd('a', 'UID FETCH 2:* (FLAGS)')
    assert lines == [b'* 2 FETCH (UID 2 FLAGS (\\Recent))\r\n', b'* 3 FETCH (UID 3 FLAGS (\\Recent))\r\n'], lines
    # "n:*" with n above the last UID still names the last message (RFC 9051 6.4.8)
    lines, _ = r.cmd('b', 'UID FETCH 100:* (FLAGS)')
    assert lines == [b'* 3 FETCH (UID 3 FLAGS (\\Recent))\r\n'], lines
    lines, t = r.cmd('c', 'UID FETCH 100 (FLAGS)')
    assert lines == [] and t.startswith(b'c OK'), lines
    lines, _ = r.cmd('d', 'FETCH 2,* (UID)')
    assert lines == [b'* 2 FETCH (UID 2)\r\n', b'* 3 FETCH (UID 3)\r\n'], lines
    # "$" before any SEARCH RETURN (SAVE) is the empty set (RFC 5182)
    lines, t = r.cmd('e', 'FETCH $ (UID)')
    assert lines == [] and t.startswith(b'e OK'), t
    _, t = r.cmd('f', 'FETCH 0 (UID)')
    assert t.startswith(b'f BAD'), t
    r.close()
    m.logout()


def test_copy(srv):
    m = imaps(srv)
    src, dst = new_mailbox(m), new_mailbox(m)
    append(m, src, flags='(\\Flagged $Work)', date='"01-Dec-2026 10:30:00 +0000"')
    append(m, src)
    append(m, src, flags='(\\Seen)')
    ok(m.select(src))
    typ, data = m.copy('1,3', dst)
    assert typ == 'OK', data
    assert re.fullmatch(rb'\[COPYUID \d+ 1,3 1,2\] COPY completed', data[0]), data
    typ, data = m.uid('COPY', '2', dst)
    assert typ == 'OK' and re.fullmatch(rb'\d+ 2 3', m.untagged_responses.pop('COPYUID')[-1]), data
    typ, data = m.copy('1', 'NoSuchMailbox' + uuid.uuid4().hex)
    assert typ == 'NO' and b'TRYCREATE' in data[0], data
    # into the selected mailbox: EXISTS comes before OK
    typ, data = m.copy('2', src)
    assert typ == 'OK' and m.untagged_responses.get('EXISTS')[-1] == b'4', m.untagged_responses
    b = imaps(srv)
    ok(b.select(dst))
    typ, data = b.fetch('1:*', '(FLAGS INTERNALDATE BODY.PEEK[])')
    metas = [x[0] for x in data if isinstance(x, tuple)]
    assert [x[1] for x in data if isinstance(x, tuple)] == [MESSAGE] * 3
    assert rb'FLAGS (\Flagged \Recent $Work)' in metas[0] and b'01-Dec-2026 10:30:00 +0000' in metas[0], metas
    assert rb'FLAGS (\Seen \Recent)' in metas[1] and rb'FLAGS (\Recent)' in metas[2], metas
    b.logout()
    m.logout()


def test_uidplus_appenduid_and_uid_expunge(srv):
    m = imaps(srv)
    name = new_mailbox(m)
    data = append(m, name)
    assert re.fullmatch(rb'\[APPENDUID \d+ 1\] APPEND completed', data[0]), data
    for _ in range(3):
        append(m, name, flags='(\\Deleted)')
    r = Raw(srv)
    r.login()
    r.cmd('s', f'SELECT {name}')
    # only the given UIDs, and only if \Deleted
    lines, t = r.cmd('a', 'UID EXPUNGE 1:3')
    assert t == b'a OK EXPUNGE completed\r\n' and lines == [b'* 2 EXPUNGE\r\n', b'* 2 EXPUNGE\r\n'], lines
    lines, _ = r.cmd('b', 'UID FETCH 1:* (UID)')
    assert lines == [b'* 1 FETCH (UID 1)\r\n', b'* 2 FETCH (UID 4)\r\n'], lines
    _, t = r.cmd('c', 'EXPUNGE 1')
    assert t.startswith(b'c BAD'), t
    _, t = r.cmd('d', 'UID EXPUNGE')
    assert t.startswith(b'd BAD'), t
    r.close()
    m.logout()


def test_fetch_of_odd_messages(srv):
    m = imaps(srv)
    name = new_mailbox(m)
    odd = [b'Subject: only a header\r\n', b'no header at all\r\n', b'Subject: x\r\n\r\n',
           b'Subject: bare LF\n\nbody\n', b'\r\n\r\n']
    for body in odd:
        append(m, name, message=body)
    ok(m.select(name, readonly=True))
    typ, data = m.fetch('1:*', '(ENVELOPE BODYSTRUCTURE BODY[HEADER] BODY[TEXT] BODY[1] BODY[1.MIME] RFC822.SIZE)')
    assert typ == 'OK', data
    typ, data = m.fetch('1:*', '(BODY.PEEK[])')
    # (imaplib turns bare LF into CRLF before it sends)
    assert [x[1] for x in data if isinstance(x, tuple)] == [re.sub(rb'\r?\n', b'\r\n', x) for x in odd]
    m.logout()


def test_move(srv):
    m = imaps(srv)
    src, dst = new_mailbox(m), new_mailbox(m)
    for i in range(3):
        append(m, src, flags='(\\Flagged)' if i == 0 else '')
    r = Raw(srv)
    r.login()
    r.cmd('s', f'SELECT {src}')
    lines, t = r.cmd('a', f'MOVE 1:2 {dst}')
    assert t == b'a OK MOVE completed\r\n', t
    assert re.fullmatch(rb'\* OK \[COPYUID \d+ 1,2 1,2\] Moved\r\n', lines[0]), lines
    assert lines[1:] == [b'* 1 EXPUNGE\r\n', b'* 1 EXPUNGE\r\n'], lines
    lines, _ = r.cmd('b', 'FETCH 1:* (UID)')
    assert lines == [b'* 1 FETCH (UID 3)\r\n'], lines
    lines, t = r.cmd('c', f'UID MOVE 3 {dst}')
    assert t == b'c OK UID MOVE completed\r\n' and lines[-1] == b'* 1 EXPUNGE\r\n', lines
    _, t = r.cmd('d', f'EXAMINE {dst}')
    _, t = r.cmd('e', f'MOVE 1 {src}')
    assert t.startswith(b'e NO [READ-ONLY]'), t
    r.close()
    data = ok(m.status(dst, '(MESSAGES)'))
    assert b'MESSAGES 3' in data[0]
    ok(m.select(dst))
    typ, data = m.fetch('1', '(FLAGS)')
    assert rb'\Flagged' in data[0]
    m.logout()


# ---------------------------------------------------------------------------
# SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4, ESEARCH of RFC 4731)

def search_message(frm, subject, date, body, extra=''):
    head = f'From: {frm}\r\nTo: bob@example.org\r\nSubject: {subject}\r\n'
    if date is not None:
        head += f'Date: {date}\r\n'
    return (head + extra + 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n'
            'Content-Transfer-Encoding: 8bit\r\n\r\n' + body + '\r\n').encode()


# (message, flags, internal date): sequence numbers 1-5 are UIDs 2-6
SEARCH_MESSAGES = [
    (search_message('Alice <alice@example.net>', 'Quarterly budget', 'Tue, 01 Feb 2022 10:00:00 +0000',
                    'The numbers are attached.'),
     r'(\Seen)', '"01-Feb-2022 12:00:00 +0000"'),
    (search_message('=?UTF-8?Q?J=C3=BCrgen?= <jurgen@example.net>', '=?UTF-8?B?R3LDvMOfZSBhdXMgQmVybGlu?=',
                    '15 Mar 2022 08:00 +0100', 'Viele Grüße und Küsse\r\n' + 'padding line\r\n' * 200,
                    extra='Cc: Carol <carol@example.org>\r\n'),
     r'(\Seen \Flagged)', '"15-Mar-2022 09:00:00 +0000"'),
    (search_message('bob@example.org', 'Re: Quarterly budget', 'Fri, 1 Apr 2022 23:30:00 -0700',
                    'The budget numbers look fine.', extra='X-Priority: 1\r\n'),
     r'(\Deleted $Work)', '"01-Apr-2022 12:00:00 +0000"'),
    (search_message('dave@example.net', 'lunch', None, 'Pizza tomorrow?', extra='Bcc: eve@example.org\r\n'),
     r'(\Answered \Draft)', '"10-May-2022 12:00:00 +0000"'),
    (search_message('alice@example.net', 'Budget draft', '20 Jun 2022 12:00:00 +0000', 'budget v2 text'),
     '()', '"20-Jun-2022 12:00:00 +0000"'),
]


@pytest.fixture(scope='module')
def search_box(srv):
    m = imaps(srv, 'carol')
    name = new_mailbox(m)
    append(m, name, search_message('x@example.net', 'expunged', None, 'gone'))
    ok(m.select(name))
    ok(m.store('1', '+FLAGS', r'(\Deleted)'))
    ok(m.expunge())
    for msg, flags, date in SEARCH_MESSAGES:
        append(m, name, msg, flags, date)
    m.logout()
    return name


def search_session(srv, name):
    m = imaps(srv, 'carol')
    ok(m.select(name))
    return m


def found(data):
    assert len(data) == 1, data
    return [int(x) for x in data[0].split()]


def test_search_flags_and_keywords(srv, search_box):
    m = search_session(srv, search_box)
    # the first SELECT after the messages were stored claims them as \Recent
    assert m.untagged_responses.get('RECENT')[-1] in (b'0', b'5'), m.untagged_responses
    recent = m.untagged_responses.get('RECENT')[-1] == b'5'
    cases = {
        'ALL': [1, 2, 3, 4, 5],
        'SEEN': [1, 2], 'UNSEEN': [3, 4, 5],
        'FLAGGED': [2], 'UNFLAGGED': [1, 3, 4, 5],
        'DELETED': [3], 'UNDELETED': [1, 2, 4, 5],
        'ANSWERED': [4], 'UNANSWERED': [1, 2, 3, 5],
        'DRAFT': [4], 'UNDRAFT': [1, 2, 3, 5],
        'KEYWORD $Work': [3], 'keyword $work': [3], 'UNKEYWORD $Work': [1, 2, 4, 5],
        'RECENT': [1, 2, 3, 4, 5] if recent else [], 'NEW': [3, 4, 5] if recent else [],
        'OLD': [] if recent else [1, 2, 3, 4, 5],
        'SEEN UNFLAGGED': [1],
    }
    for criteria, want in cases.items():
        assert found(ok(m.search(None, criteria))) == want, criteria
    m.logout()


def test_search_headers(srv, search_box):
    m = search_session(srv, search_box)
    cases = {
        'FROM alice': [1, 5],
        'FROM "EXAMPLE.NET"': [1, 2, 4, 5],
        'TO bob': [1, 2, 3, 4, 5],
        'CC carol': [2],
        'BCC eve': [4],
        'SUBJECT budget': [1, 3, 5],
        'SUBJECT "re: quarterly"': [3],
        'HEADER X-Priority ""': [3],
        'HEADER x-priority 1': [3],
        'HEADER Date ""': [1, 2, 3, 5],
        'SUBJECT attached': [],
        'FROM nobody': [],
    }
    for criteria, want in cases.items():
        assert found(ok(m.search(None, criteria))) == want, criteria
    # decoded header values, compared without case, in UTF-8
    for crit, text, want in [('FROM', 'JÜRGEN', [2]), ('SUBJECT', 'grüße aus', [2]), ('SUBJECT', 'Grüsse', [2])]:
        m.literal = text.encode()
        assert found(ok(m.search('UTF-8', crit))) == want, (crit, text)
    m.logout()


def test_search_dates_and_sizes(srv, search_box):
    m = search_session(srv, search_box)
    sizes = [len(x[0]) for x in SEARCH_MESSAGES]
    cases = {
        'BEFORE 15-Mar-2022': [1],
        'ON 15-Mar-2022': [2],
        'ON "01-Apr-2022"': [3],
        'SINCE 1-Apr-2022': [3, 4, 5],
        'SINCE 1-Apr-2022 BEFORE 20-Jun-2022': [3, 4],
        'BEFORE 1-Jan-2000': [],
        # the Date: header, its time and zone disregarded; 4 has none
        'SENTBEFORE 15-Mar-2022': [1],
        'SENTON 1-Apr-2022': [3],
        'SENTON 15-Mar-2022': [2],
        'SENTSINCE 15-Mar-2022': [2, 3, 5],
        f'LARGER {sizes[1] - 1}': [2],
        f'LARGER {sizes[1]}': [],
        f'SMALLER {min(sizes) + 1}': [sizes.index(min(sizes)) + 1],
        f'LARGER {sizes[0]} SMALLER {sizes[1]}': sorted(i + 1 for i, s in enumerate(sizes) if sizes[0] < s < sizes[1]),
    }
    for criteria, want in cases.items():
        assert found(ok(m.search(None, criteria))) == want, criteria
    m.logout()


def test_search_sets_and_uid_search(srv, search_box):
    m = search_session(srv, search_box)
    cases = {
        '2:4': [2, 3, 4], '*': [5], '4:*': [4, 5], '1,3,5': [1, 3, 5], '9': [],
        'UID 3:4': [2, 3], 'UID 5:*': [4, 5], 'UID 100:*': [5], 'UID 1': [],
    }
    for criteria, want in cases.items():
        assert found(ok(m.search(None, criteria))) == want, criteria
    uid_cases = {
        'ALL': [2, 3, 4, 5, 6], 'SEEN': [2, 3], '1:2': [2, 3], 'UID 5:*': [5, 6], 'UID 100:*': [6],
        'NOT DELETED': [2, 3, 5, 6],
    }
    for criteria, want in uid_cases.items():
        assert found(ok(m.uid('SEARCH', criteria))) == want, criteria
    m.logout()


def test_search_not_or_nesting(srv, search_box):
    m = search_session(srv, search_box)
    cases = {
        'NOT SEEN': [3, 4, 5],
        'NOT NOT SEEN': [1, 2],
        'OR FLAGGED DELETED': [2, 3],
        'NOT (OR FLAGGED OR DELETED DRAFT)': [1, 5],
        'OR (SEEN FROM alice) (UNSEEN SUBJECT lunch)': [1, 4],
        '(OR SEEN DRAFT) NOT SUBJECT budget': [2, 4],
        'OR OR ANSWERED FLAGGED NOT UID 2:5': [2, 4, 5],
        '((SEEN) (NOT (FLAGGED)))': [1],
    }
    for criteria, want in cases.items():
        assert found(ok(m.search(None, criteria))) == want, criteria
    m.logout()


def test_search_body_and_text(srv, search_box):
    m = search_session(srv, search_box)
    cases = {
        # BODY: the text only, not the header ("budget" is in three subjects)
        'BODY budget': [3, 5],
        'BODY numbers': [1, 3],
        'BODY "budget numbers"': [3],
        'BODY "numbers budget"': [],
        'TEXT budget': [1, 3, 5],
        'TEXT carol': [2],
        'BODY carol': [],
        'TEXT pizza': [4],
        'BODY PIZZA NOT DRAFT': [],
        'OR BODY pizza BODY attached': [1, 4],
        'BODY nothingatall': [],
    }
    for criteria, want in cases.items():
        assert found(ok(m.search(None, criteria))) == want, criteria
    m.literal = 'grüße'.encode()
    assert found(ok(m.search('UTF-8', 'BODY'))) == [2]
    m.logout()


def test_search_errors_and_badcharset(srv, search_box):
    r = Raw(srv)
    r.login('carol')
    _, t = r.cmd('a', 'SEARCH ALL')
    assert t.startswith(b'a BAD'), t  # not selected
    r.cmd('s', f'SELECT {search_box}')
    lines, t = r.cmd('b', 'SEARCH CHARSET ISO-8859-1 FROM alice')
    assert lines == [] and t.startswith(b'b NO [BADCHARSET (UTF-8 US-ASCII)]'), t
    lines, t = r.cmd('c', 'SEARCH CHARSET US-ASCII FROM alice')
    assert lines == [b'* SEARCH 1 5\r\n'] and t.startswith(b'c OK'), (lines, t)
    for tag, bad in [('d', 'FOO'), ('e', 'FROM'), ('f', 'OR SEEN'), ('g', 'SINCE 31-Feb-2022'),
                     ('h', 'LARGER x'), ('i', '$:1'), ('j', 'RETURN (SAVE FOO) ALL'), ('k', '()')]:
        lines, t = r.cmd(tag, 'SEARCH ' + bad)
        assert lines == [] and t.startswith(tag.encode() + b' BAD'), (bad, t)
    # rev1 with RETURN: ESEARCH (advertised)
    lines, t = r.cmd('l', 'SEARCH RETURN (MIN MAX COUNT) SEEN')
    assert lines == [b'* ESEARCH (TAG "l") MIN 1 MAX 2 COUNT 2\r\n'], lines
    lines, t = r.cmd('m', 'UID SEARCH RETURN () UNDELETED')
    assert lines == [b'* ESEARCH (TAG "m") UID ALL 2:3,5:6\r\n'], lines
    lines, _ = r.cmd('n', 'CAPABILITY')
    assert b' ESEARCH' in lines[0], lines
    r.close()


def test_search_rev2_esearch(srv, search_box):
    r = Raw(srv)
    r.login('carol')
    lines, _ = r.cmd('e', 'ENABLE IMAP4rev2')
    assert lines == [b'* ENABLED IMAP4rev2\r\n']
    r.cmd('s', f'SELECT "{search_box}"')
    cases = [
        ('SEARCH UNDELETED', b'* ESEARCH (TAG "a1") ALL 1:2,4:5'),
        ('UID SEARCH UNDELETED', b'* ESEARCH (TAG "a2") UID ALL 2:3,5:6'),
        ('SEARCH RETURN (MIN MAX) SUBJECT budget', b'* ESEARCH (TAG "a3") MIN 1 MAX 5'),
        ('UID SEARCH RETURN (COUNT) NOT SEEN', b'* ESEARCH (TAG "a4") UID COUNT 3'),
        ('SEARCH RETURN (MIN MAX ALL COUNT) FROM nobody', b'* ESEARCH (TAG "a5") COUNT 0'),
        ('SEARCH FROM nobody', b'* ESEARCH (TAG "a6")'),
        ('UID SEARCH RETURN (ALL COUNT) CHARSET UTF-8 BODY budget', b'* ESEARCH (TAG "a7") UID ALL 4,6 COUNT 2'),
    ]
    for i, (command, want) in enumerate(cases):
        tag = f'a{i + 1}'
        lines, t = r.cmd(tag, command)
        assert lines == [want + b'\r\n'] and t.startswith(tag.encode() + b' OK'), (command, lines, t)
    lines, t = r.cmd('b', 'SEARCH CHARSET KOI8-R ALL')
    assert lines == [] and t.startswith(b'b NO [BADCHARSET (UTF-8 US-ASCII)]'), t
    r.close()


def test_search_body_of_large_message(srv):
    # above 64 KiB the text is decoded on the worker pool
    m = imaps(srv, 'carol')
    name = new_mailbox(m)
    big = search_message('a@example.net', 'big', None, 'filler words here\r\n' * 5000 + 'the zebra crossing')
    assert len(big) > 64 * 1024
    append(m, name, big)
    append(m, name, search_message('a@example.net', 'zebra', None, 'small'))
    ok(m.select(name))
    assert found(ok(m.search(None, 'BODY', 'zebra'))) == [1]
    assert found(ok(m.search(None, 'BODY', '"zebra crossing"'))) == [1]
    assert found(ok(m.search(None, 'TEXT', 'zebra'))) == [1, 2]
    assert found(ok(m.search(None, 'BODY', '"crossing zebra"'))) == []
    m.logout()
