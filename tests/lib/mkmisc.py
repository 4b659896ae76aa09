#!/usr/bin/env python3
"""mkmisc.py — write a small xz'd ustar set from an entry list on stdin.

  mkmisc.py OUTPUT < entries.py

stdin is Python code that sets E, a list of
ti(name, type, mode, uid=0, gid=0, data=None, link=None, dev=None) entries
(dev: (major, minor) of a device node); `tarfile`
is in scope for the entry types. Owners are "user" for non-zero ids, else
root/wheel; every entry has one fixed mtime, so the output is deterministic.
Used through tests/lib/fixture (misc_set in tests/lib/common.sh). Stdlib only.
"""
import io
import lzma
import sys
import tarfile


def ti(name, typ, mode, uid=0, gid=0, data=None, link=None, dev=None):
    t = tarfile.TarInfo(name)
    t.type = typ
    t.mode = mode
    t.uid = uid
    t.gid = gid
    t.uname = "user" if uid else "root"
    t.gname = "user" if gid else "wheel"
    t.mtime = 1700000000
    if link:
        t.linkname = link
    if dev:
        t.devmajor, t.devminor = dev
    if data is not None:
        t.size = len(data)
    return t, data


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mkmisc.py OUTPUT < entries.py")
    ns = {"ti": ti, "tarfile": tarfile}
    exec(sys.stdin.read(), ns)
    with lzma.open(sys.argv[1], "wb", format=lzma.FORMAT_XZ) as z:
        with tarfile.open(fileobj=z, mode="w", format=tarfile.USTAR_FORMAT) as tf:
            for t, d in ns["E"]:
                tf.addfile(t, io.BytesIO(d) if d is not None else None)


if __name__ == "__main__":
    main()
