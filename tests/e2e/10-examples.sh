#!/bin/bash
# 10-examples.sh — every examples/*/Smolfile and services/*/Smolfile must
# pass `smolc check` and `smolc plan` (offline, empty cache: inputs that
# are not fetched yet show as pending, which is fine).
#
# examples/hello boots a guest built by tests/guest/ (ARG GUEST, default
# ../../build/guest). When that guest is not built, the recipe is checked
# and planned with --build-arg GUEST=<a directory of empty stand-ins>, so
# its syntax and every other check still run.
set -u
: "${ROOT:?}" "${SMOLC:?}" "${TEST_TMP:?}"
export SMOLC_COLOR=never SMOLC_CACHE="$TEST_TMP/cache"
fail=0 n=0
for f in "$ROOT"/examples/*/Smolfile "$ROOT"/services/*/Smolfile; do
	[ -f "$f" ] || continue
	rel=${f#"$ROOT"/}
	args=()
	if [ "$rel" = examples/hello/Smolfile ] &&
		! { [ -f "$ROOT/build/guest/vmlinux" ] && [ -f "$ROOT/build/guest/initrd" ] &&
			[ -f "$ROOT/build/guest/busybox.tar.xz" ]; }; then
		mkdir -p "$TEST_TMP/guest"
		: >"$TEST_TMP/guest/vmlinux"
		: >"$TEST_TMP/guest/initrd"
		: >"$TEST_TMP/guest/busybox.tar.xz"
		args=(--build-arg "GUEST=$TEST_TMP/guest")
		echo "note: $rel: guest not built, using empty stand-ins"
	fi
	n=$((n + 1))
	if ! (cd "$ROOT" && "$SMOLC" check "${args[@]}" "$rel"); then
		echo "FAIL: smolc check $rel"
		fail=1
		continue
	fi
	if ! (cd "$ROOT" && "$SMOLC" plan "${args[@]}" "$rel" >"$TEST_TMP/plan.out" 2>"$TEST_TMP/plan.err"); then
		echo "FAIL: smolc plan $rel"
		cat "$TEST_TMP/plan.err"
		fail=1
		continue
	fi
	if [ -s "$TEST_TMP/plan.err" ]; then
		echo "FAIL: smolc plan $rel printed diagnostics:"
		cat "$TEST_TMP/plan.err"
		fail=1
	fi
done
if [ "$n" -eq 0 ]; then
	echo "no examples or services found"
	exit 1
fi
echo "$n recipes checked and planned"
exit $fail
