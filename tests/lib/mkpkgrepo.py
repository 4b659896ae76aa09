#!/usr/bin/env python3
"""mkpkgrepo.py - generate a synthetic pkgsrc binary package repository.

Layout (like a real NetBSD binary repository directory):
  OUT/All/<pkgname>.tgz      gzip'd tar: +CONTENTS, +COMMENT, +DESC,
                             +BUILD_INFO, +SIZE_PKG, then the files
                             (relative to @cwd /usr/pkg)
  OUT/All/pkg_summary.xz     pkg_summary(5), also .gz and plain
  OUT/All/SHA512             "SHA512 (name.tgz) = hex" lines, also .bz2

Always present: pcre2-10.40, pcre2-10.42nb1, zlib-1.3.1, openssl-3.1.4,
nginx-1.25.3nb2 (DEPENDS pcre2>=10.42, openssl>=3.0.0).
Scenario flags add packages:
  --diamond          app-1.0 -> liba, libb -> libc (libc-1.0/1.5/2.0)
  --forced-older     tool-3.0 DEPENDS libc<2 (request "libc tool": libc-1.5)
  --conflict         x-1.0 CONFLICTS y-[0-9]*, and y-2.0
  --missing          needy-1.0 DEPENDS pcre2>=10.50 (newest is pcre2-10.42nb1)
  --digest-mismatch  corrupt-1.0.tgz whose bytes do not match SHA512
  --escape           evil-1.0 with an entry "../../etc/passwd"
  --all              every scenario above
Not in --all (the counts above stay stable for the unit tests):
  --escape-abs       evilabs-1.0 with an entry "/etc/shadow" (absolute)
  --sneaky           sneaky-1.0: a clean +CONTENTS, but an archive entry
                     "../../etc/passwd" that it does not list
  --newer            newer releases: nginx-1.26.0 (DEPENDS pcre2>=10.42,
                     openssl>=3.0.0) and pcre2-10.44
  --rebuilt          zlib-1.3.1 rebuilt: same name, other bytes (its
                     SHA512 line changes accordingly)
  --install-scripts  packages with a +INSTALL script: websvc-1.0 (PRE-INSTALL
                     adds group and user websvc, 880:880, with the guest's
                     groupadd/useradd; POST-INSTALL copies
                     share/examples/websvc/websvc.conf to etc/), needing
                     websvc-lib-1.0 (its +INSTALL writes etc/websvc-lib.stamp:
                     dependencies run first); badinst-1.0 (+INSTALL exits 3)
Output is deterministic (mtime 0, sorted). Python 3 standard library only.
"""
import argparse
import bz2
import gzip
import hashlib
import io
import lzma
import os
import sys
import tarfile

LOCALBASE = "/usr/pkg"


class Pkg:
    def __init__(self, pkgname, depends=(), conflicts=(), files=None,
                 comment=None, escape=False, extra=None, install=None):
        self.pkgname = pkgname
        self.name, self.version = pkgname.rsplit("-", 1)
        self.depends = list(depends)
        self.conflicts = list(conflicts)
        self.files = files if files is not None else {
            "bin/" + self.name: "#!/bin/sh\necho %s\n" % pkgname,
            "share/doc/%s/README" % self.name: "%s test package\n" % pkgname,
        }
        self.comment = comment or "Synthetic test package %s" % self.name
        self.escape = escape
        # archive entries that +CONTENTS does not list
        self.extra = extra or {}
        self.install = install  # +INSTALL script text, or None

    def contents(self):
        lines = ["@comment $NetBSD$", "@name " + self.pkgname,
                 "@comment ORIGIN:test/" + self.name, "@cwd " + LOCALBASE]
        lines += ["@pkgdep " + d for d in self.depends]
        lines += ["@pkgcfl " + c for c in self.conflicts]
        lines += ["@ignore", "+BUILD_INFO", "@ignore", "+SIZE_PKG"]
        for path in sorted(self.files):
            lines.append(path)
            lines.append("@comment MD5:" + hashlib.md5(
                self.files[path].encode()).hexdigest())
        for d in sorted({os.path.dirname(p) for p in self.files
                         if p.startswith("share/doc/")}):
            lines.append("@dirrm " + d)
        return "\n".join(lines) + "\n"

    def size_pkg(self):
        return sum(len(v.encode()) for v in self.files.values())

    def meta(self):
        return [
            ("+CONTENTS", self.contents()),
            ("+COMMENT", self.comment + "\n"),
            ("+DESC", "This is %s.\nIt exists only for smolc tests.\n" % self.pkgname),
            ("+BUILD_INFO", "LOCALBASE=%s\nOPSYS=NetBSD\nOS_VERSION=10.0\n"
             "MACHINE_ARCH=x86_64\nPKGTOOLS_VERSION=20091115\n" % LOCALBASE),
            ("+SIZE_PKG", "%d\n" % self.size_pkg()),
        ] + ([("+INSTALL", self.install)] if self.install else [])

    def tgz(self):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            entries = self.meta() + sorted(self.files.items()) + sorted(self.extra.items())
            for name, text in entries:
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = 0
                info.mode = 0o755 if name.startswith("bin/") else 0o644
                info.uname, info.gname = "root", "wheel"
                tar.addfile(info, io.BytesIO(data))
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
            gz.write(raw.getvalue())
        return out.getvalue()

    def summary(self, file_size):
        lines = ["PKGNAME=" + self.pkgname]
        lines += ["DEPENDS=" + d for d in self.depends]
        lines += ["CONFLICTS=" + c for c in self.conflicts]
        lines += [
            "COMMENT=" + self.comment,
            "SIZE_PKG=%d" % self.size_pkg(),
            "BUILD_DATE=2024-01-01 00:00:00 +0000",
            "CATEGORIES=test",
            "HOMEPAGE=https://example.invalid/" + self.name,
            "LICENSE=2-clause-bsd",
            "MACHINE_ARCH=x86_64",
            "OPSYS=NetBSD",
            "OS_VERSION=10.0",
            "PKGPATH=test/" + self.name,
            "PKGTOOLS_VERSION=20091115",
            "FILE_NAME=%s.tgz" % self.pkgname,
            "FILE_SIZE=%d" % file_size,
            "DESCRIPTION=This is %s." % self.pkgname,
            "DESCRIPTION=It exists only for smolc tests.",
        ]
        return "\n".join(lines) + "\n"


# +INSTALL scripts in the style of pkgsrc's (users, groups, CONF_FILES),
# run as `+INSTALL <pkgname> PRE-INSTALL|POST-INSTALL` in the metadata dir
WEBSVC_INSTALL = r"""#!/bin/sh
case $2 in
PRE-INSTALL)
	test -f "$PKG_PREFIX/etc/websvc-lib.stamp" || { echo "websvc: websvc-lib was not installed first"; exit 1; }
	grep -q '^websvc:' /etc/group || groupadd -g 880 websvc
	grep -q '^websvc:' /etc/passwd || useradd -u 880 -g websvc -d /var/websvc websvc
	;;
POST-INSTALL)
	mkdir -p "$PKG_PREFIX/etc"
	test -f "$PKG_PREFIX/etc/websvc.conf" ||
		cp "$PKG_PREFIX/share/examples/websvc/websvc.conf" "$PKG_PREFIX/etc/websvc.conf"
	echo "$1 installed ($PKG_METADATA_DIR)"
	;;
esac
"""
WEBSVC_LIB_INSTALL = r"""#!/bin/sh
if [ "$2" = POST-INSTALL ]; then mkdir -p "$PKG_PREFIX/etc" && echo "$1" >"$PKG_PREFIX/etc/websvc-lib.stamp"; fi
"""


def packages(opts):
    pk = [
        Pkg("pcre2-10.40"),
        Pkg("pcre2-10.42nb1"),
        Pkg("zlib-1.3.1"),
        Pkg("openssl-3.1.4", depends=["zlib>=1.2"]),
        Pkg("nginx-1.25.3nb2", depends=["pcre2>=10.42", "openssl>=3.0.0"]),
    ]
    if opts.diamond or opts.forced_older:
        pk += [Pkg("libc-1.0"), Pkg("libc-1.5"), Pkg("libc-2.0")]
    if opts.diamond:
        pk += [Pkg("liba-1.0", depends=["libc>=1.0"]),
               Pkg("libb-1.0", depends=["libc>=1.2"]),
               Pkg("app-1.0", depends=["liba-[0-9]*", "libb>=1.0"])]
    if opts.forced_older:
        pk += [Pkg("tool-3.0", depends=["libc<2"])]
    if opts.conflict:
        pk += [Pkg("x-1.0", conflicts=["y-[0-9]*"]), Pkg("y-2.0")]
    if opts.missing:
        pk += [Pkg("needy-1.0", depends=["pcre2>=10.50"])]
    if opts.digest_mismatch:
        pk += [Pkg("corrupt-1.0")]
    if opts.escape:
        pk += [Pkg("evil-1.0", files={"bin/evil": "#!/bin/sh\n",
                                      "../../etc/passwd": "root::0:0::/:/bin/sh\n"},
                   escape=True)]
    if opts.escape_abs:
        pk += [Pkg("evilabs-1.0", files={"bin/evilabs": "#!/bin/sh\n",
                                         "/etc/shadow": "root::0:0::/:/bin/sh\n"},
                   escape=True)]
    if opts.sneaky:
        pk += [Pkg("sneaky-1.0", extra={"../../etc/passwd": "root::0:0::/:/bin/sh\n"})]
    if opts.newer:
        pk += [Pkg("nginx-1.26.0", depends=["pcre2>=10.42", "openssl>=3.0.0"]),
               Pkg("pcre2-10.44")]
    if opts.install_scripts:
        pk += [
            Pkg("websvc-lib-1.0", install=WEBSVC_LIB_INSTALL),
            Pkg("websvc-1.0", depends=["websvc-lib>=1.0"], install=WEBSVC_INSTALL, files={
                "bin/websvc": "#!/bin/sh\necho websvc\n",
                "share/examples/websvc/websvc.conf": "listen 80\nuser websvc\n",
            }),
            Pkg("badinst-1.0", install="#!/bin/sh\necho \"badinst: $2 cannot go on\"\nexit 3\n"),
        ]
    if opts.rebuilt:
        for p in pk:
            if p.pkgname == "zlib-1.3.1":
                p.comment = "Synthetic test package zlib (rebuilt)"
    return sorted(pk, key=lambda p: p.pkgname)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="repository directory to create")
    for f in ("diamond", "forced-older", "conflict", "missing",
              "digest-mismatch", "escape", "all", "escape-abs", "sneaky",
              "newer", "rebuilt", "install-scripts", "malformed"):
        ap.add_argument("--" + f, action="store_true")
    opts = ap.parse_args()
    if opts.all:
        for f in ("diamond", "forced_older", "conflict", "missing",
                  "digest_mismatch", "escape"):
            setattr(opts, f, True)
    alldir = os.path.join(opts.out, "All")
    os.makedirs(alldir, exist_ok=True)
    summary, sha = [], []
    for p in packages(opts):
        data = p.tgz()
        digest = hashlib.sha512(data).hexdigest()
        if p.pkgname == "corrupt-1.0":
            # the listed digest is that of the intact package; the file on
            # disk has one byte flipped in the middle
            mid = len(data) // 2
            data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:]
        fname = p.pkgname + ".tgz"
        with open(os.path.join(alldir, fname), "wb") as f:
            f.write(data)
        summary.append(p.summary(len(data)))
        sha.append("SHA512 (%s) = %s\n" % (fname, digest))
    if opts.malformed:
        # a record pkg_summary(5) readers must not accept: FILE_SIZE is not
        # a number (the others stay usable)
        summary.append("PKGNAME=broken-1.0\nCOMMENT=Malformed record\nFILE_SIZE=12x\n"
                       "PKGPATH=misc/broken\n")
    text = "\n".join(summary).encode()
    with open(os.path.join(alldir, "pkg_summary"), "wb") as f:
        f.write(text)
    with open(os.path.join(alldir, "pkg_summary.xz"), "wb") as f:
        f.write(lzma.compress(text, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64))
    with open(os.path.join(alldir, "pkg_summary.gz"), "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
            gz.write(text)
    shatext = "".join(sha).encode()
    with open(os.path.join(alldir, "SHA512"), "wb") as f:
        f.write(shatext)
    with open(os.path.join(alldir, "SHA512.bz2"), "wb") as f:
        f.write(bz2.compress(shatext))
    print("%s: %d packages" % (alldir, len(sha)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
