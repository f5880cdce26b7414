# SPDX-License-Identifier: GPL-2.0-or-later
"""Real IMAP clients against the real daemon: mbsync (isync) and
offlineimap3 from Debian sync a server account with a local Maildir both
ways, over implicit TLS (kind "imaps") with the test CA.

Each client gets its own account (mbsync: bob, offlineimap: carol) and a
HOME in a temporary directory, so that no user configuration is read.
Every phase checks the exact state of both sides: the server's with
imaplib (subject and flags of every message of every synchronised
mailbox), the Maildir's by reading its files (subject from the file,
flags from the `:2,` suffix of its name).
"""
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from test_imap import srv, tmp_root, imaps, ok, append, deliver, Raw, PASSWORDS  # noqa: F401 (fixtures)
from test_imap import pytestmark  # noqa: F401 (the same skips)

MBSYNC = shutil.which('mbsync')
OFFLINEIMAP = shutil.which('offlineimap')

FOLDERS = ('INBOX', 'Work', 'Later')

# IMAP system flags as Maildir flag letters (the "2," info of a file name)
FLAG_LETTERS = {'\\Draft': 'D', '\\Flagged': 'F', '\\Answered': 'R', '\\Seen': 'S', '\\Deleted': 'T'}


def message(subject, body='a line of text'):
    return (f'From: Sender <sender@example.net>\r\n'
            f'To: someone@example.org\r\n'
            f'Subject: {subject}\r\n'
            f'Date: Mon, 07 Dec 2026 12:00:00 +0000\r\n'
            f'Message-ID: <{uuid.uuid4().hex}@example.net>\r\n'
            f'\r\n'
            f'{body}\r\n').encode()


def letters(imap_flags):
    """'\\Seen \\Flagged' -> 'FS' (sorted Maildir letters; keywords and
    \\Recent are left out)."""
    return ''.join(sorted(FLAG_LETTERS[f] for f in imap_flags.split() if f in FLAG_LETTERS))


def subject_of(data):
    m = re.search(rb'^Subject: (.*?)\r?$', data, re.M | re.I)
    assert m, data[:200]
    return m.group(1).decode()


def server_state(d, user, folders=FOLDERS):
    """{folder: sorted [(subject, flag letters)]} as imaplib sees it."""
    m = imaps(d, user)
    state = {}
    for folder in folders:
        ok(m.select(folder, readonly=True))
        typ, data = m.uid('FETCH', '1:*', '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
        assert typ == 'OK', data
        found = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            flags = re.search(rb'FLAGS \(([^)]*)\)', item[0]).group(1).decode()
            found.append((subject_of(item[1]), letters(flags)))
        state[folder] = sorted(found)
    m.logout()
    return state


def maildir_files(path):
    """The message files of the Maildir folder PATH (cur/ and new/)."""
    files = []
    for sub in ('cur', 'new'):
        d = os.path.join(path, sub)
        assert os.path.isdir(d), f'{path} is not a Maildir folder'
        files += [os.path.join(d, f) for f in os.listdir(d) if not f.startswith('.')]
    return files


def maildir_flags(path):
    name = os.path.basename(path)
    return ''.join(sorted(name.split(':2,', 1)[1])) if ':2,' in name else ''


def maildir_state(folders_paths):
    """{folder: sorted [(subject, flag letters)]} read from the files."""
    state = {}
    for folder, path in folders_paths.items():
        found = []
        for f in maildir_files(path):
            with open(f, 'rb') as fh:
                found.append((subject_of(fh.read()), maildir_flags(f)))
        state[folder] = sorted(found)
    return state


def find_file(path, subject):
    """The one file of Maildir folder PATH whose subject is SUBJECT."""
    hits = []
    for f in maildir_files(path):
        with open(f, 'rb') as fh:
            if subject_of(fh.read()) == subject:
                hits.append(f)
    assert len(hits) == 1, (subject, hits)
    return hits[0]


def set_maildir_flags(path, new_flags):
    """Renames a Maildir file to carry NEW_FLAGS (moving it to cur/)."""
    name = os.path.basename(path)
    base = name.split(':2,', 1)[0]
    folder = os.path.dirname(os.path.dirname(path))
    target = os.path.join(folder, 'cur', f'{base}:2,{new_flags}')
    os.rename(path, target)
    return target


def move_maildir_file(path, dest_folder):
    """Moves a message file to another Maildir folder the way a mail user
    agent does: a new file name there, without the client's UID mark (the
    UID belongs to the folder it came from)."""
    flags = maildir_flags(path)
    name = f'{int(time.time())}.M{uuid.uuid4().hex[:12]}P{os.getpid()}.localhost:2,{flags}'
    target = os.path.join(dest_folder, 'cur', name)
    os.rename(path, target)
    return target


def new_maildir_file(folder, subject, flags=''):
    """Drops a new message into folder/new (or cur/ with flags), as a
    local delivery or a mail user agent saving a draft would."""
    unique = f'{int(time.time())}.M{uuid.uuid4().hex[:12]}P{os.getpid()}.localhost'
    if flags:
        path = os.path.join(folder, 'cur', f'{unique}:2,{flags}')
    else:
        path = os.path.join(folder, 'new', unique)
    tmp = os.path.join(folder, 'tmp', unique)
    with open(tmp, 'wb') as f:
        f.write(message(subject, 'written in the Maildir'))
    os.rename(tmp, path)
    return path


def set_up_server(d, user, prefix):
    """INBOX: 3 messages (one \\Seen); Work: 2 (one \\Flagged); Later:
    empty.  Returns the expected server state."""
    m = imaps(d, user)
    for folder in ('Work', 'Later'):
        ok(m.create(folder))
    append(m, 'INBOX', message(f'{prefix} in-1'), flags='(\\Seen)')
    append(m, 'INBOX', message(f'{prefix} in-2'))
    deliver(d, f'{user}@example.org', f'{prefix} in-3')
    append(m, 'Work', message(f'{prefix} work-1'), flags='(\\Flagged)')
    append(m, 'Work', message(f'{prefix} work-2'), flags='(\\Seen \\Answered)')
    m.logout()
    return {
        'INBOX': sorted([(f'{prefix} in-1', 'S'), (f'{prefix} in-2', ''), (f'{prefix} in-3', '')]),
        'Work': sorted([(f'{prefix} work-1', 'F'), (f'{prefix} work-2', 'RS')]),
        'Later': [],
    }


def change_server(d, user, prefix):
    """Flag changes, a new message, a deletion and a move, made with
    imaplib.  Returns the expected state afterwards."""
    m = imaps(d, user)
    ok(m.select('INBOX'))
    uids = {subject: uid for uid, subject in uid_subjects(m)}
    ok(m.uid('STORE', uids[f'{prefix} in-1'], '-FLAGS', '(\\Seen)'))
    ok(m.uid('STORE', uids[f'{prefix} in-2'], '+FLAGS', '(\\Seen \\Flagged)'))
    ok(m.uid('STORE', uids[f'{prefix} in-3'], '+FLAGS', '(\\Deleted)'))
    ok(m.expunge())
    deliver(d, f'{user}@example.org', f'{prefix} in-4')
    ok(m.select('Work'))
    uids = {subject: uid for uid, subject in uid_subjects(m)}
    ok(m.uid('STORE', uids[f'{prefix} work-1'], '+FLAGS', '(\\Answered)'))
    ok(m.uid('MOVE', uids[f'{prefix} work-2'], 'Later'))
    m.logout()
    return {
        'INBOX': sorted([(f'{prefix} in-1', ''), (f'{prefix} in-2', 'FS'), (f'{prefix} in-4', '')]),
        'Work': sorted([(f'{prefix} work-1', 'FR')]),
        'Later': sorted([(f'{prefix} work-2', 'RS')]),
    }


def change_maildir(paths, prefix):
    """Flag changes, new messages, a deletion and a move between folders,
    made on the files.  Returns the expected state afterwards (both
    sides)."""
    set_maildir_flags(find_file(paths['INBOX'], f'{prefix} in-4'), 'FS')
    set_maildir_flags(find_file(paths['INBOX'], f'{prefix} in-2'), 'F')
    os.unlink(find_file(paths['INBOX'], f'{prefix} in-1'))
    new_maildir_file(paths['INBOX'], f'{prefix} local-1')
    new_maildir_file(paths['Work'], f'{prefix} local-2', 'S')
    move_maildir_file(find_file(paths['Later'], f'{prefix} work-2'), paths['Work'])
    return {
        'INBOX': sorted([(f'{prefix} in-2', 'F'), (f'{prefix} in-4', 'FS'), (f'{prefix} local-1', '')]),
        'Work': sorted([(f'{prefix} work-1', 'FR'), (f'{prefix} local-2', 'S'), (f'{prefix} work-2', 'RS')]),
        'Later': [],
    }


def uid_subjects(m):
    typ, data = m.uid('FETCH', '1:*', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    assert typ == 'OK', data
    out = []
    for item in data:
        if isinstance(item, tuple):
            uid = re.search(rb'UID (\d+)', item[0]).group(1).decode()
            out.append((uid, subject_of(item[1])))
    return out


def run_client(argv, home, timeout=120):
    env = {'HOME': home, 'PATH': '/usr/bin:/bin', 'LC_ALL': 'C.UTF-8', 'TZ': 'UTC'}
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=home)
    assert r.returncode == 0, f'{argv[0]} exited with {r.returncode}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}'
    return r


def client_home(tmp_root, name):
    home = os.path.join(tmp_root, name)
    os.makedirs(home)
    return home


# ---------------------------------------------------------------------------
# what these clients need that imaplib does not show


def test_imaps_greeting_lists_the_capabilities_under_tls(srv):
    """A client that reads the capabilities of the greeting (mbsync) must
    see those of the TLS connection it has: SASL-IR and AUTH=, not
    LOGINDISABLED (which made mbsync give up: "no acceptable
    authentication mechanism")."""
    r = Raw(srv)
    g = r.greeting
    assert g.startswith(b'* OK [CAPABILITY IMAP4rev1 IMAP4rev2 ') and g.endswith(b'] epistle ready\r\n'), g
    caps = g[len(b'* OK [CAPABILITY '):g.index(b']')].split()
    assert b'SASL-IR' in caps and b'AUTH=PLAIN' in caps, caps
    assert b'LOGINDISABLED' not in caps and b'STARTTLS' not in caps, caps
    # the same list as CAPABILITY gives
    lines, t = r.cmd('a', 'CAPABILITY')
    assert t == b'a OK CAPABILITY completed\r\n'
    assert lines == [b'* CAPABILITY ' + b' '.join(caps) + b'\r\n'], (lines, caps)
    r.close()


def test_greeting_before_tls_on_the_starttls_port(srv):
    r = Raw(srv, tls=False)
    assert r.greeting == (b'* OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ ENABLE ID IDLE NAMESPACE STARTTLS '
                          b'LOGINDISABLED] epistle ready\r\n'), r.greeting
    r.close()


def test_check_is_a_noop_in_selected_state(srv):
    """CHECK (RFC 3501 §6.4.1), which mbsync sends before APPEND."""
    r = Raw(srv)
    r.login('alice')
    _, t = r.cmd('a', 'CHECK')
    assert t == b'a BAD Command not allowed in this state\r\n', t
    _, t = r.cmd('b', 'SELECT INBOX')
    assert t.startswith(b'b OK [READ-WRITE]'), t
    lines, t = r.cmd('c', 'CHECK')
    assert (lines, t) == ([], b'c OK CHECK completed\r\n')
    _, t = r.cmd('d', 'CHECK now')
    assert t == b'd BAD Wrong number of arguments for CHECK\r\n', t
    r.close()


# ---------------------------------------------------------------------------
# mbsync


def mbsync_config(d, home, user, maildir):
    path = os.path.join(home, 'mbsyncrc')
    with open(path, 'w') as f:
        f.write(f'''IMAPAccount epistle
Host localhost
Port {d.imaps_port}
User {user}
Pass "{PASSWORDS[user]}"
SSLType IMAPS
CertificateFile {d.material.ca_file}
AuthMechs PLAIN

IMAPStore epistle-remote
Account epistle

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel epistle
Far :epistle-remote:
Near :local:
Patterns {' '.join(FOLDERS)}
Create Both
Expunge Both
SyncState *
CopyArrivalDate yes
''')
    return path


@pytest.mark.skipif(MBSYNC is None, reason='mbsync (Debian package isync) is not installed')
def test_mbsync_syncs_both_ways(srv, tmp_root):
    user, prefix = 'bob', 'mbsync'
    home = client_home(tmp_root, 'mbsync-home')
    maildir = os.path.join(home, 'Mail')
    os.makedirs(maildir)
    conf = mbsync_config(srv, home, user, maildir)
    paths = {'INBOX': os.path.join(maildir, 'INBOX'), 'Work': os.path.join(maildir, 'Work'),
             'Later': os.path.join(maildir, 'Later')}

    def sync():
        run_client([MBSYNC, '-V', '-c', conf, '-a'], home)

    # 1. the first sync copies the server's three mailboxes
    expected = set_up_server(srv, user, prefix)
    assert server_state(srv, user) == expected
    sync()
    assert maildir_state(paths) == expected

    # 2. what changed on the server reaches the Maildir
    expected = change_server(srv, user, prefix)
    assert server_state(srv, user) == expected
    sync()
    assert maildir_state(paths) == expected

    # 3. what changed in the Maildir reaches the server
    expected = change_maildir(paths, prefix)
    sync()
    assert server_state(srv, user) == expected
    assert maildir_state(paths) == expected

    # 4. a sync with nothing changed changes nothing
    sync()
    assert server_state(srv, user) == expected
    assert maildir_state(paths) == expected


# ---------------------------------------------------------------------------
# offlineimap3


def offlineimap_config(d, home, user, maildir):
    path = os.path.join(home, 'offlineimaprc')
    folders = ', '.join(repr(f) for f in FOLDERS)
    with open(path, 'w') as f:
        f.write(f'''[general]
accounts = epistle
metadata = {home}/offlineimap-state
ui = basic

[Account epistle]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {maildir}

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {d.imaps_port}
remoteuser = {user}
remotepass = {PASSWORDS[user]}
ssl = yes
sslcacertfile = {d.material.ca_file}
folderfilter = lambda name: name in [{folders}]
''')
    return path


@pytest.mark.skipif(OFFLINEIMAP is None, reason='offlineimap (Debian package offlineimap3) is not installed')
def test_offlineimap_syncs_both_ways(srv, tmp_root):
    user, prefix = 'carol', 'offlineimap'
    home = client_home(tmp_root, 'offlineimap-home')
    maildir = os.path.join(home, 'Mail')
    os.makedirs(maildir)
    conf = offlineimap_config(srv, home, user, maildir)
    paths = {f: os.path.join(maildir, f) for f in FOLDERS}

    def sync():
        run_client([OFFLINEIMAP, '-c', conf, '-o', '-u', 'basic'], home)

    # 1. the first sync copies the server's three mailboxes
    expected = set_up_server(srv, user, prefix)
    assert server_state(srv, user) == expected
    sync()
    assert maildir_state(paths) == expected

    # 2. what changed on the server reaches the Maildir
    expected = change_server(srv, user, prefix)
    assert server_state(srv, user) == expected
    sync()
    assert maildir_state(paths) == expected

    # 3. what changed in the Maildir reaches the server
    expected = change_maildir(paths, prefix)
    sync()
    assert server_state(srv, user) == expected
    assert maildir_state(paths) == expected

    # 4. a sync with nothing changed changes nothing
    sync()
    assert server_state(srv, user) == expected
    assert maildir_state(paths) == expected
