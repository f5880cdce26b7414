#!/bin/bash
# Installs what is missing, builds epistle, writes the quick-start
# configuration to ./quickstart/ (once) and runs the server in the
# foreground on it.  Run as root from the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-deps
[ -d build ] || meson setup build
meson compile -C build

mkdir -p quickstart/mail.conf.d
chmod 700 quickstart
if [ ! -f quickstart/mail.toml ]; then
  install -m 600 data/mail.toml.example quickstart/mail.toml
fi
for f in mail.conf.d/*.toml; do
  [ -e "$f" ] || continue
  [ -e "quickstart/$f" ] || install -m 600 "$f" "quickstart/$f"
done
chmod o+rx . build 2>/dev/null || true

export EPISTLE_MODULE_DIR="$PWD/build/modules"
exec build/daemon/mail serve --config quickstart/mail.toml
