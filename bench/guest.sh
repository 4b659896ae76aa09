#!/bin/bash
# bench/guest.sh — what each kernel of the offline Linux test guest costs
# (tests/guest/): Debian's stock kernel (tests/guest/stock-kernel.sh, the
# default) against the compiled-in tiny kernel (tests/guest/build-kernel.sh,
# used when it is cached or with SMOLC_TEST_KERNEL=tiny).
#   1. getting it on a fresh machine: the stock kernel prepared into an
#      empty cache (apt-get download + unpack + vmlinux + initramfs), timed
#      here; the tiny kernel's build time as its BUILDINFO recorded it
#      (never built by the bench: ~4-6 minutes);
#   2. boot to the first HTTP answer of examples/hello with `smolc run`,
#      each kernel, runs alternated, median of BENCH_GUEST_RUNS (default 3).
# Informational: no target; bench/run.sh shows the figures in its table.
# Skips the tiny figures when that kernel is not cached.
set -eu
. "$(dirname "$0")/lib.sh"
. "$BENCH_ROOT/tests/guest/lib.sh"

RUNS=${BENCH_GUEST_RUNS:-3}
W=$(mktemp -d "$BENCH_DATA/guest.XXXXXX")
BENCH_LOG="$W/log"
export XDG_STATE_HOME="$W/state" SMOLC_CACHE="$W/cache"
spid=
cleanup() {
	[ -z "$spid" ] || { kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null; }
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. the stock kernel from nothing (its own empty cache; the .deb comes
# from the network or apt's proxy, as on a fresh machine)
t0=$(date +%s%N)
SMOLC_TEST_CACHE=$W/fresh "$BENCH_ROOT/tests/guest/stock-kernel.sh" >>"$BENCH_LOG" 2>&1 ||
	{ note "stock-kernel.sh failed (log: $BENCH_LOG)"; cat "$BENCH_LOG" >&2; exit 1; }
stock_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
rm -rf "$W/fresh"
tiny_key=$("$BENCH_ROOT/tests/guest/build-kernel.sh" --print-key)
tiny_info=${SMOLC_TEST_CACHE:-$HOME/.cache/smolc-test}/kernel-$tiny_key/BUILDINFO
tiny_s=
[ ! -r "$tiny_info" ] || tiny_s=$(sed -n 's/^built .* in \([0-9]*\)s .*/\1/p' "$tiny_info")
result "test guest kernel on a fresh machine: stock (download, unpack, initramfs) vs tiny (compile)" \
	"$(fmt_ms "$stock_ms")" "${tiny_s:+${tiny_s}.00 s (BUILDINFO)}${tiny_s:-not built here}" \
	"$([ -n "$tiny_s" ] && ratio "$stock_ms" "$((tiny_s * 1000))" || echo -)" "-" "info"

# 2. boots
kinds=(stock)
[ -z "$tiny_s" ] || kinds+=(tiny)
declare -A runs
for k in "${kinds[@]}"; do
	note "guest: preparing the $k guest"
	SMOLC_TEST_KERNEL=$k guest_prepare "$W/guest-$k" >>"$BENCH_LOG" 2>&1 ||
		{ note "could not prepare the $k guest (log: $BENCH_LOG)"; exit 1; }
	mkdir -p "$W/$k"
	cp -R "$BENCH_ROOT/examples/hello/." "$W/$k/"
	(cd "$W/$k" && "$SMOLC" build -q --build-arg GUEST="$W/guest-$k" --build-arg PORT=1 Smolfile) \
		>>"$BENCH_LOG" 2>&1 || { note "build for the $k guest failed (log: $BENCH_LOG)"; exit 1; }
	runs[$k]=
done
for i in $(seq "$RUNS"); do
	for k in "${kinds[@]}"; do
		port=$(free_port)
		t0=$(date +%s%N)
		(cd "$W/$k" && exec "$SMOLC" run --console none -p "$port:80" hello) </dev/null >>"$BENCH_LOG" 2>&1 &
		spid=$!
		wait_http "$port" 180 >/dev/null || { note "$k: no answer on $port (log: $BENCH_LOG)"; exit 1; }
		runs[$k]="${runs[$k]} $(( ($(date +%s%N) - t0) / 1000000 ))"
		kill "$spid"; wait "$spid" 2>/dev/null || true
		spid=
	done
done
# shellcheck disable=SC2086
s=$(median ${runs[stock]})
note "guest: first HTTP answer, stock:${runs[stock]} ms${runs[tiny]+; tiny:${runs[tiny]} ms}"
if [ -n "${runs[tiny]+x}" ]; then
	# shellcheck disable=SC2086
	t=$(median ${runs[tiny]})
	result "first HTTP answer of examples/hello (smolc run, TCG; median of $RUNS): stock vs tiny kernel" \
		"$(fmt_ms "$s")" "$(fmt_ms "$t")" "$(ratio "$s" "$t")" "-" "info"
else
	result "first HTTP answer of examples/hello (smolc run, TCG; median of $RUNS): stock kernel" \
		"$(fmt_ms "$s")" "tiny kernel not built" "-" "-" "info"
fi
