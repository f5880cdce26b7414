# SPDX-License-Identifier: GPL-2.0-or-later
"""The integration harness: starts the real `mail serve` on dynamic ports
with a temporary configuration and talks to it as a client would.

Run by `meson test --suite integration`, which sets EPISTLE_MAIL (the
binary), EPISTLE_MODULE_DIR and EPISTLE_TEST_MODULE_DIR.  When started as
root, the daemon switches to the unprivileged user `epistle` (created by
.ci/install-deps), so the temporary directories are made reachable by it.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

MAIL = os.environ.get('EPISTLE_MAIL')
MODULE_DIR = os.environ.get('EPISTLE_MODULE_DIR')
TEST_MODULE_DIR = os.environ.get('EPISTLE_TEST_MODULE_DIR')
BUILD_ROOT = os.environ.get('EPISTLE_BUILD_ROOT')
SOURCE_ROOT = os.environ.get('EPISTLE_SOURCE_ROOT')
SERVICE_USER = 'epistle'

if MAIL is None:
    raise RuntimeError('run the integration tests through `meson test`: EPISTLE_MAIL is not set')


def is_root():
    return os.geteuid() == 0


def free_port(host='127.0.0.1'):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def give_to_service_user(path):
    """As root, configuration files belong to the service user, so that the
    daemon can read them again on SIGHUP after dropping root."""
    if is_root():
        os.chown(path, pwd.getpwnam(SERVICE_USER).pw_uid, -1)


def toml_str(value):
    return '"' + value.replace('\\', '\\\\').replace('"', '\\"') + '"'


class Config:
    """A configuration directory: mail.toml (mode 600) and mail.conf.d/."""

    def __init__(self, root):
        self.root = root
        self.path = os.path.join(root, 'mail.toml')
        self.data_dir = os.path.join(root, 'data')
        self.dropin_dir = os.path.join(root, 'mail.conf.d')

    def write(self, text, mode=0o600):
        with open(self.path, 'w') as f:
            f.write(text)
        os.chmod(self.path, mode)
        give_to_service_user(self.path)

    def write_dropin(self, name, text, mode=0o600):
        os.makedirs(self.dropin_dir, exist_ok=True)
        path = os.path.join(self.dropin_dir, name)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, mode)
        give_to_service_user(path)
        return path

    def base(self, hostname='mail.example.org', domains=('example.org',), modules=None, extra=''):
        lines = [
            f'hostname = {toml_str(hostname)}',
            f'data_dir = {toml_str(self.data_dir)}',
            'domains = [' + ', '.join(toml_str(d) for d in domains) + ']',
        ]
        if modules is not None:
            lines.append('modules = [' + ', '.join(toml_str(m) for m in modules) + ']')
        if is_root():
            lines += ['', '[privileges]', f'user = {toml_str(SERVICE_USER)}']
        return '\n'.join(lines) + '\n' + extra


def run_mail(*args, env=None, module_dir=None, timeout=60, input=None):
    e = dict(os.environ)
    e['EPISTLE_MODULE_DIR'] = module_dir or MODULE_DIR
    e.setdefault('LC_ALL', 'C.UTF-8')
    if env:
        e.update(env)
    return subprocess.run([MAIL, *args], env=e, capture_output=True, text=True, timeout=timeout,
                          input=input)


class Daemon:
    """A running `mail serve`, ready when it has sent READY=1."""

    def __init__(self, config, module_dir, env=None):
        self.config = config
        self.module_dir = module_dir
        self.env = env or {}
        self.proc = None
        self.notify_path = os.path.join(config.root, 'notify.sock')
        self.notify = None
        self.stderr_path = os.path.join(config.root, 'serve.log')

    def start(self, timeout=30):
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        if is_root():
            # the daemon writes here after dropping root
            os.chown(self.notify_path, pwd.getpwnam(SERVICE_USER).pw_uid, -1)
        e = dict(os.environ)
        e.update({'EPISTLE_MODULE_DIR': self.module_dir, 'NOTIFY_SOCKET': self.notify_path,
                  'G_MESSAGES_DEBUG': 'all', 'LC_ALL': 'C.UTF-8'})
        e.update(self.env)
        self.stderr = open(self.stderr_path, 'w')
        self.proc = subprocess.Popen([MAIL, 'serve', '--config', self.config.path], env=e,
                                     stdout=self.stderr, stderr=subprocess.STDOUT)
        self.wait_state('READY=1', timeout)
        return self

    def states(self, timeout):
        """Yields every message sent to NOTIFY_SOCKET until timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.notify.settimeout(min(left, 0.2))
            try:
                msg = self.notify.recv(4096).decode()
            except socket.timeout:
                if self.proc.poll() is not None:
                    raise AssertionError(f'mail serve exited with {self.proc.returncode}:\n{self.log()}')
                continue
            yield msg

    def wait_state(self, state, timeout=30):
        for msg in self.states(timeout):
            if state in msg.split('\n'):
                return msg
        raise AssertionError(f'no {state} within {timeout}s; log:\n{self.log()}')

    def log(self):
        try:
            with open(self.stderr_path) as f:
                return f.read()
        except OSError:
            return ''

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f'mail serve did not stop on SIGTERM within {timeout}s:\n{self.log()}')

    def close(self):
        try:
            self.stop()
        finally:
            if self.notify:
                self.notify.close()
            if getattr(self, 'stderr', None):
                self.stderr.close()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix='epistle-it-')
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def config(workdir):
    return Config(workdir)


@pytest.fixture
def daemons():
    started = []

    def start(config, module_dir=None, env=None):
        d = Daemon(config, module_dir or MODULE_DIR, env)
        started.append(d)
        return d.start()

    yield start
    for d in started:
        d.close()
