"""`mail trace`: the inbound chain run offline on a message file."""
import os
import re
import shutil
import tempfile

import pytest

from conftest import run_mail
from test_smtp import new_config, HAVE_SMTP

pytestmark = pytest.mark.skipif(not HAVE_SMTP, reason='the smtp module was not built')


@pytest.fixture(scope='module')
def root():
    d = tempfile.mkdtemp(prefix='epistle-trace-')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def traced(root):
    config = new_config(root, 'cfg')
    config.write(config.base(modules=['store-pg', 'smtp'])
                 + '\n[[accounts]]\nname = "alice"\naddresses = ["alice@example.org"]\n')
    msg = os.path.join(root, 'msg.eml')
    with open(msg, 'w') as f:
        # LF line ends, as a file on disk has them
        f.write('From: Bob <bob@example.net>\nTo: alice@example.org\nSubject: traced\n\nhello\n')
    os.chmod(msg, 0o644)
    yield config, msg


def trace(config, msg, *extra):
    return run_mail('trace', msg, '--ip', '192.0.2.1', '--helo', 'client.example.net',
                    '--mail-from', 'bob@example.net', *extra, '--config', config.path, timeout=120)


def test_every_step_and_where_it_is_filed(traced):
    config, msg = traced
    r = trace(*traced, '--rcpt', 'alice@example.org')
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # the hook points in the order the smtp module runs them
    order = [out.index(p) for p in ('smtp.connect', 'smtp.helo client.example.net', 'smtp.mail_from bob@example.net',
                                    'directory.resolve alice@example.org', 'smtp.rcpt_to alice@example.org',
                                    'smtp.data', 'Authentication-Results:', 'delivery.local alice')]
    assert order == sorted(order), out
    assert re.search(r'^  store-pg\s+accept \(', out, re.M), out
    assert 'Authentication-Results: mail.example.org; none' in out
    assert 'verdict: <alice@example.org> accepted: filed in INBOX of alice' in out
    # 73 octets with LF line ends become 78 with CRLF, as SMTP carries them
    assert '(78 octets)' in out, out


def test_refused_recipients(traced):
    r = trace(*traced, '--rcpt', 'nobody@example.org', '--rcpt', 'someone@other.example')
    assert r.returncode == 0, r.stderr
    assert '<nobody@example.org>: 550 5.1.1 No such user here' in r.stdout
    assert '<someone@other.example>: 550 5.7.1 Relaying denied' in r.stdout
    assert 'verdict: refused: no recipient was accepted' in r.stdout
    # nothing was stored by the trace
    r = run_mail('export', 'alice', '--format', 'mbox', '--config', traced[0].path)
    assert r.returncode == 0 and 'traced' not in r.stdout


def test_default_recipient_is_postmaster(traced):
    r = trace(*traced)
    assert r.returncode == 0, r.stderr
    assert 'directory.resolve postmaster@example.org' in r.stdout


@pytest.mark.parametrize('args,code,expect', [
    (['--ip', 'not-an-ip', '--helo', 'h', '--mail-from', 'a@b.example'], 64, 'not an IP address'),
    (['--helo', 'h', '--mail-from', 'a@b.example'], 64, '--ip'),
])
def test_usage_errors(traced, args, code, expect):
    config, msg = traced
    r = run_mail('trace', msg, *args, '--config', config.path)
    assert r.returncode == code, (r.returncode, r.stderr)
    assert expect in r.stderr


def test_missing_file(traced):
    config, _ = traced
    r = run_mail('trace', '/nonexistent/msg.eml', '--ip', '192.0.2.1', '--helo', 'h', '--mail-from', '',
                 '--config', config.path)
    assert r.returncode == 66, (r.returncode, r.stderr)
