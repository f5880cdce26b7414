# SPDX-License-Identifier: GPL-2.0-or-later
"""`mail serve`: lifecycle, privileges, reload, and the buses driven from a
real client connection through the test-bus module."""
import os
import signal
import socket
import time

import pytest

from conftest import SERVICE_USER, TEST_MODULE_DIR, free_port, is_root, run_mail


class LineClient:
    def __init__(self, port, host='127.0.0.1'):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = b''
        assert self.readline() == 'READY test-bus'

    def readline(self):
        while b'\r\n' not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError('connection closed')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line.decode()

    def ask(self, line):
        self.sock.sendall(line.encode() + b'\r\n')
        return self.readline()

    def close(self):
        self.sock.close()


def bus_config(config, port, greeting='hello', deadline_ms=300, extra=''):
    return config.base(modules=['test-bus']) + f'''
[[listeners]]
kind = "test-bus"
port = {port}

[test-bus]
greeting = "{greeting}"
deadline_ms = {deadline_ms}
''' + extra


@pytest.fixture
def bus(config, daemons):
    port = free_port()
    config.write(bus_config(config, port))
    d = daemons(config, module_dir=TEST_MODULE_DIR)
    d.port = port
    return d


def proc_ids(pid):
    ids = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(('Uid:', 'Gid:')):
                ids[line[:3]] = [int(x) for x in line.split()[1:4]]
    return ids


def test_ready_and_stop(bus):
    c = LineClient(bus.port)
    assert c.ask('GREETING') == 'hello'
    c.close()
    assert bus.stop() == 0
    log = bus.log()
    assert 'ready as user' in log
    assert 'stopped' in log


@pytest.mark.skipif(not is_root(), reason='privilege drop needs the tests to run as root')
def test_privileges_dropped(bus, config):
    import pwd
    pw = pwd.getpwnam(SERVICE_USER)
    ids = proc_ids(bus.proc.pid)
    assert ids['Uid'] == [pw.pw_uid] * 3
    assert ids['Gid'] == [pw.pw_gid] * 3
    # data_dir was created and given to the service user
    st = os.stat(config.data_dir)
    assert st.st_uid == pw.pw_uid


def test_hook_chain_order_and_verdicts(bus):
    c = LineClient(bus.port)
    # async (-5) runs before sync (10) before decider (20), whatever the registration order
    assert c.ask('RESOLVE bob@example.org') == 'accept 0 - test-bus order=async,sync,decider account=bob'
    assert c.ask('RESOLVE reject@example.org') == \
        'reject 550 5.1.1 test-bus order=async,sync,decider account=-'
    c.close()


def test_hook_deadline_is_tempfail(bus):
    c = LineClient(bus.port)
    start = time.monotonic()
    answer = c.ask('RESOLVE slow@example.org')
    elapsed = time.monotonic() - start
    assert answer == 'tempfail 451 4.3.0 test-bus order=async,sync,decider account=-'
    assert 0.25 <= elapsed < 5
    # the late answer arriving after the deadline harms nothing
    time.sleep(0.7)
    assert c.ask('RESOLVE bob@example.org').startswith('accept')
    c.close()
    assert 'did not answer' in bus.log() or 'deadline' in bus.log()


def test_handler_failing_without_error(bus):
    c = LineClient(bus.port)
    assert c.ask('RESOLVE fail@example.org') == 'tempfail 451 4.3.0 test-bus order=async,sync,decider account=-'
    assert c.ask('GREETING') == 'hello'
    c.close()
    assert bus.proc.poll() is None
    assert 'test-bus' in bus.log()


def test_reload_applies_config_and_emits_event(bus, config):
    c = LineClient(bus.port)
    assert c.ask('EVENTS') == 'EVENTS 0 -'
    config.write(bus_config(config, bus.port, greeting='bonjour'))
    bus.signal(signal.SIGHUP)
    bus.wait_state('RELOADING=1')
    bus.wait_state('READY=1')
    assert c.ask('GREETING') == 'bonjour'
    assert c.ask('EVENTS') == f'EVENTS 1 {config.path}'
    c.close()


def test_bad_reload_keeps_running_config(bus, config):
    c = LineClient(bus.port)
    config.write(bus_config(config, bus.port, greeting='x' * 100))
    bus.signal(signal.SIGHUP)
    bus.wait_state('READY=1')
    assert c.ask('GREETING') == 'hello'
    assert c.ask('EVENTS') == 'EVENTS 0 -'
    assert 'reload refused, keeping the running configuration' in bus.log()
    assert 'test-bus.greeting: must be at most 64 characters' in bus.log()
    c.close()
    # a new connection still works
    c = LineClient(bus.port)
    assert c.ask('GREETING') == 'hello'
    c.close()


def test_reload_adds_and_removes_listeners(bus, config):
    port2 = free_port()
    config.write(bus_config(config, port2))
    bus.signal(signal.SIGHUP)
    bus.wait_state('READY=1')
    c = LineClient(port2)
    assert c.ask('GREETING') == 'hello'
    c.close()
    with pytest.raises(OSError):
        socket.create_connection(('127.0.0.1', bus.port), timeout=2).close()


def test_reload_changing_modules_refused(bus, config):
    config.write(bus_config(config, bus.port).replace('modules = ["test-bus"]',
                                                      'modules = ["test-bus", "test-provider"]'))
    bus.signal(signal.SIGHUP)
    bus.wait_state('READY=1')
    assert 'the set of modules changed' in bus.log()
    c = LineClient(bus.port)
    assert c.ask('GREETING') == 'hello'
    c.close()


def test_stop_drains_open_sessions(bus):
    c = LineClient(bus.port)
    bus.signal(signal.SIGTERM)
    bus.wait_state('STOPPING=1')
    # no new connections once stopping
    time.sleep(0.2)
    with pytest.raises(OSError):
        socket.create_connection(('127.0.0.1', bus.port), timeout=2).close()
    # the open session is still served until it ends
    assert c.ask('GREETING') == 'hello'
    assert c.ask('QUIT') == 'BYE'
    c.close()
    assert bus.proc.wait(10) == 0


def test_port_in_use_refused(config, workdir):
    blocker = socket.socket()
    blocker.bind(('127.0.0.1', 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        config.write(bus_config(config, port))
        r = run_mail('serve', '--config', config.path, module_dir=TEST_MODULE_DIR, timeout=30)
        assert r.returncode == 69, r.stderr
        assert f'cannot listen on 127.0.0.1 port {port}' in r.stderr
    finally:
        blocker.close()


@pytest.mark.skipif(not is_root(), reason='only root can be refused for having no service user')
def test_root_without_user_refused(config):
    port = free_port()
    text = bus_config(config, port).replace(f'[privileges]\nuser = "{SERVICE_USER}"', '[privileges]\nuser = "no-such-user-x"')
    config.write(text)
    r = run_mail('serve', '--config', config.path, module_dir=TEST_MODULE_DIR, timeout=30)
    assert r.returncode == 78
    assert "[privileges] user 'no-such-user-x' does not exist" in r.stderr
