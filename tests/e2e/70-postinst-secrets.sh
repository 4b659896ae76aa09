#!/bin/bash
# 70-postinst-secrets: POSTINST cannot read the host's secrets, and its
# resources are bounded.
#  - as root: /etc/shadow, a 0600 file under /root, /home, the SSH agent
#    socket named by $SSH_AUTH_SOCK and the host's environment are out of
#    the script's reach; nothing of them lands in the image;
#  - `truncate -s 100G` is an error from the file's size, before its data
#    is read; a fork bomb stops at the process cap.
set -eu
. "$ROOT/tests/lib/common.sh"
postinst_setup
[ "$(id -u)" = 0 ] || skip "the secrets test runs as root (the case where uid 0 owns them)"

secret="/root/smolc-e2e-secret-$$"
echo "ROOT-ONLY-SECRET-$$" >"$secret"
chmod 0600 "$secret"
t_on_exit "rm -f $secret"
sock="$TEST_TMP/agent.sock"
python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); time.sleep(600)' "$sock" &
t_on_exit "kill $! 2>/dev/null; true"
for i in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
export SSH_AUTH_SOCK="$sock" SMOLC_E2E_HOST_SECRET="host-env-$$"

mkdir -p svc && cd svc
recipe() {
	printf 'FROM netbsd-10.1\nSERVICE pi\nSETS base etc\nKERNEL %s sha256:%s\nPOSTINST %s<<'"'"'EOS'"'"'\n%s\nEOS\n' \
		"$SMOLC_MIRROR_URL/$KERNEL_REL" "$KERNEL_SHA256" "${2:-}" "$1" >Smolfile
}
http_start "$M"
export SMOLC_MIRROR="$HTTP_URL" SMOLC_MIRROR_URL="$HTTP_URL"
recipe 'cat /etc/shadow > etc/stolen-shadow 2>/dev/null && echo "GOT SHADOW" || echo "shadow: refused"
cat '"$secret"' > etc/stolen-root 2>/dev/null && echo "GOT ROOT FILE" || echo "root: refused"
ls /home > etc/stolen-home 2>/dev/null && echo "GOT HOME" || echo "home: refused"
test -S "'"$sock"'" && echo "SEES AGENT" || echo "agent: unreachable"
env > etc/env-dump
echo "uid=$(id -u)"'
run "$SMOLC" build
expect_rc 0 "build with a snooping POSTINST"
for w in shadow root home; do assert_contains "$OUT" "$w: refused" "$w"; done
assert_contains "$OUT" "agent: unreachable" "SSH agent socket"
assert_contains "$OUT" "uid=65534" "the script runs unprivileged"
img=images/pi-amd64.img
assert_eq "" "$(dbg_cat "$img" /etc/stolen-shadow)" "nothing of /etc/shadow in the image"
assert_eq "" "$(dbg_cat "$img" /etc/stolen-root)" "nothing of the /root file in the image"
envd=$(dbg_cat "$img" /etc/env-dump)
assert_not_contains "$envd" "SMOLC_E2E_HOST_SECRET" "host environment"
assert_not_contains "$envd" "SSH_AUTH_SOCK" "SSH_AUTH_SOCK"

# a 100 GiB sparse file: refused from its size
recipe 'truncate -s 100G big.img' '--timeout=60 '
run "$SMOLC" build -o out-big
expect_rc 1 "truncate -s 100G"
assert_match "$OUT" 'error: .*"/?big\.img" is 107374182400 bytes; the image.s ext2 \(without large_file\) holds files below 2 GiB' "100G message"

# a fork bomb stops at the cap
recipe 'i=0; while [ $i -lt 3000 ]; do sleep 120 & i=$((i+1)); done; echo "FORKED ALL"' '--timeout=120 '
run "$SMOLC" build -o out-fork
expect_rc 1 "fork bomb"
assert_not_contains "$OUT" "FORKED ALL" "the process cap"
assert_match "$OUT" '[Cc]annot fork|Resource temporarily unavailable' "fork failure reported"
