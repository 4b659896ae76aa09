#!/bin/bash
# The full test run (`make test`, and .ci/run on a clean clone):
#   1. install the Debian packages the build and tests need (tests/deps.sh)
#   2. build with -Werror, and the Linux test guest's kernel: Debian's stock
#      kernel + initramfs (tests/guest/stock-kernel.sh, cached outside the
#      checkout; ~15-40 s the first time on a machine), or the compiled-in
#      tiny kernel when it is cached (SMOLC_TEST_KERNEL=tiny builds it:
#      ~4-6 minutes, which the suite's few boots do not pay back)
#   3. run every test (unit, golden, end-to-end) with the normal build
#   4. run them again with the ASan+UBSan build (leaks are errors)
#   5. fuzz the front end for a bounded time (FUZZ_SECONDS, default 60)
# Ends with one line: "total: N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
export SMOLC_COLOR=never
JOBS=${JOBS:-$(nproc)}
tp=0 tf=0 ts=0
stage_fail=0

summ() { # add the "N passed, N failed, N skipped" line of a log to the totals
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n1)
	if [ -z "$line" ]; then
		tf=$((tf + 1)); return
	fi
	set -- $line
	tp=$((tp + $1)); tf=$((tf + $3)); ts=$((ts + ${5:-0}))
}

echo "== deps"
tests/deps.sh || { echo "deps: installing packages failed"; echo "total: 0 passed, 1 failed, 0 skipped"; exit 1; }

echo "== build (-Werror)"
if ! make -s -j"$JOBS" WERROR=1 smolc unit; then
	echo "build failed"; echo "total: 0 passed, 1 failed, 0 skipped"; exit 1
fi

echo "== test guest kernel (tests/guest/lib.sh guest_prepare)"
if ! (. tests/guest/lib.sh && guest_prepare build/guest && cat build/guest/KERNEL); then
	echo "FAIL guest/prepare"; tf=$((tf + 1))
fi

log=$(mktemp)
echo "== tests"
SMOLC=$PWD/smolc UNIT_DIR=build/tests tests/run.sh 2>&1 | tee "$log"
summ "$log"

echo "== tests under ASan+UBSan"
if make -s -j"$JOBS" WERROR=1 smolc-asan $(ls tests/unit/test_*.c 2>/dev/null | sed 's#tests/unit/\(.*\)\.c#build/tests-san/\1#'); then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		SMOLC=$PWD/smolc-asan UNIT_DIR=build/tests-san SMOLC_SAN=1 tests/run.sh 2>&1 | tee "$log"
	summ "$log"
else
	echo "sanitizer build failed"; tf=$((tf + 1))
fi

echo "== fuzz (${FUZZ_SECONDS:-60} s)"
if [ -x tests/fuzz/run.sh ]; then
	if tests/fuzz/run.sh "${FUZZ_SECONDS:-60}" >"$log" 2>&1; then
		tp=$((tp + 1)); echo "PASS fuzz/front-end"
	else
		tf=$((tf + 1)); echo "FAIL fuzz/front-end"; tail -n 40 "$log"
	fi
fi
rm -f "$log"

echo "total: $tp passed, $tf failed, $ts skipped"
[ "$tf" -eq 0 ]
