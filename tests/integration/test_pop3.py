# SPDX-License-Identifier: GPL-2.0-or-later
"""The pop3 module as clients see it: Python's poplib over STLS (port 110
kind `pop3`) and implicit TLS (kind `pop3s`), a raw socket for the
protocol's corners (the wire form of dot-stuffing, SASL continuations,
limits), fetchmail downloading over POP3S, and psql for the maildrop lock
rows that another host (or a crashed process) would leave.

Mail gets in through the smtp module (smtplib to an `smtp` listener); what
POP3 hands out is compared byte for byte with what `mail export` finds in
the store, and deletions are checked there too.

One daemon (one embedded PostgreSQL): store-pg, smtp, auth-sql and pop3,
with an smtp, a pop3 and a pop3s listener.
"""
import base64
import os
import re
import poplib
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import MODULE_DIR, SERVICE_USER, free_port, give_to_service_user, is_root, run_mail
import tlsutil
from test_smtp import Closed, export, lf, listener, make_message, new_config, new_marker, start_daemon
from test_smtp_auth import token_hash, token_hash_scram

HAVE = {m: os.path.exists(os.path.join(MODULE_DIR, m + '.so')) for m in ('store-pg', 'smtp', 'auth-sql', 'pop3')}
PSQL = shutil.which('psql') or '/usr/lib/postgresql/15/bin/psql'
FETCHMAIL = shutil.which('fetchmail')

pytestmark = [
    pytest.mark.skipif(not all(HAVE.values()), reason='store-pg, smtp, auth-sql and pop3 must be built'),
    pytest.mark.skipif(not tlsutil.have_certtool(), reason='certtool (Debian package gnutls-bin) is not installed'),
]

HOSTNAME = 'mail.example.org'
PASSWORD = 'pop3 test password'
# carol's password is never given right: her failures are counted
CAROL_PASSWORD = 'carol is careful'
SENDER = 'sender@example.net'
# every account gets PASSWORD; each test has its own, so that they do not
# see each other's mail or locks
ACCOUNTS = ('retr', 'dele', 'rset', 'stable', 'inuse', 'stale', 'auth', 'fetch', 'fetchstls', 'pipe', 'drop', 'carol',
            'scram', 'lost')

AUTH_SQL_SECTION = '''
[auth-sql]
delay_base_ms = 20
delay_max_ms = 100
ban_after_ip = 100000
ban_after_user = 100
ban_seconds = 600
'''

# the shortest lease: renewed every 5 s
LEASE = 15
POP3_SECTION = f'''
[pop3]
lock_lease = {LEASE}
'''


@pytest.fixture(scope='module')
def tmp_root():
    d = tempfile.mkdtemp(prefix='epistle-pop3-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def material(tmp_root):
    return tlsutil.TestMaterial(os.path.join(tmp_root, 'tls'))


@pytest.fixture(scope='module')
def pop(tmp_root, material):
    config = new_config(tmp_root, 'pop')
    smtp_port, pop3_port, pop3s_port = free_port(), free_port(), free_port()
    h = token_hash(PASSWORD)
    text = config.base(modules=['store-pg', 'smtp', 'auth-sql', 'pop3'])
    for name in ACCOUNTS:
        text += f'\n[[accounts]]\nname = "{name}"\naddresses = ["{name}@example.org"]\n'
        if name == 'scram':
            # SCRAM needs the stored keys besides the hash
            text += token_hash_scram(PASSWORD)
        else:
            text += f'password_hash = "{token_hash(CAROL_PASSWORD) if name == "carol" else h}"\n'
    text += (listener('smtp', smtp_port) + listener('pop3', pop3_port) + listener('pop3s', pop3s_port)
             + AUTH_SQL_SECTION + POP3_SECTION + material.tls_section())
    config.write(text)
    d = start_daemon(config)
    d.smtp_port, d.pop3_port, d.pop3s_port, d.material = smtp_port, pop3_port, pop3s_port, material
    yield d
    d.close()
    log = d.log()
    assert not re.search(r'CRITICAL|assertion .* failed|AddressSanitizer|runtime error', log), log[-5000:]
    assert PASSWORD not in log and CAROL_PASSWORD not in log


# ---------------------------------------------------------------------------
# helpers


def deliver(d, account, body=b'Hello.\r\n', headers=()):
    """Delivers one message to @account through SMTP; returns (marker, message as sent)."""
    marker = new_marker(account)
    msg = make_message(marker, body=body, to=f'{account}@example.org', headers=headers)
    with smtplib.SMTP('127.0.0.1', d.smtp_port, timeout=30) as s:
        assert s.sendmail(SENDER, [f'{account}@example.org'], msg) == {}
    return marker, msg


def pop3s(d):
    return poplib.POP3_SSL('127.0.0.1', d.pop3s_port, context=d.material.client_context(), timeout=30)


def pop3_stls(d):
    p = poplib.POP3('127.0.0.1', d.pop3_port, timeout=30)
    p.stls(context=d.material.client_context())
    return p


def login(p, account, password=PASSWORD):
    p.user(account)
    return p.pass_(password)


def sql(d, query):
    user = SERVICE_USER if is_root() else os.environ.get('USER') or subprocess.getoutput('id -un')
    conninfo = (f"host={os.path.join(d.config.data_dir, 'postgresql', 'run')} port=5432 dbname=epistle "
                f"user={user}")
    r = subprocess.run([PSQL, conninfo, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-F', '|', '-c', query],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class Raw:
    """One POP3 connection on a socket, answers read exactly as they come."""

    def __init__(self, port, context=None):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=15)
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname=HOSTNAME)
        self.buf = b''

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b'\r\n' not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b''
            if not chunk:
                raise Closed(f'the server closed the connection; pending {self.buf!r}')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def cmd(self, line):
        self.send(line.encode() + b'\r\n')
        return self.line()

    def multi(self):
        """The lines of a multi-line answer up to its '.', as sent (stuffed)."""
        lines = []
        while True:
            line = self.line()
            if line == b'.':
                return lines
            lines.append(line)

    def starttls(self, context):
        assert self.buf == b''
        self.sock = context.wrap_socket(self.sock, server_hostname=HOSTNAME)

    def closed(self, timeout=5):
        """True when the server closes the connection (after what it sent)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_login(d, account, password=PASSWORD):
    r = Raw(d.pop3s_port, d.material.client_context())
    assert r.line().startswith(b'+OK')
    assert r.cmd(f'USER {account}').startswith(b'+OK')
    rep = r.cmd(f'PASS {password}')
    assert rep.startswith(b'+OK'), rep
    return r


def plain_ir(user, password, authzid=''):
    return base64.b64encode(f'{authzid}\0{user}\0{password}'.encode()).decode()


# ---------------------------------------------------------------------------
# configuration


def test_pop3s_without_tls_refused(tmp_root):
    config = new_config(tmp_root, 'notls')
    config.write(config.base(modules=['store-pg', 'pop3']) + listener('pop3s', free_port()))
    r = run_mail('config-check', '--config', config.path, timeout=120)
    assert r.returncode == 78, r.stderr
    assert "listener kind 'pop3s' is implicit TLS and needs a certificate" in r.stderr, r.stderr
    # a pop3 listener without TLS is accepted: it offers no STLS and no login
    config.write(config.base(modules=['store-pg', 'pop3']) + listener('pop3', free_port()))
    r = run_mail('config-check', '--config', config.path, timeout=120)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------
# CAPA, STLS and logins in clear


def test_capa_before_and_after_tls(pop):
    p = poplib.POP3('127.0.0.1', pop.pop3_port, timeout=30)
    try:
        welcome = p.getwelcome()
        assert welcome.startswith(b'+OK')
        assert b'epistle' not in welcome.lower() and not re.search(rb'\d+\.\d+', welcome)
        caps = p.capa()
        for c in ('TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'STLS'):
            assert c in caps, caps
        # no login is possible in clear, so none is offered
        assert 'USER' not in caps and 'SASL' not in caps, caps
        assert 'IMPLEMENTATION' not in caps, caps
        p.stls(context=pop.material.client_context())
        caps = p.capa()
        assert 'STLS' not in caps, caps
        assert 'USER' in caps, caps
        assert 'PLAIN' in caps['SASL'] and 'SCRAM-SHA-256' in caps['SASL'], caps
        assert 'IMPLEMENTATION' not in caps, caps
        # no second STLS
        with pytest.raises(poplib.error_proto):
            p._shortcmd('STLS')
        p.quit()
    finally:
        p.close()

    p = pop3s(pop)
    try:
        caps = p.capa()
        assert 'STLS' not in caps and 'USER' in caps and 'PLAIN' in caps['SASL'], caps
        p.quit()
    finally:
        p.close()


def test_logins_refused_in_clear(pop):
    r = Raw(pop.pop3_port)
    try:
        assert r.line().startswith(b'+OK')
        for line in ('USER retr', f'PASS {PASSWORD}', f'AUTH PLAIN {plain_ir("retr", PASSWORD)}', 'AUTH PLAIN',
                     'AUTH'):
            rep = r.cmd(line)
            assert rep.startswith(b'-ERR [AUTH] '), (line, rep)
        # the transaction commands need a login
        assert r.cmd('STAT').startswith(b'-ERR')
        # after STLS the same client may log in
        assert r.cmd('STLS').startswith(b'+OK')
        r.starttls(pop.material.client_context())
        assert r.cmd('USER retr').startswith(b'+OK')
        assert r.cmd(f'PASS {PASSWORD}').startswith(b'+OK')
        assert r.cmd('QUIT').startswith(b'+OK')
    finally:
        r.close()


def test_stls_command_injection(pop):
    """Commands sent in clear behind STLS are not run after the handshake."""
    r = Raw(pop.pop3_port)
    try:
        assert r.line().startswith(b'+OK')
        r.send(b'STLS\r\nUSER retr\r\n')
        assert r.line().startswith(b'+OK')
        r.starttls(pop.material.client_context())
        # the USER never happened: PASS needs one
        rep = r.cmd(f'PASS {PASSWORD}')
        assert rep.startswith(b'-ERR'), rep
        assert r.cmd('QUIT').startswith(b'+OK')
    finally:
        r.close()


# ---------------------------------------------------------------------------
# the maildrop


BODY = (b'First line.\r\n'
        b'.hidden line starting with a dot\r\n'
        b'..two dots\r\n'
        b'.\r\n'
        b'\r\n'
        b'last line\r\n')


def test_stat_list_uidl_retr_top_byte_exact(pop):
    m1, sent1 = deliver(pop, 'retr', body=BODY)
    m2, sent2 = deliver(pop, 'retr', body=b'Second message.\r\n')
    stored = export(pop.config, 'retr')
    assert len(stored) == 2

    p = pop3s(pop)
    try:
        resp = login(p, 'retr')
        assert re.match(rb'\+OK .*2 messages', resp), resp
        count, total = p.stat()
        assert count == 2
        resp, listing, _ = p.list()
        sizes = {int(n): int(s) for n, s in (l.split() for l in listing)}
        assert sorted(sizes) == [1, 2]
        assert total == sizes[1] + sizes[2]
        assert p.list(1) == f'+OK 1 {sizes[1]}'.encode()
        resp, uidls, _ = p.uidl()
        assert all(re.fullmatch(rb'\d+ \d+\.\d+', u) for u in uidls), uidls
        assert p.uidl(2).startswith(b'+OK 2 ')

        messages = {}
        for n in (1, 2):
            resp, lines, octets = p.retr(n)
            whole = b'\r\n'.join(lines) + b'\r\n'
            # the size LIST gave is the size RETR sends (unstuffed, with CRLF)
            assert octets == sizes[n] == len(whole), (n, octets, sizes[n], len(whole))
            assert resp == f'+OK {sizes[n]} octets'.encode()
            messages[n] = whole
        # byte for byte what SMTP stored (the Received field in front of what was sent)
        assert messages[1].endswith(sent1) and messages[2].endswith(sent2)
        assert sorted(lf(m) for m in messages.values()) == sorted(stored)

        # TOP: the header, the empty line, n lines of the body
        header, _, body = messages[1].partition(b'\r\n\r\n')
        resp, lines, _ = p.top(1, 0)
        assert b'\r\n'.join(lines) + b'\r\n' == header + b'\r\n\r\n'
        resp, lines, _ = p.top(1, 2)
        assert b'\r\n'.join(lines) + b'\r\n' == header + b'\r\n\r\n' + b'First line.\r\n.hidden line starting with a dot\r\n'
        resp, lines, _ = p.top(1, 1000)
        assert b'\r\n'.join(lines) + b'\r\n' == messages[1]
        with pytest.raises(poplib.error_proto):
            p.retr(3)
        with pytest.raises(poplib.error_proto):
            p.top(0, 1)
        p.quit()
    finally:
        p.close()

    # the wire form: every line starting with '.' gets another one
    r = raw_login(pop, 'retr')
    try:
        rep = r.cmd('RETR 1')
        assert rep.startswith(b'+OK')
        wire = r.multi()
        assert b'..hidden line starting with a dot' in wire
        assert b'...two dots' in wire
        assert b'..' in wire and b'.' not in wire
        assert wire[-1] == b'last line'
        assert r.cmd('QUIT').startswith(b'+OK')
    finally:
        r.close()
    # reading deletes nothing
    assert len(export(pop.config, 'retr')) == 2


def test_dele_rset(pop):
    deliver(pop, 'rset')
    deliver(pop, 'rset')
    p = pop3_stls(pop)
    try:
        login(p, 'rset')
        assert p.stat()[0] == 2
        assert p.dele(1).startswith(b'+OK')
        assert p.stat()[0] == 1
        with pytest.raises(poplib.error_proto):
            p.list(1)
        with pytest.raises(poplib.error_proto):
            p.retr(1)
        with pytest.raises(poplib.error_proto):
            p.dele(1)
        resp, listing, _ = p.list()
        assert [l.split()[0] for l in listing] == [b'2']
        assert p.rset().startswith(b'+OK')
        assert p.stat()[0] == 2
        p.quit()
    finally:
        p.close()
    assert len(export(pop.config, 'rset')) == 2


def test_dele_quit_removes_and_drop_keeps(pop):
    gone, _ = deliver(pop, 'dele')
    kept, _ = deliver(pop, 'dele')
    # a session that ends without QUIT deletes nothing (RFC 1939 §6)
    r = raw_login(pop, 'dele')
    assert r.cmd('DELE 1').startswith(b'+OK')
    assert r.cmd('DELE 2').startswith(b'+OK')
    r.close()
    deadline = time.monotonic() + 10
    while True:
        # the lock goes when the server notices the close
        p = pop3s(pop)
        try:
            login(p, 'dele')
            break
        except poplib.error_proto as e:
            assert b'[IN-USE]' in e.args[0] and time.monotonic() < deadline, e
            p.close()
            time.sleep(0.2)
    try:
        assert p.stat()[0] == 2
        resp, lines, _ = p.retr(1)
        assert gone.encode() in b'\n'.join(lines)
        assert p.dele(1).startswith(b'+OK')
        assert p.quit().startswith(b'+OK')
    finally:
        p.close()
    stored = export(pop.config, 'dele')
    assert len(stored) == 1 and kept.encode() in stored[0] and gone.encode() not in stored[0]


def test_uidl_stable_across_sessions(pop):
    deliver(pop, 'stable')
    deliver(pop, 'stable')

    def uidls():
        p = pop3s(pop)
        try:
            login(p, 'stable')
            resp, lines, _ = p.uidl()
            p.quit()
            return [l.split()[1] for l in lines]
        finally:
            p.close()

    first = uidls()
    assert len(first) == 2 and len(set(first)) == 2
    assert uidls() == first
    deliver(pop, 'stable')
    third = uidls()
    assert third[:2] == first and len(third) == 3 and third[2] not in first
    # deleting the first one renumbers the messages, not their unique ids
    p = pop3s(pop)
    try:
        login(p, 'stable')
        p.dele(1)
        p.quit()
    finally:
        p.close()
    assert uidls() == third[1:]


# ---------------------------------------------------------------------------
# the maildrop lock


@pytest.mark.skipif(not os.path.exists(PSQL), reason='psql is not installed')
def test_in_use(pop):
    deliver(pop, 'inuse')
    first = pop3s(pop)
    try:
        login(first, 'inuse')
        row = sql(pop, "SELECT holder, expires_at > now() FROM pop3_maildrop_locks WHERE account = 'inuse'")
        assert row.startswith(HOSTNAME + ' ') and row.endswith('|t'), row
        for connect in (pop3s, pop3_stls):
            second = connect(pop)
            try:
                with pytest.raises(poplib.error_proto) as e:
                    login(second, 'inuse')
                assert e.value.args[0].startswith(b'-ERR [IN-USE] '), e.value.args
                # the second session stays in AUTHORIZATION: QUIT works
                assert second.quit().startswith(b'+OK')
            finally:
                second.close()
        assert first.stat()[0] == 1
        first.quit()
    finally:
        first.close()
    assert sql(pop, "SELECT count(*) FROM pop3_maildrop_locks WHERE account = 'inuse'") == '0'
    # free again
    p = pop3s(pop)
    try:
        login(p, 'inuse')
        p.quit()
    finally:
        p.close()


@pytest.mark.skipif(not os.path.exists(PSQL), reason='psql is not installed')
def test_lock_renewed_while_the_session_lives(pop):
    """A session that outlives its lease keeps the maildrop: the lease is
    renewed in the background."""
    first = pop3s(pop)
    try:
        login(first, 'inuse')
        acquired = sql(pop, "SELECT extract(epoch FROM expires_at) FROM pop3_maildrop_locks WHERE account = 'inuse'")
        time.sleep(LEASE + 3)
        renewed = sql(pop, "SELECT extract(epoch FROM expires_at) FROM pop3_maildrop_locks WHERE account = 'inuse'")
        assert float(renewed) > float(acquired) + 3, (acquired, renewed)
        second = pop3s(pop)
        try:
            with pytest.raises(poplib.error_proto) as e:
                login(second, 'inuse')
            assert e.value.args[0].startswith(b'-ERR [IN-USE] ')
        finally:
            second.close()
        # the holder goes on as if nothing happened
        first.noop()
        first.stat()
        first.quit()
    finally:
        first.close()


@pytest.mark.skipif(not os.path.exists(PSQL), reason='psql is not installed')
def test_lock_of_another_host_and_of_a_crashed_one(pop):
    deliver(pop, 'stale')
    # another host holds the maildrop: its lease runs
    sql(pop, "INSERT INTO pop3_maildrop_locks (account, owner, holder, expires_at) "
             "VALUES ('stale', 'other-host-token', 'other.example.org 4242 s1', now() + interval '1 hour')")
    p = pop3s(pop)
    try:
        with pytest.raises(poplib.error_proto) as e:
            login(p, 'stale')
        assert e.value.args[0].startswith(b'-ERR [IN-USE] ')
        p.quit()
    finally:
        p.close()
    # that host crashed: its lease ran out, nobody renewed it
    sql(pop, "UPDATE pop3_maildrop_locks SET expires_at = now() - interval '1 second' WHERE account = 'stale'")
    p = pop3s(pop)
    try:
        login(p, 'stale')
        assert p.stat()[0] == 1
        owner = sql(pop, "SELECT owner FROM pop3_maildrop_locks WHERE account = 'stale'")
        assert owner and owner != 'other-host-token'
        p.quit()
    finally:
        p.close()
    assert sql(pop, "SELECT count(*) FROM pop3_maildrop_locks WHERE account = 'stale'") == '0'


@pytest.mark.skipif(not os.path.exists(PSQL), reason='psql is not installed')
def test_lock_lost_deletes_nothing(pop):
    """A session whose row another holder took over (the database was away
    for longer than the lease) notices at its next renewal and touches
    nothing: QUIT deletes nothing, another command ends the session."""
    deliver(pop, 'lost')
    for last in ('QUIT', 'STAT'):
        r = raw_login(pop, 'lost')
        try:
            assert r.cmd('DELE 1').startswith(b'+OK')
            sql(pop, "UPDATE pop3_maildrop_locks SET owner = 'thief', expires_at = now() + interval '1 hour' "
                     "WHERE account = 'lost'")
            time.sleep(LEASE / 3 + 2)
            rep = r.cmd(last)
            assert rep.startswith(b'-ERR [SYS/TEMP] ') and b'lock was lost' in rep, rep
            assert r.closed()
        finally:
            r.close()
        assert len(export(pop.config, 'lost')) == 1
        # the thief's row is the thief's
        assert sql(pop, "SELECT owner FROM pop3_maildrop_locks WHERE account = 'lost'") == 'thief'
        sql(pop, "DELETE FROM pop3_maildrop_locks WHERE account = 'lost'")


# ---------------------------------------------------------------------------
# SASL (RFC 5034)


def test_auth_plain(pop):
    deliver(pop, 'auth')
    # with an initial response (SASL-IR)
    r = Raw(pop.pop3s_port, pop.material.client_context())
    try:
        assert r.line().startswith(b'+OK')
        rep = r.cmd(f'AUTH PLAIN {plain_ir("auth", PASSWORD)}')
        assert rep.startswith(b'+OK'), rep
        assert r.cmd('STAT').startswith(b'+OK 1 ')
        assert r.cmd('AUTH PLAIN').startswith(b'-ERR')
        assert r.cmd('QUIT').startswith(b'+OK')
    finally:
        r.close()
    # with a continuation, after STLS
    r = Raw(pop.pop3_port)
    try:
        assert r.line().startswith(b'+OK')
        assert r.cmd('STLS').startswith(b'+OK')
        r.starttls(pop.material.client_context())
        assert r.cmd('AUTH PLAIN') == b'+ '
        rep = r.cmd(plain_ir('auth', PASSWORD))
        assert rep.startswith(b'+OK'), rep
        assert r.cmd('QUIT').startswith(b'+OK')
    finally:
        r.close()
    # cancelled, not base64, unknown mechanism, the list, a wrong password
    r = Raw(pop.pop3s_port, pop.material.client_context())
    try:
        assert r.line().startswith(b'+OK')
        assert r.cmd('AUTH PLAIN') == b'+ '
        assert r.cmd('*').startswith(b'-ERR')
        assert r.cmd('AUTH PLAIN') == b'+ '
        assert r.cmd('not base64!').startswith(b'-ERR')
        assert r.cmd('AUTH NOSUCHMECH').startswith(b'-ERR')
        assert r.cmd('AUTH').startswith(b'+OK')
        mechs = r.multi()
        assert b'PLAIN' in mechs and b'SCRAM-SHA-256' in mechs
        rep = r.cmd(f'AUTH PLAIN {plain_ir("auth", "wrong password")}')
        assert rep.startswith(b'-ERR [AUTH] '), rep
        # "=" is an empty initial response: PLAIN fails on it
        rep = r.cmd('AUTH PLAIN =')
        assert rep.startswith(b'-ERR'), rep
        rep = r.cmd(f'AUTH PLAIN {plain_ir("auth", PASSWORD)}')
        assert rep.startswith(b'+OK'), rep
        assert r.cmd('QUIT').startswith(b'+OK')
    finally:
        r.close()
    # poplib's USER/PASS with a wrong password: [AUTH]
    p = pop3s(pop)
    try:
        with pytest.raises(poplib.error_proto) as e:
            login(p, 'auth', 'not the password')
        assert e.value.args[0].startswith(b'-ERR [AUTH] ')
        p.quit()
    finally:
        p.close()


def test_auth_scram_sha256(pop):
    """SCRAM-SHA-256 (RFC 5802, RFC 7677): the server-final message comes
    in a last "+" continuation that the client answers with an empty line
    (RFC 5034 §4), then +OK."""
    import hashlib
    import hmac
    deliver(pop, 'scram')

    def b64(data):
        return base64.b64encode(data).decode()

    r = Raw(pop.pop3s_port, pop.material.client_context())
    try:
        assert r.line().startswith(b'+OK')
        cnonce = b64(os.urandom(18))
        bare = f'n=scram,r={cnonce}'
        rep = r.cmd('AUTH SCRAM-SHA-256 ' + b64(b'n,,' + bare.encode()))
        assert rep.startswith(b'+ '), rep
        server_first = base64.b64decode(rep[2:]).decode()
        fields = dict(f.split('=', 1) for f in server_first.split(','))
        assert fields['r'].startswith(cnonce)
        salted = hashlib.pbkdf2_hmac('sha256', PASSWORD.encode(), base64.b64decode(fields['s']), int(fields['i']))
        client_key = hmac.new(salted, b'Client Key', 'sha256').digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f'c=biws,r={fields["r"]}'
        auth_message = f'{bare},{server_first},{without_proof}'.encode()
        signature = hmac.new(stored_key, auth_message, 'sha256').digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        rep = r.cmd(b64(f'{without_proof},p={b64(proof)}'.encode()))
        assert rep.startswith(b'+ '), rep
        server_key = hmac.new(salted, b'Server Key', 'sha256').digest()
        expected = 'v=' + b64(hmac.new(server_key, auth_message, 'sha256').digest())
        assert base64.b64decode(rep[2:]).decode() == expected
        rep = r.cmd('')
        assert rep.startswith(b'+OK'), rep
        assert r.cmd('STAT').startswith(b'+OK 1 ')
        assert r.cmd('QUIT').startswith(b'+OK')
    finally:
        r.close()


# ---------------------------------------------------------------------------
# bad commands and limits


def test_bad_commands(pop):
    r = Raw(pop.pop3s_port, pop.material.client_context())
    try:
        assert r.line().startswith(b'+OK')
        for line in ('FOO', 'STAT', 'RETR 1', 'LIST x', 'APOP retr 0123456789abcdef0123456789abcdef', 'PASS x'):
            assert r.cmd(line).startswith(b'-ERR'), line
        assert r.cmd('NOOP').startswith(b'-ERR')  # NOOP is a TRANSACTION command
        assert r.cmd('CAPA').startswith(b'+OK')
        r.multi()
        assert r.cmd('QUIT').startswith(b'+OK')
        assert r.closed()
    finally:
        r.close()
    r = raw_login(pop, 'pipe')
    try:
        for line in ('RETR 0', 'RETR 1', 'DELE 99', 'TOP 1', 'LIST 1 2', 'STAT 1', 'UIDL 4294967296'):
            assert r.cmd(line).startswith(b'-ERR'), line
        assert r.cmd('NOOP') == b'+OK OK'
        assert r.cmd('QUIT').startswith(b'+OK')
    finally:
        r.close()


def test_pipelining(pop):
    deliver(pop, 'pipe')
    deliver(pop, 'pipe')
    r = Raw(pop.pop3s_port, pop.material.client_context())
    try:
        assert r.line().startswith(b'+OK')
        r.send(f'USER pipe\r\nPASS {PASSWORD}\r\nSTAT\r\nRETR 1\r\nLIST\r\nTOP 2 0\r\nQUIT\r\n'.encode())
        assert r.line().startswith(b'+OK')
        assert r.line().startswith(b'+OK')
        assert r.line().startswith(b'+OK 2 ')
        assert r.line().startswith(b'+OK')
        assert r.multi()[-1] == b'Hello.'
        assert r.line().startswith(b'+OK')
        assert len(r.multi()) == 2
        assert r.line().startswith(b'+OK')
        assert r.multi()[-1] == b''
        assert r.line().startswith(b'+OK')
        assert r.closed()
    finally:
        r.close()


def test_long_line_closes(pop):
    r = Raw(pop.pop3s_port, pop.material.client_context())
    try:
        assert r.line().startswith(b'+OK')
        # RFC 2449: 255 octets with CRLF is the limit
        assert r.cmd('USER ' + 'a' * 248).startswith(b'-ERR')  # 253 octets: a bad name, not a bad line
        r.send(b'USER ' + b'a' * 249 + b'\r\n')
        assert r.line().startswith(b'-ERR')
        assert r.closed()
    finally:
        r.close()


def test_bare_lf_closes(pop):
    r = Raw(pop.pop3s_port, pop.material.client_context())
    try:
        assert r.line().startswith(b'+OK')
        r.send(b'CAPA\n')
        assert r.line().startswith(b'-ERR')
        assert r.closed()
    finally:
        r.close()


def test_too_many_errors_close(pop):
    r = Raw(pop.pop3s_port, pop.material.client_context())
    try:
        assert r.line().startswith(b'+OK')
        for i in range(9):
            assert r.cmd(f'BAD{i}').startswith(b'-ERR'), i
        rep = r.cmd('BAD9')
        assert rep.startswith(b'-ERR') and b'Too many errors' in rep, rep
        assert r.closed()
    finally:
        r.close()


def test_three_auth_failures_close(pop):
    r = Raw(pop.pop3s_port, pop.material.client_context())
    try:
        assert r.line().startswith(b'+OK')
        for i in range(2):
            assert r.cmd('USER carol').startswith(b'+OK')
            assert r.cmd(f'PASS wrong {i}').startswith(b'-ERR [AUTH] ')
        rep = r.cmd(f'AUTH PLAIN {plain_ir("carol", "wrong 3")}')
        assert rep.startswith(b'-ERR [AUTH] ') and b'Too many' in rep, rep
        assert r.closed()
    finally:
        r.close()
    # an error answer is counted, an auth failure too, but separately: the
    # right password still works in a new session
    r = Raw(pop.pop3s_port, pop.material.client_context())
    try:
        assert r.line().startswith(b'+OK')
        assert r.cmd(f'AUTH PLAIN {plain_ir("carol", CAROL_PASSWORD)}').startswith(b'+OK')
        assert r.cmd('QUIT').startswith(b'+OK')
    finally:
        r.close()


# ---------------------------------------------------------------------------
# fetchmail


@pytest.mark.skipif(FETCHMAIL is None, reason='fetchmail (Debian package fetchmail) is not installed')
@pytest.mark.parametrize('transport', ['pop3s', 'stls'])
def test_fetchmail_keep_then_delete(pop, tmp_root, transport):
    account = 'fetch' if transport == 'pop3s' else 'fetchstls'
    markers = [deliver(pop, account, body=BODY)[0], deliver(pop, account)[0]]
    home = tempfile.mkdtemp(prefix='fetchmail-', dir=tmp_root)
    out = os.path.join(home, 'out.mbox')
    # implicit TLS on the pop3s port, or STLS required on the pop3 port
    port, tls = ((pop.pop3s_port, 'ssl') if transport == 'pop3s' else (pop.pop3_port, "sslproto 'TLS1.2+'"))

    def run(keep):
        rc = os.path.join(home, 'fetchmailrc')
        with open(rc, 'w') as f:
            f.write(f'''set no syslog
poll {HOSTNAME} via 127.0.0.1 service {port} protocol pop3 timeout 30 uidl:
  user "{account}" there with password "{PASSWORD}" is "root" here
  {tls} sslcertck sslcertfile "{pop.material.ca_file}" sslcommonname "{HOSTNAME}"
  {"keep" if keep else "nokeep fetchall"}
  mda "/bin/sh -c 'cat >> {out}'"
''')
        os.chmod(rc, 0o600)
        env = dict(os.environ, FETCHMAILHOME=home, HOME=home)
        r = subprocess.run([FETCHMAIL, '--nodetach', '-f', rc, '-v'], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    os.chmod(home, 0o700)
    r = run(keep=True)
    assert re.search(rf'\b2 messages .*for {account} at', r.stdout + r.stderr), r.stdout + r.stderr
    if transport == 'stls':
        assert re.search(r'STLS', r.stdout + r.stderr), r.stdout + r.stderr
    with open(out, 'rb') as f:
        got = f.read()
    for m in markers:
        assert got.count(m.encode()) >= 1, m
    # the dot line arrived unstuffed
    assert b'\n.hidden line starting with a dot\n' in got.replace(b'\r\n', b'\n')
    assert len(export(pop.config, account)) == 2

    r = run(keep=False)
    assert re.search(rf'\b2 messages .*for {account} at', r.stdout + r.stderr), r.stdout + r.stderr
    assert export(pop.config, account) == []
    with open(out, 'rb') as f:
        got = f.read()
    for m in markers:
        assert got.count(m.encode()) >= 2, m


GETMAIL = shutil.which('getmail')


@pytest.mark.skipif(GETMAIL is None, reason='getmail6 (Debian package getmail6) is not installed')
def test_getmail6_keep_then_delete(pop, tmp_root):
    markers = [deliver(pop, 'drop', body=BODY)[0], deliver(pop, 'drop')[0]]
    home = tempfile.mkdtemp(prefix='getmail-', dir=tmp_root)
    out = os.path.join(home, 'out.mbox')
    open(out, 'w').close()
    # getmail refuses to deliver as root: as root it writes as the service user
    os.chmod(home, 0o755)
    give_to_service_user(out)
    as_user = f'user = {SERVICE_USER}\n' if is_root() else ''

    def run(delete):
        rc = os.path.join(home, 'getmailrc')
        with open(rc, 'w') as f:
            f.write(f'''[retriever]
type = SimplePOP3SSLRetriever
server = 127.0.0.1
port = {pop.pop3s_port}
username = drop
password = {PASSWORD}
ca_certs = {pop.material.ca_file}
ssl_cert_hostname = {HOSTNAME}

[destination]
type = Mboxrd
path = {out}
{as_user}
[options]
read_all = true
delete = {'true' if delete else 'false'}
verbose = 2
''')
        try:
            r = subprocess.run([GETMAIL, f'--getmaildir={home}', f'--rcfile={rc}'], capture_output=True, text=True,
                               timeout=120)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f'getmail hangs: {e.stdout} {e.stderr}\n{pop.log()[-4000:]}')
        assert r.returncode == 0, r.stdout + r.stderr
        assert re.search(r'\b2 messages? \(\d+ bytes\) retrieved', r.stdout + r.stderr), r.stdout + r.stderr
        return r

    run(delete=False)
    with open(out, 'rb') as f:
        got = f.read()
    for m in markers:
        assert got.count(m.encode()) >= 1, m
    # mboxrd quotes "From " lines only: the dot line arrived unstuffed
    assert b'\n.hidden line starting with a dot\n' in got
    assert len(export(pop.config, 'drop')) == 2

    run(delete=True)
    assert export(pop.config, 'drop') == []
    with open(out, 'rb') as f:
        got = f.read()
    for m in markers:
        assert got.count(m.encode()) >= 2, m


def test_shutdown_deletes_nothing(tmp_root, material):
    """A stop ends the sessions with -ERR [SYS/TEMP] and without the UPDATE
    state; the lock rows go with them."""
    config = new_config(tmp_root, 'stop')
    smtp_port, pop3s_port = free_port(), free_port()
    config.write(config.base(modules=['store-pg', 'smtp', 'auth-sql', 'pop3'])
                 + f'\n[[accounts]]\nname = "stop"\naddresses = ["stop@example.org"]\n'
                 + f'password_hash = "{token_hash(PASSWORD)}"\n'
                 + listener('smtp', smtp_port) + listener('pop3s', pop3s_port) + AUTH_SQL_SECTION
                 + material.tls_section())
    d = start_daemon(config)
    d.smtp_port, d.pop3s_port, d.material = smtp_port, pop3s_port, material
    try:
        deliver(d, 'stop')
        r = raw_login(d, 'stop')
        assert r.cmd('DELE 1').startswith(b'+OK')
        assert d.stop() == 0
        assert r.line().startswith(b'-ERR [SYS/TEMP] ')
        assert r.closed()
        r.close()
    finally:
        d.close()
    d = start_daemon(config)
    try:
        assert len(export(config, 'stop')) == 1
        d.config = config
        assert sql(d, "SELECT count(*) FROM pop3_maildrop_locks") == '0'
    finally:
        d.close()
    assert not re.search(r'CRITICAL|assertion .* failed|AddressSanitizer|runtime error', d.log())


# ---------------------------------------------------------------------------
# the same maildrop through IMAP


@pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, 'imap.so')), reason='the imap module was not built')
def test_same_messages_through_imap(tmp_root, material):
    """What POP3 lists is what IMAP has (UIDL = UIDVALIDITY.UID, sizes and
    bytes alike), and a POP3 deletion is seen by an IMAP session at once."""
    import imaplib
    config = new_config(tmp_root, 'pop-imap')
    smtp_port, pop3s_port, imaps_port = free_port(), free_port(), free_port()
    config.write(config.base(modules=['store-pg', 'smtp', 'auth-sql', 'pop3', 'imap'])
                 + f'\n[[accounts]]\nname = "both"\naddresses = ["both@example.org"]\n'
                 + f'password_hash = "{token_hash(PASSWORD)}"\n'
                 + listener('smtp', smtp_port) + listener('pop3s', pop3s_port) + listener('imaps', imaps_port)
                 + AUTH_SQL_SECTION + material.tls_section())
    d = start_daemon(config)
    try:
        d.smtp_port, d.pop3s_port, d.material = smtp_port, pop3s_port, material
        first, _ = deliver(d, 'both', body=b'first\r\n.dotted line\r\n')
        second, _ = deliver(d, 'both', body=b'second\r\n')

        imap = imaplib.IMAP4_SSL('127.0.0.1', imaps_port, ssl_context=material.client_context(), timeout=30)
        imap.login('both', PASSWORD)
        typ, _ = imap.select('INBOX')
        assert typ == 'OK'
        uidvalidity = int(imap.untagged_responses['UIDVALIDITY'][0])
        typ, data = imap.uid('FETCH', '1:*', '(UID RFC822.SIZE BODY.PEEK[])')
        assert typ == 'OK'
        by_uid = {}
        for item in data:
            if isinstance(item, tuple):
                meta = item[0].decode()
                uid = int(re.search(r'UID (\d+)', meta).group(1))
                size = int(re.search(r'RFC822\.SIZE (\d+)', meta).group(1))
                by_uid[uid] = (size, item[1])
        assert len(by_uid) == 2

        p = pop3s(d)
        try:
            login(p, 'both')
            _, uidl_lines, _ = p.uidl()
            _, list_lines, _ = p.list()
            uidls = [l.decode().split()[1] for l in uidl_lines]
            assert uidls == [f'{uidvalidity}.{uid}' for uid in sorted(by_uid)]
            sizes = [int(l.split()[1]) for l in list_lines]
            assert sizes == [by_uid[uid][0] for uid in sorted(by_uid)]
            for n, uid in enumerate(sorted(by_uid), start=1):
                _, lines, _ = p.retr(n)
                assert b'\r\n'.join(lines) + b'\r\n' == by_uid[uid][1]
            p.dele(1)
            p.quit()
        finally:
            p.close()

        # the IMAP session hears of the deletion at its next command
        typ, data = imap.noop()
        assert typ == 'OK'
        assert imap.untagged_responses.get('EXPUNGE') == [b'1'], imap.untagged_responses
        typ, data = imap.uid('FETCH', '1:*', '(UID)')
        left = [int(re.search(rb'UID (\d+)', x).group(1)) for x in data if x]
        assert left == [max(by_uid)]
        imap.logout()
        stored = export(config, 'both')
        assert not [m for m in stored if first.encode() in m]
        assert len([m for m in stored if second.encode() in m]) == 1
    finally:
        d.close()
