#!/usr/bin/env python3
"""mkelfset.py OUT.tar [--tree DIR] HOSTPATH... — a set made of this
machine's files: each HOSTPATH is added at the same path, with every
symlink met on the way to it (merged /usr: /lib -> usr/lib, /lib64/ld-linux…
-> /lib/x86_64-linux-gnu/…) added as a symlink and the file it reaches as
a regular file; --tree DIR adds DIR's contents at the root as they are.
Used by the MINIMIZE tests (tests/e2e/56-minimize.sh)."""
import os
import sys
import tarfile

out = sys.argv[1]
args = sys.argv[2:]
seen = set()
tar = tarfile.open(out, "w")


def add(path, arcname=None):
    arc = "." + (arcname or path)
    if arc in seen:
        return
    seen.add(arc)
    ti = tar.gettarinfo(path, arc)
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    if ti.isreg():
        with open(path, "rb") as f:
            tar.addfile(ti, f)
    else:
        tar.addfile(ti)


def add_dirs(path):
    parts = path.strip("/").split("/")[:-1]
    cur = ""
    for p in parts:
        cur += "/" + p
        add(cur)


def add_resolved(path, hops=0):
    """Add path component by component, following (and adding) symlinks."""
    if hops > 40:
        raise SystemExit("symlink loop at " + path)
    parts = path.strip("/").split("/")
    cur = ""
    for i, p in enumerate(parts):
        nxt = cur + "/" + p
        if os.path.islink(nxt):
            add_dirs(nxt)
            add(nxt)
            tgt = os.readlink(nxt)
            base = tgt if tgt.startswith("/") else os.path.normpath(cur + "/" + tgt)
            rest = "/".join(parts[i + 1:])
            add_resolved(base + ("/" + rest if rest else ""), hops + 1)
            return
        cur = nxt
    add_dirs(cur)
    add(cur)


i = 0
while i < len(args):
    if args[i] == "--tree":
        root = args[i + 1]
        for d, dirs, files in os.walk(root):
            dirs.sort()
            for n in sorted(dirs + files):
                full = os.path.join(d, n)
                add(full, "/" + os.path.relpath(full, root))
        i += 2
        continue
    add_resolved(args[i])
    i += 1
tar.close()
