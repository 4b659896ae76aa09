#!/bin/bash
# stock-kernel.sh — Debian's own kernel as the offline test guest's kernel:
# no compiling. Prints the directory that holds `vmlinux` and `initrd`.
#
# Design: the kernel package that linux-image-amd64 depends on (its name and
# version from apt-cache: the apt lists must be present, no network needed
# for that) is downloaded with `apt-get download` (by name and version), its
# boot/ and the module directories unpacked with dpkg-deb + tar, and:
#   vmlinux  the ELF kernel inside the bzImage (the xz payload the setup
#            header points at, `xz -dc --single-stream`), booted through its
#            PVH entry note by QEMU microvm (~3 s faster than the bzImage);
#   initrd   tests/guest/mkinitramfs.py: static busybox + the virtio, ext4
#            and 9p modules, loaded in the order of their depends= fields.
# Cached OUTSIDE the checkout, keyed by the package name and version, the
# generator and this recipe:
#     ${SMOLC_TEST_CACHE:-$HOME/.cache/smolc-test}/stock-<key>/{vmlinux,initrd,config,BUILDINFO}
# The .deb and the unpacked tree are removed afterwards (~70 MB download,
# ~70 MB kept). A flock serialises concurrent callers; the result is renamed
# into place, so a half-made guest is never visible. Once cached it works
# offline; without apt lists the newest cached stock kernel is used.
#
# Usage: stock-kernel.sh [--print-key]
# Env:   SMOLC_TEST_CACHE  cache root; STOCK_KERNEL_PKG  package (default:
#        the one linux-image-amd64 depends on); BUSYBOX (default /bin/busybox).
# Progress (and what it downloads) goes to stderr; stdout is only the directory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${SMOLC_TEST_CACHE:-$HOME/.cache/smolc-test}
BUSYBOX=${BUSYBOX:-/bin/busybox}
# The modules the guest needs (their dependencies come by themselves):
# virtio-mmio disk and network, ext2 (the ext4 driver), crc32c (ext4's
# softdep), 9p shares, and qemu_fw_cfg (CONFIG_FW_CFG_SYSFS=m in Debian's
# config: /sys/firmware/qemu_fw_cfg, where `smolc run -e/-E` values show),
# button and evdev (the ACPI power button QEMU's system_powerdown presses,
# as /dev/input/eventN: the guest's init powers off on it).
MODULES="virtio_mmio virtio_blk virtio_net ext4 crc32c_generic 9pnet_virtio 9p qemu_fw_cfg button evdev"
# Bump when the recipe below changes in a way that changes the output.
RECIPE=1

log() { printf 'stock-kernel: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

print_key=0
for a in "$@"; do
	case $a in
	--print-key) print_key=1 ;;
	-h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
	*) die "unknown argument '$a' (usage: stock-kernel.sh [--print-key])" ;;
	esac
done

newest_cached() {
	local d
	d=$(ls -1dt "$CACHE"/stock-*/ 2>/dev/null | while read -r d; do
		[ -s "$d/vmlinux" ] && [ -s "$d/initrd" ] && { echo "${d%/}"; break; }
	done)
	[ -n "$d" ] && echo "$d"
}

# The package and its version: `Depends: linux-image-X (= V)` of the
# candidate linux-image-amd64. apt-cache takes ~1.5 s of CPU (it rebuilds
# its cache in memory when /var/cache/apt is stale), and every test that
# boots a guest asks: the answer is remembered with the mtime of apt's
# lists directory, which `apt-get update` changes.
lists=/var/lib/apt/lists
memo=$CACHE/stock-lookup
stamp=$(stat -c %Y "$lists" 2>/dev/null || echo none)
pkg=${STOCK_KERNEL_PKG:-} ver=
if [ -z "$pkg" ] && [ -r "$memo" ] && read -r m_stamp m_pkg m_ver <"$memo" && [ "$m_stamp" = "$stamp" ]; then
	pkg=$m_pkg ver=$m_ver
elif [ -z "$pkg" ]; then
	read -r pkg ver < <(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
		sed -n 's/^Depends: \(linux-image-[0-9][^ ,]*-amd64\) (= \([^)]*\)).*/\1 \2/p' | head -n1) || true
	if [ -n "$pkg" ] && [ -n "$ver" ] && mkdir -p "$CACHE" 2>/dev/null; then
		printf '%s %s %s\n' "$stamp" "$pkg" "$ver" >"$memo.$$" && mv -f "$memo.$$" "$memo"
	fi
else
	ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
fi
if [ -z "$pkg" ] || [ -z "$ver" ]; then
	if d=$(newest_cached); then
		log "no apt lists naming the kernel package; using the cached $(sed -n 1p "$d/BUILDINFO" 2>/dev/null)"
		[ "$print_key" = 1 ] && { basename "$d" | sed 's/^stock-//'; exit 0; }
		echo "$d"; exit 0
	fi
	die "cannot find Debian's kernel package (apt-cache depends linux-image-amd64 names none): run 'apt-get update' once"
fi
gen_sum=$(sha256sum "$HERE/mkinitramfs.py" | cut -d' ' -f1)
bb_sum=$(sha256sum "$BUSYBOX" 2>/dev/null | cut -d' ' -f1) || die "$BUSYBOX: no static busybox (apt-get install busybox-static)"
key=$(printf '%s %s\nrecipe %s\nmodules %s\ngenerator %s\nbusybox %s\n' "$pkg" "$ver" "$RECIPE" "$MODULES" \
	"$gen_sum" "$bb_sum" | sha256sum | cut -c1-16)
dir=$CACHE/stock-$key
if [ "$print_key" = 1 ]; then echo "$key"; exit 0; fi
if [ -s "$dir/vmlinux" ] && [ -s "$dir/initrd" ]; then echo "$dir"; exit 0; fi

mkdir -p "$CACHE" || die "$CACHE: cannot create the cache directory (set SMOLC_TEST_CACHE)"
exec 9>"$CACHE/stock-$key.lock"
if ! flock -n 9; then
	log "another caller is preparing stock-$key; waiting for it"
	flock 9
fi
if [ -s "$dir/vmlinux" ] && [ -s "$dir/initrd" ]; then echo "$dir"; exit 0; fi

work=$(mktemp -d "$CACHE/stock-$key.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
t0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - t0) / 1000000 )); }

log "downloading $pkg $ver (apt-get download)"
sandbox=()
# as root, apt hands the download to its _apt user, which cannot write here
[ "$(id -u)" != 0 ] || sandbox=(-o APT::Sandbox::User=root)
(cd "$work" && apt-get download -q "${sandbox[@]}" "$pkg=$ver" >&2) ||
	die "apt-get download $pkg=$ver failed (network or apt lists; 'apt-get update' refreshes them)"
deb=$(ls "$work"/*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || die "apt-get download $pkg=$ver wrote no .deb"
log "downloaded $(basename "$deb") ($(stat -c %s "$deb") bytes) at $(ms) ms"

mkdir "$work/x"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/x" --wildcards \
	'./boot/vmlinuz-*' './boot/config-*' \
	'./lib/modules/*/kernel/drivers/virtio/*' './lib/modules/*/kernel/drivers/block/*' \
	'./lib/modules/*/kernel/drivers/firmware/*' './lib/modules/*/kernel/drivers/acpi/*' \
	'./lib/modules/*/kernel/drivers/input/*' \
	'./lib/modules/*/kernel/drivers/net/*' './lib/modules/*/kernel/net/*' \
	'./lib/modules/*/kernel/fs/*' './lib/modules/*/kernel/lib/*' './lib/modules/*/kernel/crypto/*' ||
	die "$deb: cannot unpack (dpkg-deb --fsys-tarfile | tar -x)"
rm -f "$deb"
bz=$(ls "$work"/x/boot/vmlinuz-* 2>/dev/null | head -n1)
[ -n "$bz" ] || die "$pkg: no boot/vmlinuz-* in the package"
moddir=$(ls -d "$work"/x/lib/modules/*/ 2>/dev/null | head -n1)
[ -n "$moddir" ] || die "$pkg: no lib/modules/<version>/ in the package"
log "unpacked at $(ms) ms"

out=$work/out
mkdir "$out"
# bzImage: setup_sects at 0x1f1 (+1 sector of boot code); payload_offset at
# 0x248 and payload_length at 0x24c, relative to the protected-mode code.
# The payload must be an xz stream holding an ELF vmlinux with a PVH entry
# note (type 0x12, XEN_ELFNOTE_PHYS32_ENTRY, owner "Xen").
python3 - "$bz" "$out/vmlinux" <<-'PY' || die "$bz: cannot extract an ELF vmlinux with a PVH entry (see above)"
	import lzma, struct, sys
	src, dst = sys.argv[1], sys.argv[2]
	def die(msg):
	    print(f"stock-kernel: error: {src}: {msg}", file=sys.stderr)
	    sys.exit(1)
	bz = open(src, "rb").read()
	if bz[0x202:0x206] != b"HdrS":
	    die("not a bzImage (no HdrS header)")
	setup = bz[0x1F1] or 4
	off, length = struct.unpack_from("<II", bz, 0x248)
	start = (setup + 1) * 512 + off
	payload = bz[start:start + length]
	if payload[:6] != b"\xfd7zXZ\0":
	    die("the payload is not xz (Debian builds CONFIG_KERNEL_XZ)")
	try:
	    d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
	except lzma.LZMAError as e:
	    die(f"the xz payload does not decompress: {e}")
	if d[:4] != b"\x7fELF":
	    die("the payload is not an ELF vmlinux")
	phoff, = struct.unpack_from("<Q", d, 0x20)
	phentsize, phnum = struct.unpack_from("<HH", d, 0x36)
	pvh = False
	for i in range(phnum):
	    typ, _f, poff, _v, _p, filesz = struct.unpack_from("<IIQQQQ", d, phoff + i * phentsize)
	    p = poff
	    while typ == 4 and p + 12 <= poff + filesz and not pvh:
	        nsz, dsz, nt = struct.unpack_from("<III", d, p)
	        pvh = d[p + 12:p + 12 + nsz].rstrip(b"\0") == b"Xen" and nt == 0x12
	        p += 12 + (nsz + 3) // 4 * 4 + (dsz + 3) // 4 * 4
	if not pvh:
	    die("the vmlinux has no PVH entry note (CONFIG_PVH): QEMU microvm cannot boot it")
	with open(dst, "wb") as f:
	    f.write(d)
	PY
log "vmlinux extracted ($(stat -c %s "$out/vmlinux") bytes) at $(ms) ms"

# shellcheck disable=SC2086
python3 "$HERE/mkinitramfs.py" --busybox "$BUSYBOX" -o "$out/initrd" "$moddir" $MODULES ||
	die "could not make the initramfs"
cp "$work"/x/boot/config-* "$out/config"
{
	echo "$pkg $ver"
	echo "recipe $RECIPE"
	echo "modules $(python3 "$HERE/mkinitramfs.py" --list "$moddir" $MODULES | tr '\n' ' ')"
	echo "made $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(ms) ms"
} >"$out/BUILDINFO"
rm -rf "$dir"
mv "$out" "$dir"
log "done in $(ms) ms: $dir"
echo "$dir"
