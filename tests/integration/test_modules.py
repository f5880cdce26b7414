# SPDX-License-Identifier: GPL-2.0-or-later
"""The module loader through the `mail` command, and a module built out of
tree against the installed epistle-1.pc, as a distribution would build one."""
import os
import shutil
import subprocess
import textwrap

import pytest

from conftest import BUILD_ROOT, TEST_MODULE_DIR, free_port, run_mail

BAD_DIR = os.path.join(TEST_MODULE_DIR, 'bad')


def write_min(config, modules=None, extra=''):
    config.write(config.base(modules=modules, extra=extra))


@pytest.mark.parametrize('name,expect', [
    ('test-bad-abi', 'test-bad-abi.so: the module was built for module ABI 1005 but this daemon has ABI 7'),
    ('test-needs-missing', "requires 'service:test-nonexistent', which no loaded module provides"),
    ('test-wrong-name', "calls itself 'test-something-else'"),
    ('test-no-descriptor', 'not an epistle module'),
    ('no-such-module', "unknown module 'no-such-module'"),
    ('../evil', "module name '../evil' must not contain '/'"),
])
def test_bad_modules_refused(config, name, expect):
    write_min(config, modules=[name])
    for verb in ('config-check', 'serve'):
        r = run_mail(verb, '--config', config.path, module_dir=BAD_DIR, timeout=30)
        assert r.returncode == 78, (verb, r.returncode, r.stderr)
        assert expect in r.stderr, r.stderr
        assert BAD_DIR in r.stderr or name in r.stderr


def test_init_failing_without_error(config):
    write_min(config, modules=['test-init-fails'])
    r = run_mail('serve', '--config', config.path, module_dir=BAD_DIR, timeout=30)
    assert r.returncode == 70 or r.returncode == 78, r.stderr
    assert "module 'test-init-fails': init failed without saying why" in r.stderr


def test_all_installed_modules_loaded_in_order(config):
    # no `modules` key: every module in the directory, providers first
    write_min(config)
    r = run_mail('config-check', '--config', config.path, '--verbose', module_dir=TEST_MODULE_DIR)
    assert r.returncode == 0, r.stderr
    order = [l.split('[', 1)[1].split(']', 1)[0] for l in r.stderr.splitlines() if 'initialised (version' in l]
    assert set(order) == {'test-bus', 'test-consumer', 'test-provider'}, r.stderr
    assert order.index('test-provider') < order.index('test-consumer')


def test_section_of_unloaded_module(config):
    write_min(config, modules=['test-provider'], extra='\n[test-bus]\ngreeting = "hi"\n')
    r = run_mail('config-check', '--config', config.path, module_dir=TEST_MODULE_DIR)
    assert r.returncode == 78
    assert "configures module 'test-bus', which is not loaded" in r.stderr


def test_writable_module_refused(config, workdir):
    moddir = os.path.join(workdir, 'modules')
    os.mkdir(moddir)
    dst = os.path.join(moddir, 'test-provider.so')
    shutil.copy(os.path.join(TEST_MODULE_DIR, 'test-provider.so'), dst)
    os.chmod(dst, 0o666)
    write_min(config, modules=['test-provider'])
    r = run_mail('config-check', '--config', config.path, module_dir=moddir)
    assert r.returncode == 78
    assert 'writable by group or others' in r.stderr and 'chmod go-w' in r.stderr
    os.chmod(dst, 0o755)
    r = run_mail('config-check', '--config', config.path, module_dir=moddir)
    assert r.returncode == 0, r.stderr


OUT_OF_TREE_MODULE = textwrap.dedent('''\
    #include <epistle.h>

    static const EpConfigKey hello_keys[] = {
    \t{ "name", EP_CONFIG_TYPE_STRING, EP_CONFIG_KEY_REQUIRED, 1, 32 },
    \t{ NULL }
    };

    static void
    hello_accept (EpContext *ctx, GSocketConnection *conn, const EpConfigListener *l, gpointer data)
    {
    \tg_autofree char *line = g_strdup_printf ("hello %s\\r\\n",
    \t\tep_config_section_get_string (ep_context_get_section (ctx), "name", "?"));
    \tg_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), line,
    \t\tstrlen (line), NULL, NULL, NULL);
    \tg_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
    }

    static gboolean
    hello_init (EpContext *ctx, GError **error)
    {
    \treturn ep_context_add_listener_kind (ctx, "hello", 0, hello_accept, NULL, error);
    }

    EP_MODULE_DEFINE (
    \t.name = "hello",
    \t.version = "1.0",
    \t.description = "built out of tree",
    \t.config_schema = hello_keys,
    \t.init = hello_init,
    );
    ''')


@pytest.fixture(scope='module')
def installed_prefix(tmp_path_factory):
    """Installs the build into a staging directory, as a package would."""
    dest = str(tmp_path_factory.mktemp('destdir'))
    r = subprocess.run(['meson', 'install', '-C', BUILD_ROOT, '--destdir', dest, '--no-rebuild', '--quiet'],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f'meson install failed:\n{r.stdout}\n{r.stderr}')
    pcs = []
    for root, _, files in os.walk(dest):
        pcs += [os.path.join(root, f) for f in files if f == 'epistle-1.pc']
    assert len(pcs) == 1, pcs
    return dest, os.path.dirname(pcs[0])


def pkg_config(pcdir, dest, *args):
    """pkg-config on the staged epistle-1.pc, relocated: its prefix moved
    under the staging directory, as if installed there."""
    reloc = os.path.join(dest, 'pc-relocated')
    os.makedirs(reloc, exist_ok=True)
    with open(os.path.join(pcdir, 'epistle-1.pc')) as f:
        lines = f.read().splitlines()
    lines = [f'prefix={dest}' + l[len('prefix='):] if l.startswith('prefix=') else l for l in lines]
    with open(os.path.join(reloc, 'epistle-1.pc'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    r = subprocess.run(['pkg-config', *args, 'epistle-1'], env=dict(os.environ, PKG_CONFIG_PATH=reloc),
                       capture_output=True, text=True, check=True)
    return r.stdout.split()


def test_out_of_tree_module(installed_prefix, config, workdir, daemons):
    import socket
    dest, pcdir = installed_prefix
    moddir = os.path.join(workdir, 'oot')
    os.mkdir(moddir)
    os.chmod(moddir, 0o755)
    src = os.path.join(workdir, 'hello.c')
    with open(src, 'w') as f:
        f.write(OUT_OF_TREE_MODULE)
    cflags = pkg_config(pcdir, dest, '--cflags')
    libs = pkg_config(pcdir, dest, '--libs')
    so = os.path.join(moddir, 'hello.so')
    r = subprocess.run(['cc', '-shared', '-fPIC', '-Wall', '-Werror', '-fvisibility=hidden', '-o', so, src,
                        *cflags, *libs], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    os.chmod(so, 0o755)
    # the installed .pc tells where modules go
    moduledir = subprocess.run(['pkg-config', '--variable=moduledir', 'epistle-1'],
                               env=dict(os.environ, PKG_CONFIG_PATH=pcdir), capture_output=True,
                               text=True).stdout.strip()
    assert moduledir.endswith('/epistle/modules')

    port = free_port()
    config.write(config.base(modules=['hello']) + f'\n[[listeners]]\nkind = "hello"\nport = {port}\n'
                 '\n[hello]\nname = "world"\n')
    r = run_mail('config-check', '--config', config.path, module_dir=moddir)
    assert r.returncode == 0, r.stderr
    d = daemons(config, module_dir=moddir)
    with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
        assert s.recv(100) == b'hello world\r\n'
    assert d.stop() == 0
