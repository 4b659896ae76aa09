#!/bin/bash
# build-kernel.sh — build (once per machine) the Linux kernel of smolc's
# offline test guest and print the path of its ELF vmlinux on stdout.
#
# Design: Debian's linux-source-6.1 tarball + `make tinyconfig` + the
# committed fragment tests/guest/linux.config, merged with
# scripts/kconfig/merge_config.sh. The ELF vmlinux is booted through its PVH
# entry note by QEMU microvm (qboot prints nothing for a bzImage). The result
# is cached OUTSIDE the checkout, keyed by sha256(fragment, package version,
# recipe revision):
#     ${SMOLC_TEST_CACHE:-$HOME/.cache/smolc-test}/kernel-<key>/vmlinux
# so CI pays the ~6 minute build once per machine. A flock on
# kernel-<key>.lock makes concurrent callers wait for one build; the result is
# moved into place atomically, so a half-built kernel is never visible.
# The vmlinux is stripped (the PVH ELF note survives; checked below).
#
# Usage: build-kernel.sh [--print-key] [--force]
# Env:   SMOLC_TEST_CACHE  cache root; LINUX_SOURCE  source tarball
#        (default /usr/src/linux-source-6.1.tar.xz); JOBS (default nproc).
# Progress goes to stderr; stdout is only the vmlinux path.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
FRAGMENT=$HERE/linux.config
SRC_TAR=${LINUX_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
CACHE=${SMOLC_TEST_CACHE:-$HOME/.cache/smolc-test}
JOBS=${JOBS:-$(nproc)}
# Bump when the recipe below changes in a way that changes the output.
RECIPE=1

log() { printf 'build-kernel: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

force=0 print_key=0
for a in "$@"; do
	case $a in
	--force) force=1 ;;
	--print-key) print_key=1 ;;
	-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
	*) die "unknown argument '$a' (usage: build-kernel.sh [--print-key] [--force])" ;;
	esac
done

[ -r "$FRAGMENT" ] || die "$FRAGMENT: missing config fragment"
[ -r "$SRC_TAR" ] || die "$SRC_TAR: not found; install it with 'apt-get install linux-source-6.1 bc' (the default test guest, tests/guest/stock-kernel.sh, needs neither)"

pkgver=
if [ "$SRC_TAR" = /usr/src/linux-source-6.1.tar.xz ]; then
	pkgver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)
fi
if [ -z "$pkgver" ]; then
	# not installed through dpkg: key on the tarball itself
	pkgver=tarball-$(sha256sum "$SRC_TAR" | cut -d' ' -f1)
fi
key=$( { cat "$FRAGMENT"; printf 'linux-source-6.1 %s\nrecipe %s\n' "$pkgver" "$RECIPE"; } |
	sha256sum | cut -c1-16)
dir=$CACHE/kernel-$key
if [ "$print_key" = 1 ]; then echo "$key"; exit 0; fi

mkdir -p "$CACHE" || die "$CACHE: cannot create the cache directory (set SMOLC_TEST_CACHE)"
if [ "$force" = 0 ] && [ -s "$dir/vmlinux" ]; then
	echo "$dir/vmlinux"; exit 0
fi

exec 9>"$CACHE/kernel-$key.lock"
if ! flock -n 9; then
	log "another build of kernel-$key is running; waiting for it"
	flock 9
fi
if [ "$force" = 0 ] && [ -s "$dir/vmlinux" ]; then
	echo "$dir/vmlinux"; exit 0
fi

work=$(mktemp -d "$CACHE/kernel-$key.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
log "building kernel-$key (linux-source-6.1 $pkgver) in $work, -j$JOBS; takes ~6 min on 2 cores"
log "unpacking $SRC_TAR"
tar -C "$work" -xf "$SRC_TAR" || die "$SRC_TAR: cannot unpack (reinstall linux-source-6.1)"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | head -n1)
[ -n "$src" ] || die "$SRC_TAR: no linux-source-* directory inside"

kmake() { make -C "$src" ARCH=x86_64 "$@"; }
log "make tinyconfig + $(basename "$FRAGMENT")"
kmake -s tinyconfig >&2
(cd "$src" && KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m .config "$FRAGMENT") >&2
kmake -s olddefconfig >&2

# every option the fragment asks for must have taken
missing=()
while IFS= read -r line; do
	case $line in CONFIG_*=*) ;; *) continue ;; esac
	grep -qxF -- "$line" "$src/.config" || missing+=("$line")
done <"$FRAGMENT"
if [ "${#missing[@]}" -gt 0 ]; then
	die "options did not take (dependency missing?): ${missing[*]}"
fi

log "make -j$JOBS vmlinux"
kmake -j"$JOBS" vmlinux >"$work/build.log" 2>&1 || {
	tail -n 40 "$work/build.log" >&2
	die "kernel build failed (full log was $work/build.log)"
}

out=$work/out
mkdir -p "$out"
strip -o "$out/vmlinux" "$src/vmlinux"
# PVH entry: ELF note type 0x12 (XEN_ELFNOTE_PHYS32_ENTRY), owner "Xen"
if ! readelf -n "$out/vmlinux" | grep -q 'Xen.*0x00000012'; then
	die "stripped vmlinux lost its PVH ELF note (XEN_ELFNOTE_PHYS32_ENTRY)"
fi
cp "$src/.config" "$out/config"
cp "$FRAGMENT" "$out/linux.config"
{
	echo "linux-source-6.1 $pkgver"
	echo "recipe $RECIPE"
	echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - start ))s with -j$JOBS"
	echo "size $(stat -c %s "$out/vmlinux") bytes (stripped), $(stat -c %s "$src/vmlinux") unstripped"
} >"$out/BUILDINFO"

rm -rf "$dir"
mv "$out" "$dir"
log "done in $(( $(date +%s) - start ))s: $dir/vmlinux ($(stat -c %s "$dir/vmlinux") bytes)"
echo "$dir/vmlinux"
