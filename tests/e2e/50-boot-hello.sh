#!/bin/bash
# 50-boot-hello — the README's demo through the smolc CLI, end to end:
#   smolc build examples/hello/Smolfile   (offline, private cache and output)
#   smolc run -d <run config> --name N    (detached)
#   smolc wait N --port P                 (P: a free port, via --build-arg PORT)
#   HTTP GET through the forwarded port returns the example's page
#   smolc ps lists N; smolc stop N ends it; ps no longer lists it;
#   no qemu process of this test is left.
# Env: ROOT, SMOLC, TEST_TMP; SMOLC_TEST_ACCEL forces `--accel` (default:
# smolc's automatic choice, which must end up on TCG on these machines).
set -u
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
SMOLC=${SMOLC:-$ROOT/smolc}
TEST_TMP=${TEST_TMP:-$(mktemp -d)}
export SMOLC
# shellcheck source=../guest/lib.sh
. "$ROOT/tests/guest/lib.sh"

fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "skip: $*"; exit 77; }
run_logged() { # log cmd... ; runs with a time limit, output into log
	local log=$1; shift
	timeout 300 "$@" >"$log" 2>&1
}

[ -x "$SMOLC" ] || fail "no smolc binary at $SMOLC (run make)"
for t in qemu-system-x86_64 curl python3; do
	command -v "$t" >/dev/null || skip "$t not installed (tests/deps.sh)"
done
[ -r /usr/src/linux-source-6.1.tar.xz ] || skip "linux-source-6.1 not installed (tests/deps.sh)"

name=hello-e2e-$$
port=$(free_port)
out=$TEST_TMP/out
started=0
cleanup() {
	local p
	if [ "$started" = 1 ]; then
		timeout 30 "$SMOLC" stop "$name" --timeout 10 >/dev/null 2>&1
	fi
	for p in $(qemu_pids_matching "$TEST_TMP"); do kill -KILL "$p" 2>/dev/null; done
}
trap cleanup EXIT

echo "== guest (kernel cached, set) in $TEST_TMP/guest"
guest_prepare "$TEST_TMP/guest" || fail "could not prepare the test guest"

echo "== smolc build"
if ! run_logged "$TEST_TMP/build.log" "$SMOLC" build -o "$out" --cache-dir "$TEST_TMP/cache" \
	--offline --build-arg GUEST="$TEST_TMP/guest" --build-arg PORT="$port" \
	"$ROOT/examples/hello/Smolfile"; then
	cat "$TEST_TMP/build.log"
	fail "smolc build examples/hello/Smolfile failed"
fi
cat "$TEST_TMP/build.log"
img=$(find "$out" -name 'hello-*.img' | head -n1)
yaml=$(find "$out" -name 'hello-*.yaml' | head -n1)
{ [ -n "$img" ] && [ -s "$img" ]; } || fail "no hello-<arch>.img under $out"
[ -n "$yaml" ] || fail "no hello-<arch>.yaml run config under $out"
echo "image $img, run config $yaml"

echo "== smolc run -d"
accel=()
[ -z "${SMOLC_TEST_ACCEL:-}" ] || accel=(--accel "$SMOLC_TEST_ACCEL")
started=1
t0=$(date +%s%N)
if ! run_logged "$TEST_TMP/run.log" "$SMOLC" run -d --name "$name" "${accel[@]}" "$yaml"; then
	cat "$TEST_TMP/run.log"
	fail "smolc run -d failed"
fi
cat "$TEST_TMP/run.log"

echo "== smolc wait $name --port $port"
if ! run_logged "$TEST_TMP/wait.log" "$SMOLC" wait "$name" --port "$port" --timeout 120; then
	cat "$TEST_TMP/wait.log"
	timeout 10 "$SMOLC" logs "$name" 2>&1 | tail -n 40
	fail "smolc wait: $name did not answer on port $port"
fi
page=$(http_get "$port") || { timeout 10 "$SMOLC" logs "$name" 2>&1 | tail -n 40; fail "GET http://127.0.0.1:$port/ failed"; }
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
printf '%s\n' "$page"
grep -q '<h1>Hello from a smolc micro-VM</h1>' <<<"$page" || fail "the page is not examples/hello/www/index.html"
echo "page served ${ms} ms after smolc run started (TCG)"

echo "== smolc ps"
timeout 30 "$SMOLC" ps >"$TEST_TMP/ps.log" 2>&1 || { cat "$TEST_TMP/ps.log"; fail "smolc ps failed"; }
cat "$TEST_TMP/ps.log"
grep -qw -- "$name" "$TEST_TMP/ps.log" || fail "smolc ps does not list $name"

echo "== smolc stop $name"
run_logged "$TEST_TMP/stop.log" "$SMOLC" stop "$name" --timeout 30 || { cat "$TEST_TMP/stop.log"; fail "smolc stop failed"; }
started=0
timeout 30 "$SMOLC" ps >"$TEST_TMP/ps2.log" 2>&1 || { cat "$TEST_TMP/ps2.log"; fail "smolc ps failed after stop"; }
cat "$TEST_TMP/ps2.log"
! grep -qw -- "$name" "$TEST_TMP/ps2.log" || fail "smolc ps still lists $name after stop"
left=$(qemu_pids_matching "$TEST_TMP")
[ -z "$left" ] || fail "qemu still running after smolc stop (pids $left)"
if curl -fsS --max-time 3 "http://127.0.0.1:$port/" >/dev/null 2>&1; then
	fail "port $port still answers after smolc stop"
fi
echo "ok"
