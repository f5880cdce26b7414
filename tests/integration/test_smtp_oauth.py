# SPDX-License-Identifier: GPL-2.0-or-later
"""OAUTHBEARER (RFC 7628) and XOAUTH2 on the submission listener, with
JWTs signed here by a throwaway RSA key (openssl) and checked by the
auth-oauth module against its public half."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import MODULE_DIR, free_port
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
    def __init__(self, root):
        self.key = os.path.join(root, 'issuer.key')
        self.pub = os.path.join(root, 'issuer.pem')
        subprocess.run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048',
                        '-out', self.key], check=True, capture_output=True)
        subprocess.run(['openssl', 'pkey', '-in', self.key, '-pubout', '-out', self.pub], check=True,
                       capture_output=True)
        os.chmod(self.pub, 0o644)

    def token(self, alg='RS256', **claims):
        now = int(time.time())
        body = {'iss': ISSUER, 'aud': AUDIENCE, 'exp': now + 300, 'iat': now, 'email': 'alice@example.org'}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        signing_input = (b64url(json.dumps({'alg': alg, 'typ': 'JWT'}).encode()) + '.'
                         + b64url(json.dumps(body).encode()))
        sig = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', self.key], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        return signing_input + '.' + b64url(sig)


@pytest.fixture(scope='module')
def tmp_root():
    d = tempfile.mkdtemp(prefix='epistle-smtp-oauth-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def oauth(tmp_root):
    material = tlsutil.TestMaterial(os.path.join(tmp_root, 'tls'))
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
