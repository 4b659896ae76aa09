# bench/lib.sh — shared helpers for the bench scripts (source it).
#
# Figures are printed as result lines on stdout, one per figure:
#   RESULT|<figure>|<smolc>|<standard tool>|<ratio>|<target>|<verdict>
# bench/run.sh collects them into a table. Times are wall-clock
# milliseconds (date +%s%N around the command); peak memory is the max RSS
# from /usr/bin/time (GNU time, Debian package `time`), or from a python
# resource.getrusage(RUSAGE_CHILDREN) wrapper when it is missing.
set -eu

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOLC=${SMOLC:-$BENCH_ROOT/smolc}
# generated inputs live here between runs (never in the checkout)
BENCH_DATA=${BENCH_DATA:-/tmp/smolc-bench}
mkdir -p "$BENCH_DATA"

note() { printf '# %s\n' "$*" >&2; }

# measure LABEL cmd…: runs cmd, sets MS (wall ms) and RSS_KB (peak RSS of
# the command, KiB). stdout/stderr of the command go to $BENCH_LOG.
BENCH_LOG=${BENCH_LOG:-/dev/null}
MS=0 RSS_KB=0
measure() {
	local rf s e rc=0
	rf=$(mktemp "$BENCH_DATA/rss.XXXXXX")
	s=$(date +%s%N)
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f %M -o "$rf" "$@" >>"$BENCH_LOG" 2>&1 || rc=$?
	else
		python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$rf" "$@" >>"$BENCH_LOG" 2>&1 || rc=$?
	fi
	e=$(date +%s%N)
	MS=$(( (e - s) / 1000000 ))
	RSS_KB=$(tail -n 1 "$rf" 2>/dev/null | tr -dc 0-9)
	RSS_KB=${RSS_KB:-0}
	rm -f "$rf"
	if [ "$rc" -ne 0 ]; then
		note "command failed (exit $rc): $*  (log: $BENCH_LOG)"
		return "$rc"
	fi
}

# median of the arguments (integers)
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# result FIGURE SMOLC STANDARD RATIO TARGET VERDICT
result() { printf 'RESULT|%s|%s|%s|%s|%s|%s\n' "$@"; }
# ratio A B (a/b with 2 decimals, "-" if b is 0 or empty)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
# verdict OK-CONDITION (awk expression over nothing) → PASS/FAIL
verdict() { awk "BEGIN { exit !($1) }" && echo PASS || echo FAIL; }
fmt_ms() { awk -v m="$1" 'BEGIN { if (m >= 1000) printf "%.2f s", m / 1000; else printf "%d ms", m }'; }
fmt_kb() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# make_set FILES BYTES → prints the path of a generated base-like set
# (tests/lib/mkset.py --kind base, tar.xz), made once and kept in
# $BENCH_DATA between runs. The tar is written by mkset.py and compressed
# with `xz -3 -T2` (faster to make than mkset's own xz; the same format).
make_set() {
	local f="$BENCH_DATA/base-$1-$2.tar.xz"
	if [ ! -s "$f" ]; then
		note "generating $f (once; reused by later runs)"
		python3 "$BENCH_ROOT/tests/lib/mkset.py" --kind base --files "$1" --bytes "$2" --compress none "$f.tar.tmp"
		xz -3 -T2 -c "$f.tar.tmp" >"$f.tmp"
		rm -f "$f.tar.tmp"
		mv "$f.tmp" "$f"
	fi
	printf '%s\n' "$f"
}
