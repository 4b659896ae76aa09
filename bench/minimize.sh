#!/bin/bash
# bench/minimize.sh — MINIMIZE on the bench set plus real programs.
#
# Input: the generated base-like set of bench/build.sh (BENCH_FILES files,
# BENCH_BYTES bytes; default 20,000 / 250 MB, cached in $BENCH_DATA) and a
# second set made of this machine's curl with every library ldd names
# (tests/lib/mkelfset.py, the host's merged-/usr layout), PROFILE linux,
# SIZE auto+1M (the headroom would otherwise hide the ratio).
#
# Figures:
#   image size      the image file with MINIMIZE + KEEP /usr/bin/curl vs
#                   the same recipe without; target ratio < 0.1
#   minimise step   the MINIMIZE step's time (smolc build --json) vs the
#                   whole cold build; target < 10 % of it
# Not measured here (yet): boot-to-first-HTTP of examples/hello minimised
# vs not.
set -eu
. "$(dirname "$0")/lib.sh"

FILES=${BENCH_FILES:-20000}
BYTES=${BENCH_BYTES:-250000000}
command -v ldd >/dev/null && [ -x /usr/bin/curl ] || { note "needs ldd and /usr/bin/curl"; exit 1; }

SET="$BENCH_DATA/base-$FILES-$BYTES.tar.xz"
if [ ! -s "$SET" ]; then
	note "generating $SET (once; shared with bench/build.sh)"
	python3 "$BENCH_ROOT/tests/lib/mkset.py" --kind base --files "$FILES" --bytes "$BYTES" --compress none "$SET.tar.tmp"
	xz -3 -T2 -c "$SET.tar.tmp" >"$SET.tmp"
	rm -f "$SET.tar.tmp"
	mv "$SET.tmp" "$SET"
fi
W="$BENCH_DATA/work-minimize"
rm -rf "$W"
mkdir -p "$W/svc"
BENCH_LOG="$W/log"
libs=$(ldd /usr/bin/curl | awk '$2 == "=>" { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)
# shellcheck disable=SC2086
python3 "$BENCH_ROOT/tests/lib/mkelfset.py" "$W/svc/elf.tar" /usr/bin/curl /bin/sh $libs
python3 -c 'import sys; sys.stdout.buffer.write(b"\x7fELF" + bytes(range(256))*1000)' >"$W/svc/kernel"

recipe() { # $1: MINIMIZE or "MINIMIZE off"
	cat >"$W/svc/Smolfile" <<EOF
FROM scratch
SERVICE bench
PROFILE linux
SIZE auto+1M
SETS $SET
SETS ./elf.tar
KERNEL ./kernel
$1
KEEP /usr/bin/curl
RC <<'EOR'
#!/bin/sh
curl --version
EOR
EOF
}

recipe "MINIMIZE off"
measure env -C "$W/svc" SMOLC_CACHE="$W/cache" "$SMOLC" build -q -o full
full=$(stat -c %s "$W/svc/full/bench-amd64.img")
rm -rf "$W/cache"
recipe "MINIMIZE"
sync
json="$W/mini.json"
s=$(date +%s%N)
env -C "$W/svc" SMOLC_CACHE="$W/cache" "$SMOLC" build --json -o mini >"$json" 2>>"$BENCH_LOG"
cold_ms=$(( ($(date +%s%N) - s) / 1000000 ))
mini=$(stat -c %s "$W/svc/mini/bench-amd64.img")
step_ms=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(int(sum(s["seconds"] for s in d["steps"] if s["title"].startswith("MINIMIZE")) * 1000))' "$json")
note "full image $full bytes, minimised $mini bytes; cold build $cold_ms ms, MINIMIZE step $step_ms ms"

r=$(awk -v a="$mini" -v b="$full" 'BEGIN { printf "%.3f", a / b }')
result "image size, MINIMIZE + KEEP curl ($((FILES / 1000))k-file set + curl)" "$((mini / 1048576)) MiB" \
	"$((full / 1048576)) MiB (no MINIMIZE)" "$r" "< 0.1" "$(verdict "$r < 0.1")"
pct=$(awk -v a="$step_ms" -v b="$cold_ms" 'BEGIN { printf "%.1f", 100 * a / b }')
result "MINIMIZE step vs the cold build" "$(fmt_ms "$step_ms") (${pct} %)" "$(fmt_ms "$cold_ms") (cold build)" \
	"$(ratio "$step_ms" "$cold_ms")" "< 0.10 of cold" "$(verdict "$step_ms < 0.10 * $cold_ms")"
rm -rf "$W"
