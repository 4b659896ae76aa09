#!/bin/bash
# tests/demo.sh — the README's main job (`make demo`): on a fresh Debian
# machine, build and boot examples/hello and show its page.
#
#   1. tests/deps.sh            Debian packages (asks sudo when not root)
#   2. make                     ./smolc
#   3. tests/guest/build-kernel.sh   Linux test kernel (built once, cached in
#                               ~/.cache/smolc-test, ~4-6 min the first time)
#   4. tests/guest/mkset.py build/guest   busybox set + SHA512
#   5. ./smolc build examples/hello/Smolfile
#   6. ./smolc run -d hello; ./smolc wait hello --port 8080 --timeout 120
#   7. curl the page, print it and the boot time (TCG here), ./smolc stop hello
# The VM is always stopped on exit.
# Env: DEMO_PORT (host port, default 8080), SKIP_DEPS=1 (skip step 1),
#      SMOLC (binary, default ./smolc).
set -euo pipefail
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

step "make"
make -j2 >&2

step "tests/guest/build-kernel.sh (cached; the first build takes a few minutes)"
kernel=$(tests/guest/build-kernel.sh)
echo "$kernel" >&2

step "busybox set and kernel into build/guest"
guest_prepare "$ROOT/build/guest" || die "could not prepare build/guest"
ls -l build/guest >&2

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
