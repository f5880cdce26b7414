# SPDX-License-Identifier: GPL-2.0-or-later
"""The store through the daemon and the `mail` command: the embedded
PostgreSQL, account commands, restarts and a daemon killed with SIGKILL."""
import os
import signal
import subprocess

import pytest

from conftest import MODULE_DIR, is_root, run_mail

QUICKSTART = '''
[[accounts]]
name = "alice"
addresses = ["alice@example.org", "a.smith@example.org"]
'''

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, 'store-pg.so')),
                                reason='the store-pg module was not built')


def write(config):
    config.write(config.base(modules=['store-pg']) + QUICKSTART)


def mail(config, *args, input=None):
    return run_mail(*args, '--config', config.path, input=input, timeout=120)


def account_lines(r):
    return [l.split()[:2] for l in r.stdout.splitlines()[1:-1]]


def test_accounts_from_config_and_db(config):
    write(config)
    r = mail(config, 'accounts')
    assert r.returncode == 0, r.stderr
    assert account_lines(r) == [['alice', 'config']]
    assert r.stdout.splitlines()[-1] == '1 account'

    r = mail(config, 'account-add', 'bob', '--address', 'bob@example.org', input="bob's long password\n")
    assert r.returncode == 0, r.stderr
    r = mail(config, 'accounts')
    assert account_lines(r) == [['alice', 'config'], ['bob', 'db']]
    assert 'bob@example.org' in r.stdout
    assert r.stdout.splitlines()[-1] == '2 accounts'


def test_account_add_refusals(config):
    write(config)
    r = mail(config, 'account-add', 'carol', '--address', 'carol@example.net', input='a long enough password\n')
    assert r.returncode == 65
    assert "'carol@example.net' is not an address in a configured domain" in r.stderr
    r = mail(config, 'account-add', 'carol', '--address', 'alice@example.org', input='a long enough password\n')
    assert r.returncode == 65
    assert 'already exists' in r.stderr
    r = mail(config, 'account-add', 'carol', '--address', 'carol@example.org', input='short\n')
    assert r.returncode == 65
    assert 'a password has 12 to 128 characters' in r.stderr
    r = mail(config, 'account-add', 'carol', input='a long enough password\n')
    assert r.returncode == 64
    r = mail(config, 'account-del', 'alice')
    assert r.returncode == 77
    assert 'comes from the configuration' in r.stderr
    r = mail(config, 'accounts')
    assert account_lines(r) == [['alice', 'config']]


def test_password_and_delete(config):
    write(config)
    assert mail(config, 'account-add', 'dave', '--address', 'dave@example.org',
                input='first long password\n').returncode == 0
    r = mail(config, 'passwd', 'dave', input='second long password\n')
    assert r.returncode == 0, r.stderr
    r = mail(config, 'account-del', 'dave')
    assert r.returncode == 0, r.stderr
    assert account_lines(mail(config, 'accounts')) == [['alice', 'config']]


def test_token_hash():
    r = run_mail('token-hash', input='a long enough secret\n')
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('$argon2id$v=19$m=65536,t=3,p=1$')


def test_serve_keeps_cluster_and_survives_sigkill(config, daemons):
    write(config)
    d = daemons(config)
    assert 'embedded PostgreSQL' in d.log()
    assert d.stop() == 0
    # a second start reuses the cluster: no new initdb
    d = daemons(config)
    assert 'first start' not in d.log()
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    # a new serve needs no manual step
    d = daemons(config)
    r = mail(config, 'accounts')
    assert r.returncode == 0, r.stderr
    assert account_lines(r) == [['alice', 'config']]
    assert d.stop() == 0


def test_cli_next_to_running_daemon(config, daemons):
    write(config)
    d = daemons(config)
    r = mail(config, 'account-add', 'erin', '--address', 'erin@example.org', input='erin long password\n')
    assert r.returncode == 0, r.stderr
    assert ['erin', 'db'] in account_lines(mail(config, 'accounts'))
    # the daemon's cluster is still the one serving
    assert d.proc.poll() is None
    assert d.stop() == 0
