#!/bin/bash
# The round trip a CI job and a deploy host make: build examples/hello ->
# push to a registry -> rmi -> pull -> run by name (the Linux test guest
# booted under TCG, detached) -> the page through the forwarded port ->
# stop; the pulled image has the key of the build. The guest is the test
# guest's (tests/guest/lib.sh: Debian's stock kernel and its initrd, which
# the store and the registry carry with the image).
set -euo pipefail
. "$ROOT/tests/lib/common.sh"
. "$ROOT/tests/lib/registry.sh"
. "$ROOT/tests/guest/lib.sh"
reg_have
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_DATA=$TEST_TMP/data DOCKER_CONFIG=$TEST_TMP/docker
export SMOLC_STATE_DIR=$TEST_TMP/state
unset QEMU_ACCEL SMOLC_QEMU
name=rt-$$
started=0
stop_vm() {
	[ "$started" = 1 ] && timeout 30 "$SMOLC" stop "$name" --timeout 10 >/dev/null 2>&1
	local p
	for p in $(qemu_pids_matching "$TEST_TMP"); do kill -KILL "$p" 2>/dev/null; done
	return 0
}
t_on_exit stop_vm

guest_prepare "$TEST_TMP/guest" || fail "could not prepare the test guest"
port=$(free_port)
run "$SMOLC" build -o out --offline --build-arg GUEST="$TEST_TMP/guest" --build-arg PORT="$port" \
	-t hello:rt "$ROOT/examples/hello/Smolfile"
expect_rc 0 "build examples/hello"
bkey=$(printf '%s\n' "$OUT" | sed -n 's/^  key     //p')

reg_start plain
run "$SMOLC" push hello:rt "$REG/smol/hello"
expect_rc 0 push
run "$SMOLC" rmi hello:rt
expect_rc 0 rmi
assert_contains "$OUT" "image deleted" "rmi deleted the image"
run "$SMOLC" pull "$REG/smol/hello:rt"
expect_rc 0 pull
assert_contains "$OUT" "(image key ${bkey:0:12})" "pulled key"
python3 - "$("$SMOLC" images --json)" "$REG/smol/hello" "$bkey" <<'PY' || fail "images after pull"
import json, sys
a = json.loads(sys.argv[1])
assert [(e["name"], e["tag"], e["key"]) for e in a] == [(sys.argv[2], "rt", sys.argv[3])], a
PY

# run it by name from a directory without images/
mkdir -p elsewhere && cd elsewhere
started=1
run timeout 300 "$SMOLC" run -d --name "$name" "$REG/smol/hello:rt"
expect_rc 0 "run -d of the pulled image"
run timeout 300 "$SMOLC" wait "$name" --port "$port" --timeout 240
[ "$RC" -eq 0 ] || { timeout 10 "$SMOLC" logs "$name" 2>&1 | tail -n 30; fail "wait: $OUT"; }
page=$(http_get "$port") || fail "GET http://127.0.0.1:$port/"
assert_contains "$page" "<h1>Hello from a smolc micro-VM</h1>" "the page"
run timeout 60 "$SMOLC" stop "$name" --timeout 30
expect_rc 0 stop
started=0
# READONLY: the stored disk was opened read-only and is unchanged
D=$SMOLC_DATA/images/$bkey
run "$SMOLC" images
assert_match "$OUT" "^$REG/smol/hello +rt +amd64 .* ${bkey:0:12}$" "still intact"
echo ok
