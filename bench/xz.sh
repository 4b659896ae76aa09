#!/bin/bash
# bench/xz.sh — cold builds at the decompression floor: a multi-block xz set
# decoded by liblzma's multi-threaded decoder, side by side in one run with
#   floor (MT)      xz -dc -T0 set.tar.xz > /dev/null
#   xz | tar        xz -dc -T0 set.tar.xz | tar -x -C dir (the standard tools
#                   unpacking the same set, threaded too)
#   single path     the same smolc build with SMOLC_XZ_THREADS=1 (libarchive
#                   decoding on one core: the path before the threaded one)
# and, for a single-block set of the same tar (xz -3, no -T), the cold build
# against `xz -dc` (single-threaded floor).
# Input: tests/lib/mkset.py --kind base, BENCH_FILES files / BENCH_BYTES bytes
# (default 20,000 / 250 MB), cached in $BENCH_DATA: base-F-B.tar.xz is the
# multi-block one (xz -3 -T2: 12 MiB blocks, as bench/build.sh's),
# base-F-B.1blk.tar.xz the single-block one.
# Targets (issue 17): cold build <= 1.1x the floor; peak RSS < 64 MiB.
set -eu
. "$(dirname "$0")/lib.sh"

FILES=${BENCH_FILES:-20000}
BYTES=${BENCH_BYTES:-250000000}
MKSET="python3 $BENCH_ROOT/tests/lib/mkset.py"
MB="$BENCH_DATA/base-$FILES-$BYTES.tar.xz"
SB="$BENCH_DATA/base-$FILES-$BYTES.1blk.tar.xz"
if [ ! -s "$MB" ] || [ ! -s "$SB" ]; then
	note "generating $MB and $SB (once; reused by later runs)"
	$MKSET --kind base --files "$FILES" --bytes "$BYTES" --compress none "$MB.tar.tmp"
	[ -s "$MB" ] || { xz -3 -T2 -c "$MB.tar.tmp" >"$MB.tmp" && mv "$MB.tmp" "$MB"; }
	xz -3 -T1 -c "$MB.tar.tmp" >"$SB.tmp" && mv "$SB.tmp" "$SB"
	rm -f "$MB.tar.tmp"
fi
blocks=$(xz -lv "$MB" | sed -n 's/^ *Blocks: *\([0-9]*\)$/\1/p' | head -1)
note "multi-block set: $blocks blocks, $(nproc) CPUs"

W="$BENCH_DATA/work-xz"
rm -rf "$W"
mkdir -p "$W/svc"
BENCH_LOG="$W/log"
python3 -c 'import sys; sys.stdout.buffer.write(b"\x7fELF" + bytes(range(256))*1000)' >"$W/svc/kernel"
recipe() { printf 'FROM scratch\nSERVICE bench\nSETS %s\nKERNEL ./kernel\n' "$1" >"$W/svc/Smolfile"; }
cold() { # SET THREADS → MS, RSS_KB
	recipe "$1"
	rm -rf "$W/cache" "$W/svc/images"
	sync
	measure env -C "$W/svc" SMOLC_CACHE="$W/cache" SMOLC_XZ_THREADS="$2" "$SMOLC" build -q
}
floor() { measure sh -c 'xz -dc "$@" >/dev/null' sh "$@"; }
xztar() {
	rm -rf "$W/tree"; mkdir "$W/tree"
	measure sh -c 'xz -dc -T0 "$1" | tar -x -C "$2"' sh "$MB" "$W/tree"
	rm -rf "$W/tree"
}

floor -T0 "$MB"; floor_mt=$MS
xztar; xt_ms=$MS
cold "$MB" "$(nproc)"; mt_ms=$MS mt_rss=$RSS_KB
cold "$MB" 1; st_ms=$MS st_rss=$RSS_KB
floor -T1 "$SB"; floor_sb=$MS
cold "$SB" "$(nproc)"; sb_ms=$MS sb_rss=$RSS_KB
note "floor -T0 $floor_mt ms; xz|tar $xt_ms ms; smolc MT $mt_ms ms ($mt_rss KiB), single $st_ms ms ($st_rss KiB)"
note "single-block: floor $floor_sb ms; smolc $sb_ms ms ($sb_rss KiB)"

n="$((FILES / 1000))k files, $((BYTES / 1000000)) MB"
r=$(ratio "$mt_ms" "$floor_mt")
result "cold build, multi-block xz ($n, $blocks blocks)" "$(fmt_ms "$mt_ms")" "$(fmt_ms "$floor_mt") (xz -dc -T0 >/dev/null)" "$r" "<= 1.1" "$(verdict "$r <= 1.1")"
result "  vs xz -dc -T0 | tar -x" "$(fmt_ms "$mt_ms")" "$(fmt_ms "$xt_ms")" "$(ratio "$mt_ms" "$xt_ms")" "-" "-"
result "  vs the single-threaded path" "$(fmt_ms "$mt_ms")" "$(fmt_ms "$st_ms") (SMOLC_XZ_THREADS=1)" "$(ratio "$mt_ms" "$st_ms")" "-" "-"
r=$(ratio "$sb_ms" "$floor_sb")
result "cold build, single-block xz ($n)" "$(fmt_ms "$sb_ms")" "$(fmt_ms "$floor_sb") (xz -dc >/dev/null)" "$r" "<= 1.1" "$(verdict "$r <= 1.1")"
result "peak memory, multi-block cold build" "$(fmt_kb "$mt_rss")" "$(fmt_kb "$st_rss") (single path)" "$(ratio "$mt_rss" "$st_rss")" "< 64 MiB" "$(verdict "$mt_rss < 65536")"
rm -rf "$W"
