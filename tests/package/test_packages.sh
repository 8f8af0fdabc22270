#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The amd64 packages, built as `make package` builds them, installed with
# dpkg (real maintainer scripts) into a throw-away root, their services
# started as systemd would start them, stopped, and the packages upgraded,
# removed and purged. Nothing of it reaches the machine:
#
#   The throw-away root is this very machine seen through an overlay file
#   system (lower: /, upper: a tmpfs) in a private mount namespace
#   (unshare --mount), entered with chroot. dpkg, adduser, dpkg-statoverride
#   and deb-systemd-helper write only into the tmpfs; when the test ends
#   the namespace and everything in it vanish, also after a crash. Why not
#   `dpkg --root` on an empty directory: maintainer scripts run chrooted
#   there and need a whole system inside (adduser, perl, coreutils), and
#   the libraries the packages depend on; the overlay has exactly this
#   machine's. Needs root (CI runs as root); otherwise skipped (exit 77).
#
#   systemd is not PID 1 here, so tests/package/unitrun.py runs the
#   installed unit files the way systemd would: ExecStartPre=/ExecStart=,
#   User=/Group=/SupplementaryGroups=, the state directory, the mount
#   sandbox (ProtectSystem=strict, ReadOnlyPaths=, PrivateTmp=,
#   ProtectHome=, ...), no_new_privs, an empty capability bounding set and
#   the seccomp filters (SystemCallFilter=, RestrictAddressFamilies=,
#   MemoryDenyWriteExecute=, ...); `unitrun.py explain UNIT` lists what is
#   and is not emulated (cgroup limits, device policy, ordering, Restart=).
#   The unit files themselves are checked by `systemd-analyze verify`.
#
#   test_packages.sh SRC WORK
set -euo pipefail
src=$(realpath "$1")
work=$(realpath -m "$2")
py=/usr/bin/python3
unitrun="$src/tests/package/unitrun.py"

say() { printf '== %s\n' "$*"; }
fail() {
  printf 'test_packages: FAILED: %s\n' "$*" >&2
  exit 1
}

if [[ $(id -u) -ne 0 ]]; then
  echo "test_packages: SKIPPED: installing into a throw-away root needs root" \
    "(a mount namespace with an overlay of /); CI runs as root"
  exit 77
fi
for t in unshare chroot dpkg dpkg-deb dpkg-shlibdeps systemd-analyze lintian \
  readelf runuser mosquitto_sub; do
  command -v "$t" >/dev/null || fail "$t is missing (scripts/install-deps.sh)"
done
"$py" -c 'import seccomp' 2>/dev/null ||
  fail "python3-seccomp is missing (scripts/install-deps.sh)"

# Everything below runs in a private mount namespace: its mounts vanish
# with it.
if [[ -z "${GL_PKGTEST_NS:-}" ]]; then
  exec unshare --mount --propagation private env GL_PKGTEST_NS=1 "$0" "$@"
fi

rm -rf "$work"
mkdir -p "$work"
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if ((rc != 0)); then
    for f in "$work"/*.log "$work"/*.journal; do
      [[ -f "$f" ]] && { echo "---- $f"; tail -n 40 "$f"; }
    done
  fi
  umount -R "$work/ns" 2>/dev/null || umount -lR "$work/ns" 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  fail "nothing listens on port $1"
}
# wait_for FILE TEXT [SECONDS]
wait_for() {
  for _ in $(seq $((${3:-30} * 10))); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "\"$2\" did not appear in $1"
}

# ---- Build ------------------------------------------------------------------
say "packages (scripts/package.sh amd64: build, dependency check, lintian)"
"$src/scripts/package.sh" --out "$work/debs" amd64 >"$work/package.log" 2>&1 ||
  { cat "$work/package.log"; fail "scripts/package.sh"; }
grep -E 'lintian|check-package-deps|KiB' "$work/package.log"
meter_deb=$(ls "$work"/debs/gridlet-meter_*_amd64.deb)
tools_deb=$(ls "$work"/debs/gridlet-tools_*_amd64.deb)
agg_deb=$(ls "$work"/debs/gridlet-aggregator_*_amd64.deb)
all_debs=("$meter_deb" "$agg_deb" "$tools_deb")
version=$(sed -n '1s/^gridlet (\(.*\)) .*/\1/p' "$src/packaging/debian/changelog")

# ---- The packages as files ---------------------------------------------------
say "contents"
field() { dpkg-deb -f "$1" "$2"; }
for deb in "${all_debs[@]}"; do
  [[ "$(field "$deb" Version)" == "$version" ]] || fail "$deb: version"
  [[ "$(field "$deb" Architecture)" == amd64 ]] || fail "$deb: architecture"
  [[ -n "$(field "$deb" Maintainer)" && -n "$(field "$deb" Description)" ]] ||
    fail "$deb: maintainer or description"
done
[[ "$(field "$meter_deb" Depends)" == *"adduser"* ]] || fail "meter: adduser"
[[ "$(field "$agg_deb" Depends)" == *"adduser"* ]] || fail "aggregator: adduser"
list() { dpkg-deb -c "$1" | awk '{print $6}' | sed 's|^\./|/|'; }
expect_files() {
  local deb=$1
  shift
  local have
  have=$(list "$deb")
  for f in "$@"; do
    grep -qx -- "$f" <<<"$have" || fail "$(basename "$deb") lacks $f"
  done
}
expect_files "$meter_deb" /usr/bin/gridlet-meter /etc/gridlet/meter.conf \
  /lib/systemd/system/gridlet-meter.service \
  /usr/share/gridlet/profiles/sunspec-meter.profile \
  /usr/share/doc/gridlet-meter/copyright \
  /usr/share/doc/gridlet-meter/changelog.Debian.gz \
  /usr/share/doc/gridlet-meter/household.md \
  /usr/share/doc/gridlet-meter/examples/meter.conf \
  /usr/share/man/man1/gridlet-meter.1.gz
tools=(gridlet-ca gridlet-ledger gridlet-witness gridlet-sim gridlet-market
  gridlet-probe)
for t in "${tools[@]}"; do
  expect_files "$tools_deb" "/usr/bin/$t" "/usr/share/man/man1/$t.1.gz"
done
expect_files "$agg_deb" /usr/bin/gridlet-aggregator /etc/gridlet/aggregator.conf \
  /lib/systemd/system/gridlet-aggregator.service \
  /usr/share/doc/gridlet-aggregator/copyright \
  /usr/share/doc/gridlet-aggregator/aggregator.md \
  /usr/share/man/man1/gridlet-aggregator.1.gz
expect_files "$tools_deb" /lib/systemd/system/gridlet-ca-crl.service \
  /lib/systemd/system/gridlet-ca-crl.timer /usr/share/doc/gridlet-tools/copyright
# No file in two packages (dpkg would refuse to install them together).
for deb in "${all_debs[@]}"; do list "$deb" | grep -v '/$'; done | sort |
  uniq -d | grep . && fail "files in more than one package"
mkdir -p "$work/x"
dpkg-deb -x "$meter_deb" "$work/x"
dpkg-deb -e "$meter_deb" "$work/x/DEBIAN"
grep -qx /etc/gridlet/meter.conf "$work/x/DEBIAN/conffiles" ||
  fail "meter.conf is not a conffile"
# The conffile is the packaged program's own default configuration.
"$work/x/usr/bin/gridlet-meter" --print-default-config |
  cmp - "$work/x/etc/gridlet/meter.conf" || fail "meter.conf is not the default"
grep -q '^;profile_dir = /usr/share/gridlet/profiles$' "$work/x/etc/gridlet/meter.conf" ||
  fail "the compiled-in profile directory is not /usr/share/gridlet/profiles"
mkdir -p "$work/xa"
dpkg-deb -x "$agg_deb" "$work/xa"
dpkg-deb -e "$agg_deb" "$work/xa/DEBIAN"
grep -qx /etc/gridlet/aggregator.conf "$work/xa/DEBIAN/conffiles" ||
  fail "aggregator.conf is not a conffile"
"$work/xa/usr/bin/gridlet-aggregator" --print-default-config |
  cmp - "$work/xa/etc/gridlet/aggregator.conf" || fail "aggregator.conf is not the default"
# Stripped, position independent, full RELRO (dpkg-buildflags hardening).
bin="$work/x/usr/bin/gridlet-meter"
file -b "$bin" | grep 'pie executable.*, stripped' >/dev/null || fail "not a stripped PIE"
readelf -lW "$bin" | grep GNU_RELRO >/dev/null || fail "no RELRO"
readelf -dW "$bin" | grep 'BIND_NOW\|FLAGS.*NOW' >/dev/null || fail "no BIND_NOW"
readelf -sW --dyn-syms "$bin" | grep '__stack_chk_fail' >/dev/null ||
  fail "no stack protector"

# ---- The throw-away root -----------------------------------------------------
say "throw-away root: overlay of / on tmpfs, private mount namespace"
ns="$work/ns"
root="$ns/root"
mkdir -p "$ns"
mount -t tmpfs -o mode=0755 tmpfs "$ns"
mkdir -p "$ns/upper" "$ns/work" "$root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$ns/upper,workdir=$ns/work" "$root"
for d in proc sys dev; do
  mount --rbind "/$d" "$root/$d"
done
# A fresh /run (no /run/systemd/system: maintainer scripts see no running
# systemd, as in a container) and /tmp.
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$root/run/lock"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
in_root() { chroot "$root" "$@"; }
mkdir -p "$root/tmp/debs"
cp "${all_debs[@]}" "$root/tmp/debs/"
debs_in_root=()
for deb in "${all_debs[@]}"; do debs_in_root+=("/tmp/debs/$(basename "$deb")"); done
# The machine may have run gridlet before: start from no gridlet at all.
in_root dpkg --purge gridlet-meter gridlet-tools gridlet-aggregator >/dev/null 2>&1 || true
in_root sh -c 'userdel gridlet 2>/dev/null; rm -rf /etc/gridlet /var/lib/gridlet-meter /var/lib/gridlet-aggregator /var/lib/gridlet /etc/mosquitto/gridlet' || true

# ---- Install -------------------------------------------------------------------
say "dpkg -i"
in_root dpkg -i "${debs_in_root[@]}" >"$work/dpkg-install.log" 2>&1 || { cat "$work/dpkg-install.log"; fail "dpkg -i"; }
for p in gridlet-meter gridlet-aggregator gridlet-tools; do
  in_root dpkg-query -W -f='${db:Status-Abbrev}' "$p" | grep '^ii' >/dev/null ||
    fail "$p is not installed"
done
pw=$(in_root getent passwd gridlet) || fail "no user gridlet"
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
((uid < 1000)) || fail "gridlet is not a system user (uid $uid)"
[[ "$shell" == /usr/sbin/nologin && "$home" == /nonexistent ]] ||
  fail "gridlet: shell $shell, home $home"
in_root id -nG gridlet | tr ' ' '\n' | grep -x dialout >/dev/null || fail "gridlet not in dialout"
stat_is() {
  local got
  got=$(in_root stat -c '%U:%G %a' "$1")
  [[ "$got" == "$2" ]] || fail "$1 is $got, expected $2"
}
stat_is /etc/gridlet "root:gridlet 750"
stat_is /etc/gridlet/meter.conf "root:gridlet 640"
stat_is /var/lib/gridlet-meter "gridlet:gridlet 700"
stat_is /etc/gridlet/aggregator.conf "root:gridlet 640"
stat_is /var/lib/gridlet-aggregator "gridlet:gridlet 750"
in_root dpkg-statoverride --list /etc/gridlet/meter.conf >/dev/null ||
  fail "no statoverride for meter.conf"
# Known to deb-systemd-helper (so purge cleans up), not enabled yet.
dsh="$root/var/lib/systemd/deb-systemd-helper-enabled"
units=(gridlet-meter.service gridlet-aggregator.service gridlet-ca-crl.service
  gridlet-ca-crl.timer)
for u in "${units[@]}"; do
  [[ -f "$dsh/$u.dsh-also" ]] || fail "$u unknown to deb-systemd-helper"
done
for u in gridlet-meter.service gridlet-aggregator.service; do
  [[ -e "$root/etc/systemd/system/multi-user.target.wants/$u" ]] &&
    fail "$u wanted before it is configured"
done
for u in "${units[@]}"; do
  out=$(in_root systemd-analyze verify "/lib/systemd/system/$u" 2>&1) ||
    fail "systemd-analyze verify $u: $out"
  grep -q "$u:" <<<"$out" && fail "systemd-analyze verify $u: $out"
done
in_root man -P cat gridlet-meter 2>/dev/null | grep 'household meter agent' >/dev/null ||
  [[ ! -x "$root/usr/bin/man" ]] || fail "man gridlet-meter"

# As installed, the configuration is the commented default: refused, with
# the file, line and setting named (a household must fill it in first).
set +e
out=$(in_root runuser -u gridlet -- gridlet-meter --check-config 2>&1)
rc=$?
set -e
((rc == 2)) && grep -q 'meter.conf:[0-9]*: meter.community' <<<"$out" ||
  fail "the unconfigured default was not refused as expected ($rc): $out"

# ---- A community, devices and a Home Assistant broker for it -----------------
say "community broker, device simulator, Home Assistant broker (installed tools)"
bport=$(free_port)
in_root gridlet-ca dev-community /tmp/comm --meters 1 --port "$bport" --user root \
  >"$work/dev-community.log" 2>&1 || fail "gridlet-ca dev-community"
chroot "$root" /usr/sbin/mosquitto -c /tmp/comm/broker/mosquitto.conf \
  >"$work/broker.log" 2>&1 &
pids+=($!)
wait_port "$bport"
chroot "$root" gridlet-sim devices -n 1 --seed 7 >"$work/sim.log" 2>&1 &
pids+=($!)
wait_for "$work/sim.log" '^ready$'
sport=$(sed -n 's/^listen household=0 tcp=127.0.0.1:\([0-9]*\).*/\1/p' "$work/sim.log")
haport=$(free_port)
mkdir -p "$root/tmp/ha"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\nlog_dest stdout\n' \
  "$haport" >"$root/tmp/ha/mosquitto.conf"
chroot "$root" /usr/sbin/mosquitto -c /tmp/ha/mosquitto.conf >"$work/ha-broker.log" 2>&1 &
pids+=($!)
wait_port "$haport"

# Set section.key in a conffile: uncomment or replace its line.
conf_set() {
  "$py" - "$root/etc/gridlet/$1" "$2" "$3" "$4" <<'EOF'
import re, sys
path, sec, key, val = sys.argv[1:]
lines = open(path).read().split("\n")
cur, done = None, False
for i, l in enumerate(lines):
    m = re.match(r"^\[(.*)\]$", l)
    if m:
        cur = m.group(1)
    elif cur == sec and re.match(r"^;?" + re.escape(key) + r" = ", l) and not done:
        lines[i] = f"{key} = {val}"
        done = True
if not done:
    sys.exit(f"no {sec}.{key} in {path}")
open(path, "w").write("\n".join(lines))
EOF
}

# ---- The aggregator, as docs/operations/aggregator.md sets it up ------------
say "gridlet-aggregator.service as systemd would run it"
a=/tmp/comm/aggregator
in_root install -m 0644 $a/ca.pem $a/aggregator.pem /etc/gridlet/
in_root install -o gridlet -g gridlet -m 0600 $a/aggregator.key /etc/gridlet/aggregator.key
in_root install -d /etc/mosquitto/gridlet
in_root install -m 0644 /tmp/comm/broker/crl.pem /etc/mosquitto/gridlet/crl.pem
in_root gridlet-ledger keygen --name gridlet/demo --out /etc/gridlet/ledger.key \
  >"$work/ledger-keygen.log" 2>&1 || fail "gridlet-ledger keygen"
in_root chown gridlet:gridlet /etc/gridlet/ledger.key
httpport=$(free_port)
conf_set aggregator.conf community name demo
conf_set aggregator.conf mqtt uri "mqtts://127.0.0.1:$bport"
conf_set aggregator.conf http listen "127.0.0.1:$httpport"
out=$(in_root runuser -u gridlet -- gridlet-aggregator --check-config 2>&1) ||
  fail "aggregator --check-config as gridlet: $out"
"$py" "$unitrun" run --root "$root" --log "$work/aggregator.journal" \
  --status "$work/aggregator.status" \
  "$root/lib/systemd/system/gridlet-aggregator.service" >"$work/aggregator-unit.log" 2>&1 &
asup=$!
pids+=("$asup")
http() {
  "$py" -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
}
for _ in $(seq 100); do
  http "http://127.0.0.1:$httpport/healthz" >"$work/healthz" 2>/dev/null && break
  sleep 0.2
done
grep -qx ok "$work/healthz" || fail "the aggregator's /healthz does not answer ok"
amain=$(cat "$work/aggregator.status.pid")
grep -q '^Seccomp:[[:space:]]*2' "/proc/$amain/status" || fail "aggregator: no seccomp"
[[ "$(awk '/^Uid:/{print $2}' "/proc/$amain/status")" == "$uid" ]] ||
  fail "aggregator not running as gridlet"
# Enrol the meters from the CA, as root, while it runs (the guide's order).
in_root gridlet-aggregator meters sync --ca /tmp/comm/ca -c /etc/gridlet/aggregator.conf \
  >"$work/meters-sync.log" 2>&1 || fail "meters sync: $(cat "$work/meters-sync.log")"
grep -q '1 added' "$work/meters-sync.log" || fail "meters sync: $(cat "$work/meters-sync.log")"
status_ok=0
for _ in $(seq 100); do
  if http "http://127.0.0.1:$httpport/v1/status" >"$work/agg-status.json" 2>/dev/null &&
    "$py" - "$work/agg-status.json" <<'EOF'; then
import json, sys
s = json.load(open(sys.argv[1]))
assert s["mqtt_connected"] is True and s["community"] == "demo", s
assert s["meters"]["active"] == 1, s
EOF
    status_ok=1
    break
  fi
  sleep 0.2
done
((status_ok)) || fail "aggregator /v1/status: $(cat "$work/agg-status.json")"

# ---- Configure the meter as a household does (docs/install/household.md) -----
say "configure /etc/gridlet/meter.conf"
m=/tmp/comm/meters/meter-001
in_root install -m 0644 $m/meter.pem $m/ca.pem /tmp/comm/aggregator/aggregator.pem /etc/gridlet/
in_root install -o gridlet -g gridlet -m 0600 $m/meter.key /etc/gridlet/meter.key
conf_set meter.conf meter community demo
conf_set meter.conf grid_meter endpoint "tcp:127.0.0.1:$sport"
conf_set meter.conf grid_meter unit 3
conf_set meter.conf inverter endpoint "tcp:127.0.0.1:$sport"
conf_set meter.conf inverter unit 1
conf_set meter.conf battery endpoint "tcp:127.0.0.1:$sport"
conf_set meter.conf battery unit 2
conf_set meter.conf mqtt uri "mqtts://127.0.0.1:$bport"
conf_set meter.conf home_assistant enabled yes
conf_set meter.conf home_assistant host 127.0.0.1
conf_set meter.conf home_assistant port "$haport"
out=$(in_root runuser -u gridlet -- gridlet-meter --check-config 2>&1) ||
  fail "--check-config as gridlet: $out"
grep -q 'configuration OK' <<<"$out" || fail "--check-config: $out"

# ---- The meter service ---------------------------------------------------------
say "gridlet-meter.service as systemd would run it"
"$py" "$unitrun" explain "$root/lib/systemd/system/gridlet-meter.service" |
  grep -c '^NOT' | xargs -I{} echo "   ({} settings not emulated: unitrun.py explain)"
"$py" "$unitrun" run --root "$root" --log "$work/meter.journal" \
  --status "$work/meter.status" "$root/lib/systemd/system/gridlet-meter.service" \
  >"$work/meter-unit.log" 2>&1 &
sup=$!
pids+=("$sup")
wait_for "$work/meter.journal" "started as meter-001 in community demo"
wait_for "$work/meter.journal" "connected to the broker at mqtts://127.0.0.1:$bport"
wait_for "$work/meter.journal" "connected to the Home Assistant broker"
wait_for "$work/meter.journal" "SunSpec" 30
main=$(cat "$work/meter.status.pid")
# The main process runs as gridlet with no privileges, in its sandbox.
st=/proc/$main/status
[[ "$(awk '/^Uid:/{print $2}' "$st")" == "$uid" ]] || fail "main process not running as gridlet"
grep -q '^NoNewPrivs:[[:space:]]*1' "$st" || fail "no_new_privs not set"
grep -q '^Seccomp:[[:space:]]*2' "$st" || fail "no seccomp filter"
grep -q '^CapBnd:[[:space:]]*0000000000000000' "$st" || fail "capabilities left"
# The aggregator (the packaged one) sees the meter online: its signed
# status verified against the enrolled certificate.
online_ok=0
for _ in $(seq 100); do
  if http "http://127.0.0.1:$httpport/v1/status" >"$work/agg-status.json" 2>/dev/null &&
    "$py" - "$work/agg-status.json" <<'EOF'; then
import json, sys
s = json.load(open(sys.argv[1]))
assert s["meters"]["online"] == 1, s
EOF
    online_ok=1
    break
  fi
  sleep 0.2
done
((online_ok)) || fail "the aggregator does not see the meter online: $(cat "$work/agg-status.json")"
# Home Assistant discovery, retained on the household's broker.
in_root mosquitto_sub -h 127.0.0.1 -p "$haport" -t 'homeassistant/sensor/#' -v \
  -W 3 >"$work/ha-discovery.txt" 2>/dev/null || true
n=$(grep -c '"unique_id":"gridlet_meter-001_' "$work/ha-discovery.txt" || true)
((n >= 7)) || fail "only $n discovery messages on the Home Assistant broker"
avail=$(in_root mosquitto_sub -h 127.0.0.1 -p "$haport" \
  -t gridlet/meter-001/availability -C 1 -W 5)
[[ "$avail" == online ]] || fail "availability: $avail"
# `status` as the household runs it.
set +e
out=$(in_root runuser -u gridlet -- gridlet-meter status 2>&1)
set -e
grep -q "agent          running (pid $main" <<<"$out" || fail "status: $out"
# Nothing the sandbox refused.
for j in meter aggregator; do
  grep -qi 'operation not permitted\|permission denied\|read-only file system' \
    "$work/$j.journal" && fail "the sandbox refused something: see $j.journal"
  grep -q 'connection lost' "$work/$j.journal" && fail "$j lost its broker connection"
done
say "stop"
kill -TERM "$sup"
wait "$sup" || true
"$py" - "$work/meter.status" <<'EOF' || fail "stop: $(cat "$work/meter.status")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["result"] == "success" and s["code"] == 0, s
assert s["stop_seconds"] < 20, s  # TimeoutStopSec=20s
print(f"   stopped cleanly in {s['stop_seconds']} s")
EOF
grep -q 'stopping (signal 15)' "$work/meter.journal" || fail "no clean stop"
avail=$(in_root mosquitto_sub -h 127.0.0.1 -p "$haport" \
  -t gridlet/meter-001/availability -C 1 -W 5)
[[ "$avail" == offline ]] || fail "availability after stop: $avail"
kill -TERM "$asup"
wait "$asup" || true
"$py" - "$work/aggregator.status" <<'EOF' || fail "aggregator stop: $(cat "$work/aggregator.status")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["result"] == "success" and s["code"] == 0, s
assert s["stop_seconds"] < 30, s  # TimeoutStopSec=30s
print(f"   aggregator stopped cleanly in {s['stop_seconds']} s")
EOF

# ---- The CA's revocation-list unit (gridlet-tools) ---------------------------
say "gridlet-ca-crl.service"
crl_unit="$root/lib/systemd/system/gridlet-ca-crl.service"
"$py" "$unitrun" run --root "$root" --log "$work/crl.journal" \
  --status "$work/crl.status" "$crl_unit" >"$work/crl-unit.log" 2>&1
grep -q '"result": "condition"' "$work/crl.status" ||
  fail "without a CA the unit must be skipped: $(cat "$work/crl.status")"
in_root gridlet-ca --dir /var/lib/gridlet/ca init --community demo \
  >"$work/ca-init.log" 2>&1 || fail "gridlet-ca init"
before=$(in_root sha256sum /var/lib/gridlet/ca/crl.pem)
sleep 1
"$py" "$unitrun" run --root "$root" --log "$work/crl.journal" \
  --status "$work/crl.status" "$crl_unit" >"$work/crl-unit.log" 2>&1
grep -q '"result": "success"' "$work/crl.status" ||
  fail "gridlet-ca-crl.service: $(cat "$work/crl.status")"
[[ "$(in_root sha256sum /var/lib/gridlet/ca/crl.pem)" != "$before" ]] ||
  fail "no new revocation list"

# ---- Upgrade, remove, purge ---------------------------------------------------
say "upgrade (same version again), remove, purge"
in_root dpkg -i "${debs_in_root[@]}" >"$work/dpkg-upgrade.log" 2>&1 || { cat "$work/dpkg-upgrade.log"; fail "upgrade"; }
grep -q '^community = demo$' "$root/etc/gridlet/meter.conf" ||
  fail "the household's configuration was lost on upgrade"
[[ -f "$root/var/lib/gridlet-meter/meter.db" ]] || fail "state lost on upgrade"
stat_is /etc/gridlet/meter.conf "root:gridlet 640"
in_root dpkg -r gridlet-meter >"$work/dpkg-remove.log" 2>&1 || fail "dpkg -r"
[[ ! -e "$root/usr/bin/gridlet-meter" ]] || fail "program left after remove"
[[ -f "$root/etc/gridlet/meter.conf" && -f "$root/var/lib/gridlet-meter/meter.db" ]] ||
  fail "remove must keep configuration and state"
[[ "$(readlink "$root/etc/systemd/system/gridlet-meter.service")" == /dev/null ]] ||
  fail "unit not masked after remove"
in_root dpkg -P gridlet-meter gridlet-aggregator gridlet-tools >"$work/dpkg-purge.log" 2>&1 ||
  fail "dpkg -P"
[[ ! -e "$root/var/lib/gridlet-aggregator" ]] || fail "aggregator state left after purge"
[[ -f "$root/etc/gridlet/ledger.key" ]] || fail "purge deleted the ledger key"
[[ ! -e "$root/etc/gridlet/meter.conf" ]] || fail "conffile left after purge"
[[ ! -e "$root/var/lib/gridlet-meter" ]] || fail "state left after purge"
[[ ! -L "$root/etc/systemd/system/gridlet-meter.service" ]] || fail "mask left after purge"
in_root dpkg-statoverride --list /etc/gridlet/meter.conf >/dev/null &&
  fail "statoverride left after purge"
[[ -f "$root/etc/gridlet/meter.key" ]] || fail "purge deleted the household's key"
[[ -f "$root/var/lib/gridlet/ca/ca.key" ]] || fail "purge deleted the operator's CA"
in_root getent passwd gridlet >/dev/null || fail "the account must stay"
say "all package checks passed"
