#!/bin/bash
# 34-postinst: POSTINST scripts run in the bubblewrap sandbox on a copy of
# the tree; their changes become a layer.
#  - adds, edits, deletes: debugfs shows the result; an edited file keeps
#    its owner and mode from the set (1000:1000 0640), new files are 0:0;
#  - a failing script (exit 3) stops the build: exit 1, its status and the
#    tail of its output, nothing cached for it;
#  - escapes are contained: host /tmp, host /etc, a canary directory of
#    the host, a symlink out, `rm -rf /`, the network (the test server on
#    127.0.0.1 is not reachable without --network, reachable with it).
#    That part runs only when bwrap is the sandbox and, inside the same
#    sandbox, only after checking that every mount other than the
#    staging root and the sandbox's own tmpfs/dev/proc is read-only;
#  - an unchanged POSTINST is CACHED, a changed one is rebuilt.
set -eu
. "$ROOT/tests/lib/common.sh"

postinst_setup
# a "misc" set with a user's files (1000:1000) and files to edit/delete
misc_set "$S" <<'EOF'
E = [ti("./home", tarfile.DIRTYPE, 0o755),
     ti("./home/user", tarfile.DIRTYPE, 0o750, 1000, 1000),
     ti("./home/user/notes", tarfile.REGTYPE, 0o640, 1000, 1000, b"first line\n"),
     ti("./etc/keep.conf", tarfile.REGTYPE, 0o600, 0, 5, b"keep=1\n"),
     ti("./etc/remove-me", tarfile.REGTYPE, 0o644, 0, 0, b"bye\n"),
     ti("./var/outside", tarfile.SYMTYPE, 0o777, link="/tmp/smolc-e2e-outside")]
EOF
echo "secret" >"$M/net-probe.txt"
http_start "$M"
export SMOLC_MIRROR="$HTTP_URL"

mkdir -p svc && cd svc
recipe() { # $1: POSTINST heredoc body, $2: POSTINST options
	{
		cat <<EOF
FROM netbsd-10.1
SERVICE pi
SETS base etc misc
KERNEL $HTTP_URL/$KERNEL_REL sha256:$KERNEL_SHA256
POSTINST ${2:-}<<'EOS'
EOF
		printf '%s\n' "$1"
		echo EOS
	} >Smolfile
}
img=images/pi-amd64.img

# --- adds, edits, deletes ---
EDIT='echo "second line" >> home/user/notes
echo "new file" > etc/added.conf
mkdir -p var/www
echo "<p>hi</p>" > var/www/index.html
rm etc/remove-me
sed -i "s/keep=1/keep=2/" etc/keep.conf
ln -s added.conf etc/added-link
test "$SMOLC_ROOT" = "$PWD"
echo "service=$SERVICE arch=$ARCH"'
recipe "$EDIT"
run "$SMOLC" build
expect_rc 0 "build with an editing POSTINST"
assert_contains "$OUT" "service=pi arch=amd64" "POSTINST output (env SERVICE/ARCH)"
assert_fsck_clean "$img"
assert_eq "first line
second line" "$(dbg_cat "$img" /home/user/notes)" "edited /home/user/notes"
assert_meta "$img" /home/user/notes regular 0640 1000 1000
assert_meta "$img" /home/user directory 0750 1000 1000
assert_eq "keep=2" "$(dbg_cat "$img" /etc/keep.conf)" "edited /etc/keep.conf"
assert_meta "$img" /etc/keep.conf regular 0600 0 5
assert_eq "new file" "$(dbg_cat "$img" /etc/added.conf)" "added /etc/added.conf"
assert_meta "$img" /etc/added.conf regular 0644 0 0
assert_meta "$img" /var/www directory 0755 0 0
assert_eq "<p>hi</p>" "$(dbg_cat "$img" /var/www/index.html)" "added /var/www/index.html"
assert_not_in_image "$img" /etc/remove-me
assert_contains "$(dbg_stat "$img" /etc/added-link)" 'Fast link dest: "added.conf"' "added symlink"
# untouched files keep their set metadata
assert_meta "$img" /usr/bin/su regular 04555 0 0
assert_eq "$(dbg_ino "$img" /rescue/sh)" "$(dbg_ino "$img" /rescue/ls)" "/rescue hard links after POSTINST"
cp "$img" "$TEST_TMP/edit.img"

# --- unchanged: CACHED; changed: rebuilt ---
rm -rf images
run "$SMOLC" build
expect_rc 0 "rebuild with the same POSTINST"
assert_eq 0 "$(built_count "$OUT")" "steps built with an unchanged POSTINST"
assert_same_file "$TEST_TMP/edit.img" "$img" "image with an unchanged POSTINST"
assert_not_contains "$OUT" "service=pi" "POSTINST ran again although unchanged"
recipe "$EDIT
echo more >> etc/added.conf"
run "$SMOLC" build
expect_rc 0 "build with a changed POSTINST"
assert_eq "POSTINST" "$(built_steps "$OUT" | head -1)" "first rebuilt step after changing POSTINST"
assert_not_contains "$(built_steps "$OUT")" "SETS" "rebuilt steps after changing POSTINST"
assert_eq "new file
more" "$(dbg_cat "$img" /etc/added.conf)" "/etc/added.conf after the change"

# --- a failing script ---
layers_before=$(ls "$SMOLC_CACHE/layers" | sort)
recipe 'echo "about to fail"
echo "line two of the output"
exit 3'
run "$SMOLC" build -o failed
expect_rc 1 "build with a failing POSTINST"
assert_match "$OUT" "^Smolfile:5:1: error: POSTINST failed with exit status 3; last lines of its output:" "failing POSTINST message"
assert_contains "$OUT" "| about to fail" "failing POSTINST output tail"
assert_contains "$OUT" "| line two of the output" "failing POSTINST output tail"
assert_eq "$layers_before" "$(ls "$SMOLC_CACHE/layers" | sort)" "layers in the cache after a failing POSTINST"
assert_no_file failed/pi-amd64.img
assert_cache_sane "$SMOLC_CACHE"
# a command failing mid-script stops it (sh -e)
recipe 'false
echo "not reached" > etc/not-reached'
run "$SMOLC" build -o failed
expect_rc 1 "build with a POSTINST whose command fails"
assert_contains "$OUT" "POSTINST failed with exit status 1" "sh -e in POSTINST"

# --- containment ---
marker="smolc-e2e-$$-$RANDOM"
canary="$TEST_TMP/canary"
mkdir -p "$canary"
echo alive >"$canary/file"
rm -rf /tmp/smolc-e2e-outside
t_on_exit "rm -rf /tmp/$marker /tmp/smolc-e2e-outside"

# 1. harmless probe: / must be read-only inside the sandbox
recipe 'if touch /smolc-e2e-probe 2>/dev/null; then rm -f /smolc-e2e-probe; echo "PROBE: / IS WRITABLE"; exit 42; fi
if touch "'"$canary"'/probe" 2>/dev/null; then echo "PROBE: HOST DIR WRITABLE"; exit 42; fi
echo "PROBE: read-only"'
run "$SMOLC" build -o probe
assert_not_contains "$OUT" "WRITABLE" "sandbox probe"
expect_rc 0 "sandbox probe build"
assert_contains "$OUT" "PROBE: read-only" "sandbox probe output"
assert_no_file "$canary/probe"
[ ! -e /smolc-e2e-probe ] || { rm -f /smolc-e2e-probe; fail "the probe wrote /smolc-e2e-probe on the host"; }

# 2. the escapes; the script refuses to run them unless every mount other
#    than the sandbox's own (staging root, /tmp, /run, /dev, /proc) is ro
ESCAPE='
unsafe=$(awk '"'"'{ mp=$5; split($6, o, ","); if (o[1] != "ro" && mp !~ "^/(tmp|run|dev|proc)(/|$)") print mp }'"'"' /proc/self/mountinfo)
if [ -n "$unsafe" ]; then echo "UNSAFE writable mounts: $unsafe"; exit 42; fi
echo escaped > /tmp/'"$marker"' || true
echo escaped > /etc/'"$marker"' 2>/dev/null && echo "WROTE HOST ETC" || echo "etc: refused"
rm -rf "'"$canary"'" 2>/dev/null || true
ln -s /etc etc-out
echo escaped > etc-out/'"$marker"' 2>/dev/null && echo "WROTE THROUGH SYMLINK" || echo "symlink: refused"
rm etc-out
echo escaped > var/outside 2>/dev/null || true
mkdir -p var/outside-dir 2>/dev/null || true
if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=3)" "'"$HTTP_URL/net-probe.txt?from-postinst"'" 2>/dev/null; then echo "NETWORK REACHED"; else echo "network: unreachable"; fi
rm -rf --no-preserve-root / 2>/dev/null || true
echo "after rm: $(ls / | wc -l) entries in /"
'
recipe "$ESCAPE"
run "$SMOLC" build -o escape
t_log "$OUT"
assert_not_contains "$OUT" "UNSAFE" "mounts inside the sandbox"
expect_rc 0 "build with the escaping POSTINST"
assert_contains "$OUT" "etc: refused" "write to /etc inside the sandbox"
assert_contains "$OUT" "symlink: refused" "write through a symlink to /etc"
assert_contains "$OUT" "network: unreachable" "network without --network"
assert_not_contains "$OUT" "NETWORK REACHED" "network without --network"
assert_no_file "/tmp/$marker"
assert_no_file "/etc/$marker"
assert_no_file /tmp/smolc-e2e-outside
assert_eq alive "$(cat "$canary/file" 2>/dev/null)" "host canary file after rm -rf inside the sandbox"
assert_eq "" "$(grep 'from-postinst' "$HTTP_LOG" || true)" "requests from the sandbox to the test server"
[ -d /usr/bin ] && [ -x "$SMOLC" ] || fail "the host lost files"
# the image is what the script left: its root was wiped by rm -rf /
assert_fsck_clean escape/pi-amd64.img
assert_not_in_image escape/pi-amd64.img /usr/bin/su

# 3. with --network the server is reachable
recipe 'python3 -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())" "'"$HTTP_URL/net-probe.txt?from-postinst-net"'" > etc/fetched' "--network "
run "$SMOLC" build -o net
expect_rc 0 "build with POSTINST --network"
assert_eq secret "$(dbg_cat net/pi-amd64.img /etc/fetched)" "file fetched by POSTINST --network"
assert_contains "$(cat "$HTTP_LOG")" "GET /net-probe.txt?from-postinst-net 200" "request from POSTINST --network"
echo ok
