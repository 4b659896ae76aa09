#!/bin/bash
# Test driver: unit tests (cmocka), golden parse/plan tests, end-to-end
# scripts. Prints one line per test and a final "N passed, N failed, N skipped".
# Env: SMOLC (binary under test), UNIT_DIR (cmocka binaries), ONLY (regex filter).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ROOT
SMOLC=${SMOLC:-$ROOT/smolc}
UNIT_DIR=${UNIT_DIR:-$ROOT/build/tests}
export SMOLC
ONLY=${ONLY:-}
pass=0 fail=0 skip=0
failed=()
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/smolc-tests.XXXXXX")
export SMOLC_TEST_LOGDIR=$LOGDIR

result() { # name rc logfile
	local name=$1 rc=$2 log=$3
	if [ "$rc" -eq 0 ]; then
		pass=$((pass + 1)); printf 'PASS %s\n' "$name"
	elif [ "$rc" -eq 77 ]; then
		skip=$((skip + 1)); printf 'SKIP %s (%s)\n' "$name" "$(tail -n 1 "$log" 2>/dev/null)"
	else
		fail=$((fail + 1)); failed+=("$name"); printf 'FAIL %s (exit %s)\n' "$name" "$rc"
		sed 's/^/    | /' "$log" | tail -n 40
	fi
}

want() { [ -z "$ONLY" ] || [[ "$1" =~ $ONLY ]]; }

# 0. static checks: layers and include cycles (tests/include-check.sh)
if want "lint/include-check"; then
	log="$LOGDIR/include-check.log"
	"$ROOT/tests/include-check.sh" >"$log" 2>&1
	result "lint/include-check" $? "$log"
fi

# 1. unit tests
for t in "$UNIT_DIR"/test_*; do
	[ -x "$t" ] || continue
	name="unit/$(basename "$t")"; want "$name" || continue
	log="$LOGDIR/$(basename "$t").log"
	(cd "$ROOT" && "$t") >"$log" 2>&1
	result "$name" $? "$log"
done

# 2. golden tests: tests/parse/*.smol → .err (diagnostics, exit code);
#    tests/plan/*.smol → .out (plan output)
golden() { # kind file
	local kind=$1 f=$2 base=${2%.smol} name log rc exp_rc
	name="$kind/$(basename "$base")"; want "$name" || return 0
	log="$LOGDIR/$kind-$(basename "$base").log"
	local dir; dir=$(dirname "$f")
	if [ "$kind" = parse ]; then
		(cd "$dir" && SMOLC_COLOR=never "$SMOLC" check "$(basename "$f")") >"$log.out" 2>"$log.err"
		rc=$?
		exp_rc=$(sed -n 's/^# exit: *//p' "$f" | head -n1); exp_rc=${exp_rc:-2}
		if [ "$rc" -ne "$exp_rc" ]; then
			echo "exit $rc, expected $exp_rc" >"$log"; cat "$log.err" >>"$log"; result "$name" 1 "$log"; return
		fi
		if ! diff -u "$base.err" "$log.err" >"$log" 2>&1; then result "$name" 1 "$log"; return; fi
		result "$name" 0 "$log"
	else
		(cd "$dir" && SMOLC_COLOR=never SMOLC_CACHE="$LOGDIR/empty-cache" "$SMOLC" plan "$(basename "$f")") >"$log.out" 2>"$log.err"
		rc=$?
		if [ "$rc" -ne 0 ]; then cat "$log.err" >"$log"; result "$name" 1 "$log"; return; fi
		if ! diff -u "$base.out" "$log.out" >"$log" 2>&1; then result "$name" 1 "$log"; return; fi
		result "$name" 0 "$log"
	fi
}
for f in "$ROOT"/tests/parse/*.smol; do [ -e "$f" ] && golden parse "$f"; done
for f in "$ROOT"/tests/plan/*.smol; do [ -e "$f" ] && golden plan "$f"; done

# 3. end-to-end scripts: exit 0 pass, 77 skip, anything else fail
for t in "$ROOT"/tests/e2e/*.sh; do
	[ -e "$t" ] || continue
	name="e2e/$(basename "$t" .sh)"; want "$name" || continue
	log="$LOGDIR/e2e-$(basename "$t" .sh).log"
	work=$(mktemp -d "$LOGDIR/work.XXXXXX")
	# SMOLC_DATA: each test has its own image store (never the user's)
	(cd "$work" && TEST_TMP="$work" SMOLC_DATA="$work/smolc-data" timeout 1200 bash "$t") >"$log" 2>&1
	result "$name" $? "$log"
done

rm -rf "$LOGDIR"
if [ "$fail" -gt 0 ]; then
	printf 'failed tests: %s\n' "${failed[*]}"
fi
printf '%d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
[ "$fail" -eq 0 ]
