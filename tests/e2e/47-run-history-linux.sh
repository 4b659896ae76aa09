#!/bin/bash
# Instances and ports with real boots of the Linux test guest (TCG):
#   - two instances of one read-only image, the second with -p 80 (a free
#     host port, printed): both pages answer through their ports;
#   - the QEMU of one killed behind smolc's back: ps -a shows it killed by
#     SIGKILL, logs still shows its console, rm removes it;
#   - a guest whose /etc/rc exits 3: wait fails at once (not after its
#     timeout) with the console tail; ps shows "running, rc exited (status 3)".
# The kernel is the test guest's (tests/guest/lib.sh guest_prepare: Debian's
# stock kernel + its initramfs through initrd:, or the tiny kernel when cached).
set -uo pipefail
G=$ROOT/tests/guest
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed"; exit 77; }
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "curl/python3 not installed"; exit 77; }
. "$G/lib.sh"
export SMOLC_STATE_DIR=$TEST_TMP/state
unset QEMU_ACCEL SMOLC_QEMU
cleanup() {
	for f in "$SMOLC_STATE_DIR"/*/qemu.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	return 0
}
fail() { echo "FAIL: $*" >&2; "$SMOLC" ps -a >&2; cleanup; exit 1; }
trap cleanup EXIT
guest_prepare "$TEST_TMP/guest" || fail "could not prepare the test guest"
K=$TEST_TMP/guest/vmlinux
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

img=$("$G/boot-reference.sh" -w "$TEST_TMP/ref" --guest "$TEST_TMP/guest" --kernel "$K" --ro image 2>ref.err | tail -n 1)
[ -r "$img" ] || { cat ref.err; fail "reference image not built"; }
printf '#!/bin/sh\necho "bad: giving up"\nexit 3\n' > bad.rc
bad=$("$G/boot-reference.sh" -w "$TEST_TMP/refbad" --guest "$TEST_TMP/guest" --kernel "$K" --ro --rc bad.rc image 2>ref.err | tail -n 1)
[ -r "$bad" ] || { cat ref.err; fail "rc-exit image not built"; }
P=$(freeport)
mkdir -p images
cp "$K" images/hello-amd64.kernel
cp "$TEST_TMP/guest/initrd" images/hello-amd64.initrd
cp --sparse=always "$img" images/hello-amd64.img
cp --sparse=always "$bad" images/bad.img
cat > images/hello-amd64.yaml <<Y
service: "hello"
arch: amd64
profile: linux
kernel: "hello-amd64.kernel"
initrd: "hello-amd64.initrd"
image: "hello-amd64.img"
readonly: true
ports:
  - {host: $P, guest: 80}
Y
sed -e 's/^image: .*/image: "bad.img"/' -e 's/^service: .*/service: "bad"/' images/hello-amd64.yaml > images/bad.yaml
# the image's partition is helloroot (boot-reference.sh), not badroot
echo 'cmdline: "console=ttyS0 root=PARTLABEL=helloroot ro reboot=t panic=-1"' >>images/bad.yaml

# two copies of one image; the second on a picked port
"$SMOLC" run -d --accel tcg --name a hello >/dev/null 2>err || fail "run a: $(cat err)"
"$SMOLC" run -d --accel tcg --name b -p 80 hello >/dev/null 2>err || fail "run b: $(cat err)"
P2=$(sed -n 's|^smolc: published 127.0.0.1:\([0-9]*\) -> guest port 80/tcp$|\1|p' err)
[ -n "$P2" ] && [ "$P2" != "$P" ] || fail "b: no picked port: $(cat err)"
"$SMOLC" wait a --port "$P" --http / --timeout 300 2>err || fail "wait a: $(cat err)"
"$SMOLC" wait b --port "$P2" --http / --timeout 300 2>err || fail "wait b: $(cat err)"
curl -fsS -m 10 "http://127.0.0.1:$P/" | grep -qi hello || fail "page of a"
curl -fsS -m 10 "http://127.0.0.1:$P2/" | grep -qi hello || fail "page of b"
"$SMOLC" ps > ps.out
grep -q "^a .* 127.0.0.1:$P->80/tcp .* running$" ps.out && grep -q "^b .* 127.0.0.1:$P2->80/tcp .* running$" ps.out \
	|| fail "ps: $(cat ps.out)"

# kill a's QEMU behind smolc's back
pa=$(cat "$SMOLC_STATE_DIR/a/qemu.pid")
kill -9 "$pa"
for _ in $(seq 100); do [ -e "$SMOLC_STATE_DIR/a/exit" ] && break; sleep 0.1; done
"$SMOLC" ps | grep -q '^a ' && fail "ps lists the killed instance"
"$SMOLC" ps -a | grep -q "^a  *$pa .* killed (SIGKILL) [0-9]*s ago$" || fail "ps -a: $("$SMOLC" ps -a)"
# (through a file: grep -q stops reading early, and pipefail would see smolc's SIGPIPE)
"$SMOLC" logs a >logs-a.out 2>&1; grep -q 'serving' logs-a.out || fail "logs of the killed instance lack its console"
"$SMOLC" rm a >/dev/null || fail "rm a"
[ ! -e "$SMOLC_STATE_DIR/a" ] || fail "rm left a's state"
"$SMOLC" stop b >/dev/null 2>&1 || fail "stop b"
"$SMOLC" rm b >/dev/null || fail "rm b"

# a guest whose rc exits 3
P4=$(freeport)
"$SMOLC" run -d --accel tcg --name bad -p "$P4:80" images/bad.yaml >/dev/null 2>err || fail "run bad: $(cat err)"
"$SMOLC" wait bad --port "$P4" --timeout 600 >out 2>err; rc=$?
[ $rc -eq 1 ] || fail "wait on a dead rc: exit $rc: $(cat err)"
grep -q "^smolc: wait: the guest's /etc/rc exited (status 3) before port $P4 of bad answered$" err \
	|| fail "wait message: $(cat err)"
grep -q '^  | init: /etc/rc exited with status 3' err && grep -q '^  | bad: giving up' err || fail "console tail: $(cat err)"
"$SMOLC" ps | grep -q '^bad .* running, rc exited (status 3)$' || fail "ps: $("$SMOLC" ps)"
"$SMOLC" inspect --json bad | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["rc_exit_status"] == 3, d' \
	|| fail "inspect --json rc_exit_status"
"$SMOLC" rm -f bad >/dev/null 2>&1 || fail "rm -f bad"
echo ok
