#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The IMAP load client of tests/bench/imap-bench.sh (docs/benchmarks.md).

  imap_bench_client.py wait HOST PORT SECONDS
      waits until HOST:PORT accepts TCP connections
  imap_bench_client.py seed HOST PORT CAFILE USERS PASSWORD MESSAGES
      appends MESSAGES messages (pipelined, LITERAL+) to the INBOX of each
      user bench1 … benchUSERS over implicit TLS
  imap_bench_client.py load HOST PORT CAFILE USERS PASSWORD SESSIONS SECONDS [PROCESSES [ROUNDS]]
      SESSIONS concurrent sessions (spread over PROCESSES processes, each
      running its share with asyncio) for SECONDS, ROUNDS rounds of the mix
      per login (default 1); prints one JSON object
  imap_bench_client.py cputime PID [self]
      user + system CPU seconds of the process tree under PID (of PID alone)

A session is what a mail client does when it checks a mailbox: connect
with TLS, LOGIN, then ROUNDS times: SELECT INBOX, FETCH the envelope fields
of the newest 50 messages, FETCH 3 whole messages (BODY[], which sets
\\Seen), STORE +FLAGS and -FLAGS (\\Flagged) on one message, APPEND a new
message, STORE \\Deleted on it and UID EXPUNGE it (so the mailbox keeps its
size); then LOGOUT.  Every command is one operation, timed from the first octet sent
to its tagged answer; the TLS handshake is part of the connect operation.
A session goes to user bench((i mod USERS) + 1); a tagged answer other
than OK is an error.
"""
import asyncio
import json
import multiprocessing
import os
import random
import re
import socket
import ssl
import sys
import time

OPS = ('connect', 'LOGIN', 'SELECT', 'FETCH headers', 'FETCH body', 'STORE', 'APPEND', 'UID EXPUNGE',
       'LOGOUT')


def message(n, size=2048):
    head = (f'From: Sender {n} <sender{n}@example.net>\r\n'
            f'To: Bench <bench@example.org>\r\n'
            f'Subject: benchmark message {n}\r\n'
            f'Date: Mon, 07 Dec 2026 12:00:00 +0000\r\n'
            f'Message-ID: <bench{n}.{os.getpid()}.{time.monotonic_ns()}@example.net>\r\n'
            f'MIME-Version: 1.0\r\n'
            f'Content-Type: text/plain; charset=us-ascii\r\n'
            f'\r\n').encode()
    line = b'The quick brown fox jumps over the lazy dog, again and again.\r\n'
    return head + line * max(1, (size - len(head)) // len(line))


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def wait(host, port, seconds):
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return 0
        except OSError:
            time.sleep(0.1)
    return 1


def context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False  # the servers are reached by address
    return ctx


class Session:
    """One IMAP connection over asyncio streams."""

    def __init__(self, reader, writer):
        self.r, self.w, self.n = reader, writer, 0

    @classmethod
    async def open(cls, host, port, ctx):
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx, limit=1 << 20)
        s = cls(reader, writer)
        line, _ = await s.response()
        if not line.startswith(b'* OK'):
            raise RuntimeError(f'greeting: {line!r}')
        return s

    async def response(self):
        """One response: (text, [literals])."""
        text, literals = b'', []
        while True:
            line = await self.r.readuntil(b'\r\n')
            text += line[:-2]
            m = re.search(rb'\{(\d+)\}$', line[:-2])
            if not m:
                return text, literals
            literals.append(await self.r.readexactly(int(m.group(1))))

    async def cmd(self, text, literal=None):
        """Sends a command (with a LITERAL+ literal at its end when given);
        returns (untagged responses, tagged text)."""
        self.n += 1
        tag = f'c{self.n}'.encode()
        data = tag + b' ' + text.encode()
        if literal is not None:
            data += b' {%d+}\r\n' % len(literal) + literal
        self.w.write(data + b'\r\n')
        untagged = []
        while True:
            resp = await self.response()
            if resp[0].startswith(tag + b' '):
                return untagged, resp[0][len(tag) + 1:]
            untagged.append(resp)

    def close(self):
        self.w.close()


async def checked(s, text, literal=None):
    untagged, tagged = await s.cmd(text, literal)
    # a message another session expunged meanwhile (RFC 9051 §7.1:
    # Dovecot says so when it cannot serve it; epistle skips it silently)
    if tagged.startswith(b'NO [EXPUNGEISSUED]') and text.startswith(('FETCH', 'STORE')):
        return untagged, tagged
    if not tagged.startswith(b'OK'):
        raise RuntimeError(f'{text.split()[0]}: {tagged!r}')
    return untagged, tagged


async def one_session(host, port, ctx, user, password, times, rng, rounds):
    t = time.perf_counter()
    s = await Session.open(host, port, ctx)
    times['connect'].append(time.perf_counter() - t)
    try:
        async def timed(op, text, literal=None):
            t0 = time.perf_counter()
            r = await checked(s, text, literal)
            times[op].append(time.perf_counter() - t0)
            return r

        await timed('LOGIN', f'LOGIN {user} "{password}"')
        for _ in range(rounds):
            untagged, _ = await timed('SELECT', 'SELECT INBOX')
            exists = 0
            for text, _ in untagged:
                m = re.match(rb'\* (\d+) EXISTS', text)
                if m:
                    exists = int(m.group(1))
            if exists == 0:
                raise RuntimeError('the INBOX is empty: seed it first')
            first = max(1, exists - 49)
            await timed('FETCH headers', f'FETCH {first}:{exists} (UID FLAGS RFC822.SIZE INTERNALDATE '
                                         'BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])')
            for _ in range(3):
                await timed('FETCH body', f'FETCH {rng.randint(1, exists)} BODY[]')
            n = rng.randint(1, exists)
            await timed('STORE', f'STORE {n} +FLAGS (\\Flagged)')
            await timed('STORE', f'STORE {n} -FLAGS (\\Flagged)')
            _, tagged = await timed('APPEND', 'APPEND INBOX (\\Seen)', message(rng.randint(1, 10 ** 9)))
            m = re.search(rb'\[APPENDUID \d+ (\d+)\]', tagged)
            if not m:
                raise RuntimeError(f'APPEND without APPENDUID: {tagged!r}')
            uid = m.group(1).decode()
            await timed('STORE', f'UID STORE {uid} +FLAGS.SILENT (\\Deleted)')
            await timed('UID EXPUNGE', f'UID EXPUNGE {uid}')
        await timed('LOGOUT', 'LOGOUT')
    finally:
        s.close()


async def load_worker(host, port, cafile, users, password, first, count, deadline, seed, rounds):
    ctx = context(cafile)
    times = {op: [] for op in OPS}
    errors = []
    sessions = 0
    rng = random.Random(seed)

    async def loop(i):
        nonlocal sessions
        user = f'bench{(i % users) + 1}'
        while time.monotonic() < deadline:
            try:
                await one_session(host, port, ctx, user, password, times, rng, rounds)
                sessions += 1
            except Exception as e:  # counted, reported, and the loop goes on
                errors.append(f'{type(e).__name__}: {e}'[:200])
                await asyncio.sleep(0.1)

    await asyncio.gather(*(loop(first + i) for i in range(count)))
    return {'times': times, 'errors': errors, 'sessions': sessions}


def load_process(args):
    return asyncio.run(load_worker(*args))


def load(host, port, cafile, users, password, sessions, seconds, processes=2, rounds=1):
    users, sessions, seconds, processes, rounds = int(users), int(sessions), float(seconds), int(processes), int(rounds)
    processes = max(1, min(processes, sessions))
    t0 = time.monotonic()
    deadline = t0 + seconds
    shares = [sessions // processes + (1 if i < sessions % processes else 0) for i in range(processes)]
    firsts = [sum(shares[:i]) for i in range(processes)]
    args = [(host, int(port), cafile, users, password, firsts[i], shares[i], deadline, i, rounds)
            for i in range(processes)]
    with multiprocessing.Pool(processes) as pool:
        results = pool.map(load_process, args)
    elapsed = time.monotonic() - t0
    times = {op: sorted(v for r in results for v in r['times'][op]) for op in OPS}
    every = sorted(v for op in OPS for v in times[op])
    errors = [e for r in results for e in r['errors']]
    ms = lambda v: None if v is None else round(v * 1000, 2)  # noqa: E731
    out = {
        'sessions': sum(r['sessions'] for r in results),
        'operations': len(every),
        'elapsed_s': round(elapsed, 2),
        'ops_per_s': round(len(every) / elapsed, 1),
        'sessions_per_s': round(sum(r['sessions'] for r in results) / elapsed, 2),
        'p50_ms': ms(percentile(every, 50)), 'p90_ms': ms(percentile(every, 90)),
        'p99_ms': ms(percentile(every, 99)), 'max_ms': ms(every[-1] if every else None),
        'per_op': {op: {'count': len(v), 'p50_ms': ms(percentile(v, 50)), 'p99_ms': ms(percentile(v, 99))}
                   for op, v in times.items()},
        'errors': len(errors),
        'first_errors': errors[:5],
    }
    print(json.dumps(out))
    return 0 if not errors else 1


async def seed_user(host, port, ctx, user, password, count):
    s = await Session.open(host, port, ctx)
    await checked(s, f'LOGIN {user} "{password}"')
    batch = 200
    for start in range(0, count, batch):
        tags = []
        for i in range(start, min(count, start + batch)):
            s.n += 1
            tag = f'c{s.n}'.encode()
            body = message(i + 1)
            flags = '(\\Seen) ' if i % 3 else ''
            s.w.write(tag + f' APPEND INBOX {flags}{{{len(body)}+}}\r\n'.encode() + body + b'\r\n')
            tags.append(tag)
        for tag in tags:
            while True:
                text, _ = await s.response()
                if text.startswith(tag + b' '):
                    if not text.startswith(tag + b' OK'):
                        raise RuntimeError(f'APPEND: {text!r}')
                    break
    await checked(s, 'LOGOUT')
    s.close()


def seed(host, port, cafile, users, password, messages):
    async def run():
        ctx = context(cafile)
        await asyncio.gather(*(seed_user(host, int(port), ctx, f'bench{u + 1}', password, int(messages))
                               for u in range(int(users))))
    asyncio.run(run())
    return 0


def cputime(pid, scope='tree'):
    """Sum over the living process tree of utime + stime + cutime + cstime
    (SCOPE "self": of PID alone, its threads included)."""
    parents, times = {}, {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(x) for x in fields[11:13 if scope == 'self' else 15])
    tree, grew = {int(pid)}, scope != 'self'
    while grew:
        grew = False
        for p, pp in parents.items():
            if pp in tree and p not in tree:
                tree.add(p)
                grew = True
    print(round(sum(times.get(p, 0) for p in tree) / os.sysconf('SC_CLK_TCK'), 2))
    return 0


def main(argv):
    cmds = {'wait': (wait, 3, 3), 'seed': (seed, 6, 6), 'load': (load, 7, 9), 'cputime': (cputime, 1, 2)}
    if len(argv) >= 2 and argv[1] in cmds:
        fn, lo, hi = cmds[argv[1]]
        if lo <= len(argv) - 2 <= hi:
            return fn(*argv[2:])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == '__main__':
    sys.exit(main(sys.argv))
