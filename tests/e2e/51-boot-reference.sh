#!/bin/bash
# 51-boot-reference — the offline test guest itself boots, without smolc:
# tests/guest/boot-reference.sh builds the hello image with standard tools
# (bsdtar, mke2fs -d, sgdisk) and boots it under QEMU microvm/TCG.
#  1. http: busybox httpd answers through the forwarded port with the page
#     of examples/hello (rw root by PARTLABEL=helloroot);
#  2. selftest: read-only root by root=/dev/vda1 + `ro`, a 9p share readable
#     in the guest, `poweroff` ends QEMU by itself.
# No qemu process of this test may be left behind.
# Env: ROOT (repo), TEST_TMP (scratch). Exit 0 pass, 77 skip, 1 fail.
# sanitizer pass: not run (no smolc code here; tests/run.sh)
set -u
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
TEST_TMP=${TEST_TMP:-$(mktemp -d)}
# shellcheck source=../guest/lib.sh
. "$ROOT/tests/guest/lib.sh"
G=$ROOT/tests/guest

fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "skip: $*"; exit 77; }

for t in qemu-system-x86_64 bsdtar mke2fs sgdisk curl python3 flock; do
	command -v "$t" >/dev/null || skip "$t not installed (tests/deps.sh)"
done
[ -r /usr/src/linux-source-6.1.tar.xz ] || skip "linux-source-6.1 not installed (tests/deps.sh)"

cleanup() {
	local p
	for p in $(qemu_pids_matching "$TEST_TMP"); do kill -KILL "$p" 2>/dev/null; done
}
trap cleanup EXIT

echo "== kernel (cached build)"
kernel=$("$G/build-kernel.sh") || fail "tests/guest/build-kernel.sh failed"
echo "$kernel"
guest_prepare "$TEST_TMP/guest" || fail "could not prepare the guest in $TEST_TMP/guest"

echo "== http boot"
port=$(free_port)
page=$(timeout 180 "$G/boot-reference.sh" -w "$TEST_TMP/http" -p "$port" \
	--kernel "$kernel" --guest "$TEST_TMP/guest" --timeout 120 http) ||
	fail "boot-reference.sh http failed"
printf '%s\n' "$page"
grep -q '<h1>Hello from a smolc micro-VM</h1>' <<<"$page" || fail "page content is not examples/hello's"
cat "$TEST_TMP/http/timings"
[ -z "$(qemu_pids_matching "$TEST_TMP/http")" ] || fail "qemu left running after the http boot"

echo "== selftest: ro root via /dev/vda1, 9p share, poweroff"
mkdir -p "$TEST_TMP/share"
echo "token-$$-$RANDOM" >"$TEST_TMP/share/hello.txt"
timeout 180 "$G/boot-reference.sh" -w "$TEST_TMP/st" -p "$(free_port)" --ro --root dev \
	--share "$TEST_TMP/share" --kernel "$kernel" --guest "$TEST_TMP/guest" \
	--timeout 120 selftest || fail "boot-reference.sh selftest failed"
grep -q 'ro,' <(grep '^selftest: root mount' "$TEST_TMP/st/console.log") || fail "root not mounted ro"
cat "$TEST_TMP/st/timings"
[ -z "$(qemu_pids_matching "$TEST_TMP")" ] || fail "qemu process left behind"
echo "ok"
