#!/bin/bash
# Stale instance state is never trusted: a dead pid, or a pid reused by a
# process that is not this instance's QEMU, in a directory without an
# instance summary (a start that never finished) is cleaned up by ps,
# replaced by run -d, and unknown to stop. With a summary it is an exited
# instance: listed by ps -a (status unknown: no exit record), never
# signalled.
set -uo pipefail
export SMOLC_STATE_DIR=$TEST_TMP/state
unset QEMU_ACCEL
fail() { echo "FAIL: $*" >&2; exit 1; }
S=$SMOLC_STATE_DIR

# a dead pid
mkdir -p "$S/dead"
sh -c 'exit 0' & deadpid=$!; wait $deadpid
echo "$deadpid" > "$S/dead/qemu.pid"
# a live process that is not QEMU (pid reuse)
sleep 60 & livepid=$!
trap 'kill $livepid 2>/dev/null' EXIT
mkdir -p "$S/reused"; echo "$livepid" > "$S/reused/qemu.pid"
# garbage pidfile
mkdir -p "$S/garbage"; echo "not a pid" > "$S/garbage/qemu.pid"

"$SMOLC" stop reused >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -q '^smolc: stop: no instance named "reused" (instances: none)$' err || fail "stop stale message: $rc $(cat err)"
kill -0 $livepid || fail "stop killed a process that was not its QEMU"
[ ! -e "$S/reused" ] || fail "stale state kept by stop"

"$SMOLC" ps > ps.out || fail "ps"
[ "$(wc -l < ps.out)" -eq 1 ] || fail "ps listed stale instances: $(cat ps.out)"
[ ! -e "$S/dead" ] && [ ! -e "$S/garbage" ] || fail "ps did not clean stale state: $(ls "$S")"

# with a summary: an exited instance whose end nobody recorded
mkdir -p "$S/old"; echo "$livepid" > "$S/old/qemu.pid"
printf 'name=old\nimage=/x/old.img\nstarted=1000\npid=%s\n' "$livepid" > "$S/old/instance"
"$SMOLC" ps > ps.out; [ "$(wc -l < ps.out)" -eq 1 ] || fail "ps listed an exited instance: $(cat ps.out)"
"$SMOLC" ps -a > ps.out
grep -q "^old  *$livepid  *old.img  *-  *0s  *-  *exited (status unknown)$" ps.out || fail "ps -a: $(cat ps.out)"
"$SMOLC" stop old >out 2>err || fail "stop old: $(cat err)"
grep -q '^smolc: old is not running (exited (status unknown))$' err || fail "stop old: $(cat err)"
kill -0 $livepid || fail "stop signalled a process that was not its QEMU"
"$SMOLC" rm old >/dev/null 2>err || fail "rm old: $(cat err)"
kill -0 $livepid || fail "rm signalled a process that was not its QEMU"

# run -d replaces stale state of the same name (with a fake QEMU that
# fails, so nothing real starts): the failure path removes the directory.
mkdir -p "$S/svc"; echo "$livepid" > "$S/svc/qemu.pid"
mkdir -p images bin
head -c 4096 /dev/zero > images/svc-amd64.kernel
truncate -s 1M images/svc-amd64.img
printf 'service: svc\narch: amd64\nkernel: svc-amd64.kernel\nimage: svc-amd64.img\n' > images/svc-amd64.yaml
printf '#!/bin/sh\necho "qemu-system-x86_64: -drive: could not open disk image" >&2\nexit 1\n' > bin/qemu-system-x86_64
chmod +x bin/qemu-system-x86_64
SMOLC_QEMU=$PWD/bin/qemu-system-x86_64 "$SMOLC" run -d --accel tcg svc >out 2>err; rc=$?
[ $rc -eq 1 ] || fail "run -d with failing QEMU: exit $rc: $(cat err)"
grep -q '^smolc: QEMU failed to start svc: qemu-system-x86_64: -drive: could not open disk image$' err \
	|| fail "failing QEMU message: $(cat err)"
[ ! -e "$S/svc" ] || fail "state left after a failed start: $(ls -la "$S/svc")"
kill -0 $livepid || fail "the unrelated process was killed"

# unknown names list the known ones
"$SMOLC" stop nosuch >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -q '^smolc: stop: no instance named "nosuch" (instances: none)$' err || fail "unknown: $rc $(cat err)"
"$SMOLC" stop >out 2>err; [ $? -eq 2 ] || fail "stop without a name should be a usage error"
echo ok
