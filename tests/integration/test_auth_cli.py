# SPDX-License-Identifier: GPL-2.0-or-later
"""The `mail` commands of auth-sql: TOTP enrolment, app passwords, and the
SCRAM credentials that `mail account-add` and `mail passwd` store beside
the password hash.  Stored rows are read with psql on the cluster of a
running daemon."""
import base64
import hashlib
import hmac
import os
import re
import shutil
import subprocess

import pytest

from conftest import MODULE_DIR, SERVICE_USER, is_root, run_mail

pytestmark = pytest.mark.skipif(
    not all(os.path.exists(os.path.join(MODULE_DIR, m + '.so')) for m in ('store-pg', 'auth-sql')),
    reason='the store-pg and auth-sql modules were not built')

CONFIG_ACCOUNT = '''
[[accounts]]
name = "alice"
addresses = ["alice@example.org"]
'''

PSQL = shutil.which('psql') or '/usr/lib/postgresql/15/bin/psql'


def write(config, modules=('store-pg', 'auth-sql')):
    config.write(config.base(modules=list(modules)) + CONFIG_ACCOUNT)


def mail(config, *args, input=None):
    return run_mail(*args, '--config', config.path, input=input, timeout=120)


def sql(config, query):
    """One value, from the embedded cluster of a running daemon."""
    user = SERVICE_USER if is_root() else os.environ.get('USER') or subprocess.getoutput('id -un')
    conninfo = f"host={os.path.join(config.data_dir, 'postgresql', 'run')} port=5432 dbname=epistle user={user}"
    r = subprocess.run([PSQL, conninfo, '-XAtc', query], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def add_account(config, name, password='a long enough password'):
    r = mail(config, 'account-add', name, '--address', f'{name}@example.org', input=password + '\n')
    assert r.returncode == 0, r.stderr


def test_totp_enroll_and_disable(config):
    write(config)
    add_account(config, 'bob')
    r = mail(config, 'totp-enroll', 'bob')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.stdout
    m = re.fullmatch(r'otpauth://totp/mail\.example\.org:bob\?secret=([A-Z2-7]{32})'
                     r'&issuer=mail\.example\.org&algorithm=SHA1&digits=6&period=30', lines[0])
    assert m, lines[0]
    assert lines[1] == f'secret: {m.group(1)}'
    # 160 bits, as RFC 4226 recommends
    assert len(base64.b32decode(m.group(1))) == 20

    # enrolling again makes a new secret
    again = mail(config, 'totp-enroll', 'bob')
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[1] != lines[1]

    # accounts of the configuration too; unknown ones are refused
    assert mail(config, 'totp-enroll', 'alice').returncode == 0
    r = mail(config, 'totp-enroll', 'nobody')
    assert r.returncode == 67
    assert 'no account nobody' in r.stderr

    assert mail(config, 'totp-disable', 'bob').returncode == 0
    r = mail(config, 'totp-disable', 'bob')
    assert r.returncode == 66
    assert 'has no TOTP' in r.stderr


def test_app_passwords(config):
    write(config)
    add_account(config, 'carol')
    r = mail(config, 'app-password-create', 'carol')
    assert r.returncode == 64
    created = []
    for label in ('phone', 'laptop'):
        r = mail(config, 'app-password-create', 'carol', '--label', label)
        assert r.returncode == 0, r.stderr
        assert re.fullmatch(r'[a-z0-9]{4}(-[a-z0-9]{4}){3}', r.stdout.strip()), r.stdout
        created.append(r.stdout.strip())
    assert created[0] != created[1]

    r = mail(config, 'app-passwords', 'carol')
    assert r.returncode == 0, r.stderr
    rows = [l.split() for l in r.stdout.splitlines()[1:]]
    assert [row[2] for row in rows] == ['phone', 'laptop']
    assert all(re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', row[1]) for row in rows)
    # the password itself is never shown again
    assert created[0] not in r.stdout

    phone = rows[0][0]
    r = mail(config, 'app-password-revoke', 'carol', phone)
    assert r.returncode == 0, r.stderr
    r = mail(config, 'app-passwords', 'carol')
    assert [l.split()[2] for l in r.stdout.splitlines()[1:]] == ['laptop']
    assert mail(config, 'app-password-revoke', 'carol', phone).returncode == 66
    assert mail(config, 'app-password-revoke', 'carol', 'x').returncode == 64
    # another account's id is not this one's
    add_account(config, 'dan')
    assert mail(config, 'app-password-revoke', 'dan', rows[1][0]).returncode == 66


def scram_matches(credentials, password):
    m = re.fullmatch(r'SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)', credentials)
    assert m, credentials
    iterations, salt = int(m.group(1)), base64.b64decode(m.group(2))
    salted = hashlib.pbkdf2_hmac('sha256', password.encode(), salt, iterations)
    client_key = hmac.new(salted, b'Client Key', hashlib.sha256).digest()
    server_key = hmac.new(salted, b'Server Key', hashlib.sha256).digest()
    return (iterations >= 4096 and base64.b64decode(m.group(3)) == hashlib.sha256(client_key).digest()
            and base64.b64decode(m.group(4)) == server_key)


@pytest.mark.skipif(not os.path.exists(PSQL), reason='psql is not installed')
def test_scram_with_password_and_cleanup(config, daemons):
    write(config)
    add_account(config, 'erin', 'first long password')
    assert mail(config, 'app-password-create', 'erin', '--label', 'phone').returncode == 0
    assert mail(config, 'totp-enroll', 'erin').returncode == 0
    r = mail(config, 'passwd', 'erin', input='second long password\n')
    assert r.returncode == 0, r.stderr

    daemons(config)
    credentials = sql(config, "SELECT credentials FROM auth_scram WHERE account = 'erin'")
    assert scram_matches(credentials, 'second long password')
    assert not scram_matches(credentials, 'first long password')

    # with the daemon running, the commands use its cluster
    r = mail(config, 'account-del', 'erin')
    assert r.returncode == 0, r.stderr
    assert sql(config, "SELECT (SELECT count(*) FROM auth_scram WHERE account = 'erin')"
                       " + (SELECT count(*) FROM auth_totp WHERE account = 'erin')"
                       " + (SELECT count(*) FROM auth_app_passwords WHERE account = 'erin')") == '0'
    # a new account of the same name starts with its own password only
    add_account(config, 'erin', 'third long password')
    assert scram_matches(sql(config, "SELECT credentials FROM auth_scram WHERE account = 'erin'"),
                         'third long password')
    assert mail(config, 'app-passwords', 'erin').stdout.splitlines()[1:] == []


def test_without_auth_sql(config):
    write(config, modules=('store-pg',))
    add_account(config, 'fred')
    r = mail(config, 'totp-enroll', 'fred')
    assert r.returncode == 78
    assert 'auth-sql' in r.stderr
