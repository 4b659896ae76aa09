#!/bin/bash
# 58-boot-fwcfg — `smolc run -e NAME=VALUE` and `-E NAME=FILE` reach a real
# guest: the stock-kernel test guest (its initramfs loads qemu_fw_cfg,
# Debian's CONFIG_FW_CFG_SYSFS=m) reads them from
# /sys/firmware/qemu_fw_cfg/by_name/opt/org.smolbsd.{var,file}.NAME/raw, the
# anchor's names, prints them on its console and serves them over HTTP.
# The recipe's FWCFG entries are the defaults (in the run config, relative
# --file paths made absolute); -e/-E on the command line replace them.
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
name=fwcfg-e2e-$$
port=$(free_port)
started=0
cleanup() {
	[ "$started" = 1 ] && timeout 30 "$SMOLC" stop "$name" --timeout 5 >/dev/null 2>&1
	for p in $(qemu_pids_matching "$TEST_TMP"); do kill -KILL "$p" 2>/dev/null; done
}
trap cleanup EXIT

# the tiny test kernel has no fw_cfg driver; Debian's has it as a module
SMOLC_TEST_KERNEL=stock guest_prepare "$TEST_TMP/guest" || fail "could not prepare the test guest"
mkdir -p "$TEST_TMP/svc"
cd "$TEST_TMP/svc" || exit 1
cat >Smolfile <<SMOLFILE
FROM scratch
SERVICE fwcfgtest
PROFILE linux
READONLY
SETS $TEST_TMP/guest/busybox.tar.xz
KERNEL $TEST_TMP/guest/vmlinux
INITRD $TEST_TMP/guest/initrd
RC <<'RCEOF'
#!/bin/sh
export PATH=/bin:/sbin
ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
mount -t tmpfs tmpfs /var/www
fw=/sys/firmware/qemu_fw_cfg/by_name/opt
for n in var.GREETING file.CONF var.MODE file.NOTES var.NOPE; do
	if [ -r \$fw/org.smolbsd.\$n/raw ]; then
		cp \$fw/org.smolbsd.\$n/raw /var/www/\$n
		echo "fwcfg \$n=\$(cat /var/www/\$n)"
	else
		echo "fwcfg \$n missing"
	fi
done
exec httpd -f -p 80 -h /var/www
RCEOF
PORTS $port:80
ARG MODE=prod
FWCFG GREETING=from-recipe MODE=\$MODE
FWCFG --file NOTES=notes.txt CONF=notes.txt
SMOLFILE
printf 'line one\nline two\n' >conf.txt
echo "recipe notes" >notes.txt

echo "== plan --json lists the recipe's fw_cfg"
got=$("$SMOLC" plan --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["fw_cfg"])') || fail "plan --json"
[ "$got" = "[{'var': 'GREETING', 'value': 'from-recipe'}, {'var': 'MODE', 'value': 'prod'}, {'file': 'NOTES', 'path': 'notes.txt'}, {'file': 'CONF', 'path': 'notes.txt'}]" ] ||
	fail "plan --json fw_cfg: $got"
echo "== build"
timeout 300 "$SMOLC" build -q --build-arg MODE=staging || fail "build failed"
"$SMOLC" run --dry-run images/fwcfgtest-amd64.yaml >argv.txt 2>&1 || fail "run --dry-run: $(cat argv.txt)"
for a in "opt/org.smolbsd.var.GREETING,string=from-recipe" "opt/org.smolbsd.var.MODE,string=staging" \
	"opt/org.smolbsd.file.NOTES,file=$PWD/notes.txt" "opt/org.smolbsd.file.CONF,file=$PWD/notes.txt"; do
	grep -q -- "-fw_cfg $a\( \|\$\)" argv.txt || fail "the recipe's FWCFG is not in the argv ($a): $(cat argv.txt)"
done

echo "== smolc run -d -e GREETING=... -E CONF=conf.txt"
started=1
timeout 60 "$SMOLC" run -d --name "$name" -e "GREETING=hello, fw_cfg $$" -E CONF=conf.txt \
	images/fwcfgtest-amd64.yaml >"$TEST_TMP/run.log" 2>&1 || { cat "$TEST_TMP/run.log"; fail "smolc run -d failed"; }
timeout 200 "$SMOLC" wait "$name" --port "$port" --timeout 180 || { "$SMOLC" logs "$name" | tail -30; fail "no answer on $port"; }
got=$(curl -sf --max-time 10 "http://127.0.0.1:$port/var.GREETING") || { "$SMOLC" logs "$name" | tail -30; fail "GET var.GREETING failed"; }
[ "$got" = "hello, fw_cfg $$" ] || fail "the guest reads opt/org.smolbsd.var.GREETING as '$got'"
curl -sf --max-time 10 "http://127.0.0.1:$port/file.CONF" >"$TEST_TMP/conf.got" || fail "GET file.CONF failed"
cmp -s conf.txt "$TEST_TMP/conf.got" || fail "the guest reads opt/org.smolbsd.file.CONF as '$(cat "$TEST_TMP/conf.got")'"
"$SMOLC" logs "$name" >"$TEST_TMP/console" || fail "smolc logs failed"
grep -q "^fwcfg var.GREETING=hello, fw_cfg $$" "$TEST_TMP/console" ||
	fail "the console does not show the value: $(grep fwcfg "$TEST_TMP/console")"
grep -q "^fwcfg var.MODE=staging" "$TEST_TMP/console" || fail "the recipe's FWCFG MODE: $(grep fwcfg "$TEST_TMP/console")"
grep -q "^fwcfg file.NOTES=recipe notes" "$TEST_TMP/console" || fail "the recipe's FWCFG --file NOTES: $(grep fwcfg "$TEST_TMP/console")"
grep -q "^fwcfg var.NOPE missing" "$TEST_TMP/console" || fail "a name nobody set is there in the guest: $(grep fwcfg "$TEST_TMP/console")"
echo "== stop"
"$SMOLC" stop "$name" >/dev/null || fail "stop failed"
started=0
echo ok
