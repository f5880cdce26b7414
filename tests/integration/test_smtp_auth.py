# SPDX-License-Identifier: GPL-2.0-or-later
"""SMTP AUTH (RFC 4954) and authenticated submission (RFC 6409) as clients
see them: swaks (PLAIN, LOGIN, STARTTLS and implicit TLS), the `gsasl`
command-line client (SCRAM-SHA-256 and SCRAM-SHA-256-PLUS with tls-exporter
channel binding) and a raw socket for the protocol's corners.

One daemon (one embedded PostgreSQL): store-pg, smtp and, when it was built,
auth-sql (the credential backend and brute-force guard), with an `smtp`, a
`submission` (STARTTLS) and a `submissions` (implicit TLS) listener.  The
tests that need credentials to be checked skip when modules/auth-sql.so was
not built; the others (AUTH never in clear, never on port 25) do not need
it.
"""
import base64
import os
import re
import shutil
import ssl
import subprocess
import tempfile

import pytest

from conftest import MODULE_DIR, free_port, run_mail
import tlsutil
from test_smtp import (Closed, Raw, ehlo_keywords, listener, new_config, new_marker, start_daemon,
                       stored_with)

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, 'store-pg.so')),
                       reason='the store-pg module was not built'),
    pytest.mark.skipif(not tlsutil.have_certtool(), reason='certtool (Debian package gnutls-bin) is not installed'),
]

HAVE_AUTH_SQL = os.path.exists(os.path.join(MODULE_DIR, 'auth-sql.so'))
needs_auth = pytest.mark.skipif(not HAVE_AUTH_SQL,
                                reason='modules/auth-sql.so was not built: nothing answers auth.verify, so '
                                       'credentials cannot be checked')
SWAKS = shutil.which('swaks')
needs_swaks = pytest.mark.skipif(SWAKS is None, reason='swaks (Debian package swaks) is not installed')
GSASL = shutil.which('gsasl')
needs_gsasl = pytest.mark.skipif(GSASL is None, reason='gsasl (Debian package gsasl) is not installed')

HOSTNAME = 'mail.example.org'
ALICE_PASSWORD = 'alice long password'
BOB_PASSWORD = 'bob has another one'
CAROL_PASSWORD = 'carol gets banned'
# dave is made with `mail account-add`, which stores SCRAM credentials too
DAVE_PASSWORD = 'dave can do scram'
# erin comes from the configuration with SCRAM credentials (token-hash --scram)
ERIN_PASSWORD = 'erin is configured'
# frank is enrolled in TOTP: his password is followed by the current code
FRANK_PASSWORD = 'frank has two factors'
INVALID = '535 5.7.8 Authentication credentials invalid'


# ---------------------------------------------------------------------------
# the daemon


def token_hash(secret):
    r = run_mail('token-hash', input=secret + '\n')
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def token_hash_scram(secret):
    """The two lines `mail token-hash --scram` prints, to paste into an account."""
    r = run_mail('token-hash', '--scram', input=secret + '\n')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split('\n')
    assert len(lines) == 2, r.stdout
    assert re.fullmatch(r'password_hash = "\$argon2id\$[^"]+"', lines[0]), lines[0]
    assert re.fullmatch(r'scram_sha256 = "SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+"',
                        lines[1]), lines[1]
    return r.stdout


def totp_code(secret_b32, step):
    """RFC 6238: HMAC-SHA-1 of the 30-second step, dynamic truncation, 6 digits."""
    import hmac
    import struct
    key = base64.b32decode(secret_b32)
    mac = hmac.new(key, struct.pack('>Q', step), 'sha1').digest()
    offset = mac[-1] & 0x0f
    return '%06d' % ((struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7fffffff) % 1000000)


@pytest.fixture(scope='module')
def tmp_root():
    d = tempfile.mkdtemp(prefix='epistle-smtp-auth-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def material(tmp_root):
    return tlsutil.TestMaterial(os.path.join(tmp_root, 'tls'))


def accounts():
    return f'''
[[accounts]]
name = "alice"
addresses = ["alice@example.org", "alice.smith@example.org"]
password_hash = "{token_hash(ALICE_PASSWORD)}"

[[accounts]]
name = "bob"
addresses = ["bob@example.org"]
password_hash = "{token_hash(BOB_PASSWORD)}"

[[accounts]]
name = "carol"
addresses = ["carol@example.org"]
password_hash = "{token_hash(CAROL_PASSWORD)}"

[[accounts]]
name = "erin"
addresses = ["erin@example.org"]
{token_hash_scram(ERIN_PASSWORD)}
'''


# The guard: short delays; every test connects from 127.0.0.1, so only a
# username is ever banned (carol, by the test that wants it).
AUTH_SQL_SECTION = '''
[auth-sql]
delay_base_ms = 20
delay_max_ms = 200
ban_after_ip = 100000
ban_after_user = 6
ban_seconds = 600
'''


@pytest.fixture(scope='module')
def sub(tmp_root, material):
    config = new_config(tmp_root, 'sub')
    smtp_port, sub_port, subs_port = free_port(), free_port(), free_port()
    modules = ['store-pg', 'smtp'] + (['auth-sql'] if HAVE_AUTH_SQL else [])
    config.write(config.base(modules=modules) + accounts() + listener('smtp', smtp_port)
                 + listener('submission', sub_port) + listener('submissions', subs_port)
                 + (AUTH_SQL_SECTION if HAVE_AUTH_SQL else '') + material.tls_section())
    if HAVE_AUTH_SQL:
        r = run_mail('account-add', 'dave', '--address', 'dave@example.org', '--config', config.path,
                     input=DAVE_PASSWORD + '\n', timeout=120)
        assert r.returncode == 0, r.stderr
        r = run_mail('account-add', 'frank', '--address', 'frank@example.org', '--config', config.path,
                     input=FRANK_PASSWORD + '\n', timeout=120)
        assert r.returncode == 0, r.stderr
        r = run_mail('totp-enroll', 'frank', '--config', config.path, timeout=120)
        assert r.returncode == 0, r.stderr
        frank_totp = re.search(r'secret=([A-Z2-7]+)', r.stdout).group(1)
    d = start_daemon(config)
    if HAVE_AUTH_SQL:
        d.frank_totp = frank_totp
    d.smtp_port, d.sub_port, d.subs_port, d.material = smtp_port, sub_port, subs_port, material
    yield d
    d.close()
    log = d.log()
    assert not re.search(r'CRITICAL|assertion .* failed|AddressSanitizer', log), log[-5000:]
    # no password ever reaches the log
    for secret in (ALICE_PASSWORD, BOB_PASSWORD, CAROL_PASSWORD, DAVE_PASSWORD, ERIN_PASSWORD, FRANK_PASSWORD):
        assert secret not in log


def plain_ir(user, password, authzid=''):
    return base64.b64encode(f'{authzid}\0{user}\0{password}'.encode()).decode()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def starttls(d, port=None):
    """A raw session on the submission listener after STARTTLS and EHLO;
    returns (Raw, EHLO keywords)."""
    r = Raw(port or d.sub_port)
    r.banner()
    r.ehlo()
    rep = r.cmd('STARTTLS')
    assert rep.code == 220, rep
    r.starttls(d.material.client_context(), HOSTNAME)
    return r, ehlo_keywords(r.ehlo())


def implicit(d):
    r = Raw(d.subs_port, context=d.material.client_context(), server_hostname=HOSTNAME)
    r.banner()
    return r, ehlo_keywords(r.ehlo())


def login(r, user='alice', password=ALICE_PASSWORD):
    rep = r.cmd(f'AUTH PLAIN {plain_ir(user, password)}')
    assert rep.lines == ['235 2.7.0 Authentication successful'], rep
    return rep


def message(marker, sender='alice@example.org', to='bob@example.org', extra=(), date=True, message_id=True):
    lines = [f'From: Alice <{sender}>', f'To: <{to}>', f'Subject: {marker}', *extra]
    if date:
        lines.append('Date: Mon, 01 Jan 2024 12:00:00 +0000')
    if message_id:
        lines.append(f'Message-ID: <{marker}@client.example>')
    return ('\r\n'.join(lines) + '\r\n\r\nHello from ' + marker + '.\r\n').encode()


def send_data(r, msg):
    rep = r.cmd('DATA')
    assert rep.code == 354, rep
    r.send(msg.replace(b'\r\n.', b'\r\n..') + b'.\r\n')
    return r.reply()


def header_block(stored):
    return stored.split(b'\n\n', 1)[0].decode('utf-8', 'replace')


# ---------------------------------------------------------------------------
# never in clear, never on the MX


def test_no_auth_on_port_25(sub):
    r = Raw(sub.smtp_port)
    r.banner()
    assert 'AUTH' not in ehlo_keywords(r.ehlo())
    assert r.cmd(f'AUTH PLAIN {plain_ir("alice", ALICE_PASSWORD)}').lines == ['502 5.5.1 AUTH not available']
    rep = r.cmd('STARTTLS')
    assert rep.code == 220, rep
    r.starttls(sub.material.client_context(), HOSTNAME)
    kw = ehlo_keywords(r.ehlo())
    assert 'AUTH' not in kw, kw
    assert r.cmd(f'AUTH PLAIN {plain_ir("alice", ALICE_PASSWORD)}').lines == ['502 5.5.1 AUTH not available']
    # the MX goes on accepting mail for local accounts without AUTH
    assert r.cmd('MAIL FROM:<someone@example.net>').code == 250
    r.close()


def test_cleartext_auth_refused(sub):
    r = Raw(sub.sub_port)
    r.banner()
    kw = ehlo_keywords(r.ehlo())
    assert 'AUTH' not in kw, f'AUTH advertised before STARTTLS: {kw}'
    assert 'STARTTLS' in kw
    for line in (f'AUTH PLAIN {plain_ir("alice", ALICE_PASSWORD)}', 'AUTH LOGIN', 'AUTH PLAIN',
                 'AUTH SCRAM-SHA-256'):
        rep = r.cmd(line)
        assert rep.lines == ['538 5.7.11 Encryption required for requested authentication mechanism'], (line, rep)
    # no 334: nothing of a credential was asked for
    assert r.cmd('NOOP').code == 250
    r.close()


@needs_swaks
def test_swaks_will_not_auth_in_clear(sub):
    r = subprocess.run([SWAKS, '--server', '127.0.0.1', '--port', str(sub.sub_port), '--helo', 'client.example.net',
                        '--from', 'alice@example.org', '--to', 'bob@example.org', '--auth', 'PLAIN',
                        '--auth-user', 'alice', '--auth-password', ALICE_PASSWORD, '--timeout', '20'],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r.stdout
    assert '235 ' not in r.stdout


# ---------------------------------------------------------------------------
# advertisement and the submission policy


@needs_auth
def test_auth_advertised_over_tls(sub):
    r, kw = starttls(sub)
    mechs = kw.get('AUTH', '').split()
    for m in ('PLAIN', 'LOGIN', 'SCRAM-SHA-256'):
        assert m in mechs, (m, kw)
    assert 'STARTTLS' not in kw
    r.close()
    r, kw = implicit(sub)
    assert 'PLAIN' in kw.get('AUTH', '').split(), kw
    r.close()


@needs_auth
def test_mail_before_auth_refused(sub):
    r = Raw(sub.sub_port)
    r.banner()
    r.ehlo()
    assert r.cmd('MAIL FROM:<alice@example.org>').lines == ['530 5.7.0 Authentication required']
    r.close()
    r, _ = implicit(sub)
    assert r.cmd('MAIL FROM:<alice@example.org>').lines == ['530 5.7.0 Authentication required']
    # nor for a local recipient, as the MX would take it
    assert r.cmd('MAIL FROM:<someone@example.net>').lines == ['530 5.7.0 Authentication required']
    r.close()


# ---------------------------------------------------------------------------
# swaks: PLAIN and LOGIN, STARTTLS and implicit TLS


def swaks(*args):
    return subprocess.run([SWAKS, '--helo', 'client.example.net', '--timeout', '20', *args],
                          capture_output=True, text=True, timeout=60)


@needs_auth
@needs_swaks
@pytest.mark.parametrize('mech,tls', [('PLAIN', '--tls'), ('LOGIN', '--tls'), ('PLAIN', '--tlsc'),
                                      ('LOGIN', '--tlsc')])
def test_swaks_submission(sub, mech, tls, tmp_path):
    marker = new_marker('swaks')
    path = tmp_path / 'msg.eml'
    # no Date, no Message-ID: the MSA adds them (RFC 6409 §8.2, §8.3)
    path.write_bytes(message(marker, date=False, message_id=False).replace(b'\r\n', b'\n'))
    port = sub.sub_port if tls == '--tls' else sub.subs_port
    r = swaks('--server', '127.0.0.1', '--port', str(port), tls, '--tls-verify', '--tls-ca-path',
              sub.material.ca_file, '--auth', mech, '--auth-user', 'alice', '--auth-password', ALICE_PASSWORD,
              '--from', 'alice@example.org', '--to', 'bob@example.org', '--data', str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert '235 2.7.0 Authentication successful' in r.stdout, r.stdout
    found = stored_with(sub.config, 'bob', marker)
    assert len(found) == 1, found
    head = header_block(found[0])
    assert re.search(r'^Received:[^\n]*(\n[ \t][^\n]*)*with ESMTPSA', head, re.M), head
    ids = re.findall(r'^Message-ID: <([^>]+)>$', head, re.M | re.I)
    assert len(ids) == 1 and ids[0].endswith('@' + HOSTNAME), head
    assert len(re.findall(r'^Date: ', head, re.M)) == 1, head


@needs_auth
def test_existing_message_id_and_date_kept(sub):
    marker = new_marker('keep')
    r, _ = starttls(sub)
    login(r)
    assert r.cmd('MAIL FROM:<alice.smith@example.org>').code == 250
    assert r.cmd('RCPT TO:<bob@example.org>').code == 250
    rep = send_data(r, message(marker, sender='alice.smith@example.org'))
    assert rep.code == 250, rep
    r.cmd('QUIT')
    found = stored_with(sub.config, 'bob', marker)
    assert len(found) == 1
    head = header_block(found[0])
    assert re.findall(r'^Message-ID: (.*)$', head, re.M) == [f'<{marker}@client.example>'], head
    assert re.findall(r'^Date: (.*)$', head, re.M) == ['Mon, 01 Jan 2024 12:00:00 +0000'], head


# ---------------------------------------------------------------------------
# failures


@needs_auth
def test_wrong_password_same_answer_as_unknown_user(sub):
    r, _ = starttls(sub)
    wrong = r.cmd(f'AUTH PLAIN {plain_ir("alice", "not her password")}')
    unknown = r.cmd(f'AUTH PLAIN {plain_ir("nobody-" + new_marker(), "whatever")}')
    assert wrong.lines == [INVALID], wrong
    assert unknown.lines == wrong.lines
    # LOGIN, step by step, ends the same way
    assert r.cmd('AUTH LOGIN').code == 334
    assert r.cmd(b64('alice')).code == 334
    assert r.cmd(b64('still wrong')).lines == ['421 4.7.0 mail.example.org Too many authentication failures, '
                                               'closing connection']
    r.replies_until_closed()
    r.close()


@needs_auth
def test_three_failures_close(sub):
    r, _ = starttls(sub)
    user = 'nobody-' + new_marker()
    assert r.cmd(f'AUTH PLAIN {plain_ir(user, "x")}').lines == [INVALID]
    assert r.cmd(f'AUTH PLAIN {plain_ir(user, "y")}').lines == [INVALID]
    rep = r.cmd(f'AUTH PLAIN {plain_ir("alice", ALICE_PASSWORD + "!")}')
    assert rep.code == 421 and rep.enhanced == '4.7.0', rep
    assert r.replies_until_closed() == []
    r.close()


@needs_auth
def test_exchange_errors(sub):
    r, _ = starttls(sub)
    assert r.cmd('AUTH CRAM-MD5').lines[0].startswith('504 5.5.4'), 'CRAM-MD5 is not offered'
    assert r.cmd('AUTH NO-SUCH-MECHANISM').lines[0].startswith('504 5.5.4')
    assert r.cmd('AUTH PLAIN not*base64').lines[0].startswith('501 5.5.2')
    # cancel
    rep = r.cmd('AUTH PLAIN')
    assert rep.lines == ['334 '], rep
    assert r.cmd('*').lines[0].startswith('501 5.0.0'), 'cancel'
    # a response that is not base64
    assert r.cmd('AUTH LOGIN').code == 334
    assert r.cmd('%%%').lines[0].startswith('501 5.5.2')
    # long lines are fine within RFC 4954's 12288 octets ...
    rep = r.cmd('AUTH PLAIN ' + base64.b64encode(b'\0alice\0' + b'p' * 6000).decode())
    assert rep.lines == [INVALID], rep
    # the empty initial response "=" is PLAIN with nothing in it
    rep = r.cmd('AUTH PLAIN =')
    assert rep.code == 421 or rep.lines == [INVALID], rep
    r.close()

    r, _ = starttls(sub)
    login(r)
    assert r.cmd(f'AUTH PLAIN {plain_ir("alice", ALICE_PASSWORD)}').lines[0].startswith('503 5.5.1')
    assert r.cmd('MAIL FROM:<alice@example.org>').code == 250
    assert r.cmd('AUTH LOGIN').lines[0].startswith('503 5.5.1')
    r.close()

    # ... beyond them the end of the line cannot be found
    r, _ = starttls(sub)
    assert r.cmd('AUTH LOGIN').code == 334
    r.send(b'A' * 13000 + b'\r\n')
    replies = r.replies_until_closed()
    assert [x.lines[0][:9] for x in replies] == ['500 5.5.6'], replies
    r.close()


@needs_auth
def test_guard_bans_username(sub):
    """ban_after_user = 6: the seventh attempt on carol is refused with 454
    and the connection closes, even with her right password."""
    for _ in range(2):
        r, _ = starttls(sub)
        for i in range(3):
            rep = r.cmd(f'AUTH PLAIN {plain_ir("carol", "wrong")}')
            assert rep.lines == [INVALID] or rep.code in (421, 454), rep
            if rep.code in (421, 454):
                break
        r.close()
    r, _ = starttls(sub)
    rep = r.cmd(f'AUTH PLAIN {plain_ir("carol", CAROL_PASSWORD)}')
    assert rep.lines == ['454 4.7.0 Temporary authentication failure'], rep
    assert r.replies_until_closed() == []
    r.close()


# ---------------------------------------------------------------------------
# what an authenticated user may send


@needs_auth
def test_sender_must_be_own_address(sub):
    r, _ = starttls(sub)
    login(r)
    not_owned = '553 5.7.1 Sender address not owned by the authenticated user'
    assert r.cmd('MAIL FROM:<bob@example.org>').lines == [not_owned]
    assert r.cmd('MAIL FROM:<someone@example.net>').lines == [not_owned]
    assert r.cmd('MAIL FROM:<nobody@example.org>').lines == [not_owned]
    assert r.cmd('MAIL FROM:<alice@[127.0.0.1]>').lines == [not_owned]
    rep = r.cmd('MAIL FROM:<>')
    assert rep.code == 553 and rep.enhanced == '5.7.1', rep
    assert r.cmd('MAIL FROM:<alice@Example.ORG>').code == 250
    r.close()


@needs_auth
def test_from_header_must_be_own_address(sub):
    marker = new_marker('from')
    r, _ = implicit(sub)
    login(r)
    assert r.cmd('MAIL FROM:<alice@example.org>').code == 250
    assert r.cmd('RCPT TO:<carol@example.org>').code == 250
    rep = send_data(r, message(marker, sender='bob@example.org'))
    assert rep.lines == ['553 5.7.1 Sender address not owned by the authenticated user'], rep
    # a second From: field does not slip through either
    assert r.cmd('MAIL FROM:<alice@example.org>').code == 250
    assert r.cmd('RCPT TO:<carol@example.org>').code == 250
    rep = send_data(r, message(marker, extra=('From: bob@example.org',)))
    assert rep.code == 553, rep
    # none at all
    assert r.cmd('MAIL FROM:<alice@example.org>').code == 250
    assert r.cmd('RCPT TO:<carol@example.org>').code == 250
    rep = send_data(r, b'Subject: ' + marker.encode() + b'\r\n\r\nno From\r\n')
    assert rep.code == 550 and rep.enhanced == '5.6.0', rep
    r.cmd('QUIT')
    assert stored_with(sub.config, 'carol', marker) == []


@needs_auth
def test_remote_recipient_without_queue_module(sub):
    # no queue module loaded: remote mail is "try later", so the client keeps it
    r, _ = starttls(sub)
    login(r)
    assert r.cmd('MAIL FROM:<alice@example.org>').code == 250
    assert r.cmd('RCPT TO:<friend@example.net>').lines == ['451 4.3.0 Outbound delivery is not available']
    # address literals are never routed, queue or not
    assert r.cmd('RCPT TO:<friend@[192.0.2.1]>').lines == ['550 5.7.1 Mail for address literals is not relayed']
    # local ones are delivered as before; unknown local ones are refused
    assert r.cmd('RCPT TO:<nobody@example.org>').code == 550
    assert r.cmd('RCPT TO:<bob@example.org>').code == 250
    r.close()


# ---------------------------------------------------------------------------
# SCRAM with gsasl


def gsasl(sub, mech, user, password, extra=()):
    args = [GSASL, '--smtp', '--connect', f'127.0.0.1:{sub.sub_port}', '--starttls',
            '--x509-ca-file', sub.material.ca_file, '--hostname', HOSTNAME, '--mechanism', mech,
            '--authentication-id', user, '--password', password, '--verbose', *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, input='')


@needs_auth
@needs_gsasl
@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS', 'PLAIN'])
def test_gsasl(sub, mech):
    # gsasl refuses plain SCRAM when it has TLS channel-binding data (the
    # downgrade RFC 5802 §6 guards against): --no-cb makes it send "n,,"
    extra = ('--no-cb',) if mech == 'SCRAM-SHA-256' else ()
    r = gsasl(sub, mech, 'dave', DAVE_PASSWORD, extra)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert '235 2.7.0 Authentication successful' in out, out
    bad = gsasl(sub, mech, 'dave', 'not the password', extra)
    out = bad.stdout + bad.stderr
    assert bad.returncode != 0, out
    assert INVALID in out, out


@needs_auth
@needs_gsasl
@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS'])
def test_gsasl_scram_configured_account(sub, mech):
    """erin is an account of the configuration whose SCRAM credentials come
    from its scram_sha256 key."""
    extra = ('--no-cb',) if mech == 'SCRAM-SHA-256' else ()
    r = gsasl(sub, mech, 'erin', ERIN_PASSWORD, extra)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert '235 2.7.0 Authentication successful' in out, out
    bad = gsasl(sub, mech, 'erin', ALICE_PASSWORD, extra)
    out = bad.stdout + bad.stderr
    assert bad.returncode != 0, out
    assert INVALID in out, out
    # and PLAIN checks the argon2id hash printed beside them
    r, _ = starttls(sub)
    login(r, 'erin', ERIN_PASSWORD)
    r.close()


@needs_auth
def test_totp_code_accepted_once(sub):
    """A TOTP code opens one session; the same code again is a replay and is
    refused, like a wrong password; the next code works."""
    import time
    # stay clear of a step boundary: both logins must see the same step
    while int(time.time()) % 30 > 24:
        time.sleep(1)
    step = int(time.time()) // 30
    code = totp_code(sub.frank_totp, step)
    r, _ = starttls(sub)
    rep = r.cmd(f'AUTH PLAIN {plain_ir("frank", FRANK_PASSWORD)}')
    assert rep.lines == [INVALID], rep  # the second factor is required
    login(r, 'frank', FRANK_PASSWORD + code)
    r.close()
    r, _ = starttls(sub)
    rep = r.cmd(f'AUTH PLAIN {plain_ir("frank", FRANK_PASSWORD + code)}')
    assert rep.lines == [INVALID], rep
    # the next step's code is within the accepted window (+1) and is new
    login(r, 'frank', FRANK_PASSWORD + totp_code(sub.frank_totp, step + 1))
    r.close()
    # SCRAM cannot carry the second factor
    if GSASL is not None:
        g = gsasl(sub, 'SCRAM-SHA-256-PLUS', 'frank', FRANK_PASSWORD)
        assert g.returncode != 0, g.stdout + g.stderr


@needs_auth
@needs_gsasl
def test_scram_without_credentials_like_unknown_user(sub):
    """alice comes from the configuration: an argon2id hash, no SCRAM
    credentials.  SCRAM for her fails at the end, as for nobody at all."""
    for user in ('alice', 'nobody-' + new_marker()):
        r = gsasl(sub, 'SCRAM-SHA-256-PLUS', user, ALICE_PASSWORD)
        out = r.stdout + r.stderr
        assert r.returncode != 0, out
        assert INVALID in out, out


class RawFrom(Raw):
    """A Raw session whose connection comes from a chosen loopback address."""

    def __init__(self, port, source, context, server_hostname):
        import socket
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=10, source_address=(source, 0))
        self.timeout = 10
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        self.buf = b''
        self.transcript = []


@needs_auth
def test_guard_delays_then_bans_one_address_only(tmp_root, material):
    """Failures from 127.0.0.2 are answered later and later, then that
    address is banned even with the right password, while 127.0.0.1 still
    logs in (the counters are per address and per user, in PostgreSQL)."""
    import time
    config = new_config(tmp_root, 'guard-ip')
    subs_port = free_port()
    config.write(config.base(modules=['store-pg', 'smtp', 'auth-sql']) + accounts()
                 + listener('submissions', subs_port) + material.tls_section()
                 + '\n[auth-sql]\ndelay_base_ms = 300\ndelay_max_ms = 3000\nban_after_ip = 4\n'
                 'ban_after_user = 1000\nban_seconds = 600\n')
    d = start_daemon(config)
    try:
        ctx = material.client_context()
        took = []
        for _ in range(2):
            r = RawFrom(subs_port, '127.0.0.2', ctx, HOSTNAME)
            r.banner()
            r.ehlo()
            for _ in range(2):
                start = time.monotonic()
                rep = r.cmd(f'AUTH PLAIN {plain_ir("alice", "wrong guess")}')
                took.append(time.monotonic() - start)
                assert rep.lines == [INVALID], rep
            r.close()
        # no failure before the first attempt, then 300 ms, 600 ms, 1200 ms:
        # each failure is counted before it is answered.  Every attempt also
        # costs one password check (about 0.16 s here, far more and far
        # more variable under sanitizers), so only the lower bounds are
        # checked; that the first attempt waits nothing is auth-sql's unit
        # test (/auth-sql/guard/delays)
        assert took[1] >= 0.28 and took[2] >= 0.58 and took[3] >= 1.15, took
        # the fifth attempt from 127.0.0.2: banned, right password or not
        r = RawFrom(subs_port, '127.0.0.2', ctx, HOSTNAME)
        r.banner()
        r.ehlo()
        rep = r.cmd(f'AUTH PLAIN {plain_ir("alice", ALICE_PASSWORD)}')
        assert rep.lines == ['454 4.7.0 Temporary authentication failure'], rep
        assert r.replies_until_closed() == []
        r.close()
        # another address is not concerned
        r = RawFrom(subs_port, '127.0.0.1', ctx, HOSTNAME)
        r.banner()
        r.ehlo()
        login(r)
        r.close()
    finally:
        d.close()
