#!/bin/bash
# Measures messages/s stored into one mailbox holding 0, 10,000 and 100,000
# messages (docs/benchmarks.md).  Runs a throwaway PostgreSQL cluster in a
# temporary directory, as the user epistle when started as root.
#   tests/bench/store-bench.sh BUILD_DIR [FILL_MAX]
set -euo pipefail
build=${1:?usage: store-bench.sh BUILD_DIR [FILL_MAX]}
build=$(realpath "$build")
src=$(realpath "$(dirname "$0")/../..")
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
tmp=$(mktemp -d /tmp/epistle-bench-XXXXXX)
chmod 755 "$tmp"
as=()
if [ "$(id -u)" -eq 0 ]; then
  chown epistle "$tmp"
  as=(runuser -u epistle --)
fi
cleanup() { "${as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
"${as[@]}" "$bindir/initdb" -D "$tmp/data" -A trust -U epistle --locale=C.UTF-8 -E UTF8 >/dev/null
"${as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/log" -w \
  -o "-c listen_addresses='' -c unix_socket_directories=$tmp -c fsync=on -c synchronous_commit=on" start >/dev/null
"${as[@]}" "$bindir/createdb" -h "$tmp" -U epistle epistle
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}'), fsync on, $(nproc) cores"
"${as[@]}" "$build/tests/bench/store-bench" "host=$tmp dbname=epistle user=epistle" \
  "$src/modules/store-pg/migrations" "${2:-100000}"
