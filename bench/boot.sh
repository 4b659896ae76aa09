#!/bin/bash
# bench/boot.sh — time to the first HTTP answer of examples/hello, started
# with `smolc run` (foreground) and, side by side, with the QEMU argv that
# `smolc run --dry-run` prints, started directly (the standard way).
# Median of BENCH_BOOT_RUNS runs each (default 3). Needs the test guest
# (tests/guest/lib.sh guest_prepare: Debian's kernel and its initramfs, or
# the tiny kernel when cached; in ~/.cache/smolc-test) and the busybox set
# (tests/guest/mkset.py); both are made here when missing. Without /dev/kvm QEMU emulates (TCG): the absolute
# time is that of software emulation; the ratio is smolc's share.
# Target: smolc run within 10 % of the direct QEMU start (best runs).
set -eu
. "$(dirname "$0")/lib.sh"
. "$BENCH_ROOT/tests/guest/lib.sh"

RUNS=${BENCH_BOOT_RUNS:-3}
W=$(mktemp -d "$BENCH_DATA/boot.XXXXXX")
BENCH_LOG="$W/log"
export XDG_STATE_HOME="$W/state" SMOLC_CACHE="$W/cache"
qpid= spid=
cleanup() {
	local p
	for p in $spid $qpid; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note "boot: test kernel and busybox set (build/guest)"
guest_prepare "$BENCH_ROOT/build/guest" >>"$BENCH_LOG" 2>&1 || { note "could not prepare build/guest (log: $BENCH_LOG)"; cat "$BENCH_LOG" >&2; exit 1; }
cp -R "$BENCH_ROOT/examples/hello" "$W/hello"
PORT=$(free_port)
(cd "$W/hello" && "$SMOLC" build -q --build-arg GUEST="$BENCH_ROOT/build/guest" --build-arg PORT="$PORT" Smolfile) >>"$BENCH_LOG" 2>&1
accel=$(cd "$W/hello" && "$SMOLC" run --dry-run hello 2>&1 >/dev/null | sed -n 's/^smolc: accel: //p')
eval "qargv=($(cd "$W/hello" && "$SMOLC" run --dry-run hello 2>/dev/null))"

s_runs=() d_runs=()
for i in $(seq "$RUNS"); do
	# smolc run (foreground, console on stdio like the direct argv) …
	# until the page answers
	t0=$(date +%s%N)
	(cd "$W/hello" && exec "$SMOLC" run hello) </dev/null >>"$BENCH_LOG" 2>&1 &
	spid=$!
	wait_http "$PORT" 180 >/dev/null || { note "smolc run: no answer on $PORT (log: $BENCH_LOG)"; exit 1; }
	s_runs+=($(( ($(date +%s%N) - t0) / 1000000 )))
	kill "$spid"; wait "$spid" 2>/dev/null || true # smolc forwards SIGTERM to QEMU
	spid=
	# the same QEMU argv, started directly
	t0=$(date +%s%N)
	"${qargv[@]}" </dev/null >>"$BENCH_LOG" 2>&1 &
	qpid=$!
	wait_http "$PORT" 180 >/dev/null || { note "direct QEMU: no answer on $PORT (log: $BENCH_LOG)"; exit 1; }
	d_runs+=($(( ($(date +%s%N) - t0) / 1000000 )))
	kill "$qpid"; wait "$qpid" 2>/dev/null || true
	qpid=
done
s=$(median "${s_runs[@]}") d=$(median "${d_runs[@]}")
sb=$(printf '%s\n' "${s_runs[@]}" | sort -n | head -1) db=$(printf '%s\n' "${d_runs[@]}" | sort -n | head -1)
note "boot: smolc run ${s_runs[*]} ms; direct QEMU ${d_runs[*]} ms; accel ${accel:-?}"
# the ratio of the best runs: TCG boot times on a shared machine vary by
# +-30 % from run to run, the best is the least disturbed
r=$(ratio "$sb" "$db")
result "first HTTP answer, examples/hello (${accel%% *}; best, median of $RUNS)" "$(fmt_ms "$sb"), $(fmt_ms "$s")" \
	"$(fmt_ms "$db"), $(fmt_ms "$d") (QEMU argv run directly)" "$r" "ratio <= 1.10" "$(verdict "$r <= 1.10")"
