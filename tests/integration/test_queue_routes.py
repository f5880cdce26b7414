"""Outbound routes beyond the plain MX: an MX reached over IPv6, a smart
host ([[transport]]) with STARTTLS, a verified certificate and AUTH, the
one delay notice, and the configuration checks of [[transport]].

The receiving side is a second epistle ("rx") that serves remote.test and
v6.test on 127.0.0.2 and ::1, and also takes authenticated submission on
127.0.0.2 (it is the smart host, under the name mail.example.org that its
certificate carries).  A scripted server on 127.0.0.3 answers 451 to every
RCPT.
"""
import os
import re
import shutil
import socket
import tempfile

import pytest

from conftest import MODULE_DIR, TEST_MODULE_DIR, Daemon, free_port, run_mail
from test_queue import (ALICE_PASSWORD, UNBOUND, ScriptedServer, Unbound, delivery_status, dsn_for, messages_with,
                        queue_list, submit, token_hash, tx_config, wait_for)
import tlsutil
from test_smtp import new_config, new_marker, start_daemon

HAVE_QUEUE = os.path.exists(os.path.join(MODULE_DIR, 'queue.so'))
pytestmark = [
    pytest.mark.skipif(not HAVE_QUEUE, reason='the queue module was not built'),
    pytest.mark.skipif(UNBOUND is None, reason='unbound (Debian package unbound) is not installed'),
]

RELAY_PASSWORD = 'alice relays through her smart host'

EXTRA_ZONE = '''local-data: "v6.test. 300 IN MX 10 mx.v6.test."
local-data: "mx.v6.test. 300 IN AAAA ::1"
local-data: "mail.example.org. 300 IN A 127.0.0.2"
'''


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope='module')
def tmp_root():
    d = tempfile.mkdtemp(prefix='epistle-routes-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def material(tmp_root):
    return tlsutil.TestMaterial(os.path.join(tmp_root, 'tls'))


@pytest.fixture(scope='module')
def dns(tmp_root):
    u = Unbound(tmp_root, extra_zone=EXTRA_ZONE)
    yield u
    u.close()


@pytest.fixture(scope='module')
def mx_port():
    for _ in range(20):
        port = free_port()
        try:
            with socket.socket() as s:
                s.bind(('127.0.0.2', port))
            with socket.socket() as s:
                s.bind(('127.0.0.3', port))
            with socket.socket() as s:
                s.bind(('127.0.0.4', port))
            if have_ipv6_loopback():
                with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                    s.bind(('::1', port))
            return port
        except OSError:
            continue
    raise AssertionError('no free port on 127.0.0.2-4 and ::1')


@pytest.fixture(scope='module')
def rx(tmp_root, material, mx_port):
    config = new_config(tmp_root, 'rx')
    sub_port = free_port('127.0.0.2')
    v6 = (f'\n[[listeners]]\nkind = "smtp"\naddr = "::1"\nport = {mx_port}\n' if have_ipv6_loopback() else '')
    config.write(config.base(hostname='mx.remote.test', domains=('remote.test', 'v6.test', 'example.org'),
                             modules=['store-pg', 'smtp', 'auth-sql'])
                 + '\n[[accounts]]\nname = "rob"\naddresses = ["rob@remote.test", "rob@v6.test"]\n'
                 + '\n[[accounts]]\nname = "alice"\naddresses = ["alice@example.org"]\n'
                 + f'password_hash = "{token_hash(RELAY_PASSWORD)}"\n'
                 + f'\n[[listeners]]\nkind = "smtp"\naddr = "127.0.0.2"\nport = {mx_port}\n' + v6
                 + f'\n[[listeners]]\nkind = "submission"\naddr = "127.0.0.2"\nport = {sub_port}\n'
                 + material.tls_section(sni=False))
    d = start_daemon(config)
    d.config, d.sub_port = config, sub_port
    yield d
    d.close()


@pytest.fixture(scope='module')
def tempfail(mx_port):
    s = ScriptedServer('127.0.0.3', mx_port, rcpt_reply='451 4.7.1 greylisted, come back later')
    yield s
    s.close()


def start_tx(tmp_root, name, material, dns, mx_port, extra=''):
    config = tx_config(tmp_root, name, material, dns, mx_port, extra=extra)
    d = start_daemon(config)
    d.config, d.sub_port, d.material = config, config.sub_port, material
    return d


@pytest.fixture(scope='module')
def tx(tmp_root, material, dns, mx_port, rx):
    d = start_tx(tmp_root, 'tx', material, dns, mx_port)
    yield d
    d.close()
    assert not re.search(r'CRITICAL|assertion .* failed|AddressSanitizer', d.log()), d.log()[-5000:]


@pytest.mark.skipif(not have_ipv6_loopback(), reason='no IPv6 loopback address (::1) on this machine')
def test_mx_over_ipv6(tx, rx):
    marker = new_marker('v6')
    submit(tx, ['rob@v6.test'], marker)
    got = wait_for(lambda: messages_with(rx, 'rob', marker), 40, 'the copy sent over IPv6')
    assert len(got) == 1
    assert re.search(r'connect from ::1 ', rx.log()), rx.log()[-3000:]
    wait_for(lambda: queue_list(tx).strip().endswith('0 queued'), 15, 'an empty queue')


def test_smart_host_with_starttls_and_auth(tmp_root, material, dns, mx_port, rx):
    # every domain goes through the smart host, whatever its MX says; the
    # certificate is checked against the test CA and the name configured
    transport = ('\n[[transport]]\ndomain = "*"\nhost = "mail.example.org"\n'
                 f'port = {rx.sub_port}\nstarttls = true\nca_file = "{material.ca_file}"\n'
                 f'username = "alice"\npassword = "{RELAY_PASSWORD}"\n')
    d = start_tx(tmp_root, 'tx-relay', material, dns, mx_port, extra=transport)
    try:
        marker = new_marker('relay')
        submit(d, ['rob@remote.test'], marker)
        got = wait_for(lambda: messages_with(rx, 'rob', marker), 40, 'the copy through the smart host')
        # the smart host took it as an authenticated submission over TLS
        assert re.search(r'with ESMTPSA', got[0]), got[0][:2000]
        assert RELAY_PASSWORD not in d.log()
        wait_for(lambda: queue_list(d).strip().endswith('0 queued'), 15, 'an empty queue')
    finally:
        d.close()


def test_smart_host_with_wrong_certificate_name_defers(tmp_root, material, dns, mx_port, rx):
    # 127.0.0.2 by address: the certificate does not carry that name, so the
    # message stays queued (never sent in clear, never sent unverified)
    transport = ('\n[[transport]]\ndomain = "remote.test"\nhost = "127.0.0.2"\n'
                 f'port = {rx.sub_port}\nstarttls = true\nca_file = "{material.ca_file}"\n'
                 f'username = "alice"\npassword = "{RELAY_PASSWORD}"\n')
    d = start_tx(tmp_root, 'tx-badname', material, dns, mx_port, extra=transport)
    try:
        marker = new_marker('badname')
        submit(d, ['rob@remote.test'], marker)
        wait_for(lambda: re.search(r'to=<rob@remote\.test>.*status=queued', d.log()), 40, 'a deferral')
        assert messages_with(rx, 'rob', marker) == []
        assert 'rob@remote.test' in queue_list(d)
    finally:
        d.close()


def test_delay_notice_sent_once(tmp_root, material, dns, mx_port, tempfail):
    d = start_tx(tmp_root, 'tx-delay', material, dns, mx_port, extra='delay_warning = 2\n')
    try:
        marker = new_marker('delay')
        submit(d, ['later@tempfail.test'], marker)
        found = wait_for(lambda: dsn_for(d, marker), 40, 'the delay notice')
        # a few more failed attempts: still one notice
        attempts = tempfail.attempts
        wait_for(lambda: tempfail.attempts >= attempts + 3, 40, 'more attempts')
        found = dsn_for(d, marker)
        assert len(found) == 1, [m['Subject'] for m in found]
        groups = delivery_status(found[0])
        per_rcpt = [g for g in groups if 'final-recipient' in g]
        assert len(per_rcpt) == 1
        assert per_rcpt[0]['action'].strip() == 'delayed'
        assert per_rcpt[0]['status'].strip().startswith('4.')
        assert 'later@tempfail.test' in per_rcpt[0]['final-recipient']
        assert 'will-retry-until' in per_rcpt[0]
        # still queued: a delay notice is not a bounce
        assert 'later@tempfail.test' in queue_list(d)
    finally:
        d.close()


@pytest.mark.parametrize('transport,expect', [
    ('domain = "*"\nhost = "relay.example.net"\nusername = "u"\npassword = "p"\n',
     'starttls = true is required with username'),
    ('domain = "*"\nhost = "relay.example.net"\nstarttls = true\nusername = "u"\n',
     'username and password must be given together'),
    ('domain = "example.net"\nhost = "a.example.net"\n\n[[transport]]\ndomain = "example.net"\nhost = "b.example.net"\n',
     "a transport for 'example.net' is already defined"),
    ('domain = "not a domain"\nhost = "relay.example.net"\n', 'transport'),
    ('host = "relay.example.net"\n', 'domain'),
])
def test_transport_config_refused(tmp_root, material, dns, mx_port, transport, expect):
    config = tx_config(tmp_root, 'cc-' + new_marker('t'), material, dns, mx_port,
                       extra='\n[[transport]]\n' + transport)
    r = run_mail('config-check', '--config', config.path)
    assert r.returncode == 78, (r.returncode, r.stdout, r.stderr)
    assert expect in r.stderr, r.stderr


@pytest.fixture(scope='module')
def reject(mx_port):
    s = ScriptedServer('127.0.0.4', mx_port, rcpt_reply='550 5.1.1 <nobody@reject.test>: no such user')
    yield s
    s.close()


@pytest.mark.skipif(not TEST_MODULE_DIR or not os.path.exists(os.path.join(TEST_MODULE_DIR or '', 'test-bus.so')),
                    reason='the test-bus module was not built')
def test_queue_events(tmp_root, material, dns, mx_port, rx, tempfail, reject):
    """message.delivered (remote), queue.deferred and message.bounced reach
    a subscriber (the test-bus module, loaded beside the product modules)."""
    from test_serve import LineClient
    moddir = os.path.join(tmp_root, 'modules-events')
    os.makedirs(moddir)
    os.chmod(moddir, 0o755)
    for d, names in ((MODULE_DIR, os.listdir(MODULE_DIR)), (TEST_MODULE_DIR, ['test-bus.so'])):
        for n in names:
            if n.endswith('.so'):
                shutil.copy(os.path.join(d, n), os.path.join(moddir, n))
                os.chmod(os.path.join(moddir, n), 0o644)
    bus_port = free_port()
    config = tx_config(tmp_root, 'tx-events', material, dns, mx_port,
                       extra=f'\n[[listeners]]\nkind = "test-bus"\naddr = "127.0.0.1"\nport = {bus_port}\n')
    config.write(open(config.path).read().replace('"auth-sql", "queue"]', '"auth-sql", "queue", "test-bus"]'))
    assert '"test-bus"]' in open(config.path).read()
    d = Daemon(config, moddir)
    try:
        d.start()
        d.config, d.sub_port, d.material = config, config.sub_port, material
        submit(d, ['rob@remote.test'], new_marker('ev-ok'))
        submit(d, ['nobody@reject.test'], new_marker('ev-bounce'))
        submit(d, ['later@tempfail.test'], new_marker('ev-later'))
        client = LineClient(bus_port)

        def seen():
            line = client.ask('OUTBOUND')
            assert line.startswith('OUTBOUND ')
            events = [e for e in line[len('OUTBOUND '):].split('|') if e]
            kinds = {e.split(' ')[0] + ' ' + e.split(' ')[1] for e in events}
            want = {'delivered rob@remote.test', 'bounced nobody@reject.test', 'deferred later@tempfail.test'}
            return events if want <= kinds else None
        events = wait_for(seen, 40, 'the three kinds of queue events')
        delivered = [e for e in events if e.startswith('delivered ')][0].split(' ')
        assert delivered[2] in ('mx.remote.test', '127.0.0.2'), delivered
        assert re.fullmatch(r'[0-9a-f]{16}', delivered[3]), delivered
        bounced = [e for e in events if e.startswith('bounced ')][0].split(' ')
        assert bounced[2:4] == ['550', '5.1.1'], bounced
        deferred = [e for e in events if e.startswith('deferred ')][0].split(' ')
        assert int(deferred[2]) >= 1, deferred
        client.close()
    except BaseException:
        print('DAEMON LOG', d.log()[-4000:])
        raise
    finally:
        d.close()
