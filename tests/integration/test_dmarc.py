# SPDX-License-Identifier: GPL-2.0-or-later
"""DMARC (the dmarc module) on inbound mail, end to end: a real daemon, a
real resolver (Debian's unbound on loopback, serving the test zone below)
and smtplib as the sending MTA.

Two daemons:

  fed    store-pg, smtp, dmarc and dmarc-test-auth, a test-only module
         (modules/dmarc/tests/dmarc-test-auth.c) that turns X-Test-Auth:
         fields of a message into SPF and DKIM results, so that every
         DMARC case is driven with inputs the test controls, whether or
         not the spf and dkim modules are built.
  real   store-pg, smtp, dmarc with the spf and dkim modules, when they are
         in the module directory (skipped otherwise, saying which is
         missing): SPF from TXT records of the zone, DKIM signatures made
         with python3-dkim and a key from `mail dkim-keygen`.

Every delivery is checked in the store with `mail export` (INBOX or Junk),
and the evaluation rows in dmarc_evaluations with psql on the daemon's
embedded cluster.
"""
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD_ROOT, MODULE_DIR, SERVICE_USER, Config, Daemon, free_port, give_to_service_user, \
    is_root, run_mail
from test_queue import UNBOUND, Unbound
from test_smtp import make_message, new_marker

TEST_AUTH_SO = os.path.join(BUILD_ROOT or os.path.dirname(MODULE_DIR), 'modules', 'dmarc', 'dmarc-test-auth.so')
PSQL = shutil.which('psql') or '/usr/lib/postgresql/15/bin/psql'
HAVE = {m: os.path.exists(os.path.join(MODULE_DIR, m + '.so')) for m in ('store-pg', 'smtp', 'dmarc', 'spf', 'dkim')}

pytestmark = [
    pytest.mark.skipif(not all(HAVE[m] for m in ('store-pg', 'smtp', 'dmarc')),
                       reason='the store-pg, smtp and dmarc modules were not built'),
    pytest.mark.skipif(UNBOUND is None, reason='unbound (Debian package unbound) is not installed'),
]

HOSTNAME = 'mail.example.org'

# _dmarc.co.uk publishes p=reject: a checker that took the last two labels
# for the organizational domain of sub.example.co.uk would find it; the
# Public Suffix List says example.co.uk (p=quarantine).
ZONE = '''
local-zone: "co.uk." static
local-data: '_dmarc.aligned.test. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@aligned.test,mailto:agg@reports.test!10m"'
local-data: '_dmarc.reject.test. 300 IN TXT "v=DMARC1; p=reject"'
local-data: '_dmarc.monitor.test. 300 IN TXT "v=DMARC1; p=none; rua=mailto:r@monitor.test"'
local-data: '_dmarc.quarantine.test. 300 IN TXT "v=DMARC1; p=quarantine"'
local-data: '_dmarc.parent.test. 300 IN TXT "v=DMARC1; p=none; sp=reject"'
local-data: '_dmarc.sampled.test. 300 IN TXT "v=DMARC1; p=reject; pct=0"'
local-data: '_dmarc.twice.test. 300 IN TXT "v=DMARC1; p=reject"'
local-data: '_dmarc.twice.test. 300 IN TXT "v=DMARC1; p=none"'
local-data: '_dmarc.example.co.uk. 300 IN TXT "v=DMARC1; p=quarantine; adkim=s"'
local-data: '_dmarc.co.uk. 300 IN TXT "v=DMARC1; p=reject"'
local-data: 'spf.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"'
local-data: '_dmarc.spf.test. 300 IN TXT "v=DMARC1; p=reject"'
local-data: '_dmarc.signed.test. 300 IN TXT "v=DMARC1; p=reject"'
'''


# ---------------------------------------------------------------------------
# daemons


def module_dir(root, names, extra=()):
    """A module directory with copies of the modules named (the loader
    takes only regular files)."""
    d = os.path.join(root, 'modules')
    os.makedirs(d)
    os.chmod(d, 0o755)
    for name in names:
        shutil.copy(os.path.join(MODULE_DIR, name + '.so'), d)
    for path in extra:
        shutil.copy(path, d)
    return d


class Server:
    def __init__(self, root, modules, extra_so=(), extra_zone='', dmarc_section=''):
        os.makedirs(root)
        os.chmod(root, 0o755)
        self.unbound = Unbound(root, ZONE + extra_zone)
        self.config = Config(root)
        self.port = free_port()
        mdir = module_dir(root, [m for m in modules if not m.startswith('dmarc-test')], extra_so)
        self.config.write(self.config.base(hostname=HOSTNAME, modules=modules) + f'''
[dns]
nameservers = ["127.0.0.1@{self.unbound.port}"]
dnssec = false

[dmarc]
{dmarc_section}

[[accounts]]
name = "alice"
addresses = ["alice@example.org"]

[[listeners]]
kind = "smtp"
addr = "127.0.0.1"
port = {self.port}
''')
        self.daemon = Daemon(self.config, mdir)
        try:
            self.daemon.start()
        except BaseException:
            self.close()
            raise

    def close(self):
        try:
            self.daemon.close()
        finally:
            self.unbound.close()

    def send(self, message, mail_from='bounce@sender.test', helo='client.sender.test'):
        """Sends; returns None when accepted, else (code, text) of the refusal."""
        self.last_id = int(self.sql('SELECT coalesce(max(id), 0) FROM dmarc_evaluations'))
        with smtplib.SMTP('127.0.0.1', self.port, local_hostname=helo, timeout=30) as s:
            try:
                s.sendmail(mail_from, ['alice@example.org'], message)
            except smtplib.SMTPDataError as e:
                return e.smtp_code, e.smtp_error.decode()
        return None

    def mailboxes_with(self, marker):
        """The folders (INBOX, Junk…) of alice's messages that carry @marker,
        and those messages."""
        parent = tempfile.mkdtemp(prefix='export-', dir=self.config.root)
        os.chmod(parent, 0o755)
        give_to_service_user(parent)
        out = os.path.join(parent, 'Maildir')
        r = run_mail('export', 'alice', '--format', 'maildir', '--out', out, '--config', self.config.path,
                     module_dir=self.daemon.module_dir, timeout=120)
        assert r.returncode == 0, r.stderr
        found = []
        for root, dirs, files in os.walk(out):
            if os.path.basename(root) not in ('cur', 'new'):
                continue
            folder = os.path.relpath(os.path.dirname(root), out)
            for name in files:
                with open(os.path.join(root, name), 'rb') as f:
                    data = f.read()
                if marker.encode() in data:
                    found.append(('INBOX' if folder == '.' else folder.lstrip('.'), data))
        shutil.rmtree(parent, ignore_errors=True)
        return found

    def sql(self, query):
        user = SERVICE_USER if is_root() else os.environ.get('USER') or subprocess.getoutput('id -un')
        conninfo = (f"host={os.path.join(self.config.data_dir, 'postgresql', 'run')} port=5432 dbname=epistle "
                    f"user={user}")
        r = subprocess.run([PSQL, conninfo, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-F', '|', '-c', query],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def evaluation(self, marker, columns, timeout=10):
        """The dmarc_evaluations row of the last message sent (the one
        carrying @marker), waited for: rows are written in the background."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.sql(f"SELECT {columns} FROM dmarc_evaluations WHERE id > {self.last_id}"
                           " ORDER BY id LIMIT 1")
            if row:
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f'no evaluation row for {marker}; log:\n' + self.daemon.log()[-4000:])
            time.sleep(0.2)


def auth_results(data):
    """The Authentication-Results value the server put on a stored message, unfolded."""
    head = data.split(b'\n\n', 1)[0].decode('utf-8', 'replace')
    m = re.search(r'^Authentication-Results:(.*(?:\n[ \t].*)*)', head, re.M)
    assert m, head
    return ' '.join(m.group(1).split())


def message(marker, from_addr, auth=(), extra=()):
    headers = [b'X-Test-Auth: ' + a.encode() for a in auth] + list(extra)
    raw = make_message(marker, headers=headers)
    return raw.replace(b'From: Sender <sender@example.net>', b'From: Sender <' + from_addr.encode() + b'>')


@pytest.fixture(scope='module')
def fed():
    if not os.path.exists(TEST_AUTH_SO):
        pytest.skip(f'{TEST_AUTH_SO} was not built')
    root = tempfile.mkdtemp(prefix='epistle-dmarc-')
    os.chmod(root, 0o755)
    s = None
    try:
        s = Server(os.path.join(root, 'fed'), ['store-pg', 'smtp', 'dmarc', 'dmarc-test-auth'],
                   extra_so=[TEST_AUTH_SO])
        yield s
    finally:
        if s is not None:
            s.close()
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------
# DMARC driven through dmarc-test-auth


def test_aligned_spf_pass_delivered_to_inbox(fed):
    marker = new_marker('aligned')
    # relaxed alignment: the envelope domain is a subdomain of the From domain
    assert fed.send(message(marker, 'news@aligned.test',
                             auth=['spf pass smtp.mailfrom=bounce@mail.aligned.test'])) is None
    found = fed.mailboxes_with(marker)
    assert [f for f, _ in found] == ['INBOX'], found
    ar = auth_results(found[0][1])
    assert 'dmarc=pass header.from=aligned.test policy.dmarc=none' in ar, ar
    row = fed.evaluation(marker, 'header_from, spf_domain, spf_result, spf_aligned, dkim_aligned, dmarc_result,'
                                  ' policy_domain, policy_p, policy_pct, policy_adkim, policy_aspf, disposition,'
                                  " array_to_string(rua, ' '), source_ip")
    assert row == ('aligned.test|mail.aligned.test|pass|t|f|pass|aligned.test|reject|100|r|r|none|'
                   'mailto:dmarc@aligned.test mailto:agg@reports.test!10485760|127.0.0.1'), row


def test_aligned_dkim_pass_delivered(fed):
    marker = new_marker('dkimpass')
    assert fed.send(message(marker, 'a@reject.test', auth=['spf pass smtp.mailfrom=x@elsewhere.test',
                                                           'dkim fail header.d=reject.test',
                                                           'dkim pass header.d=reject.test'])) is None
    found = fed.mailboxes_with(marker)
    assert [f for f, _ in found] == ['INBOX'], found
    row = fed.evaluation(marker, "array_to_string(dkim_domains, ' '), array_to_string(dkim_results, ' '),"
                                  ' spf_aligned, dkim_aligned, dmarc_result')
    assert row == 'reject.test reject.test|fail pass|f|t|pass', row


def test_unaligned_spf_pass_fails_dmarc(fed):
    marker = new_marker('unaligned')
    # SPF passes, but for another domain: DMARC fails; p=none delivers
    assert fed.send(message(marker, 'a@monitor.test', auth=['spf pass smtp.mailfrom=x@elsewhere.test',
                                                            'dkim pass header.d=elsewhere.test'])) is None
    found = fed.mailboxes_with(marker)
    assert [f for f, _ in found] == ['INBOX'], found
    ar = auth_results(found[0][1])
    assert 'dmarc=fail header.from=monitor.test policy.dmarc=none' in ar, ar
    row = fed.evaluation(marker, 'spf_result, spf_aligned, dkim_aligned, dmarc_result, policy_p, disposition')
    assert row == 'pass|f|f|fail|none|none', row


def test_reject_at_data(fed):
    marker = new_marker('reject')
    refused = fed.send(message(marker, 'ceo@reject.test', auth=['spf pass smtp.mailfrom=x@elsewhere.test']))
    assert refused is not None and refused[0] == 550, refused
    assert refused[1].startswith('5.7.1 '), refused
    assert 'DMARC policy of reject.test' in refused[1], refused
    assert fed.mailboxes_with(marker) == []
    row = fed.evaluation(marker, 'dmarc_result, policy_p, disposition, override_reason IS NULL')
    assert row == 'fail|reject|reject|t', row


def test_quarantine_filed_to_junk(fed):
    marker = new_marker('quarantine')
    assert fed.send(message(marker, 'a@quarantine.test')) is None
    found = fed.mailboxes_with(marker)
    assert [f for f, _ in found] == ['Junk'], found
    ar = auth_results(found[0][1])
    assert 'dmarc=fail header.from=quarantine.test policy.dmarc=quarantine' in ar, ar


def test_subdomain_policy(fed):
    # sub.parent.test has no record: parent.test's sp=reject applies to it
    marker = new_marker('sub')
    refused = fed.send(message(marker, 'a@sub.parent.test'))
    assert refused is not None and refused[0] == 550 and 'sub.parent.test' in refused[1], refused
    row = fed.evaluation(marker, 'header_from, policy_domain, policy_p, policy_sp, disposition')
    assert row == 'sub.parent.test|parent.test|none|reject|reject', row
    # ... while parent.test itself is under p=none
    marker = new_marker('parent')
    assert fed.send(message(marker, 'a@parent.test')) is None
    assert [f for f, _ in fed.mailboxes_with(marker)] == ['INBOX']


def test_org_domain_through_public_suffix_list(fed):
    # no record at sub.example.co.uk: the organizational domain is
    # example.co.uk (co.uk is a public suffix), p=quarantine: Junk, not the
    # reject of _dmarc.co.uk
    marker = new_marker('psl')
    assert fed.send(message(marker, 'a@sub.example.co.uk')) is None
    assert [f for f, _ in fed.mailboxes_with(marker)] == ['Junk']
    row = fed.evaluation(marker, 'policy_domain, policy_p, policy_adkim, disposition')
    assert row == 'example.co.uk|quarantine|s|quarantine', row
    # adkim=s: a signature of the organizational domain does not align with
    # the subdomain, one of the subdomain does
    marker = new_marker('psl-strict')
    assert fed.send(message(marker, 'a@sub.example.co.uk', auth=['dkim pass header.d=example.co.uk'])) is None
    assert [f for f, _ in fed.mailboxes_with(marker)] == ['Junk']
    marker = new_marker('psl-strict-ok')
    assert fed.send(message(marker, 'a@sub.example.co.uk', auth=['dkim pass header.d=sub.example.co.uk'])) is None
    assert [f for f, _ in fed.mailboxes_with(marker)] == ['INBOX']


def test_pct_zero_softens_reject_to_quarantine(fed):
    marker = new_marker('pct')
    assert fed.send(message(marker, 'a@sampled.test')) is None
    assert [f for f, _ in fed.mailboxes_with(marker)] == ['Junk']
    row = fed.evaluation(marker, 'policy_p, policy_pct, disposition, override_reason')
    assert row == 'reject|0|quarantine|sampled_out', row


def test_no_record_and_two_records(fed):
    marker = new_marker('norecord')
    assert fed.send(message(marker, 'a@nothing.test')) is None
    found = fed.mailboxes_with(marker)
    assert [f for f, _ in found] == ['INBOX']
    ar = auth_results(found[0][1])
    assert re.search(r'dmarc=none( reason="[^"]*")? header\.from=nothing\.test', ar), ar
    assert 'policy.dmarc' not in ar, ar
    # two DMARC records: no policy (RFC 7489 §6.6.3), permerror
    marker = new_marker('twice')
    assert fed.send(message(marker, 'a@twice.test')) is None
    found = fed.mailboxes_with(marker)
    assert [f for f, _ in found] == ['INBOX']
    assert 'dmarc=permerror' in auth_results(found[0][1])


def test_several_from_fields_refused(fed):
    marker = new_marker('twofrom')
    raw = message(marker, 'a@nothing.test', extra=[b'From: ceo@reject.test'])
    refused = fed.send(raw)
    assert refused is not None and refused[0] == 550 and refused[1].startswith('5.7.1 '), refused
    assert 'more than one From: field' in refused[1], refused
    marker = new_marker('twodomains')
    raw = message(marker, 'a@nothing.test, ceo@reject.test')
    refused = fed.send(raw)
    assert refused is not None and refused[0] == 550, refused


def test_monitor_only():
    if not os.path.exists(TEST_AUTH_SO):
        pytest.skip(f'{TEST_AUTH_SO} was not built')
    root = tempfile.mkdtemp(prefix='epistle-dmarc-monitor-')
    os.chmod(root, 0o755)
    s = None
    try:
        s = Server(os.path.join(root, 'monitor'), ['store-pg', 'smtp', 'dmarc', 'dmarc-test-auth'],
                   extra_so=[TEST_AUTH_SO], dmarc_section='enforce = false')
        marker = new_marker('monitor')
        assert s.send(message(marker, 'ceo@reject.test')) is None
        found = s.mailboxes_with(marker)
        assert [f for f, _ in found] == ['INBOX'], found
        ar = auth_results(found[0][1])
        assert 'dmarc=fail reason="monitoring only: reject not applied" header.from=reject.test policy.dmarc=none' \
            in ar, ar
        row = s.evaluation(marker, 'policy_p, disposition, override_reason')
        assert row == 'reject|none|local_policy', row
    finally:
        if s is not None:
            s.close()
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------
# DMARC on the results of the real spf and dkim modules


@pytest.fixture(scope='module')
def real():
    present = [m for m in ('spf', 'dkim') if HAVE[m]]
    if not present:
        pytest.skip(f'neither the spf nor the dkim module is in {MODULE_DIR}')
    root = tempfile.mkdtemp(prefix='epistle-dmarc-real-')
    os.chmod(root, 0o755)
    key = os.path.join(root, 'signed.pem')
    r = run_mail('dkim-keygen', '--domain', 'signed.test', '--selector', 'sel', '--algorithm', 'rsa',
                 '--bits', '2048', '--out', key, timeout=120)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    s = None
    try:
        s = Server(os.path.join(root, 'real'), ['store-pg', 'smtp', *present, 'dmarc'],
                   extra_zone=f"local-data: '{line}'\n")
        s.key = key
        yield s
    finally:
        if s is not None:
            s.close()
        shutil.rmtree(root, ignore_errors=True)


def needs(module):
    if not HAVE[module]:
        pytest.skip(f'the {module} module is not in {MODULE_DIR} (being written): this case needs its results')


def test_real_spf_aligned_and_not(real):
    needs('spf')
    marker = new_marker('realspf')
    assert real.send(message(marker, 'a@spf.test'), mail_from='bounce@spf.test') is None
    found = real.mailboxes_with(marker)
    assert [f for f, _ in found] == ['INBOX'], found
    ar = auth_results(found[0][1])
    assert 'spf=pass' in ar, ar
    assert 'dmarc=pass header.from=spf.test' in ar, ar
    # SPF passes for spf.test, the author is in signed.test (p=reject)
    marker = new_marker('realspf-unaligned')
    refused = real.send(message(marker, 'a@signed.test'), mail_from='bounce@spf.test')
    assert refused is not None and refused[0] == 550, refused


def test_real_dkim_aligned(real):
    needs('dkim')
    try:
        import dkim
    except ImportError:
        pytest.skip('python3-dkim is not installed')
    marker = new_marker('realdkim')
    raw = message(marker, 'a@signed.test')
    with open(real.key, 'rb') as f:
        pem = f.read()
    sig = dkim.sign(raw, b'sel', b'signed.test', pem, include_headers=[b'from', b'to', b'subject', b'date'])
    # the envelope is in another domain (SPF: none): only DKIM can pass
    result = real.send(sig + raw, mail_from='bounce@nothing.test')
    found = real.mailboxes_with(marker)
    ar = auth_results(found[0][1]) if found else ''
    # without a dkim pass p=reject would refuse it: only the verifier lets it in
    assert result is None, result
    assert [f for f, _ in found] == ['INBOX'], found
    assert 'dkim=pass' in ar and 'dmarc=pass header.from=signed.test' in ar, ar
