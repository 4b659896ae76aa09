#!/bin/bash
# Detached instances with the real QEMU and a dummy kernel (it never
# boots, it just sits): run -d, ps (table and --json), a second instance
# of the same name refused, logs, wait failing with the log tail, stop
# escalating to SIGTERM; the stopped instance stays for ps -a, logs,
# inspect, wait (fails at once) until rm; a QEMU killed by a signal is
# shown as killed; run -d --rm leaves nothing; nothing left running.
set -uo pipefail
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
export SMOLC_STATE_DIR=$TEST_TMP/state
unset QEMU_ACCEL SMOLC_QEMU
fail() { echo "FAIL: $*" >&2; cleanup; exit 1; }
cleanup() {
	for f in "$SMOLC_STATE_DIR"/*/qemu.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	return 0
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

P=$(freeport)
mkdir -p images
head -c 4096 /dev/zero > images/svc-amd64.kernel
truncate -s 1M images/svc-amd64.img
cat > images/svc-amd64.yaml <<Y
service: svc
arch: amd64
kernel: svc-amd64.kernel
image: svc-amd64.img
ports:
  - {host: $P, guest: 80}
Y

name=$("$SMOLC" run -d --accel tcg svc 2>err) || fail "run -d: $(cat err)"
[ "$name" = svc ] || fail "run -d printed '$name', want the instance name"
grep -q "^smolc: started svc (pid [0-9]*, tcg)" err || fail "start message: $(cat err)"
pid=$(cat "$SMOLC_STATE_DIR/svc/qemu.pid")
kill -0 "$pid" || fail "QEMU $pid not running"

"$SMOLC" ps > ps.out || fail "ps failed"
head -1 ps.out | grep -q '^NAME *PID *IMAGE *PORTS *UPTIME *ACCEL *STATUS$' || fail "ps header: $(cat ps.out)"
grep -q "^svc  *$pid  *svc-amd64.img  *127.0.0.1:$P->80/tcp  *[0-9]*s  *tcg  *running$" ps.out || fail "ps row: $(cat ps.out)"
"$SMOLC" ps --json > ps.json || fail "ps --json failed"
python3 - "$pid" "$P" <<'PY' || fail "ps --json: $(cat ps.json)"
import json, sys
d = json.load(open("ps.json"))
assert len(d) == 1, d
i = d[0]
assert i["name"] == "svc" and i["pid"] == int(sys.argv[1]) and i["accel"] == "tcg", i
assert i["ports"] == "127.0.0.1:%s->80/tcp" % sys.argv[2], i
assert i["state"] == "running" and i["exit_status"] is None and i["exit_signal"] is None, i
PY

# same name again: refused while alive (before any port check)
"$SMOLC" run -d --accel tcg svc >out 2>err; rc=$?
[ $rc -eq 1 ] || fail "second run -d: exit $rc"
grep -q "^smolc: an instance named \"svc\" is already running (pid $pid); stop it with \`smolc stop svc\` or pick another --name$" err \
	|| fail "second run -d message: $(cat err)"

# a second copy of a writable image: refused, naming who holds it
"$SMOLC" run -d --accel tcg --name svc2 -p 80 svc >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "^smolc: the image $PWD/images/svc-amd64.img is in use by the running instance svc; a writable image runs once: stop it (\`smolc stop svc\`), or make the root read-only (READONLY in the Smolfile) to run copies$" err \
	|| fail "second copy of a writable image: $rc $(cat err)"
# two copies of a read-only image: the config's port is taken by the
# first (named in the message); the hint given works (-p GUEST picks one)
P3=$(freeport)
truncate -s 1M images/ro.img
sed -e "s/host: $P,/host: $P3,/" -e 's/^service: svc/service: ro/' -e 's/^image: .*/image: ro.img/' images/svc-amd64.yaml > images/ro.yaml
echo 'readonly: true' >> images/ro.yaml
"$SMOLC" run -d --accel tcg --name ro1 images/ro.yaml >out 2>err || fail "ro1: $(cat err)"
"$SMOLC" run -d --accel tcg --name ro2 images/ro.yaml >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "^smolc: host port $P3 (127.0.0.1/tcp) is already in use by the instance ro1 (\`smolc stop ro1\`); publish guest port 80 on another host port with -p HOST:80, or on a free one with -p 80$" err \
	|| fail "second copy on a taken port: $rc $(cat err)"
"$SMOLC" run -d --accel tcg --name ro2 -p 80 images/ro.yaml >out 2>err || fail "second copy with -p 80: $(cat err)"
P2=$(sed -n 's|^smolc: published 127.0.0.1:\([0-9]*\) -> guest port 80/tcp$|\1|p' err)
[ -n "$P2" ] && [ "$P2" != "$P3" ] || fail "no port picked: $(cat err)"
"$SMOLC" ps | grep -q "^ro2  *[0-9]*  *ro.img  *127.0.0.1:$P2->80/tcp " || fail "ps ro2: $("$SMOLC" ps)"
"$SMOLC" rm -f ro1 ro2 >/dev/null 2>&1 || fail "rm -f ro1 ro2"

# logs: the console file (empty here: the dummy kernel prints nothing)
"$SMOLC" logs svc >/dev/null || fail "logs"
"$SMOLC" logs nosuch >out 2>err && fail "logs of an unknown name succeeded"
grep -q '^smolc: logs: no instance named "nosuch" (instances: svc)$' err || fail "logs unknown: $(cat err)"
"$SMOLC" logs --json svc >out 2>err; rc=$?
[ $rc -eq 2 ] && grep -q "^smolc: logs: unknown option '--json'$" err || fail "logs --json: $rc $(cat err)"

# wait: nothing answers behind the port → timeout with the log tail, exit 1
"$SMOLC" wait svc --port "$P" --timeout 1 >out 2>err; rc=$?
[ $rc -eq 1 ] || fail "wait: exit $rc"
grep -q "^smolc: wait: timed out after 1 s waiting for port $P of svc$" err || fail "wait message: $(cat err)"
"$SMOLC" wait svc --port 1 --timeout 1 >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "host port 1 is not forwarded by svc" err || fail "wait on an unforwarded port: $(cat err)"
"$SMOLC" wait svc >out 2>err; [ $? -eq 2 ] || fail "wait without --port should be usage error"

# stop: powerdown is ignored (microvm has no ACPI) → SIGTERM
"$SMOLC" stop svc --timeout 1 >out 2>err || fail "stop: $(cat err)"
grep -q "^smolc: stopped svc (pid $pid) with SIGTERM$" err || fail "stop message: $(cat err)"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "QEMU $pid still running after stop"
"$SMOLC" ps > ps.out; [ "$(wc -l < ps.out)" -eq 1 ] || fail "ps after stop lists it: $(cat ps.out)"
# ... but its history stays
"$SMOLC" ps -a > ps.out || fail "ps -a"
grep -q "^svc  *$pid  *svc-amd64.img  *127.0.0.1:$P->80/tcp  *[0-9]*s  *tcg  *stopped (SIGTERM) [0-9]*s ago$" ps.out \
	|| fail "ps -a after stop: $(cat ps.out)"
"$SMOLC" ps -a --json > ps.json || fail "ps -a --json"
python3 - "$pid" <<'PY' || fail "ps -a --json: $(cat ps.json)"
import json, sys
i = json.load(open("ps.json"))[0]
assert i["state"] == "exited" and i["pid"] == int(sys.argv[1]), i
# QEMU catches SIGTERM and exits 0
assert i["stopped_by"] == "SIGTERM" and i["exit_signal"] is None and i["exit_status"] == 0, i
assert i["exited"] >= i["started"] > 0, i
PY
"$SMOLC" logs svc >/dev/null 2>err || fail "logs after stop: $(cat err)"
"$SMOLC" wait svc --port "$P" --timeout 30 >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "^smolc: wait: svc is not running: stopped (SIGTERM) [0-9]*s ago$" err \
	|| fail "wait on a stopped instance: $rc $(cat err)"
"$SMOLC" inspect svc > insp.out || fail "inspect"
grep -q "^state: *stopped (SIGTERM)" insp.out && grep -q "^pid: *$pid$" insp.out \
	&& grep -q "^argv: *qemu-system-x86_64 .*hostfwd=tcp:127.0.0.1:$P-:80" insp.out \
	&& grep -q '^  service: "svc"$' insp.out || fail "inspect: $(cat insp.out)"
"$SMOLC" inspect --json svc > insp.json || fail "inspect --json"
python3 - "$P" <<'PY' || fail "inspect --json: $(cat insp.json)"
import json, sys
d = json.load(open("insp.json"))
assert d["argv"][0] == "qemu-system-x86_64" and "-daemonize" in d["argv"], d
assert d["run_config"]["ports"] == [{"host_addr": "127.0.0.1", "host": int(sys.argv[1]), "guest": 80, "proto": "tcp"}], d
assert d["state"] == "exited" and d["stopped_by"] == "SIGTERM", d
PY
"$SMOLC" stop svc >out 2>err; rc=$?
[ $rc -eq 0 ] && grep -q '^smolc: svc is not running (stopped (SIGTERM) [0-9]*s ago)$' err || fail "stop again: $rc $(cat err)"
"$SMOLC" rm svc >out 2>err || fail "rm: $(cat err)"
[ "$(cat out)" = svc ] || fail "rm output: $(cat out)"
[ ! -e "$SMOLC_STATE_DIR/svc" ] || fail "state left after rm"
"$SMOLC" rm svc >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -q '^smolc: rm: no instance named "svc" (instances: none)$' err || fail "rm again: $rc $(cat err)"

# a QEMU killed behind smolc's back: ps -a says so; rm of a running one is refused
"$SMOLC" run -d --accel tcg svc >/dev/null 2>err || fail "run -d (2): $(cat err)"
pid=$(cat "$SMOLC_STATE_DIR/svc/qemu.pid")
"$SMOLC" rm svc >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "^smolc: rm: svc is running (pid $pid); stop it first (\`smolc stop svc\`) or use \`smolc rm -f svc\`$" err \
	|| fail "rm of a running instance: $rc $(cat err)"
kill -9 "$pid"
for _ in $(seq 50); do [ -e "$SMOLC_STATE_DIR/svc/exit" ] && break; sleep 0.1; done
"$SMOLC" ps -a > ps.out
grep -q "^svc  *$pid .* killed (SIGKILL) [0-9]*s ago$" ps.out || fail "ps -a after kill -9: $(cat ps.out)"
# a new run -d of that name replaces the exited one, and says so
"$SMOLC" run -d --accel tcg svc >/dev/null 2>err || fail "run -d (3): $(cat err)"
grep -q '^smolc: replaced the exited instance svc (its logs are gone)$' err || fail "replace message: $(cat err)"
pid=$(cat "$SMOLC_STATE_DIR/svc/qemu.pid")
"$SMOLC" rm -f svc >out 2>err || fail "rm -f: $(cat err)"
grep -q "^smolc: killed svc (pid $pid)$" err || fail "rm -f message: $(cat err)"
kill -0 "$pid" 2>/dev/null && fail "QEMU $pid still running after rm -f"
[ ! -e "$SMOLC_STATE_DIR/svc" ] || fail "state left after rm -f"

# run --rm: the monitor removes the instance when its QEMU ends
"$SMOLC" run -d --rm --accel tcg svc >/dev/null 2>err || fail "run -d --rm: $(cat err)"
pid=$(cat "$SMOLC_STATE_DIR/svc/qemu.pid")
"$SMOLC" stop svc --timeout 1 2>err || fail "stop --rm instance: $(cat err)"
for _ in $(seq 50); do [ -e "$SMOLC_STATE_DIR/svc" ] || break; sleep 0.1; done
[ ! -e "$SMOLC_STATE_DIR/svc" ] || fail "run --rm left its state: $(ls "$SMOLC_STATE_DIR/svc")"
[ "$(wc -l < <("$SMOLC" ps -a))" -eq 1 ] || fail "ps -a lists a --rm instance"
echo ok
