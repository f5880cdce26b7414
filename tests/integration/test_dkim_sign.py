"""DKIM signing of submitted mail, end to end.

Keys are made with `mail dkim-keygen` (files for ed25519 and RSA, and one
stored in the database), their TXT records are published by the test's
resolver (Debian's unbound on loopback), alice submits over STARTTLS with
AUTH, the queue delivers to a second epistle for remote.test, and the copy
that arrives there is checked by python3-dkim, which looks the keys up in
that same resolver.
"""
import os
import re
import shutil
import socket
import tempfile

import pytest

from conftest import MODULE_DIR, free_port, run_mail
from test_queue import (ALICE_PASSWORD, UNBOUND, Unbound, messages_with, queue_section, submit, token_hash,
                        wait_for)
import tlsutil
from test_smtp import new_config, new_marker, start_daemon

try:
    import dkim
    import dns.resolver as dns_resolver
    HAVE_DKIMPY = True
except ImportError:
    HAVE_DKIMPY = False

HAVE_MODULES = all(os.path.exists(os.path.join(MODULE_DIR, m + '.so')) for m in ('queue', 'dkim'))
pytestmark = [
    pytest.mark.skipif(not HAVE_MODULES, reason='the queue and dkim modules were not built'),
    pytest.mark.skipif(UNBOUND is None, reason='unbound (Debian package unbound) is not installed'),
    pytest.mark.skipif(not HAVE_DKIMPY, reason='python3-dkim (with python3-dnspython) is not installed'),
]


def keygen(*args, config=None):
    cmd = ['dkim-keygen', *args]
    if config is not None:
        cmd += ['--config', config.path]
    r = run_mail(*cmd, timeout=120)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    # "<selector>._domainkey.<domain>. IN TXT "..." "...""
    m = re.match(r'^(\S+)\s+IN\s+TXT\s+(".*")$', line)
    assert m, line
    return m.group(1), line, ''.join(re.findall(r'"([^"]*)"', m.group(2)))


@pytest.fixture(scope='module')
def root():
    d = tempfile.mkdtemp(prefix='epistle-dkim-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def keys(root):
    """Two key files, made as an operator would, and their TXT records."""
    out = {}
    for selector, args in (('ed1', ['--algorithm', 'ed25519']), ('rsa1', ['--algorithm', 'rsa', '--bits', '2048'])):
        path = os.path.join(root, f'{selector}.pem')
        name, line, record = keygen('--domain', 'example.org', '--selector', selector, '--out', path, *args)
        assert name == f'{selector}._domainkey.example.org.'
        assert os.stat(path).st_mode & 0o777 == 0o600
        out[selector] = (path, line, record)
    assert 'k=ed25519' in out['ed1'][2] and 'k=rsa' in out['rsa1'][2]
    return out


@pytest.fixture(scope='module')
def dns(root, keys):
    zone = ''.join(f"local-data: '{line}'\n" for _, line, _ in keys.values())
    u = Unbound(root, extra_zone=zone)
    yield u
    u.close()


@pytest.fixture(scope='module')
def material(root):
    return tlsutil.TestMaterial(os.path.join(root, 'tls'))


@pytest.fixture(scope='module')
def mx_port():
    for _ in range(20):
        port = free_port()
        try:
            with socket.socket() as s:
                s.bind(('127.0.0.2', port))
            return port
        except OSError:
            continue
    raise AssertionError('no free port on 127.0.0.2')


@pytest.fixture(scope='module')
def rx(root, material, mx_port):
    config = new_config(root, 'rx')
    config.write(config.base(hostname='mx.remote.test', domains=('remote.test',), modules=['store-pg', 'smtp'])
                 + '\n[[accounts]]\nname = "rob"\naddresses = ["rob@remote.test"]\n'
                 + f'\n[[listeners]]\nkind = "smtp"\naddr = "127.0.0.2"\nport = {mx_port}\n'
                 + material.tls_section(sni=False))
    d = start_daemon(config)
    yield d
    d.close()


@pytest.fixture(scope='module')
def tx(root, material, dns, mx_port, rx, keys):
    config = new_config(root, 'tx')
    port = free_port()
    dkim_keys = ''.join(f'\n[[dkim.keys]]\ndomain = "example.org"\nselector = "{sel}"\nkey_file = "{path}"\n'
                        for sel, (path, _, _) in keys.items())
    config.write(config.base(modules=['store-pg', 'smtp', 'auth-sql', 'queue', 'dkim'])
                 + '\n[[accounts]]\nname = "alice"\naddresses = ["alice@example.org"]\n'
                 + f'password_hash = "{token_hash(ALICE_PASSWORD)}"\n'
                 + f'\n[[listeners]]\nkind = "submission"\naddr = "127.0.0.1"\nport = {port}\n'
                 + material.tls_section(sni=False) + queue_section(dns, mx_port) + dkim_keys)
    d = start_daemon(config)
    d.config, d.sub_port, d.material = config, port, material
    yield d
    d.close()
    log = d.log()
    assert not re.search(r'CRITICAL|assertion .* failed|AddressSanitizer', log), log[-5000:]
    assert 'PRIVATE KEY' not in log


def dnsfunc(dns_server):
    """python3-dkim's key lookup, asking the test's resolver."""
    resolver = dns_resolver.Resolver(configure=False)
    resolver.nameservers = ['127.0.0.1']
    resolver.port = dns_server.port

    def lookup(name, timeout=5):
        try:
            answer = resolver.resolve(name.decode().rstrip('.') + '.', 'TXT', lifetime=timeout)
        except (dns_resolver.NXDOMAIN, dns_resolver.NoAnswer):
            return None
        return b''.join(answer[0].strings)
    return lookup


def verify_all(raw, dns_server):
    """{selector: verdict} for every DKIM-Signature of @raw."""
    d = dkim.DKIM(raw)
    sigs = [v for k, v in d.headers if k.lower() == b'dkim-signature']
    out = {}
    for i, value in enumerate(sigs):
        selector = re.search(rb'\bs=([^;\s]+)', value).group(1).decode()
        try:
            out[selector] = dkim.DKIM(raw).verify(idx=i, dnsfunc=dnsfunc(dns_server))
        except dkim.DKIMException as e:
            out[selector] = f'error: {e}'
    return out


def received_copy(rx, marker):
    got = wait_for(lambda: messages_with(rx, 'rob', marker), 40, 'the remote copy')
    assert len(got) == 1
    # mbox export: drop the From_ line, back to CRLF, undo >From quoting
    body = got[0].split('\n', 1)[1]
    body = re.sub(r'^>(>*From )', r'\1', body, flags=re.M)
    return body.replace('\n', '\r\n').encode()


def tags(raw, selector):
    for m in re.finditer(rb'^DKIM-Signature:((?:.*\r\n[ \t].*)*.*)\r\n', raw, re.M | re.I):
        value = re.sub(rb'\s+', b'', m.group(1)).decode()
        t = dict(p.split('=', 1) for p in value.split(';') if '=' in p)
        if t.get('s') == selector:
            return t
    raise AssertionError(f'no signature with s={selector}')


def test_both_algorithms_verify_on_arrival(tx, rx, dns):
    marker = new_marker('dkim')
    submit(tx, ['rob@remote.test'], marker)
    raw = received_copy(rx, marker)
    verdicts = verify_all(raw, dns)
    assert verdicts == {'ed1': True, 'rsa1': True}, verdicts
    ed, rsa = tags(raw, 'ed1'), tags(raw, 'rsa1')
    assert ed['a'] == 'ed25519-sha256' and rsa['a'] == 'rsa-sha256'
    for t in (ed, rsa):
        assert t['d'] == 'example.org' and t['c'] == 'relaxed/relaxed'
        h = t['h'].lower().split(':')
        # From, Subject and Date are oversigned: a second one added later breaks the signature
        assert h.count('from') == 2 and h.count('subject') == 2, h
    # what the submission added (Date, since the client gave none) is signed too
    assert 'date' in ed['h'].lower().split(':')


def test_tampered_copy_fails(tx, rx, dns):
    marker = new_marker('dkim-tamper')
    submit(tx, ['rob@remote.test'], marker)
    raw = received_copy(rx, marker)
    tampered = raw.replace(f'Hello {marker}.'.encode(), f'Hello {marker}!'.encode())
    assert tampered != raw
    verdicts = verify_all(tampered, dns)
    assert verdicts['ed1'] is not True and verdicts['rsa1'] is not True, verdicts
    # a From: added above the signed one is caught by the oversigning
    spoofed = b'From: Mallory <mallory@example.org>\r\n' + raw
    verdicts = verify_all(spoofed, dns)
    assert verdicts['ed1'] is not True and verdicts['rsa1'] is not True, verdicts


def test_dkim_keys_lists_the_file_keys(tx):
    r = run_mail('dkim-keys', '--config', tx.config.path)
    assert r.returncode == 0, r.stderr
    assert re.search(r'example\.org\s+ed1\s+ed25519', r.stdout), r.stdout
    assert re.search(r'example\.org\s+rsa1\s+rsa', r.stdout), r.stdout
    assert r.stdout.strip().endswith('2 keys'), r.stdout


def test_database_key_signs_then_retired(tx, rx, dns):
    # a key stored in the database signs at once (the daemon hears of it),
    # beside the file keys; its record is checked against what keygen printed
    name, _, record = keygen('--domain', 'example.org', '--selector', 'db1', config=tx.config)
    assert name == 'db1._domainkey.example.org.'
    r = run_mail('dkim-keys', '--config', tx.config.path)
    assert r.returncode == 0, r.stderr
    assert re.search(r'example\.org\s+db1\s+ed25519', r.stdout), r.stdout

    def signed_with_db1():
        marker = new_marker('dkim-db')
        submit(tx, ['rob@remote.test'], marker)
        raw = received_copy(rx, marker)
        return raw if re.search(rb's=db1;', re.sub(rb'\s+', b'', raw)) else None
    raw = wait_for(signed_with_db1, 60, 'a signature with the database key')
    t = tags(raw, 'db1')
    assert t['a'] == 'ed25519-sha256'
    # verify db1's signature with the record keygen printed (it is not in the test zone)
    d = dkim.DKIM(raw)
    sigs = [v for k, v in d.headers if k.lower() == b'dkim-signature']
    idx = [i for i, v in enumerate(sigs) if re.search(rb's=db1;', re.sub(rb'\s+', b'', v))][0]
    assert dkim.DKIM(raw).verify(idx=idx, dnsfunc=lambda name, timeout=5: record.encode())

    r = run_mail('dkim-retire', 'example.org', 'db1', '--config', tx.config.path)
    assert r.returncode == 0, r.stderr
    assert 'retired' in r.stdout

    def unsigned_by_db1():
        marker = new_marker('dkim-retired')
        submit(tx, ['rob@remote.test'], marker)
        raw = received_copy(rx, marker)
        flat = re.sub(rb'\s+', b'', raw)
        return raw if b's=db1;' not in flat and b's=ed1;' in flat else None
    raw = wait_for(unsigned_by_db1, 60, 'mail no longer signed by the retired key')
    assert verify_all(raw, dns) == {'ed1': True, 'rsa1': True}


def test_keygen_refusals(root, keys):
    path = os.path.join(root, 'ed1.pem')  # made by the keys fixture
    cases = [
        (['--domain', 'example.org', '--selector', 'x', '--out', os.path.join(root, 'ed1.pem')], 'exists'),
        (['--domain', 'not a domain', '--selector', 'x', '--out', os.path.join(root, 'n.pem')], 'not a domain'),
        (['--domain', 'example.org', '--selector', 'x', '--algorithm', 'dsa', '--out', os.path.join(root, 'n.pem')],
         'unknown algorithm'),
        (['--domain', 'example.org', '--selector', 'x', '--algorithm', 'rsa', '--bits', '512',
          '--out', os.path.join(root, 'n.pem')], 'RSA keys have'),
        (['--selector', 'x', '--out', os.path.join(root, 'n.pem')], '--domain'),
    ]
    for args, expect in cases:
        r = run_mail('dkim-keygen', *args, timeout=60)
        assert r.returncode != 0, (args, r.stdout)
        assert expect in r.stderr, (args, r.stderr)
    assert os.path.exists(path)
    assert not os.path.exists(os.path.join(root, 'n.pem'))
