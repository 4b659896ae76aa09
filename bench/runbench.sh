#!/bin/bash
# runbench.sh — overhead of `smolc run` over starting the same QEMU argv
# directly. QEMU itself is replaced by /bin/true (SMOLC_QEMU) so only
# smolc's own work is timed: reading the run config, the accelerator
# probe, building the argv, the port checks, fork/exec/wait.
#   bench/runbench.sh [SMOLC] [N]     (default ./smolc, 300 runs)
# Uses hyperfine when installed, else a shell loop (per-run mean).
set -euo pipefail
SMOLC=${1:-./smolc}
N=${2:-300}
SMOLC=$(cd "$(dirname "$SMOLC")" && pwd)/$(basename "$SMOLC")
work=$(mktemp -d "${TMPDIR:-/tmp}/runbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir images
head -c 4096 /dev/zero > images/svc-amd64.kernel
truncate -s 1M images/svc-amd64.img
cat > images/svc-amd64.yaml <<Y
service: svc
arch: amd64
kernel: svc-amd64.kernel
image: svc-amd64.img
ports:
  - {host: 38080, guest: 80}
Y
TRUE=/bin/true
export SMOLC_QEMU=$TRUE
unset QEMU_ACCEL
# the argv smolc would run (minus the binary name)
read -r -a argv < <("$SMOLC" run --dry-run svc 2>/dev/null)
direct=("$TRUE" "${argv[@]:1}")

# BENCH_NO_HYPERFINE=1 (bench/run.sh): the shell loop, which also prints
# a RESULT line for the summary table (bench/lib.sh's format).
if [ "${BENCH_NO_HYPERFINE:-0}" != 1 ] && command -v hyperfine >/dev/null; then
	hyperfine -N --warmup 20 --runs "$N" \
		"${direct[*]}" \
		"$SMOLC run svc" \
		"$SMOLC run --dry-run svc"
	exit 0
fi

loop() { # N cmd... → mean ms per run
	local n=$1; shift
	local t0 t1
	t0=$(date +%s%N)
	for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 </dev/null || true; done
	t1=$(date +%s%N)
	echo "scale=3; ($t1 - $t0) / $n / 1000000" | bc
}
loop 20 "${direct[@]}" >/dev/null; loop 20 "$SMOLC" run svc >/dev/null
d=$(loop "$N" "${direct[@]}")
r=$(loop "$N" "$SMOLC" run svc)
y=$(loop "$N" "$SMOLC" run --dry-run svc)
echo "runs: $N (shell loop; hyperfine not installed)"
printf 'direct exec of the argv      %8.3f ms\n' "$d"
printf 'smolc run (QEMU=/bin/true)   %8.3f ms\n' "$r"
printf 'smolc run --dry-run          %8.3f ms\n' "$y"
printf 'overhead of smolc run        %8.3f ms (target < 5 ms)\n' "$(echo "$r - $d" | bc)"
o=$(echo "$r - $d" | bc)
ok=$(echo "$o < 5" | bc)
printf 'RESULT|smolc run overhead (QEMU=/bin/true, mean of %s)|%.2f ms per run|%.2f ms (argv exec directly)|%.2f|< 5 ms over direct|%s\n' \
	"$N" "$r" "$d" "$(echo "scale=4; $r / $d" | bc)" "$([ "$ok" = 1 ] && echo PASS || echo FAIL)"
