# SPDX-License-Identifier: GPL-2.0-or-later
"""A mailbox of 10,000 messages fetched whole without the daemon's memory
growing with it (issue 8).

The mailbox is filled with pipelined APPENDs (LITERAL+, so no round trip
per message) over four raw TLS connections, then read entirely twice:
FETCH 1:* of flags, sizes and the Subject field, and UID FETCH 1:* of
every message's octets.  The daemon's resident set is read from
/proc/PID/status: its peak over the two fetches (VmHWM, reset before them
through /proc/PID/clear_refs when the kernel allows it, else sampled) must
stay within a bound that does not depend on the mailbox (16 MiB): 10,000
messages of ~4 KiB are ~40 MiB of octets, so a server that built the whole
answer, or kept every message it read, would exceed it.
"""
import re
import socket
import threading
import time

import pytest

from test_imap import srv, tmp_root, imaps, ok, HOSTNAME, PASSWORDS  # noqa: F401 (fixtures)
from test_imap import pytestmark  # noqa: F401 (the same skips)

COUNT = 10000
BATCH = 250
CONNECTIONS = 4
MAX_GROWTH = 16 * 1024 * 1024
ALL = set(range(1, COUNT + 1))
# ~4 KiB a message: the mailbox holds ~40 MiB, so that a server keeping
# what it sent (or building the whole answer) would exceed MAX_GROWTH
PADDING = b'abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n' * 52


def message(i):
    return (f'From: Sender <sender@example.net>\r\n'
            f'To: Alice <alice@example.org>\r\n'
            f'Subject: big {i:05d}\r\n'
            f'Date: Mon, 07 Dec 2026 12:00:00 +0000\r\n'
            f'Message-ID: <big{i}@example.net>\r\n'
            f'\r\n'
            f'message number {i} of the big mailbox\r\n').encode() + PADDING


class Conn:
    """One raw TLS connection, read through a buffered file; a response is
    (text with each literal replaced by its size, [literals])."""

    def __init__(self, d):
        sock = socket.create_connection(('127.0.0.1', d.imaps_port), timeout=60)
        self.sock = d.material.client_context().wrap_socket(sock, server_hostname=HOSTNAME)
        self.f = self.sock.makefile('rb', buffering=1 << 16)
        assert self.response()[0].startswith(b'* OK')

    def send(self, data):
        self.sock.sendall(data)

    def response(self):
        text, literals = b'', []
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError('connection closed')
            assert line.endswith(b'\r\n'), line
            text += line[:-2]
            m = re.search(rb'\{(\d+)\}$', line[:-2])
            if not m:
                return text, literals
            literals.append(self.f.read(int(m.group(1))))

    def close(self):
        self.sock.close()


def status_kib(pid, field):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise AssertionError(f'no {field} in /proc/{pid}/status')


def under_asan(pid):
    """Whether the daemon runs with AddressSanitizer's allocator."""
    with open(f'/proc/{pid}/maps') as f:
        return 'libasan' in f.read()


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux >= 4.0, as root)."""
    try:
        with open(f'/proc/{pid}/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        return False
    return status_kib(pid, 'VmHWM') <= status_kib(pid, 'VmRSS') + 1024


class PeakSampler:
    """Samples VmRSS every 20 ms when VmHWM cannot be reset."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, status_kib(self.pid, 'VmRSS'))
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def fill_range(d, mailbox, first, last, failures):
    """Appends messages FIRST..LAST over one connection, BATCH commands
    pipelined at a time."""
    try:
        c = Conn(d)
        c.send(f'L LOGIN alice "{PASSWORDS["alice"]}"\r\n'.encode())
        assert c.response()[0].startswith(b'L OK')
        for start in range(first, last + 1, BATCH):
            numbers = range(start, min(start + BATCH, last + 1))
            out = []
            for i in numbers:
                body = message(i)
                out.append(f'A{i} APPEND {mailbox} (\\Seen) {{{len(body)}+}}\r\n'.encode() + body + b'\r\n')
            c.send(b''.join(out))
            for i in numbers:
                text, _ = c.response()
                assert text.startswith(f'A{i} OK [APPENDUID '.encode()), text
        c.send(b'Z LOGOUT\r\n')
        c.close()
    except BaseException as e:  # reported by the caller
        failures.append(e)


def fill(d, mailbox):
    """COUNT messages over CONNECTIONS connections at once: one connection
    is served one APPEND after the other (each answered once committed),
    so the connections are what lets the store commit several at a time."""
    failures = []
    share = COUNT // CONNECTIONS
    threads = [threading.Thread(target=fill_range, args=(d, mailbox, k * share + 1,
                                                         COUNT if k == CONNECTIONS - 1 else (k + 1) * share,
                                                         failures))
               for k in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]


def number_of(subject_or_message):
    return int(re.search(rb'Subject: big (\d{5})\r\n', subject_or_message).group(1))


def fetch_headers(c, tag, numbers='1:*'):
    """FETCH 1:* of flags, size and Subject: checks every response; returns
    the message numbers seen (from the subjects)."""
    c.send(f'{tag} FETCH {numbers} (FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n'.encode())
    seq, seen = 0, set()
    while True:
        text, literals = c.response()
        if text.startswith(tag.encode() + b' '):
            assert text == f'{tag} OK FETCH completed'.encode(), text
            return seen
        seq += 1
        m = re.match(rb'\* (\d+) FETCH \(', text)
        assert m and int(m.group(1)) == seq, text
        assert b'FLAGS (\\Seen \\Recent)' in text, text  # the rev1 SELECT claimed every message
        assert len(literals) == 1, (text, literals)
        n = number_of(literals[0])
        assert literals[0] == f'Subject: big {n:05d}\r\n\r\n'.encode(), literals
        size = int(re.search(rb'RFC822\.SIZE (\d+)', text).group(1))
        assert size == len(message(n)), (n, text)
        seen.add(n)


def fetch_bodies(c, tag, numbers='1:*'):
    """UID FETCH 1:* BODY.PEEK[]: every message's octets, exact; returns
    the message numbers seen."""
    c.send(f'{tag} UID FETCH {numbers} BODY.PEEK[]\r\n'.encode())
    seq, seen = 0, set()
    while True:
        text, literals = c.response()
        if text.startswith(tag.encode() + b' '):
            assert text == f'{tag} OK UID FETCH completed'.encode(), text
            return seen
        seq += 1
        assert re.match(rb'\* %d FETCH \(' % seq, text), text
        assert len(literals) == 1, (text, literals)
        n = number_of(literals[0])
        assert literals[0] == message(n), (n, literals)
        seen.add(n)


def test_ten_thousand_messages_fetched_in_bounded_memory(srv):
    pid = srv.proc.pid
    mailbox = 'Big'
    m = imaps(srv)
    ok(m.create(mailbox))
    m.logout()
    t0 = time.monotonic()
    fill(srv, mailbox)
    fill_s = time.monotonic() - t0

    c = Conn(srv)
    c.send(f'L LOGIN alice "{PASSWORDS["alice"]}"\r\n'.encode())
    assert c.response()[0].startswith(b'L OK')
    c.send(f'S SELECT {mailbox}\r\n'.encode())
    lines = []
    while True:
        text, _ = c.response()
        lines.append(text)
        if text.startswith(b'S '):
            break
    assert f'* {COUNT} EXISTS'.encode() in lines, lines
    assert lines[-1].startswith(b'S OK [READ-WRITE]'), lines

    # warm-up: the same two fetches over a fifth of the mailbox, so that
    # what is allocated once (pools, caches, the TLS and PostgreSQL buffers)
    # is there before the measurement
    assert len(fetch_headers(c, 'W1', f'1:{COUNT // 5}')) == COUNT // 5
    assert len(fetch_bodies(c, 'W2', f'1:{COUNT // 5}')) == COUNT // 5
    before = status_kib(pid, 'VmRSS')
    t1 = time.monotonic()
    if reset_peak(pid):
        assert fetch_headers(c, 'H') == ALL
        assert fetch_bodies(c, 'B') == ALL
        peak = status_kib(pid, 'VmHWM')
    else:
        with PeakSampler(pid) as sampler:
            assert fetch_headers(c, 'H') == ALL
            assert fetch_bodies(c, 'B') == ALL
        peak = sampler.peak
    fetch_s = time.monotonic() - t1
    after = status_kib(pid, 'VmRSS')
    c.send(b'Z LOGOUT\r\n')
    c.close()
    print(f'fill {fill_s:.1f} s, fetches {fetch_s:.1f} s; RSS before {before} KiB, '
          f'peak {peak} KiB, after {after} KiB')
    if under_asan(pid):
        # AddressSanitizer keeps freed blocks in its quarantine (256 MiB by
        # default) instead of reusing them, so the resident set grows with
        # what was freed: the bound says nothing there.  The fetches above
        # were still checked message by message.
        pytest.skip(f'RSS bound not checked under AddressSanitizer (quarantine): '
                    f'before {before} KiB, peak {peak} KiB, after {after} KiB')
    assert (peak - before) * 1024 < MAX_GROWTH, (before, peak, after)
    assert (after - before) * 1024 < MAX_GROWTH, (before, peak, after)
