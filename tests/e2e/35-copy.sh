#!/bin/bash
# 35-copy: COPY from the build context into the image.
#  - globs, several sources into a directory, whole directories (their
#    contents, recursively, symlinks kept as symlinks), a single file to a
#    new name;
#  - --chown by name (from the image's /etc/passwd and /etc/group, given
#    here by a synthetic set), by number, --mode; default 0:0 and the
#    file's own mode;
#  - sources outside the context (../, absolute, a symlink leaving it,
#    also as a glob match) are recipe errors with line and column, exit 2;
#  - an unknown user or group is an error naming it, at the option.
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache"
M="$TEST_TMP/mirror"
make_mirror "$M" >/dev/null
S="$M/$SETS_REL"
# "misc": /etc/passwd and /etc/group with a www user (uid 80) and group (gid 81)
misc_set "$S" <<'EOF'
E = [ti("./etc", tarfile.DIRTYPE, 0o755),
     ti("./etc/passwd", tarfile.REGTYPE, 0o644,
        data=b"root:*:0:0:Charlie &:/root:/bin/sh\nwww:*:80:81:web:/var/www:/sbin/nologin\n"),
     ti("./etc/group", tarfile.REGTYPE, 0o644, data=b"wheel:*:0:root\noperator:*:5:root\nwwwgrp:*:81:\n")]
EOF
http_start "$M"
export SMOLC_MIRROR="$HTTP_URL"

mkdir -p ctx && cd ctx
mkdir -p www conf/sub bin
printf 'a\n' >www/a.html
printf 'b\n' >www/b.html
printf 'c\n' >www/c.txt
printf 'app=1\n' >conf/app.conf
printf 'y=1\n' >conf/sub/y.conf
chmod 0600 conf/sub/y.conf
ln -s app.conf conf/current
ln -s /etc/shadow conf/abs-link   # inside a copied directory: kept as a symlink
printf '#!/bin/sh\necho tool\n' >bin/tool
chmod 0755 bin/tool
printf 'one\n' >single.txt
echo "outside" >"$TEST_TMP/outside.txt"

head_recipe() {
	cat <<EOF
FROM netbsd-10.1
SERVICE cp
SETS base etc misc
KERNEL $HTTP_URL/$KERNEL_REL sha256:$KERNEL_SHA256
EOF
}
{
	head_recipe
	cat <<'EOF'
COPY --chown=www:wwwgrp www/*.html /var/www/
COPY --chown=1234:5678 --mode=0600 www/c.txt /srv/c
COPY conf /etc/app/
COPY conf/sub/y.conf /etc/y1.conf
COPY conf/sub/ /etc/app3/
COPY --chown=www bin/tool single.txt /usr/local/bin/
COPY --mode=0750 single.txt /opt/renamed.txt
EOF
} >Smolfile
img=images/cp-amd64.img
# a directory source after a file in it: plan lists it as the directory
run "$SMOLC" plan
expect_rc 0 "plan with COPY"
assert_match "$OUT" "input  file conf/sub/  conf/sub/  dir mode=755" "plan: COPY conf/sub/ is a directory"
run "$SMOLC" build
expect_rc 0 "build with COPY"
assert_fsck_clean "$img"

# globs + chown by name
assert_eq "a" "$(dbg_cat "$img" /var/www/a.html)" "/var/www/a.html"
assert_meta "$img" /var/www/a.html regular 0644 80 81
assert_meta "$img" /var/www/b.html regular 0644 80 81
assert_not_in_image "$img" /var/www/c.txt
# number + mode
assert_meta "$img" /srv/c regular 0600 1234 5678
assert_eq "c" "$(dbg_cat "$img" /srv/c)" "/srv/c"
# a whole directory: contents, recursive, modes kept, symlinks kept
assert_meta "$img" /etc/app directory 0755 0 0
assert_meta "$img" /etc/app/app.conf regular 0644 0 0
assert_meta "$img" /etc/app/sub directory 0755 0 0
assert_meta "$img" /etc/app/sub/y.conf regular 0600 0 0
assert_eq "y=1" "$(dbg_cat "$img" /etc/app/sub/y.conf)" "/etc/app/sub/y.conf"
# a directory source after a file in it (check's lstat cache must not
# hand plan a stale or missing stat for it)
assert_meta "$img" /etc/y1.conf regular 0600 0 0
assert_meta "$img" /etc/app3/y.conf regular 0600 0 0
assert_contains "$(dbg_stat "$img" /etc/app/current)" 'Fast link dest: "app.conf"' "/etc/app/current symlink"
assert_contains "$(dbg_stat "$img" /etc/app/abs-link)" 'Fast link dest: "/etc/shadow"' "/etc/app/abs-link symlink (not followed)"
assert_not_in_image "$img" /etc/app/conf
# several sources into a directory, --chown user only (group stays 0)
assert_meta "$img" /usr/local/bin/tool regular 0755 80 0
assert_meta "$img" /usr/local/bin/single.txt regular 0644 80 0
# a file to a new name, --mode
assert_meta "$img" /opt/renamed.txt regular 0750 0 0
assert_eq "one" "$(dbg_cat "$img" /opt/renamed.txt)" "/opt/renamed.txt"
# the set's files are still there
assert_contains "$(dbg_cat "$img" /etc/passwd)" "www:*:80:81" "/etc/passwd from misc"

# --- errors: recipe errors with line and column, exit 2 ---
ln -s "$TEST_TMP/outside.txt" out-link
ln -s ../outside.txt rel-link
cp_err() { # name, COPY line, ERE for the error line[, exit code: 2]
	{ head_recipe; printf '%s\n' "$2"; } >Smolfile
	run "$SMOLC" build -o "err-$1"
	expect_rc "${4:-2}" "COPY $1"
	local e; e=$(printf '%s\n' "$OUT" | grep ': error: ' || true)
	assert_lines 1 "$e" "COPY $1: error lines"
	assert_match "$e" "$3" "COPY $1: error"
	assert_no_file "err-$1/cp-amd64.img"
	t_log "$1: $e"
}
cp_err dotdot "COPY ../outside.txt /x" "^Smolfile:5:6: error: COPY source '\.\./outside\.txt' leaves the build context$"
cp_err dotdot-inner "COPY www/../../outside.txt /x" "^Smolfile:5:6: error: COPY source 'www/\.\./\.\./outside\.txt' leaves the build context$"
cp_err absolute "COPY /etc/hostname /x" "^Smolfile:5:6: error: COPY source '/etc/hostname' is an absolute path$"
cp_err symlink "COPY out-link /x" "^Smolfile:5:6: error: COPY source 'out-link' leads outside the build context through a symlink$"
cp_err symlink-rel "COPY --mode=0644 rel-link /x" "^Smolfile:5:18: error: COPY source 'rel-link' leads outside the build context through a symlink"
ln -s /etc/passwd www/evil
cp_err glob-symlink "COPY www/* /x/" "^Smolfile:5:6: error: COPY source 'www/\*' leads outside the build context through a symlink$"
rm www/evil
cp_err nomatch "COPY nothing*.here /x" "^Smolfile:5:6: error: COPY source 'nothing\*\.here' matches no file$"

# an unknown user or group: a build-time error (exit 1) at the option
cp_err user "COPY --mode=0644 --chown=nobody-here www/a.html /x" \
	"^Smolfile:5:18: error: COPY --chown=nobody-here: no user 'nobody-here' in the image's /etc/passwd$" 1
cp_err group "COPY --chown=www:nogroup www/a.html /x" \
	"^Smolfile:5:6: error: COPY --chown=www:nogroup: no group 'nogroup' in the image's /etc/group$" 1

# ADD <url>: a download (through the cache), 0600 unless --mode, named
# after the URL under a <dir>/ destination; pinned by --checksum
mkdir -p "$M/dl"
printf 'remote payload\n' >"$M/dl/payload.txt"
sum=$(sha256sum "$M/dl/payload.txt" | cut -d' ' -f1)
{ head_recipe; cat <<EOF
ADD $HTTP_URL/dl/payload.txt /opt/dl/
ADD --checksum=sha256:$sum --chown=www --mode=0644 $HTTP_URL/dl/payload.txt?v=1 /opt/pinned.txt
EOF
} >Smolfile
run "$SMOLC" build
expect_rc 0 "build with ADD <url>"
assert_contains "$OUT" "ADD $HTTP_URL/dl/payload.txt" "the step's title"
assert_eq "remote payload" "$(dbg_cat "$img" /opt/dl/payload.txt)" "ADD <url> <dir>/"
assert_meta "$img" /opt/dl/payload.txt regular 0600 0 0
assert_meta "$img" /opt/pinned.txt regular 0644 80 0
n=$(http_count)
run "$SMOLC" build
expect_rc 0 "rebuild"
assert_eq 0 "$(built_count "$OUT")" "an unchanged ADD <url> is cached"
# a wrong checksum: the download is refused (exit 1), at the URL
bad=0000000000000000000000000000000000000000000000000000000000000000
{ head_recipe; printf 'ADD --checksum=sha256:%s %s/dl/payload.txt?v=2 /opt/x\n' "$bad" "$HTTP_URL"; } >Smolfile
run "$SMOLC" build
expect_rc 1 "ADD with a wrong checksum"
assert_match "$OUT" "^Smolfile:5:[0-9]+: error: .*(mismatch|expected).*" "the mismatch, at the URL"
assert_not_in_image "$img" /opt/x

# a recipe's own /etc/fstab is kept (with a warning when its root line is
# not the one smolc would write); so is its own /etc/include/ file
printf '# mine\nNAME=cproot / ext2fs ro 1 1\n' >fstab
printf 'echo mine\n' >basicrc
{ head_recipe; printf 'COPY fstab /etc/fstab\nCOPY basicrc /etc/include/basicrc\n'; } >Smolfile
run "$SMOLC" build
expect_rc 0 "build with the recipe's own fstab"
assert_contains "$OUT" "warning: keeping the image's own /etc/fstab, whose root line is NAME=cproot / ext2fs ro 1 1; smolc would write NAME=cproot / ext2fs rw 1 1" "the warning"
assert_eq "$(cat fstab)" "$(dbg_cat "$img" /etc/fstab)" "the recipe's fstab"
assert_eq "echo mine" "$(dbg_cat "$img" /etc/include/basicrc)" "the recipe's basicrc"
assert_cache_sane "$SMOLC_CACHE"
echo ok
