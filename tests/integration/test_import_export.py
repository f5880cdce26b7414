# SPDX-License-Identifier: GPL-2.0-or-later
"""`mail import` and `mail export`: an mbox of 1,000 varied messages and a
Maildir go into the store and come back out with the same bytes, flags and
mailboxes."""
import calendar
import os
import re
import time

import pytest

from conftest import MODULE_DIR, give_to_service_user, run_mail

ACCOUNTS = '''
[[accounts]]
name = "alice"
addresses = ["alice@example.org"]

[[accounts]]
name = "bob"
addresses = ["bob@example.org"]
'''

ADDED_HEADERS = (b'status:', b'x-status:', b'x-keywords:', b'x-mailbox:')
BASE_DATE = calendar.timegm((2024, 3, 1, 12, 0, 0))

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, 'store-pg.so')),
                                reason='the store-pg module was not built')


def mail(config, *args):
    return run_mail(*args, '--config', config.path, timeout=300)


@pytest.fixture
def store(config):
    config.write(config.base(modules=['store-pg']) + ACCOUNTS)
    return config


def out_dir(workdir, name):
    """A directory the command may write into after dropping root."""
    path = os.path.join(workdir, name)
    os.mkdir(path)
    give_to_service_user(path)
    return path


def quote(line):
    return b'>' + line if re.match(rb'^>*From ', line) else line


def unquote(line):
    return line[1:] if re.match(rb'^>+From ', line) else line


def make_message(i):
    """The message as the store should keep it, with LF line endings."""
    headers = [b'From: sender%d@example.net' % i, b'To: alice@example.org',
               b'Message-ID: <%d@test.example>' % i, b'Subject: message %d' % i]
    kind = i % 6
    if kind == 0:
        body = b''                               # empty body
    elif kind == 1:
        body = b'From the start of a line\n>From quoted\n>>From twice\n\nFrom again\n'
    elif kind == 2:
        headers.append(b'Content-Type: text/plain; charset=iso-8859-1')
        body = b'caf\xe9 na\xefve \xff\xfe 8-bit\nFrom\n>\n'
    elif kind == 3:
        headers.append(b'Content-Type: text/plain; charset=utf-8')
        body = 'Grüße, 日本語 %d\n'.encode() % i + b'x' * (i % 300) + b'\n\n\n'
    elif kind == 4:
        body = b''.join(b'line %d of %d\n' % (n, i) for n in range(i % 40))
    else:
        body = b'>From the middle\n  From indented\nFromage\n'
    return b'\n'.join(headers) + b'\n\n' + body


def from_line(date):
    return b'From sender@example.net ' + time.strftime('%a %b %e %H:%M:%S %Y', time.gmtime(date)).encode()


def write_mbox(path, messages):
    with open(path, 'wb') as f:
        for m in messages:
            f.write(from_line(m['date']) + b'\n')
            if m['mailbox'] != 'INBOX':
                f.write(b'X-Mailbox: ' + m['mailbox'].encode() + b'\n')
            if m['status']:
                f.write(b'Status: ' + m['status'] + b'\n')
            if m['x_status']:
                f.write(b'X-Status: ' + m['x_status'] + b'\n')
            for line in m['data'].split(b'\n')[:-1]:
                f.write(quote(line) + b'\n')
            f.write(b'\n')


def parse_mbox(data):
    """[(from_line, {added header: value}, message bytes)] of an mboxrd file"""
    out = []
    current = None
    for line in data.split(b'\n')[:-1]:
        if line.startswith(b'From '):
            current = [line, {}, [], True]
            out.append(current)
            continue
        assert current is not None, 'text before the first From_ line'
        if current[3]:
            if line == b'':
                current[3] = False
            elif line.lower().startswith(ADDED_HEADERS):
                name, _, value = line.partition(b':')
                current[1][name.lower().decode()] = value.strip().decode()
                continue
        current[2].append(unquote(line))
    result = []
    for from_, added, lines, _ in out:
        assert lines[-1] == b'', 'a message does not end with an empty line'
        result.append((from_, added, b'\n'.join(lines[:-1]) + b'\n'))
    return result


def message_id(data):
    return re.search(rb'^Message-ID: (<[^>]*>)$', data, re.M).group(1)


def test_mbox_round_trip(store, workdir):
    messages = []
    for i in range(1000):
        mailbox = 'Lists/epistle' if i % 50 == 3 else 'INBOX'
        status = b'RO' if i % 100 == 7 else (b'O' if i % 3 == 0 else b'')
        x_status = b'F' if i % 100 == 7 else (b'A' if i % 250 == 11 else b'')
        messages.append({'data': make_message(i), 'mailbox': mailbox, 'status': status, 'x_status': x_status,
                         'date': BASE_DATE + i * 61})
    src = os.path.join(workdir, 'x.mbox')
    write_mbox(src, messages)

    r = mail(store, 'import', 'alice', '--format', 'mbox', src)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == 'imported 1000 messages into alice (0 skipped)'

    dest = os.path.join(out_dir(workdir, 'out'), 'export.mbox')
    r = mail(store, 'export', 'alice', '--format', 'mbox', '--out', dest)
    assert r.returncode == 0, r.stderr
    with open(dest, 'rb') as f:
        exported = parse_mbox(f.read())
    assert len(exported) == 1000

    by_id = {message_id(m['data']): m for m in messages}
    seen = set()
    for from_, added, data in exported:
        mid = message_id(data)
        assert mid not in seen
        seen.add(mid)
        want = by_id[mid]
        assert data == want['data'], mid
        assert added['x-mailbox'] == want['mailbox']
        assert from_ == b'From MAILER-DAEMON ' + from_line(want['date'])[len(b'From sender@example.net '):]
        flags_seen = 'R' in added['status']
        assert flags_seen == (b'R' in want['status']), mid
        assert added.get('x-status', '') == want['x_status'].decode(), mid
    assert seen == set(by_id)
    # the messages of Status: RO really are \Seen and \Flagged after the trip
    ro = [a for _, a, d in exported if message_id(d) in {b'<7@test.example>', b'<107@test.example>'}]
    assert [(a['status'], a.get('x-status')) for a in ro] == [('RO', 'F'), ('RO', 'F')]

    # the export imports again: the same messages, now twice
    r = mail(store, 'import', 'alice', '--format', 'mbox', dest)
    assert r.returncode == 0, r.stderr
    assert 'imported 1000 messages into alice (0 skipped)' in r.stdout


def test_mbox_import_into_mailbox_and_stdout_export(store, workdir):
    src = os.path.join(workdir, 'small.mbox')
    with open(src, 'wb') as f:
        f.write(b'From a@b Thu Jan  1 00:00:00 1970\nSubject: one\nX-Mailbox: Elsewhere\n\n>From body\n\n'
                b'From a@b Thu Jan  1 00:00:00 1970\nSubject: two\n\nbody\n\n')
    r = mail(store, 'import', 'bob', '--format', 'mbox', src, '--mailbox', 'Imported/Old')
    assert r.returncode == 0, r.stderr
    assert 'imported 2 messages into bob (0 skipped)' in r.stdout
    r = mail(store, 'export', 'bob', '--format', 'mbox')
    assert r.returncode == 0, r.stderr
    assert r.stdout.count('X-Mailbox: Imported/Old\n') == 2
    assert 'X-Mailbox: Elsewhere' not in r.stdout
    assert '\nSubject: one\n\n>From body\n\n' in r.stdout


def make_maildir(root):
    expected = {}
    folders = {'INBOX': root, 'Sub/Folder': os.path.join(root, '.Sub.Folder')}
    n = 0
    for mailbox, d in folders.items():
        for sub in ('cur', 'new', 'tmp'):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for k in range(10):
            flags = ['', 'S', 'FS', 'DRT', 'RS'][k % 5]
            sub = 'new' if k == 9 else 'cur'
            name = '%d.M%dP1.host' % (BASE_DATE + n, n) + ('' if sub == 'new' else ':2,' + flags)
            data = make_message(5000 + n)
            with open(os.path.join(d, sub, name), 'wb') as f:
                f.write(data)
            os.utime(os.path.join(d, sub, name), (BASE_DATE + n, BASE_DATE + n))
            expected[message_id(data)] = (mailbox, flags if sub == 'cur' else '', data, BASE_DATE + n)
            n += 1
    return expected


def read_maildir(root):
    found = {}
    for entry in [''] + sorted(os.listdir(root)):
        d = os.path.join(root, entry)
        if entry and not (entry.startswith('.') and os.path.isdir(d)):
            continue
        mailbox = 'INBOX' if entry == '' else entry[1:].replace('.', '/')
        assert os.listdir(os.path.join(d, 'tmp')) == []
        assert os.listdir(os.path.join(d, 'new')) == []
        for name in os.listdir(os.path.join(d, 'cur')):
            path = os.path.join(d, 'cur', name)
            m = re.fullmatch(r'(\d+)\.(\d+)\.[^:/]+:2,([A-Z]*)', name)
            assert m, name
            assert list(m.group(3)) == sorted(m.group(3))
            with open(path, 'rb') as f:
                data = f.read()
            found[message_id(data)] = (mailbox, m.group(3), data, int(os.stat(path).st_mtime))
            assert int(m.group(1)) == int(os.stat(path).st_mtime)
    return found


def test_maildir_round_trip(store, workdir):
    src = os.path.join(workdir, 'Maildir')
    expected = make_maildir(src)
    assert len(expected) == 20
    r = mail(store, 'import', 'bob', '--format', 'maildir', src)
    assert r.returncode == 0, r.stderr
    assert 'imported 20 messages into bob (0 skipped)' in r.stdout

    dest = os.path.join(out_dir(workdir, 'out'), 'Maildir')
    r = mail(store, 'export', 'bob', '--format', 'maildir', '--out', dest)
    assert r.returncode == 0, r.stderr
    assert read_maildir(dest) == expected

    # and the Maildir export reads back as mbox with the same flags
    mbox = os.path.join(workdir, 'out', 'bob.mbox')
    r = mail(store, 'export', 'bob', '--format', 'mbox', '--out', mbox)
    assert r.returncode == 0, r.stderr
    with open(mbox, 'rb') as f:
        exported = {message_id(d): (a, d) for _, a, d in parse_mbox(f.read())}
    for mid, (mailbox, flags, data, _) in expected.items():
        added, got = exported[mid]
        assert got == data
        assert added['x-mailbox'] == mailbox
        assert ('R' in added['status']) == ('S' in flags)


def test_errors(store, workdir):
    r = mail(store, 'import', 'alice', '--format', 'mbox', os.path.join(workdir, 'missing.mbox'))
    assert r.returncode == 66, r.stderr
    r = mail(store, 'import', 'alice', '--format', 'tar', os.path.join(workdir, 'missing.mbox'))
    assert r.returncode == 64
    r = mail(store, 'import', 'alice', os.path.join(workdir, 'missing.mbox'))
    assert r.returncode == 64
    r = mail(store, 'export', 'alice', '--format', 'maildir')
    assert r.returncode == 64
    assert '--out' in r.stderr
    r = mail(store, 'export', 'alice', '--format', 'mbox', '--bogus')
    assert r.returncode == 64

    # a message the store refuses (no header, nothing) is skipped, not fatal
    src = os.path.join(workdir, 'bad.mbox')
    with open(src, 'wb') as f:
        f.write(b'From a@b Thu Jan  1 00:00:00 1970\n'
                b'From a@b Thu Jan  1 00:00:00 1970\nSubject: fine\n\nok\n\n')
    r = mail(store, 'import', 'alice', '--format', 'mbox', src)
    assert 'imported 1 messages into alice (1 skipped)' in r.stdout, r.stderr
    assert r.returncode == 65
    assert 'skipped' in r.stderr
    r = mail(store, 'import', 'nobody', '--format', 'mbox', src)
    assert r.returncode != 0
