#!/usr/bin/env python3
"""mkset.py — pack Debian's static busybox into a NetBSD-like set tarball.

Design: the offline test guest's userland is one file, /bin/busybox
(package busybox-static), plus symlinks for the applets the guest uses and a
tiny /sbin/init shell script that plays NetBSD's init: mount the pseudo file
systems, run /etc/rc, then stay up as PID 1 (reaping children) until someone
runs `poweroff`/`halt`/`reboot`, which busybox turns into a signal to PID 1.
The archive looks like a NetBSD set: tar.xz, every name `./`-prefixed
(starting with `./` itself), owner root(0)/wheel(0), entries sorted, fixed
mtimes (SOURCE_DATE_EPOCH or 2025-01-01), so the output is byte-for-byte
reproducible. A NetBSD-format `SHA512` file is written next to it:
    SHA512 (busybox.tar.xz) = <hex>

Usage: mkset.py [OUTDIR]   (default: <repo>/build/guest)
Env:   BUSYBOX (default /bin/busybox), SOURCE_DATE_EPOCH.
Prints the path of the set on stdout.
"""
import hashlib
import io
import lzma
import os
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SET_NAME = "busybox.tar.xz"
MTIME = int(os.environ.get("SOURCE_DATE_EPOCH", "1735689600"))  # 2025-01-01Z

DIRS = {  # path -> mode
    ".": 0o755, "bin": 0o755, "sbin": 0o755, "etc": 0o755, "dev": 0o755,
    "proc": 0o555, "sys": 0o555, "tmp": 0o1777, "var": 0o755,
    "var/run": 0o755, "var/www": 0o755, "mnt": 0o755, "root": 0o700,
}

# applets linked from /bin (-> busybox) and /sbin (-> ../bin/busybox),
# split roughly the way NetBSD splits /bin and /sbin.
BIN_APPLETS = """
    sh ash cat chmod chown cp cut date dd df dmesg echo env expr false free
    grep head hostname kill ln ls mkdir mknod mktemp more mv nc ping printf
    ps pwd readlink rm rmdir sed seq sleep sort stat sync tail tee test
    touch tr true uname uptime wc wget xargs httpd sha256sum sha512sum
    mkfifo id chgrp find cmp
    """.split()
SBIN_APPLETS = """
    mount umount ifconfig ip route halt poweroff reboot sysctl
    """.split()

INIT = r"""#!/bin/sh
# /sbin/init of the smolc test guest (busybox). Plays NetBSD's init:
# mount the pseudo file systems, run /etc/rc, then stay up as PID 1.
# `poweroff`, `halt` and `reboot` (busybox) signal PID 1 (USR2, USR1, TERM);
# init then stops every process, syncs, remounts / read-only and asks the
# kernel to power off/halt/reboot. Under QEMU microvm without ACPI only a
# reset ends the VM, so all three end in `reboot -f` (run QEMU with
# -no-reboot, and `reboot=t` on the kernel command line for a fast reset).
PATH=/bin:/sbin
export PATH HOME=/ TERM=vt100

mounted() { grep -q " $1 " /proc/mounts 2>/dev/null; }
mounted /proc || mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev
# a writable /tmp even when / is mounted read-only
mounted /tmp || mount -t tmpfs -o mode=1777 tmpfs /tmp

stop() {
	trap '' USR1 USR2 TERM
	echo "init: $1: stopping processes" >/dev/console
	kill -TERM -1 2>/dev/null; sleep 0.3 2>/dev/null || sleep 1; kill -KILL -1 2>/dev/null
	sync
	umount -a -r 2>/dev/null
	mount -o remount,ro / 2>/dev/null
	sync
	echo "init: $1" >/dev/console
	reboot -f
}
trap 'stop poweroff' USR2
trap 'stop halt' USR1
trap 'stop reboot' TERM
trap '' INT HUP
# the ACPI power button (QEMU's system_powerdown: `smolc stop`, a container's
# SIGTERM) powers off cleanly, as NetBSD's powerd(8) does: its input device
# (/dev/input/eventN, Linux's button and evdev drivers) reports a press
for e in /sys/class/input/event*; do
	grep -qx "Power Button" "$e/device/name" 2>/dev/null || continue
	{ head -c 1 "/dev/input/${e##*/}" >/dev/null 2>&1 && echo "init: power button" >/dev/console &&
		kill -USR2 1; } &
done

# rc runs in the background so the traps above fire while it runs
# (ash defers traps until a foreground command ends)
if [ -r /etc/rc ]; then
	sh /etc/rc </dev/console >/dev/console 2>&1 &
	wait $!
	echo "init: /etc/rc exited with status $?" >/dev/console
else
	echo "init: no /etc/rc; starting a shell on the console" >/dev/console
	sh </dev/console >/dev/console 2>&1 &
	wait $!
fi
# stay up (daemons started by rc keep running); reap orphans
while :; do
	sleep 3600 &
	wait
done
"""

# busybox-static has no adduser/addgroup: the guest's own user tools are
# these two scripts, a subset of NetBSD's useradd(8)/groupadd(8) (what a
# RUN step calls to create a service's user).
GROUPADD = r"""#!/bin/sh
# groupadd [-g gid] name — the smolc test guest's groupadd (see mkset.py)
gid=
while getopts g: o; do
	case $o in g) gid=$OPTARG ;; *) echo "usage: groupadd [-g gid] name" >&2; exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: groupadd [-g gid] name" >&2; exit 2; }
if grep -q "^$1:" /etc/group; then echo "groupadd: group $1 exists" >&2; exit 1; fi
if [ -z "$gid" ]; then
	gid=1000
	while cut -d: -f3 /etc/group | grep -qx "$gid"; do gid=$((gid + 1)); done
fi
echo "$1:*:$gid:" >>/etc/group
"""

USERADD = r"""#!/bin/sh
# useradd [-u uid] [-g group] [-d home] [-s shell] [-m] name — the smolc test
# guest's useradd (see mkset.py): a new group of the user's name unless -g
uid= group= home= shell=/bin/sh mk=
while getopts u:g:d:s:m o; do
	case $o in
	u) uid=$OPTARG ;; g) group=$OPTARG ;; d) home=$OPTARG ;; s) shell=$OPTARG ;; m) mk=1 ;;
	*) echo "usage: useradd [-u uid] [-g group] [-d home] [-s shell] [-m] name" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: useradd [-u uid] [-g group] [-d home] [-s shell] [-m] name" >&2; exit 2; }
name=$1
if grep -q "^$name:" /etc/passwd; then echo "useradd: user $name exists" >&2; exit 1; fi
if [ -z "$uid" ]; then
	uid=1000
	while cut -d: -f3 /etc/passwd | grep -qx "$uid"; do uid=$((uid + 1)); done
fi
if [ -z "$group" ]; then
	grep -q "^$name:" /etc/group || groupadd -g "$uid" "$name" || exit 1
	group=$name
fi
case $group in
*[!0-9]*) gid=$(grep "^$group:" /etc/group | cut -d: -f3)
	[ -n "$gid" ] || { echo "useradd: no group $group" >&2; exit 1; } ;;
*) gid=$group ;;
esac
[ -n "$home" ] || home=/home/$name
echo "$name:*:$uid:$gid::$home:$shell" >>/etc/passwd
if [ -n "$mk" ]; then mkdir -p "$home" && chown "$uid:$gid" "$home"; fi
"""

FILES = {  # path -> (mode, bytes)
    "sbin/init": (0o555, INIT.encode()),
    "sbin/useradd": (0o555, USERADD.encode()),
    "sbin/groupadd": (0o555, GROUPADD.encode()),
    "etc/passwd": (0o644, b"root:x:0:0:root:/root:/bin/sh\n"),
    "etc/group": (0o644, b"wheel:x:0:root\n"),
    "etc/hostname": (0o644, b"smolguest\n"),
    "etc/hosts": (0o644, b"127.0.0.1 localhost\n"),
}


def info(name, kind, mode, size=0, target=""):
    t = tarfile.TarInfo("./" if name == "." else "./" + name)
    t.type = kind
    t.mode = mode
    t.size = size
    t.linkname = target
    t.mtime = MTIME
    t.uid, t.gid = 0, 0
    t.uname, t.gname = "root", "wheel"
    return t


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1].startswith("-")):
        print(__doc__, file=sys.stderr if sys.argv[1] not in ("-h", "--help") else sys.stdout)
        sys.exit(0 if sys.argv[1] in ("-h", "--help") else 2)
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "guest")
    busybox = os.environ.get("BUSYBOX", "/bin/busybox")
    try:
        with open(busybox, "rb") as f:
            bb = f.read()
    except OSError as e:
        sys.exit(f"mkset: {busybox}: {e.strerror}; install busybox-static (tests/deps.sh)")
    if bb[:4] != b"\x7fELF":
        sys.exit(f"mkset: {busybox}: not an ELF binary")

    entries = []  # (name, tarinfo, data)
    for d, mode in DIRS.items():
        entries.append((d, info(d, tarfile.DIRTYPE, mode), None))
    entries.append(("bin/busybox", info("bin/busybox", tarfile.REGTYPE, 0o555, len(bb)), bb))
    for a in BIN_APPLETS:
        entries.append((f"bin/{a}", info(f"bin/{a}", tarfile.SYMTYPE, 0o755, target="busybox"), None))
    for a in SBIN_APPLETS:
        entries.append((f"sbin/{a}", info(f"sbin/{a}", tarfile.SYMTYPE, 0o755, target="../bin/busybox"), None))
    for p, (mode, data) in FILES.items():
        entries.append((p, info(p, tarfile.REGTYPE, mode, len(data)), data))
    names = [e[0] for e in entries]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        sys.exit(f"mkset: duplicate entries {sorted(dup)}")
    # parents before children, then name order ("." first)
    entries.sort(key=lambda e: ("" if e[0] == "." else e[0]).split("/"))

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for _, ti, data in entries:
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    xz = lzma.compress(raw.getvalue(), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                       preset=6)

    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, SET_NAME)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(xz)
    os.replace(tmp, path)
    digest = hashlib.sha512(xz).hexdigest()
    sums = os.path.join(outdir, "SHA512")
    with open(sums + ".tmp", "w") as f:
        f.write(f"SHA512 ({SET_NAME}) = {digest}\n")
    os.replace(sums + ".tmp", sums)
    print(path)


if __name__ == "__main__":
    main()
