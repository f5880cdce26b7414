# SPDX-License-Identifier: GPL-2.0-or-later
"""Test TLS material made with GnuTLS's `certtool`: a private CA, server
certificates signed by it (with subjectAltNames), and the broken material
the daemon must refuse (expired, not yet valid, a key that belongs to
another certificate, a file that is not PEM).

Keys are ECDSA P-256: quick to make, and every TLS stack here speaks it."""
import os
import shutil
import subprocess

from conftest import give_to_service_user

CERTTOOL = shutil.which('certtool')


def have_certtool():
    return CERTTOOL is not None


def _certtool(*args, cwd):
    r = subprocess.run([CERTTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f'certtool {" ".join(args)} failed:\n{r.stderr}')


def _template(path, lines):
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


class TestCA:
    """A CA in DIR: ca.pem (certificate) and ca.key (its key)."""
    __test__ = False  # not a pytest class

    def __init__(self, directory, cn='epistle test CA'):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.key = os.path.join(directory, 'ca.key')
        self.cert = os.path.join(directory, 'ca.pem')
        new_key(self.key)
        tmpl = os.path.join(directory, 'ca.tmpl')
        _template(tmpl, [f'cn = "{cn}"', 'ca', 'cert_signing_key', 'crl_signing_key',
                         'expiration_days = 30'])
        _certtool('--generate-self-signed', '--load-privkey', self.key, '--template', tmpl,
                  '--outfile', self.cert, '--no-text', cwd=directory)

    def issue(self, name, cn, dns_names=(), ip_addresses=(), key=None, activation=None, expiration=None):
        """Signs a server certificate NAME.pem for key NAME.key (made unless
        given).  activation / expiration: 'YYYY-MM-DD HH:MM:SS UTC' strings
        for certificates outside their validity; else valid for 30 days
        from yesterday (certtool's default start is now).
        Returns (cert_path, key_path)."""
        cert = os.path.join(self.dir, f'{name}.pem')
        if key is None:
            key = os.path.join(self.dir, f'{name}.key')
            new_key(key)
        lines = [f'cn = "{cn}"', 'tls_www_server', 'signing_key']
        lines += [f'dns_name = "{d}"' for d in dns_names]
        lines += [f'ip_address = "{a}"' for a in ip_addresses]
        if activation:
            lines.append(f'activation_date = "{activation}"')
        if expiration:
            lines.append(f'expiration_date = "{expiration}"')
        else:
            lines.append('expiration_days = 30')
        tmpl = os.path.join(self.dir, f'{name}.tmpl')
        _template(tmpl, lines)
        _certtool('--generate-certificate', '--load-privkey', key, '--load-ca-certificate', self.cert,
                  '--load-ca-privkey', self.key, '--template', tmpl, '--outfile', cert, '--no-text',
                  cwd=self.dir)
        for p in (cert, key):
            os.chmod(p, 0o600)
            give_to_service_user(p)
        return cert, key


def new_key(path):
    _certtool('--generate-privkey', '--key-type=ecdsa', '--curve=secp256r1', '--outfile', path, '--no-text',
              cwd=os.path.dirname(path))
    os.chmod(path, 0o600)
    give_to_service_user(path)


class TestMaterial:
    """Everything the SMTP tests need, in DIR:

    ca            the CA (ca.pem is what clients trust)
    server        mail.example.org (SAN mail.example.org, localhost, 127.0.0.1): the default [tls] one
    sni           mx.example.net (SAN mx.example.net, smtp.example.net): a [[tls.sni]] one
    expired       mail.example.org, valid 2020-01-01 to 2021-01-01
    future        mail.example.org, valid from 2090 on
    mismatch_key  a key that belongs to no certificate (pair it with server's cert)
    garbage       a file that is not PEM
    """
    __test__ = False

    SERVER_NAMES = ('mail.example.org', 'localhost')
    SNI_NAMES = ('mx.example.net', 'smtp.example.net')

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)
        self.dir = directory
        self.ca = TestCA(os.path.join(directory, 'ca'))
        os.chmod(self.ca.dir, 0o755)
        self.server = self.ca.issue('server', 'mail.example.org', self.SERVER_NAMES, ('127.0.0.1',))
        self.sni = self.ca.issue('sni', 'mx.example.net', self.SNI_NAMES)
        self.expired = self.ca.issue('expired', 'mail.example.org', ('mail.example.org',),
                                     activation='2020-01-01 00:00:00 UTC', expiration='2021-01-01 00:00:00 UTC')
        self.future = self.ca.issue('future', 'mail.example.org', ('mail.example.org',),
                                    activation='2090-01-01 00:00:00 UTC', expiration='2091-01-01 00:00:00 UTC')
        self.mismatch_key = os.path.join(self.ca.dir, 'mismatch.key')
        new_key(self.mismatch_key)
        self.garbage = os.path.join(self.ca.dir, 'garbage.pem')
        with open(self.garbage, 'w') as f:
            f.write('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n')
        os.chmod(self.garbage, 0o600)
        give_to_service_user(self.garbage)

    @property
    def ca_file(self):
        return self.ca.cert

    def tls_section(self, cert=None, key=None, sni=True):
        """[tls] with the default certificate and (unless sni=False) the SNI one."""
        cert = cert or self.server[0]
        key = key or self.server[1]
        text = f'\n[tls]\ncert_file = "{cert}"\nkey_file = "{key}"\n'
        if sni:
            names = ', '.join(f'"{n}"' for n in self.SNI_NAMES)
            text += f'\n[[tls.sni]]\nnames = [{names}]\ncert_file = "{self.sni[0]}"\nkey_file = "{self.sni[1]}"\n'
        return text

    def client_context(self):
        """A client context that trusts the test CA only and checks names."""
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca_file)
        return ctx
