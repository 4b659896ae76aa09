#!/bin/bash
# bench/build.sh — `smolc build` side by side with the standard tools.
#
# Input: a generated base-like set (tests/lib/mkset.py --kind base;
# BENCH_FILES files, BENCH_BYTES bytes unpacked; default 20,000 / 250 MB),
# tar.xz, cached in $BENCH_DATA between runs. The tar is written by
# mkset.py and compressed with `xz -3 -T2` (faster to make than mkset's
# own xz; the same format, decoded single-threaded by libarchive in both
# flows).
#
# Figures (all in one run, one after the other, on the same files):
#   cold build      smolc build with an empty SMOLC_CACHE, local set path
#                   vs the anchor's Linux flow with standard tools:
#                   bsdtar -x into a directory, mke2fs -t ext2 -O none -d
#                   (same size, block and inode size as smolc's image, at
#                   the 1 MiB partition offset), sgdisk (partition, name,
#                   type, BOOTME attribute); target ratio <= 1.0
#   no-op rebuild   median of 20 runs of the same build; target < 20 ms
#   RC-only change  median of 3 builds (after a warm-up one), each with a new
#                   RC text: the image is updated in place (images/<name>.layout);
#                   target < 100 ms and < 2 % of the cold build, also on the
#                   set 10x smaller (the figure does not grow with the set)
#   COPY change     median of 3 builds, each with a new content of the one
#                   COPY'd file (app.conf); target < 150 ms
#   peak memory     max RSS of the cold build; target < 64 MiB, also on a
#                   set 10x smaller (to show it does not grow with the set)
set -eu
. "$(dirname "$0")/lib.sh"

FILES=${BENCH_FILES:-20000}
BYTES=${BENCH_BYTES:-250000000}
# make_set: bench/lib.sh

SET=$(make_set "$FILES" "$BYTES")
W="$BENCH_DATA/work-build"
rm -rf "$W"
mkdir -p "$W/svc"
BENCH_LOG="$W/log"
python3 -c 'import sys; sys.stdout.buffer.write(b"\x7fELF" + bytes(range(256))*1000)' >"$W/svc/kernel"

printf 'port=80\n' >"$W/svc/app.conf"
recipe() { # $1: RC text, $2: set path
	cat >"$W/svc/Smolfile" <<EOF
FROM scratch
SERVICE bench
SETS $2
KERNEL ./kernel
COPY app.conf /etc/app.conf
RC <<EOR
#!/bin/sh
echo "$1"
EOR
EOF
}

# a command /usr/bin/time can run (no shell function)
smolc_build=(env -C "$W/svc" SMOLC_CACHE="$W/cache" "$SMOLC" build -q)

# ---- cold build, smolc ----
recipe "cold" "$SET"
rm -rf "$W/cache" "$W/svc/images"
sync
measure "${smolc_build[@]}"
cold_ms=$MS cold_rss=$RSS_KB
img="$W/svc/images/bench-amd64.img"
note "smolc cold build: ${cold_ms} ms, ${cold_rss} KiB"

# ---- cold build, standard tools (same geometry as smolc's image) ----
size=$(stat -c %s "$img")
fsinfo=$(dumpe2fs -h "$img?offset=1048576" 2>/dev/null)
bsize=$(printf '%s\n' "$fsinfo" | sed -n 's/^Block size: *//p')
isize=$(printf '%s\n' "$fsinfo" | sed -n 's/^Inode size:[[:space:]]*//p')
icount=$(printf '%s\n' "$fsinfo" | sed -n 's/^Inode count: *//p')
sectors=$((size / 512))
part_sectors=$((sectors - 34 - 2048))
blocks=$((part_sectors * 512 / bsize))
std_flow() {
	set -e
	rm -rf "$W/tree" "$W/std.img"
	mkdir "$W/tree"
	bsdtar -x -p -f "$SET" -C "$W/tree"
	truncate -s "$size" "$W/std.img"
	sgdisk -q -o -n 1:2048:$((sectors - 34)) -t 1:8300 -c 1:benchroot -A 1:set:59 "$W/std.img" >/dev/null
	mke2fs -q -F -t ext2 -O none -b "$bsize" -I "$isize" -N "$icount" -E offset=1048576 -d "$W/tree" "$W/std.img" "$blocks"
}
export -f std_flow
export W SET size sectors bsize isize icount blocks
sync
measure bash -c std_flow
std_ms=$MS std_rss=$RSS_KB
note "standard tools: ${std_ms} ms, ${std_rss} KiB"
e2fsck -fn "$img?offset=1048576" >>"$BENCH_LOG" 2>&1 || note "WARNING: e2fsck found problems in smolc's image"
rm -rf "$W/tree" "$W/std.img"

r=$(ratio "$cold_ms" "$std_ms")
result "cold build ($((FILES / 1000))k files, $((BYTES / 1000000)) MB, tar.xz)" "$(fmt_ms "$cold_ms")" "$(fmt_ms "$std_ms")" "$r" "ratio <= 1.0" "$(verdict "$r <= 1.0")"

# ---- no-op rebuild ----
# timed by bench/timeit.py (spawn + wait4 of smolc itself): measure()'s
# date + /usr/bin/time + env wrapping costs several process starts, more
# than the figure it brackets
r=$(SMOLC_CACHE="$W/cache" python3 "$BENCH_ROOT/bench/timeit.py" -n 20 -w 1 --cwd "$W/svc" -- "$SMOLC" build -q)
read -r noop_best noop noop_cpu _ <<<"$r"
noop=${noop%.*}
note "no-op runs: best $noop_best ms, median $noop ms, CPU $noop_cpu ms"
result "no-op rebuild (median of 20)" "$(fmt_ms "$noop")" "-" "-" "< 20 ms" "$(verdict "$noop < 20")"

# ---- RC-only change, COPY change: in-place updates ----
# rc_runs SET TAG → RC_MS: median of 3 RC-only builds (after a warm-up
# one: the first image written after the cold build pays for the page
# cache's growth); each must be an in-place update
rc_runs() {
	local runs=() i
	for i in 0 1 2 3; do
		recipe "change $i $2 $$" "$1"
		sync # as before the cold builds: not the previous step's writeback
		measure "${smolc_build[@]}"
		[ "$i" -eq 0 ] || runs+=("$MS")
	done
	RC_MS=$(median "${runs[@]}")
	note "RC-only runs ($2): ${runs[*]} ms"
}
rc_runs "$SET" big
rc_ms=$RC_MS
pct=$(awk -v a="$rc_ms" -v b="$cold_ms" 'BEGIN { printf "%.1f", 100 * a / b }')
result "RC-only change (median of 3)" "$(fmt_ms "$rc_ms") (${pct} % of cold)" "$(fmt_ms "$std_ms") (full redo)" "$(ratio "$rc_ms" "$cold_ms")" "< 100 ms, < 0.02 of cold" "$(verdict "$rc_ms < 100 && $rc_ms < 0.02 * $cold_ms")"

runs=()
for i in 0 1 2 3; do
	printf 'port=%d\n' "$((8000 + i))" >"$W/svc/app.conf"
	sync
	measure "${smolc_build[@]}"
	[ "$i" -eq 0 ] || runs+=("$MS")
done
copy_ms=$(median "${runs[@]}")
note "COPY change runs: ${runs[*]} ms"
result "COPY of one changed file ($((FILES / 1000))k-file image, median of 3)" "$(fmt_ms "$copy_ms")" "$(fmt_ms "$std_ms") (full redo)" "$(ratio "$copy_ms" "$cold_ms")" "< 150 ms" "$(verdict "$copy_ms < 150")"

# ---- peak memory ----
result "peak memory, cold build" "$(fmt_kb "$cold_rss")" "$(fmt_kb "$std_rss")" "$(ratio "$cold_rss" "$std_rss")" "< 64 MiB" "$(verdict "$cold_rss < 65536")"
SMALL=$(make_set $((FILES / 10)) $((BYTES / 10)))
recipe "small" "$SMALL"
rm -rf "$W/cache" "$W/svc/images"
measure "${smolc_build[@]}"
small_cold=$MS
result "peak memory, cold build, set 10x smaller" "$(fmt_kb "$RSS_KB")" "-" "-" "< 64 MiB" "$(verdict "$RSS_KB < 65536")"
rc_runs "$SMALL" small
pct=$(awk -v a="$RC_MS" -v b="$small_cold" 'BEGIN { printf "%.1f", 100 * a / b }')
result "RC-only change, set 10x smaller (median of 3)" "$(fmt_ms "$RC_MS") (${pct} % of cold)" "$(fmt_ms "$rc_ms") (full-size set)" "$(ratio "$RC_MS" "$rc_ms")" "< 100 ms" "$(verdict "$RC_MS < 100")"
rm -rf "$W"
