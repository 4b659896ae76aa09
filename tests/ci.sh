#!/bin/bash
# The full test run (`make test`, and .ci/run on a clean clone):
#   1. install the Debian packages the build and tests need (tests/deps.sh)
#   2. build with -Werror, and the Linux test guest's kernel: Debian's stock
#      kernel + initramfs (tests/guest/stock-kernel.sh, cached outside the
#      checkout; ~20 s the first time on a machine), or the compiled-in tiny
#      kernel when it is cached (SMOLC_TEST_KERNEL=tiny builds it: ~4-6
#      minutes, which the suite's few boots do not pay back)
#   3. run every test (unit, golden, end-to-end) with the normal build,
#      JOBS at a time (tests/run.sh), while the ASan+UBSan build and the
#      fuzzer are compiled beside them
#   4. run them again with the ASan+UBSan build (leaks are errors), while
#   5. the front end, archive reading and pkg_summary are fuzzed for a
#      bounded time (FUZZ_SECONDS, default 60, for the front end; a third
#      of it for each of the others)
# Ends with the wall time of each stage and one line:
# "total: N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
export SMOLC_COLOR=never
JOBS=${JOBS:-$(nproc)}
export JOBS
tp=0 tf=0 ts=0
T0=$(date +%s)
stages=()
stage_end() { # name: record the wall time since the previous stage ended
	local t; t=$(date +%s)
	stages+=("$1 $((t - ${T_STAGE:-$T0}))s")
	T_STAGE=$t
}
summ() { # add the "N passed, N failed, N skipped" line of a log to the totals
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n1)
	if [ -z "$line" ]; then
		tf=$((tf + 1)); return
	fi
	set -- $line
	tp=$((tp + $1)); tf=$((tf + $3)); ts=$((ts + ${5:-0}))
}
bg_pids=()
trap 'for p in "${bg_pids[@]+"${bg_pids[@]}"}"; do kill "$p" 2>/dev/null; done' EXIT

echo "== deps"
tests/deps.sh || { echo "deps: installing packages failed"; echo "total: 0 passed, 1 failed, 0 skipped"; exit 1; }

echo "== build (-Werror)"
if ! make -s -j"$JOBS" WERROR=1 smolc unit; then
	echo "build failed"; echo "total: 0 passed, 1 failed, 0 skipped"; exit 1
fi
stage_end build

# the sanitizer build and the fuzzer, compiled while the first tests run
sanlog=$(mktemp) log=$(mktemp) fuzzlog=$(mktemp)
SAN_UNITS=$(ls tests/unit/test_*.c 2>/dev/null | sed 's#tests/unit/\(.*\)\.c#build/tests-san/\1#')
{
	make -s -j"$JOBS" WERROR=1 smolc-asan $SAN_UNITS >"$sanlog" 2>&1 || exit 1
	if command -v clang >/dev/null; then make -s fuzzers >>"$sanlog" 2>&1 || exit 2; fi
} &
san_pid=$!
bg_pids+=("$san_pid")

echo "== test guest kernel (tests/guest/lib.sh guest_prepare)"
if ! (. tests/guest/lib.sh && guest_prepare build/guest && cat build/guest/KERNEL); then
	echo "FAIL guest/prepare"; tf=$((tf + 1))
fi
stage_end kernel

echo "== tests"
SMOLC=$PWD/smolc UNIT_DIR=build/tests tests/run.sh 2>&1 | tee "$log"
summ "$log"
stage_end tests

wait "$san_pid"; san_rc=$?
fuzz_pid=''
if [ "$san_rc" -ne 2 ] && [ -x tests/fuzz/run.sh ]; then
	tests/fuzz/run.sh "${FUZZ_SECONDS:-60}" >"$fuzzlog" 2>&1 &
	fuzz_pid=$!
	bg_pids+=("$fuzz_pid")
fi

echo "== tests under ASan+UBSan"
if [ "$san_rc" -ne 1 ]; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		SMOLC=$PWD/smolc-asan UNIT_DIR=build/tests-san SMOLC_SAN=1 tests/run.sh 2>&1 | tee "$log"
	summ "$log"
else
	cat "$sanlog"; echo "sanitizer build failed"; tf=$((tf + 1))
fi
stage_end tests-san

echo "== fuzz (${FUZZ_SECONDS:-60} s)"
if [ "$san_rc" -eq 2 ]; then
	cat "$sanlog"; tf=$((tf + 1)); echo "FAIL fuzz/front-end (the fuzzer does not build)"
elif [ -n "$fuzz_pid" ]; then
	if wait "$fuzz_pid"; then
		tp=$((tp + 1)); echo "PASS fuzz/front-end,archive,pkg_summary"
	else
		tf=$((tf + 1)); echo "FAIL fuzz/front-end,archive,pkg_summary"; tail -n 40 "$fuzzlog"
	fi
fi
stage_end fuzz
rm -f "$log" "$sanlog" "$fuzzlog"

echo "time: $(( $(date +%s) - T0 ))s in all (${stages[*]})"
echo "total: $tp passed, $tf failed, $ts skipped"
[ "$tf" -eq 0 ]
