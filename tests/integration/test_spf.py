# SPDX-License-Identifier: GPL-2.0-or-later
"""The spf module as a sending server sees it: smtplib clients bound to
different loopback addresses (127.0.0.9 is the one the test domains allow)
deliver to a daemon whose resolver is a loopback unbound serving:

  pass.test      "v=spf1 ip4:127.0.0.9 -all exp=why.pass.test"
  why.pass.test  "%{i} is not one of the senders of %{d}"
  soft.test      "v=spf1 ip4:127.0.0.9 ~all"
  temp.test      "v=spf1 include:spf.broken.example -all"   broken.example answers SERVFAIL
  helo.test      "v=spf1 a -all", A 127.0.0.9 (a HELO name)
  none.test      no SPF record

Two daemons: the default configuration (reject_fail = true) and one with
reject_fail = false.  The smtp module writes the results as the
Authentication-Results field of the stored message.
"""
import os
import re
import smtplib
import socket
import struct
import threading

import pytest

from conftest import MODULE_DIR, Daemon, free_port
from test_queue import UNBOUND, Unbound
from test_smtp import HOSTNAME, accounts, listener, new_config, new_marker, make_message, stored_with, \
    tmp_root, password_hash  # noqa: F401  (fixtures)

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, 'spf.so')), reason='the spf module was not built'),
    pytest.mark.skipif(not os.path.exists(os.path.join(MODULE_DIR, 'smtp.so')), reason='the smtp module was not built'),
    pytest.mark.skipif(UNBOUND is None, reason='unbound (Debian package unbound) is not installed'),
]

GOOD = '127.0.0.9'
BAD = '127.0.0.10'


class ServfailServer:
    """A DNS server on loopback UDP that answers every query SERVFAIL."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(data) < 12:
                continue
            qid, flags = struct.unpack('!HH', data[:4])
            # QR, the opcode and RD of the query, RA, RCODE 2; the question echoed
            reply_flags = 0x8000 | (flags & 0x7900) | 0x0080 | 2
            self.sock.sendto(struct.pack('!HHHHHH', qid, reply_flags, 1, 0, 0, 0) + data[12:], peer)

    def close(self):
        self.sock.close()


def zone(servfail_port):
    return f'''
local-zone: "test." static
local-data: 'pass.test. 300 IN TXT "v=spf1 ip4:{GOOD} -all exp=why.pass.test"'
local-data: 'why.pass.test. 300 IN TXT "%{{i}} is not one of the senders of %{{d}}"'
local-data: 'soft.test. 300 IN TXT "v=spf1 ip4:{GOOD} ~all"'
local-data: 'temp.test. 300 IN TXT "v=spf1 include:spf.broken.example -all"'
local-data: 'helo.test. 300 IN TXT "v=spf1 a -all"'
local-data: "helo.test. 300 IN A {GOOD}"
local-data: 'none.test. 300 IN TXT "some other text"'
forward-zone:
  name: "broken.example."
  forward-addr: 127.0.0.1@{servfail_port}
'''


@pytest.fixture(scope='module')
def dns(tmp_root):  # noqa: F811
    servfail = ServfailServer()
    u = Unbound(tmp_root, extra_zone=zone(servfail.port))
    yield u
    u.close()
    servfail.close()


def spf_daemon(root, name, dns, password_hash, spf_section=''):  # noqa: F811
    config = new_config(root, name)
    port = free_port()
    config.write(config.base(modules=['store-pg', 'smtp', 'spf']) + accounts(password_hash) + listener('smtp', port)
                 + f'\n[dns]\nnameservers = ["127.0.0.1@{dns.port}"]\ndnssec = false\n' + spf_section)
    d = Daemon(config, MODULE_DIR, env={'G_MESSAGES_DEBUG': 'all'})
    try:
        d.start()
    except BaseException:
        d.close()
        raise
    d.port = port
    return d


@pytest.fixture(scope='module')
def mx(tmp_root, dns, password_hash):  # noqa: F811
    d = spf_daemon(tmp_root, 'spf-default', dns, password_hash)
    yield d
    d.close()


@pytest.fixture(scope='module')
def lenient(tmp_root, dns, password_hash):  # noqa: F811
    d = spf_daemon(tmp_root, 'spf-lenient', dns, password_hash, '\n[spf]\nreject_fail = false\ntimeout = 5\n')
    yield d
    d.close()


def client(d, source, helo='client.example.net'):
    return smtplib.SMTP('127.0.0.1', d.port, local_hostname=helo, timeout=30, source_address=(source, 0))


def deliver(d, source, mail_from, helo='client.example.net'):
    """Sends a message; returns its Authentication-Results field (unfolded)."""
    marker = new_marker('spf')
    with client(d, source, helo) as s:
        s.sendmail(mail_from, ['alice@example.org'], make_message(marker))
    found = stored_with(d.config, 'alice', marker)
    assert len(found) == 1
    header = found[0].split(b'\n\n', 1)[0].decode()
    fields = re.findall(r'^Authentication-Results:(.*(?:\n[ \t].*)*)', header, re.M)
    assert len(fields) == 1, header
    return ' '.join(fields[0].split())


def mail_from_reply(d, source, mail_from, helo='client.example.net'):
    with client(d, source, helo) as s:
        s.ehlo()
        code, text = s.mail(mail_from)
        s.rset()
        return code, text.decode()


def test_pass(mx):
    ar = deliver(mx, GOOD, 'someone@pass.test')
    assert ar.startswith(f'{HOSTNAME};'), ar
    assert re.search(r'\bspf=pass\b', ar), ar
    assert 'smtp.mailfrom=someone@pass.test' in ar, ar
    # the HELO name was checked too (it has no record)
    assert 'smtp.helo=client.example.net' in ar, ar


def test_fail_refused_with_explanation(mx):
    code, text = mail_from_reply(mx, BAD, 'someone@pass.test')
    assert code == 550, text
    assert text.startswith('5.7.23 '), text
    assert '127.0.0.10 is not one of the senders of pass.test' in text, text


def test_fail_without_explanation_names_domain(mx):
    code, text = mail_from_reply(mx, BAD, '', helo='helo.test')
    assert code == 550, text
    assert text.startswith('5.7.23 ') and 'helo.test' in text, text


def test_softfail_accepted(mx):
    ar = deliver(mx, BAD, 'someone@soft.test')
    assert re.search(r'\bspf=softfail\b', ar), ar
    assert 'smtp.mailfrom=someone@soft.test' in ar, ar


def test_temperror_asks_to_retry(mx):
    code, text = mail_from_reply(mx, GOOD, 'someone@temp.test')
    assert code == 451, text
    assert text.startswith('4.4.3 '), text


def test_none(mx):
    ar = deliver(mx, GOOD, 'someone@none.test')
    assert re.search(r'\bspf=none\b', ar), ar


def test_null_sender_checks_helo(mx):
    ar = deliver(mx, GOOD, '', helo='helo.test')
    assert re.search(r'\bspf=pass\b', ar), ar
    assert 'smtp.helo=helo.test' in ar, ar
    assert 'smtp.mailfrom' not in ar, ar


def test_trace_logged_with_session(mx):
    deliver(mx, GOOD, 'traced@pass.test')
    log = mx.log()
    lines = [line for line in log.splitlines() if 'traced@pass.test' in line]
    assert any('ip4:127.0.0.9' in line or 'match' in line for line in lines), log[-3000:]


def test_reject_fail_false_records_fail(lenient):
    ar = deliver(lenient, BAD, 'someone@pass.test')
    assert re.search(r'\bspf=fail\b', ar), ar
    assert 'smtp.mailfrom=someone@pass.test' in ar, ar
    # a temperror still asks to retry
    code, text = mail_from_reply(lenient, GOOD, 'someone@temp.test')
    assert code == 451 and text.startswith('4.4.3 '), text
