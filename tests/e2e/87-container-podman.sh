#!/bin/bash
# The exported container runs the VM under podman (runc; rootful): export
# examples/hello (the Linux test guest, booted under TCG in the container),
# podman load + run -d -p 127.0.0.1:P:8080, the page answers through the
# port; podman stop ends it cleanly (QEMU stopped by the entrypoint, exit
# status 0); a guest whose /etc/rc exits 3 makes the container exit 3.
# podman's defaults do not fit these machines: crun refuses their cgroup
# set-up (runc is used) and its default ulimits exceed the hard limits
# (a containers.conf with lower nofile/nproc, via CONTAINERS_CONF).
# Storage lives under the test's temp dir and is removed afterwards.
set -euo pipefail
. "$ROOT/tests/lib/common.sh"
. "$ROOT/tests/guest/lib.sh"
command -v podman >/dev/null || skip "podman is not installed (tests/deps.sh)"
command -v runc >/dev/null || skip "runc is not installed (tests/deps.sh)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (tests/deps.sh)"
[ -x /bin/busybox ] || skip "busybox-static is not installed (tests/deps.sh)"
[ "$(id -u)" = 0 ] || skip "podman runs rootful here: the test needs root"
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_DATA=$TEST_TMP/data TMPDIR=$TEST_TMP
export CONTAINERS_CONF=$TEST_TMP/containers.conf
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
PS=$TEST_TMP/ps
pm() { podman --root "$PS/root" --runroot "$PS/run" --storage-driver vfs --runtime runc --cgroup-manager cgroupfs "$@"; }
cleanup() {
	pm rm -f -a -t 0 >/dev/null 2>&1
	pm rmi -a -f >/dev/null 2>&1
	rm -rf "$PS" 2>/dev/null
	return 0
}
t_on_exit cleanup
# podman itself must work here (not a regression of smolc when it cannot)
pm info >/dev/null 2>&1 || skip "podman cannot run here: $(pm info 2>&1 | tail -n 1)"

guest_prepare "$TEST_TMP/guest" || fail "could not prepare the test guest"
run "$SMOLC" build -q -o out --offline --build-arg GUEST="$TEST_TMP/guest" -t hello:ctr \
	"$ROOT/examples/hello/Smolfile"
expect_rc 0 "build examples/hello"
run "$SMOLC" export -q hello:ctr --format oci-archive hello.tar
expect_rc 0 "export hello"
run pm load -i hello.tar
expect_rc 0 "podman load"
assert_contains "$OUT" "Loaded image: localhost/hello:ctr" "the image's name"

port=$(free_port)
run pm run -d --name hello-ctr -p "127.0.0.1:$port:8080" localhost/hello:ctr
expect_rc 0 "podman run -d"
page=""
for i in $(seq 1 240); do
	page=$(curl -s -m 5 "http://127.0.0.1:$port/" 2>/dev/null) && [ -n "$page" ] && break
	[ "$(pm inspect hello-ctr --format '{{.State.Running}}')" = true ] ||
		fail "the container stopped: $(pm logs hello-ctr 2>&1 | tail -n 20)"
	sleep 1
done
assert_contains "$page" "<h1>Hello from a smolc micro-VM</h1>" "the page through the container's port"
run pm logs hello-ctr
assert_contains "$OUT" "smolc: booting hello under tcg" "the entrypoint chose TCG (no /dev/kvm here)"
assert_not_contains "$OUT" "Could not open option rom" "every ROM QEMU loads is in the runtime layer"
run pm stop -t 30 hello-ctr
expect_rc 0 "podman stop"
assert_eq 0 "$(pm inspect hello-ctr --format '{{.State.ExitCode}}')" "exit status after stop"
run pm logs hello-ctr
assert_contains "$OUT" "terminating on signal 15 from pid 1" "QEMU stopped by the entrypoint (not killed)"

# the guest's rc status is the container's
mkdir rc3 && cat >rc3/Smolfile <<EOF
FROM scratch
SERVICE rcthree
PROFILE linux
SETS $TEST_TMP/guest/busybox.tar.xz
KERNEL $TEST_TMP/guest/vmlinux
INITRD $TEST_TMP/guest/initrd
READONLY
RC <<'R'
#!/bin/sh
echo "rc: exiting 3"
exit 3
R
EOF
run "$SMOLC" build -q -o rc3/out -t rcthree:1 rc3/Smolfile
expect_rc 0 "build rcthree"
run "$SMOLC" export -q rcthree:1 --format docker-archive rc3.tar
expect_rc 0 "export rcthree (docker-archive)"
run pm load -i rc3.tar
expect_rc 0 "podman load docker-archive"
run timeout 600 podman --root "$PS/root" --runroot "$PS/run" --storage-driver vfs --runtime runc \
	--cgroup-manager cgroupfs run --name rc3 rcthree:1
expect_rc 3 "the container of a guest whose rc exits 3"
assert_contains "$OUT" "smolc: the guest's /etc/rc exited with status 3" "the entrypoint says why"
echo ok
