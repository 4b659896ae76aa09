#!/bin/bash
# 36-postinst-chown: POSTINST --chown, the script's environment, its cache
# key, and what failed builds leave behind.
#  - --chown=<user>:<group> by name (the image's /etc/passwd and
#    /etc/group, from a set) and by number: files and directories the
#    script creates get that owner; files it edits (also through sed -i,
#    which replaces them) keep theirs; modes are the script's;
#  - names are looked up in the image as built so far: a user added by an
#    earlier POSTINST resolves; an unknown user or group, or an image with
#    no /etc/passwd, is an error at the option's line:column, exit 1;
#  - SERVICE, ARCH, SMOLC_ROOT and the ARG and ENV values are in the
#    script's environment; a changed --chown or --build-arg rebuilds the
#    POSTINST, an unchanged recipe is CACHED;
#  - a failing POSTINST and an image too small for its SIZE leave the
#    image that was there untouched, no *.tmp.* file in the output
#    directory or the cache, nothing in the cache's tmp/, no new layer;
#    an image, kernel or run config that cannot be renamed into place
#    leaves no temp file either;
#  - a recipe FROM this one shares its POSTINST layers: built with
#    --no-cache, the script still sees the base's SERVICE.
set -eu
. "$ROOT/tests/lib/common.sh"

postinst_setup
# "misc": users www (80) and user (1000), groups users (100) and www (81),
# a user's file and a file with group operator (5)
misc_set "$S" <<'EOF'
E = [ti("./etc", tarfile.DIRTYPE, 0o755),
     ti("./etc/passwd", tarfile.REGTYPE, 0o644, data=b"root:*:0:0:Charlie &:/root:/bin/sh\n"
        b"www:*:80:81:web:/var/www:/sbin/nologin\nuser:*:1000:100:User:/home/user:/bin/sh\n"),
     ti("./etc/group", tarfile.REGTYPE, 0o644, data=b"wheel:*:0:root\noperator:*:5:root\nwww:*:81:\nusers:*:100:\n"),
     ti("./etc/keep.conf", tarfile.REGTYPE, 0o600, 0, 5, b"keep=1\n"),
     ti("./home", tarfile.DIRTYPE, 0o755),
     ti("./home/user", tarfile.DIRTYPE, 0o750, 1000, 1000),
     ti("./home/user/notes", tarfile.REGTYPE, 0o640, 1000, 1000, b"first line\n")]
EOF
http_start "$M"
export SMOLC_MIRROR="$HTTP_URL"

mkdir -p svc && cd svc
KLINE="KERNEL $HTTP_URL/$KERNEL_REL sha256:$KERNEL_SHA256"
# recipe SETS OWNER [SIZE line]: line 9 is the POSTINST with --chown=OWNER
recipe() {
	cat >Smolfile <<EOF
FROM netbsd-10.1
SERVICE pc
SETS $1
$KLINE
ARG GREETING=hello
ENV TARGET=/srv/app
${3:-# no SIZE}
# the script
POSTINST --chown=$2 <<'EOS'
mkdir -p srv/app/sub
chmod 0750 srv/app/sub
echo "\$GREETING from \$SERVICE/\$ARCH" > srv/app/greeting
chmod 0640 srv/app/greeting
ln -s greeting srv/app/link
echo "second line" >> home/user/notes
sed -i "s/keep=1/keep=2/" etc/keep.conf
echo "env: GREETING=\$GREETING TARGET=\$TARGET SMOLC_ROOT=\$SMOLC_ROOT PWD=\$PWD"
EOS
POSTINST --chown=1234 <<'EOS'
echo x > srv/by-number
EOS
EOF
}
img=images/pc-amd64.img
# no_tmp_left DIR…: no *.tmp.* file and no temp entry left in DIRs
no_tmp_left() {
	local left
	left=$(find "$@" -name '*.tmp.*' 2>/dev/null | head -5)
	[ -z "$left" ] || fail "temp files left behind: $left"
	assert_cache_sane "$SMOLC_CACHE"
}

# --- by name ---
recipe "base etc misc" "www:users"
run "$SMOLC" build
expect_rc 0 "build with POSTINST --chown=www:users"
assert_contains "$OUT" "env: GREETING=hello TARGET=/srv/app SMOLC_ROOT=/run/smolc/root PWD=/run/smolc/root" \
	"ARG, ENV and SMOLC_ROOT in the script's environment"
assert_fsck_clean "$img"
assert_eq "hello from pc/amd64" "$(dbg_cat "$img" /srv/app/greeting)" "/srv/app/greeting (SERVICE, ARCH, ARG)"
# created: the --chown owner, the script's modes
assert_meta "$img" /srv directory 0755 80 100
assert_meta "$img" /srv/app directory 0755 80 100
assert_meta "$img" /srv/app/sub directory 0750 80 100
assert_meta "$img" /srv/app/greeting regular 0640 80 100
assert_eq "80 100" "$(dbg_field "$img" /srv/app/link uid) $(dbg_field "$img" /srv/app/link gid)" "owner of a created symlink"
# created by the second POSTINST: user by number, group 0
assert_meta "$img" /srv/by-number regular 0644 1234 0
# existing: owner and mode kept, content edited
assert_meta "$img" /home/user/notes regular 0640 1000 1000
assert_eq "first line
second line" "$(dbg_cat "$img" /home/user/notes)" "edited /home/user/notes"
assert_meta "$img" /etc/keep.conf regular 0600 0 5
assert_eq "keep=2" "$(dbg_cat "$img" /etc/keep.conf)" "edited /etc/keep.conf (sed -i)"
assert_meta "$img" /home/user directory 0750 1000 1000
cp "$img" "$TEST_TMP/byname.img"

# --- unchanged: CACHED ---
run "$SMOLC" build
expect_rc 0 "rebuild, nothing changed"
assert_eq 0 "$(built_count "$OUT")" "steps built with nothing changed"
rm -f images/pc-amd64.stamp
run "$SMOLC" build
expect_rc 0 "rebuild without the stamp"
assert_eq 0 "$(built_count "$OUT")" "steps built without the stamp"
assert_same_file "$TEST_TMP/byname.img" "$img" "image rebuilt from cached layers"

# --- the option is in the key: the same owner by number is built again ---
recipe "base etc misc" "80:100"
run "$SMOLC" build
expect_rc 0 "build with POSTINST --chown=80:100"
assert_eq "POSTINST" "$(built_steps "$OUT" | head -1)" "first rebuilt step after changing --chown"
assert_not_contains "$(built_steps "$OUT")" "SETS" "rebuilt steps after changing --chown"
assert_meta "$img" /srv/app/greeting regular 0640 80 100
# --chown=user: the group defaults to 0
recipe "base etc misc" "user"
run "$SMOLC" build
expect_rc 0 "build with POSTINST --chown=user"
assert_meta "$img" /srv/app/greeting regular 0640 1000 0

# --- an ARG value the script reads from its environment is in the key ---
recipe "base etc misc" "www:users"
run "$SMOLC" build --build-arg GREETING=bye
expect_rc 0 "build with --build-arg GREETING=bye"
assert_eq "POSTINST" "$(built_steps "$OUT" | head -1)" "first rebuilt step after changing an ARG"
assert_eq "bye from pc/amd64" "$(dbg_cat "$img" /srv/app/greeting)" "/srv/app/greeting after --build-arg"
run "$SMOLC" build
expect_rc 0 "build with the default GREETING again"
assert_eq 0 "$(built_count "$OUT")" "steps built with the default GREETING again"
assert_same_file "$TEST_TMP/byname.img" "$img" "image with the default GREETING again"

# --- unknown names: an error at the option ---
layers_before=$(ls "$SMOLC_CACHE/layers" | sort)
recipe "base etc misc" "nosuch:users"
run "$SMOLC" build
expect_rc 1 "POSTINST --chown with an unknown user"
assert_match "$OUT" "^Smolfile:9:10: error: POSTINST --chown=nosuch:users: no user 'nosuch' in the image's /etc/passwd$" \
	"unknown user"
assert_contains "$OUT" "hint: use a number, or add the user in an earlier step" "unknown user hint"
assert_contains "$OUT" "    9 | POSTINST --chown=nosuch:users <<'EOS'" "unknown user: the source line"
recipe "base etc misc" "www:nogroup"
run "$SMOLC" build
expect_rc 1 "POSTINST --chown with an unknown group"
assert_match "$OUT" "^Smolfile:9:10: error: POSTINST --chown=www:nogroup: no group 'nogroup' in the image's /etc/group$" \
	"unknown group"
assert_not_contains "$OUT" "env: GREETING" "the script ran although its owner is unknown"
# no /etc/passwd at all (only the base set)
recipe "base" "www"
run "$SMOLC" build -o nopasswd
expect_rc 1 "POSTINST --chown=www without /etc/passwd"
assert_match "$OUT" "^Smolfile:9:10: error: POSTINST --chown=www: the image has no /etc/passwd to look up user 'www' in$" \
	"no /etc/passwd"
assert_no_file nopasswd/pc-amd64.img
# COPY says the same, at its option
printf 'x\n' >file.txt
recipe "base etc misc" "www"
printf 'COPY --mode=0600 --chown=www:nogroup file.txt /x\n' >>Smolfile
run "$SMOLC" build -o copyerr
expect_rc 1 "COPY --chown with an unknown group"
assert_match "$OUT" "^Smolfile:22:18: error: COPY --chown=www:nogroup: no group 'nogroup' in the image's /etc/group$" \
	"COPY unknown group"
no_tmp_left images copyerr nopasswd "$SMOLC_CACHE"

# --- names from the layers built so far: an earlier POSTINST adds a user ---
recipe "base etc misc" "svc:svcgrp"
sed -i 's/^# the script$/POSTINST <<EOS\necho "svc:*:321:654::\/nonexistent:\/sbin\/nologin" >> etc\/passwd\necho "svcgrp:*:654:" >> etc\/group\nEOS/' Smolfile
run "$SMOLC" build -o added
expect_rc 0 "POSTINST --chown=svc:svcgrp after a POSTINST that adds them"
assert_meta added/pc-amd64.img /srv/app/greeting regular 0640 321 654
assert_meta added/pc-amd64.img /etc/passwd regular 0644 0 0
# --- failures leave nothing behind ---
recipe "base etc misc" "www:users"
run "$SMOLC" build
expect_rc 0 "good build into images/"
assert_same_file "$TEST_TMP/byname.img" "$img" "image before the failures"
layers_good=$(ls "$SMOLC_CACHE/layers" | sort)
cache_layers() { "$SMOLC" cache ls | awk '$1 == "layer" { print $2 }' | sort; }
ls_good=$(cache_layers)
[ -n "$ls_good" ] || fail "smolc cache ls lists no layer"
# a failing script, into the directory that holds the good image
sed -i 's/^echo x > srv\/by-number$/echo "failing now"; exit 7/' Smolfile
run "$SMOLC" build
expect_rc 1 "build with a failing POSTINST"
assert_match "$OUT" "^Smolfile:19:1: error: POSTINST failed with exit status 7; last lines of its output:" "failing POSTINST"
assert_contains "$OUT" "| failing now" "failing POSTINST output tail"
assert_same_file "$TEST_TMP/byname.img" "$img" "image after a failing POSTINST"
assert_eq "$layers_good" "$(ls "$SMOLC_CACHE/layers" | sort)" "layers after a failing POSTINST"
no_tmp_left images "$SMOLC_CACHE"
# SIZE too small for the tree, into the same directory
recipe "base etc misc" "www:users" "SIZE 2M"
run "$SMOLC" build
expect_rc 1 "build with SIZE 2M"
assert_match "$OUT" "^Smolfile:7:1: error: images/pc-amd64\.img: image size 2 MiB is too small" "SIZE too small"
assert_same_file "$TEST_TMP/byname.img" "$img" "image after a SIZE failure"
no_tmp_left images "$SMOLC_CACHE"
assert_eq "$layers_good" "$(ls "$SMOLC_CACHE/layers" | sort)" "layers after a SIZE failure"
# an output that cannot get its final name (a directory is in the way):
# the temp file written for it is removed
recipe "base etc misc" "www:users"
for out in img kernel yaml; do
	rm -rf blocked && mkdir -p "blocked/pc-amd64.$out/in-the-way"
	run "$SMOLC" build -o blocked
	expect_rc 1 "build with a directory at blocked/pc-amd64.$out"
	assert_contains "$OUT" "blocked/pc-amd64.$out" "error naming blocked/pc-amd64.$out"
	[ "$out" = yaml ] || assert_match "$OUT" "error: writing blocked/pc-amd64\.$out: Is a directory$" "error for blocked/pc-amd64.$out"
	assert_file "blocked/pc-amd64.$out/in-the-way"
	no_tmp_left blocked "$SMOLC_CACHE"
done
assert_eq "$ls_good" "$(cache_layers)" "layers in smolc cache ls after the failures"

# --- FROM this recipe: its POSTINST layers are shared, so the script sees
#     the SERVICE of the recipe it is in, also when built for another ---
mkdir -p ../derived && cd ../derived
printf 'FROM ../svc\nSERVICE derived\n' >Smolfile
run "$SMOLC" build --no-cache
expect_rc 0 "--no-cache build of a recipe FROM svc"
assert_eq "hello from pc/amd64" "$(dbg_cat images/derived-amd64.img /srv/app/greeting)" \
	"the base's POSTINST run for a derived recipe"
cd ../svc
rm -f images/pc-amd64.stamp
run "$SMOLC" build
expect_rc 0 "the base again after the derived --no-cache build"
assert_eq 0 "$(built_count "$OUT")" "steps built for the base after the derived build"
assert_same_file "$TEST_TMP/byname.img" "$img" "the base's image from the layers the derived build made"
echo ok
