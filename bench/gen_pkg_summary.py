#!/usr/bin/env python3
"""gen_pkg_summary.py - write a realistic, deterministic pkg_summary(5)
for benchmarks: N packages (default 20000) forming a dependency DAG with a
core of widely used libraries (deep chains), ~10% of names in several
versions, pkgsrc-style DEPENDS patterns (>=, ranges, globs, {,nb*}
alternates), multi-line DESCRIPTIONs.

usage: gen_pkg_summary.py [-n 20000] [--seed 1] OUT   (OUT ending in .xz/.gz
       is compressed). Prints 20 suggested top-level request names on stdout.
"""
import argparse
import gzip
import lzma
import random

PREFIXES = ["", "", "", "lib", "py311-", "py312-", "p5-", "ruby32-", "php83-",
            "go-", "rust-", "tex-", "xf86-", "kf5-", "gst-plugins1-", "R-"]
WORDS = ("alpha bravo cairo delta echo flac gtk harfbuzz icu jpeg kde lua "
         "mesa nss ogg pango qt rsync sqlite tiff unbound vala wayland xml "
         "yaml zstd fonts gnome audio video net crypto http json image math "
         "term sound tools utils daemon proxy mail dns ssh ftp db cache").split()
CATS = ["devel", "net", "www", "graphics", "audio", "textproc", "databases",
        "security", "sysutils", "lang", "x11", "math", "misc"]


def version(rng):
    parts = [str(rng.randint(0, 30)), str(rng.randint(0, 20))]
    if rng.random() < 0.6:
        parts.append(str(rng.randint(0, 15)))
    v = ".".join(parts)
    if rng.random() < 0.3:
        v += "nb%d" % rng.randint(1, 12)
    return v


def base(v):
    return v.split("nb")[0]


def dep_pattern(rng, name, v):
    b = base(v)
    r = rng.random()
    if r < 0.45:
        return "%s>=%s" % (name, b)
    if r < 0.60:
        major = int(b.split(".")[0])
        return "%s>=%s<%d" % (name, b, major + 1)
    if r < 0.80:
        return "%s-[0-9]*" % name
    if r < 0.90:
        return "%s>=%s{nb*,}" % (name, b)
    return "%s>=%s" % (name, b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("out")
    o = ap.parse_args()
    rng = random.Random(o.seed)
    names, seen = [], set()
    while len(names) < o.n:
        nm = rng.choice(PREFIXES) + rng.choice(WORDS)
        if rng.random() < 0.7:
            nm += "-" + rng.choice(WORDS)
        if rng.random() < 0.3:
            nm += str(rng.randint(2, 99))
        if nm not in seen:
            seen.add(nm)
            names.append(nm)
    # versions: some names have 2-3 versions in the repository
    pkgs = []   # (name, version, layer index)
    for i, nm in enumerate(names):
        vs = {version(rng)}
        if rng.random() < 0.10:
            for _ in range(rng.randint(1, 2)):
                vs.add(version(rng))
        for v in sorted(vs):
            pkgs.append((nm, v, i))
            if len(pkgs) >= o.n:
                break
        if len(pkgs) >= o.n:
            break
    oldest = {}
    for nm, v, i in pkgs:
        oldest.setdefault(nm, v)
    core = max(50, len(names) // 40)
    out = []
    for nm, v, i in pkgs:
        deps = set()
        if i > 0:
            k = rng.choice([0, 1, 2, 2, 3, 3, 4, 5, 6, 8]) if i > 10 else rng.randint(0, 1)
            for _ in range(k):
                if rng.random() < 0.6:
                    j = rng.randrange(0, min(i, core))     # a core library
                else:
                    j = rng.randrange(max(0, i - 2000), i)   # a nearby package
                dn = names[j]
                deps.add(dep_pattern(rng, dn, oldest[dn]))
        lines = ["PKGNAME=%s-%s" % (nm, v)]
        lines += ["DEPENDS=" + d for d in sorted(deps)]
        if rng.random() < 0.02:
            lines.append("CONFLICTS=%s-devel-[0-9]*" % nm)
        cat = rng.choice(CATS)
        lines += [
            "COMMENT=The %s package for %s work" % (nm, rng.choice(WORDS)),
            "SIZE_PKG=%d" % rng.randint(10000, 90000000),
            "BUILD_DATE=2024-0%d-1%d 12:00:00 +0000" % (rng.randint(1, 9), rng.randint(0, 9)),
            "CATEGORIES=" + cat,
            "HOMEPAGE=https://example.invalid/%s/" % nm,
            "LICENSE=" + rng.choice(["mit", "gnu-gpl-v2", "modified-bsd", "apache-2.0"]),
            "MACHINE_ARCH=x86_64",
            "OPSYS=NetBSD",
            "OS_VERSION=10.0",
            "PKGPATH=%s/%s" % (cat, nm),
            "PKGTOOLS_VERSION=20091115",
            "FILE_SIZE=%d" % rng.randint(5000, 30000000),
        ]
        for _ in range(rng.randint(2, 8)):
            lines.append("DESCRIPTION=" + " ".join(rng.choice(WORDS) for _ in range(10)))
        out.append("\n".join(lines) + "\n")
    data = "\n".join(out).encode()
    if o.out.endswith(".xz"):
        data = lzma.compress(data)
    elif o.out.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with open(o.out, "wb") as f:
        f.write(data)
    # suggest 20 late (deep) packages as a request
    for nm, v, i in pkgs[-20:]:
        print(nm)


if __name__ == "__main__":
    main()
