#!/bin/bash
# 76-xz-multiblock: an xz set of several blocks (what `xz -T` writes) is
# decoded by liblzma's multi-threaded decoder, and is still read to its end:
#  - the image is byte-identical to the one the single-threaded path
#    (SMOLC_XZ_THREADS=1) writes from the same file; two threads are used;
#  - a damaged block is an error naming the set and the entry, with the
#    multi-threaded decoder's message (the single-threaded path keeps
#    libarchive's), no image, a sane cache;
#  - bytes after the data and a truncated file are errors too (their index
#    cannot be read: the ordinary path reads and reports them);
#  - concatenated streams and stream padding build, to the image the
#    ordinary path writes.
set -eu
. "$ROOT/tests/lib/common.sh"

K="$TEST_TMP/k"
T=$TEST_TMP
python3 -c 'import sys; sys.stdout.buffer.write(b"\x7fELF" + bytes(range(256))*100)' >"$K"
$MKSET --kind rescue --bytes 2000000 --compress none "$T/r.tar" >/dev/null
xz -T2 --block-size=65536 -c "$T/r.tar" >"$T/mb.tar.xz"
blocks=$(xz -lv "$T/mb.tar.xz" | sed -n 's/^ *Blocks: *\([0-9]*\)$/\1/p')
[ "${blocks:-0}" -gt 4 ] || fail "test setup: mb.tar.xz has ${blocks:-no} blocks"

# build_set DIR FILE THREADS: build a recipe whose only set is FILE in DIR
build_set() {
	mkdir -p "$1"
	printf 'FROM netbsd-10.1\nSERVICE t\nSETS %s\nKERNEL %s\n' "$2" "$K" >"$1/Smolfile"
	run env -C "$1" SMOLC_CACHE="$T/cache-$1" SMOLC_XZ_THREADS="$3" "$SMOLC" build -q -o out
}
expect_set_error() { # DIR ERE
	expect_rc 1 "$1"
	local e; e=$(printf '%s\n' "$OUT" | grep ': error: ' || true)
	assert_lines 1 "$e" "$1: error lines"
	assert_match "$e" "$2" "$1: error message"
	assert_no_file "$1/out/t-amd64.img"
	assert_cache_sane "$T/cache-$1"
	t_log "$1: $e"
}

# ---- the same image from both paths; the threaded one starts threads ----
# (LeakSanitizer cannot run under ptrace: the strace runs go without it)
build_set st "$T/mb.tar.xz" 1
expect_rc 0 "single-threaded path"
mkdir -p mt
printf 'FROM netbsd-10.1\nSERVICE t\nSETS %s\nKERNEL %s\n' "$T/mb.tar.xz" "$K" >mt/Smolfile
(cd mt && ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" SMOLC_CACHE="$T/cache-mt" SMOLC_XZ_THREADS=2 strace -f -qq -e trace=clone,clone3 \
	-o "$T/strace" "$SMOLC" build -q -o out) || fail "multi-threaded build failed"
assert_same_file st/out/t-amd64.img mt/out/t-amd64.img "images of the two paths"
assert_fsck_clean mt/out/t-amd64.img
n=$(grep -c 'clone' "$T/strace" || true)
[ "$n" -ge 2 ] || fail "the multi-threaded path started $n threads (expected 2)"
(cd st && ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" SMOLC_CACHE="$T/cache-st2" SMOLC_XZ_THREADS=1 strace -f -qq -e trace=clone,clone3 \
	-o "$T/strace1" "$SMOLC" build -q -o out2) || fail "single-threaded build failed"
assert_eq 0 "$(grep -c 'clone' "$T/strace1" || true)" "threads started by the single-threaded path"

# ---- a damaged block ----
python3 - "$T/mb.tar.xz" "$T/bad.tar.xz" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 0x55
open(sys.argv[2], "wb").write(b)
PY
build_set bad "$T/bad.tar.xz" 2
expect_set_error bad 'error: bad\.tar\.xz: entry ".*": the compressed data is damaged \(xz data is corrupt\): the file is corrupt or truncated; get an intact copy$'
build_set bad1 "$T/bad.tar.xz" 1
expect_set_error bad1 'error: bad\.tar\.xz: entry ".*": the compressed data is damaged \(Lzma library error: .*\): the file is corrupt or truncated; get an intact copy$'

# ---- the last block's check (the decoder's threads run ahead, so the
# error may show while an entry is read, or after the last one) ----
# the CRC64 sits right before the index: the 12-byte footer, the index
# (its size from the footer), the block padding, then the check
python3 - "$T/mb.tar.xz" "$T/check.tar.xz" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
backward = (struct.unpack("<I", b[-8:-4])[0] + 1) * 4
b[len(b) - 12 - backward - 1] ^= 0x01
open(sys.argv[2], "wb").write(b)
PY
build_set check "$T/check.tar.xz" 2
expect_set_error check 'error: check\.tar\.xz: (entry "[^"]*": )?the compressed data is damaged \(xz data is corrupt\): the file is corrupt or truncated; get an intact copy$'

# ---- after the data, truncated ----
{ cat "$T/mb.tar.xz"; printf 'garbage\n'; } >"$T/junk.tar.xz"
build_set junk "$T/junk.tar.xz" 2
expect_set_error junk 'error: junk\.tar\.xz: the compressed data is damaged \(.*\): the file is corrupt or truncated; get an intact copy$'
head -c $(( $(stat -c %s "$T/mb.tar.xz") - 100 )) "$T/mb.tar.xz" >"$T/trunc.tar.xz"
build_set trunc "$T/trunc.tar.xz" 2
expect_set_error trunc 'error: trunc\.tar\.xz: .*the compressed data is damaged \(.*\): the file is corrupt or truncated; get an intact copy$'

# ---- concatenated streams, stream padding ----
cat "$T/mb.tar.xz" "$T/mb.tar.xz" >"$T/two.tar.xz"
{ cat "$T/mb.tar.xz"; head -c 8 /dev/zero; } >"$T/pad.tar.xz"
for f in two pad; do
	build_set "ok-$f" "$T/$f.tar.xz" 2
	expect_rc 0 "$f.tar.xz builds"
	build_set "ok1-$f" "$T/$f.tar.xz" 1
	expect_rc 0 "$f.tar.xz builds single-threaded"
	assert_same_file "ok1-$f/out/t-amd64.img" "ok-$f/out/t-amd64.img" "$f.tar.xz: the image"
done
