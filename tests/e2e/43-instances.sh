#!/bin/bash
# Detached instances with the real QEMU and a dummy kernel (it never
# boots, it just sits): run -d, ps (table and --json), a second instance
# of the same name refused, logs, wait failing with the log tail, stop
# escalating to SIGTERM and removing the state; nothing left running.
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
head -1 ps.out | grep -q '^NAME *PID *IMAGE *PORTS *UPTIME *ACCEL$' || fail "ps header: $(cat ps.out)"
grep -q "^svc  *$pid  *svc-amd64.img  *127.0.0.1:$P->80/tcp  *[0-9]*s  *tcg$" ps.out || fail "ps row: $(cat ps.out)"
"$SMOLC" ps --json > ps.json || fail "ps --json failed"
python3 - "$pid" "$P" <<'PY' || fail "ps --json: $(cat ps.json)"
import json, sys
d = json.load(open("ps.json"))
assert len(d) == 1, d
i = d[0]
assert i["name"] == "svc" and i["pid"] == int(sys.argv[1]) and i["accel"] == "tcg", i
assert i["ports"] == "127.0.0.1:%s->80/tcp" % sys.argv[2], i
PY

# same name again: refused while alive (before any port check)
"$SMOLC" run -d --accel tcg svc >out 2>err; rc=$?
[ $rc -eq 1 ] || fail "second run -d: exit $rc"
grep -q "^smolc: an instance named \"svc\" is already running (pid $pid); stop it with \`smolc stop svc\` or pick another --name$" err \
	|| fail "second run -d message: $(cat err)"

# logs: the console file (empty here: the dummy kernel prints nothing)
"$SMOLC" logs svc >/dev/null || fail "logs"
"$SMOLC" logs nosuch >out 2>err && fail "logs of an unknown name succeeded"
grep -q '^smolc: logs: no instance named "nosuch" (running: svc)$' err || fail "logs unknown: $(cat err)"

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
[ ! -e "$SMOLC_STATE_DIR/svc" ] || fail "state left after stop"
"$SMOLC" ps > ps.out; [ "$(wc -l < ps.out)" -eq 1 ] || fail "ps after stop: $(cat ps.out)"
"$SMOLC" stop svc >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -q '^smolc: stop: no instance named "svc" (running: none)$' err || fail "stop again: $rc $(cat err)"
echo ok
