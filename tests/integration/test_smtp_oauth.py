# SPDX-License-Identifier: GPL-2.0-or-later
"""OAUTHBEARER (RFC 7628) and XOAUTH2 on the submission listener, with
JWTs signed here by throwaway RSA keys (openssl) and checked by the
auth-oauth module against their public halves: from a PEM file
(public_key), or from a key set (JWKS) that an HTTPS server in this test
publishes (jwks_url), with a certificate from the test CA."""
import base64
import http.server
import itertools
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import MODULE_DIR, free_port, run_mail
import tlsutil
from test_smtp import listener, new_config, start_daemon
from test_smtp_auth import HOSTNAME, INVALID, accounts, starttls

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, 'auth-oauth.so')),
                       reason='the auth-oauth module was not built'),
    pytest.mark.skipif(not tlsutil.have_certtool(), reason='certtool (Debian package gnutls-bin) is not installed'),
    pytest.mark.skipif(shutil.which('openssl') is None, reason='openssl (Debian package openssl) is not installed'),
]

ISSUER = 'https://id.example.org'
AUDIENCE = 'mail.example.org'


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


class Issuer:
    def __init__(self, root, name='issuer'):
        self.key = os.path.join(root, f'{name}.key')
        self.pub = os.path.join(root, f'{name}.pem')
        subprocess.run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048',
                        '-out', self.key], check=True, capture_output=True)
        subprocess.run(['openssl', 'pkey', '-in', self.key, '-pubout', '-out', self.pub], check=True,
                       capture_output=True)
        os.chmod(self.pub, 0o644)

    def token(self, alg='RS256', kid=None, **claims):
        now = int(time.time())
        body = {'iss': ISSUER, 'aud': AUDIENCE, 'exp': now + 300, 'iat': now, 'email': 'alice@example.org'}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        header = {'alg': alg, 'typ': 'JWT'}
        if kid is not None:
            header['kid'] = kid
        signing_input = (b64url(json.dumps(header).encode()) + '.'
                         + b64url(json.dumps(body).encode()))
        sig = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', self.key], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        return signing_input + '.' + b64url(sig)

    def jwk(self, kid, **extra):
        """The public key as a JWK (RFC 7518 §6.3), read from openssl's
        own description of the key."""
        modulus = subprocess.run(['openssl', 'rsa', '-in', self.key, '-noout', '-modulus'], check=True,
                                 capture_output=True, text=True).stdout.strip()
        assert modulus.startswith('Modulus='), modulus
        text = subprocess.run(['openssl', 'pkey', '-in', self.key, '-noout', '-text_pub'], check=True,
                              capture_output=True, text=True).stdout
        exponent = int(re.search(r'Exponent: (\d+)', text).group(1))
        n = bytes.fromhex(modulus[len('Modulus='):])
        e = exponent.to_bytes((exponent.bit_length() + 7) // 8, 'big')
        return dict({'kty': 'RSA', 'use': 'sig', 'alg': 'RS256', 'kid': kid, 'n': b64url(n), 'e': b64url(e)},
                    **extra)


@pytest.fixture(scope='module')
def tmp_root():
    d = tempfile.mkdtemp(prefix='epistle-smtp-oauth-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def material(tmp_root):
    return tlsutil.TestMaterial(os.path.join(tmp_root, 'tls'))


@pytest.fixture(scope='module')
def oauth(tmp_root, material):
    issuer = Issuer(tmp_root)
    config = new_config(tmp_root, 'oauth')
    sub_port = free_port()
    config.write(config.base(modules=['store-pg', 'smtp', 'auth-oauth']) + accounts()
                 + listener('submission', sub_port) + material.tls_section()
                 + f'\n[auth-oauth]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\npublic_key = "{issuer.pub}"\n')
    d = start_daemon(config)
    d.sub_port, d.material, d.issuer = sub_port, material, issuer
    yield d
    d.close()


def oauthbearer(user, token):
    return base64.b64encode(f'n,a={user},\x01auth=Bearer {token}\x01\x01'.encode()).decode()


def xoauth2(user, token):
    return base64.b64encode(f'user={user}\x01auth=Bearer {token}\x01\x01'.encode()).decode()


def test_mechanisms_advertised(oauth):
    r, kw = starttls(oauth)
    assert 'OAUTHBEARER' in kw['AUTH'] and 'XOAUTH2' in kw['AUTH'], kw
    r.close()


@pytest.mark.parametrize('encode', [oauthbearer, xoauth2])
def test_good_token_logs_in(oauth, encode):
    r, _ = starttls(oauth)
    mech = 'OAUTHBEARER' if encode is oauthbearer else 'XOAUTH2'
    rep = r.cmd(f'AUTH {mech} ' + encode('alice@example.org', oauth.issuer.token()))
    assert rep.lines == ['235 2.7.0 Authentication successful'], rep
    assert r.cmd('MAIL FROM:<alice@example.org>').code == 250
    r.close()


BAD_TOKENS = {
    'expired': dict(exp=int(time.time()) - 600),
    'no exp': dict(exp=None),
    'other audience': dict(aud='mail.example.net'),
    'other issuer': dict(iss='https://evil.example'),
    'other user': dict(email='bob@example.org'),
    'unknown address': dict(email='nobody@example.org'),
}


@pytest.mark.parametrize('case', sorted(BAD_TOKENS))
def test_bad_token_refused(oauth, case):
    r, _ = starttls(oauth)
    user = 'nobody@example.org' if case == 'unknown address' else 'alice@example.org'
    rep = r.cmd('AUTH OAUTHBEARER ' + oauthbearer(user, oauth.issuer.token(**BAD_TOKENS[case])))
    # RFC 7628 §3.2.2: an error challenge, the client's dummy answer, then the failure
    assert rep.code == 334, rep
    status = json.loads(base64.b64decode(rep.lines[0][4:]))
    assert status['status'] == 'invalid_token', status
    assert r.cmd('AQ==').lines == [INVALID]
    r.close()


def test_tampered_and_unsigned_tokens_refused(oauth):
    good = oauth.issuer.token()
    head, body, sig = good.split('.')
    claims = json.loads(base64.urlsafe_b64decode(body + '=' * (-len(body) % 4)))
    claims['email'] = 'bob@example.org'
    forged = head + '.' + b64url(json.dumps(claims).encode()) + '.' + sig
    unsigned = b64url(b'{"alg":"none","typ":"JWT"}') + '.' + body + '.'
    for token, user in ((forged, 'bob@example.org'), (unsigned, 'alice@example.org')):
        r, _ = starttls(oauth)
        rep = r.cmd('AUTH OAUTHBEARER ' + oauthbearer(user, token))
        assert rep.code == 334, rep
        assert r.cmd('AQ==').lines == [INVALID]
        r.close()


# ---------------------------------------------------------------------------
# keys from the issuer's key set (jwks_url)

OK = ['235 2.7.0 Authentication successful']
TRY_LATER = ['454 4.7.0 Temporary authentication failure']


class JwksServer:
    """An HTTPS server on 127.0.0.1 publishing a key set at /jwks, with the
    test CA's server certificate.  It counts the requests it answers; the
    test changes what it serves (keys, status, delay, size) on the fly."""

    def __init__(self, material, port=None):
        self.port = port or free_port()
        self.url = f'https://127.0.0.1:{self.port}/jwks'
        self.cert, self.key = material.server
        self.keys = []
        self.status = 200
        self.delay = 0
        self.body = None  # raw bytes to serve instead of the key set
        self.cache_control = 'max-age=3600'
        self.requests = 0
        self.lock = threading.Lock()
        self.httpd = None

    def start(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with server.lock:
                    server.requests += 1
                    status, delay = server.status, server.delay
                    body = server.body if server.body is not None else json.dumps({'keys': server.keys}).encode()
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header('Content-Type', 'application/jwk-set+json')
                self.send_header('Cache-Control', server.cache_control)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', self.port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def serve(self, *jwks):
        with self.lock:
            self.keys = list(jwks)

    def count(self):
        with self.lock:
            return self.requests

    def wait_requests(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        while self.count() < n:
            assert time.monotonic() < deadline, f'{self.count()} requests for the key set, not {n}'
            time.sleep(0.05)

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture(scope='module')
def issuers(tmp_root):
    """Two keys of the issuer: the current one and the next."""
    return Issuer(tmp_root, 'key-a'), Issuer(tmp_root, 'key-b')


def jwks_section(url, ca_file):
    text = f'\n[auth-oauth]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\njwks_url = "{url}"\n'
    if ca_file is not None:
        text += f'jwks_ca_file = "{ca_file}"\n'
    return text


class JwksSetup:
    def __init__(self, tmp_root, material, name, server, ca_file=None):
        config = new_config(tmp_root, name)
        self.sub_port = free_port()
        self.material = material
        self.server = server
        config.write(config.base(modules=['store-pg', 'smtp', 'auth-oauth']) + accounts()
                     + listener('submission', self.sub_port) + material.tls_section()
                     + jwks_section(server.url, ca_file or material.ca_file))
        self.daemon = start_daemon(config)

    def login(self, token, user='alice@example.org'):
        """The server's final answer to AUTH OAUTHBEARER with @token."""
        r, _ = starttls(self)
        try:
            rep = r.cmd('AUTH OAUTHBEARER ' + oauthbearer(user, token))
            if rep.code == 334:
                rep = r.cmd('AQ==')
            return rep.lines
        finally:
            r.close()

    def close(self):
        try:
            self.daemon.close()
        finally:
            self.server.stop()


SETUPS = itertools.count()


@pytest.fixture
def jwks_setup(tmp_root, material):
    made = []

    def make(name, server, **kw):
        setup = JwksSetup(tmp_root, material, f'{name}-{next(SETUPS)}', server, **kw)
        made.append(setup)
        return setup
    yield make
    for setup in made:
        setup.close()


def test_jwks_login(jwks_setup, material, issuers):
    a, b = issuers
    server = JwksServer(material).start()
    server.serve(a.jwk('key-a'))
    s = jwks_setup('jwks', server)
    assert s.login(a.token(kid='key-a')) == OK
    # XOAUTH2 goes the same way
    r, _ = starttls(s)
    assert r.cmd('AUTH XOAUTH2 ' + xoauth2('alice@example.org', a.token(kid='key-a'))).lines == OK
    r.close()
    # a token without a kid is tried with every key of the set
    assert s.login(a.token()) == OK
    # the claims are checked as with public_key
    assert s.login(a.token(kid='key-a', aud='mail.example.net')) == [INVALID]
    assert s.login(a.token(kid='key-a', exp=int(time.time()) - 600)) == [INVALID]
    assert s.login(a.token(kid='key-a', alg='RS512')) == [INVALID]
    # a key of the set does not stand in for another kid's
    assert s.login(b.token(kid='key-a')) == [INVALID]
    # one fetch at start, none since: every kid was known
    assert server.count() == 1


def test_jwks_unknown_kid_refetched_once_a_minute(jwks_setup, material, issuers):
    a, b = issuers
    server = JwksServer(material).start()
    server.serve(a.jwk('key-a'))
    s = jwks_setup('jwks-refetch', server)
    assert s.login(a.token(kid='key-a')) == OK
    assert server.count() == 1
    # the provider breaks: an unknown kid causes one fetch, which fails,
    # and the keys known are kept
    server.status = 500
    assert s.login(b.token(kid='key-b')) == [INVALID]
    assert server.count() == 2
    assert s.login(a.token(kid='key-a')) == OK
    # the provider is fine again, but a minute has not passed: no fetch,
    # whatever kids tokens name
    server.status = 200
    server.serve(a.jwk('key-a'), b.jwk('key-b'))
    for kid in ('key-b', 'key-c', 'key-d'):
        assert s.login(b.token(kid=kid)) == [INVALID]
    assert server.count() == 2
    log = s.daemon.log()
    assert 'HTTP 500' in log and 'keeping the 1 key known' in log, log


def test_jwks_key_rotation(jwks_setup, material, issuers):
    a, b = issuers
    server = JwksServer(material).start()
    server.serve(a.jwk('key-a'))
    s = jwks_setup('jwks-rotation', server)
    assert s.login(a.token(kid='key-a')) == OK
    assert server.count() == 1
    # the issuer publishes its next key and signs with it; the key set
    # answers slowly, so that the logins overlap: they all wait for the
    # one fetch the first unknown kid starts
    server.serve(a.jwk('key-a'), b.jwk('key-b'))
    server.delay = 1
    clients = []
    for _ in range(3):
        r, _ = starttls(s)
        r.send(('AUTH OAUTHBEARER ' + oauthbearer('alice@example.org', b.token(kid='key-b')) + '\r\n').encode())
        clients.append(r)
    for r in clients:
        assert r.reply().lines == OK, r.transcript
        r.close()
    assert server.count() == 2
    server.delay = 0
    # both keys are good now
    assert s.login(b.token(kid='key-b')) == OK
    assert s.login(a.token(kid='key-a')) == OK
    assert server.count() == 2


def test_jwks_provider_down_at_start(jwks_setup, material, issuers):
    a, _ = issuers
    server = JwksServer(material)
    server.serve(a.jwk('key-a'))
    # the daemon starts although the key set cannot be fetched
    s = jwks_setup('jwks-down', server)
    token = a.token(kid='key-a')
    assert s.login(token) == TRY_LATER
    assert s.login(token) == TRY_LATER
    # the provider comes up; the retry (5 s after the failure) finds it
    started = time.monotonic()
    server.start()
    server.wait_requests(1, timeout=15)
    deadline = time.monotonic() + 10
    while True:
        answer = s.login(token)
        if answer == OK or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert answer == OK, s.daemon.log()
    assert time.monotonic() - started < 12
    assert 'bearer logins answer "try later"' in s.daemon.log()


def test_jwks_untrusted_certificate(jwks_setup, material, issuers, tmp_root):
    a, _ = issuers
    server = JwksServer(material).start()
    server.serve(a.jwk('key-a'))
    other_ca = tlsutil.TestCA(os.path.join(tmp_root, 'other-ca'), cn='another CA')
    os.chmod(other_ca.dir, 0o755)
    s = jwks_setup('jwks-untrusted', server, ca_file=other_ca.cert)
    # the key set of a server the CA file does not vouch for is not used
    deadline = time.monotonic() + 10
    while 'cannot fetch the key set' not in s.daemon.log():
        assert time.monotonic() < deadline, s.daemon.log()
        time.sleep(0.1)
    assert s.login(a.token(kid='key-a')) == TRY_LATER
    assert 'TLS' in s.daemon.log() and 'not signed by a trusted CA' in s.daemon.log(), s.daemon.log()
    # no request got through the handshake
    assert server.count() == 0


@pytest.mark.parametrize('case', ['oversized', 'not json', 'no key for RS256'])
def test_jwks_bad_key_set(jwks_setup, material, issuers, case):
    a, _ = issuers
    server = JwksServer(material).start()
    server.body = {
        'oversized': json.dumps({'keys': [a.jwk('key-a')], 'padding': 'x' * 300000}).encode(),
        'not json': b'<html>Service Unavailable</html>',
        'no key for RS256': json.dumps({'keys': [a.jwk('key-a', use='enc')]}).encode(),
    }[case]
    s = jwks_setup('jwks-bad', server)
    server.wait_requests(1)
    deadline = time.monotonic() + 10
    while 'cannot fetch the key set' not in s.daemon.log():
        assert time.monotonic() < deadline, s.daemon.log()
        time.sleep(0.1)
    assert s.login(a.token(kid='key-a')) == TRY_LATER
    expect = {'oversized': 'octets', 'not json': 'JWKS:', 'no key for RS256': 'none of its 1 keys'}[case]
    assert expect in s.daemon.log(), s.daemon.log()


CONFIG_CASES = {
    'http url': (f'jwks_url = "http://127.0.0.1/jwks"\n', ['jwks_url', 'not an https URL']),
    'both': ('jwks_url = "https://127.0.0.1/jwks"\npublic_key = "{pub}"\n', ['public_key and jwks_url']),
    'neither': ('', ['public_key', 'jwks_url']),
    'ca without url': ('public_key = "{pub}"\njwks_ca_file = "{ca}"\n', ['jwks_ca_file']),
    'ca file missing': ('jwks_url = "https://127.0.0.1/jwks"\njwks_ca_file = "/nonexistent/ca.pem"\n',
                        ['jwks_ca_file', '/nonexistent/ca.pem']),
}


@pytest.mark.parametrize('case', sorted(CONFIG_CASES))
def test_jwks_config_refused(tmp_root, material, issuers, case):
    keys, words = CONFIG_CASES[case]
    config = new_config(tmp_root, 'check-' + case.replace(' ', '-'))
    config.write(config.base(modules=['store-pg', 'smtp', 'auth-oauth']) + accounts()
                 + f'\n[auth-oauth]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n'
                 + keys.format(pub=issuers[0].pub, ca=material.ca_file))
    r = run_mail('config-check', '--config', config.path)
    assert r.returncode == 78, (r.stdout, r.stderr)
    for word in words:
        assert word in r.stderr, r.stderr


def test_jwks_config_accepted(tmp_root, material):
    config = new_config(tmp_root, 'check-good')
    config.write(config.base(modules=['store-pg', 'smtp', 'auth-oauth']) + accounts()
                 + jwks_section('https://id.example.org/.well-known/jwks.json', material.ca_file))
    r = run_mail('config-check', '--config', config.path)
    assert r.returncode == 0, r.stderr
