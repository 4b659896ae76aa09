#!/bin/bash
# bench/run.sh — `make bench`: every performance figure in one run, then one
# summary table: figure | smolc | standard tool | ratio | target | ok.
#
# On a fresh Debian machine: installs the packages (tests/deps.sh, apt-get
# through sudo when not root), builds ./smolc with make, then runs
#   plan    bench/plan.sh     smolc plan/check of a 10k-instruction recipe
#   build   bench/build.sh    cold build vs bsdtar+mke2fs+sgdisk, no-op,
#                             RC-only rebuild, peak RSS
#   minimize bench/minimize.sh MINIMIZE + KEEP curl on the bench set plus
#                             this machine's curl and its libraries: image
#                             size ratio, the step's share of the cold build
#   xz      bench/xz.sh       cold builds of a multi-block and a single-block
#                             xz set vs xz -dc (-T0) and xz | tar, and the
#                             single-threaded path
#   pkgs    bench/pkgs.sh     the pkg resolver on a 20k-package pkg_summary
#                             (when the script exists)
#   regcache bench/regcache.sh a cold build with --cache-from a warm
#                             registry cache (docker-registry on 127.0.0.1)
#                             and an empty local cache vs the cold build
#   run     bench/runbench.sh smolc run overhead over the direct QEMU argv
#   boot    bench/boot.sh     first HTTP answer of examples/hello (the test
#                             guest: Debian's kernel, fetched once, ~15-40 s,
#                             then cached in ~/.cache/smolc-test)
#   runstep bench/runstep.sh  RUN true vs a direct boot to power-off, the
#                             capture after touching one file of the 20k-file
#                             image, a no-op rebuild with a CACHED RUN (test
#                             kernel too)
#   container bench/container.sh  smolc export vs tar+gzip of the same
#                             files, the runtime layer's size, podman run
#                             vs smolc run to the first HTTP answer
#   guest   bench/guest.sh    what each test guest kernel costs: the stock
#                             kernel prepared from nothing, and the first
#                             HTTP answer with it and with the tiny kernel
#                             (when that one is cached), side by side
# A part's RESULT lines (bench/lib.sh) make the table; everything else it
# prints goes to build/bench/bench.log.
#
# Usage: bench/run.sh [--quick] [--skip PART[,PART…]]
# Env:   BENCH_SKIP=boot,build   parts to skip (same as --skip)
#        BENCH_QUICK=1           smaller inputs, fewer runs (same as --quick):
#                                a 2,000-file set, 5 runs of plan, 1 boot
#        SKIP_DEPS=1             do not run tests/deps.sh
#        BENCH_DATA              scratch and cached inputs (default
#                                build/bench/data; the generated sets are kept
#                                there between runs)
# Exit status: 0 when every part ran (misses are in the table), 1 when a
# part failed to run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SKIP=${BENCH_SKIP:-}
QUICK=${BENCH_QUICK:-0}
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--skip) SKIP="$SKIP,${2:?--skip needs a list}"; shift ;;
	--skip=*) SKIP="$SKIP,${1#--skip=}" ;;
	-h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
skipped() { case ",$SKIP," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

step() { printf '\n==> %s\n' "$*" >&2; }

export BENCH_DATA=${BENCH_DATA:-$ROOT/build/bench/data}
mkdir -p "$BENCH_DATA"
LOG=$ROOT/build/bench/bench.log
RES=$(mktemp "$BENCH_DATA/results.XXXXXX")
: >"$LOG"

cur=
cleanup() {
	# a part still running (interrupted): stop it; each part cleans up its
	# own scratch data and the processes it started on exit
	if [ -n "$cur" ]; then
		kill -TERM "$cur" 2>/dev/null || true
		wait "$cur" 2>/dev/null || true
	fi
	rm -f "$RES"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${SKIP_DEPS:-0}" != 1 ]; then
	step "tests/deps.sh (Debian packages)"
	tests/deps.sh
	# GNU time for the peak-RSS figures (lib.sh falls back to python)
	if ! [ -x /usr/bin/time ] && command -v apt-get >/dev/null; then
		S=""; [ "$(id -u)" -eq 0 ] || S=sudo
		DEBIAN_FRONTEND=noninteractive $S apt-get install -y -qq --no-install-recommends time >/dev/null || true
	fi
fi

step "make"
make -j"$(nproc)" smolc >&2
export SMOLC=$ROOT/smolc

if [ "$QUICK" = 1 ]; then
	export BENCH_FILES=${BENCH_FILES:-2000} BENCH_BYTES=${BENCH_BYTES:-25000000}
	export BENCH_PLAN_RUNS=${BENCH_PLAN_RUNS:-5} BENCH_BOOT_RUNS=${BENCH_BOOT_RUNS:-1}
	RUN_N=50
else
	RUN_N=300
fi

failed=()
# part NAME CMD… : run a part, keep its RESULT lines
part() {
	local name=$1; shift
	if skipped "$name"; then
		step "$name: skipped"
		return 0
	fi
	step "$name: $*"
	local out t0 rc=0
	out=$(mktemp "$BENCH_DATA/out.XXXXXX")
	t0=$(date +%s)
	echo "==> $name: $*" >>"$LOG"
	"$@" >"$out" 2> >(tee -a "$LOG" >&2) &
	cur=$!
	wait "$cur" || rc=$?
	cur=
	grep '^RESULT|' "$out" >>"$RES" || true
	grep -v '^RESULT|' "$out" >>"$LOG" || true
	grep '^RESULT|' "$out" | cut -d'|' -f2,3,7 | sed 's/^/   /' >&2 || true
	rm -f "$out"
	if [ "$rc" -ne 0 ]; then
		failed+=("$name")
		printf 'RESULT|%s: did not run to the end (exit %d; see %s)|-|-|-|-|ERROR\n' "$name" "$rc" "$LOG" >>"$RES"
	fi
	printf '    (%s: %d s)\n' "$name" $(( $(date +%s) - t0 )) >&2
}

part plan bench/plan.sh
part build bench/build.sh
part minimize bench/minimize.sh
part xz bench/xz.sh
if [ -x bench/pkgs.sh ] || [ -f bench/pkgs.sh ]; then
	part pkgs bash bench/pkgs.sh
else
	step "pkgs: bench/pkgs.sh not present, skipped"
fi
part regcache bench/regcache.sh
part run env BENCH_NO_HYPERFINE=1 bench/runbench.sh "$SMOLC" "$RUN_N"
part boot bench/boot.sh
part runstep bench/runstep.sh
part container env BENCH_CONTAINER_RUNS="$([ "$QUICK" = 1 ] && echo 1 || echo 3)" bench/container.sh
part guest env BENCH_GUEST_RUNS="$([ "$QUICK" = 1 ] && echo 1 || echo 3)" bench/guest.sh

# ---- the table ----
mode="full"; [ "$QUICK" = 1 ] && mode="quick"
printf '\nsmolc %s benchmarks (%s run, %s, %s CPUs, %s)\n\n' "$(cat VERSION 2>/dev/null || echo '?')" "$mode" \
	"$(uname -m)" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)"
{
	echo "figure|smolc|standard tool|ratio|target|ok"
	echo "---|---|---|---|---|---"
	cut -d'|' -f2- "$RES"
} | awk -F'|' '
	{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR; nf = NF }
	END {
		for (r = 1; r <= n; r++) {
			line = ""
			for (i = 1; i <= nf; i++) {
				v = c[r, i]
				if (v == "---") { v = ""; while (length(v) < w[i]) v = v "-" }
				line = line sprintf("%-*s", w[i], v) (i < nf ? " | " : "")
			}
			print line
		}
	}'
misses=$(grep -c '|FAIL$' "$RES" || true)
printf '\n%d figure(s) miss their target; log: %s\n' "$misses" "${LOG#"$ROOT"/}"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'parts that did not run to the end: %s\n' "${failed[*]}"
	exit 1
fi
