#!/bin/bash
# 20-image-tools.sh — NetBSD-like sets (tests/lib/mkset.py) → layers →
# tree → GPT+ext2 image through bench/imgbench.c (the library alone, no
# CLI), then checked with e2fsck, sgdisk and debugfs. Evil archives must
# fail with the entry named and write nothing outside the layer dir.
set -u
cd "${TEST_TMP:?}"
for t in cc pkg-config python3 sgdisk e2fsck debugfs; do
	command -v "$t" >/dev/null || { echo "needs $t"; exit 77; }
done
fail() { echo "FAIL: $*"; exit 1; }
# the library of the build under test (the sanitizer pass: ASan+UBSan's)
lib=$ROOT/build/libsmolc.a san=()
if [ -n "${SMOLC_SAN:-}" ]; then
	lib=$ROOT/build/libsmolc-san.a
	san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
fi
[ -f "$lib" ] || fail "$lib not built (run make)"

cc -std=c11 -D_GNU_SOURCE -O2 "${san[@]+"${san[@]}"}" -I"$ROOT/common" -I"$ROOT/compiler" -o imgbench "$ROOT/bench/imgbench.c" \
	"$lib" $(pkg-config --libs ext2fs fdisk libarchive libcrypto zlib liblzma) -lcom_err \
	|| fail "cannot build imgbench"
MKSET="$ROOT/tests/lib/fixture mkset"
$MKSET --kind base --files 3000 --bytes 20000000 base.tar.xz --sha512 SHA512 || fail mkset
$MKSET --kind rescue --bytes 2000000 rescue.tgz --sha512 SHA512 || fail mkset
$MKSET --kind etc etc.tar.xz --sha512 SHA512 || fail mkset
grep -Eq '^SHA512 \(base\.tar\.xz\) = [0-9a-f]{128}$' SHA512 || fail "SHA512 line format"
[ "$(wc -l < SHA512)" -eq 3 ] || fail "SHA512 should have 3 lines"

./imgbench W disk.img base.tar.xz rescue.tgz etc.tar.xz > bench.out || fail "imgbench failed"
cat bench.out
IMG='disk.img?offset=1048576'
e2fsck -fn "$IMG" || fail "e2fsck found problems"
sgdisk -v disk.img | grep -q "No problems found" || fail "sgdisk -v"
sgdisk -p disk.img | grep -q "8300  benchroot" || fail "partition name/type"
sgdisk -i 1 disk.img | grep -q "Attribute flags: 0800000000000000" || fail "attribute bit 59"
names=$(tar tzf rescue.tgz | grep -c '^\./rescue/.')
debugfs -R 'stat /rescue/sh' "$IMG" 2>/dev/null | grep -q "Links: $names " \
	|| fail "rescue: expected one inode with $names links"
debugfs -R 'stat /usr/bin/su' "$IMG" 2>/dev/null | grep -q "Mode:  04555" || fail "setuid bit"
debugfs -R 'stat /etc/master.passwd' "$IMG" 2>/dev/null | grep -q "Mode:  0600" || fail "etc set"

# same inputs, same image
./imgbench W2 disk2.img base.tar.xz rescue.tgz etc.tar.xz > /dev/null || fail "second run"
cmp disk.img disk2.img || fail "images differ between two runs"

# evil archives: clear error naming the entry, nothing written outside
for e in dotdot absolute symlink-escape hardlink-missing truncated overlong; do
	$MKSET --evil $e evil-$e.tar || fail mkset
	mkdir jail-$e && cd jail-$e
	if ../imgbench L out.img ../evil-$e.tar 2> err; then fail "evil $e accepted"; fi
	grep -q "evil-$e.tar: entry \"" err || { cat err; fail "evil $e: message must name the entry"; }
	left=$(find . -mindepth 1 -not -path './L' -not -path './L/*' -not -name err | wc -l)
	[ "$left" -eq 0 ] || fail "evil $e: files written outside the layer"
	cd ..
done
echo "ok"
