#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# IMAP, epistle against Dovecot on the same machine in the same run
# (docs/benchmarks.md, "IMAP vs Dovecot").
#
#   tests/bench/imap-bench.sh BUILD_DIR [SESSIONS] [SECONDS] [USERS] [MESSAGES] [ROUNDS]
#
# Needs root, the user epistle, PostgreSQL, Dovecot 2.3 (Debian package
# dovecot-imapd: only its binaries are used, with a private configuration),
# gnutls-bin (certtool), argon2 (the command, to make the password hash;
# installed when missing) and python3.  Everything lives in one temporary
# directory and is stopped and removed on exit, whatever happens.
#
# (a) epistle: `mail serve` with its embedded PostgreSQL (fsync on), store-pg,
#     auth-sql and imap, an `imaps` listener on 127.0.0.1.
# (b) Dovecot: a private instance (`dovecot -F -c CONF`, base_dir, state_dir,
#     log and Maildirs in the temporary directory), imap-login with an imaps
#     listener on 127.0.0.1:<high port>, users from a passwd-file.
# Both: implicit TLS with the same certificate (a private CA made with
# certtool), USERS accounts bench1 … benchUSERS with the same password hash
# (argon2id, cheap parameters m = 1 MiB, t = 1, so that the IMAP work rather
# than the password hash is measured: the default 64 MiB / t = 3 costs
# ~156 ms of CPU per LOGIN on either server), and the same content: MESSAGES
# messages of ~2 KiB in each INBOX, appended over IMAP by the client.
#
# The load (tests/bench/imap_bench_client.py load): SESSIONS concurrent
# sessions for SECONDS, each looping over: connect (TLS), LOGIN, ROUNDS x
# (SELECT INBOX, FETCH of the newest 50 messages' flags, size, date and
# envelope fields, 3 x FETCH BODY[], STORE +FLAGS and -FLAGS, APPEND, UID
# STORE +FLAGS \Deleted and UID EXPUNGE of the appended message), LOGOUT.
# Reported for each server: operations/s (every command and the connect),
# sessions/s, latency p50 / p99 / max over all operations, and the server's
# CPU per operation (its whole process tree: epistle with its PostgreSQL,
# Dovecot's master and everything under it).
set -euo pipefail

build=${1:?usage: imap-bench.sh BUILD_DIR [SESSIONS] [SECONDS] [USERS] [MESSAGES] [ROUNDS]}
build=$(realpath "$build")
sessions=${2:-20}
seconds=${3:-30}
users=${4:-10}
messages=${5:-200}
rounds=${6:-10}
here=$(dirname "$(realpath "$0")")
client="$here/imap_bench_client.py"
py=/usr/bin/python3
password="bench imap password"

die() { echo "imap-bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (the daemon and Dovecot switch users themselves)"
id epistle >/dev/null 2>&1 || die "the user epistle does not exist"
if ! command -v argon2 >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q argon2 >/dev/null || die "cannot install argon2"
fi
for tool in dovecot certtool argon2 runuser; do
  command -v "$tool" >/dev/null || die "$tool not found (dovecot: Debian package dovecot-imapd; certtool: gnutls-bin)"
done
[ -x "$build/daemon/mail" ] || die "$build/daemon/mail not built"
for m in store-pg auth-sql imap; do
  [ -f "$build/modules/$m.so" ] || die "$build/modules/$m.so not built"
done
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

tmp=$(mktemp -d /tmp/imap-bench-XXXXXX)
chmod 755 "$tmp"
epistle_pid=
dovecot_pid=

cleanup() {
  set +e
  for pid in "$epistle_pid" "$dovecot_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    fi
  done
  if [ -f "$tmp/epistle/data/postgresql/data/postmaster.pid" ]; then
    runuser -u epistle -- "$bindir/pg_ctl" -D "$tmp/epistle/data/postgresql/data" stop -m immediate \
      >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Waits until PORT answers while PID lives (SECONDS at most).
wait_port() {
  local port=$1 pid=$2 left=$(( $3 * 10 ))
  while [ "$left" -gt 0 ]; do
    kill -0 "$pid" 2>/dev/null || return 1
    "$py" "$client" wait 127.0.0.1 "$port" 0.1 && return 0
    left=$((left - 1))
  done
  return 1
}
calc() { "$py" -c "print($1)"; }
field() { "$py" -c "import json,sys; v = json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, {'v': v}))" "$1" "$2"; }

# ---- TLS: a private CA and a certificate for localhost / 127.0.0.1 ------------
tls="$tmp/tls"
mkdir -m 755 "$tls"
certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$tls/ca.key" --no-text 2>/dev/null
printf 'cn = "imap-bench CA"\nca\ncert_signing_key\nexpiration_days = 2\n' > "$tls/ca.tmpl"
certtool --generate-self-signed --load-privkey "$tls/ca.key" --template "$tls/ca.tmpl" \
  --outfile "$tls/ca.pem" --no-text 2>/dev/null
certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$tls/server.key" --no-text 2>/dev/null
printf 'cn = "mail.example.org"\ndns_name = "localhost"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days = 2\n' \
  > "$tls/server.tmpl"
certtool --generate-certificate --load-privkey "$tls/server.key" --load-ca-certificate "$tls/ca.pem" \
  --load-ca-privkey "$tls/ca.key" --template "$tls/server.tmpl" --outfile "$tls/server.pem" --no-text 2>/dev/null
chown epistle "$tls/server.key" "$tls/server.pem"
chmod 600 "$tls/server.key"

hash=$(printf '%s' "$password" | argon2 "imapbenchsalt016" -id -t 1 -m 10 -p 1 -e)

# ---- epistle -----------------------------------------------------------------
eport=$(free_port)
mkdir -m 755 "$tmp/epistle"
{
  cat <<EOF
hostname = "mail.example.org"
data_dir = "$tmp/epistle/data"
domains = ["example.org"]
modules = ["store-pg", "auth-sql", "imap"]

[privileges]
user = "epistle"

[[listeners]]
kind = "imaps"
addr = "127.0.0.1"
port = $eport

[tls]
cert_file = "$tls/server.pem"
key_file = "$tls/server.key"

[auth-sql]
delay_base_ms = 0
delay_max_ms = 0
ban_after_ip = 100000
ban_after_user = 100000

[imap]
max_connections_per_ip = 10000
EOF
  for u in $(seq "$users"); do
    printf '\n[[accounts]]\nname = "bench%s"\naddresses = ["bench%s@example.org"]\npassword_hash = "%s"\n' \
      "$u" "$u" "$hash"
  done
} > "$tmp/epistle/mail.toml"
chmod 600 "$tmp/epistle/mail.toml"
chown epistle "$tmp/epistle/mail.toml"
EPISTLE_MODULE_DIR="$build/modules" "$build/daemon/mail" serve -c "$tmp/epistle/mail.toml" \
  > "$tmp/epistle/serve.log" 2>&1 &
epistle_pid=$!
# READY (its log says "ready as user"): the listener may answer before the
# store and auth-sql are ready to serve a LOGIN
for _ in $(seq 1200); do
  grep -q ' ready as user ' "$tmp/epistle/serve.log" && break
  kill -0 "$epistle_pid" 2>/dev/null || break
  sleep 0.1
done
wait_port "$eport" "$epistle_pid" 10 || { tail -n 30 "$tmp/epistle/serve.log" >&2; die "epistle did not start"; }

# ---- Dovecot -----------------------------------------------------------------
dport=$(free_port)
dv="$tmp/dovecot"
mkdir -p "$dv/run" "$dv/state" "$dv/mail"
chmod 755 "$dv"
chown epistle "$dv/mail"
for u in $(seq "$users"); do
  echo "bench$u:{ARGON2ID}$hash"
done > "$dv/users"
chmod 644 "$dv/users"
dh=
[ -f /usr/share/dovecot/dh.pem ] && dh="ssl_dh = </usr/share/dovecot/dh.pem"
cat > "$dv/dovecot.conf" <<EOF
# a private instance: everything but the binaries lives under $dv
base_dir = $dv/run
state_dir = $dv/state
log_path = $dv/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <$tls/server.pem
ssl_key = <$tls/server.key
$dh
auth_mechanisms = plain
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:$dv/mail/%u
passdb {
  driver = passwd-file
  args = username_format=%u $dv/users
}
userdb {
  driver = static
  args = uid=epistle gid=epistle home=$dv/mail/%u
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $dport
    ssl = yes
  }
}
protocol imap {
  mail_max_userip_connections = 10000
}
EOF
dovecot -F -c "$dv/dovecot.conf" > "$dv/stdout.log" 2>&1 &
dovecot_pid=$!
wait_port "$dport" "$dovecot_pid" 60 || { tail -n 30 "$dv/dovecot.log" "$dv/stdout.log" >&2; die "dovecot did not start"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)," \
     "Debian $(cat /etc/debian_version), kernel $(uname -r), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') (embedded, fsync on)," \
     "Dovecot $(dovecot --version | awk '{print $1}'), $users users x $messages messages, $sessions sessions" \
     "x $seconds s, $rounds rounds a session"

# ---- the same content in both ----------------------------------------------------
"$py" "$client" seed 127.0.0.1 "$eport" "$tls/ca.pem" "$users" "$password" "$messages" \
  || { grep -v " debug " "$tmp/epistle/serve.log" | tail -n 40 >&2; die "seeding epistle failed"; }
"$py" "$client" seed 127.0.0.1 "$dport" "$tls/ca.pem" "$users" "$password" "$messages" \
  || { tail -n 30 "$dv/dovecot.log" >&2; die "seeding Dovecot failed"; }

declare -A ops sps p50 p99 pmax cpu errs
declare -A cpu_self
run_load() {
  local name=$1 port=$2 root=$3 c0 s0 json
  c0=$("$py" "$client" cputime "$root")
  s0=$("$py" "$client" cputime "$root" self)
  json=$(timeout $((seconds + 300)) "$py" "$client" load 127.0.0.1 "$port" "$tls/ca.pem" "$users" "$password" \
    "$sessions" "$seconds" 2 "$rounds") || die "the load against $name failed: $json"
  ops[$name]=$(field "$json" "v['ops_per_s']")
  sps[$name]=$(field "$json" "v['sessions_per_s']")
  p50[$name]=$(field "$json" "v['p50_ms']")
  p99[$name]=$(field "$json" "v['p99_ms']")
  pmax[$name]=$(field "$json" "v['max_ms']")
  errs[$name]=$(field "$json" "v['errors']")
  cpu[$name]=$(calc "round(($("$py" "$client" cputime "$root") - $c0) * 1000 / $(field "$json" "v['operations']"), 3)")
  cpu_self[$name]=$(calc "round(($("$py" "$client" cputime "$root" self) - $s0) * 1000 / $(field "$json" "v['operations']"), 3)")
  echo "  $name: ${ops[$name]} ops/s, ${sps[$name]} sessions/s, p50 ${p50[$name]} ms, p99 ${p99[$name]} ms," \
       "max ${pmax[$name]} ms, server CPU ${cpu[$name]} ms/op (${cpu_self[$name]} in its main process)," \
       "${errs[$name]} errors" >&2
  echo "  $name per operation (count, p50 ms, p99 ms): $(field "$json" \
    "'; '.join(f'{k} {o[\"count\"]}, {o[\"p50_ms\"]}, {o[\"p99_ms\"]}' for k, o in v['per_op'].items())")" >&2
}

run_load epistle "$eport" "$epistle_pid"
run_load dovecot "$dport" "$dovecot_pid"

echo
echo "| | epistle | Dovecot $(dovecot --version | awk '{print $1}') | epistle / Dovecot |"
echo "| --- | --- | --- | --- |"
echo "| operations/s | ${ops[epistle]} | ${ops[dovecot]} | $(calc "round(${ops[epistle]} / ${ops[dovecot]}, 2)") |"
echo "| sessions/s | ${sps[epistle]} | ${sps[dovecot]} | |"
echo "| latency p50 (ms) | ${p50[epistle]} | ${p50[dovecot]} | |"
echo "| latency p99 (ms) | ${p99[epistle]} | ${p99[dovecot]} | $(calc "round(${p99[epistle]} / ${p99[dovecot]}, 2)") |"
echo "| latency max (ms) | ${pmax[epistle]} | ${pmax[dovecot]} | |"
echo "| server CPU per operation (ms) | ${cpu[epistle]} | ${cpu[dovecot]} | $(calc "round(${cpu[epistle]} / ${cpu[dovecot]}, 2)") |"
echo "| of which the main process (epistle: the daemon, without PostgreSQL; Dovecot: its master) | ${cpu_self[epistle]} | ${cpu_self[dovecot]} | |"
echo "| errors | ${errs[epistle]} | ${errs[dovecot]} | |"
