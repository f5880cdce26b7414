# SPDX-License-Identifier: GPL-2.0-or-later
"""The SMTP module (inbound MX, submissions) as clients see it: Python's
smtplib, raw sockets for what smtplib cannot send (pipelined groups, BDAT,
smuggling attempts, injection across STARTTLS) and swaks.  Every delivery is
checked in the store with `mail export`, byte for byte.

Daemons (one embedded PostgreSQL each):
  mx         [tls] with an SNI certificate, an `smtp` and a `submissions`
             listener, [smtp] max_recipients = 5, max_message_size = 200000
  plain      no [tls], no [smtp] section: the defaults
  nodomains  domains = [], [smtp] max_connections_per_ip = 3
  a fresh one per durability test (it kills the database)
"""
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import MODULE_DIR, Config, Daemon, free_port, give_to_service_user, run_mail
import tlsutil

HAVE_SMTP = os.path.exists(os.path.join(MODULE_DIR, 'smtp.so'))

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, 'store-pg.so')),
                       reason='the store-pg module was not built'),
    pytest.mark.skipif(not tlsutil.have_certtool(), reason='certtool (Debian package gnutls-bin) is not installed'),
]

HOSTNAME = 'mail.example.org'
ALICE_PASSWORD = 'alice long password'
MAX_SIZE = 200000
MAX_RCPT = 5
SENDER = 'sender@example.net'
EX_CONFIG = 78

SWAKS = shutil.which('swaks')
needs_swaks = pytest.mark.skipif(SWAKS is None, reason='swaks (Debian package swaks) is not installed')

# ---------------------------------------------------------------------------
# a raw SMTP client


class Closed(Exception):
    pass


class Reply:
    def __init__(self, lines):
        self.lines = lines
        self.code = int(lines[0][:3])

    @property
    def text(self):
        return '\n'.join(l[4:] for l in self.lines)

    @property
    def enhanced(self):
        m = re.match(r'^\d{3}[ -](\d\.\d{1,3}\.\d{1,3})\b', self.lines[0])
        return m.group(1) if m else None

    def __repr__(self):
        return '<' + ' / '.join(self.lines) + '>'


class Raw:
    """One SMTP connection over a plain socket (optionally implicit TLS).
    Replies are read exactly as they come, so pipelining can be checked."""

    def __init__(self, port, host='127.0.0.1', timeout=10, context=None, server_hostname=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        self.buf = b''
        self.transcript = []

    def send(self, data):
        self.transcript.append('C: ' + repr(data)[:300])
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b''
        if not chunk:
            raise Closed('the server closed the connection')
        self.buf += chunk

    def line(self):
        while b'\r\n' not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line.decode('utf-8', 'replace')

    def reply(self):
        lines = []
        while True:
            line = self.line()
            assert re.match(r'^\d{3}([ -]|$)', line), f'not an SMTP reply line: {line!r}; so far {self.transcript}'
            lines.append(line)
            if len(line) == 3 or line[3] == ' ':
                break
            assert line[:3] == lines[0][:3], f'reply code changes inside a multi-line reply: {lines}'
        r = Reply(lines)
        self.transcript.append(f'S: {r!r}')
        return r

    def cmd(self, line):
        self.send(line.encode() + b'\r\n')
        return self.reply()

    def banner(self):
        r = self.reply()
        assert r.code == 220, r
        return r

    def ehlo(self, name='client.example.net'):
        r = self.cmd('EHLO ' + name)
        assert r.code == 250, r
        return r

    def replies_until_closed(self, timeout=5):
        """Every reply until the server closes; fails if it does not close."""
        replies = []
        self.sock.settimeout(timeout)
        try:
            while True:
                try:
                    replies.append(self.reply())
                except Closed:
                    assert self.buf == b'', f'a partial reply before the close: {self.buf!r}'
                    return replies
        except socket.timeout:
            raise AssertionError(f'the server did not close the connection; replies: {replies}; '
                                 f'transcript: {self.transcript}')
        finally:
            self.sock.settimeout(self.timeout)

    def nothing_pending(self, wait=0.5):
        """True when the server sends nothing within @wait seconds."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(4096)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        finally:
            self.sock.settimeout(self.timeout)
        self.buf += data
        return False

    def starttls(self, context, server_hostname):
        assert self.buf == b'', f'octets after the STARTTLS answer, before the handshake: {self.buf!r}'
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def start_transaction(r, rcpts=('alice@example.org',), mail_from=SENDER, params=''):
    rep = r.cmd(f'MAIL FROM:<{mail_from}>' + (' ' + params if params else ''))
    assert rep.code == 250, rep
    for rcpt in rcpts:
        rep = r.cmd(f'RCPT TO:<{rcpt}>')
        assert rep.code == 250, (rcpt, rep)


# ---------------------------------------------------------------------------
# messages and the store


def new_marker(tag='m'):
    return f'{tag}-{uuid.uuid4().hex[:16]}'


def make_message(marker, body=b'Hello.\r\n', to='alice@example.org', headers=()):
    lines = [b'From: Sender <sender@example.net>', b'To: <' + to.encode() + b'>',
             b'Subject: test ' + marker.encode(), b'Message-ID: <' + marker.encode() + b'@test.example>',
             b'Date: Mon, 01 Jan 2024 12:00:00 +0000', *headers]
    return b'\r\n'.join(lines) + b'\r\n\r\n' + body


def lf(data):
    return data.replace(b'\r\n', b'\n')


def export(config, account):
    """Every message of the account (all mailboxes), as `mail export
    --format maildir` writes them (LF line ends)."""
    parent = tempfile.mkdtemp(prefix='export-', dir=config.root)
    os.chmod(parent, 0o755)
    give_to_service_user(parent)
    out = os.path.join(parent, 'Maildir')
    r = run_mail('export', account, '--format', 'maildir', '--out', out, '--config', config.path, timeout=120)
    assert r.returncode == 0, f'mail export {account}: {r.stderr}'
    messages = []
    for root, dirs, files in os.walk(out):
        if os.path.basename(root) in ('cur', 'new'):
            for name in files:
                with open(os.path.join(root, name), 'rb') as f:
                    messages.append(f.read())
    shutil.rmtree(parent, ignore_errors=True)
    return messages


def stored_with(config, account, marker):
    return [m for m in export(config, account) if marker.encode() in m]


def trace_headers(stored, sent):
    """The header lines the server put before the message it received,
    unfolded, as {lower-case name: [values]}.  Fails unless the rest of the
    stored message is the sent one, byte for byte."""
    want = lf(sent)
    assert stored.endswith(want), f'stored message differs from the one sent:\n{stored!r}\n---\n{want!r}'
    prefix = stored[:-len(want)].decode('utf-8', 'replace')
    fields = {}
    current = None
    for line in prefix.split('\n')[:-1] if prefix else []:
        if line[:1] in (' ', '\t') and current is not None:
            fields[current][-1] += ' ' + line.strip()
            continue
        name, colon, value = line.partition(':')
        assert colon and re.fullmatch(r'[!-9;-~]+', name), f'not a header line before the message: {line!r}'
        current = name.lower()
        fields.setdefault(current, []).append(value.strip())
    return fields


def check_delivered(config, account, marker, sent):
    """The message is in the account exactly once, byte for byte, with a
    Received header; returns that header (unfolded)."""
    found = stored_with(config, account, marker)
    assert len(found) == 1, f'{len(found)} messages with {marker} in {account}'
    fields = trace_headers(found[0], sent)
    assert 'received' in fields, f'no Received header: {found[0][:500]!r}'
    received = fields['received'][0]
    assert f'by {HOSTNAME}' in received, received
    return received


def assert_not_delivered(config, account, marker):
    found = stored_with(config, account, marker)
    assert found == [], f'{len(found)} messages with {marker} were stored in {account}'


# ---------------------------------------------------------------------------
# daemons


@pytest.fixture(scope='module')
def tmp_root():
    d = tempfile.mkdtemp(prefix='epistle-smtp-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def material(tmp_root):
    return tlsutil.TestMaterial(os.path.join(tmp_root, 'tls'))


@pytest.fixture(scope='module')
def password_hash():
    r = run_mail('token-hash', input=ALICE_PASSWORD + '\n')
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def new_config(root, name):
    d = os.path.join(root, name)
    os.mkdir(d)
    os.chmod(d, 0o755)
    return Config(d)


def accounts(password_hash):
    return f'''
[[accounts]]
name = "alice"
addresses = ["alice@example.org"]
password_hash = "{password_hash}"

[[accounts]]
name = "bob"
addresses = ["bob@example.org"]

[[accounts]]
name = "victim"
addresses = ["victim@example.org"]

[[accounts]]
name = "jose"
addresses = ["josé@example.org"]
'''


def listener(kind, port):
    return f'\n[[listeners]]\nkind = "{kind}"\naddr = "127.0.0.1"\nport = {port}\n'


def start_daemon(config):
    if not HAVE_SMTP:
        pytest.skip('the smtp module was not built')
    d = Daemon(config, MODULE_DIR)
    try:
        d.start()
    except BaseException:
        d.close()
        raise
    return d


@pytest.fixture(scope='module')
def mx(tmp_root, material, password_hash):
    config = new_config(tmp_root, 'mx')
    smtp_port, smtps_port = free_port(), free_port()
    config.write(config.base(modules=['store-pg', 'smtp']) + accounts(password_hash)
                 + listener('smtp', smtp_port) + listener('submissions', smtps_port)
                 + f'\n[smtp]\nmax_recipients = {MAX_RCPT}\nmax_message_size = {MAX_SIZE}\n'
                 + material.tls_section())
    d = start_daemon(config)
    d.port, d.smtps_port, d.material = smtp_port, smtps_port, material
    yield d
    d.close()


@pytest.fixture(scope='module')
def plain(tmp_root, password_hash):
    config = new_config(tmp_root, 'plain')
    port = free_port()
    config.write(config.base(modules=['store-pg', 'smtp']) + accounts(password_hash) + listener('smtp', port))
    d = start_daemon(config)
    d.port = port
    yield d
    d.close()


@pytest.fixture(scope='module')
def nodomains(tmp_root):
    config = new_config(tmp_root, 'nodomains')
    port = free_port()
    config.write(config.base(domains=(), modules=['store-pg', 'smtp']) + listener('smtp', port)
                 + '\n[smtp]\nmax_connections_per_ip = 3\n')
    d = start_daemon(config)
    d.port = port
    yield d
    d.close()


def connect(d, **kw):
    r = Raw(d.port, **kw)
    r.banner()
    return r


def smtp_client(d):
    return smtplib.SMTP('127.0.0.1', d.port, local_hostname='client.example.net', timeout=10)


def ehlo_keywords(reply):
    """{KEYWORD: parameters} of an EHLO reply."""
    out = {}
    for line in reply.lines[1:]:
        kw, _, params = line[4:].partition(' ')
        out[kw.upper()] = params
    return out


# ---------------------------------------------------------------------------
# TLS material refused at start-up


def bad_material_cases(m):
    missing = os.path.join(m.dir, 'missing.pem')
    cert, key = m.server
    return {
        'cert-missing': (missing, key, None, missing),
        'key-missing': (cert, missing, None, missing),
        'cert-is-directory': (m.ca.dir, key, None, m.ca.dir),
        'cert-not-pem': (m.garbage, key, None, m.garbage),
        'key-mismatch': (cert, m.mismatch_key, None, (cert, m.mismatch_key)),
        'cert-expired': (m.expired[0], m.expired[1], None, m.expired[0]),
        'cert-not-yet-valid': (m.future[0], m.future[1], None, m.future[0]),
        'sni-cert-expired': (cert, key, m.expired, m.expired[0]),
        'sni-key-mismatch': (cert, key, (m.sni[0], m.mismatch_key), (m.sni[0], m.mismatch_key)),
    }


BAD_MATERIAL = ['cert-missing', 'key-missing', 'cert-is-directory', 'cert-not-pem', 'key-mismatch', 'cert-expired',
                'cert-not-yet-valid', 'sni-cert-expired', 'sni-key-mismatch']


def material_config(config, cert, key, sni):
    # no listener: the TLS material is checked whoever uses it
    text = (config.base(modules=['store-pg'])
            + f'\n[tls]\ncert_file = "{cert}"\nkey_file = "{key}"\n')
    if sni:
        text += f'\n[[tls.sni]]\nnames = ["mx.example.net"]\ncert_file = "{sni[0]}"\nkey_file = "{sni[1]}"\n'
    config.write(text)


def test_good_material_accepted(config, material):
    material_config(config, *material.server, material.sni)
    r = run_mail('config-check', '--config', config.path)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize('case', BAD_MATERIAL)
def test_bad_material_refused(case, config, material):
    cert, key, sni, named = bad_material_cases(material)[case]
    named = named if isinstance(named, tuple) else (named,)
    material_config(config, cert, key, sni)

    r = run_mail('config-check', '--config', config.path)
    assert r.returncode == EX_CONFIG, f'config-check exit {r.returncode}: {r.stderr}'
    assert any(p in r.stderr for p in named), f'config-check does not name {named}: {r.stderr}'

    proc = subprocess.Popen([os.environ['EPISTLE_MAIL'], 'serve', '--config', config.path],
                            env=dict(os.environ, EPISTLE_MODULE_DIR=MODULE_DIR, LC_ALL='C.UTF-8'),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f'mail serve started with bad TLS material ({case}):\n{out}')
    assert proc.returncode == EX_CONFIG, f'serve exit {proc.returncode}:\n{out}'
    assert any(p in out for p in named), f'serve does not name {named}:\n{out}'


# ---------------------------------------------------------------------------
# greeting, EHLO, VRFY


def test_banner_and_ehlo_without_version(mx):
    r = Raw(mx.port)
    banner = r.reply()
    assert banner.code == 220 and len(banner.lines) == 1, banner
    assert re.fullmatch(r'220 mail\.example\.org ESMTP', banner.lines[0]), banner
    ehlo = r.ehlo()
    assert ehlo.lines[0].startswith('250-mail.example.org'), ehlo
    for line in banner.lines + ehlo.lines:
        assert 'epistle' not in line.lower(), line
    assert not re.search(r'\d+\.\d+', ehlo.lines[0]), ehlo.lines[0]
    kw = ehlo_keywords(ehlo)
    for k in ('PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS', 'CHUNKING', 'DSN'):
        assert k in kw, (k, ehlo)
    assert kw.get('SIZE') == str(MAX_SIZE), ehlo
    assert f'RCPTMAX={MAX_RCPT}' in kw.get('LIMITS', '').split(), ehlo
    assert 'REQUIRETLS' not in kw, 'REQUIRETLS offered without TLS'
    assert r.cmd('QUIT').code == 221
    r.close()


def test_vrfy_discloses_nothing(mx):
    r = connect(mx)
    r.ehlo()
    answers = {}
    for who in ('alice', 'alice@example.org', 'nobody', 'nobody@example.org', 'bob'):
        rep = r.cmd(f'VRFY {who}')
        assert rep.code == 252, (who, rep)
        answers[who] = rep.text.replace(who, '<who>')
    assert len(set(answers.values())) == 1, answers
    r.close()


# ---------------------------------------------------------------------------
# delivery


def test_plain_delivery(mx):
    marker = new_marker()
    body = b'Plain delivery.\r\n.a line with a leading dot\r\n..two dots\r\n.\r\n \r\nend\r\n'
    msg = make_message(marker, body)
    with smtp_client(mx) as s:
        assert s.sendmail(SENDER, ['alice@example.org'], msg) == {}
    received = check_delivered(mx.config, 'alice', marker, msg)
    assert 'TLS' not in received, received
    assert re.search(r'\bwith ESMTP\b', received), received


def test_domain_case_insensitive(mx):
    marker = new_marker()
    msg = make_message(marker)
    with smtp_client(mx) as s:
        assert s.sendmail(SENDER, ['alice@EXAMPLE.Org'], msg) == {}
    check_delivered(mx.config, 'alice', marker, msg)


def test_starttls_verified(mx):
    marker = new_marker()
    msg = make_message(marker)
    with smtp_client(mx) as s:
        s.ehlo()
        assert s.has_extn('starttls')
        assert not s.has_extn('requiretls')
        code, _ = s.starttls(context=mx.material.client_context())
        assert code == 220
        assert s.sock.version() == 'TLSv1.3'
        s.ehlo()
        assert not s.has_extn('starttls'), 'STARTTLS offered again inside TLS'
        assert s.has_extn('requiretls'), 'REQUIRETLS not offered over TLS'
        code, _ = s.docmd('STARTTLS')
        assert 500 <= code < 600, f'a second STARTTLS answered {code}'
        assert s.sendmail(SENDER, ['alice@example.org'], msg) == {}
    received = check_delivered(mx.config, 'alice', marker, msg)
    assert re.search(r'TLS ?v?1\.3', received), received
    assert re.search(r'\bwith ESMTPS\b', received), received


def test_starttls_untrusted_client_refuses(mx):
    """The certificate really is checked: without the test CA it fails."""
    with smtp_client(mx) as s:
        s.ehlo()
        with pytest.raises(ssl.SSLCertVerificationError):
            s.starttls(context=ssl.create_default_context())


def submissions_client(mx):
    s = smtplib.SMTP_SSL('127.0.0.1', mx.smtps_port, local_hostname='client.example.net', timeout=10,
                         context=mx.material.client_context())
    s.ehlo()
    if s.has_extn('auth'):
        s.login('alice', ALICE_PASSWORD)
    return s


def test_implicit_tls_submissions(mx):
    marker = new_marker()
    msg = make_message(marker, to='bob@example.org')
    with submissions_client(mx) as s:
        assert s.sock.version() in ('TLSv1.3', 'TLSv1.2')
        assert not s.has_extn('starttls'), 'STARTTLS offered on implicit TLS'
        assert s.has_extn('requiretls')
        assert s.sendmail('alice@example.org', ['bob@example.org'], msg) == {}
    received = check_delivered(mx.config, 'bob', marker, msg)
    assert 'TLS' in received, received


@pytest.mark.parametrize('name,cn,san', [
    ('mx.example.net', 'mx.example.net', 'mx.example.net'),
    ('smtp.example.net', 'mx.example.net', 'smtp.example.net'),
    ('mail.example.org', 'mail.example.org', 'mail.example.org'),
    (None, 'mail.example.org', 'mail.example.org'),
    ('unknown.example.com', 'mail.example.org', 'mail.example.org'),
])
def test_sni_selects_certificate(mx, name, cn, san):
    ctx = mx.material.client_context()
    if name != san:
        ctx.check_hostname = False  # the default certificate for a name it does not carry
    # implicit TLS
    r = Raw(mx.smtps_port, context=ctx, server_hostname=name)
    cert = r.sock.getpeercert()
    assert dict(x[0] for x in cert['subject'])['commonName'] == cn, cert
    assert ('DNS', san) in cert['subjectAltName'], cert
    r.banner()
    r.close()
    # STARTTLS
    r = connect(mx)
    r.ehlo()
    assert r.cmd('STARTTLS').code == 220
    r.starttls(ctx, name)
    cert = r.sock.getpeercert()
    assert dict(x[0] for x in cert['subject'])['commonName'] == cn, cert
    r.ehlo()
    r.close()


def test_starttls_command_injection(mx):
    """RFC 3207 §4.2 / CVE-2011-0411: what was pipelined after STARTTLS is
    not executed after the handshake."""
    ctx = mx.material.client_context()
    r = connect(mx)
    r.ehlo()
    r.send(b'STARTTLS\r\nNOOP\r\nMAIL FROM:<injected@example.net>\r\n')
    rep = r.reply()
    assert rep.code == 220, rep
    assert r.nothing_pending(0.3), f'the server answered a command pipelined after STARTTLS in clear: {r.buf!r}'
    r.starttls(ctx, 'mail.example.org')
    assert r.nothing_pending(0.5), f'the server answered an injected command after the handshake: {r.buf!r}'
    ehlo = r.ehlo()
    assert ehlo.lines[0].startswith('250-mail.example.org'), ehlo
    # the injected MAIL FROM did not open a transaction: RCPT needs one
    rep = r.cmd('RCPT TO:<alice@example.org>')
    assert rep.code == 503, f'RCPT without MAIL answered {rep}: the injected MAIL FROM was executed'
    r.close()


def test_pipelining(mx):
    marker = new_marker()
    msg = make_message(marker, to='alice@example.org')
    r = connect(mx)
    assert 'PIPELINING' in ehlo_keywords(r.ehlo())
    r.send(b'MAIL FROM:<sender@example.net>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\n'
           b'RCPT TO:<bob@example.org>\r\nRCPT TO:<someone@example.com>\r\nDATA\r\n')
    codes = [r.reply() for _ in range(6)]
    assert [c.code for c in codes] == [250, 250, 550, 250, 550, 354], codes
    assert codes[2].enhanced == '5.1.1' and codes[4].enhanced == '5.7.1', codes
    r.send(msg + b'.\r\nRSET\r\nNOOP\r\nQUIT\r\n')
    codes = [r.reply() for _ in range(4)]
    assert [c.code for c in codes] == [250, 250, 250, 221], codes
    assert r.replies_until_closed() == []
    r.close()
    check_delivered(mx.config, 'alice', marker, msg)
    check_delivered(mx.config, 'bob', marker, msg)


def test_bdat(mx):
    m1, m2 = new_marker(), new_marker()
    msg1 = make_message(m1, b'.leading dot stays (no dot-stuffing in BDAT)\r\n..two\r\nmiddle\r\n' * 20)
    msg2 = make_message(m2, b'in one chunk\r\n')
    r = connect(mx)
    assert 'CHUNKING' in ehlo_keywords(r.ehlo())
    start_transaction(r)
    first, second = msg1[:700], msg1[700:]
    r.send(b'BDAT %d\r\n' % len(first) + first)
    assert r.reply().code == 250
    r.send(b'BDAT %d\r\n' % len(second) + second)
    assert r.reply().code == 250
    assert r.cmd('BDAT 0 LAST').code == 250
    # the second transaction pipelined whole, BDAT LAST carrying everything
    r.send(b'MAIL FROM:<sender@example.net>\r\nRCPT TO:<alice@example.org>\r\nBDAT %d LAST\r\n' % len(msg2) + msg2
           + b'QUIT\r\n')
    codes = [r.reply().code for _ in range(4)]
    assert codes == [250, 250, 250, 221], codes
    r.close()
    check_delivered(mx.config, 'alice', m1, msg1)
    check_delivered(mx.config, 'alice', m2, msg2)


def test_bdat_crlf_split_across_chunks(mx):
    """A CRLF whose CR ends one chunk and whose LF starts the next is a CRLF,
    not a bare CR (RFC 3030 chunks are arbitrary octet boundaries)."""
    marker = new_marker()
    msg = make_message(marker, b'line one\r\nline two\r\n')
    cut = msg.index(b'line one\r\n') + len(b'line one\r')
    r = connect(mx)
    r.ehlo()
    start_transaction(r)
    r.send(b'BDAT %d\r\n' % cut + msg[:cut])
    rep = r.reply()
    assert rep.code == 250, rep
    r.send(b'BDAT %d LAST\r\n' % (len(msg) - cut) + msg[cut:])
    rep = r.reply()
    assert rep.code == 250, rep
    r.close()
    check_delivered(mx.config, 'alice', marker, msg)


def test_8bitmime(mx):
    marker = new_marker()
    body = 'Grüße aus Köln, 日本語, émoji 📬\r\n'.encode() + b'latin-1: caf\xe9 na\xefve\r\n'
    msg = make_message(marker, body, headers=[b'MIME-Version: 1.0', b'Content-Type: text/plain; charset=utf-8',
                                              b'Content-Transfer-Encoding: 8bit'])
    with smtp_client(mx) as s:
        s.ehlo()
        assert s.has_extn('8bitmime')
        assert s.sendmail(SENDER, ['alice@example.org'], msg, mail_options=['BODY=8BITMIME']) == {}
    check_delivered(mx.config, 'alice', marker, msg)


def test_smtputf8(mx):
    marker = new_marker()
    msg = make_message(marker, 'Grüße\r\n'.encode(), to='josé@example.org')
    r = connect(mx)
    assert 'SMTPUTF8' in ehlo_keywords(r.ehlo())
    # without SMTPUTF8, a UTF-8 mailbox is refused
    rep = r.cmd('MAIL FROM:<jörg@example.net>')
    assert 500 <= rep.code < 600, f'UTF-8 reverse path without SMTPUTF8 answered {rep}'
    r.cmd('RSET')
    rep = r.cmd('MAIL FROM:<sender@example.net>')
    assert rep.code == 250, rep
    rep = r.cmd('RCPT TO:<josé@example.org>')
    assert 500 <= rep.code < 600, f'UTF-8 forward path without SMTPUTF8 answered {rep}'
    assert r.cmd('RSET').code == 250
    # with it, accepted and delivered to the account with the UTF-8 address
    rep = r.cmd('MAIL FROM:<jörg@example.net> SMTPUTF8 BODY=8BITMIME')
    assert rep.code == 250, rep
    rep = r.cmd('RCPT TO:<josé@example.org>')
    assert rep.code == 250, rep
    assert r.cmd('DATA').code == 354
    r.send(msg + b'.\r\n')
    rep = r.reply()
    assert rep.code == 250, rep
    r.close()
    check_delivered(mx.config, 'jose', marker, msg)


def test_size_declared_too_large(mx):
    r = connect(mx)
    r.ehlo()
    rep = r.cmd(f'MAIL FROM:<{SENDER}> SIZE={MAX_SIZE + 1}')
    assert rep.code == 552 and rep.enhanced == '5.3.4', rep
    rep = r.cmd(f'MAIL FROM:<{SENDER}> SIZE={MAX_SIZE}')
    assert rep.code == 250, rep
    r.close()


def test_size_data_too_large(mx):
    marker = new_marker()
    body = (b'x' * 98 + b'\r\n') * (MAX_SIZE // 100 + 50)
    msg = make_message(marker, body)
    r = connect(mx)
    r.ehlo()
    start_transaction(r)
    assert r.cmd('DATA').code == 354
    try:
        r.send(msg + b'.\r\n')
    except (BrokenPipeError, ConnectionResetError):
        pass
    rep = r.reply()
    assert rep.code == 552 and rep.enhanced == '5.3.4', rep
    r.close()
    # and with BDAT
    r = connect(mx)
    r.ehlo()
    start_transaction(r)
    try:
        r.send(b'BDAT %d LAST\r\n' % len(msg) + msg)
    except (BrokenPipeError, ConnectionResetError):
        pass
    rep = r.reply()
    assert rep.code == 552 and rep.enhanced == '5.3.4', rep
    r.close()
    assert_not_delivered(mx.config, 'alice', marker)


def test_text_line_limit(mx):
    ok, bad = new_marker(), new_marker()
    msg_ok = make_message(ok, b'y' * 998 + b'\r\nshort\r\n')
    msg_bad = make_message(bad, b'y' * 999 + b'\r\nshort\r\n')
    r = connect(mx)
    r.ehlo()
    start_transaction(r)
    assert r.cmd('DATA').code == 354
    r.send(msg_ok + b'.\r\n')
    rep = r.reply()
    assert rep.code == 250, f'a 998-octet line: {rep}'
    start_transaction(r)
    assert r.cmd('DATA').code == 354
    r.send(msg_bad + b'.\r\n')
    rep = r.reply()
    assert 500 <= rep.code < 600, f'a 999-octet line: {rep}'
    r.close()
    check_delivered(mx.config, 'alice', ok, msg_ok)
    assert_not_delivered(mx.config, 'alice', bad)


def test_rcpt_limit_configured(mx):
    marker = new_marker()
    msg = make_message(marker)
    r = connect(mx)
    assert f'RCPTMAX={MAX_RCPT}' in ehlo_keywords(r.ehlo()).get('LIMITS', '')
    assert r.cmd(f'MAIL FROM:<{SENDER}>').code == 250
    for i in range(MAX_RCPT):
        rep = r.cmd(f'RCPT TO:<alice+r{i}@example.org>')
        assert rep.code == 250, (i, rep)
    rep = r.cmd('RCPT TO:<bob@example.org>')
    assert rep.code == 452 and rep.enhanced == '4.5.3', rep
    # the transaction goes on with the recipients accepted
    assert r.cmd('DATA').code == 354
    r.send(msg + b'.\r\n')
    assert r.reply().code == 250
    r.close()
    assert 1 <= len(stored_with(mx.config, 'alice', marker)) <= MAX_RCPT
    assert_not_delivered(mx.config, 'bob', marker)


def test_foreign_domain_refused(mx):
    r = connect(mx)
    r.ehlo()
    assert r.cmd(f'MAIL FROM:<{SENDER}>').code == 250
    for rcpt in ('someone@example.com', 'alice@example.org.evil.net', 'alice@sub.example.org', 'alice@[127.0.0.1]'):
        rep = r.cmd(f'RCPT TO:<{rcpt}>')
        assert rep.code == 550 and rep.enhanced == '5.7.1', (rcpt, rep)
    # source routes do not smuggle a relay through either (RFC 5321 §3.6.1)
    rep = r.cmd('RCPT TO:<@example.org:someone@example.com>')
    assert 500 <= rep.code < 600, rep
    r.close()


def test_unknown_user_refused(mx):
    r = connect(mx)
    r.ehlo()
    assert r.cmd(f'MAIL FROM:<{SENDER}>').code == 250
    rep = r.cmd('RCPT TO:<nobody@example.org>')
    assert rep.code == 550 and rep.enhanced == '5.1.1', rep
    rep = r.cmd('DATA')
    assert 500 <= rep.code < 600, f'DATA without a recipient answered {rep}'
    r.close()


def test_subaddress_delivered_to_user(mx):
    marker = new_marker()
    msg = make_message(marker, to='alice+lists@example.org')
    with smtp_client(mx) as s:
        assert s.sendmail(SENDER, ['alice+lists@example.org'], msg) == {}
    check_delivered(mx.config, 'alice', marker, msg)


def test_null_sender_accepted(mx):
    marker = new_marker()
    msg = make_message(marker)
    with smtp_client(mx) as s:
        assert s.sendmail('<>', ['alice@example.org'], msg) == {}
    check_delivered(mx.config, 'alice', marker, msg)


def test_error_limit_drops_session(mx):
    r = connect(mx)
    r.ehlo()
    # consecutive: a good command in between starts the count again
    for _ in range(19):
        assert r.cmd('XYZZY').code == 500
    assert r.cmd('NOOP').code == 250
    for _ in range(19):
        rep = r.cmd('XYZZY')
        assert 500 <= rep.code < 600, rep
    assert r.cmd('NOOP').code == 250
    for i in range(19):
        rep = r.cmd('XYZZY')
        assert 500 <= rep.code < 600, (i, rep)
    r.send(b'XYZZY\r\n')
    replies = r.replies_until_closed()
    assert replies and replies[-1].code == 421, f'the 20th error: {replies}'
    r.close()


def test_long_command_line(mx):
    r = connect(mx)
    r.ehlo()
    line = 'NOOP ' + 'x' * (510 - len('NOOP '))
    assert len(line) + 2 == 512
    rep = r.cmd(line)
    assert rep.code == 250, f'a 512-octet command line: {rep}'
    rep = r.cmd(line + 'x')
    assert rep.code == 500, f'a 513-octet command line: {rep}'
    r.close()
    # a huge line: the rest is not read as commands
    r = connect(mx)
    r.ehlo()
    r.send(b'NOOP ' + b'y' * 5000 + b'RSET\r\n')
    rep = r.reply()
    assert rep.code == 500, rep
    try:
        rep = r.cmd('NOOP')
        assert rep.code == 250, rep
    except Closed:
        pass
    r.close()


# ---------------------------------------------------------------------------
# SMTP smuggling and stray CR / LF / NUL: refused, connection closed, nothing stored

SMUGGLED = (b'MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n'
            b'From: <ceo@example.org>\r\nSubject: SMUGGLED\r\n\r\nsmuggled\r\n')

DATA_VARIANTS = {
    'lf-dot-lf': b'\n.\n',
    'cr-dot-cr': b'\r.\r',
    'crlf-dot-cr': b'\r\n.\r',
    'lf-dot-crlf': b'\n.\r\n',
    'crlf-dot-lf': b'\r\n.\n',
    'cr-dot-crlf': b'\r.\r\n',
}


def smuggling_cases(marker):
    head = b'From: <sender@example.net>\r\nTo: <victim@example.org>\r\nSubject: ' + marker.encode() + b'\r\n'
    transaction = ['MAIL FROM:<sender@example.net>', 'RCPT TO:<victim@example.org>', 'DATA']
    cases = {}
    for name, seq in DATA_VARIANTS.items():
        cases['data-' + name] = (transaction, head + b'\r\nlegitimate body' + seq + SMUGGLED + b'\r\n.\r\n')
    cases['header-bare-lf'] = (transaction, head + b'X-A: a\nX-B: b\r\n\r\nbody\r\n.\r\n')
    cases['header-bare-cr'] = (transaction, head + b'X-A: a\rX-B: b\r\n\r\nbody\r\n.\r\n')
    cases['data-nul'] = (transaction, head + b'\r\nbo\x00dy\r\n.\r\n')
    rest = b'RCPT TO:<victim@example.org>\r\nDATA\r\n' + head + b'\r\nbody\r\n.\r\n'
    cases['command-nul'] = ([], b'MAIL FROM:<sender@example.net>\x00\r\n' + rest)
    cases['command-bare-cr'] = ([], b'MAIL FROM:<sender@example.net>\rRSET\r\n' + rest)
    cases['command-bare-lf'] = ([], b'MAIL FROM:<sender@example.net>\n' + rest)
    cases['rcpt-bare-lf'] = (['MAIL FROM:<sender@example.net>'],
                             b'RCPT TO:<victim@example.org>\nDATA\r\n' + head + b'\r\nbody\r\n.\r\n')
    cases['ehlo-bare-lf'] = (None, b'EHLO client.example.net\n' + b'MAIL FROM:<sender@example.net>\r\n' + rest)
    return cases


SMUGGLING = ['data-' + n for n in DATA_VARIANTS] + ['header-bare-lf', 'header-bare-cr', 'data-nul', 'command-nul',
                                                    'command-bare-cr', 'command-bare-lf', 'rcpt-bare-lf',
                                                    'ehlo-bare-lf']


@pytest.mark.parametrize('case', SMUGGLING)
def test_smuggling_refused(mx, case):
    marker = new_marker('smuggle')
    before, payload = smuggling_cases(marker)[case]
    r = connect(mx)
    if before is not None:
        r.ehlo()
        for command in before:
            rep = r.cmd(command)
            assert rep.code in (250, 354), (command, rep)
    r.send(payload)
    replies = r.replies_until_closed()
    assert replies, f'closed without an answer; transcript {r.transcript}'
    assert all(400 <= rep.code < 600 for rep in replies), f'{case}: {replies}'
    assert replies[0].code in (421, 500), f'{case}: {replies}'
    r.close()
    victim = export(mx.config, 'victim')
    assert victim == [], f'{case}: {len(victim)} messages stored for victim: {victim[:2]!r}'


# ---------------------------------------------------------------------------
# swaks


def swaks(*args):
    r = subprocess.run([SWAKS, '--helo', 'client.example.net', '--timeout', '20', *args],
                       capture_output=True, text=True, timeout=60)
    return r


@needs_swaks
def test_swaks_plain(mx):
    marker = new_marker('swaks')
    r = swaks('--server', '127.0.0.1', '--port', str(mx.port), '--from', SENDER, '--to', 'alice@example.org',
              '--header', f'Subject: {marker}', '--body', 'plain swaks body')
    assert r.returncode == 0, r.stdout + r.stderr
    found = stored_with(mx.config, 'alice', marker)
    assert len(found) == 1 and b'plain swaks body' in found[0], found


@needs_swaks
def test_swaks_starttls(mx):
    marker = new_marker('swaks')
    r = swaks('--server', '127.0.0.1', '--port', str(mx.port), '--from', SENDER, '--to', 'alice@example.org',
              '--header', f'Subject: {marker}', '--tls', '--tls-verify', '--tls-ca-path', mx.material.ca_file)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'TLS started' in r.stdout, r.stdout
    found = stored_with(mx.config, 'alice', marker)
    assert len(found) == 1, found
    assert re.search(rb'Received:[^\n]*(\n[ \t][^\n]*)*TLS', found[0]), found[0][:600]


@needs_swaks
def test_swaks_implicit_tls(mx):
    marker = new_marker('swaks')
    args = ['--server', '127.0.0.1', '--port', str(mx.smtps_port), '--from', 'alice@example.org',
            '--to', 'bob@example.org', '--header', f'Subject: {marker}', '--tlsc', '--tls-verify',
            '--tls-ca-path', mx.material.ca_file]
    with submissions_client(mx) as s:
        if s.has_extn('auth'):
            args += ['--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', ALICE_PASSWORD]
    r = swaks(*args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(stored_with(mx.config, 'bob', marker)) == 1


@needs_swaks
def test_swaks_pipeline(mx):
    marker = new_marker('swaks')
    r = swaks('--server', '127.0.0.1', '--port', str(mx.port), '--from', SENDER,
              '--to', 'alice@example.org,bob@example.org', '--header', f'Subject: {marker}', '--pipeline')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'PIPELINING' in r.stdout
    assert len(stored_with(mx.config, 'alice', marker)) == 1
    assert len(stored_with(mx.config, 'bob', marker)) == 1


@needs_swaks
def test_swaks_data_file(mx, tmp_path):
    marker = new_marker('swaks')
    msg = make_message(marker, b'From a data file.\r\n.dot\r\n\r\n-- \r\nsig\r\n')
    path = tmp_path / 'message.eml'
    # swaks sends CRLF . CRLF after the file: without a final newline the
    # file ends the message exactly
    path.write_bytes(lf(msg)[:-1])
    r = swaks('--server', '127.0.0.1', '--port', str(mx.port), '--from', SENDER, '--to', 'alice@example.org',
              '--data', str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    check_delivered(mx.config, 'alice', marker, msg)


# ---------------------------------------------------------------------------
# defaults, no TLS, no domains


def test_no_starttls_without_tls(plain):
    r = connect(plain)
    kw = ehlo_keywords(r.ehlo())
    assert 'STARTTLS' not in kw and 'REQUIRETLS' not in kw, kw
    assert int(kw.get('SIZE', '0')) > 0, kw
    rep = r.cmd('STARTTLS')
    assert rep.code in (454, 502, 500), rep
    # still usable in clear afterwards
    assert r.cmd('NOOP').code == 250
    r.close()


def test_default_rcpt_limit(plain):
    r = connect(plain)
    assert 'RCPTMAX=100' in ehlo_keywords(r.ehlo()).get('LIMITS', '').split()
    assert r.cmd(f'MAIL FROM:<{SENDER}>').code == 250
    r.send(b''.join(b'RCPT TO:<alice+n%d@example.org>\r\n' % i for i in range(101)))
    replies = [r.reply() for _ in range(101)]
    assert [x.code for x in replies[:100]] == [250] * 100, [x for x in replies if x.code != 250][:3]
    assert replies[100].code == 452 and replies[100].enhanced == '4.5.3', replies[100]
    r.close()


def test_plain_defaults_deliver(plain):
    marker = new_marker()
    msg = make_message(marker)
    with smtp_client(plain) as s:
        assert s.sendmail(SENDER, ['alice@example.org'], msg) == {}
    check_delivered(plain.config, 'alice', marker, msg)


def test_no_domains_refuses_everything(nodomains):
    r = connect(nodomains)
    r.ehlo()
    assert r.cmd(f'MAIL FROM:<{SENDER}>').code == 250
    for rcpt in ('alice@example.org', 'postmaster@example.org', 'postmaster@mail.example.org', 'root@localhost',
                 'someone@example.com'):
        rep = r.cmd(f'RCPT TO:<{rcpt}>')
        assert 500 <= rep.code < 600, (rcpt, rep)
    rep = r.cmd('DATA')
    assert 500 <= rep.code < 600, rep
    r.close()


def test_connections_per_ip(nodomains):
    held = [connect(nodomains) for _ in range(3)]
    extra = Raw(nodomains.port)
    replies = extra.replies_until_closed()
    assert replies and replies[0].code == 421, replies
    extra.close()
    held.pop().close()
    deadline = time.monotonic() + 5
    while True:
        r = Raw(nodomains.port)
        first = r.reply()
        r.close()
        if first.code == 220:
            break
        assert time.monotonic() < deadline, f'still refused after one connection closed: {first}'
        time.sleep(0.1)
    for c in held:
        c.close()


# ---------------------------------------------------------------------------
# durability


def postmaster_pid(config):
    with open(os.path.join(config.data_dir, 'postgresql', 'data', 'postmaster.pid')) as f:
        return int(f.readline())


def wait_gone(pid, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f'/proc/{pid}/status') as f:
                if any(l.startswith('State:') and 'Z' in l.split()[1] for l in f):
                    return
        except FileNotFoundError:
            return
        time.sleep(0.05)
    raise AssertionError(f'PostgreSQL (pid {pid}) still runs after {timeout}s')


def test_accepted_mail_survives_restart_and_database_loss(tmp_root, password_hash):
    config = new_config(tmp_root, 'durable')
    port = free_port()
    config.write(config.base(modules=['store-pg', 'smtp']) + accounts(password_hash) + listener('smtp', port))
    d = start_daemon(config)
    d.port = port
    try:
        kept = new_marker('kept')
        msg = make_message(kept)
        with smtp_client(d) as s:
            assert s.sendmail(SENDER, ['alice@example.org'], msg) == {}
        # what got 250 is there after a restart
        assert d.stop() == 0
        d.close()
        d = start_daemon(config)
        d.port = port
        check_delivered(config, 'alice', kept, msg)

        # the database goes away in the middle of a transaction
        lost = new_marker('lost')
        r = connect(d)
        r.ehlo()
        start_transaction(r)
        pid = postmaster_pid(config)
        os.kill(pid, signal.SIGQUIT)  # what `pg_ctl stop -m immediate` sends
        wait_gone(pid)
        rep = r.cmd('DATA')
        if rep.code == 354:
            r.send(make_message(lost) + b'.\r\n')
            rep = r.reply()
        assert rep.code == 451 and rep.enhanced == '4.3.0', f'{rep}\n{d.log()[-3000:]}'
        r.close()
        assert d.proc.poll() is None, f'the daemon exited:\n{d.log()[-3000:]}'
        # the daemon still answers, and says "try later" while it has no database
        r = connect(d)
        r.ehlo()
        assert r.cmd(f'MAIL FROM:<{SENDER}>').code == 250
        rep = r.cmd('RCPT TO:<alice@example.org>')
        assert rep.code == 451 and rep.enhanced == '4.3.0', rep
        r.close()

        assert d.stop() == 0
        d.close()
        d = start_daemon(config)
        messages = export(config, 'alice')
        assert [m for m in messages if lost.encode() in m] == [], 'a message was stored after a 451'
        assert len([m for m in messages if kept.encode() in m]) == 1
        assert len(messages) == 1, f'{len(messages)} messages in alice'
    finally:
        d.close()


def test_stop_says_goodbye_and_finishes_transactions(tmp_root, password_hash):
    """SIGTERM: a session waiting for a command gets 421 4.3.2 at once; one
    in the middle of a transaction still gets its message stored and
    answered, then 421 at its next command."""
    config = new_config(tmp_root, 'stopping')
    port = free_port()
    config.write(config.base(modules=['store-pg', 'smtp']) + accounts(password_hash) + listener('smtp', port))
    d = start_daemon(config)
    d.port = port
    try:
        idle = connect(d)
        idle.ehlo()
        busy = connect(d)
        busy.ehlo()
        start_transaction(busy)
        marker = new_marker('drain')
        msg = make_message(marker)
        d.signal(signal.SIGTERM)
        replies = idle.replies_until_closed(timeout=5)
        assert [(r.code, r.enhanced) for r in replies] == [(421, '4.3.2')], replies
        assert busy.cmd('DATA').code == 354
        busy.send(msg + b'.\r\n')
        rep = busy.reply()
        assert rep.code == 250, rep
        busy.send(b'NOOP\r\n')
        replies = busy.replies_until_closed(timeout=5)
        assert [(r.code, r.enhanced) for r in replies] == [(421, '4.3.2')], replies
        # with no session left the daemon ends by itself, well before the grace period
        assert d.proc.wait(20) == 0, d.log()[-3000:]
        d.close()
        d = start_daemon(config)
        check_delivered(config, 'alice', marker, msg)
    finally:
        d.close()


def test_authentication_results_added_and_forged_ones_removed(mx):
    # no checking module is loaded here: the field says "none"; a field that
    # claims to come from this host is removed, another host's is kept
    marker = new_marker('ar')
    msg = make_message(marker, headers=(
        b'Authentication-Results: ' + HOSTNAME.upper().encode() + b'; spf=pass smtp.mailfrom=forged.example',
        b'Authentication-Results: relay.example.net; dkim=pass header.d=example.net',
        b'Authentication-Results: (comment) ' + HOSTNAME.encode() + b';\r\n\tdmarc=pass header.from=forged.example'))
    with smtp_client(mx) as s:
        s.sendmail(SENDER, ['alice@example.org'], msg)
    found = stored_with(mx.config, 'alice', marker)
    assert len(found) == 1
    stored = found[0]
    header = stored.split(b'\n\n', 1)[0]
    assert re.search(rb'^Authentication-Results: ' + re.escape(HOSTNAME.encode()) + rb'; none$', header, re.M), header
    assert b'forged.example' not in stored
    assert b'Authentication-Results: relay.example.net; dkim=pass header.d=example.net' in stored
    assert header.count(b'Authentication-Results:') == 2
