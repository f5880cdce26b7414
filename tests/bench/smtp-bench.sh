#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# SMTP inbound, epistle against Postfix on the same machine in the same run
# (docs/benchmarks.md, "SMTP inbound vs Postfix").
#
#   tests/bench/smtp-bench.sh BUILD_DIR [MESSAGES] [SESSIONS]
#
# Needs root, the user epistle, PostgreSQL, Postfix (for smtp-source and the
# private instance; installed when missing, with no system configuration and
# its service disabled: the system's own Postfix is neither used nor
# started) and python3.  Everything lives in one temporary directory and is
# stopped and removed on exit, whatever happens.
#
# (a) epistle: `mail serve` with its embedded PostgreSQL (fsync on), the
#     `smtp` listener on 127.0.0.1, one local account alice@example.org.
# (b) Postfix: a private instance (own config_directory, queue_directory,
#     data_directory), smtpd on 127.0.0.1:<high port>, inet_interfaces =
#     loopback-only, delivering example.org with virtual(8) into a Maildir.
#
# Two loads against each, one after the other:
#   1. smtp-source -s SESSIONS -m MESSAGES -l 5120 (a new connection per
#      message): delivered messages/s = MESSAGES / time until the last one
#      is in the store (epistle: rows in store_messages; Postfix: files in
#      the Maildir).
#   2. smtp_bench_client.py: SESSIONS threads x MESSAGES/SESSIONS messages
#      (one connection per thread, one transaction per message), timing
#      each transaction from MAIL FROM to the 250 after the final dot: p50,
#      p99, max; and delivered messages/s as above.
set -euo pipefail

build=${1:?usage: smtp-bench.sh BUILD_DIR [MESSAGES] [SESSIONS]}
build=$(realpath "$build")
n=${2:-2000}
sessions=${3:-10}
size=5120
here=$(dirname "$(realpath "$0")")
client="$here/smtp_bench_client.py"
py=/usr/bin/python3

die() { echo "smtp-bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (Postfix and the daemon switch users themselves)"
id epistle >/dev/null 2>&1 || die "the user epistle does not exist"
if ! command -v smtp-source >/dev/null; then
  # Debian's postfix without a system configuration ("No configuration"),
  # and its service disabled: only its programs are used here
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null || die "cannot install postfix"
  systemctl disable postfix >/dev/null 2>&1 || true
  update-rc.d postfix disable >/dev/null 2>&1 || true
fi
for tool in smtp-source postfix postconf runuser timeout; do
  command -v "$tool" >/dev/null || die "$tool not found (smtp-source and postfix: Debian package postfix)"
done
[ -x "$build/daemon/mail" ] || die "$build/daemon/mail not built"
[ -f "$build/modules/smtp.so" ] || die "$build/modules/smtp.so not built"
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
nobody_uid=$(id -u nobody)
nobody_gid=$(id -g nobody)

tmp=$(mktemp -d /tmp/smtp-bench-XXXXXX)
chmod 755 "$tmp"
epistle_pid=
postfix_started=

cleanup() {
  set +e
  if [ -n "$epistle_pid" ] && kill -0 "$epistle_pid" 2>/dev/null; then
    kill -TERM "$epistle_pid"
    for _ in $(seq 300); do kill -0 "$epistle_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$epistle_pid" 2>/dev/null
    wait "$epistle_pid" 2>/dev/null
  fi
  if [ -f "$tmp/epistle/data/postgresql/data/postmaster.pid" ]; then
    runuser -u epistle -- "$bindir/pg_ctl" -D "$tmp/epistle/data/postgresql/data" stop -m immediate \
      >/dev/null 2>&1
  fi
  if [ -n "$postfix_started" ]; then
    postfix -c "$tmp/postfix/etc" stop >/dev/null 2>&1
    for _ in $(seq 100); do [ -f "$tmp/postfix/queue/pid/master.pid" ] || break; sleep 0.1; done
    postfix -c "$tmp/postfix/etc" abort >/dev/null 2>&1
    sleep 0.5
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
calc() { "$py" -c "print($1)"; }

# ---- epistle -----------------------------------------------------------------
eport=$(free_port)
mkdir -m 755 "$tmp/epistle"
cat > "$tmp/epistle/mail.toml" <<EOF
hostname = "mail.example.org"
data_dir = "$tmp/epistle/data"
domains = ["example.org"]
modules = ["store-pg", "smtp"]

[privileges]
user = "epistle"

[[accounts]]
name = "alice"
addresses = ["alice@example.org"]

[[listeners]]
kind = "smtp"
addr = "127.0.0.1"
port = $eport

[smtp]
max_connections_per_ip = 100
EOF
chmod 600 "$tmp/epistle/mail.toml"
chown epistle "$tmp/epistle/mail.toml"
EPISTLE_MODULE_DIR="$build/modules" "$build/daemon/mail" serve -c "$tmp/epistle/mail.toml" \
  > "$tmp/epistle/serve.log" 2>&1 &
epistle_pid=$!
"$py" "$client" wait 127.0.0.1 "$eport" 120 || { tail -n 30 "$tmp/epistle/serve.log" >&2; die "epistle did not start"; }

epistle_count() {
  runuser -u epistle -- "$bindir/psql" -X -q -At \
    "host=$tmp/epistle/data/postgresql/run port=5432 dbname=epistle user=epistle" \
    -c 'SELECT count(*) FROM store_messages'
}

# ---- Postfix -----------------------------------------------------------------
pport=$(free_port)
pf="$tmp/postfix"
mkdir -p "$pf/etc" "$pf/queue" "$pf/data" "$pf/vmail"
chown "$nobody_uid:$nobody_gid" "$pf/vmail"
chown postfix "$pf/data"
cat > "$pf/etc/main.cf" <<EOF
# a private instance: everything but the binaries lives under $pf
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = $pf
maillog_file = $pf/maillog
myhostname = bench-postfix.example.net
mydomain = example.net
myorigin = \$myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP
biff = no
virtual_mailbox_domains = example.org
virtual_mailbox_base = $pf/vmail
virtual_mailbox_maps = inline:{ alice@example.org=alice/ }
virtual_uid_maps = static:$nobody_uid
virtual_gid_maps = static:$nobody_gid
EOF
# Debian's master.cf with the SMTP service on our port and no chroot (the
# chroot would need copies of /etc files in the private queue directory);
# the optional pipe services after postlog are left out.
awk -v port="$pport" '
  /^maildrop[ \t]/ { exit }
  /^smtp[ \t]+inet[ \t]/ { print "127.0.0.1:" port " inet n - n - - smtpd"; next }
  /^[a-z]/ && NF >= 8 { $5 = "n"; print; next }
  { print }
' /etc/postfix/master.cf > "$pf/etc/master.cf"
postfix -c "$pf/etc" check >/dev/null 2>&1 || true
postfix -c "$pf/etc" start >/dev/null 2>&1 || { tail -n 20 "$pf/maillog" >&2; die "postfix did not start"; }
postfix_started=1
"$py" "$client" wait 127.0.0.1 "$pport" 60 || { tail -n 30 "$pf/maillog" >&2; die "postfix smtpd does not answer"; }

postfix_count() {
  { find "$pf/vmail/alice/new" "$pf/vmail/alice/cur" -type f 2>/dev/null || true; } | wc -l
}

# Waits until COUNTFN reaches TARGET (10 minutes at most), prints when.
wait_count() {
  local fn=$1 target=$2 deadline=$(( $(date +%s) + 600 )) c
  while :; do
    c=$($fn)
    [ "$c" -ge "$target" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "smtp-bench: only $c of $target messages arrived" >&2
      return 1
    fi
    sleep 0.05
  done
  now
}

cputime() { "$py" "$client" cputime "$1"; }

declare -A rate lat_rate p50 p99 pmax client_s cpu lat_cpu
run_source() {
  local name=$1 port=$2 fn=$3 root=$4 before t0 t1 c0
  before=$($fn)
  c0=$(cputime "$root")
  t0=$(now)
  timeout 900 smtp-source -s "$sessions" -m "$n" -l "$size" -f sender@example.net -t alice@example.org \
    "127.0.0.1:$port" || die "smtp-source against $name failed"
  client_s[$name]=$(calc "round($(now) - $t0, 2)")
  t1=$(wait_count "$fn" $((before + n))) || die "$name did not deliver everything"
  cpu[$name]=$(calc "round(($(cputime "$root") - $c0) * 1000 / $n, 2)")
  rate[$name]=$(calc "round($n / ($t1 - $t0), 1)")
  echo "  $name smtp-source: ${rate[$name]} msg/s delivered (client done after ${client_s[$name]} s)," \
       "server CPU ${cpu[$name]} ms/msg" >&2
}

run_latency() {
  local name=$1 port=$2 fn=$3 root=$4 before t0 t1 c0 json
  before=$($fn)
  c0=$(cputime "$root")
  t0=$(now)
  json=$(timeout 900 "$py" "$client" latency 127.0.0.1 "$port" "$sessions" $((n / sessions)) "$size" \
    alice@example.org) || die "the latency client against $name failed: $json"
  t1=$(wait_count "$fn" $((before + n / sessions * sessions))) || die "$name did not deliver everything"
  lat_cpu[$name]=$(calc "round(($(cputime "$root") - $c0) * 1000 / $((n / sessions * sessions)), 2)")
  lat_rate[$name]=$(calc "round($((n / sessions * sessions)) / ($t1 - $t0), 1)")
  p50[$name]=$("$py" -c "import json,sys; print(json.loads(sys.argv[1])['p50_ms'])" "$json")
  p99[$name]=$("$py" -c "import json,sys; print(json.loads(sys.argv[1])['p99_ms'])" "$json")
  pmax[$name]=$("$py" -c "import json,sys; print(json.loads(sys.argv[1])['max_ms'])" "$json")
  echo "  $name smtplib x$sessions: ${lat_rate[$name]} msg/s delivered, p50 ${p50[$name]} ms," \
       "p99 ${p99[$name]} ms, max ${pmax[$name]} ms, server CPU ${lat_cpu[$name]} ms/msg" >&2
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)," \
     "Debian $(cat /etc/debian_version), kernel $(uname -r), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') (embedded, fsync on)," \
     "Postfix $(postconf -d -h mail_version 2>/dev/null), $n messages of $size octets, $sessions sessions"

postfix_master=$(tr -d ' ' < "$pf/queue/pid/master.pid")
run_source epistle "$eport" epistle_count "$epistle_pid"
run_source postfix "$pport" postfix_count "$postfix_master"
run_latency epistle "$eport" epistle_count "$epistle_pid"
run_latency postfix "$pport" postfix_count "$postfix_master"

# a last check that epistle kept what it acknowledged: every message, whole
total=$(EPISTLE_MODULE_DIR="$build/modules" "$build/daemon/mail" export alice --format mbox \
  -c "$tmp/epistle/mail.toml" | grep -c '^From ' || true)
[ "$total" -eq $((n + n / sessions * sessions)) ] || die "mail export finds $total messages, not $((2 * n))"

echo
echo "| | epistle | Postfix $(postconf -d -h mail_version 2>/dev/null) | epistle / Postfix |"
echo "| --- | --- | --- | --- |"
echo "| smtp-source, delivered msg/s | ${rate[epistle]} | ${rate[postfix]} | $(calc "round(${rate[epistle]} / ${rate[postfix]}, 2)") |"
echo "| smtp-source, client finished after (s) | ${client_s[epistle]} | ${client_s[postfix]} | |"
echo "| smtp-source, server CPU per message (ms) | ${cpu[epistle]} | ${cpu[postfix]} | $(calc "round(${cpu[epistle]} / ${cpu[postfix]}, 2)") |"
echo "| smtplib ${sessions}x$((n / sessions)), delivered msg/s | ${lat_rate[epistle]} | ${lat_rate[postfix]} | $(calc "round(${lat_rate[epistle]} / ${lat_rate[postfix]}, 2)") |"
echo "| smtplib, p50 per transaction (ms) | ${p50[epistle]} | ${p50[postfix]} | |"
echo "| smtplib, p99 per transaction (ms) | ${p99[epistle]} | ${p99[postfix]} | $(calc "round(${p99[epistle]} / ${p99[postfix]}, 2)") |"
echo "| smtplib, max per transaction (ms) | ${pmax[epistle]} | ${pmax[postfix]} | |"
echo "| smtplib, server CPU per message (ms) | ${lat_cpu[epistle]} | ${lat_cpu[postfix]} | $(calc "round(${lat_cpu[epistle]} / ${lat_cpu[postfix]}, 2)") |"
