#!/bin/bash
# 54-pkgs-install-scripts — PKGS runs the packages' +INSTALL scripts
# (PRE-INSTALL, POST-INSTALL) in the builder VM (the offline Linux test
# guest, QEMU TCG), dependencies first, with pkg_add's environment, and the
# same layer holds the files and the scripts' effects:
#  - websvc-1.0 (tests/lib/mkpkgrepo.py --install-scripts) adds the user and
#    group websvc (880) with the guest's useradd/groupadd and copies its
#    config file from share/examples: both in the image; its dependency's
#    script ran first;
#  - PKGS --no-scripts leaves them out (and boots nothing);
#  - a package without +INSTALL boots nothing;
#  - a +INSTALL that fails (badinst-1.0, exit 3): exit 1, the message names
#    the package and shows its output, nothing cached.
set -eu
. "$ROOT/tests/lib/common.sh"
# shellcheck source=../guest/lib.sh
. "$ROOT/tests/guest/lib.sh"

for t in qemu-system-x86_64 debugfs e2fsck python3; do
	command -v "$t" >/dev/null || skip "$t not installed (tests/deps.sh)"
done

G=$TEST_TMP/guest
guest_prepare "$G" || fail "could not prepare the test guest"
export SMOLC_CACHE=$TEST_TMP/cache
unset QEMU_ACCEL
QLOG=$TEST_TMP/qemu-starts.log
: >"$QLOG"
mkdir -p "$TEST_TMP/bin"
cat >"$TEST_TMP/bin/qemu" <<EOF
#!/bin/sh
echo "\$*" >>"$QLOG"
exec qemu-system-x86_64 "\$@"
EOF
chmod +x "$TEST_TMP/bin/qemu"
export SMOLC_QEMU=$TEST_TMP/bin/qemu
starts() { wc -l <"$QLOG" | tr -d ' '; }
layers() { find "$SMOLC_CACHE/layers" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l | tr -d ' '; }
kill_qemus() { local p; for p in $(qemu_pids_matching "$TEST_TMP"); do kill -9 "$p" 2>/dev/null; done; return 0; }
t_on_exit kill_qemus

REPO=$TEST_TMP/repo
python3 "$ROOT/tests/lib/mkpkgrepo.py" --install-scripts "$REPO" >/dev/null
http_start "$REPO"

recipe() { # service, PKGS arguments
	cat <<EOF
FROM scratch
SERVICE $1
PROFILE linux
SETS $G/busybox.tar.xz
KERNEL $G/vmlinux
INITRD $G/initrd
PKGSITE $HTTP_URL/All/
PKGS $2
EOF
}

mkdir -p svc && cd svc
recipe web websvc >Smolfile
run "$SMOLC" build
expect_rc 0 "PKGS with +INSTALL scripts"
t_log "$OUT"
assert_eq 1 "$(starts)" "QEMU starts for the scripts"
assert_contains "$OUT" "running the +INSTALL scripts of 2 packages in the builder VM" "progress"
assert_contains "$OUT" "| websvc-lib-1.0: +INSTALL PRE-INSTALL
      | websvc-lib-1.0: +INSTALL POST-INSTALL
      | websvc-1.0: +INSTALL PRE-INSTALL
      | websvc-1.0: +INSTALL POST-INSTALL
      | websvc-1.0 installed (/usr/pkg/pkgdb/websvc-1.0)" "dependency order, environment"
img=images/web-amd64.img
assert_fsck_clean "$img"
assert_contains "$(dbg_cat "$img" /etc/passwd)" "websvc:*:880:880::/var/websvc:/bin/sh" "the package's user"
assert_contains "$(dbg_cat "$img" /etc/group)" "websvc:*:880:" "the package's group"
assert_eq "listen 80
user websvc" "$(dbg_cat "$img" /usr/pkg/etc/websvc.conf)" "config file from share/examples"
assert_eq "websvc-lib-1.0" "$(dbg_cat "$img" /usr/pkg/etc/websvc-lib.stamp)" "dependency's script"
assert_in_image "$img" /usr/pkg/bin/websvc
assert_in_image "$img" /usr/pkg/pkgdb/websvc-1.0/+INSTALL
assert_not_in_image "$img" /.smolc-run
# cached: nothing boots
rm -f images/web-amd64.stamp
run "$SMOLC" build
expect_rc 0 "rebuild"
assert_eq 1 "$(starts)" "QEMU starts after a cached rebuild"

# --no-scripts: today's behaviour
recipe web "--no-scripts websvc" >Smolfile
run "$SMOLC" build
expect_rc 0 "PKGS --no-scripts"
assert_eq 1 "$(starts)" "QEMU starts with --no-scripts"
assert_not_contains "$(dbg_cat "$img" /etc/passwd)" "websvc" "no user with --no-scripts"
assert_not_in_image "$img" /usr/pkg/etc/websvc.conf
assert_in_image "$img" /usr/pkg/share/examples/websvc/websvc.conf

# no +INSTALL: nothing boots
recipe web zlib >Smolfile
run "$SMOLC" build
expect_rc 0 "PKGS without scripts"
assert_eq 1 "$(starts)" "QEMU starts for a package without +INSTALL"
assert_in_image "$img" /usr/pkg/bin/zlib

# a failing +INSTALL names the package
recipe bad badinst >Smolfile
before=$(layers)
run "$SMOLC" build
expect_rc 1 "a failing +INSTALL"
assert_contains "$OUT" "Smolfile:8:1: error: PKGS badinst: the +INSTALL script of badinst-1.0 failed; last lines of its output:" "message"
assert_contains "$OUT" "| badinst: PRE-INSTALL cannot go on" "the script's output"
assert_contains "$OUT" "| badinst-1.0: +INSTALL PRE-INSTALL failed with exit status 3" "the runner's line"
assert_eq 2 "$(starts)" "QEMU starts after the failing script"
assert_eq "$before" "$(layers)" "layers after the failure"
assert_no_file images/bad-amd64.img
cd ..
echo ok
