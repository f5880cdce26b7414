#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The daemon's memory with many IMAP connections in IDLE
(docs/benchmarks.md, "IMAP: connections in IDLE"; issue 8's goal: 10,000
idle connections in at most 256 MiB).

  tests/bench/imap-idle-rss.py BUILD_DIR [CONNECTIONS] [USERS]

As root (the daemon drops to the user epistle; the file descriptor limit is
raised for the daemon and this client).  Starts `mail serve` with its
embedded PostgreSQL, store-pg, auth-sql and imap, one `imaps` listener on
127.0.0.1 ([imap] max_connections_per_ip raised to fit), USERS accounts
(argon2id hashes of cheap parameters, m = 1 MiB, t = 1, made with the
`argon2` command: 10,000 LOGINs at the default cost would take ~26 CPU
minutes), then opens CONNECTIONS sessions (TLS, LOGIN, SELECT INBOX, IDLE)
from one asyncio client, 100 handshakes at a time, and reads the daemon's
VmRSS (and VmHWM) from /proc before the first and after the last.  Then it
checks that the sessions really idle: a message appended to bench1's INBOX
must reach every bench1 session as `* 1 EXISTS` (within 60 s; how many
within 1 s, and when the last one, are reported).  Prints one
line per step and a summary table; exit status 0 when every connection
reached IDLE and was told of the message.

The PostgreSQL server processes are not the daemon and are reported apart
(their shared memory is counted in each process's RSS, so their sum
overstates).
"""
import asyncio
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

PASSWORD = 'idle bench password'


def status_kib(pid, field):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def children(pid):
    """Every descendant of PID."""
    parents = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    stat = f.read()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(')') + 2:].split()[1])
    tree, grew = {pid}, True
    while grew:
        grew = False
        for p, pp in parents.items():
            if pp in tree and p not in tree:
                tree.add(p)
                grew = True
    tree.discard(pid)
    return tree


def pg_rss_kib(pid):
    return sum(status_kib(p, 'VmRSS') for p in children(pid))


def run(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120, **kw)


def make_tls(d):
    os.makedirs(d, mode=0o755)
    run('certtool', '--generate-privkey', '--key-type=ecdsa', '--curve=secp256r1', '--outfile', f'{d}/ca.key',
        '--no-text')
    with open(f'{d}/ca.tmpl', 'w') as f:
        f.write('cn = "idle-rss CA"\nca\ncert_signing_key\nexpiration_days = 2\n')
    run('certtool', '--generate-self-signed', '--load-privkey', f'{d}/ca.key', '--template', f'{d}/ca.tmpl',
        '--outfile', f'{d}/ca.pem', '--no-text')
    run('certtool', '--generate-privkey', '--key-type=ecdsa', '--curve=secp256r1', '--outfile',
        f'{d}/server.key', '--no-text')
    with open(f'{d}/server.tmpl', 'w') as f:
        f.write('cn = "mail.example.org"\ndns_name = "localhost"\nip_address = "127.0.0.1"\n'
                'tls_www_server\nsigning_key\nexpiration_days = 2\n')
    run('certtool', '--generate-certificate', '--load-privkey', f'{d}/server.key', '--load-ca-certificate',
        f'{d}/ca.pem', '--load-ca-privkey', f'{d}/ca.key', '--template', f'{d}/server.tmpl', '--outfile',
        f'{d}/server.pem', '--no-text')
    for name in ('server.key', 'server.pem'):
        shutil.chown(f'{d}/{name}', 'epistle')
    os.chmod(f'{d}/server.key', 0o600)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Idler:
    def __init__(self, reader, writer, user):
        self.r, self.w, self.user = reader, writer, user

    async def line(self):
        return await self.r.readuntil(b'\r\n')

    async def cmd(self, tag, text):
        self.w.write(f'{tag} {text}\r\n'.encode())
        while True:
            line = await self.line()
            if line.startswith(tag.encode() + b' '):
                if not line.startswith(tag.encode() + b' OK'):
                    raise RuntimeError(f'{text.split()[0]}: {line!r}')
                return


async def open_idler(port, ctx, user, limit):
    async with limit:
        reader, writer = await asyncio.open_connection('127.0.0.1', port, ssl=ctx, server_hostname='localhost')
        s = Idler(reader, writer, user)
        greeting = await s.line()
        if not greeting.startswith(b'* OK'):
            raise RuntimeError(f'greeting {greeting!r}')
        await s.cmd('a', f'LOGIN {user} "{PASSWORD}"')
        await s.cmd('b', 'SELECT INBOX')
        s.w.write(b'c IDLE\r\n')
        line = await s.line()
        if not line.startswith(b'+ '):
            raise RuntimeError(f'IDLE: {line!r}')
        return s


async def told_of_message(s, t0, timeout):
    """Seconds from T0 until S hears `* 1 EXISTS`."""
    deadline = t0 + timeout
    while True:
        line = await asyncio.wait_for(s.line(), max(0.01, deadline - time.monotonic()))
        if re.match(rb'\* 1 EXISTS\r\n', line):
            return time.monotonic() - t0


async def client(port, cafile, n, users, daemon_pid):
    ctx = ssl.create_default_context(cafile=cafile)
    limit = asyncio.Semaphore(100)
    base = status_kib(daemon_pid, 'VmRSS')
    base_pg = pg_rss_kib(daemon_pid)
    print(f'daemon VmRSS before: {base} KiB (PostgreSQL processes: {base_pg} KiB)', flush=True)
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(open_idler(port, ctx, f'bench{(i % users) + 1}', limit)) for i in range(n)]
    done = 0
    sessions, errors = [], []
    for fut in asyncio.as_completed(tasks):
        try:
            sessions.append(await fut)
        except Exception as e:  # counted and reported
            errors.append(f'{type(e).__name__}: {e}')
        done += 1
        if done % 1000 == 0:
            print(f'  {done} sessions opened ({len(errors)} errors), daemon VmRSS '
                  f'{status_kib(daemon_pid, "VmRSS")} KiB, {time.monotonic() - t0:.0f} s', flush=True)
    open_s = time.monotonic() - t0
    await asyncio.sleep(2)  # let the daemon settle (freed handshake buffers, the pool's threads)
    rss = status_kib(daemon_pid, 'VmRSS')
    hwm = status_kib(daemon_pid, 'VmHWM')
    pg = pg_rss_kib(daemon_pid)
    print(f'{len(sessions)} sessions in IDLE after {open_s:.1f} s; {len(errors)} failed {errors[:3]}', flush=True)
    print(f'daemon VmRSS {rss} KiB (VmHWM {hwm} KiB); PostgreSQL processes {pg} KiB', flush=True)

    # every bench1 session hears of a message appended to bench1's INBOX
    appender = await open_idler(port, ctx, 'bench1', limit)
    appender.w.write(b'DONE\r\n')
    while not (await appender.line()).startswith(b'c OK'):
        pass
    msg = b'From: a@example.net\r\nSubject: wake up\r\n\r\nhello\r\n'
    t_append = time.monotonic()
    appender.w.write(b'd APPEND INBOX {%d+}\r\n' % len(msg) + msg + b'\r\n')
    while not (await appender.line()).startswith(b'd '):
        pass
    bench1 = [s for s in sessions if s.user == 'bench1']
    results = await asyncio.gather(*(told_of_message(s, t_append, 60) for s in bench1), return_exceptions=True)
    delays = sorted(r for r in results if isinstance(r, float))
    told = len(delays)
    told_1s = sum(1 for d in delays if d <= 1.0)
    last = delays[-1] if delays else None
    print(f'{told} of {len(bench1)} bench1 sessions told of the new message within 60 s, {told_1s} within 1 s, '
          f'the last after {last if last is None else round(last, 2)} s', flush=True)
    for s in sessions + [appender]:
        s.w.close()
    return {'opened': len(sessions), 'errors': len(errors), 'open_s': open_s, 'base': base, 'rss': rss,
            'hwm': hwm, 'pg': pg, 'base_pg': base_pg, 'told': told, 'told_1s': told_1s, 'last': last,
            'bench1': len(bench1)}


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 64
    build = os.path.realpath(argv[1])
    n = int(argv[2]) if len(argv) > 2 else 10000
    users = int(argv[3]) if len(argv) > 3 else 10
    if os.geteuid() != 0:
        print('imap-idle-rss: run as root', file=sys.stderr)
        return 1
    if shutil.which('argon2') is None:
        subprocess.run(['apt-get', 'install', '-y', '-q', 'argon2'], check=True, capture_output=True,
                       env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'))
    # one descriptor per connection on each side (the client and the daemon
    # are two processes), with room for the rest
    want = n + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, OSError):
            print(f'imap-idle-rss: the descriptor limit is {hard} and cannot be raised to {want}', file=sys.stderr)
            return 1
    elif soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    tmp = tempfile.mkdtemp(prefix='imap-idle-rss-')
    os.chmod(tmp, 0o755)
    daemon = None
    try:
        make_tls(f'{tmp}/tls')
        phc = subprocess.run(['argon2', 'idlersssalt00016', '-id', '-t', '1', '-m', '10', '-p', '1', '-e'],
                             input=PASSWORD, capture_output=True, text=True, check=True).stdout.strip()
        port = free_port()
        conf = f'{tmp}/mail.toml'
        with open(conf, 'w') as f:
            f.write(f'''hostname = "mail.example.org"
data_dir = "{tmp}/data"
domains = ["example.org"]
modules = ["store-pg", "auth-sql", "imap"]

[privileges]
user = "epistle"

[[listeners]]
kind = "imaps"
addr = "127.0.0.1"
port = {port}

[tls]
cert_file = "{tmp}/tls/server.pem"
key_file = "{tmp}/tls/server.key"

[auth-sql]
delay_base_ms = 0
delay_max_ms = 0
ban_after_ip = 100000
ban_after_user = 100000

[imap]
max_connections_per_ip = {min(100000, n + 100)}
''')
            for u in range(1, users + 1):
                f.write(f'\n[[accounts]]\nname = "bench{u}"\naddresses = ["bench{u}@example.org"]\n'
                        f'password_hash = "{phc}"\n')
        os.chmod(conf, 0o600)
        shutil.chown(conf, 'epistle')
        log = open(f'{tmp}/serve.log', 'w')
        daemon = subprocess.Popen([f'{build}/daemon/mail', 'serve', '-c', conf], stdout=log, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, EPISTLE_MODULE_DIR=f'{build}/modules'))
        deadline = time.monotonic() + 120
        while True:
            with open(f'{tmp}/serve.log') as f:
                if ' ready as user ' in f.read():
                    break
            if daemon.poll() is not None or time.monotonic() > deadline:
                with open(f'{tmp}/serve.log') as f:
                    print(f.read()[-3000:], file=sys.stderr)
                print('imap-idle-rss: the daemon did not start', file=sys.stderr)
                return 1
            time.sleep(0.1)
        print(f'machine: {os.cpu_count()} cores, load before: {open("/proc/loadavg").read().split()[:3]}; '
              f'{n} connections, {users} users', flush=True)
        r = asyncio.run(client(port, f'{tmp}/tls/ca.pem', n, users, daemon.pid))
        growth = r['rss'] - r['base']
        print()
        print('| | result |')
        print('| --- | --- |')
        print(f'| connections in IDLE | {r["opened"]:,} of {n:,} ({r["errors"]} failed), opened in {r["open_s"]:.0f} s |')
        print(f'| daemon VmRSS before / with them | {r["base"] / 1024:.1f} MiB / **{r["rss"] / 1024:.1f} MiB** '
              f'(peak {r["hwm"] / 1024:.1f} MiB) |')
        print(f'| growth per connection | {growth / max(1, r["opened"]):.1f} KiB |')
        print(f'| PostgreSQL processes (sum of RSS) before / with them | {r["base_pg"] / 1024:.1f} MiB / '
              f'{r["pg"] / 1024:.1f} MiB |')
        print(f'| bench1 sessions told of a new message (APPEND by another session) | {r["told"]} of '
              f'{r["bench1"]} within 60 s, {r["told_1s"]} within 1 s, the last after '
              f'{r["last"] if r["last"] is None else round(r["last"], 2)} s |')
        ok = r['errors'] == 0 and r['opened'] == n and r['told'] == r['bench1']
        return 0 if ok else 1
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        pgdata = f'{tmp}/data/postgresql/data'
        if os.path.exists(f'{pgdata}/postmaster.pid'):
            bindir = sorted(d for d in os.listdir('/usr/lib/postgresql'))[-1]
            subprocess.run(['runuser', '-u', 'epistle', '--', f'/usr/lib/postgresql/{bindir}/bin/pg_ctl', '-D',
                            pgdata, 'stop', '-m', 'immediate'], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
