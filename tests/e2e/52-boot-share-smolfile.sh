#!/bin/bash
# 52-boot-share-smolfile — `smolc run Smolfile` builds first and boots; a
# `--share DIR:TAG` directory is readable in the guest (9p); SHARE in the
# recipe lands in the run config; the root file system is read-only.
# The guest's rc mounts the share on /mnt, then serves /mnt and answers
# whether / is writable, through a second forwarded port.
set -u
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
SMOLC=${SMOLC:-$ROOT/smolc}
TEST_TMP=${TEST_TMP:-$(mktemp -d)}
. "$ROOT/tests/guest/lib.sh"
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "skip: $*"; exit 77; }
for t in qemu-system-x86_64 curl python3; do
	command -v "$t" >/dev/null || skip "$t not installed (tests/deps.sh)"
done

export SMOLC_CACHE=$TEST_TMP/cache SMOLC_STATE_DIR=$TEST_TMP/state
name=share-e2e-$$
port=$(free_port)
started=0
cleanup() {
	[ "$started" = 1 ] && timeout 30 "$SMOLC" stop "$name" --timeout 5 >/dev/null 2>&1
	for p in $(qemu_pids_matching "$TEST_TMP"); do kill -KILL "$p" 2>/dev/null; done
}
trap cleanup EXIT

guest_prepare "$TEST_TMP/guest" || fail "could not prepare the test guest"
mkdir -p "$TEST_TMP/svc" "$TEST_TMP/shared"
echo "shared-content-$$" >"$TEST_TMP/shared/file.txt"
cd "$TEST_TMP/svc" || exit 1
cat >Smolfile <<EOF
FROM scratch
SERVICE sharetest
PROFILE linux
READONLY
SETS $TEST_TMP/guest/busybox.tar.xz
KERNEL $TEST_TMP/guest/vmlinux
INITRD $TEST_TMP/guest/initrd
SHARE ./data:/mnt
RC <<'RCEOF'
#!/bin/sh
export PATH=/bin:/sbin
ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
mount -t 9p -o trans=virtio,version=9p2000.L share0 /mnt
mkdir -p /tmp 2>/dev/null
if touch /rootrw 2>/dev/null; then w=writable; else w=readonly; fi
mount -t tmpfs tmpfs /var/www 2>/dev/null || true
echo "\$w" >/var/www/root.txt
httpd -p 81 -h /var/www
exec httpd -f -p 80 -h /mnt
RCEOF
PORTS $port:80
EOF
mkdir -p data
echo "from-recipe-share" > data/x.txt

echo "== smolc run -d (builds ./Smolfile first), --share overrides the recipe's share"
port2=$(free_port)
started=1
timeout 300 "$SMOLC" run -d --name "$name" --share "$TEST_TMP/shared:share0" -p "$port:80" -p "$port2:81" >"$TEST_TMP/run.log" 2>&1 ||
	{ cat "$TEST_TMP/run.log"; fail "smolc run -d failed"; }
cat "$TEST_TMP/run.log"
[ -f images/sharetest-amd64.img ] || fail "smolc run did not build ./Smolfile into images/"
grep -q 'tag: "share0"' images/sharetest-amd64.yaml || grep -q 'share0' images/sharetest-amd64.yaml ||
	fail "SHARE is not in the run config: $(cat images/sharetest-amd64.yaml)"
timeout 150 "$SMOLC" wait "$name" --port "$port" --timeout 120 || { "$SMOLC" logs "$name" | tail -30; fail "no answer on $port"; }
got=$(curl -sf --max-time 10 "http://127.0.0.1:$port/file.txt") || { "$SMOLC" logs "$name" | tail -30; fail "GET /file.txt failed"; }
[ "$got" = "shared-content-$$" ] || fail "the shared file reads '$got' in the guest"
ro=$(curl -sf --max-time 10 "http://127.0.0.1:$port2/root.txt") || fail "GET root.txt failed"
[ "$ro" = readonly ] || fail "READONLY root is $ro in the guest"
echo "== stop"
"$SMOLC" stop "$name" || fail "stop failed"
started=0
"$SMOLC" ps | grep -q "$name" && fail "ps still lists $name"
echo ok
