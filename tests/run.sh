#!/bin/bash
# Test driver: static checks (tests/include-check.sh), unit tests (cmocka),
# golden parse/plan tests, end-to-end scripts, JOBS of them at a time (like `make check -j`).
#
# Output: one line per test (PASS/FAIL/SKIP name), in a stable order (lint,
# unit, parse, plan, e2e; by name) whatever order they finish in, the log tail of
# each failure, then a time budget (wall time, the slowest tests) and last
# the line "N passed, N failed, N skipped". Exit 0 when nothing failed.
#
# Env: SMOLC (binary under test), UNIT_DIR (cmocka binaries), ONLY (regex
# filter on the test names), JOBS (parallel tests; default nproc),
# SMOLC_FIXTURES (cache of generated fixtures, default build/fixtures: see
# tests/lib/fixture), SMOLC_SAN (set for the sanitizer build: its durations
# are remembered apart, and e2e scripts marked "# sanitizer pass: not run"
# because they run no smolc code are left out).
#
# Isolation, so that tests can run side by side: each test gets its own
# scratch directory (TEST_TMP and the cwd of e2e scripts), its own
# SMOLC_CACHE and SMOLC_STATE_DIR inside it (tests may point them elsewhere),
# and stdin from /dev/null. Tests pick free ports themselves.
#
# Scheduling: the longest tests start first, using the durations of the
# previous run (build/test-times, build/test-times-san); without them, e2e
# scripts first. Exit status of an e2e script: 0 pass, 77 skip, other fail.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ROOT
SMOLC=${SMOLC:-$ROOT/smolc}
UNIT_DIR=${UNIT_DIR:-$ROOT/build/tests}
export SMOLC
ONLY=${ONLY:-}
JOBS=${JOBS:-$(nproc)}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: JOBS must be a positive number, not '$JOBS'" >&2; exit 2; }
export SMOLC_FIXTURES=${SMOLC_FIXTURES:-$ROOT/build/fixtures}
TIMES=$ROOT/build/test-times${SMOLC_SAN:+-san}
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/smolc-tests.XXXXXX") || exit 1
export SMOLC_TEST_LOGDIR=$LOGDIR

now_ms() { local t=${EPOCHREALTIME//[.,]/}; NOW=$((t / 1000)); } # sets NOW (ms)
now_ms; T_START=$NOW

want() { [ -z "$ONLY" ] || [[ "$1" =~ $ONLY ]]; }

# ---- the tests, in report order ----
names=() kinds=() files=()
add() { # name kind file
	want "$1" || return 0
	names+=("$1"); kinds+=("$2"); files+=("$3")
}
# static checks: layers and include cycles
[ -x "$ROOT/tests/include-check.sh" ] && add lint/include-check lint "$ROOT/tests/include-check.sh"
[ -x "$ROOT/tests/conflict-check.sh" ] && add lint/conflict-check lint "$ROOT/tests/conflict-check.sh"
for t in "$UNIT_DIR"/test_*; do
	[ -x "$t" ] && add "unit/${t##*/}" unit "$t"
done
# golden tests: tests/parse/*.smol → .err (diagnostics, exit code);
# tests/plan/*.smol → .out (plan output)
for f in "$ROOT"/tests/parse/*.smol; do
	f=${f%.smol}; [ -e "$f.smol" ] && add "parse/${f##*/}" parse "$f.smol"
done
for f in "$ROOT"/tests/plan/*.smol; do
	f=${f%.smol}; [ -e "$f.smol" ] && add "plan/${f##*/}" plan "$f.smol"
done
for t in "$ROOT"/tests/e2e/*.sh; do
	[ -e "$t" ] || continue
	# a script that runs no smolc code says so; the sanitizer pass leaves it out
	[ -n "${SMOLC_SAN:-}" ] && grep -q '^# sanitizer pass: not run' "$t" && continue
	n=${t##*/}; add "e2e/${n%.sh}" e2e "$t"
done
ntests=${#names[@]}

# ---- one test: its log in $LOGDIR/N.log, then "rc ms" in $LOGDIR/N.res ----
golden() { # kind file log work
	local kind=$1 f=$2 log=$3 base=${2%.smol} rc exp_rc
	local dir=${f%/*} file=${f##*/}
	if [ "$kind" = parse ]; then
		(cd "$dir" && SMOLC_COLOR=never exec "$SMOLC" check "$file") >"$log.out" 2>"$log.err"
		rc=$?
		exp_rc=$(sed -n 's/^# exit: *//p' "$f" | head -n1); exp_rc=${exp_rc:-2}
		if [ "$rc" -ne "$exp_rc" ]; then
			{ echo "exit $rc, expected $exp_rc"; cat "$log.err"; } >"$log"
			return 1
		fi
		diff -u "$base.err" "$log.err" >"$log" 2>&1
	else
		(cd "$dir" && SMOLC_COLOR=never exec "$SMOLC" plan "$file") >"$log.out" 2>"$log.err"
		rc=$?
		if [ "$rc" -ne 0 ]; then cat "$log.err" >"$log"; return 1; fi
		diff -u "$base.out" "$log.out" >"$log" 2>&1
	fi
}

run_one() { # index
	local i=$1 log=$LOGDIR/$1.log work=$LOGDIR/w$1 rc t0 tpid
	now_ms; t0=$NOW
	mkdir -p "$work"
	# SMOLC_DATA: each test has its own image store (never the user's)
	export SMOLC_CACHE=$work/cache SMOLC_STATE_DIR=$work/state SMOLC_DATA=$work/smolc-data
	case ${kinds[$i]} in
	unit | lint)
		(cd "$ROOT" && exec "${files[$i]}") >"$log" 2>&1
		rc=$?
		;;
	parse | plan)
		golden "${kinds[$i]}" "${files[$i]}" "$log" "$work"
		rc=$?
		;;
	e2e)
		# timeout(1) runs in a process group of its own: pass an
		# interrupt on to it, and let the script clean up
		trap '[ -n "${tpid:-}" ] && kill -TERM "$tpid" 2>/dev/null' TERM
		(cd "$work" && TEST_TMP="$work" exec timeout 1200 bash "${files[$i]}") >"$log" 2>&1 &
		tpid=$!
		wait "$tpid"; rc=$?
		while kill -0 "$tpid" 2>/dev/null; do wait "$tpid"; rc=$?; done
		;;
	esac
	rm -rf "$work"
	now_ms
	echo "$rc $((NOW - t0))" >"$LOGDIR/$i.res.tmp"
	mv "$LOGDIR/$i.res.tmp" "$LOGDIR/$i.res"
}

# ---- start order: longest first (last run's durations) ----
declare -A last=()
if [ -r "$TIMES" ]; then
	while read -r n ms; do [[ $ms =~ ^[0-9]+$ ]] && last[$n]=$ms; done <"$TIMES"
fi
order=()
if [ "$ntests" -gt 0 ]; then
	mapfile -t order < <(
		for ((i = 0; i < ntests; i++)); do
			ms=${last[${names[$i]}]:-}
			if [ -z "$ms" ]; then
				case ${kinds[$i]} in e2e) ms=60000 ;; unit) ms=5000 ;; *) ms=100 ;; esac
			fi
			echo "$ms $i"
		done | sort -k1,1nr -k2,2n | cut -d' ' -f2)
fi

# ---- results, printed in report order as they become known ----
pass=0 fail=0 skip=0
failed=() durs=()
next=0
flush() {
	local rc ms log
	while [ "$next" -lt "$ntests" ] && [ -e "$LOGDIR/$next.res" ]; do
		read -r rc ms <"$LOGDIR/$next.res"
		durs[$next]=$ms
		log=$LOGDIR/$next.log
		if [ "$rc" -eq 0 ]; then
			pass=$((pass + 1)); printf 'PASS %s\n' "${names[$next]}"
		elif [ "$rc" -eq 77 ]; then
			skip=$((skip + 1)); printf 'SKIP %s (%s)\n' "${names[$next]}" "$(tail -n 1 "$log" 2>/dev/null)"
		else
			fail=$((fail + 1)); failed+=("${names[$next]}")
			printf 'FAIL %s (exit %s)\n' "${names[$next]}" "$rc"
			sed 's/^/    | /' "$log" | tail -n 40
		fi
		next=$((next + 1))
	done
}

declare -A running=()
stop_all() {
	local p
	trap '' INT TERM
	echo "run.sh: interrupted; stopping ${#running[@]} running test(s)" >&2
	for p in "${!running[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
	wait
	rm -rf "$LOGDIR"
	exit 130
}
trap stop_all INT TERM

reap() { # wait for one test to end
	local p
	wait -n -p p
	[ -n "${p:-}" ] && unset "running[$p]"
	flush
}
for i in "${order[@]}"; do
	while [ "${#running[@]}" -ge "$JOBS" ]; do reap; done
	# each test in a process group of its own (job control on for the
	# fork only), so that an interrupt can stop it whole
	set -m
	run_one "$i" </dev/null >/dev/null 2>&1 &
	running[$!]=1
	set +m
done
while [ "${#running[@]}" -gt 0 ]; do reap; done
flush

# ---- durations for the next run's order; the time budget ----
if [ "$ntests" -gt 0 ]; then
	{
		for ((i = 0; i < ntests; i++)); do echo "${names[$i]} ${durs[$i]:-0}"; last[${names[$i]}]=; done
		for n in "${!last[@]}"; do [ -n "${last[$n]}" ] && echo "$n ${last[$n]}"; done
	} | sort >"$TIMES.tmp.$$" 2>/dev/null && mv "$TIMES.tmp.$$" "$TIMES" 2>/dev/null
	rm -f "$TIMES.tmp.$$"
	now_ms; wall=$((NOW - T_START)) sum=0
	for ((i = 0; i < ntests; i++)); do sum=$((sum + ${durs[$i]:-0})); done
	s() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }
	printf 'time: %s s wall for %d tests, %d at a time (%s s of test time); slowest:\n' \
		"$(s "$wall")" "$ntests" "$JOBS" "$(s "$sum")"
	for ((i = 0; i < ntests; i++)); do echo "${durs[$i]:-0} ${names[$i]}"; done |
		sort -k1,1nr | head -n 8 | while read -r ms n; do printf '  %7s s  %s\n' "$(s "$ms")" "$n"; done
fi

rm -rf "$LOGDIR"
if [ "$fail" -gt 0 ]; then
	printf 'failed tests: %s\n' "${failed[*]}"
fi
printf '%d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
[ "$fail" -eq 0 ]
