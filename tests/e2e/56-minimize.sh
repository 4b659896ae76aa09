#!/bin/bash
# 56-minimize: MINIMIZE and KEEP on a set made of this machine's real
# dynamically linked programs (Debian's curl, ls, cat, true, dash and the
# libraries ldd names, packed with the host's merged-/usr layout: /lib ->
# usr/lib, /lib64/ld-linux… -> /lib/x86_64-linux-gnu/…), PROFILE linux:
#  - KEEP /usr/bin/curl keeps curl, every library ldd lists for it, the
#    interpreter and the symlinks on the way; nothing else of /usr/bin but
#    the shell /etc/rc runs; ls's own libraries are dropped;
#  - a library found only through DT_RUNPATH $ORIGIN/../mylib, reached
#    through a symlink chain (libfoo.so.1 -> .so.1.0 -> .so.1.0.0);
#  - a KEEP glob; a truncated ELF file (warning naming it, build goes on);
#  - --explain-minimize says why; e2fsck -fn; the image is smaller;
#  - a rebuild is a no-op; an RC-only change rebuilds RC and MINIMIZE only;
#  - programs RC (or CMD) names that the image lacks: an error at the RC line
#    (at CMD);
#  - a KEEP path that is not in the image: an error at the word;
#  - LABEL smolbsd.minimize=y plans the MINIMIZE step;
#  - a synthetic NetBSD-layout set (/libexec/ld.elf_so, /usr/lib/libc.so.12)
#    with a package kept by KEEP pkg:nginx.
set -eu
. "$ROOT/tests/lib/common.sh"
for t in cc ldd debugfs e2fsck python3; do
	command -v "$t" >/dev/null || skip "$t not installed (tests/deps.sh)"
done
[ -x /usr/bin/curl ] && [ -e /lib64/ld-linux-x86-64.so.2 ] || skip "needs an x86_64 Debian host with curl"
export SMOLC_CACHE="$TEST_TMP/cache"

# ---- the $ORIGIN app, a truncated ELF, data files ----
X=$TEST_TMP/extra
mkdir -p "$X/opt/app/bin" "$X/opt/app/mylib" "$X/opt/data" "$X/usr/bin" src
printf 'int foo(void) { return 42; }\n' >src/foo.c
printf 'int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n' >src/main.c
cc -shared -fPIC -Wl,-soname,libfoo.so.1 -o "$X/opt/app/mylib/libfoo.so.1.0.0" src/foo.c
ln -s libfoo.so.1.0.0 "$X/opt/app/mylib/libfoo.so.1.0"
ln -s libfoo.so.1.0 "$X/opt/app/mylib/libfoo.so.1"
ln -s "$X/opt/app/mylib/libfoo.so.1.0.0" src/libfoo.so
cc -o "$X/opt/app/bin/app" src/main.c -Lsrc -lfoo -Wl,--enable-new-dtags -Wl,-rpath,'$ORIGIN/../mylib'
readelf -d "$X/opt/app/bin/app" | grep -q 'RUNPATH.*\$ORIGIN/../mylib' || fail "the test app has no \$ORIGIN RUNPATH"
head -c 3000 /usr/bin/ls >"$X/usr/bin/broken"
chmod 755 "$X/usr/bin/broken"
echo a >"$X/opt/data/a.conf"
echo b >"$X/opt/data/b.conf"
echo c >"$X/opt/data/c.txt"

libs_of() { ldd "$@" | awk '$2 == "=>" { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u; }
CURL_LIBS=$(libs_of /usr/bin/curl)
LS_LIBS=$(libs_of /bin/ls)
# shellcheck disable=SC2086
python3 "$ROOT/tests/lib/mkelfset.py" set.tar /usr/bin/curl /usr/bin/ls /usr/bin/cat /usr/bin/true /bin/sh \
	$CURL_LIBS $LS_LIBS --tree "$X"

recipe() { # recipe MINIMIZE-LINE RC-BODY
	cat >Smolfile <<EOS
FROM scratch
SERVICE mini
PROFILE linux
SETS ./set.tar
KERNEL ./set.tar
$1
KEEP /usr/bin/curl /opt/app/bin/app
KEEP /opt/data/*.conf /usr/bin/broken
RC <<'E'
#!/bin/sh
$2
E
EOS
}

t_log "without MINIMIZE: the reference size"
recipe "MINIMIZE off" "curl --version"
run "$SMOLC" build -o full
expect_rc 0 "build without MINIMIZE"
assert_not_contains "$OUT" "MINIMIZE" "MINIMIZE off plans no step"
full_bytes=$(dbg full/mini-amd64.img "stat /usr/bin/ls" | grep -c 'Size' || true)
[ "$full_bytes" -ge 1 ] || fail "the full image lacks /usr/bin/ls"

t_log "MINIMIZE + KEEP /usr/bin/curl"
recipe "MINIMIZE" "curl --version"
run "$SMOLC" plan
expect_rc 0 "plan"
assert_match "$OUT" "MINIMIZE KEEP /usr/bin/curl … +Smolfile:6" "plan shows the step"
run "$SMOLC" build
expect_rc 0 "build with MINIMIZE"
assert_contains "$OUT" "Smolfile:6:1: warning: MINIMIZE: /usr/bin/broken: malformed ELF file (truncated:" \
	"a truncated ELF is a warning naming it"
assert_match "$OUT" "MINIMIZE kept [0-9]+ files \([0-9.]+ MiB\), dropped [0-9]+ files" "progress says what was dropped"
IMG=images/mini-amd64.img
assert_fsck_clean "$IMG"
assert_in_image "$IMG" /usr/bin/curl
for f in /usr/bin/ls /usr/bin/cat /usr/bin/true /opt/data/c.txt; do
	assert_not_in_image "$IMG" "$f"
done
assert_in_image "$IMG" /usr/bin/dash  # /bin/sh runs /etc/rc
assert_in_image "$IMG" /usr/bin/sh
assert_in_image "$IMG" /bin           # the symlinks on the way
assert_in_image "$IMG" /lib
assert_in_image "$IMG" /lib64
assert_in_image "$IMG" /usr/lib64/ld-linux-x86-64.so.2
assert_in_image "$IMG" "$(readlink -f /lib64/ld-linux-x86-64.so.2)"
for l in $CURL_LIBS; do
	real=$(readlink -f "$l")
	assert_in_image "$IMG" "$real"
	# the name ldd used, under /usr (the image has /lib -> usr/lib)
	assert_in_image "$IMG" "/usr${l#/usr}"
done
for l in $LS_LIBS; do
	case " $(echo $CURL_LIBS) " in *" $l "*) continue ;; esac
	assert_not_in_image "$IMG" "$(readlink -f "$l")"
done
for f in /opt/app/bin/app /opt/app/mylib/libfoo.so.1 /opt/app/mylib/libfoo.so.1.0 /opt/app/mylib/libfoo.so.1.0.0 \
	/opt/data/a.conf /opt/data/b.conf /usr/bin/broken /etc/rc /etc/fstab; do
	assert_in_image "$IMG" "$f"
done
full_size=$(stat -c %s full/mini-amd64.img)
mini_size=$(stat -c %s "$IMG")
[ "$mini_size" -lt "$full_size" ] || fail "SIZE auto: the minimised image ($mini_size) is not smaller than $full_size"

t_log "--explain-minimize"
run "$SMOLC" build --explain-minimize
expect_rc 0 "explain"
assert_match "$OUT" "keep /usr/bin/curl +[0-9]+  KEEP /usr/bin/curl" "explain: KEEP"
assert_match "$OUT" "drop /usr/bin/ls +[0-9]+" "explain: dropped"
assert_match "$OUT" "keep /opt/app/mylib/libfoo.so.1.0.0 +[0-9]+  needed by /opt/app/bin/app \(libfoo.so.1\)" "explain: \$ORIGIN"
assert_match "$OUT" "keep /opt/app/mylib/libfoo.so.1.0 +0  symlink on the way to /opt/app/bin/../mylib/libfoo.so.1" "explain: the chain"
assert_match "$OUT" "keep /usr/bin/dash .*interpreter of /etc/rc" "explain: the shell"
assert_match "$OUT" "kept [0-9]+ files \(.*\), dropped [0-9]+ files" "explain: totals"

t_log "a rebuild is a no-op; an RC-only change rebuilds RC and MINIMIZE only"
run "$SMOLC" build
expect_rc 0 "rebuild"
assert_contains "$OUT" "image up to date" "no-op rebuild"
recipe "MINIMIZE" "curl --version >/dev/null"
run "$SMOLC" build
expect_rc 0 "RC change"
assert_eq "RC /etc/rc
MINIMIZE KEEP /usr/bin/curl …" "$(built_steps "$OUT")" "steps rebuilt after an RC change"

t_log "programs RC names that the image lacks: errors at their lines"
recipe "MINIMIZE" 'curl --version
/usr/bin/nope --flag
wget http://x/'
run "$SMOLC" build
expect_rc 1 "RC names missing programs"
assert_contains "$OUT" "Smolfile:12:1: error: RC line 3 runs /usr/bin/nope, which is not in the image" "absolute path"
assert_contains "$OUT" "Smolfile:13:1: error: RC line 4 runs wget, which is not in the image (not found on PATH /bin:/sbin:/usr/bin:/usr/sbin)" "bare name"
assert_not_contains "$OUT" "warning: MINIMIZE: /etc/rc line" "said once, at the RC line"
assert_contains "$OUT" "hint: add the set or package that provides it" "hint"

t_log "a program CMD names that the image lacks: an error at CMD"
recipe "MINIMIZE" "curl --version"
echo 'CMD ["/usr/sbin/gone", "-d"]' >>Smolfile
run "$SMOLC" build
expect_rc 1 "CMD names a missing program"
assert_contains "$OUT" "Smolfile:13:5: error: CMD runs /usr/sbin/gone, which is not in the image" "CMD"

t_log "ENTRYPOINT is the program, CMD its arguments; USER runs it through su"
recipe "MINIMIZE" "curl --version"
printf 'ENTRYPOINT ["/usr/bin/curl"]\nCMD ["--version"]\n' >>Smolfile
run "$SMOLC" build
expect_rc 0 "ENTRYPOINT + CMD arguments"
echo 'USER www' >>Smolfile
run "$SMOLC" build
expect_rc 1 "USER without su"
assert_contains "$OUT" "Smolfile:13:12: error: ENTRYPOINT runs su, which is not in the image (not found on PATH" "su"

t_log "a KEEP path the image lacks: an error at the word"
recipe "MINIMIZE" "curl --version"
sed -i 's|KEEP /opt/data/\*.conf /usr/bin/broken|KEEP /opt/data/*.conf /usr/bin/broken /usr/bin/curll|' Smolfile
run "$SMOLC" build
expect_rc 1 "KEEP of a missing path"
assert_contains "$OUT" "Smolfile:8:39: error: KEEP /usr/bin/curll: it is not in the image" "KEEP missing"

t_log "LABEL smolbsd.minimize=y is MINIMIZE"
recipe 'LABEL smolbsd.minimize=y' "curl --version"
run "$SMOLC" plan
expect_rc 0 "plan with the label"
assert_match "$OUT" "MINIMIZE KEEP /usr/bin/curl .* Smolfile:6" "the label plans the step"

t_log "a NetBSD layout: /libexec/ld.elf_so, /usr/lib/libc.so.12, /usr/pkg/lib"
N=$TEST_TMP/nb
mkdir -p "$N/libexec" "$N/usr/lib" "$N/usr/pkg/lib" "$N/usr/pkg/bin" "$N/bin" "$N/sbin" nbsrc
printf 'int c12(void) { return 1; }\n' >nbsrc/c.c
printf 'int p(void) { return 2; }\n' >nbsrc/p.c
printf 'int c12(void); int p(void);\nint main(void) { return c12() + p(); }\n' >nbsrc/m.c
cc -shared -fPIC -nostdlib -Wl,-soname,libc.so.12 -o "$N/usr/lib/libc.so.12.215" nbsrc/c.c
ln -s libc.so.12.215 "$N/usr/lib/libc.so.12"
cc -shared -fPIC -nostdlib -Wl,-soname,libpcre.so.1 -o "$N/usr/pkg/lib/libpcre.so.1" nbsrc/p.c
cc -shared -fPIC -nostdlib -o "$N/libexec/ld.elf_so" nbsrc/p.c
cp "$N/usr/lib/libc.so.12.215" nbsrc/libc12.so
cp "$N/usr/pkg/lib/libpcre.so.1" nbsrc/libpcre.so
for p in usr/pkg/bin/tool bin/sh bin/ls sbin/init; do
	cc -nostdlib -Wl,-e,main -Wl,--dynamic-linker=/libexec/ld.elf_so -o "$N/$p" nbsrc/m.c -Lnbsrc -lc12 -lpcre
done
# a package: its pkgdb entry and the files its +CONTENTS names
mkdir -p "$N/usr/pkg/pkgdb/nginx-1.25.3" "$N/usr/pkg/sbin" "$N/usr/pkg/share/nginx" "$N/usr/pkg/share/other"
printf '@name nginx-1.25.3\n@cwd /usr/pkg\nsbin/nginx\nshare/nginx/index.html\n' >"$N/usr/pkg/pkgdb/nginx-1.25.3/+CONTENTS"
echo nginx >"$N/usr/pkg/pkgdb/nginx-1.25.3/+COMMENT"
cp "$N/usr/pkg/bin/tool" "$N/usr/pkg/sbin/nginx"
echo hi >"$N/usr/pkg/share/nginx/index.html"
echo no >"$N/usr/pkg/share/other/x"
readelf -l "$N/bin/ls" | grep -q '/libexec/ld.elf_so' || fail "the NetBSD-like program has another interpreter"
mkdir nbsvc && cd nbsvc
python3 "$ROOT/tests/lib/mkelfset.py" set.tar --tree "$N"
cat >Smolfile <<'EOS'
FROM scratch
SERVICE nb
SETS ./set.tar
KERNEL ./set.tar
MINIMIZE
KEEP pkg:nginx
RC <<'E'
#!/bin/sh
tool
E
EOS
run "$SMOLC" build
expect_rc 0 "NetBSD-layout build"
IMG=images/nb-amd64.img
assert_fsck_clean "$IMG"
for f in /usr/pkg/bin/tool /bin/sh /sbin/init /libexec/ld.elf_so /usr/lib/libc.so.12 /usr/lib/libc.so.12.215 \
	/usr/pkg/lib/libpcre.so.1 /usr/pkg/pkgdb/nginx-1.25.3/+CONTENTS /usr/pkg/pkgdb/nginx-1.25.3/+COMMENT \
	/usr/pkg/sbin/nginx /usr/pkg/share/nginx/index.html; do
	assert_in_image "$IMG" "$f"
done
assert_not_in_image "$IMG" /bin/ls
assert_not_in_image "$IMG" /usr/pkg/share/other
echo ok
