#!/bin/bash
# A real boot through the runtime (TCG): the Linux test guest's reference
# image (tests/guest/boot-reference.sh, standard tools) with a hand-written
# run config. run -d --time --json, wait --http, the page through the
# forwarded port, stop; then a foreground guest that panics: -no-reboot
# makes QEMU exit and smolc returns. The kernel is the test guest's
# (tests/guest/lib.sh guest_prepare: Debian's stock kernel + its initramfs,
# given through the run config's initrd:, or the tiny kernel when cached).
set -uo pipefail
G=$ROOT/tests/guest
[ -x "$G/boot-reference.sh" ] && [ -r "$ROOT/examples/hello/Smolfile" ] || { echo "FAIL: tests/guest/boot-reference.sh or examples/hello missing"; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed"; exit 77; }
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "curl/python3 not installed"; exit 77; }
. "$G/lib.sh"
export SMOLC_STATE_DIR=$TEST_TMP/state
unset QEMU_ACCEL SMOLC_QEMU
fail() { echo "FAIL: $*" >&2; "$SMOLC" logs hello 2>/dev/null | tail -n 20 >&2; cleanup; exit 1; }
cleanup() {
	[ -f "$SMOLC_STATE_DIR/hello/qemu.pid" ] && kill -9 "$(cat "$SMOLC_STATE_DIR/hello/qemu.pid")" 2>/dev/null
	return 0
}
trap cleanup EXIT

guest_prepare "$TEST_TMP/guest" || fail "could not prepare the test guest"
cat "$TEST_TMP/guest/KERNEL"
K=$TEST_TMP/guest/vmlinux
img=$("$G/boot-reference.sh" -w "$TEST_TMP/ref" --guest "$TEST_TMP/guest" --kernel "$K" image 2>ref.err | tail -n 1)
[ -r "$img" ] || { cat ref.err; fail "reference image not built"; }
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p images
cp "$K" images/hello-amd64.kernel
cp "$TEST_TMP/guest/initrd" images/hello-amd64.initrd
cp --sparse=always "$img" images/hello-amd64.img
cat > images/hello-amd64.yaml <<Y
service: "hello"
arch: amd64
profile: linux
kernel: "hello-amd64.kernel"
initrd: "hello-amd64.initrd"
image: "hello-amd64.img"
memory: 256
ports:
  - {host: $P, guest: 80}
Y

"$SMOLC" run -d --time --json hello >time.json 2>err || fail "run -d: $(cat err)"
grep -q '^smolc: accel: ' err || fail "no accel line: $(cat err)"
python3 - <<'PY' || fail "--time --json: $(cat time.json)"
import json
d = json.load(open("time.json"))
assert d["console_s"] is not None and d["port_s"] is not None, d
assert d["console_s"] < d["port_s"] < 120, d
PY
echo "boot ($(sed -n 's/.*"accel":"\([a-z]*\)".*/\1/p' time.json)): $(cat time.json)"
"$SMOLC" wait hello --port "$P" --http / --timeout 60 2>err || fail "wait: $(cat err)"
curl -fsS -m 10 "http://127.0.0.1:$P/" >page || fail "curl"
grep -qi hello page || fail "page: $(head -c 300 page)"
"$SMOLC" logs hello >logs.out 2>&1; grep -q 'serving' logs.out || fail "logs lack the rc's output"
"$SMOLC" stop hello 2>err || fail "stop: $(cat err)"
# the linux profile's microvm has acpi=on: the guest's power button, which its init obeys
grep -q '^smolc: stopped hello (pid [0-9]*) with system_powerdown$' err || fail "stop: $(cat err)"
"$SMOLC" ps -a | grep -q '^hello .* stopped (system_powerdown)' || fail "ps -a after stop: $("$SMOLC" ps -a)"
"$SMOLC" logs --tail 3 hello > tail.out || fail "logs --tail after stop"
[ "$(wc -l < tail.out)" -eq 3 ] || fail "logs --tail 3 printed $(wc -l < tail.out) lines"
"$SMOLC" rm hello >/dev/null || fail "rm"
[ ! -e "$SMOLC_STATE_DIR/hello" ] || fail "state left after rm"

# foreground: a guest that panics ends QEMU (-no-reboot) and smolc with it
timeout 120 "$SMOLC" run --console file:fg.log -a "init=/nonexistent panic=-1 reboot=t" hello \
	</dev/null >out 2>err; rc=$?
[ $rc -eq 0 ] || fail "foreground exit $rc: $(cat err)"
grep -q 'Kernel panic' fg.log || fail "no panic in the console: $(tail -n 5 fg.log)"
echo ok
