#!/bin/bash
# tests/demo.sh — the README's main job (`make demo`): on a fresh Debian
# machine, build and boot examples/hello and show its page.
#
#   1. tests/deps.sh            Debian packages (asks sudo when not root)
#   2. make                     ./smolc, while in the background:
#      guest_prepare build/guest  the Linux test guest (tests/guest/lib.sh):
#                               Debian's stock kernel (apt-get download of
#                               the package linux-image-amd64 names, ~70 MB,
#                               unpacked, vmlinux + initramfs; cached in
#                               ~/.cache/smolc-test by package version), or
#                               the compiled-in tiny kernel when it is
#                               already built there; + the busybox set
#   3. ./smolc build examples/hello/Smolfile
#   4. ./smolc run -d hello; ./smolc wait hello --port 8080 --timeout 120
#   5. curl the page, print it, the boot time (TCG here), the whole
#      demo's time and what it downloaded; ./smolc stop hello
# The VM is always stopped on exit.
# Env: DEMO_PORT (host port, default 8080), SKIP_DEPS=1 (skip step 1),
#      SMOLC (binary, default ./smolc), SMOLC_TEST_KERNEL (tiny | stock |
#      auto, the default: tiny when cached, else stock).
set -euo pipefail
demo_t0=$(date +%s%N)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export SMOLC=${SMOLC:-$ROOT/smolc}
# shellcheck source=guest/lib.sh
. "$ROOT/tests/guest/lib.sh"
PORT=${DEMO_PORT:-8080}
NAME=hello

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

running=0
cleanup() {
	if [ "$running" = 1 ]; then
		step "./smolc stop $NAME"
		if ! "$SMOLC" stop "$NAME" --timeout 20 >&2; then
			# safety net: a QEMU of this demo's image that smolc lost track of
			local p
			for p in $(qemu_pids_matching "$ROOT/images/$NAME-"); do
				echo "demo: killing QEMU $p (runs $ROOT/images/$NAME-*)" >&2
				kill -TERM "$p" 2>/dev/null || true
			done
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${SKIP_DEPS:-0}" != 1 ]; then
	step "tests/deps.sh (Debian packages)"
	tests/deps.sh
fi

step "make, and meanwhile the test guest into build/guest (kernel: $(guest_kernel))"
mkdir -p build
glog=$ROOT/build/demo-guest.log
guest_prepare "$ROOT/build/guest" >"$glog" 2>&1 &
gpid=$!
if ! make -j2 >&2; then
	wait "$gpid" || true
	die "make failed"
fi
gst=0
wait "$gpid" || gst=$?
cat "$glog" >&2
[ "$gst" = 0 ] || die "could not prepare the test guest in build/guest (log above: $glog)"
cat build/guest/KERNEL >&2
ls -l build/guest >&2
downloaded=$(sed -n 's/^stock-kernel: downloaded \(.*\) at .*/\1/p' "$glog")

step "./smolc build examples/hello/Smolfile"
"$SMOLC" build --build-arg PORT="$PORT" examples/hello/Smolfile >&2

step "./smolc run -d $NAME"
t0=$(date +%s%N)
running=1
"$SMOLC" run -d "$NAME" >&2

step "./smolc wait $NAME --port $PORT --timeout 120"
"$SMOLC" wait "$NAME" --port "$PORT" --timeout 120 >&2 ||
	{ "$SMOLC" logs "$NAME" >&2 || true; die "$NAME did not answer on port $PORT"; }
wait_http "$PORT" 30 >/dev/null || die "no HTTP answer on 127.0.0.1:$PORT"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))

step "curl http://127.0.0.1:$PORT/"
http_get "$PORT"
printf '\ndemo: %s answered %d ms after `smolc run` started (QEMU TCG, software emulation: no usable KVM here)\n' \
	"$NAME" "$ms" >&2
printf 'demo: kernel: %s\n' "$(cat build/guest/KERNEL)" >&2
printf 'demo: downloaded: %s\n' "${downloaded:-nothing (the guest kernel was cached)}" >&2
printf 'demo: whole demo (deps, make, guest, build, boot, page) took %d s\n' \
	$(( ($(date +%s%N) - demo_t0) / 1000000000 )) >&2
