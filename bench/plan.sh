#!/bin/bash
# bench/plan.sh — the front end on a 10,000-instruction recipe.
#
# Input: bench/gen_smolfile.py writes a valid Smolfile of BENCH_PLAN_N
# instructions (default 10,000: ARG, ENV, LABEL, COPY, POSTINST heredocs,
# PORTS, SHARE, a 2,000-line RC heredoc; see the generator) plus the same
# recipe as a bash script, into $BENCH_DATA/plan-<N>.
# Each command runs BENCH_PLAN_RUNS times (default 21, after 2 warm-up runs:
# shared machines have bursts of noise) through bench/timeit.py: best and
# median wall time, median CPU time, peak RSS of the child.
#
# Figures:
#   smolc plan   (parse, check, expand, the 1,500 COPY inputs' digests, keys;
#                the digests come from the memo after the first run)
#                vs `bash -n recipe.sh` + `sha256sum` of the COPY files —
#                the standard tools doing the same parse and the same
#                hashing; target < 50 ms (median wall)
#   smolc check  vs `bash -n recipe.sh` (parse only); target < 50 ms
#   startup      `smolc check` of a 2-line recipe vs `bash -n` of a 2-line
#                script: the fixed cost of starting the process (libc and
#                libyaml, jansson, libcrypto; the other libraries are in
#                libsmolc-backend.so, loaded on first use), so the
#                figures above can be read as startup + work
#   peak memory  of smolc plan; target < 64 MiB
set -eu
. "$(dirname "$0")/lib.sh"

N=${BENCH_PLAN_N:-10000}
RUNS=${BENCH_PLAN_RUNS:-21}
D="$BENCH_DATA/plan-$N"
TIMEIT=(python3 "$BENCH_ROOT/bench/timeit.py" -n "$RUNS" -w 2)

if [ ! -s "$D/Smolfile" ] || [ "$BENCH_ROOT/bench/gen_smolfile.py" -nt "$D/Smolfile" ]; then
	note "generating $D ($N instructions)"
	rm -rf "$D"
	python3 "$BENCH_ROOT/bench/gen_smolfile.py" -n "$N" "$D"
	# smolc's digest memo does not trust files changed in the last 2 s
	# (their next change could keep the same timestamps): let them settle
	# as a recipe in version control has
	sleep 2
fi
printf 'FROM scratch\nSERVICE tiny\n' >"$D/tiny.smol"
printf 'TAG=v1\nmkdir -p "$ROOT"\n' >"$D/tiny.sh"
# the standard-tool flow for plan: parse the script, hash the COPY inputs
cat >"$D/std-plan.sh" <<'EOF'
#!/bin/bash
set -e
cd "$(dirname "$0")"
bash -n recipe.sh
sha256sum files/* >/dev/null
EOF
chmod +x "$D/std-plan.sh"

# the recipe must be valid, or the timings mean nothing
out=$("$SMOLC" check "$D/Smolfile")
case $out in *"ok ($N instructions"*) ;; *) note "smolc check: $out"; exit 1 ;; esac
bash -n "$D/recipe.sh"

# t NAME CMD… → sets NAME_best NAME_med NAME_cpu NAME_rss
t() {
	local name=$1; shift
	local r
	r=$("${TIMEIT[@]}" --cwd "$D" -- "$@") || { note "timing failed: $*"; exit 1; }
	read -r b m c k <<<"$r"
	printf -v "${name}_best" %s "$b"
	printf -v "${name}_med" %s "$m"
	printf -v "${name}_cpu" %s "$c"
	printf -v "${name}_rss" %s "$k"
	note "$name: best $b ms, median $m ms, CPU $c ms, RSS $k KiB  ($*)"
}

t plan "$SMOLC" plan Smolfile
t stdplan "$D/std-plan.sh"
t check "$SMOLC" check Smolfile
t bashn bash -n recipe.sh
t start "$SMOLC" check tiny.smol
t bstart bash -n tiny.sh

ms() { printf '%s ms' "$1"; }
k=$((N / 1000))k
result "smolc plan, $k-instr. recipe (median; best; CPU)" \
	"$(ms "$plan_med"); $(ms "$plan_best"); $(ms "$plan_cpu") CPU" \
	"$(ms "$stdplan_med") (bash -n + sha256sum)" "$(ratio "$plan_med" "$stdplan_med")" \
	"< 50 ms" "$(verdict "$plan_med < 50")"
result "smolc check, $k-instr. recipe (median; best; CPU)" \
	"$(ms "$check_med"); $(ms "$check_best"); $(ms "$check_cpu") CPU" \
	"$(ms "$bashn_med") (bash -n)" "$(ratio "$check_med" "$bashn_med")" \
	"< 50 ms" "$(verdict "$check_med < 50")"
result "startup: smolc check, 2-line recipe (median; CPU)" \
	"$(ms "$start_med"); $(ms "$start_cpu") CPU" \
	"$(ms "$bstart_med") (bash -n)" "$(ratio "$start_med" "$bstart_med")" "-" "info"
result "peak memory, smolc plan $k" "$(fmt_kb "$plan_rss")" "$(fmt_kb "$stdplan_rss") (bash/sha256sum)" \
	"$(ratio "$plan_rss" "$stdplan_rss")" "< 64 MiB" "$(verdict "$plan_rss < 65536")"
