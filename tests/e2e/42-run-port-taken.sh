#!/bin/bash
# A published host port that is already taken: smolc names the port before
# starting QEMU, exits 1, and leaves no state and no QEMU behind — both in
# the foreground and with -d.
set -uo pipefail
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
export SMOLC_STATE_DIR=$TEST_TMP/state
unset QEMU_ACCEL
fail() { echo "FAIL: $*" >&2; exit 1; }

# A fake QEMU that records being started: it must never run here.
mkdir -p bin
cat > bin/qemu-system-x86_64 <<'Q'
#!/bin/sh
touch "$(dirname "$0")/../qemu-was-started"
exit 0
Q
chmod +x bin/qemu-system-x86_64
export SMOLC_QEMU=$PWD/bin/qemu-system-x86_64

# hold a port (and learn its number)
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
time.sleep(120)' > port.txt &
holder=$!
trap 'kill $holder 2>/dev/null' EXIT
for _ in $(seq 50); do [ -s port.txt ] && break; sleep 0.1; done
P=$(cat port.txt)
[ -n "$P" ] || fail "no port"

mkdir -p images
head -c 4096 /dev/zero > images/svc-amd64.kernel
truncate -s 1M images/svc-amd64.img
cat > images/svc-amd64.yaml <<Y
service: svc
arch: amd64
kernel: svc-amd64.kernel
image: svc-amd64.img
ports:
  - {host: $P, guest: 80}
Y

want="^smolc: host port $P (127.0.0.1/tcp) is already in use; publish guest port 80 on another host port with -p HOST:80, or on a free one with -p 80\$"
"$SMOLC" run --accel tcg svc >out 2>err; rc=$?
[ $rc -eq 1 ] || fail "foreground: exit $rc: $(cat err)"
grep -q "$want" err || fail "foreground message: $(cat err)"

"$SMOLC" run -d --accel tcg svc >out 2>err; rc=$?
[ $rc -eq 1 ] || fail "detached: exit $rc: $(cat err)"
grep -q "$want" err || fail "detached message: $(cat err)"
[ ! -e "$SMOLC_STATE_DIR/svc" ] || fail "state left behind: $(ls -la "$SMOLC_STATE_DIR/svc")"

# an extra -p on a taken port is caught the same way
sed -i '/ports:/,$d' images/svc-amd64.yaml
"$SMOLC" run --accel tcg -p "$P:22" svc >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "host port $P " err || fail "-p taken: exit $rc: $(cat err)"
[ ! -e qemu-was-started ] || fail "QEMU was started despite the taken port"

# the hint is true: -p replaces the config's taken port, and QEMU starts
printf 'ports:\n  - {host: %s, guest: 80}\n' "$P" >> images/svc-amd64.yaml
"$SMOLC" run --accel tcg -p 80 svc >out 2>err || fail "-p 80 with the config's port taken: $(cat err)"
[ -e qemu-was-started ] || fail "QEMU was not started with -p 80"
grep -q "^smolc: published 127.0.0.1:[0-9]* -> guest port 80/tcp$" err || fail "-p 80: $(cat err)"
echo ok
