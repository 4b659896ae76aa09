#!/bin/bash
# smolc run on bad input: one clear line, exit 1 (2 for bad usage), and
# nothing left behind (no state directory, no QEMU).
set -uo pipefail
export SMOLC_STATE_DIR=$TEST_TMP/state
unset QEMU_ACCEL SMOLC_QEMU
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect CODE REGEX cmd...: exit code and a stderr line matching REGEX
expect() {
	local code=$1 re=$2; shift 2
	"$@" >out 2>err; local rc=$?
	[ "$rc" -eq "$code" ] || fail "$*: exit $rc, want $code; stderr: $(cat err)"
	grep -q -- "$re" err || fail "$*: stderr lacks /$re/: $(cat err)"
}

mkdir -p images
head -c 4096 /dev/zero > images/svc-amd64.kernel
truncate -s 1M images/svc-amd64.img
cat > images/svc-amd64.yaml <<'Y'
service: svc
arch: amd64
kernel: svc-amd64.kernel
image: svc-amd64.img
Y

# missing kernel / image: name the path, say to build
mv images/svc-amd64.kernel images/k.bak
expect 1 "^smolc: kernel $PWD/images/svc-amd64.kernel not found (from images/svc-amd64.yaml); run \`smolc build\` first$" \
	"$SMOLC" run --dry-run images/svc-amd64.yaml
mv images/k.bak images/svc-amd64.kernel
mv images/svc-amd64.img images/i.bak
expect 1 "image $PWD/images/svc-amd64.img not found.*smolc build" "$SMOLC" run svc
mv images/i.bak images/svc-amd64.img

# invalid / unreadable run config: path:line:col
printf 'service: svc\narch: amd64\nkernel: k\nimage: i\nmemory: lots\n' > images/bad.yaml
expect 1 "^smolc: images/bad.yaml:5:9: 'memory' must be a number" "$SMOLC" run images/bad.yaml
printf 'service: [svc\n' > images/broken.yaml
expect 1 "^smolc: images/broken.yaml:[0-9]*:[0-9]*: invalid YAML" "$SMOLC" run images/broken.yaml
expect 1 "^smolc: images/none.yaml: cannot read the run config: No such file or directory$" "$SMOLC" run images/none.yaml
printf 'service: svc\narch: amd64\n' > images/short.yaml
expect 1 "^smolc: images/short.yaml:1:1: missing required key 'kernel'$" "$SMOLC" run images/short.yaml

# unknown keys: a warning with the position, the run goes on
cp images/svc-amd64.yaml images/extra.yaml; echo 'colour: blue' >> images/extra.yaml
expect 0 "^smolc: images/extra.yaml:5:1: warning: unknown key 'colour'$" "$SMOLC" run --dry-run images/extra.yaml

# unknown service name, no target
expect 1 'no run config for "nosuch": images/nosuch-amd64.yaml not found; run `smolc build` first' "$SMOLC" run nosuch
mkdir empty; (cd empty && expect 2 "no target and no ./Smolfile" "$SMOLC" run) || exit 1

# bad usage: exit 2
expect 2 '^smolc: -p: port "80:": ports must be numbers' "$SMOLC" run --dry-run svc -p 80:
expect 2 '^smolc: -p: port "8o": expected \[ADDR:\]HOST:GUEST\[/tcp|/udp\], or GUEST\[/udp\] for a free host port$' "$SMOLC" run --dry-run svc -p 8o
expect 2 'unknown accelerator "warp"' "$SMOLC" run --dry-run svc --accel warp
expect 2 '^smolc: run: --json goes with --time (it prints the times as JSON)$' "$SMOLC" run --dry-run --json svc
# did-you-mean: only close, real commands
expect 2 "^Did you mean 'smolc stop'?$" "$SMOLC" stpo
"$SMOLC" push >out 2>err; [ $? -eq 2 ] && ! grep -q 'Did you mean' err || { echo "FAIL: push suggested: $(cat err)"; exit 1; }
"$SMOLC" rn >out 2>err; grep -qx "Did you mean 'smolc rm'?" err || grep -qx "Did you mean 'smolc run'?" err || { echo "FAIL: rn: $(cat err)"; exit 1; }
expect 2 '^smolc: -m 1T' "$SMOLC" run --dry-run svc -m 1T
expect 2 "^smolc: run: unknown option '--bogus'$" "$SMOLC" run --bogus svc
expect 2 'cannot be used with -d' "$SMOLC" run -d --console stdio svc
expect 2 'bad instance name' "$SMOLC" run -d --name '../x' svc
expect 2 'expected stdio, pty, none, tcp:PORT or file:PATH' "$SMOLC" run --dry-run --console serial svc

# QEMU not installed (PATH without it): say which Debian package
expect 1 '^smolc: qemu-system-x86_64 not found; install the Debian package qemu-system-x86$' \
	env PATH=/nonexistent "$SMOLC" run --accel tcg svc
expect 1 '^smolc: qemu-system-x86_64 not found; install the Debian package qemu-system-x86$' \
	env PATH=/nonexistent "$SMOLC" run -d --accel tcg svc
[ ! -e "$SMOLC_STATE_DIR/svc" ] || fail "state left after a failed -d"
echo ok
