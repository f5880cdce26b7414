# SPDX-License-Identifier: GPL-2.0-or-later
"""`mail config-check` and the CLI, as an operator runs them."""
import os
import re

from conftest import MODULE_DIR, TEST_MODULE_DIR, run_mail

EX_OK = 0
EX_USAGE = 64
EX_CONFIG = 78

QUICKSTART_ACCOUNTS = '''
[[accounts]]
name = "alice"
addresses = ["alice@example.org", "a.smith@example.org"]
'''


def quickstart(config, listener_kind='smtp', port=None, extra=''):
    listener = f'\n[[listeners]]\nkind = "{listener_kind}"\n'
    if port:
        listener += f'port = {port}\n'
    return config.base() + QUICKSTART_ACCOUNTS + listener + extra


def check(config, module_dir=None, env=None):
    return run_mail('config-check', '--config', config.path, module_dir=module_dir, env=env)


def smtp_module_installed():
    return os.path.exists(os.path.join(MODULE_DIR, 'smtp.so'))


def test_quickstart_config(config):
    config.write(quickstart(config))
    r = check(config)
    if smtp_module_installed():
        assert r.returncode == EX_OK, r.stderr
        assert r.stdout.strip() == 'configuration is valid'
    else:
        # until the SMTP module exists the only complaint is the listener kind
        assert r.returncode == EX_CONFIG
        errors = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(errors) == 1, r.stderr
        assert "no loaded module provides listener kind 'smtp'" in errors[0]
        assert re.match(r'^mail: .*/mail\.toml:\d+: listeners\[1\]\.kind: ', errors[0]), errors[0]


def test_valid_config_with_test_module(config):
    config.write(quickstart(config, 'test-bus', port=2525))
    r = check(config, module_dir=TEST_MODULE_DIR)
    assert r.returncode == EX_OK, r.stderr
    assert r.stdout.strip() == 'configuration is valid'
    # nothing is written by a check
    assert not os.path.exists(config.data_dir)


def test_group_readable_file_refused(config):
    config.write(quickstart(config, 'test-bus', port=2525), mode=0o644)
    r = check(config, module_dir=TEST_MODULE_DIR)
    assert r.returncode == EX_CONFIG
    assert 'mode 0644' in r.stderr
    assert f'chmod 600 {config.path}' in r.stderr


def test_group_readable_dropin_refused(config):
    config.write(quickstart(config, 'test-bus', port=2525))
    path = config.write_dropin('50-extra.toml', '[[accounts]]\nname = "bob"\naddresses = ["bob@example.org"]\n',
                               mode=0o640)
    r = check(config, module_dir=TEST_MODULE_DIR)
    assert r.returncode == EX_CONFIG
    assert path in r.stderr and 'chmod 600' in r.stderr


def test_misspelt_key(config):
    text = quickstart(config, 'test-bus', port=2525).replace('data_dir =', 'data_dri =')
    config.write(text)
    line = text.splitlines().index(next(l for l in text.splitlines() if l.startswith('data_dri'))) + 1
    r = check(config, module_dir=TEST_MODULE_DIR)
    assert r.returncode == EX_CONFIG
    assert f'{config.path}:{line}: data_dri: unknown key (did you mean \'data_dir\'?)' in r.stderr
    assert 'data_dir: required key is missing' in r.stderr


def test_misspelt_key_in_module_section(config):
    config.write(quickstart(config, 'test-bus', port=2525, extra='\n[test-bus]\ngreetng = "hi"\n'))
    r = check(config, module_dir=TEST_MODULE_DIR)
    assert r.returncode == EX_CONFIG
    assert re.search(r'mail\.toml:\d+: test-bus\.greetng: unknown key \(did you mean \'greeting\'\?\)', r.stderr), \
        r.stderr


def test_unset_variable(config):
    config.write(quickstart(config, 'test-bus', port=2525, extra='\n[database]\nurl = "${EPISTLE_IT_UNSET_DB_URL}"\n'))
    env = dict(os.environ)
    env.pop('EPISTLE_IT_UNSET_DB_URL', None)
    r = check(config, module_dir=TEST_MODULE_DIR)
    assert r.returncode == EX_CONFIG
    assert 'environment variable EPISTLE_IT_UNSET_DB_URL is not set' in r.stderr


def test_set_variable(config):
    config.write(quickstart(config, 'test-bus', port=2525,
                            extra='\n[database]\nurl = "postgresql://mail:${EPISTLE_IT_DB_PW}@db.example.org/mail"\n'))
    r = check(config, module_dir=TEST_MODULE_DIR, env={'EPISTLE_IT_DB_PW': 'hunter2'})
    assert r.returncode == EX_OK, r.stderr


def test_second_account_claiming_address(config):
    config.write(quickstart(config, 'test-bus', port=2525,
                            extra='\n[[accounts]]\nname = "mallory"\naddresses = ["alice@example.org"]\n'))
    r = check(config, module_dir=TEST_MODULE_DIR)
    assert r.returncode == EX_CONFIG
    assert "'alice@example.org' already belongs to account 'alice'" in r.stderr


def test_every_error_reported(config):
    text = quickstart(config, 'test-bus', port=70000).replace('"example.org"]', '"example.org", "bad..domain"]')
    config.write(text + '\n[[accounts]]\nname = "Bob"\naddresses = ["bob@example.net"]\n')
    r = check(config, module_dir=TEST_MODULE_DIR)
    assert r.returncode == EX_CONFIG
    lines = r.stderr.splitlines()
    assert any('listeners[1].port: 70000 is out of range' in l for l in lines), r.stderr
    assert any("'bad..domain' is not a valid domain name" in l for l in lines), r.stderr
    assert any("'Bob' is not a valid account name" in l for l in lines), r.stderr


def test_toml_syntax_error(config):
    config.write(quickstart(config, 'test-bus', port=2525) + '\nhostname = "again.example.org"\n')
    r = check(config, module_dir=TEST_MODULE_DIR)
    assert r.returncode == EX_CONFIG
    assert re.search(r'mail\.toml:\d+: .*hostname', r.stderr), r.stderr


def test_duplicate_listener(config):
    config.write(quickstart(config, 'test-bus', port=2525) + '\n[[listeners]]\nkind = "test-bus"\nport = 2525\n')
    r = check(config, module_dir=TEST_MODULE_DIR)
    assert r.returncode == EX_CONFIG
    assert 'port 2525 is already used by the listener at' in r.stderr


def test_unknown_listener_kind_lists_available(config):
    config.write(quickstart(config, 'imap'))
    r = check(config, module_dir=TEST_MODULE_DIR)
    assert r.returncode == EX_CONFIG
    assert "no loaded module provides listener kind 'imap' (available: test-bus)" in r.stderr


def test_missing_config_file(workdir):
    r = run_mail('config-check', '--config', os.path.join(workdir, 'nope.toml'))
    assert r.returncode == EX_CONFIG
    assert 'nope.toml: cannot open: No such file or directory' in r.stderr


def test_version_and_help():
    r = run_mail('--version')
    assert r.returncode == EX_OK
    assert re.match(r'^mail \(epistle\) \d+\.\d+\.\d+$', r.stdout.strip())
    r = run_mail('help')
    assert r.returncode == EX_OK
    for verb in ('serve', 'config-check', 'help'):
        assert verb in r.stdout
    r = run_mail('config-check', '--help')
    assert r.returncode == EX_OK
    assert '--config' in r.stdout
    r = run_mail('help', 'serve')
    assert r.returncode == EX_OK and '--config' in r.stdout


def test_usage_errors():
    r = run_mail('frobnicate')
    assert r.returncode == EX_USAGE
    assert "unknown command 'frobnicate'" in r.stderr
    r = run_mail('config-check', '--no-such-option')
    assert r.returncode == EX_USAGE
    r = run_mail()
    assert r.returncode == EX_USAGE


def test_shipped_example_and_dropins(config):
    # what `bash data/quickstart.sh` runs: data/mail.toml.example with every
    # drop-in of mail.conf.d beside it, unchanged (a commented example must
    # not break the start, e.g. an environment variable in a comment)
    from conftest import SOURCE_ROOT
    with open(os.path.join(SOURCE_ROOT, 'data', 'mail.toml.example')) as f:
        config.write(f.read())
    dropins = os.path.join(SOURCE_ROOT, 'mail.conf.d')
    names = sorted(n for n in os.listdir(dropins) if n.endswith('.toml'))
    assert names, 'no drop-ins shipped'
    for name in names:
        with open(os.path.join(dropins, name)) as f:
            config.write_dropin(name, f.read())
    r = check(config)
    modules = [n[:-5] for n in names]
    if all(os.path.exists(os.path.join(MODULE_DIR, m + '.so')) for m in modules):
        assert r.returncode == EX_OK, r.stderr
        assert r.stdout.strip() == 'configuration is valid'
    else:
        assert r.returncode == EX_CONFIG
        assert 'unknown module' in r.stderr, r.stderr
