# SPDX-License-Identifier: GPL-2.0-or-later
"""Mailbox-level IMAP extensions as clients see them: LIST-EXTENDED (RFC
5258) with SPECIAL-USE (RFC 6154) and LIST-STATUS (RFC 5819), CREATE with
USE (CREATE-SPECIAL-USE), QUOTA (RFC 9208), STATUS DELETED-STORAGE.

A daemon of its own (one embedded PostgreSQL) with accounts whose mailbox
trees the tests build, so that every answer can be asserted whole: the
tree of RFC 5258 §5's examples for "lister", special uses for "creator",
a storage quota for "quota".
"""
import imaplib
import os
import re
import shutil
import tempfile

import pytest

import tlsutil
from conftest import free_port
from test_smtp import listener, new_config, start_daemon
from test_imap import MESSAGE, Raw, token_hash

pytestmark = [
    pytest.mark.skipif(not tlsutil.have_certtool(), reason='certtool (Debian package gnutls-bin) is not installed'),
]

PASSWORDS = {'lister': 'lister imap password', 'creator': 'creator imap password',
             'quota': 'quota imap password', 'noquota': 'noquota imap password'}
QUOTA_BYTES = 102400  # 100 KiB


@pytest.fixture(scope='module')
def msrv():
    root = tempfile.mkdtemp(prefix='epistle-imap-mailbox-')
    os.chmod(root, 0o755)
    material = tlsutil.TestMaterial(os.path.join(root, 'tls'))
    config = new_config(root, 'imap')
    smtp_port, imap_port, imaps_port = free_port(), free_port(), free_port()
    accounts = ''.join(f'''
[[accounts]]
name = "{name}"
addresses = ["{name}@example.org"]
password_hash = "{token_hash(pw)}"
''' + (f'quota_bytes = {QUOTA_BYTES}\n' if name == 'quota' else '') for name, pw in PASSWORDS.items())
    config.write(config.base(modules=['store-pg', 'smtp', 'auth-sql', 'imap']) + accounts
                 + listener('smtp', smtp_port) + listener('imap', imap_port) + listener('imaps', imaps_port)
                 + '\n[auth-sql]\ndelay_base_ms = 10\ndelay_max_ms = 50\nban_after_ip = 100000\n'
                 + material.tls_section())
    d = start_daemon(config)
    d.smtp_port, d.imap_port, d.imaps_port, d.material = smtp_port, imap_port, imaps_port, material
    yield d
    d.close()
    log = d.log()
    shutil.rmtree(root, ignore_errors=True)
    assert not re.search(r'CRITICAL|assertion .* failed|AddressSanitizer|runtime error', log), log[-5000:]


def session(d, user, rev2=False):
    r = Raw(d)
    _, t = r.cmd('L', f'LOGIN {user} "{PASSWORDS[user]}"')
    assert t.startswith(b'L OK'), t
    if rev2:
        lines, t = r.cmd('E', 'ENABLE IMAP4rev2')
        assert lines == [b'* ENABLED IMAP4rev2\r\n'] and t.startswith(b'E OK'), (lines, t)
    return r


def imaps(d, user):
    m = imaplib.IMAP4_SSL('127.0.0.1', d.imaps_port, ssl_context=d.material.client_context())
    m.login(user, PASSWORDS[user])
    return m


def ok(result):
    typ, data = result
    assert typ == 'OK', data
    return data


def run(r, text):
    """Runs one command; returns its untagged lines (without CRLF) and
    asserts that it succeeded."""
    lines, t = r.cmd('T', text)
    assert t.startswith(b'T OK'), (text, lines, t)
    return [line.decode()[:-2] for line in lines]


def fails(r, text, status, code=None):
    lines, t = r.cmd('T', text)
    expected = f'T {status} ' + (f'[{code}]' if code else '')
    assert t.decode().startswith(expected), (text, t)
    return [line.decode()[:-2] for line in lines], t.decode()[:-2]


# ---------------------------------------------------------------------------
# the tree of RFC 5258 §5 without the examples' "Fruit/Peach" (subscribed,
# deleted: see test_imap_recent.py); "Tofu" is a parent that was deleted
# while its child stayed, and unsubscribed (a DELETE keeps the subscription).

@pytest.fixture(scope='module')
def tree(msrv):
    m = imaps(msrv, 'lister')
    for name in ('Fruit/Apple', 'Fruit/Banana', 'Vegetable/Broccoli', 'Vegetable/Corn', 'Tofu/Firm'):
        ok(m.create(name))
    ok(m.delete('Tofu'))
    ok(m.unsubscribe('Tofu'))
    for name in ('Fruit', 'Fruit/Apple', 'Vegetable/Corn', 'Sent', 'Drafts', 'Trash', 'Junk', 'Archive'):
        ok(m.unsubscribe(name))
    ok(m.append('Fruit/Banana', '(\\Seen)', None, MESSAGE))
    ok(m.append('Fruit/Banana', '(\\Deleted)', None, MESSAGE + b'more\r\n'))
    m.logout()
    return msrv


TOP_REV1 = [
    '* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
    '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
    '* LIST (\\HasChildren) "/" "Fruit"',
    '* LIST (\\HasNoChildren) "/" "INBOX"',
    '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
    '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
    '* LIST (\\Noselect \\HasChildren) "/" "Tofu"',
    '* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
    '* LIST (\\HasChildren) "/" "Vegetable"',
]
TOP_EXTENDED = [line.replace('\\Noselect', '\\NonExistent') for line in TOP_REV1]


def test_capabilities(msrv):
    r = Raw(msrv)
    lines, _ = r.cmd('C', 'CAPABILITY')
    assert b'LIST-EXTENDED' not in lines[0] and b'QUOTA' not in lines[0], lines
    r.close()
    r = session(msrv, 'lister')
    caps = run(r, 'CAPABILITY')[0].split()
    for cap in ('LIST-EXTENDED', 'LIST-STATUS', 'SPECIAL-USE', 'CREATE-SPECIAL-USE', 'QUOTA', 'QUOTA=RES-STORAGE',
                'STATUS=SIZE', 'CHILDREN'):
        assert cap in caps, caps
    # the store limits octets, not messages
    assert 'QUOTA=RES-MESSAGE' not in caps and 'QUOTASET' not in caps, caps
    r.close()


def test_list_basic_percent_shows_missing_parents(tree):
    r = session(tree, 'lister')
    # RFC 3501: a parent that does not exist is \Noselect in a basic LIST
    assert run(r, 'LIST "" "%"') == TOP_REV1
    # "*" lists Tofu/Firm itself: the missing parent is not needed
    assert run(r, 'LIST "" "To*"') == ['* LIST (\\HasNoChildren) "/" "Tofu/Firm"']
    # LIST-EXTENDED and IMAP4rev2 say \NonExistent
    assert run(r, 'LIST "" "%" RETURN (CHILDREN)') == TOP_EXTENDED
    assert run(r, 'LIST () "" "%"') == TOP_EXTENDED
    assert run(r, 'LIST (REMOTE) "" "%" RETURN (CHILDREN)') == TOP_EXTENDED
    r.close()
    r = session(tree, 'lister', rev2=True)
    assert run(r, 'LIST "" "%"') == TOP_EXTENDED
    r.close()


def test_list_subscribed(tree):
    r = session(tree, 'lister')
    # RFC 5258 §5 example 3: (SUBSCRIBED) implies RETURN (SUBSCRIBED)
    assert run(r, 'LIST (SUBSCRIBED) "" "*"') == [
        '* LIST (\\Subscribed \\HasNoChildren) "/" "Fruit/Banana"',
        '* LIST (\\Subscribed \\HasNoChildren) "/" "INBOX"',
        '* LIST (\\Subscribed \\HasNoChildren) "/" "Tofu/Firm"',
        '* LIST (\\Subscribed \\HasChildren) "/" "Vegetable"',
        '* LIST (\\Subscribed \\HasNoChildren) "/" "Vegetable/Broccoli"',
    ]
    # example 4: without RECURSIVEMATCH, "%" shows subscribed top levels only
    assert run(r, 'LIST (SUBSCRIBED) "" "%" RETURN (CHILDREN)') == [
        '* LIST (\\Subscribed \\HasNoChildren) "/" "INBOX"',
        '* LIST (\\Subscribed \\HasChildren) "/" "Vegetable"',
    ]
    # REMOTE changes nothing here: every mailbox is local
    assert run(r, 'LIST (REMOTE SUBSCRIBED) "" "%"') == run(r, 'LIST (SUBSCRIBED) "" "%"')
    # RETURN (SUBSCRIBED) marks the subscribed ones among all
    assert run(r, 'LIST "" "Vegetable*" RETURN (CHILDREN SUBSCRIBED)') == run(r, 'LIST "" "Vegetable*" RETURN (SUBSCRIBED)')
    assert run(r, 'LIST "" "Vegetable*" RETURN (SUBSCRIBED)') == [
        '* LIST (\\Subscribed \\HasChildren) "/" "Vegetable"',
        '* LIST (\\Subscribed \\HasNoChildren) "/" "Vegetable/Broccoli"',
        '* LIST (\\HasNoChildren) "/" "Vegetable/Corn"',
    ]
    # LSUB (IMAP4rev1): "%" shows the parent of a subscribed mailbox as
    # \Noselect when it is not subscribed itself (RFC 3501 §6.3.9)
    assert run(r, 'LSUB "" "%"') == [
        '* LSUB (\\Noselect \\HasChildren) "/" "Fruit"',
        '* LSUB (\\HasNoChildren) "/" "INBOX"',
        '* LSUB (\\Noselect \\HasChildren) "/" "Tofu"',
        '* LSUB (\\HasChildren) "/" "Vegetable"',
    ]
    assert run(r, 'LSUB "" "*"') == [
        '* LSUB (\\HasNoChildren) "/" "Fruit/Banana"',
        '* LSUB (\\HasNoChildren) "/" "INBOX"',
        '* LSUB (\\HasNoChildren) "/" "Tofu/Firm"',
        '* LSUB (\\HasChildren) "/" "Vegetable"',
        '* LSUB (\\HasNoChildren) "/" "Vegetable/Broccoli"',
    ]
    r.close()


def test_list_recursivematch(tree):
    r = session(tree, 'lister')
    # RFC 5258 §5 example 5: parents of subscribed mailboxes the pattern
    # does not show get CHILDINFO; a missing one is \NonExistent
    assert run(r, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)') == [
        '* LIST (\\HasChildren) "/" "Fruit" ("CHILDINFO" ("SUBSCRIBED"))',
        '* LIST (\\Subscribed \\HasNoChildren) "/" "INBOX"',
        '* LIST (\\NonExistent \\HasChildren) "/" "Tofu" ("CHILDINFO" ("SUBSCRIBED"))',
        '* LIST (\\Subscribed \\HasChildren) "/" "Vegetable" ("CHILDINFO" ("SUBSCRIBED"))',
    ]
    # with "*" the subscribed children are listed themselves: no parent
    # is listed for them, and there is no CHILDINFO
    assert run(r, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "*"') == [
        '* LIST (\\Subscribed \\HasNoChildren) "/" "Fruit/Banana"',
        '* LIST (\\Subscribed \\HasNoChildren) "/" "INBOX"',
        '* LIST (\\Subscribed \\HasNoChildren) "/" "Tofu/Firm"',
        '* LIST (\\Subscribed \\HasChildren) "/" "Vegetable"',
        '* LIST (\\Subscribed \\HasNoChildren) "/" "Vegetable/Broccoli"',
    ]
    # the same with several patterns: a child that one of them shows
    assert run(r, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" ("Fruit" "Tofu")') == [
        '* LIST (\\HasChildren) "/" "Fruit" ("CHILDINFO" ("SUBSCRIBED"))',
        '* LIST (\\NonExistent \\HasChildren) "/" "Tofu" ("CHILDINFO" ("SUBSCRIBED"))',
    ]
    assert run(r, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" ("Fruit" "Fruit/Banana" "Tofu" "Tofu/Firm")') == [
        '* LIST (\\Subscribed \\HasNoChildren) "/" "Fruit/Banana"',
        '* LIST (\\Subscribed \\HasNoChildren) "/" "Tofu/Firm"',
    ]
    # a parent whose children are not subscribed is not listed
    assert run(r, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "Vegetable/%"') == [
        '* LIST (\\Subscribed \\HasNoChildren) "/" "Vegetable/Broccoli"',
    ]
    r.close()


def test_list_several_patterns_and_reference(tree):
    r = session(tree, 'lister')
    assert run(r, 'LIST "" ("INBOX" "Vegetable/%" "nothing*")') == [
        '* LIST (\\HasNoChildren) "/" "INBOX"',
        '* LIST (\\HasNoChildren) "/" "Vegetable/Broccoli"',
        '* LIST (\\HasNoChildren) "/" "Vegetable/Corn"',
    ]
    # the reference is put before every pattern; a name matched twice is listed once
    assert run(r, 'LIST "Fruit/" ("A*" "%")') == [
        '* LIST (\\HasNoChildren) "/" "Fruit/Apple"',
        '* LIST (\\HasNoChildren) "/" "Fruit/Banana"',
    ]
    # the delimiter
    assert run(r, 'LIST "" ""') == ['* LIST (\\Noselect) "/" ""']
    r.close()


def test_list_special_use(tree):
    r = session(tree, 'lister')
    specials = [
        '* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
        '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
        '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
        '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        '* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
    ]
    # RFC 6154 §5.2 examples: the selection option and the return option
    assert run(r, 'LIST (SPECIAL-USE) "" "*"') == specials
    assert run(r, 'LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)') == specials
    assert run(r, 'LIST "" "%" RETURN (SPECIAL-USE)') == TOP_EXTENDED
    # RFC 6154 §5.1's example: every mailbox, with its special use
    assert run(r, 'LIST "" "*" RETURN (SPECIAL-USE)') == [
        '* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
        '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
        '* LIST (\\HasChildren) "/" "Fruit"',
        '* LIST (\\HasNoChildren) "/" "Fruit/Apple"',
        '* LIST (\\HasNoChildren) "/" "Fruit/Banana"',
        '* LIST (\\HasNoChildren) "/" "INBOX"',
        '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
        '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        '* LIST (\\HasNoChildren) "/" "Tofu/Firm"',
        '* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
        '* LIST (\\HasChildren) "/" "Vegetable"',
        '* LIST (\\HasNoChildren) "/" "Vegetable/Broccoli"',
        '* LIST (\\HasNoChildren) "/" "Vegetable/Corn"',
    ]
    # together with SUBSCRIBED: both must hold (none of them is subscribed)
    assert run(r, 'LIST (SPECIAL-USE SUBSCRIBED) "" "*"') == []
    r.close()


def test_list_status(tree):
    r = session(tree, 'lister')
    size = 2 * len(MESSAGE) + len(b'more\r\n')
    deleted = len(MESSAGE) + len(b'more\r\n')
    lines = run(r, 'LIST "" "Fruit*" RETURN (STATUS (MESSAGES UNSEEN DELETED SIZE DELETED-STORAGE))')
    assert lines == [
        '* LIST (\\HasChildren) "/" "Fruit"',
        '* STATUS "Fruit" (MESSAGES 0 UNSEEN 0 DELETED 0 SIZE 0 DELETED-STORAGE 0)',
        '* LIST (\\HasNoChildren) "/" "Fruit/Apple"',
        '* STATUS "Fruit/Apple" (MESSAGES 0 UNSEEN 0 DELETED 0 SIZE 0 DELETED-STORAGE 0)',
        '* LIST (\\HasNoChildren) "/" "Fruit/Banana"',
        f'* STATUS "Fruit/Banana" (MESSAGES 2 UNSEEN 1 DELETED 1 SIZE {size} '
        f'DELETED-STORAGE {(deleted + 1023) // 1024})',
    ]
    # the STATUS of a LIST equals the STATUS command's
    assert run(r, 'STATUS Fruit/Banana (MESSAGES UNSEEN DELETED SIZE DELETED-STORAGE)') == [lines[-1]]
    # a name that does not exist gets no STATUS
    assert run(r, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "T%" RETURN (STATUS (MESSAGES))') == [
        '* LIST (\\NonExistent \\HasChildren) "/" "Tofu" ("CHILDINFO" ("SUBSCRIBED"))']
    lines = run(r, 'LIST "" "T%" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY))')
    assert lines[0] == '* LIST (\\NonExistent \\HasChildren) "/" "Tofu"', lines
    assert lines[1] == '* LIST (\\HasNoChildren \\Trash) "/" "Trash"', lines
    assert re.fullmatch(r'\* STATUS "Trash" \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)', lines[2]), lines
    assert len(lines) == 3
    # a rev2 session: RECENT is not a STATUS item any more
    r.close()
    r = session(tree, 'lister', rev2=True)
    assert run(r, 'LIST "" "INBOX" RETURN (STATUS (MESSAGES))') == [
        '* LIST (\\HasNoChildren) "/" "INBOX"', '* STATUS "INBOX" (MESSAGES 0)']
    fails(r, 'LIST "" "INBOX" RETURN (STATUS (RECENT))', 'BAD')
    r.close()


def test_list_names_in_utf7_and_utf8(msrv):
    r = session(msrv, 'creator')
    # "Entwürfe/Übersicht", its parent deleted: modified UTF-7 for rev1
    run(r, 'CREATE Entw&APw-rfe/&ANw-bersicht')
    run(r, 'DELETE Entw&APw-rfe')
    assert run(r, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "Entw&APw-rfe" RETURN (STATUS (MESSAGES))') == [
        '* LIST (\\NonExistent \\HasChildren) "/" "Entw&APw-rfe" ("CHILDINFO" ("SUBSCRIBED"))']
    assert run(r, 'LIST "" "Entw&APw-rfe/%" RETURN (STATUS (MESSAGES))') == [
        '* LIST (\\HasNoChildren) "/" "Entw&APw-rfe/&ANw-bersicht"',
        '* STATUS "Entw&APw-rfe/&ANw-bersicht" (MESSAGES 0)']
    # a pattern that is not modified UTF-7
    lines, t = fails(r, 'LIST "" ("INBOX" "&Jjo!")', 'BAD')
    assert t == 'T BAD Invalid mailbox pattern'
    r.close()
    # UTF-8 for rev2
    r = session(msrv, 'creator', rev2=True)
    assert run(r, 'LIST "" "Entw%"') == ['* LIST (\\NonExistent \\HasChildren) "/" "Entwürfe"']
    # the parent is not needed when a pattern shows the child
    assert run(r, 'LIST "" ("Entwürfe" "Entwürfe/*") RETURN (STATUS (MESSAGES))') == [
        '* LIST (\\HasNoChildren) "/" "Entwürfe/Übersicht"',
        '* STATUS "Entwürfe/Übersicht" (MESSAGES 0)']
    r.close()


def test_list_malformed_options_are_bad(tree):
    r = session(tree, 'lister')
    cases = {
        'LIST (RECURSIVEMATCH) "" "*"': 'RECURSIVEMATCH needs SUBSCRIBED',
        'LIST (REMOTE RECURSIVEMATCH) "" "*"': 'RECURSIVEMATCH needs SUBSCRIBED',
        'LIST (FOO) "" "*"': 'Unknown LIST selection option',
        'LIST ("SUBSCRIBED") "" "*"': 'LIST selection options are atoms',
        'LIST "" "*" RETURN (FOO)': 'Unknown LIST return option',
        'LIST "" "*" RETURN CHILDREN': 'RETURN takes one list of options',
        'LIST "" "*" RETURN': 'RETURN takes one list of options',
        'LIST "" "*" RETURN (CHILDREN) (x)': 'RETURN takes one list of options',
        'LIST "" "*" CHILDREN': 'Expected RETURN after the mailbox pattern',
        'LIST "" "*" RETURN (STATUS)': 'STATUS takes a list of items',
        'LIST "" "*" RETURN (STATUS ())': 'STATUS takes a list of items',
        'LIST "" "*" RETURN (STATUS (MESSAGES) STATUS (SIZE))': 'STATUS given twice',
        'LIST "" "*" RETURN (STATUS (FOO))': 'Unknown STATUS item',
        'LIST "" ()': 'Empty list of patterns',
        'LIST "" ("a" ("b"))': 'Invalid mailbox pattern',
        'LIST (SUBSCRIBED) ""': 'LIST takes a reference and a mailbox pattern',
        'LSUB "" ("*")': 'LSUB takes one pattern',
        'STATUS INBOX ()': 'STATUS takes a list of items',
    }
    for command, text in cases.items():
        lines, t = fails(r, command, 'BAD')
        assert lines == [] and t == f'T BAD {text}', (command, t)
    # the session goes on
    assert run(r, 'LIST "" "INBOX"') == ['* LIST (\\HasNoChildren) "/" "INBOX"']
    r.close()


# ---------------------------------------------------------------------------
# CREATE-SPECIAL-USE (RFC 6154 §3)

def test_create_special_use(msrv):
    r = session(msrv, 'creator')
    # the account has its six special mailboxes already, and the store
    # gives a special use to one mailbox only
    lines, t = fails(r, 'CREATE MySent (USE (\\Sent))', 'NO', 'USEATTR')
    assert run(r, 'LIST "" "MySent"') == []
    run(r, 'DELETE Archive')
    assert run(r, 'CREATE "Old mail" (USE (\\Archive))') == []
    assert run(r, 'LIST "" "Old mail"') == ['* LIST (\\HasNoChildren \\Archive) "/" "Old mail"']
    assert run(r, 'LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)') == [
        '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
        '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
        '* LIST (\\HasNoChildren \\Archive) "/" "Old mail"',
        '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        '* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
    ]
    fails(r, 'CREATE "Old mail" (USE (\\Archive))', 'NO', 'ALREADYEXISTS')
    fails(r, 'CREATE Other (USE (\\Archive))', 'NO', 'USEATTR')
    # special uses the store has no role for, and two at once
    for attrs in ('\\All', '\\Flagged', '\\Important', '\\Sent \\Trash'):
        lines, t = fails(r, f'CREATE X (USE ({attrs}))', 'NO', 'USEATTR')
    # malformed parameters
    for params in ('(USE (Sent))', '(USE \\Sent)', '(USE)', '(FOO (\\Sent))', '(USE (\\Trash) USE (\\Trash))',
                   'USE'):
        fails(r, f'CREATE X {params}', 'BAD')
    assert run(r, 'LIST "" "X"') == []
    # an empty USE is a plain mailbox; a child takes a special use too
    assert run(r, 'CREATE Y (USE ())') == []
    assert run(r, 'LIST "" "Y"') == ['* LIST (\\HasNoChildren) "/" "Y"']
    run(r, 'DELETE Junk')
    assert run(r, 'CREATE Y/Spam (use (\\junk))') == []
    assert run(r, 'LIST "" "Y*"') == ['* LIST (\\HasChildren) "/" "Y"',
                                      '* LIST (\\HasNoChildren \\Junk) "/" "Y/Spam"']
    r.close()


# ---------------------------------------------------------------------------
# QUOTA (RFC 9208)

def test_quota_numbers(msrv):
    r = session(msrv, 'quota')
    assert run(r, 'GETQUOTAROOT INBOX') == ['* QUOTAROOT "INBOX" ""', '* QUOTA "" (STORAGE 0 100)']
    m = imaps(msrv, 'quota')
    ok(m.create('Box'))
    ok(m.append('INBOX', '', None, MESSAGE))
    ok(m.append('Box', '', None, MESSAGE))
    ok(m.append('Box', '(\\Deleted)', None, MESSAGE + b'x' * 3000 + b'\r\n'))
    used = 3 * len(MESSAGE) + 3002
    kib = (used + 1023) // 1024
    # every mailbox of the account counts; usage in KiB, rounded up
    assert run(r, 'GETQUOTAROOT inbox') == ['* QUOTAROOT "INBOX" ""', f'* QUOTA "" (STORAGE {kib} 100)']
    assert run(r, 'GETQUOTAROOT Box') == ['* QUOTAROOT "Box" ""', f'* QUOTA "" (STORAGE {kib} 100)']
    assert run(r, 'GETQUOTA ""') == [f'* QUOTA "" (STORAGE {kib} 100)']
    assert run(r, 'STATUS Box (MESSAGES DELETED DELETED-STORAGE)') == [
        f'* STATUS "Box" (MESSAGES 2 DELETED 1 DELETED-STORAGE {(len(MESSAGE) + 3002 + 1023) // 1024})']
    # an expunge gives the space back
    ok(m.select('Box'))
    ok(m.expunge())
    kib = (2 * len(MESSAGE) + 1023) // 1024
    assert run(r, 'GETQUOTA ""') == [f'* QUOTA "" (STORAGE {kib} 100)']
    # over the quota: NO [OVERQUOTA], and nothing was counted
    typ, data = m.append('Box', '', None, b'Subject: big\r\n\r\n' + b'y' * QUOTA_BYTES + b'\r\n')
    assert typ == 'NO' and b'[OVERQUOTA]' in data[0], data
    assert run(r, 'GETQUOTA ""') == [f'* QUOTA "" (STORAGE {kib} 100)']
    m.logout()
    # no such root, no such mailbox
    fails(r, 'GETQUOTA "other"', 'NO', 'NONEXISTENT')
    fails(r, 'GETQUOTAROOT NoSuchBox', 'NO', 'NONEXISTENT')
    r.close()


def test_quota_setquota_refused_and_syntax(msrv):
    r = session(msrv, 'quota')
    lines, t = fails(r, 'SETQUOTA "" (STORAGE 10)', 'NO', 'NOPERM')
    assert t == 'T NO [NOPERM] Quotas are set by the administrator, not over IMAP'
    fails(r, 'SETQUOTA "" ()', 'NO', 'NOPERM')
    for args in ('"" STORAGE', '"" (STORAGE)', '"" (STORAGE x)', '"" (STORAGE -1)', '"" ("STORAGE" 1)'):
        lines, t = fails(r, f'SETQUOTA {args}', 'BAD')
        assert t == 'T BAD SETQUOTA takes a quota root and a list of resource limits', t
    for command in ('GETQUOTA', 'GETQUOTAROOT', 'GETQUOTA "" x', 'SETQUOTA ""'):
        lines, t = fails(r, command, 'BAD')
    # the quota did not change
    assert run(r, 'GETQUOTA ""')[0].endswith(' 100)')
    r.close()
    # before login: not in this state
    r = Raw(msrv)
    lines, t = r.cmd('T', 'GETQUOTA ""')
    assert t == b'T BAD Log in first\r\n', t
    r.close()


def test_quota_account_without_quota(msrv):
    r = session(msrv, 'noquota', rev2=True)
    # no quota root at all
    assert run(r, 'GETQUOTAROOT INBOX') == ['* QUOTAROOT "INBOX"']
    fails(r, 'GETQUOTA ""', 'NO', 'NONEXISTENT')
    r.close()
