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


# ---------------------------------------------------------------------------
# the whole inbound chain: SPF, DKIM and DMARC against a loopback resolver

CHAIN = ('spf', 'dkim', 'dmarc')
HAVE_CHAIN = all(os.path.exists(os.path.join(os.environ.get('EPISTLE_MODULE_DIR', ''), m + '.so'))
                 for m in CHAIN)


@pytest.fixture(scope='module')
def chain(root):
    if not HAVE_CHAIN:
        pytest.skip('the spf, dkim and dmarc modules were not built')
    try:
        import dkim  # noqa: F401
    except ImportError:
        pytest.skip('python3-dkim is not installed')
    from test_queue import UNBOUND, Unbound
    if UNBOUND is None:
        pytest.skip('unbound (Debian package unbound) is not installed')
    key = os.path.join(root, 'sel.pem')
    r = run_mail('dkim-keygen', '--domain', 'spf.test', '--selector', 'sel', '--algorithm', 'rsa',
                 '--bits', '2048', '--out', key, timeout=120)
    assert r.returncode == 0, r.stderr
    zone = (f"local-data: '{r.stdout.strip()}'\n"
            'local-data: \'spf.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"\'\n'
            'local-data: \'_dmarc.spf.test. 300 IN TXT "v=DMARC1; p=reject"\'\n'
            'local-data: \'_dmarc.q.test. 300 IN TXT "v=DMARC1; p=quarantine"\'\n')
    os.makedirs(os.path.join(root, 'chain-dns'))
    os.chmod(os.path.join(root, 'chain-dns'), 0o755)
    dns = Unbound(os.path.join(root, 'chain-dns'), extra_zone=zone)
    config = new_config(root, 'chain')
    config.write(config.base(modules=['store-pg', 'smtp', *CHAIN])
                 + '\n[[accounts]]\nname = "alice"\naddresses = ["alice@example.org"]\n'
                 + f'\n[dns]\nnameservers = ["127.0.0.1@{dns.port}"]\ndnssec = false\n')
    yield config, key
    dns.close()


def chain_trace(config, root, name, message, ip, mail_from):
    path = os.path.join(root, name)
    with open(path, 'wb') as f:
        f.write(message)
    os.chmod(path, 0o644)
    r = run_mail('trace', path, '--ip', ip, '--helo', 'client.spf.test', '--mail-from', mail_from,
                 '--rcpt', 'alice@example.org', '--config', config.path, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_chain_pass(root, chain):
    import dkim
    config, key = chain
    msg = (b'From: A <a@spf.test>\r\nTo: alice@example.org\r\nSubject: chain\r\n'
           b'Date: Mon, 07 Dec 2026 12:00:00 +0000\r\nMessage-ID: <chain@spf.test>\r\n\r\nhello\r\n')
    with open(key, 'rb') as f:
        signed = dkim.sign(msg, b'sel', b'spf.test', f.read(), include_headers=[b'from', b'to', b'subject'])
    out = chain_trace(config, root, 'signed.eml', signed + msg, '192.0.2.1', 'bounce@spf.test')
    # each DNS question and its answer, as the checks asked them
    assert re.search(r'^    dns spf\.test TXT -> "v=spf1 ip4:192\.0\.2\.1 -all"', out, re.M), out
    assert re.search(r'^    dns sel\._domainkey\.spf\.test TXT -> "v=DKIM1; k=rsa; p=', out, re.M), out
    assert re.search(r'^    dns _dmarc\.spf\.test TXT -> "v=DMARC1; p=reject"', out, re.M), out
    # each module's step, in the chain
    assert re.search(r'^smtp\.mail_from bounce@spf\.test\n(.*\n)*?  spf\s+continue', out, re.M), out
    assert re.search(r'^smtp\.data\n(.*\n)*?  dkim\s+continue(.*\n)*?  dmarc\s+continue', out, re.M), out
    ar = ' '.join(out.split('Authentication-Results: ', 1)[1].split('\n\n', 1)[0].split())
    assert 'spf=pass' in ar and 'smtp.mailfrom=bounce@spf.test' in ar, ar
    assert 'dkim=pass' in ar and 'header.d=spf.test' in ar and 'header.s=sel' in ar, ar
    assert 'dmarc=pass' in ar and 'header.from=spf.test' in ar, ar
    assert 'verdict: <alice@example.org> accepted: filed in INBOX of alice' in out


def test_chain_spf_fail_refused_at_mail_from(root, chain):
    config, _ = chain
    msg = b'From: a@spf.test\r\nTo: alice@example.org\r\nSubject: forged\r\n\r\nhello\r\n'
    out = chain_trace(config, root, 'forged.eml', msg, '192.0.2.99', 'bounce@spf.test')
    assert re.search(r'^verdict: refused at smtp\.mail_from by spf: .*550 5\.7\.23', out, re.M), out
    assert 'smtp.data' not in out


def test_chain_dmarc_quarantine_filed_in_junk(root, chain):
    config, _ = chain
    msg = b'From: a@q.test\r\nTo: alice@example.org\r\nSubject: unsigned\r\n\r\nhello\r\n'
    out = chain_trace(config, root, 'quarantine.eml', msg, '192.0.2.50', 'bounce@q.test')
    assert re.search(r'^    dns _dmarc\.q\.test TXT -> "v=DMARC1; p=quarantine"', out, re.M), out
    ar = ' '.join(out.split('Authentication-Results: ', 1)[1].split('\n\n', 1)[0].split())
    assert 'dkim=none' in ar and 'dmarc=fail' in ar, ar
    assert 'verdict: <alice@example.org> accepted: filed in Junk of alice (quarantined)' in out
