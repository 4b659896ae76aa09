#!/usr/bin/env python3
"""mkinitramfs.py — the initramfs of the stock-kernel test guest.

Debian's kernel has its virtio and ext4 drivers as modules, so the guest needs
a small initramfs: a static busybox, the modules the guest needs and an /init
that loads them, finds the root partition (root=PARTLABEL=NAME: the GPT
partition name, read from /sys/class/block/*/uevent; or root=/dev/X), mounts
it (ro or rw, as on the kernel command line) and switch_roots into its
/sbin/init (or init=).

Module order: each module's `depends=` field, read from the .modinfo section
of the .ko itself (the unpacked package has no modules.dep and the machine
may have no kmod). The wanted modules and everything they depend on are
found under MODDIR by file name (foo.ko, foo.ko.xz, foo.ko.gz, foo.ko.zst;
'-' and '_' are the same), stored uncompressed, and loaded dependencies
first. A module that is not there is an error naming it and what needs it.

Usage: mkinitramfs.py [--list] [-o OUT] [--busybox PATH] MODDIR MODULE...
       mkinitramfs.py --empty -o OUT
  --list       print the load order (one module a line) and write nothing
  --empty      an archive with nothing in it: a kernel given it finds no
               /init and mounts root= itself (the compiled-in test kernel)
  -o OUT       write the gzip'd cpio (newc) archive to OUT (temp + rename)
  --busybox P  static busybox (default /bin/busybox, package busybox-static)
The archive is reproducible: owner 0:0, mtime $SOURCE_DATE_EPOCH or 0.
Exit: 0 ok, 1 failure (missing module, bad ELF, I/O), 2 usage.
"""
import gzip
import lzma
import os
import struct
import subprocess
import sys

PROG = "mkinitramfs"

INIT = r"""#!/bin/busybox sh
# /init of smolc's stock-kernel test guest (tests/guest/mkinitramfs.py):
# load the modules, mount the root partition, switch_root into its init.
bb=/bin/busybox
fail() {
	echo "initramfs: error: $*" >/dev/console
	exit 1    # the kernel panics (panic=-1: QEMU exits with -no-reboot)
}
$bb mount -t devtmpfs devtmpfs /dev || fail "cannot mount devtmpfs on /dev"
$bb mount -t proc proc /proc || fail "cannot mount /proc"
$bb mount -t sysfs sysfs /sys || fail "cannot mount /sys"
for m in $($bb cat /lib/modules/load.order); do
	$bb insmod "/lib/modules/$m.ko" || fail "insmod $m failed"
done
root= mode=ro fstype= init=/sbin/init
for a in $($bb cat /proc/cmdline); do
	case $a in
	root=*) root=${a#root=} ;;
	rootfstype=*) fstype=${a#rootfstype=} ;;
	init=*) init=${a#init=} ;;
	ro) mode=ro ;;
	rw) mode=rw ;;
	esac
done
[ -n "$root" ] || fail "no root= on the kernel command line"
find_dev() {
	case $root in
	PARTLABEL=*)
		for u in /sys/class/block/*/uevent; do
			if $bb grep -qx "PARTNAME=${root#PARTLABEL=}" "$u"; then
				echo "/dev/$($bb sed -n 's/^DEVNAME=//p' "$u")"
				return 0
			fi
		done
		return 1 ;;
	/dev/*) [ -b "$root" ] && echo "$root" ;;
	*) return 1 ;;
	esac
}
i=0
until dev=$(find_dev) && [ -b "$dev" ]; do
	i=$((i + 1))
	[ $i -le 200 ] || fail "root device $root not found (block devices: $($bb ls /sys/class/block | $bb tr '\n' ' '))"
	$bb usleep 50000
done
$bb mount ${fstype:+-t "$fstype"} -o "$mode" "$dev" /newroot || fail "cannot mount $dev ($root) on /newroot"
for d in dev proc sys; do
	if [ -d "/newroot/$d" ]; then $bb mount --move "/$d" "/newroot/$d"; else $bb umount "/$d"; fi
done
exec $bb switch_root /newroot "$init"
"""


class Error(Exception):
    pass


def modinfo(data, where):
    """The key=value strings of the .modinfo section of an ELF64 LE .ko."""
    if data[:4] != b"\x7fELF":
        raise Error(f"{where}: not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise Error(f"{where}: not a 64-bit little-endian ELF file")
    try:
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        if shentsize < 64 or shstrndx >= shnum:
            raise Error(f"{where}: bad ELF section header table")
        secs = []
        for i in range(shnum):
            name, _typ, _flags, _addr, off, size = struct.unpack_from(
                "<IIQQQQ", data, shoff + i * shentsize)
            secs.append((name, off, size))
        _, stroff, strsize = secs[shstrndx]
        strtab = data[stroff:stroff + strsize]
        for name, off, size in secs:
            end = strtab.find(b"\0", name)
            if strtab[name:end] == b".modinfo":
                if off + size > len(data):
                    raise Error(f"{where}: .modinfo runs past the end of the file")
                return [s.decode("utf-8", "replace")
                        for s in data[off:off + size].split(b"\0") if s]
    except struct.error:
        raise Error(f"{where}: truncated ELF file") from None
    raise Error(f"{where}: no .modinfo section (not a kernel module?)")


def depends(info):
    for kv in info:
        if kv.startswith("depends="):
            return [d.replace("-", "_") for d in kv[8:].split(",") if d]
    return []


def read_module(path):
    if path.endswith(".ko"):
        with open(path, "rb") as f:
            return f.read()
    if path.endswith(".ko.xz"):
        return lzma.decompress(open(path, "rb").read())
    if path.endswith(".ko.gz"):
        return gzip.decompress(open(path, "rb").read())
    if path.endswith(".ko.zst"):
        try:
            return subprocess.run(["zstd", "-dcq", path], check=True,
                                  stdout=subprocess.PIPE).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            raise Error(f"{path}: cannot decompress with zstd ({e}); "
                        "install the zstd package") from None
    raise Error(f"{path}: not a kernel module file name")


def index(moddir):
    """module name -> path of its file under moddir."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(moddir):
        dirnames.sort()
        for fn in sorted(filenames):
            for ext in (".ko", ".ko.xz", ".ko.gz", ".ko.zst"):
                if fn.endswith(ext):
                    name = fn[:-len(ext)].replace("-", "_")
                    found.setdefault(name, os.path.join(dirpath, fn))
                    break
    return found


def resolve(moddir, wanted):
    """Load order (dependencies first) and the bytes of each module."""
    if not os.path.isdir(moddir):
        raise Error(f"{moddir}: no such directory of kernel modules")
    files = index(moddir)
    order, data, state = [], {}, {}

    def visit(name, needed_by):
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            raise Error(f"module {name}: circular depends= ({needed_by} needs it)")
        path = files.get(name)
        if path is None:
            why = f" (needed by {needed_by})" if needed_by else ""
            raise Error(f"module {name}{why}: not found under {moddir}")
        state[name] = "open"
        blob = read_module(path)
        for dep in depends(modinfo(blob, path)):
            visit(dep, name)
        state[name] = "done"
        order.append(name)
        data[name] = blob

    for w in wanted:
        visit(w.replace("-", "_"), None)
    return order, data


class Cpio:
    """A newc cpio archive in memory."""

    def __init__(self, mtime):
        self.out = bytearray()
        self.ino = 1
        self.mtime = mtime

    def entry(self, name, mode, data=b"", rdev=(0, 0)):
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, 1, self.mtime, len(data), 0, 0,
            rdev[0], rdev[1], len(nb), 0))
        self.ino += 1
        self.out += hdr.encode() + nb
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def finish(self):
        self.ino = 0
        self.entry("TRAILER!!!", 0)
        return bytes(self.out)


def build(order, data, busybox, mtime):
    c = Cpio(mtime)
    for d in ("bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules"):
        c.entry(d, 0o040755)
    c.entry("dev/console", 0o020600, rdev=(5, 1))
    c.entry("dev/null", 0o020666, rdev=(1, 3))
    with open(busybox, "rb") as f:
        c.entry("bin/busybox", 0o100755, f.read())
    c.entry("bin/sh", 0o120777, b"busybox")
    c.entry("init", 0o100755, INIT.encode())
    c.entry("lib/modules/load.order", 0o100644, "".join(m + "\n" for m in order).encode())
    for m in order:
        c.entry(f"lib/modules/{m}.ko", 0o100644, data[m])
    return c.finish()


def main(argv):
    listing, empty, out, busybox, args = False, False, None, "/bin/busybox", []
    it = iter(argv)
    for a in it:
        if a == "--list":
            listing = True
        elif a == "--empty":
            empty = True
        elif a in ("-o", "--busybox"):
            v = next(it, None)
            if v is None:
                print(f"{PROG}: {a} needs a value", file=sys.stderr)
                return 2
            if a == "-o":
                out = v
            else:
                busybox = v
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        elif a.startswith("-"):
            print(f"{PROG}: unknown option '{a}' (see --help)", file=sys.stderr)
            return 2
        else:
            args.append(a)
    if empty and out and not args and not listing:
        args = [None, None]
    elif len(args) < 2 or (not listing and not out) or empty:
        print(f"{PROG}: usage: mkinitramfs.py [--list] [-o OUT] [--busybox PATH] MODDIR MODULE...",
              file=sys.stderr)
        return 2
    try:
        mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
        if empty:
            order, cpio = [], Cpio(mtime).finish()
        else:
            order, data = resolve(args[0], args[1:])
            if listing:
                print("\n".join(order))
                return 0
            if not os.access(busybox, os.X_OK):
                raise Error(f"{busybox}: no static busybox there (install busybox-static)")
            cpio = build(order, data, busybox, mtime)
        blob = gzip.compress(cpio, compresslevel=6, mtime=0)
        tmp = f"{out}.tmp.{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, out)
        if order:
            print(f"{PROG}: {out}: {len(order)} modules ({' '.join(order)}), {len(blob)} bytes",
                  file=sys.stderr)
        return 0
    except Error as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{PROG}: error: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
