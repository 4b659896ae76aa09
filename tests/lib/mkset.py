#!/usr/bin/env python3
"""mkset.py — generate synthetic NetBSD-like release sets for tests/benchmarks.

Archives look like NetBSD's: `./`-prefixed ustar entries, root/wheel
owners (uid 0, gid 0), the real directory flavour (etc/, bin/, sbin/,
usr/bin, usr/share/zoneinfo with thousands of small files, dev/ with
device nodes), a rescue/ with ~150 hard-linked names for one binary,
symlinks and a fifo. Output is deterministic for a given --seed (fixed
mtimes, no timestamps in the compression headers).

  mkset.py [--kind base|rescue|etc|tiny] [--files N] [--bytes N]
           [--compress xz|gz|none] [--seed S] [--mtime T]
           [--sha512 FILE] [--evil CASE] OUTPUT

--evil CASE adds one bad entry (or damages the archive):
  dotdot            entry "./../evil"
  absolute          entry "/etc/evil"
  symlink-escape    symlink "./evil-link" -> "/etc", then file "./evil-link/passwd"
  hardlink-missing  hard link "./bin/evil" -> "./bin/missing"
  hardlink-escape   hard link "./bin/evil" -> "../outside"
  truncated         the archive is cut in the middle of a file's data
  overlong          a name component of 300 bytes (pax header)
--sha512 FILE appends "SHA512 (<basename>) = <hex>" to FILE (NetBSD format).
Stdlib only.
"""
import argparse
import gzip
import hashlib
import io
import lzma
import os
import random
import sys
import tarfile

RESCUE_NAMES = """[ cat chio chmod cp csh date dd df domainname echo ed expr hostname kill
ksh ln ls mkdir mt mv pax ps pwd rcmd rcp rm rmdir sh sleep stty sync test
atactl badsect brconfig ccdconfig chown chgrp clri disklabel dkctl dmesg
dump dump_lfs fdisk fsck fsck_ext2fs fsck_ffs fsck_lfs fsck_msdos gpt
ifconfig init ldconfig mbrlabel mknod modload modstat modunload mount
mount_cd9660 mount_ext2fs mount_fdesc mount_ffs mount_kernfs mount_lfs
mount_msdos mount_nfs mount_null mount_overlay mount_procfs mount_tmpfs
mount_umap mount_union newfs newfs_lfs newfs_msdos ping ping6 pppoectl
raidctl rdate reboot halt restore rrestore route rndctl savecore scan_ffs
scsictl shutdown slattach swapctl swapon sysctl ttyflags tunefs umount
wdogctl wsconsctl bunzip2 bzcat bzip2 chflags chroot cpio dhcpcd dirname
ftp grep egrep fgrep zgrep gunzip gzcat gzip zcat less more mt vi ex view
progress rcorder setkey strings tar tetris umount ping vnconfig fsdb
cgdconfig dumpfs edlabel fsck_udf mount_udf newfs_udf resize_ffs
tcpdump tset id pwd_mkdb bzip2recover xz unxz xzcat lzcat lzma unlzma
env ktrace kdump nc sed awk tr uniq wc head tail sort ex""".split()


class Gen:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.mtime = args.mtime
        self.entries = []  # (TarInfo, bytes or None)

    # -- entry helpers --
    def _ti(self, name, typ, mode, uid=0, gid=0, uname="root", gname="wheel"):
        ti = tarfile.TarInfo(name)
        ti.type = typ
        ti.mode = mode
        ti.uid, ti.gid, ti.uname, ti.gname = uid, gid, uname, gname
        ti.mtime = self.mtime
        return ti

    def d(self, name, mode=0o755, **kw):
        self.entries.append((self._ti("./" + name if name else ".", tarfile.DIRTYPE, mode, **kw), None))

    def f(self, name, data, mode=0o644, **kw):
        # data: bytes, or an int = size of generated content (made when written)
        ti = self._ti("./" + name, tarfile.REGTYPE, mode, **kw)
        ti.size = data if isinstance(data, int) else len(data)
        self.entries.append((ti, data))

    def l(self, name, target, **kw):
        ti = self._ti("./" + name, tarfile.SYMTYPE, 0o755, **kw)
        ti.linkname = target
        self.entries.append((ti, None))

    def h(self, name, target, mode=0o555, **kw):
        ti = self._ti("./" + name, tarfile.LNKTYPE, mode, **kw)
        ti.linkname = "./" + target
        self.entries.append((ti, None))

    def dev(self, name, kind, major, minor, mode=0o600, **kw):
        ti = self._ti("./" + name, tarfile.CHRTYPE if kind == "c" else tarfile.BLKTYPE, mode, **kw)
        ti.devmajor, ti.devminor = major, minor
        self.entries.append((ti, None))

    def fifo(self, name, mode=0o600):
        self.entries.append((self._ti("./" + name, tarfile.FIFOTYPE, mode), None))

    def data(self, size):
        # binary-ish content: random head, compressible tail (xz ratio ~3-4x)
        k = size // 4
        head = self.rng.randbytes(k)
        word = self.rng.randbytes(64)
        return head + (word * (size // 64 + 1))[: size - k]

    # -- kinds --
    def tiny(self):
        self.d("")
        for x in ("bin", "dev", "etc", "tmp", "usr", "usr/bin"):
            self.d(x, 0o1777 if x == "tmp" else 0o755)
        self.f("bin/sh", self.data(3000), 0o555)
        self.h("bin/ash", "bin/sh")
        self.f("etc/rc", b"#!/bin/sh\necho hello\n", 0o755)
        self.f("etc/passwd", b"root:*:0:0::/root:/bin/sh\n", 0o644)
        self.l("usr/bin/sh", "/bin/sh")
        self.dev("dev/console", "c", 0, 0)
        self.dev("dev/wd0a", "b", 0, 0, 0o640, gid=5, gname="operator")
        self.fifo("tmp/fifo")

    def etc(self):
        self.d("")
        self.d("etc")
        self.d("etc/rc.d")
        self.d("etc/mtree")
        self.d("var")
        self.d("root", 0o700)
        files = {
            "etc/passwd": (b"root:*:0:0:Charlie &:/root:/bin/sh\n", 0o644),
            "etc/master.passwd": (b"root::0:0::0:0:Charlie &:/root:/bin/sh\n", 0o600),
            "etc/group": (b"wheel:*:0:root\noperator:*:5:root\n", 0o644),
            "etc/rc": (b"#!/bin/sh\n. /etc/rc.subr\n", 0o644),
            "etc/rc.conf": (b"rc_configured=YES\n", 0o644),
            "etc/fstab": (b"", 0o644),
            "etc/ttys": (b"console \"/usr/libexec/getty default\" vt100 on secure\n", 0o644),
            "root/.profile": (b"PATH=/sbin:/usr/sbin:/bin:/usr/bin\n", 0o644),
        }
        for n, (data, mode) in files.items():
            self.f(n, data, mode)
        n = max(0, self.args.files - len(self.entries))
        for i in range(n):
            self.f("etc/rc.d/svc%04d" % i, b"#!/bin/sh\n# svc %d\n" % i, 0o555)

    def rescue(self):
        self.d("")
        self.d("rescue")
        size = self.args.bytes or 4 * 1024 * 1024
        names = sorted(set(RESCUE_NAMES))
        self.f("rescue/" + names[0], self.data(size), 0o555)
        for n in names[1:]:
            self.h("rescue/" + n, "rescue/" + names[0])

    def base(self):
        nfiles = self.args.files or 20000
        total = self.args.bytes or 250 * 1024 * 1024
        rng = self.rng
        self.d("")
        dirs = ["bin", "sbin", "dev", "etc", "lib", "libexec", "root", "tmp", "var", "var/log",
                "var/run", "var/spool", "var/mail", "usr", "usr/bin", "usr/sbin", "usr/lib",
                "usr/libexec", "usr/include", "usr/include/sys", "usr/share",
                "usr/share/man", "usr/share/man/man1", "usr/share/man/man8",
                "usr/share/misc", "usr/share/zoneinfo", "usr/games"]
        zones = ["Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe",
                 "Indian", "Pacific", "Etc"]
        dirs += ["usr/share/zoneinfo/" + z for z in zones]
        for x in dirs:
            mode = 0o1777 if x == "tmp" else 0o700 if x == "root" else 0o755
            if x == "usr/games":
                self.d(x, gid=13, gname="games")
            else:
                self.d(x, mode)
        # special files
        devs = [("console", "c", 0, 0), ("null", "c", 2, 2), ("zero", "c", 2, 12),
                ("tty", "c", 1, 0), ("wd0a", "b", 0, 0), ("wd0d", "b", 0, 3),
                ("rwd0d", "c", 3, 3), ("ttyE0", "c", 47, 0), ("bigminor", "c", 12, 0x12345),
                ("bigmajor", "b", 300, 7)]
        for name, kind, ma, mi in devs:
            self.dev("dev/" + name, kind, ma, mi, 0o640 if kind == "b" else 0o600)
        self.fifo("var/spool/lpd.fifo")
        self.f("usr/bin/su", self.data(20000), 0o4555)
        self.f("usr/bin/passwd", self.data(30000), 0o4555)
        self.f("usr/games/fortune", self.data(10000), 0o2555, gid=13, gname="games")
        self.f("bin/test", self.data(12000), 0o555)
        self.h("bin/[", "bin/test")
        self.l("usr/share/zoneinfo/posixrules", "America/New_York")
        # the bulk: distribute files and bytes
        fixed = len(self.entries)
        bulk = max(0, nfiles - fixed)
        # place: 8% bin/sbin, 20% usr/bin etc, 10% usr/lib, 10% zoneinfo, rest man/include
        places = (["bin"] * 2 + ["sbin"] * 3 + ["usr/bin"] * 12 + ["usr/sbin"] * 5 +
                  ["usr/lib"] * 10 + ["usr/libexec"] * 2 + ["usr/share/man/man1"] * 20 +
                  ["usr/share/man/man8"] * 8 + ["usr/include"] * 15 + ["usr/include/sys"] * 5 +
                  ["usr/share/misc"] * 3 + ["zone"] * 15)
        weights = [rng.paretovariate(1.2) for _ in range(bulk)]
        scale = total / sum(weights) if weights else 0
        names = set()
        nsym = 0
        for i in range(bulk):
            p = places[rng.randrange(len(places))]
            if p == "zone":
                p = "usr/share/zoneinfo/" + zones[rng.randrange(len(zones))]
            size = max(0, int(weights[i] * scale))
            name = "%s/f%05d" % (p, i)
            if p.startswith("usr/lib"):
                name = "%s/lib%05d.so.%d" % (p, i, rng.randrange(1, 9))
                mode = 0o444
            elif "bin" in p:
                mode = 0o555
            else:
                mode = 0o444
            names.add(name)
            self.f(name, size, mode)
            if p == "usr/lib" and nsym < 700:
                self.l(name.rsplit(".so.", 1)[0] + ".so", os.path.basename(name))
                nsym += 1
        # NetBSD makes its sets from sorted file lists: so does this one
        # (the bulk has no hard links, so any order of it is valid)
        self.entries[fixed:] = sorted(self.entries[fixed:], key=lambda e: e[0].name)

    def evil(self, case):
        if case == "dotdot":
            self.f("../evil", b"evil\n")
        elif case == "absolute":
            ti = self._ti("/etc/evil", tarfile.REGTYPE, 0o644)
            ti.size = 5
            self.entries.append((ti, b"evil\n"))
        elif case == "symlink-escape":
            self.l("evil-link", "/etc")
            self.f("evil-link/passwd", b"evil\n")
        elif case == "hardlink-missing":
            self.h("bin/evil", "bin/missing")
        elif case == "hardlink-escape":
            ti = self._ti("./bin/evil", tarfile.LNKTYPE, 0o555)
            ti.linkname = "../outside"
            self.entries.append((ti, None))
        elif case == "overlong":
            self.f("etc/" + "x" * 300, b"long\n")
        elif case == "truncated":
            self.f("zz-truncated", self.data(200000))

    def write_tar(self, fileobj):
        fmt = tarfile.PAX_FORMAT if self.args.evil == "overlong" else tarfile.USTAR_FORMAT
        with tarfile.open(fileobj=fileobj, mode="w", format=fmt) as tf:
            for ti, data in self.entries:
                if isinstance(data, int):
                    data = self.data(data)
                tf.addfile(ti, io.BytesIO(data) if data is not None else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("output")
    ap.add_argument("--kind", choices=["base", "rescue", "etc", "tiny"], default="tiny")
    ap.add_argument("--files", type=int, default=0)
    ap.add_argument("--bytes", type=int, default=0)
    ap.add_argument("--compress", choices=["xz", "gz", "none"])
    ap.add_argument("--xz-preset", type=int, default=3)
    ap.add_argument("--seed", default="smolc")
    ap.add_argument("--mtime", type=int, default=1700000000)
    ap.add_argument("--sha512")
    ap.add_argument("--evil", choices=["dotdot", "absolute", "symlink-escape", "hardlink-missing",
                                       "hardlink-escape", "truncated", "overlong"])
    args = ap.parse_args()
    comp = args.compress
    if comp is None:
        o = args.output
        comp = "xz" if o.endswith((".xz", ".txz")) else "gz" if o.endswith((".gz", ".tgz")) else "none"
    g = Gen(args)
    getattr(g, args.kind)()
    if args.evil:
        g.evil(args.evil)
    with open(args.output, "wb") as f:
        if comp == "xz":
            with lzma.LZMAFile(f, "wb", format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                               preset=args.xz_preset) as z:
                g.write_tar(z)
        elif comp == "gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as z:
                g.write_tar(z)
        else:
            g.write_tar(f)
    if args.evil == "truncated":
        # cut inside the data of the last file (a 200 KB file at the end)
        size = os.path.getsize(args.output)
        cut = size // 2 if comp != "none" else size - 1024 - 100000
        os.truncate(args.output, cut)
    if args.sha512:
        with open(args.output, "rb") as f:
            d = hashlib.sha512()
            for chunk in iter(lambda: f.read(1 << 20), b""):
                d.update(chunk)
        h = d.hexdigest()
        with open(args.sha512, "a") as f:
            f.write("SHA512 (%s) = %s\n" % (os.path.basename(args.output), h))
    return 0


if __name__ == "__main__":
    sys.exit(main())
