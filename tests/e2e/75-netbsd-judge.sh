#!/bin/bash
# 75-netbsd-judge: what a NetBSD guest reads. A NetBSD-profile image built
# from the synthetic sets (rescue with its hard links, base with a setuid
# program, and a set of the test's own: devices with a 12-bit major and a
# minor past 255, a fifo, a fast and a slow symlink, a file of uid 1000, a
# directory of 3,000 entries) is read with NetBSD's own ext2fs driver and
# checked with NetBSD's fsck_ext2fs (../shared/tools/netbsd-ext2fs): each
# fact as NetBSD sees it, compared with the set and with debugfs.
set -eu
. "$ROOT/tests/lib/common.sh"
nbfs_have || skip "NetBSD's ext2fs driver (../shared/tools/netbsd-ext2fs, or NBFS_DIR) is not on this machine"

export SMOLC_CACHE="$TEST_TMP/cache"
M="$TEST_TMP/mirror"
make_mirror "$M" >/dev/null
S="$M/$SETS_REL"
misc_set "$S" <<'PY'
E = [ti("./dev", tarfile.DIRTYPE, 0o755),
     ti("./dev/big", tarfile.CHRTYPE, 0o600, dev=(4095, 300)),
     ti("./dev/disk", tarfile.BLKTYPE, 0o640, dev=(3, 300)),
     ti("./var", tarfile.DIRTYPE, 0o755), ti("./var/run", tarfile.DIRTYPE, 0o755),
     ti("./var/run/fifo", tarfile.FIFOTYPE, 0o644),
     ti("./home", tarfile.DIRTYPE, 0o755), ti("./home/u", tarfile.DIRTYPE, 0o755, uid=1000, gid=1000),
     ti("./home/u/file", tarfile.REGTYPE, 0o640, data=b"hello\n", uid=1000, gid=1000),
     ti("./etc", tarfile.DIRTYPE, 0o755),
     ti("./etc/fast", tarfile.SYMTYPE, 0o777, link="passwd"),
     ti("./etc/slow", tarfile.SYMTYPE, 0o777, link="/" + "x" * 70 + "/target"),
     ti("./big", tarfile.DIRTYPE, 0o755)] + \
    [ti("./big/f%04d" % i, tarfile.REGTYPE, 0o644, data=b"") for i in range(3000)]
PY
http_start "$M"
export SMOLC_MIRROR="$HTTP_URL"
mkdir -p svc && cd svc
cat >Smolfile <<SMOL
FROM netbsd-10.1
SERVICE judge
SETS base etc rescue misc
KERNEL $HTTP_URL/$KERNEL_REL sha256:$KERNEL_SHA256
RC <<'EOF'
#!/bin/sh
echo judged
EOF
SMOL
img=images/judge-amd64.img
run "$SMOLC" build -q
expect_rc 0 "build"
assert_fsck_clean "$img"

# NetBSD's fsck_ext2fs: what /etc/rc runs at boot for a pass-1 fstab entry
run nbfsck "$img"
expect_rc 0 "NetBSD's fsck_ext2fs -f"

# device numbers as NetBSD's major()/minor() decode them
devs=$(nbfs "$img" ls -l /dev)
assert_match "$devs" "^crw------- +1 0 +0 +4095, +300 .* big$" "a 12-bit major, a minor past 255"
assert_match "$devs" "^brw-r----- +1 0 +0 +3, +300 .* disk$" "a block device"
# the fifo, the symlinks (fast: in the inode; slow: in a block), uid 1000
assert_match "$(nbfs "$img" ls -l /var/run)" "^prw-r--r-- .* fifo$" "fifo"
etc=$(nbfs "$img" ls -l /etc)
assert_match "$etc" "^lrwxrwxrwx .* fast -> passwd$" "fast symlink"
assert_match "$etc" "^lrwxrwxrwx .* slow -> /x{70}/target$" "slow symlink"
assert_match "$(nbfs "$img" ls -l /home/u)" "^-rw-r----- +1 1000 +1000 +6 .* file$" "owner 1000, mode, size"
assert_eq "hello" "$(nbfs "$img" cat /home/u/file)" "content"
# a large directory: every entry found
assert_eq 3000 "$(nbfs "$img" ls /big | wc -l | tr -d ' ')" "3,000 entries"
assert_eq "f2999" "$(nbfs "$img" ls /big | tail -n 1)" "the last entry"
# the setuid program and the rescue hard links, as debugfs counts them
assert_match "$(nbfs "$img" ls -l /usr/bin/su)" "^-r-sr-xr-x " "setuid su"
sh_links=$(dbg_stat "$img" /rescue/sh | sed -n 's/.*Links: *\([0-9]*\).*/\1/p')
[ -n "$sh_links" ] && [ "$sh_links" -gt 1 ] || fail "/rescue/sh has '$sh_links' links: the rescue set's hard links are lost"
assert_match "$(nbfs "$img" ls -l /rescue/sh)" "^-r-xr-xr-x +$sh_links " "rescue hard links: $sh_links names"
# the generated files read back byte for byte
assert_eq "$(dbg_cat "$img" /etc/fstab)" "$(nbfs "$img" cat /etc/fstab)" "/etc/fstab"
assert_eq "NAME=judgeroot / ext2fs rw 1 1" "$(nbfs "$img" cat /etc/fstab)" "/etc/fstab content"
assert_eq "$(dbg_cat "$img" /etc/rc)" "$(nbfs "$img" cat /etc/rc)" "/etc/rc"
assert_contains "$(nbfs "$img" cat /etc/rc)" "echo judged" "/etc/rc content"
echo ok
