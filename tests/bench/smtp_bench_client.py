#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Helper of smtp-bench.sh.

  smtp_bench_client.py wait HOST PORT SECONDS
      until the server greets with 220 (exit 1 if it never does)
  smtp_bench_client.py latency HOST PORT THREADS PER_THREAD SIZE RCPT
      THREADS sessions in parallel, each sending PER_THREAD messages of
      about SIZE octets (one transaction per message, MAIL FROM to the
      250 after the final dot timed); prints one line of JSON with the
      latency percentiles in milliseconds and the wall-clock time.
  smtp_bench_client.py cputime PID
      CPU seconds (user + system) used so far by PID and every process
      under it, the exited ones included once their parent reaped them
"""
import json
import os
import smtplib
import socket
import sys
import threading
import time


def wait(host, port, seconds):
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=2) as s:
                s.settimeout(5)
                if s.recv(512).startswith(b'220'):
                    s.sendall(b'QUIT\r\n')
                    return 0
        except OSError:
            pass
        time.sleep(0.1)
    return 1


def message(n, size):
    head = (f'From: Bench <sender@example.net>\r\nTo: <alice@example.org>\r\n'
            f'Subject: latency bench {n}\r\nMessage-ID: <bench-{n}-{time.time_ns()}@example.net>\r\n\r\n').encode()
    line = b'x' * 78 + b'\r\n'
    return head + line * max(1, (size - len(head)) // len(line))


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def latency(host, port, threads, per_thread, size, rcpt):
    threads, per_thread, size = int(threads), int(per_thread), int(size)
    times = []
    errors = []
    lock = threading.Lock()
    start_gate = threading.Barrier(threads + 1)

    def worker(t):
        mine = []
        try:
            s = smtplib.SMTP(host, int(port), local_hostname='bench.example.net', timeout=60)
            s.ehlo()
            start_gate.wait()
            for i in range(per_thread):
                msg = message(t * per_thread + i, size)
                t0 = time.perf_counter()
                refused = s.sendmail('sender@example.net', [rcpt], msg)
                mine.append(time.perf_counter() - t0)
                if refused:
                    raise RuntimeError(f'refused: {refused}')
            s.quit()
        except Exception as e:  # reported, not hidden
            with lock:
                errors.append(f'thread {t}: {e!r}')
            try:
                start_gate.abort()
            except threading.BrokenBarrierError:
                pass
        with lock:
            times.extend(mine)

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    try:
        start_gate.wait()
    except threading.BrokenBarrierError:
        pass
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    times.sort()
    ms = lambda v: None if v is None else round(v * 1000, 2)
    print(json.dumps({'sent': len(times), 'errors': errors, 'elapsed_s': round(elapsed, 3),
                      'p50_ms': ms(percentile(times, 50)), 'p90_ms': ms(percentile(times, 90)),
                      'p99_ms': ms(percentile(times, 99)), 'max_ms': ms(times[-1] if times else None)}))
    return 0 if not errors and len(times) == threads * per_thread else 1


def cputime(pid):
    """Sum over the living process tree of utime + stime + cutime + cstime:
    a process that exited is counted once, in the parent that reaped it."""
    parents = {}
    times = {}
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
        times[int(entry)] = sum(int(x) for x in fields[11:15])
    tree = {int(pid)}
    grew = True
    while grew:
        grew = False
        for p, pp in parents.items():
            if pp in tree and p not in tree:
                tree.add(p)
                grew = True
    print(round(sum(times.get(p, 0) for p in tree) / os.sysconf('SC_CLK_TCK'), 2))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == 'wait' and len(argv) == 5:
        return wait(*argv[2:])
    if len(argv) >= 2 and argv[1] == 'latency' and len(argv) == 8:
        return latency(*argv[2:])
    if len(argv) == 3 and argv[1] == 'cputime':
        return cputime(argv[2])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == '__main__':
    sys.exit(main(sys.argv))
