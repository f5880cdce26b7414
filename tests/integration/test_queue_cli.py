# SPDX-License-Identifier: GPL-2.0-or-later
"""`mail queue` on a queue whose rows the tests write themselves (psql on
the running daemon's embedded cluster): usage and id errors and their exit
codes, what the list and `show` print, and how retry, flush and delete
treat a recipient that a worker holds (leased).  The daemon's queue polls
once an hour, so a prompt attempt after retry or flush is the NOTIFY's
doing; it delivers through a [[transport]] to a closed port, so each
attempt is deferred.  docs/queue-cli.md describes the command.
(test_queue.py drives it against real deliveries.)"""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import MAIL, MODULE_DIR, SERVICE_USER, Config, Daemon, free_port, is_root, run_mail

pytestmark = pytest.mark.skipif(
    not all(os.path.exists(os.path.join(MODULE_DIR, m + '.so')) for m in ('store-pg', 'queue')),
    reason='the store-pg and queue modules were not built')

PSQL = shutil.which('psql') or '/usr/lib/postgresql/15/bin/psql'

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_TEMPFAIL, EX_CONFIG = 64, 65, 66, 75, 78


@pytest.fixture(scope='module')
def queued():
    root = tempfile.mkdtemp(prefix='epistle-queue-cli-')
    os.chmod(root, 0o755)
    config = Config(root)
    config.write(config.base(modules=['store-pg', 'queue'])
                 + '\n[queue]\npoll_interval = 3600\nretry_min = 3600\nretry_max = 3600\n'
                 + f'\n[[transport]]\ndomain = "*"\nhost = "127.0.0.1"\nport = {free_port()}\n')
    d = Daemon(config, MODULE_DIR)
    try:
        d.start()
        yield d
    finally:
        d.close()
        shutil.rmtree(root, ignore_errors=True)


def mail(d, *args):
    return run_mail('queue', *args, '--config', d.config.path, timeout=120)


def conninfo(d):
    """The daemon's embedded cluster, as the user it runs as."""
    user = SERVICE_USER if is_root() else os.environ.get('USER') or subprocess.getoutput('id -un')
    return f"host={os.path.join(d.config.data_dir, 'postgresql', 'run')} port=5432 dbname=epistle user={user}"


def sql(d, query):
    r = subprocess.run([PSQL, conninfo(d), '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', query],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def enqueue(d, queue_id, recipients, sender='alice@example.org', header='Subject: hello\r\n',
            body='the body\r\n', **columns):
    """A message (more queue_messages columns as SQL expressions) and its
    recipients: each an address and its queue_recipients columns."""
    message = header + '\r\n' + body
    values = {'queue_id': literal(queue_id), 'sender': literal(sender),
              'message': f"convert_to({literal(message)}, 'UTF8')", 'size': str(len(message.encode())),
              **columns}
    sql(d, f"INSERT INTO queue_messages ({', '.join(values)}) VALUES ({', '.join(values.values())})")
    for address, rcpt in recipients:
        rcpt = {'recipient': literal(address), 'domain': literal(address.split('@')[1]), **rcpt}
        sql(d, f"INSERT INTO queue_recipients (message_id, {', '.join(rcpt)})"
               f" SELECT id, {', '.join(rcpt.values())} FROM queue_messages WHERE queue_id = {literal(queue_id)}")


def recipient(d, queue_id, address, columns):
    return sql(d, f"SELECT {columns} FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id"
                  f" WHERE m.queue_id = '{queue_id}' AND r.recipient = '{address}'")


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f'timed out waiting for {what}')


def forget(d, *queue_ids):
    ids = ', '.join(f"'{i}'" for i in queue_ids)
    sql(d, f'DELETE FROM queue_messages WHERE queue_id IN ({ids})')


LATER = "now() + interval '1 day'"


def test_queue_cli_usage_errors(queued):
    r = mail(queued, 'bogus')
    assert r.returncode == EX_USAGE, r
    assert "unknown command 'bogus'" in r.stderr
    assert 'usage: mail queue [show ID | retry ID | delete ID | flush]' in r.stderr
    for args in (('show',), ('retry',), ('delete', '0123456789abcdef', 'again'), ('flush', 'now'),
                 ('--frobnicate',)):
        r = mail(queued, *args)
        assert r.returncode == EX_USAGE, (args, r)
        assert r.stdout == '', args


def test_queue_cli_malformed_id(queued):
    for command in ('show', 'retry', 'delete'):
        for bad in ('xyz', '0123456789abcde', '0123456789abcdef0', '0123456789ABCDEF', '0123456789abcdeg'):
            r = mail(queued, command, bad)
            assert r.returncode == EX_DATAERR, (command, bad, r)
            assert f"'{bad}' is not a queue id" in r.stderr
            assert r.stdout == ''


def test_queue_cli_unknown_id(queued):
    for command in ('show', 'retry', 'delete'):
        r = mail(queued, command, '00000000deadbeef')
        assert r.returncode == EX_NOINPUT, (command, r)
        assert 'no message 00000000deadbeef in the queue' in r.stderr
        assert r.stdout == ''


def test_queue_cli_without_the_module(config):
    # a fresh database where the queue module never ran
    config.write(config.base(modules=['store-pg']))
    r = run_mail('queue', '--config', config.path, timeout=120)
    assert r.returncode == EX_CONFIG, r
    assert 'the module queue is not loaded: add "queue" to modules' in r.stderr


def test_queue_cli_database_unreachable(config):
    closed = free_port()
    url = f'host=127.0.0.1 port={closed} dbname=epistle user=epistle connect_timeout=5'
    config.write(config.base(modules=['store-pg', 'queue']) + f'\n[database]\nurl = "{url}"\n')
    r = run_mail('queue', '--config', config.path, timeout=120)
    assert r.returncode == EX_TEMPFAIL, r
    assert 'the database is unavailable' in r.stderr
    assert r.stdout == ''


def test_queue_cli_list_and_show(queued):
    qid = '00000000000c0001'
    enqueue(queued, qid, [
        ('x@far.test', {'next_attempt': LATER}),
        ('y@far.test', {'next_attempt': LATER, 'lease_owner': "'ghost-node'", 'attempts': '2'}),
        ('z@far.test', {'state': "'delivered'", 'attempts': '1', 'last_code': '250', 'last_status': "'2.0.0'",
                        'last_reply': "'250 2.0.0 queued as 42'", 'remote_host': "'mx.far.test'",
                        'last_attempt': 'now()'}),
    ], header='From: Alice <alice@example.org>\r\nSubject: list \x1b[31mred\r\n', body='a secret body\r\n',
        envid="'env-42'", ret_headers_only='true')
    try:
        r = mail(queued)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[-1] == '1 queued', r.stdout
        m = re.search(rf'^{qid} +(\d+) +(\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ) +<alice@example\.org>\n'
                      r'((?:\s+\S.*\n)+)', r.stdout, re.M)
        assert m, r.stdout
        # the most attempts of its queued recipients; the next attempt of the one not being delivered
        assert m.group(1) == '2'
        rcpts = [l.strip() for l in m.group(3).splitlines()]
        assert rcpts == ['x@far.test', 'y@far.test (being delivered)'], r.stdout
        assert 'z@far.test' not in r.stdout

        r = mail(queued, 'show', qid)
        assert r.returncode == 0, r.stderr
        out = r.stdout
        assert re.search(r'^Sender: +<alice@example\.org>$', out, re.M), out
        assert re.search(r'^ENVID: +env-42$', out, re.M), out
        assert re.search(r'^RET: +HDRS$', out, re.M), out
        assert re.search(r'^Arrival: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$', out, re.M), out
        assert re.search(r'^  x@far\.test\n +queued, 0 attempts, next attempt \S+Z$', out, re.M), out
        assert re.search(r'^  y@far\.test\n +queued, 2 attempts, being delivered by ghost-node', out, re.M), out
        assert re.search(r'^  z@far\.test\n +delivered, 1 attempt\n +last attempt \S+Z, mx\.far\.test: '
                         r'250 2\.0\.0 queued as 42$', out, re.M), out
        header = out.split('Header:\n', 1)[1]
        assert 'From: Alice <alice@example.org>' in header
        # the header only, and no terminal escape sequence from it
        assert 'Subject: list ?[31mred' in header
        assert '\x1b' not in out
        assert 'secret body' not in out
    finally:
        forget(queued, qid)


def test_queue_cli_retry_wakes_the_daemon_and_leaves_leases_alone(queued):
    qid = '00000000000c0002'
    enqueue(queued, qid, [
        ('x@far.test', {'next_attempt': LATER}),
        ('y@far.test', {'next_attempt': LATER, 'lease_owner': "'ghost-node'"}),
    ])
    try:
        r = mail(queued, 'retry', qid)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f'{qid}: 1 recipient due now, 1 being delivered now (left alone)'
        # the daemon polls hourly: only the NOTIFY explains a prompt attempt
        # attempts counts the claim; last_status is written when the attempt
        # ends, a moment later: wait for both
        wait_for(lambda: recipient(queued, qid, 'x@far.test', 'attempts') == '1', 15, 'an attempt')
        wait_for(lambda: recipient(queued, qid, 'x@far.test', 'last_status') != '', 15, 'the attempt to end')
        assert recipient(queued, qid, 'x@far.test', 'attempts, last_status') == '1|4.4.1'
        # the leased recipient is untouched: still its worker's
        assert recipient(queued, qid, 'y@far.test',
                         "attempts, lease_owner, next_attempt > now() + interval '23 hours'") == '0|ghost-node|t'
    finally:
        forget(queued, qid)


def test_queue_cli_flush(queued):
    ids = ['00000000000c0003', '00000000000c0004']
    for qid in ids:
        enqueue(queued, qid, [('x@far.test', {'next_attempt': LATER})])
    enqueue(queued, '00000000000c0005', [('y@far.test', {'next_attempt': LATER, 'lease_owner': "'ghost-node'"})])
    try:
        r = mail(queued, 'flush')
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == '2 recipients of 2 messages due now, 1 being delivered now (left alone)'
        for qid in ids:
            wait_for(lambda: recipient(queued, qid, 'x@far.test', 'attempts') == '1', 15, 'an attempt')
        assert recipient(queued, '00000000000c0005', 'y@far.test', 'attempts, lease_owner') == '0|ghost-node'
    finally:
        forget(queued, *ids, '00000000000c0005')


def test_queue_cli_delete_waits_for_the_attempt_under_way(queued):
    qid = '00000000000c0006'
    enqueue(queued, qid, [
        ('x@far.test', {'next_attempt': LATER}),
        ('y@far.test', {'next_attempt': LATER, 'lease_owner': "'ghost-node'"}),
    ], sender='someone@far.test')
    message_id = sql(queued, f"SELECT id FROM queue_messages WHERE queue_id = '{qid}'")
    try:
        e = dict(os.environ, EPISTLE_MODULE_DIR=MODULE_DIR, LC_ALL='C.UTF-8')
        proc = subprocess.Popen([MAIL, 'queue', 'delete', qid, '--config', queued.config.path], env=e,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        assert proc.poll() is None, proc.communicate()
        # the attempt ends (its outcome clears the lease)
        sql(queued, "UPDATE queue_recipients SET lease_owner = NULL WHERE recipient = 'y@far.test'")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert 'is being delivered by ghost-node; waiting' in err
        assert out.strip() == f'{qid} deleted, without a bounce'
        assert sql(queued, f"SELECT count(*) FROM queue_messages WHERE queue_id = '{qid}'") == '0'
        assert sql(queued, f'SELECT count(*) FROM queue_recipients WHERE message_id = {message_id}') == '0'
        # no DSN to the remote sender
        assert sql(queued, "SELECT count(*) FROM queue_messages WHERE kind = 'dsn'") == '0'
        r = mail(queued, 'show', qid)
        assert r.returncode == EX_NOINPUT
    finally:
        forget(queued, qid)


class RowLock:
    """A transaction of psql that holds the recipient rows of @queue_id
    locked, as a worker's claim or outcome does while it runs."""

    def __init__(self, d, queue_id):
        self.proc = subprocess.Popen([PSQL, conninfo(d), '-XAtq', '-v', 'ON_ERROR_STOP=1'], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write('BEGIN;\n'
                              'SELECT r.id FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id'
                              f" WHERE m.queue_id = '{queue_id}' FOR UPDATE OF r;\n"
                              '\\echo locked\n')
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        while line and line.strip() != 'locked':
            line = self.proc.stdout.readline()
        assert line, self.proc.communicate()

    def release(self):
        self.proc.communicate('ROLLBACK;\n', timeout=30)


def test_queue_cli_locked_rows_count_as_being_delivered(queued):
    """Rows a worker has locked (a claim or an outcome being written) are
    neither waited for by retry nor taken by delete."""
    qid = '00000000000c0008'
    enqueue(queued, qid, [('x@far.test', {'next_attempt': LATER})])
    lock = RowLock(queued, qid)
    try:
        started = time.monotonic()
        r = mail(queued, 'retry', qid)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f'{qid}: 0 recipients due now, 1 being delivered now (left alone)'
        assert time.monotonic() - started < 8
        assert recipient(queued, qid, 'x@far.test', "next_attempt > now() + interval '23 hours'") == 't'

        e = dict(os.environ, EPISTLE_MODULE_DIR=MODULE_DIR, LC_ALL='C.UTF-8')
        proc = subprocess.Popen([MAIL, 'queue', 'delete', qid, '--config', queued.config.path], env=e,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        assert proc.poll() is None, proc.communicate()
        lock.release()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert f'{qid} is being delivered by a worker; waiting' in err
        assert out.strip() == f'{qid} deleted, without a bounce'
    finally:
        if lock.proc.poll() is None:
            lock.release()
        forget(queued, qid)


def test_queue_cli_delete_refused_while_a_lease_holds(queued):
    qid = '00000000000c0007'
    enqueue(queued, qid, [('y@far.test', {'next_attempt': LATER, 'lease_owner': "'ghost-node'"})])
    try:
        started = time.monotonic()
        r = mail(queued, 'delete', qid)
        assert r.returncode == EX_TEMPFAIL, r
        assert time.monotonic() - started >= 9
        assert re.search(rf'{qid} is still being delivered by ghost-node \(its lease ends \S+Z\); try again later',
                         r.stderr), r.stderr
        assert recipient(queued, qid, 'y@far.test', 'lease_owner') == 'ghost-node'
    finally:
        forget(queued, qid)
