#!/bin/bash
# 55-initramfs — tests/guest/mkinitramfs.py, the initramfs generator of the
# stock-kernel guest, on synthetic modules (ELF objects with a .modinfo
# section, made by the C compiler): the load order follows each module's
# depends= field (dependencies first, '-' and '_' alike, .ko.xz read too),
# a missing module or dependency is an error naming it (and what needs it),
# a file that is no module is an error naming it, and the archive holds
# /init, busybox, the modules and their order, and /dev/console.
set -u
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
TEST_TMP=${TEST_TMP:-$(mktemp -d)}
G=$ROOT/tests/guest
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "skip: $*"; exit 77; }
for t in cc python3 xz bsdtar; do
	command -v "$t" >/dev/null || skip "$t not installed (tests/deps.sh)"
done
cd "$TEST_TMP" || exit 1
M=$TEST_TMP/mods/lib/modules/6.1.0-test
mkdir -p "$M/kernel/fs" "$M/kernel/drivers/virtio" "$M/kernel/lib"

mod() { # path name depends
	printf 'static const char m[] __attribute__((section(".modinfo"), used)) =\n' >m.c
	printf '\t"license=GPL\\0name=%s\\0depends=%s\\0vermagic=6.1.0 SMP\\0";\n' "$2" "$3" >>m.c
	cc -c -o "$1" m.c || fail "cc could not make $1"
}
mod "$M/kernel/fs/ext4.ko" ext4 "jbd2,mbcache,crc16"
mod "$M/kernel/fs/jbd2.ko" jbd2 ""
mod "$M/kernel/fs/mbcache.ko" mbcache ""
mod "$M/kernel/lib/crc16.ko" crc16 ""
mod "$M/kernel/drivers/virtio/virtio_blk.ko" virtio_blk "virtio,virtio_ring"
mod "$M/kernel/drivers/virtio/virtio.ko" virtio "virtio_ring"
mod "$M/kernel/drivers/virtio/virtio_ring.ko" virtio_ring ""
# a compressed module, with '-' in its file name
mod "$M/kernel/drivers/virtio/virtio-mmio.ko" virtio_mmio "virtio,virtio_ring"
xz "$M/kernel/drivers/virtio/virtio-mmio.ko"

echo "== load order from depends="
out=$(python3 "$G/mkinitramfs.py" --list "$M" virtio_mmio virtio_blk ext4 2>err) || fail "--list: $(cat err)"
want="virtio_ring
virtio
virtio_mmio
virtio_blk
jbd2
mbcache
crc16
ext4"
[ "$out" = "$want" ] || fail "load order:
$out"
# asked in another order: each module still after its dependencies
out=$(python3 "$G/mkinitramfs.py" --list "$M" ext4 virtio_blk virtio 2>err) || fail "--list: $(cat err)"
[ "$(echo $out)" = "jbd2 mbcache crc16 ext4 virtio_ring virtio virtio_blk" ] || fail "second order: $(echo $out)"

echo "== a missing module, a missing dependency"
rc=0; python3 "$G/mkinitramfs.py" --list "$M" ext4 9p >out 2>err || rc=$?
[ $rc -eq 1 ] || fail "missing module: exit $rc"
grep -qx "mkinitramfs: error: module 9p: not found under $M" err || fail "missing module: $(cat err)"
rm "$M/kernel/fs/mbcache.ko"
rc=0; python3 "$G/mkinitramfs.py" -o initrd "$M" virtio_blk ext4 >out 2>err || rc=$?
[ $rc -eq 1 ] || fail "missing dependency: exit $rc"
grep -qx "mkinitramfs: error: module mbcache (needed by ext4): not found under $M" err ||
	fail "missing dependency: $(cat err)"
[ ! -e initrd ] || fail "an initrd was written despite the error"
mod "$M/kernel/fs/mbcache.ko" mbcache ""

echo "== a file that is not a module"
echo "not an ELF file" >"$M/kernel/lib/crc16.ko"
rc=0; python3 "$G/mkinitramfs.py" --list "$M" ext4 >out 2>err || rc=$?
[ $rc -eq 1 ] || fail "bad module: exit $rc"
grep -qx "mkinitramfs: error: $M/kernel/lib/crc16.ko: not an ELF file" err || fail "bad module: $(cat err)"
mod "$M/kernel/lib/crc16.ko" crc16 ""

echo "== the archive"
printf '#!/bin/sh\necho fake busybox\n' >busybox
chmod 0755 busybox
python3 "$G/mkinitramfs.py" --busybox "$TEST_TMP/busybox" -o initrd "$M" virtio_mmio ext4 2>err ||
	fail "mkinitramfs: $(cat err)"
grep -q "initrd: 7 modules (virtio_ring virtio virtio_mmio jbd2 mbcache crc16 ext4)" err || fail "summary: $(cat err)"
bsdtar -tvf initrd >list 2>err || fail "bsdtar cannot read the initrd: $(cat err)"
for f in init bin/busybox lib/modules/load.order lib/modules/virtio_mmio.ko lib/modules/ext4.ko dev/console newroot; do
	grep -q " $f\$" list || fail "$f not in the archive: $(cat list)"
done
grep -q '^crw------- .* dev/console$' list || fail "dev/console is not a character device: $(grep console list)"
grep -q '^-rwxr-xr-x .* init$' list || fail "/init is not executable: $(grep init list)"
mkdir x && bsdtar -xf initrd -C x lib/modules/load.order lib/modules/virtio_mmio.ko init 2>/dev/null
[ "$(echo $(cat x/lib/modules/load.order))" = "virtio_ring virtio virtio_mmio jbd2 mbcache crc16 ext4" ] ||
	fail "load.order: $(cat x/lib/modules/load.order)"
head -c 4 x/lib/modules/virtio_mmio.ko | grep -q ELF || fail "the .ko.xz is not stored decompressed"
grep -q 'switch_root /newroot' x/init || fail "/init does not switch_root"
# reproducible
python3 "$G/mkinitramfs.py" --busybox "$TEST_TMP/busybox" -o initrd2 "$M" virtio_mmio ext4 2>/dev/null
cmp -s initrd initrd2 || fail "two runs gave different archives"

echo "== usage"
rc=0; python3 "$G/mkinitramfs.py" "$M" >out 2>err || rc=$?
[ $rc -eq 2 ] || fail "usage: exit $rc"
grep -q '^mkinitramfs: usage: ' err || fail "usage: $(cat err)"
echo ok
