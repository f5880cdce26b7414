"""Outbound delivery through the queue module, end to end.

A real resolver (Debian's unbound, on loopback) serves the test zones:

  remote.test    MX 10 mx.remote.test   -> 127.0.0.2  a second epistle (STARTTLS offered)
  tempfail.test  MX 10 mx.tempfail.test -> 127.0.0.3  a scripted server answering 451 to RCPT
  reject.test    MX 10 mx.reject.test   -> 127.0.0.4  a scripted server answering 550 5.1.1 to RCPT
  slow.test      MX 10 mx.slow.test     -> 127.0.0.5  a scripted server that is slow to take DATA
  nullmx.test    MX 0 .                               null MX (RFC 7505)
  implicit.test  (no MX) A 127.0.0.2                  implicit MX: the domain's own address

Every mail server listens on the same port (the queue's [queue] smtp_port)
on its own loopback address.  alice submits with AUTH over STARTTLS; DSNs
come back into her INBOX (read with `mail export`).
"""
import email
import email.policy
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import MODULE_DIR, SERVICE_USER, free_port, is_root, run_mail, toml_str
import tlsutil
from test_smtp import new_config, new_marker, start_daemon

HAVE_QUEUE = os.path.exists(os.path.join(MODULE_DIR, 'queue.so'))
UNBOUND = shutil.which('unbound') or ('/usr/sbin/unbound' if os.path.exists('/usr/sbin/unbound') else None)
pytestmark = [
    pytest.mark.skipif(not HAVE_QUEUE, reason='the queue module was not built'),
    pytest.mark.skipif(UNBOUND is None, reason='unbound (Debian package unbound) is not installed'),
]

ALICE_PASSWORD = 'alice sends far away'
HOSTNAME = 'mail.example.org'


# ---------------------------------------------------------------------------
# the resolver


ZONE = '''
local-zone: "test." static
local-data: "remote.test. 300 IN MX 10 mx.remote.test."
local-data: "mx.remote.test. 300 IN A 127.0.0.2"
local-data: "tempfail.test. 300 IN MX 10 mx.tempfail.test."
local-data: "mx.tempfail.test. 300 IN A 127.0.0.3"
local-data: "reject.test. 300 IN MX 10 mx.reject.test."
local-data: "mx.reject.test. 300 IN A 127.0.0.4"
local-data: "slow.test. 300 IN MX 10 mx.slow.test."
local-data: "mx.slow.test. 300 IN A 127.0.0.5"
local-data: "nullmx.test. 300 IN MX 0 ."
local-data: "implicit.test. 300 IN A 127.0.0.2"
'''


class Unbound:
    def __init__(self, root, extra_zone=''):
        self.dir = os.path.join(root, 'unbound')
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        conf = os.path.join(self.dir, 'unbound.conf')
        with open(conf, 'w') as f:
            f.write(f'''server:
  interface: 127.0.0.1
  port: {self.port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{self.dir}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "iterator"
{ZONE}{extra_zone}''')
        self.proc = subprocess.Popen([UNBOUND, '-d', '-c', conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError('unbound exited: ' + self.proc.stderr.read().decode())
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError('unbound did not start')

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


# ---------------------------------------------------------------------------
# scripted remote servers


class ScriptedServer:
    """A minimal SMTP server on (ip, port) whose RCPT answer is set by the
    test.  It records every transaction it accepted."""

    def __init__(self, ip, port, rcpt_reply='250 2.1.5 ok', data_delay=0.0):
        self.ip, self.port = ip, port
        self.rcpt_reply = rcpt_reply
        self.data_delay = data_delay
        self.attempts = 0
        self.messages = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(16)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        conn.settimeout(30)
        f = conn.makefile('rb')

        def send(line):
            conn.sendall(line.encode() + b'\r\n')

        try:
            send(f'220 mx.scripted.test ESMTP')
            sender, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode('utf-8', 'replace').strip()
                verb = cmd.split(' ', 1)[0].upper()
                if verb == 'EHLO':
                    send('250-mx.scripted.test')
                    send('250-PIPELINING')
                    send('250-8BITMIME')
                    send('250 SIZE 10000000')
                elif verb == 'HELO':
                    send('250 mx.scripted.test')
                elif verb == 'MAIL':
                    with self.lock:
                        self.attempts += 1
                    sender, rcpts = cmd[10:].split(' ')[0].strip('<>'), []
                    send('250 2.1.0 ok')
                elif verb == 'RCPT':
                    reply = self.rcpt_reply
                    if reply.startswith('2'):
                        rcpts.append(cmd[8:].split(' ')[0].strip('<>'))
                    send(reply)
                elif verb == 'DATA':
                    if not rcpts:
                        send('554 5.5.1 no valid recipients')
                        continue
                    send('354 go on')
                    body = b''
                    while True:
                        line = f.readline()
                        if not line or line == b'.\r\n':
                            break
                        body += line[1:] if line.startswith(b'..') else line
                    time.sleep(self.data_delay)
                    with self.lock:
                        self.messages.append((sender, rcpts, body))
                    send('250 2.0.0 queued here')
                elif verb == 'RSET':
                    sender, rcpts = None, []
                    send('250 2.0.0 ok')
                elif verb == 'QUIT':
                    send('221 2.0.0 bye')
                    return
                else:
                    send('502 5.5.2 not here')
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stopping = True
        self.sock.close()


# ---------------------------------------------------------------------------
# fixtures


def token_hash(secret):
    r = run_mail('token-hash', input=secret + '\n')
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope='module')
def tmp_root():
    d = tempfile.mkdtemp(prefix='epistle-queue-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def material(tmp_root):
    return tlsutil.TestMaterial(os.path.join(tmp_root, 'tls'))


@pytest.fixture(scope='module')
def dns(tmp_root):
    u = Unbound(tmp_root)
    yield u
    u.close()


@pytest.fixture(scope='module')
def mx_port():
    # one port for every server: the queue connects to MX hosts on it
    for _ in range(20):
        port = free_port()
        try:
            for ip in ('127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'):
                with socket.socket() as s:
                    s.bind((ip, port))
            return port
        except OSError:
            continue
    raise AssertionError('no free port on 127.0.0.2-5')


@pytest.fixture(scope='module')
def rx(tmp_root, material, mx_port):
    """The remote domain's server: epistle for remote.test on 127.0.0.2."""
    config = new_config(tmp_root, 'rx')
    config.write(config.base(hostname='mx.remote.test', domains=('remote.test', 'implicit.test'),
                             modules=['store-pg', 'smtp'])
                 + '\n[[accounts]]\nname = "rob"\naddresses = ["rob@remote.test", "rob@implicit.test"]\n'
                 + f'\n[[listeners]]\nkind = "smtp"\naddr = "127.0.0.2"\nport = {mx_port}\n'
                 + material.tls_section(sni=False))
    d = start_daemon(config)
    yield d
    d.close()


@pytest.fixture(scope='module')
def tempfail(mx_port):
    s = ScriptedServer('127.0.0.3', mx_port, rcpt_reply='451 4.7.1 greylisted, come back later')
    yield s
    s.close()


@pytest.fixture(scope='module')
def reject(mx_port):
    s = ScriptedServer('127.0.0.4', mx_port, rcpt_reply='550 5.1.1 <nobody@reject.test>: no such user')
    yield s
    s.close()


@pytest.fixture(scope='module')
def slow(mx_port):
    s = ScriptedServer('127.0.0.5', mx_port, data_delay=1.5)
    yield s
    s.close()


def queue_section(dns, mx_port, node=None):
    text = (f'\n[dns]\nnameservers = ["127.0.0.1@{dns.port}"]\ndnssec = false\n'
            f'\n[queue]\nsmtp_port = {mx_port}\nretry_min = 1\nretry_max = 2\npoll_interval = 1\n'
            'connect_timeout = 5\ncommand_timeout = 20\nlease = 130\n')
    if node:
        text += f'node = {toml_str(node)}\n'
    return text


def tx_config(tmp_root, name, material, dns, mx_port, extra='', node=None):
    config = new_config(tmp_root, name)
    port = free_port()
    config.write(config.base(modules=['store-pg', 'smtp', 'auth-sql', 'queue'])
                 + f'\n[[accounts]]\nname = "alice"\naddresses = ["alice@example.org"]\n'
                 + f'password_hash = "{token_hash(ALICE_PASSWORD)}"\n'
                 + f'\n[[listeners]]\nkind = "submission"\naddr = "127.0.0.1"\nport = {port}\n'
                 + material.tls_section(sni=False) + queue_section(dns, mx_port, node) + extra)
    config.sub_port = port
    return config


@pytest.fixture(scope='module')
def tx(tmp_root, material, dns, mx_port, rx, tempfail, reject, slow):
    config = tx_config(tmp_root, 'tx', material, dns, mx_port)
    d = start_daemon(config)
    d.config, d.sub_port = config, config.sub_port
    yield d
    d.close()
    log = d.log()
    assert not re.search(r'CRITICAL|assertion .* failed|AddressSanitizer', log), log[-5000:]
    assert ALICE_PASSWORD not in log


def submit(d, to, marker, port=None, extra_headers=''):
    msg = (f'From: Alice <alice@example.org>\r\nTo: <{to[0]}>\r\nSubject: {marker}\r\n'
           f'Message-ID: <{marker}@example.org>\r\n{extra_headers}\r\nHello {marker}.\r\n')
    ctx = ssl.create_default_context(cafile=d.material.ca_file) if hasattr(d, 'material') else None
    with smtplib.SMTP('127.0.0.1', port or d.sub_port, timeout=30) as s:
        s.starttls(context=ctx)
        s.login('alice', ALICE_PASSWORD)
        refused = s.sendmail('alice@example.org', to, msg.encode())
        assert refused == {}
        return s.noop()


def export(d, account):
    r = run_mail('export', account, '--format', 'mbox', '--config', d.config.path, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def messages_with(d, account, marker):
    text = export(d, account)
    return [m for m in re.split(r'^From ', text, flags=re.M) if marker in m]


def wait_for(predicate, timeout=30, what='the condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f'timed out waiting for {what}')


def queue_list(d):
    r = run_mail('queue', '--config', d.config.path, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def dsn_for(d, marker):
    """alice's DSNs about the message @marker, parsed."""
    found = []
    for m in messages_with(d, 'alice', marker):
        raw = m.split('\n', 1)[1].replace('\n', '\r\n').encode()
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        if msg.get_content_type() == 'multipart/report':
            found.append(msg)
    return found


def delivery_status(msg):
    """The per-recipient field groups of a DSN's message/delivery-status part."""
    for part in msg.walk():
        if part.get_content_type() == 'message/delivery-status':
            payload = part.get_payload()
            groups = []
            for block in payload:
                groups.append({k.lower(): v for k, v in block.items()})
            return groups
    raise AssertionError('no message/delivery-status part')


# ---------------------------------------------------------------------------
# tests


@pytest.fixture(autouse=True)
def _material(tx, material):
    tx.material = material


def test_delivered_over_starttls(tx, rx):
    marker = new_marker('remote')
    submit(tx, ['rob@remote.test'], marker)
    try:
        got = wait_for(lambda: messages_with(rx, 'rob', marker), 30, 'the remote copy')
    except AssertionError:
        print('DEBUGTX', tx.log()[-6000:])
        print('DEBUGRX', rx.log()[-3000:])
        raise
    copy = got[0]
    # the receiving server says how it came: ESMTPS with TLS 1.2/1.3
    assert re.search(r'with ESMTPS', copy), copy[:2000]
    assert re.search(r'TLS1\.[23]|TLSv1\.[23]|TLS 1\.[23]', copy, re.I), copy[:2000]
    assert 'Return-Path: <alice@example.org>' in copy
    # the sender's queue is empty once the message is delivered
    wait_for(lambda: queue_list(tx).strip().endswith('0 queued'), 15, 'an empty queue')


def test_implicit_mx(tx, rx):
    marker = new_marker('implicit')
    submit(tx, ['rob@implicit.test'], marker)
    wait_for(lambda: messages_with(rx, 'rob', marker), 30, 'delivery to the implicit MX')


def test_local_and_remote_recipients(tx, rx):
    marker = new_marker('mixed')
    submit(tx, ['rob@remote.test', 'alice@example.org'], marker)
    assert messages_with(tx, 'alice', marker), 'the local copy is stored before 250'
    wait_for(lambda: messages_with(rx, 'rob', marker), 30, 'the remote copy')


def test_null_mx_bounces_at_once(tx):
    marker = new_marker('nullmx')
    submit(tx, ['someone@nullmx.test'], marker)
    dsns = wait_for(lambda: dsn_for(tx, marker), 30, 'the DSN')
    groups = delivery_status(dsns[0])
    rcpt = [g for g in groups if 'final-recipient' in g]
    assert len(rcpt) == 1, groups
    assert rcpt[0]['final-recipient'].strip() == 'rfc822; someone@nullmx.test'
    assert rcpt[0]['action'].strip() == 'failed'
    assert rcpt[0]['status'].strip() == '5.1.10'
    assert dsns[0]['Auto-Submitted'] == 'auto-replied'
    assert 'MAILER-DAEMON@' in dsns[0]['From']


def test_5xx_bounces_with_the_remote_reply(tx, reject):
    marker = new_marker('reject')
    before = reject.attempts
    submit(tx, ['nobody@reject.test'], marker)
    dsns = wait_for(lambda: dsn_for(tx, marker), 30, 'the DSN')
    assert len(dsns) == 1
    rcpt = [g for g in delivery_status(dsns[0]) if 'final-recipient' in g][0]
    assert rcpt['status'].strip() == '5.1.1'
    assert 'no such user' in rcpt['diagnostic-code']
    assert rcpt['diagnostic-code'].strip().startswith('smtp;')
    assert 'mx.reject.test' in rcpt['remote-mta']
    # the original's headers travel back
    assert marker in dsns[0].as_string()
    # tried once: a 5xx is final
    time.sleep(2.5)
    assert reject.attempts == before + 1


def test_4xx_retries_then_delivers(tx, tempfail):
    marker = new_marker('retry')
    tempfail.rcpt_reply = '451 4.7.1 greylisted, come back later'
    before = tempfail.attempts
    submit(tx, ['someone@tempfail.test'], marker)
    wait_for(lambda: tempfail.attempts >= before + 2, 30, 'two attempts')
    listing = queue_list(tx)
    assert 'someone@tempfail.test' in listing, listing
    assert not dsn_for(tx, marker), 'a temporary failure does not bounce'
    tempfail.rcpt_reply = '250 2.1.5 ok now'
    wait_for(lambda: any(marker.encode() in body for _, _, body in tempfail.messages), 30, 'the retry')
    wait_for(lambda: 'someone@tempfail.test' not in queue_list(tx), 15, 'the queue to forget it')
    tempfail.rcpt_reply = '451 4.7.1 greylisted, come back later'


def test_two_workers_deliver_each_message_once(tmp_root, tx, material, dns, mx_port, slow):
    """A second daemon works the same queue (the first one's database) under
    another node name: every message is delivered, none twice."""
    host = os.path.join(tx.config.data_dir, 'postgresql', 'run')
    user = SERVICE_USER if is_root() else os.environ.get('USER', 'root')
    url = f'host={host} port=5432 dbname=epistle user={user}'
    config = tx_config(tmp_root, 'tx2', material, dns, mx_port,
                       extra=f'\n[database]\nurl = {toml_str(url)}\n', node='second-worker')
    tx2 = start_daemon(config)
    try:
        tx2.sub_port = config.sub_port
        tx2.material = material
        slow.data_delay = 0.2
        markers = [new_marker(f'pair{i}') for i in range(12)]
        for i, marker in enumerate(markers):
            submit(tx if i % 2 else tx2, ['someone@slow.test'], marker)

        def all_there():
            bodies = [body for _, _, body in slow.messages]
            return all(any(m.encode() in b for b in bodies) for m in markers)
        wait_for(all_there, 60, 'every message at the slow server')
        time.sleep(2)
        bodies = [body for _, _, body in slow.messages]
        for m in markers:
            assert sum(1 for b in bodies if m.encode() in b) == 1, m
        # both took part
        assert 'second-worker' not in queue_list(tx)
        assert re.search(r'to=<someone@slow.test> relay=mx.slow.test', tx2.log()), tx2.log()[-3000:]
        assert re.search(r'to=<someone@slow.test> relay=mx.slow.test', tx.log())
    finally:
        tx2.close()


def test_kill_during_delivery_then_restart_delivers_everything(tmp_root, material, dns, mx_port, slow):
    config = tx_config(tmp_root, 'tx-kill', material, dns, mx_port)
    d = start_daemon(config)
    d.config, d.sub_port, d.material = config, config.sub_port, material
    slow.data_delay = 3.0
    markers = [new_marker(f'kill{i}') for i in range(6)]
    try:
        for m in markers:
            submit(d, ['someone@slow.test'], m)
        # some deliveries are in the middle of DATA
        time.sleep(1.0)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(10)
    finally:
        d.close()
    slow.data_delay = 0.1
    d = start_daemon(config)
    try:
        def all_there():
            bodies = [body for _, _, body in slow.messages]
            return all(any(m.encode() in b for b in bodies) for m in markers)
        wait_for(all_there, 60, 'every message after the restart')
        d.config = config
        wait_for(lambda: queue_list(d).strip().endswith('0 queued'), 20, 'an empty queue')
    finally:
        d.close()


def test_loop_refused(tx):
    marker = new_marker('loop')
    hops = ''.join(f'Received: from hop{i}.example by hop{i + 1}.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n'
                   for i in range(60))
    with pytest.raises(smtplib.SMTPDataError) as e:
        submit(tx, ['rob@remote.test'], marker, extra_headers=hops)
    assert e.value.smtp_code == 554


def test_queue_cli_show_retry_delete(tx, tempfail):
    marker = new_marker('cli')
    tempfail.rcpt_reply = '451 4.7.1 still greylisted'
    submit(tx, ['cli@tempfail.test'], marker)
    listing = wait_for(lambda: (lambda t: t if 'cli@tempfail.test' in t else None)(queue_list(tx)), 15,
                       'the message in the queue')
    qid = re.search(r'^([0-9a-f]{16})\b.*$(?:\n\s+.*)*?cli@tempfail\.test', listing, re.M)
    assert qid, listing
    qid = qid.group(1)
    r = run_mail('queue', 'show', qid, '--config', tx.config.path)
    assert r.returncode == 0, r.stderr
    assert 'cli@tempfail.test' in r.stdout and marker in r.stdout
    r = run_mail('queue', 'delete', qid, '--config', tx.config.path)
    assert r.returncode == 0, r.stderr
    assert 'cli@tempfail.test' not in queue_list(tx)
    assert not dsn_for(tx, marker), 'delete does not bounce'
