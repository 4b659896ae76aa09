#!/bin/bash
# Foreground run with a stand-in QEMU (SMOLC_QEMU): the exit status is
# QEMU's, console output passes through, --time reports the first console
# byte (--json), and a SIGTERM to smolc stops QEMU (no orphan).
set -uo pipefail
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
export SMOLC_STATE_DIR=$TEST_TMP/state
unset QEMU_ACCEL
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p images bin
head -c 4096 /dev/zero > images/svc-amd64.kernel
truncate -s 1M images/svc-amd64.img
printf 'service: svc\narch: amd64\nkernel: svc-amd64.kernel\nimage: svc-amd64.img\n' > images/svc-amd64.yaml

# QEMU that prints a console line and exits with status 3
cat > bin/q-exit3 <<'Q'
#!/bin/sh
sleep 0.2
echo "guest: hello from the console"
exit 3
Q
chmod +x bin/q-exit3
SMOLC_QEMU=$PWD/bin/q-exit3 "$SMOLC" run --accel tcg svc </dev/null >out 2>err; rc=$?
[ $rc -eq 3 ] || fail "exit status $rc, want QEMU's 3: $(cat err)"
grep -qx 'guest: hello from the console' out || fail "console output: $(cat out)"

SMOLC_QEMU=$PWD/bin/q-exit3 "$SMOLC" run --accel tcg --time --json svc </dev/null >out 2>err; rc=$?
[ $rc -eq 3 ] || fail "--time exit $rc: $(cat err)"
tail -n 1 out | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert d["accel"] == "tcg" and d["exit"] == 3, d
assert 0.15 < d["console_s"] < 5, d' || fail "--time --json: $(cat out)"

# QEMU that runs until signalled; SIGTERM to smolc reaches it
cat > bin/q-sleep <<'Q'
#!/bin/sh
echo $$ > "$(dirname "$0")/q.pid"
trap 'exit 0' TERM
while :; do sleep 0.1; done
Q
chmod +x bin/q-sleep
SMOLC_QEMU=$PWD/bin/q-sleep "$SMOLC" run --accel tcg svc </dev/null >out 2>err &
spid=$!
for _ in $(seq 50); do [ -s bin/q.pid ] && break; sleep 0.1; done
qpid=$(cat bin/q.pid)
kill -TERM $spid
wait $spid; rc=$?
[ $rc -eq 0 ] || fail "after SIGTERM: exit $rc: $(cat err)"
sleep 0.2
kill -0 "$qpid" 2>/dev/null && { kill -9 "$qpid"; fail "QEMU stand-in survived smolc"; }

# a QEMU binary that cannot be executed
printf 'not a program' > bin/q-bad; chmod -x bin/q-bad
SMOLC_QEMU=$PWD/bin/q-bad "$SMOLC" run --accel tcg svc </dev/null >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "q-bad not found (from SMOLC_QEMU)" err || fail "bad SMOLC_QEMU: $rc $(cat err)"
echo ok
