#!/bin/bash
# 57-minimize-boot — a minimised image boots and its kept program runs:
# the Linux test guest's busybox set plus Debian's curl and the libraries
# ldd names (packed with /lib -> usr/lib, /lib64 -> usr/lib64), MINIMIZE
# and KEEP /usr/bin/curl. The guest's rc runs curl --version and serves
# its output over HTTP: a missing library or interpreter makes curl fail
# to start, and the answer says so. The busybox applets rc and /sbin/init
# run stay (init is a shell script: its programs are kept); the others go.
set -u
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
SMOLC=${SMOLC:-$ROOT/smolc}
TEST_TMP=${TEST_TMP:-$(mktemp -d)}
. "$ROOT/tests/guest/lib.sh"
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "skip: $*"; exit 77; }
for t in qemu-system-x86_64 curl python3 ldd debugfs; do
	command -v "$t" >/dev/null || skip "$t not installed (tests/deps.sh)"
done
[ -x /usr/bin/curl ] && [ -e /lib64/ld-linux-x86-64.so.2 ] || skip "needs an x86_64 Debian host with curl"

export SMOLC_CACHE=$TEST_TMP/cache SMOLC_STATE_DIR=$TEST_TMP/state
name=minimize-e2e-$$
port=$(free_port)
started=0
cleanup() {
	[ "$started" = 1 ] && timeout 30 "$SMOLC" stop "$name" --timeout 5 >/dev/null 2>&1
	for p in $(qemu_pids_matching "$TEST_TMP"); do kill -KILL "$p" 2>/dev/null; done
}
trap cleanup EXIT

guest_prepare "$TEST_TMP/guest" || fail "could not prepare the test guest"
mkdir -p "$TEST_TMP/svc"
cd "$TEST_TMP/svc" || exit 1
libs=$(ldd /usr/bin/curl | awk '$2 == "=>" { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)
# shellcheck disable=SC2086
python3 "$ROOT/tests/lib/mkelfset.py" curl.tar /usr/bin/curl $libs || fail "could not pack curl"
cat >Smolfile <<EOF
FROM scratch
SERVICE miniboot
PROFILE linux
SETS $TEST_TMP/guest/busybox.tar.xz
SETS ./curl.tar
KERNEL $TEST_TMP/guest/vmlinux
INITRD $TEST_TMP/guest/initrd
MINIMIZE
KEEP /usr/bin/curl
RC <<'RCEOF'
#!/bin/sh
ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
mkdir -p /tmp/www
if /usr/bin/curl --version >/tmp/www/v.txt 2>&1; then echo started >>/tmp/www/v.txt; else echo "curl failed: \$?" >>/tmp/www/v.txt; fi
exec httpd -f -p 80 -h /tmp/www
RCEOF
PORTS $port:80
EOF

echo "== build"
timeout 300 "$SMOLC" build >"$TEST_TMP/build.log" 2>&1 || { cat "$TEST_TMP/build.log"; fail "build failed"; }
cat "$TEST_TMP/build.log"
img=images/miniboot-amd64.img
dbg() { debugfs -R "$1" "$img?offset=1048576" 2>/dev/null; }
[ -n "$(dbg 'stat /usr/bin/curl')" ] || fail "curl is not in the image"
[ -n "$(dbg 'stat /bin/httpd')" ] || fail "/bin/httpd (run by rc) is not in the image"
[ -n "$(dbg 'stat /bin/sleep')" ] || fail "/bin/sleep (run by /sbin/init) is not in the image"
[ -z "$(dbg 'stat /bin/find')" ] || fail "/bin/find (run by nobody) is still in the image"
e2fsck -fn "$img?offset=1048576" >/dev/null 2>&1 || fail "e2fsck -fn reports problems"

echo "== boot"
started=1
timeout 300 "$SMOLC" run -d --name "$name" >"$TEST_TMP/run.log" 2>&1 || { cat "$TEST_TMP/run.log"; fail "smolc run -d failed"; }
timeout 200 "$SMOLC" wait "$name" --port "$port" --timeout 180 || { "$SMOLC" logs "$name" | tail -30; fail "no answer on $port"; }
got=$(curl -sf --max-time 10 "http://127.0.0.1:$port/v.txt") || { "$SMOLC" logs "$name" | tail -30; fail "GET /v.txt failed"; }
echo "$got" | head -3
case $got in
*"curl failed"*) fail "curl did not start in the minimised guest: $got" ;;
"curl "*started) ;;
*) fail "unexpected answer: $got" ;;
esac
echo "== stop"
"$SMOLC" stop "$name" || fail "stop failed"
started=0
echo ok
