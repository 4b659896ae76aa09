#!/bin/bash
# pkgs.sh — PKGS resolution against a generated 20,000-package pkg_summary
# (bench/gen_pkg_summary.py), plain and .xz side by side:
#   - bench/pkgbench (build/bench/pkgbench): parse + resolve of the
#     generator's 20 suggested requests, best of 5 runs (CPU time, so a busy machine does
#     not skew it);
#   - `smolc plan` of a recipe with those 20 PKGS words against a
#     file:// repository holding pkg_summary.xz (the whole command: recipe,
#     catalogue, resolution, plan output), median of 5 runs; after the
#     first, the resolution comes from its memo (<cache>/resolved/), which
#     is what every later plan and no-op build of such a recipe costs.
# Target: under 200 ms for the resolution of a compressed catalogue.
#   bench/pkgs.sh [N]      (N packages, default 20000)
# Prints RESULT lines (see lib.sh) and a small table.
. "$(dirname "$0")/lib.sh"

N=${1:-20000}
D="$BENCH_DATA/pkgs-$N"
mkdir -p "$D/plain" "$D/xz"
if [ ! -s "$D/names" ] || [ ! -s "$D/plain/pkg_summary" ] || [ ! -s "$D/xz/pkg_summary.xz" ]; then
	note "generating a $N-package pkg_summary in $D"
	python3 "$BENCH_ROOT/bench/gen_pkg_summary.py" -n "$N" "$D/plain/pkg_summary" >"$D/names"
	python3 "$BENCH_ROOT/bench/gen_pkg_summary.py" -n "$N" "$D/xz/pkg_summary.xz" >/dev/null
fi
make -s -C "$BENCH_ROOT" smolc build/bench/pkgbench >&2
PB="$BENCH_ROOT/build/bench/pkgbench"

# pkgbench FILE → sets PARSE RESOLVE TOTAL (ms cpu) and PKGS_N
bench_one() {
	local o
	# shellcheck disable=SC2046
	o=$("$PB" "$1" $(sort -u "$D/names"))
	PARSE=$(printf '%s\n' "$o" | sed -n 's/^parse: .*, \([0-9.]*\) ms cpu.*/\1/p')
	RESOLVE=$(printf '%s\n' "$o" | sed -n 's/^resolve: .*, \([0-9.]*\) ms cpu.*/\1/p')
	TOTAL=$(printf '%s\n' "$o" | sed -n 's/^total: .*, \([0-9.]*\) ms cpu.*/\1/p')
	PKGS_N=$(printf '%s\n' "$o" | sed -n 's/.*requested, \([0-9]*\) packages.*/\1/p')
}
bench_one "$D/plain/pkg_summary"
p_parse=$PARSE p_res=$RESOLVE p_total=$TOTAL
bench_one "$D/xz/pkg_summary.xz"
x_parse=$PARSE x_res=$RESOLVE x_total=$TOTAL

# smolc plan, end to end, against the .xz repository
W=$(mktemp -d "$BENCH_DATA/pkgplan.XXXXXX")
trap 'rm -rf "$W"' EXIT
head -c 4096 /dev/zero >"$W/kern"
{
	echo "FROM scratch"
	echo "SERVICE bench"
	echo "KERNEL ./kern"
	echo "PKGSITE file://$D/xz/"
	printf 'PKGS '; tr '\n' ' ' <"$D/names"; echo
} >"$W/Smolfile"
times=()
cd "$W"
export SMOLC_CACHE="$W/cache"
for i in 1 2 3 4 5; do
	measure "$SMOLC" plan
	times+=("$MS")
done
plan_ms=$(median "${times[@]}")
planned=$("$SMOLC" plan | grep -c '^ *input  pkg ')
cd - >/dev/null

printf '\n%-34s %12s %12s\n' "pkg_summary, $N packages" "plain" ".xz" >&2
printf '%-34s %9s ms %9s ms\n' "parse (cpu)" "$p_parse" "$x_parse" >&2
printf '%-34s %9s ms %9s ms\n' "resolve 20 requests (cpu)" "$p_res" "$x_res" >&2
printf '%-34s %9s ms %9s ms\n' "parse + resolve (cpu)" "$p_total" "$x_total" >&2
printf '%-34s %12s %9s ms\n' "smolc plan, whole command (wall)" "-" "$plan_ms" >&2
printf '%-34s %12s %12s\n\n' "packages resolved (pkgbench, plan)" "$PKGS_N" "$planned" >&2

result "pkgs: parse+resolve $N (plain)" "$p_total ms" "-" "-" "< 200 ms" "$(verdict "$p_total < 200")"
result "pkgs: parse+resolve $N (.xz)" "$x_total ms" "$p_total ms (plain)" "$(ratio "$x_total" "$p_total")" "< 200 ms" "$(verdict "$x_total < 200")"
result "pkgs: smolc plan $N (.xz)" "$plan_ms ms" "-" "-" "-" "info"
