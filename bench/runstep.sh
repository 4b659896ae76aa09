#!/bin/bash
# bench/runstep.sh — the RUN step (builder micro-VM), side by side:
#   RUN true        the RUN step's time in `smolc build --json` (disk written,
#                   VM booted, script run, powered off, captured) against
#                   booting the same kernel with an image of the same layers
#                   whose /etc/rc powers off at once, QEMU started directly
#                   with `smolc run --dry-run`'s argv; target ratio <= 1.2
#   capture         the layer capture after a RUN that touches one file in
#                   an image built from the 20,000-file bench set (build.sh's
#                   set plus the test guest's busybox); target < 300 ms
#   cached RUN      a no-op rebuild of a recipe with a RUN (CACHED, boots
#                   nothing) against the same recipe without it; target
#                   ratio <= 1.2 (both are "today's no-op")
# Medians of BENCH_RUNSTEP_RUNS (default 3). Needs the test kernel
# (tests/guest/build-kernel.sh, cached in ~/.cache/smolc-test).
set -eu
. "$(dirname "$0")/lib.sh"
. "$BENCH_ROOT/tests/guest/lib.sh"

RUNS=${BENCH_RUNSTEP_RUNS:-3}
FILES=${BENCH_FILES:-20000}
BYTES=${BENCH_BYTES:-250000000}
W=$(mktemp -d "$BENCH_DATA/runstep.XXXXXX")
BENCH_LOG="$W/log"
export SMOLC_CACHE="$W/cache" XDG_STATE_HOME="$W/state"
qpid=
cleanup() {
	[ -z "$qpid" ] || { kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; }
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

G=$BENCH_ROOT/build/guest
note "runstep: test kernel and busybox set ($G)"
guest_prepare "$G" >>"$BENCH_LOG" 2>&1 || { note "could not prepare $G (log: $BENCH_LOG)"; cat "$BENCH_LOG" >&2; exit 1; }

# ---- RUN true vs a direct boot to power-off ----
mkdir -p "$W/run" "$W/direct"
cat >"$W/run/Smolfile" <<EOF
FROM scratch
SERVICE rs
PROFILE linux
SETS $G/busybox.tar.xz
KERNEL $G/vmlinux
ARG N=0
RUN true
EOF
cat >"$W/direct/Smolfile" <<EOF
FROM scratch
SERVICE rs
PROFILE linux
SETS $G/busybox.tar.xz
KERNEL $G/vmlinux
RC <<'EOR'
poweroff
EOR
EOF
(cd "$W/direct" && "$SMOLC" build -q) >>"$BENCH_LOG" 2>&1
eval "qargv=($(cd "$W/direct" && "$SMOLC" run --dry-run --console stdio images/rs-amd64.yaml 2>/dev/null))"
r_runs=() d_runs=()
for i in $(seq "$RUNS"); do
	# the ARG changes the RUN's key: it runs again, the rest is cached
	(cd "$W/run" && "$SMOLC" build --json --build-arg N="$i") >"$W/run.json" 2>>"$BENCH_LOG"
	r_runs+=($(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([int(s["seconds"]*1000) for s in d["steps"] if s["title"].startswith("RUN")][0])' "$W/run.json"))
	t0=$(date +%s%N)
	"${qargv[@]}" </dev/null >>"$BENCH_LOG" 2>&1 &
	qpid=$!
	wait "$qpid" || true
	qpid=
	d_runs+=($(( ($(date +%s%N) - t0) / 1000000 )))
done
r=$(median "${r_runs[@]}") d=$(median "${d_runs[@]}")
note "runstep: RUN true ${r_runs[*]} ms; direct boot to power-off ${d_runs[*]} ms"
q=$(ratio "$r" "$d")
result "RUN true (builder VM, TCG; median of $RUNS)" "$(fmt_ms "$r")" "$(fmt_ms "$d") (same kernel, boot to power-off)" \
	"$q" "ratio <= 1.2" "$(verdict "$q <= 1.2")"

# ---- capture after touching one file of a 20,000-file image ----
SET="$BENCH_DATA/base-$FILES-$BYTES.tar.xz"
if [ ! -s "$SET" ]; then
	note "generating $SET (once; shared with build.sh)"
	python3 "$BENCH_ROOT/tests/lib/mkset.py" --kind base --files "$FILES" --bytes "$BYTES" --compress none "$SET.tar.tmp"
	xz -3 -T2 -c "$SET.tar.tmp" >"$SET.tmp"
	rm -f "$SET.tar.tmp"
	mv "$SET.tmp" "$SET"
fi
mkdir -p "$W/big"
cat >"$W/big/Smolfile" <<EOF
FROM scratch
SERVICE big
PROFILE linux
SETS $SET
SETS $G/busybox.tar.xz
KERNEL $G/vmlinux
ARG N=0
RUN echo \$N >/etc/touched
EOF
c_runs=()
for i in $(seq "$RUNS"); do
	out=$(cd "$W/big" && "$SMOLC" build --build-arg N="$i" 2>&1) || { printf '%s\n' "$out" >>"$BENCH_LOG"; note "big build failed (log: $BENCH_LOG)"; exit 1; }
	printf '%s\n' "$out" >>"$BENCH_LOG"
	c_runs+=($(printf '%s\n' "$out" | sed -n 's/.* changes\{0,1\} captured in \([0-9]*\) ms.*/\1/p' | head -1))
done
c=$(median "${c_runs[@]}")
names=$(printf '%s\n' "$out" | sed -n 's/.*captured in [0-9]* ms (\([0-9]*\) names.*/\1/p' | head -1)
note "runstep: capture ${c_runs[*]} ms over $names names"
result "capture after RUN touches 1 file ($names names; median of $RUNS)" "$(fmt_ms "$c")" "-" "-" "< 300 ms" \
	"$(verdict "$c < 300")"

# ---- a CACHED RUN: today's no-op ----
mkdir -p "$W/norun"
grep -v '^RUN\|^ARG' "$W/run/Smolfile" >"$W/norun/Smolfile"
(cd "$W/norun" && "$SMOLC" build -q) >>"$BENCH_LOG" 2>&1
(cd "$W/run" && "$SMOLC" build -q) >>"$BENCH_LOG" 2>&1
a_runs=() b_runs=()
for i in $(seq $((RUNS * 3))); do
	measure env -C "$W/run" "$SMOLC" build -q
	a_runs+=("$MS")
	measure env -C "$W/norun" "$SMOLC" build -q
	b_runs+=("$MS")
done
a=$(median "${a_runs[@]}") b=$(median "${b_runs[@]}")
q=$(ratio "$a" "$b")
result "no-op rebuild with a CACHED RUN (median of $((RUNS * 3)))" "$(fmt_ms "$a")" "$(fmt_ms "$b") (the recipe without RUN)" \
	"$q" "ratio <= 1.2" "$(verdict "$q <= 1.2")"
