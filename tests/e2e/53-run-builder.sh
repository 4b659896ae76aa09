#!/bin/bash
# 53-run-builder — RUN steps execute inside the guest, in a builder micro-VM
# (the offline Linux test guest, QEMU TCG), and what they change becomes a
# layer:
#  - add, edit, remove files; a hard link, a symlink, a fifo, a device node
#    (mknod), chown/chmod; a user made with the guest's useradd, then
#    `COPY --chown=<that user>` in a later step; checked with debugfs and
#    e2fsck -fn; the runner leaves nothing (/.smolc-run, /etc/rc kept);
#  - the next build is CACHED and starts no QEMU (SMOLC_QEMU is a wrapper
#    that logs every start); an edited RUN rebuilds itself and later steps;
#  - `smolc build --verbose` prints the builder's QEMU argv (-nic none);
#  - a RUN that exits 3: exit 1, its status and output, nothing cached;
#  - `RUN --timeout=5` with `sleep 100`: killed, exit 1, no QEMU left;
#  - a RUN that fills the disk: the message says SIZE must grow;
#  - network: a server on the host (10.0.2.2 from the guest) is not reachable
#    without --network and is with it (busybox nc; the static busybox's wget
#    crashes in this guest);
#  - kill -9 of smolc during a RUN: no QEMU left, no layer for the step;
#  - errors before anything boots: RUN without KERNEL, FROM scratch with no
#    shell (exit 2, at the RUN line);
#  - `smolc run` of the final image shows RUN's files at run time.
# Needs the test kernel (tests/guest/build-kernel.sh builds it once).
set -eu
. "$ROOT/tests/lib/common.sh"
# shellcheck source=../guest/lib.sh
. "$ROOT/tests/guest/lib.sh"

for t in qemu-system-x86_64 debugfs e2fsck python3; do
	command -v "$t" >/dev/null || skip "$t not installed (tests/deps.sh)"
done

G=$TEST_TMP/guest
guest_prepare "$G" || fail "could not prepare the test guest"
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_STATE_DIR=$TEST_TMP/state
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

head_of() { # SERVICE: the recipe's first lines
	cat <<EOF
FROM scratch
SERVICE $1
PROFILE linux
SETS $G/busybox.tar.xz
KERNEL $G/vmlinux
INITRD $G/initrd
EOF
}

# ---------------------------------------------------------------- main
mkdir -p main && cd main
echo "page for web" >page.txt
main_recipe() { # $1: an extra line for the RUN script
	head_of runner
	cat <<'EOF'
ENV GREETING=hello
RUN <<'EOS'
mkdir -p /srv/data
echo hello >/srv/data/new.txt
echo edited >>/etc/hostname
rm /etc/hosts
ln /srv/data/new.txt /srv/data/hard.txt
ln -s new.txt /srv/data/sym
mkfifo /srv/data/fifo
mknod /srv/data/null c 1 3
chown 1000:1001 /srv/data/new.txt
chmod 0640 /srv/data/new.txt
useradd -u 1234 web
echo "in the guest: service=$SERVICE greeting=$GREETING cwd=$(pwd) user=$(id -u)"
EOS
EOF
	[ -z "${1:-}" ] || printf 'RUN %s\n' "$1"
	cat <<'EOF'
COPY --chown=web:web page.txt /srv/page.txt
RC <<'EOS'
echo "at run time: $(cat /srv/data/new.txt) $(cat /srv/page.txt) $(grep ^web: /etc/passwd)"
ls -ln /srv/page.txt
poweroff
EOS
EOF
}
main_recipe >Smolfile
img=images/runner-amd64.img

run "$SMOLC" build --verbose
expect_rc 0 "build with a RUN"
echo "$OUT" | sed -n '/builder/p;/^\[/p'
assert_eq 1 "$(starts)" "QEMU starts for one RUN"
assert_contains "$OUT" "      | in the guest: service=runner greeting=hello cwd=/ user=0" "the script's output"
assert_match "$OUT" "builder VM: $TEST_TMP/bin/qemu .* -nic none .*-serial mon:stdio" "--verbose prints the QEMU argv"
assert_match "$OUT" "changes captured in [0-9]+ ms" "capture time"
assert_fsck_clean "$img"
assert_eq "hello" "$(dbg_cat "$img" /srv/data/new.txt)" "new file"
assert_meta "$img" /srv/data/new.txt "regular" "0640" 1000 1001
assert_eq 2 "$(dbg_field "$img" /srv/data/new.txt links)" "hard link count"
assert_eq "$(dbg_ino "$img" /srv/data/new.txt)" "$(dbg_ino "$img" /srv/data/hard.txt)" "hard link inode"
assert_contains "$(dbg_stat "$img" /srv/data/sym)" 'Fast link dest: "new.txt"' "symlink"
assert_eq "FIFO" "$(dbg_field "$img" /srv/data/fifo type)" "fifo"
assert_contains "$(dbg_stat "$img" /srv/data/null)" "Device major/minor number: 01:03" "device node"
assert_eq "character special" "$(dbg_field "$img" /srv/data/null type)" "device type"
assert_eq "smolguest
edited" "$(dbg_cat "$img" /etc/hostname)" "edited file"
assert_not_in_image "$img" /etc/hosts
assert_not_in_image "$img" /.smolc-run
assert_contains "$(dbg_cat "$img" /etc/passwd)" "web:*:1234:1234::/home/web:/bin/sh" "useradd"
assert_meta "$img" /srv/page.txt "regular" "0644" 1234 1234
assert_contains "$(dbg_cat "$img" /etc/rc)" "at run time" "the image's own /etc/rc"

# unchanged: CACHED, no QEMU
run "$SMOLC" build
expect_rc 0 "rebuild"
assert_eq 1 "$(starts)" "QEMU starts after a no-op rebuild"
assert_contains "$OUT" "image up to date" "no-op rebuild"
rm -f images/runner-amd64.stamp
run "$SMOLC" build
expect_rc 0 "rebuild without the stamp"
assert_eq 1 "$(starts)" "QEMU starts when every layer is cached"
assert_match "$OUT" "\] RUN mkdir -p /srv/data … +CACHED" "RUN is CACHED"

# an edited RUN: itself and later steps only
main_recipe "echo second >/srv/second.txt" >Smolfile
run "$SMOLC" build
expect_rc 0 "build with a second RUN"
assert_eq 2 "$(starts)" "QEMU starts after adding a RUN"
assert_eq "RUN echo second >/srv/second.txt
COPY page.txt /srv/page.txt
gen /etc/fstab /etc/include
RC /etc/rc" "$(built_steps "$OUT")" "steps rebuilt"
assert_eq "second" "$(dbg_cat "$img" /srv/second.txt)" "second RUN's file"
assert_eq "hello" "$(dbg_cat "$img" /srv/data/new.txt)" "first RUN's file still there"
assert_fsck_clean "$img"

# the final image at run time
run timeout 300 "$SMOLC" run --console file:"$TEST_TMP/run.log" images/runner-amd64.yaml </dev/null
expect_rc 0 "smolc run of the image"
assert_contains "$(cat "$TEST_TMP/run.log")" "at run time: hello page for web web:*:1234:1234::/home/web:/bin/sh" "RUN's files at run time"
assert_match "$(cat "$TEST_TMP/run.log")" "1234 +1234 .*/srv/page.txt" "page owned by web at run time"
cd ..

# ---------------------------------------------------------------- exit 3
mkdir -p fail && cd fail
{ head_of failing; printf 'RUN <<EOF\necho "about to fail" >&2\nexit 3\nEOF\n'; } >Smolfile
before=$(layers); n=$(starts)
run "$SMOLC" build
expect_rc 1 "a RUN that exits 3"
assert_contains "$OUT" "Smolfile:7:1: error: RUN failed with exit status 3; last lines of its output:" "status"
assert_contains "$OUT" "| about to fail" "output tail"
assert_eq $((n + 1)) "$(starts)" "one boot"
assert_eq "$before" "$(layers)" "layers after a failed RUN (only the cached set)"
assert_no_file images/failing-amd64.img
cd ..

# ---------------------------------------------------------------- timeout
mkdir -p slow && cd slow
{ head_of slow; echo 'RUN --timeout=5 echo sleeping; sleep 100'; } >Smolfile
run "$SMOLC" build
expect_rc 1 "a RUN past its timeout"
assert_contains "$OUT" "error: RUN did not finish within 5 s: the builder VM was killed (raise it with RUN --timeout=<seconds>)" "timeout message"
[ -z "$(qemu_pids_matching "$TEST_TMP")" ] || fail "QEMU left after the timeout"
cd ..

# ---------------------------------------------------------------- disk full
mkdir -p full && cd full
{ head_of full; echo 'SIZE 8M'; echo 'RUN dd if=/dev/zero of=/big bs=1024 count=65536'; } >Smolfile
run "$SMOLC" build
expect_rc 1 "a RUN that fills the disk"
assert_match "$OUT" "RUN failed with exit status 1: the image ran out of space \(the builder disk holds [0-9]+ MiB" "disk full"
assert_contains "$OUT" "hint: give the recipe a bigger SIZE" "SIZE hint"
cd ..

# ---------------------------------------------------------------- network
mkdir -p net && cd net
mkdir -p www && echo "from the host" >www/probe.txt
http_start "$PWD/www"
{ head_of net
cat <<EOF
RUN <<'EOS'
if printf 'GET /probe.txt HTTP/1.0\\r\\n\\r\\n' | nc -w 5 10.0.2.2 $HTTP_PORT >/tmp/p 2>&1 && grep -q 'from the host' /tmp/p; then echo reached >/srv-off; else echo unreachable >/srv-off; fi
EOS
RUN --network <<'EOS'
printf 'GET /probe.txt HTTP/1.0\\r\\n\\r\\n' | nc -w 20 10.0.2.2 $HTTP_PORT | tr -d '\\r' | sed '1,/^\$/d' >/srv-on
EOS
EOF
} >Smolfile
run "$SMOLC" build
expect_rc 0 "network build"
assert_eq "unreachable" "$(dbg_cat images/net-amd64.img /srv-off)" "without --network"
assert_eq "from the host" "$(dbg_cat images/net-amd64.img /srv-on)" "with --network"
assert_not_in_image images/net-amd64.img /etc/resolv.conf
http_stop
cd ..

# ---------------------------------------------------------------- kill -9
mkdir -p killed && cd killed
{ head_of killed; echo 'RUN echo started; sleep 200'; } >Smolfile
before=$(layers); n=$(starts)
"$SMOLC" build >build.log 2>&1 &
pid=$!
for _ in $(seq 1 600); do
	grep -q '| started' build.log 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.2
done
grep -q '| started' build.log || { cat build.log; fail "the RUN never started"; }
[ -n "$(qemu_pids_matching "$TEST_TMP")" ] || fail "no QEMU during the RUN"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
for _ in $(seq 1 50); do [ -z "$(qemu_pids_matching "$TEST_TMP")" ] && break; sleep 0.1; done
[ -z "$(qemu_pids_matching "$TEST_TMP")" ] || fail "QEMU outlived smolc (kill -9)"
assert_eq "$before" "$(layers)" "layers after kill -9 during RUN"
cd ..

# ---------------------------------------------------------------- before anything boots
mkdir -p nokernel && cd nokernel
printf 'FROM scratch\nSERVICE nk\nSETS %s/busybox.tar.xz\nRUN true\n' "$G" >Smolfile
n=$(starts)
run "$SMOLC" build
expect_rc 2 "RUN without KERNEL"
assert_contains "$OUT" "Smolfile:4:1: error: RUN needs a kernel to boot the builder VM, and the recipe has no KERNEL" "no kernel"
printf 'FROM scratch\nSERVICE ns\nKERNEL %s/vmlinux\nRUN true\n' "$G" >Smolfile
run "$SMOLC" check
expect_rc 2 "RUN with no shell"
assert_contains "$OUT" "Smolfile:4:1: error: RUN needs a shell in the image, but this FROM scratch recipe has no SETS or PKGS before it" "no shell"
assert_eq "$n" "$(starts)" "nothing booted"
cd ../main
run "$SMOLC" build
expect_rc 0 "a build after the killed one (sweeps what it left in the cache)"
assert_eq "$n" "$(starts)" "nothing booted"
cd ..

# ---------------------------------------------------------------- USER and WORKDIR
# a later RUN runs as the USER (through su), in the WORKDIR (made if missing)
mkdir -p userwd && cd userwd
{ head_of userwd; cat <<'EOF'
RUN useradd -u 1234 web
WORKDIR /srv/w
USER web
RUN echo "uid=$(id -u) cwd=$(pwd)"
EOF
} >Smolfile
run "$SMOLC" build
expect_rc 0 "RUN after USER and WORKDIR"
assert_contains "$OUT" "      | uid=1234 cwd=/srv/w" "the script ran as the USER in the WORKDIR"
assert_eq "directory" "$(dbg_field images/userwd-amd64.img /srv/w type)" "the WORKDIR is in the image"
cd ..
assert_cache_sane "$SMOLC_CACHE"
echo ok
