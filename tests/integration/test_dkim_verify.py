"""DKIM verification of inbound mail, end to end.

Mail signed by python3-dkim (Ed25519 and RSA keys made here) is sent with
smtplib to the daemon's port 25 listener; the keys are published by the
test's resolver (Debian's unbound on loopback, which also refuses every
question about broken.test, so that a key lookup cannot be answered).  The
Authentication-Results field the smtp module writes on the stored copy
must show what the dkim module found: pass with header.d for good
signatures, fail for a tampered message, none for an unsigned one,
temperror when the key lookup fails.
"""
import base64
import os
import re
import shutil
import smtplib
import subprocess
import tempfile

import pytest

from conftest import MODULE_DIR, free_port
from test_queue import UNBOUND, Unbound
from test_smtp import HOSTNAME, new_config, new_marker, start_daemon, stored_with, trace_headers

try:
    import dkim
    import nacl.signing
    HAVE_DKIMPY = True
except ImportError:
    HAVE_DKIMPY = False

HAVE_MODULES = all(os.path.exists(os.path.join(MODULE_DIR, m + '.so')) for m in ('smtp', 'dkim'))
OPENSSL = shutil.which('openssl')
pytestmark = [
    pytest.mark.skipif(not HAVE_MODULES, reason='the smtp and dkim modules were not built'),
    pytest.mark.skipif(UNBOUND is None, reason='unbound (Debian package unbound) is not installed'),
    pytest.mark.skipif(not HAVE_DKIMPY, reason='python3-dkim and python3-nacl are not installed'),
    pytest.mark.skipif(OPENSSL is None, reason='openssl is not installed'),
]

SENDER = 'carol@example.net'


@pytest.fixture(scope='module')
def root():
    d = tempfile.mkdtemp(prefix='epistle-dkimv-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def keys(root):
    """{selector: (private key for dkimpy, TXT record)}"""
    ed = nacl.signing.SigningKey.generate()
    out = {'ed': (base64.b64encode(bytes(ed)),
                  'v=DKIM1; k=ed25519; p=' + base64.b64encode(bytes(ed.verify_key)).decode())}
    pem = os.path.join(root, 'rsa.pem')
    subprocess.run([OPENSSL, 'genrsa', '-traditional', '-out', pem, '2048'], check=True, capture_output=True)
    der = subprocess.run([OPENSSL, 'rsa', '-in', pem, '-pubout', '-outform', 'DER'], check=True,
                         capture_output=True).stdout
    with open(pem, 'rb') as f:
        out['rsa'] = (f.read(), 'v=DKIM1; k=rsa; p=' + base64.b64encode(der).decode())
    return out


def zone_line(name, record):
    # one character-string holds 255 octets at most
    strings = ' '.join(f'"{record[i:i + 255]}"' for i in range(0, len(record), 255))
    return f"local-data: '{name}. 300 IN TXT {strings}'\n"


@pytest.fixture(scope='module')
def dns(root, keys):
    zone = ('local-zone: "example.net." static\n'
            + zone_line('ed._domainkey.example.net', keys['ed'][1])
            + zone_line('rsa._domainkey.example.net', keys['rsa'][1])
            + zone_line('gone._domainkey.example.net', 'v=DKIM1; k=ed25519; p=')
            + 'local-zone: "broken.test." refuse\n')
    u = Unbound(root, extra_zone=zone)
    yield u
    u.close()


@pytest.fixture(scope='module')
def mx(root, dns):
    config = new_config(root, 'mx')
    port = free_port()
    config.write(config.base(modules=['store-pg', 'smtp', 'dkim'])
                 + '\n[[accounts]]\nname = "bob"\naddresses = ["bob@example.org"]\n'
                 + f'\n[[listeners]]\nkind = "smtp"\naddr = "127.0.0.1"\nport = {port}\n'
                 + f'\n[dns]\nnameservers = ["127.0.0.1@{dns.port}"]\ndnssec = false\n')
    d = start_daemon(config)
    d.port = port
    yield d
    d.close()
    log = d.log()
    assert not re.search(r'CRITICAL|assertion .* failed|AddressSanitizer', log), log[-5000:]


def message(marker, body=b'Hello Bob.\r\n\r\nSee you  at noon.\r\n'):
    return (b'From: Carol <carol@example.net>\r\n'
            b'To: Bob <bob@example.org>\r\n'
            b'Subject: lunch ' + marker.encode() + b'\r\n'
            b'Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n'
            b'Message-ID: <' + marker.encode() + b'@example.net>\r\n'
            b'\r\n' + body)


def sign(msg, keys, selector, domain='example.net', canon=(b'relaxed', b'relaxed'), length=False):
    alg = b'ed25519-sha256' if selector in ('ed', 'gone') else b'rsa-sha256'
    key = keys['ed' if alg == b'ed25519-sha256' else 'rsa'][0]
    return dkim.sign(msg, selector.encode(), domain.encode(), key, canonicalize=canon, signature_algorithm=alg,
                     include_headers=[b'from', b'to', b'subject', b'date', b'message-id'], length=length) + msg


def deliver(mx, msg, marker):
    with smtplib.SMTP('127.0.0.1', mx.port, timeout=60) as s:
        s.sendmail(SENDER, ['bob@example.org'], msg)
    found = stored_with(mx.config, 'bob', marker)
    assert len(found) == 1, f'{len(found)} messages with {marker}'
    fields = trace_headers(found[0], msg)
    assert len(fields.get('authentication-results', [])) == 1, fields
    value = fields['authentication-results'][0]
    assert value.startswith(HOSTNAME + ';'), value
    return value


def dkim_results(value):
    """[(result, {property: value}, reason)] of the dkim= results, in order."""
    out = []
    for part in value.split(';')[1:]:
        part = part.strip()
        m = re.match(r'dkim=(\w+)(.*)$', part)
        if not m:
            continue
        rest = m.group(2)
        reason = re.search(r'reason="([^"]*)"', rest)
        props = dict(re.findall(r'(header\.\w+)=("[^"]*"|\S+)', rest))
        props = {k: v.strip('"') for k, v in props.items()}
        out.append((m.group(1), props, reason.group(1) if reason else None))
    return out


def test_ed25519_relaxed_passes(mx, keys):
    marker = new_marker('ed')
    msg = sign(message(marker), keys, 'ed')
    value = deliver(mx, msg, marker)
    results = dkim_results(value)
    assert len(results) == 1, value
    result, props, reason = results[0]
    assert result == 'pass', value
    assert props['header.d'] == 'example.net'
    assert props['header.s'] == 'ed'
    assert props['header.a'] == 'ed25519-sha256'
    b = re.search(rb'b=([A-Za-z0-9+/]{8})', msg.split(b'bh=', 1)[1]).group(1).decode()
    assert props['header.b'] == b
    assert reason is None


def test_rsa_simple_and_ed25519_both_pass(mx, keys):
    marker = new_marker('two')
    msg = sign(sign(message(marker), keys, 'rsa', canon=(b'simple', b'simple')), keys, 'ed')
    results = dkim_results(deliver(mx, msg, marker))
    assert [(r, p['header.s'], p['header.a']) for r, p, _ in results] == [
        ('pass', 'ed', 'ed25519-sha256'), ('pass', 'rsa', 'rsa-sha256')]


def test_tampered_fails(mx, keys):
    marker = new_marker('tamper')
    msg = sign(message(marker), keys, 'ed').replace(b'at noon', b'at nine')
    results = dkim_results(deliver(mx, msg, marker))
    assert len(results) == 1
    result, props, reason = results[0]
    assert result == 'fail' and props['header.d'] == 'example.net'
    assert 'body hash' in reason


def test_unsigned_is_none(mx):
    marker = new_marker('none')
    value = deliver(mx, message(marker), marker)
    assert re.search(r'(^|;\s*)dkim=none(;|$)', value), value


def test_unanswered_key_lookup_is_temperror(mx, keys):
    marker = new_marker('temp')
    msg = sign(message(marker), keys, 'ed', domain='broken.test')
    results = dkim_results(deliver(mx, msg, marker))
    assert len(results) == 1
    result, props, reason = results[0]
    assert result == 'temperror', results
    assert props['header.d'] == 'broken.test'


def test_missing_and_revoked_keys(mx, keys):
    marker = new_marker('keys')
    msg = sign(sign(message(marker), keys, 'gone'), keys, 'ed', domain='sub.example.net')
    results = dkim_results(deliver(mx, msg, marker))
    assert [(r, p['header.d']) for r, p, _ in results] == [('permerror', 'sub.example.net'),
                                                            ('fail', 'example.net')]
    assert results[0][2] == 'no key'
    assert results[1][2] == 'key revoked'


def test_content_after_l_is_reported(mx, keys):
    marker = new_marker('len')
    msg = sign(message(marker), keys, 'rsa', length=True) + b'Appended: not signed\r\n'
    results = dkim_results(deliver(mx, msg, marker))
    assert len(results) == 1
    result, props, reason = results[0]
    assert result == 'pass'
    assert 'l=' in reason and 'signed' in reason
