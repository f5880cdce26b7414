#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Authentication benchmark (docs/benchmarks.md, "Authentication").

    tests/bench/auth-bench.py BUILD_DIR [LOGINS] [SAMPLES]

Runs `mail serve` (embedded PostgreSQL, store-pg, auth-sql, smtp) with a
`submissions` listener (implicit TLS, a throwaway certificate made with
certtool) and the default argon2id parameters of `mail token-hash`, then:

1. login rate: 10 threads, LOGINS logins in all; each is a new TLS
   connection, EHLO, AUTH PLAIN with the right password, QUIT.  Reported:
   logins/s, and the time of the AUTH exchange alone (p50, p99).
2. timing of failures: SAMPLES attempts with an unknown user and SAMPLES
   with a known user and a wrong password, interleaved, one at a time, each
   on a new connection; the time from sending AUTH to the 535.  Reported:
   the medians and their ratio (the goal: within 5 %).

The brute-force guard is configured not to delay or ban here
(delay_base_ms = 0, bans after 10^5 failures), so that what is timed is the
credential check itself.  Run as root (the daemon switches to `epistle`).
"""
import base64
import os
import shutil
import signal
import smtplib
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PASSWORD = 'correct horse battery staple 42'


def main():
    build = os.path.realpath(sys.argv[1])
    logins = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    samples = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    mail = os.path.join(build, 'daemon', 'mail')
    env = dict(os.environ, EPISTLE_MODULE_DIR=os.path.join(build, 'modules'))
    tmp = tempfile.mkdtemp(prefix='auth-bench-')
    os.chmod(tmp, 0o755)
    proc = None
    try:
        key, cert = os.path.join(tmp, 'key.pem'), os.path.join(tmp, 'cert.pem')
        subprocess.run(['certtool', '--generate-privkey', '--key-type', 'ecdsa', '--outfile', key],
                       check=True, capture_output=True)
        tpl = os.path.join(tmp, 'cert.cfg')
        with open(tpl, 'w') as f:
            f.write('cn = mail.example.org\ndns_name = mail.example.org\nexpiration_days = 2\n'
                    'tls_www_server\nsigning_key\nencryption_key\n')
        subprocess.run(['certtool', '--generate-self-signed', '--load-privkey', key, '--template', tpl,
                        '--outfile', cert], check=True, capture_output=True)
        hashed = subprocess.run([mail, 'token-hash'], input=PASSWORD + '\n', capture_output=True, text=True,
                                env=env, check=True).stdout.strip()
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        conf = os.path.join(tmp, 'mail.toml')
        with open(conf, 'w') as f:
            f.write(f'''hostname = "mail.example.org"
data_dir = "{tmp}/data"
domains = ["example.org"]
modules = ["store-pg", "auth-sql", "smtp"]

[[accounts]]
name = "alice"
addresses = ["alice@example.org"]
password_hash = "{hashed}"

[[listeners]]
kind = "submissions"
addr = "127.0.0.1"
port = {port}

[tls]
cert_file = "{cert}"
key_file = "{key}"

[auth-sql]
delay_base_ms = 0
delay_max_ms = 0
ban_after_ip = 100000
ban_after_user = 100000

[smtp]
max_connections_per_ip = 100
''')
        os.chmod(conf, 0o600)
        if os.geteuid() == 0:
            for p in (conf, key, cert):
                shutil.chown(p, 'epistle')
        proc = subprocess.Popen([mail, 'serve', '--config', conf], env=env, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(tmp, 'log'), 'a'))
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False  # the certificate names mail.example.org; we connect to 127.0.0.1
        deadline = time.monotonic() + 90
        while ' ready as user ' not in open(os.path.join(tmp, 'log')).read():
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.stderr.write(open(os.path.join(tmp, 'log')).read()[-3000:])
                raise SystemExit('auth-bench: the daemon did not come up')
            time.sleep(0.2)

        def attempt(user, password):
            """One AUTH PLAIN on a new connection: (ok, seconds of the AUTH exchange)."""
            with smtplib.SMTP_SSL('127.0.0.1', port, context=ctx, timeout=30) as c:
                c.ehlo('bench.example.net')
                blob = base64.b64encode(b'\0' + user.encode() + b'\0' + password.encode()).decode()
                start = time.perf_counter()
                code, _ = c.docmd('AUTH', 'PLAIN ' + blob)
                took = time.perf_counter() - start
                return code, took

        # 1. login rate
        times, codes, lock = [], [], threading.Lock()
        per = [logins // 10 + (1 if i < logins % 10 else 0) for i in range(10)]

        def worker(n):
            for _ in range(n):
                code, took = attempt('alice', PASSWORD)
                with lock:
                    codes.append(code)
                    times.append(took)

        start = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(n,)) for n in per]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        ok = sum(1 for c in codes if c == 235)
        times.sort()
        print(f'logins: {ok}/{len(codes)} succeeded in {wall:.2f} s = {ok / wall:.1f} logins/s (10 clients); '
              f'AUTH exchange p50 {times[len(times) // 2] * 1000:.1f} ms, '
              f'p99 {times[min(len(times) - 1, int(len(times) * 0.99))] * 1000:.1f} ms')
        if ok != len(codes):
            with open(os.path.join(tmp, 'log')) as f:
                sys.stderr.write(f.read()[-2000:])
            sys.stderr.write(open(os.path.join(tmp, 'log')).read()[:3000])
            raise SystemExit(f'auth-bench: some logins failed: {sorted(set(codes))}')

        # 2. unknown user against wrong password
        unknown, wrong = [], []
        for i in range(samples):
            for kind in (('nobody%d' % i, PASSWORD, unknown), ('alice', 'wrong password %d' % i, wrong)):
                code, took = attempt(kind[0], kind[1])
                if code != 535:
                    raise SystemExit(f'auth-bench: expected 535 for {kind[0]}, got {code}')
                kind[2].append(took)
        mu, mw = statistics.median(unknown), statistics.median(wrong)
        print(f'failures: unknown user median {mu * 1000:.2f} ms, wrong password median {mw * 1000:.2f} ms, '
              f'difference {abs(mu - mw) / max(mu, mw) * 100:.1f} % ({samples} samples each)')
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not os.environ.get('AUTH_BENCH_KEEP'):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
