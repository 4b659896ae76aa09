#!/bin/bash
# smolc export: a stored image as an OCI container image, in the three
# formats, read back by skopeo (which checks every blob's digest); the
# config's ports, labels and memory; the QEMU argv in the guest layer is
# the one `smolc run` builds, with the ports on 0.0.0.0; two exports are
# byte-identical; two different images share the runtime layer (same
# digest); the errors a user can make. (Booting it: 87-container-podman.)
set -euo pipefail
. "$ROOT/tests/lib/common.sh"
. "$ROOT/tests/lib/registry.sh"
command -v skopeo >/dev/null || skip "skopeo is not installed (tests/deps.sh)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (tests/deps.sh)"
[ -x /bin/busybox ] || skip "busybox-static is not installed (tests/deps.sh)"
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_DATA=$TEST_TMP/data TMPDIR=$TEST_TMP

demo_recipe a one
demo_recipe b two
printf 'PORTS 8080:80\nPORTS 5353:53/udp\nMEM 192M\nLABEL org.example.team=smol\n' >>a/Smolfile
run "$SMOLC" build -q -o a/out -t one:1 a/Smolfile
expect_rc 0 "build one"
run "$SMOLC" build -q -o b/out -t two:1 b/Smolfile
expect_rc 0 "build two"

run "$SMOLC" export one:1 --format oci-dir od
expect_rc 0 "export oci-dir"
assert_match "$OUT" "runtime layer sha256:[0-9a-f]{12}… [0-9.]+ MiB \([0-9]+ files" "progress: runtime layer"
assert_contains "$OUT" "smolc: exported one:1 to od (oci-dir)" "summary"
assert_file od/oci-layout
run skopeo inspect oci:od:one:1
expect_rc 0 "skopeo inspect oci:od"
python3 - "$OUT" <<'PY' || fail "skopeo inspect: $OUT"
import json, sys
i = json.loads(sys.argv[1])
assert i["Architecture"] == "amd64" and i["Os"] == "linux", i
assert len(i["Layers"]) == 2, i["Layers"]
l = i["Labels"]
assert l["org.opencontainers.image.title"] == "demo", l
assert l["dev.smolc.memory"] == "192M" and l["dev.smolc.cpus"] == "1", l
assert len(l["dev.smolc.image.key"]) == 64, l
assert l["org.example.team"] == "smol", l
PY
run skopeo inspect --config oci:od:one:1
expect_rc 0 "skopeo inspect --config"
python3 - "$OUT" <<'PY' || fail "config: $OUT"
import json, sys
c = json.loads(sys.argv[1])
cc = c["config"]
assert cc["Entrypoint"] == ["/usr/lib/smolc/entrypoint"], cc
assert sorted(cc["ExposedPorts"]) == ["5353/udp", "8080/tcp"], cc
assert c["rootfs"]["type"] == "layers" and len(c["rootfs"]["diff_ids"]) == 2, c
PY
# skopeo copy reads and checks every blob
run skopeo copy oci:od:one:1 "dir:$TEST_TMP/copied"
expect_rc 0 "skopeo copy oci: -> dir:"

# the guest layer: the files and the argv `smolc run` builds
mkdir guest && tar -xzf "od/blobs/sha256/$(python3 -c '
import json; m = json.load(open("od/index.json"))["manifests"][0]["digest"][7:]
print(json.load(open("od/blobs/sha256/" + m))["layers"][1]["digest"][7:])')" -C guest
for f in disk.img kernel run.yaml argv.kvm argv.tcg service; do assert_file "guest/smolc/$f"; done
assert_same_file a/out/demo-amd64.img guest/smolc/disk.img "the disk in the guest layer"
tcg=$(cat guest/smolc/argv.tcg)
assert_eq "/usr/bin/qemu-system-x86_64" "$(head -n 1 guest/smolc/argv.tcg)" "argv[0]"
assert_contains "$tcg" "hostfwd=tcp:0.0.0.0:8080-:80,hostfwd=udp:0.0.0.0:5353-:53" "ports on the container's interface"
assert_contains "$tcg" $'\n-accel\ntcg\n' "TCG argv"
assert_contains "$(cat guest/smolc/argv.kvm)" $'\n-accel\nkvm\n-cpu\nhost,+invtsc\n' "KVM argv"
assert_contains "$tcg" $'\n-kernel\n/smolc/kernel\n' "kernel path"
assert_contains "$tcg" $'\n-serial\nmon:stdio\n' "console on stdout"
# the same argv as smolc run's (one place builds it): only paths and addresses differ
run env QEMU_ACCEL=tcg "$SMOLC" run --dry-run one:1
expect_rc 0 "run --dry-run"
python3 - "$OUT" guest/smolc/argv.tcg "$SMOLC_DATA" <<'PY' || fail "argv differs from smolc run's"
import shlex, sys, re
line = [l for l in sys.argv[1].splitlines() if "qemu-system" in l][-1]
run = shlex.split(line[line.index("qemu-system"):])
exp = open(sys.argv[2]).read().split("\n")[:-1]
norm = lambda a: [re.sub(r"tsc_early_khz=\d+", "", re.sub(r"/\S*/images/[0-9a-f]{64}/disk.img", "/smolc/disk.img",
        re.sub(r"/\S*/images/[0-9a-f]{64}/kernel", "/smolc/kernel", x))).replace("127.0.0.1", "0.0.0.0")
        for x in a]
r, e = norm(run), norm(exp)
r[0] = e[0] = "qemu"
assert r == e, (r, e)
PY

# reproducible: the same image exports to the same bytes
run "$SMOLC" export -q one:1 --format oci-archive one-a.tar
expect_rc 0 "export oci-archive"
sleep 1
run "$SMOLC" export -q one:1 --format oci-archive one-b.tar
expect_rc 0 "export oci-archive again"
cmp one-a.tar one-b.tar || fail "two exports of one image differ"
# the runtime layer was remembered in the cache; a damaged copy is made again
ls "$SMOLC_CACHE"/containers/*.tar.gz >/dev/null 2>&1 || fail "no cached runtime layer"
run "$SMOLC" cache ls
assert_match "$OUT" "^memo +[0-9a-f]{16} +[0-9.]+ MiB .* container runtime layer \(smolc export\)" "cache ls lists it"
run "$SMOLC" export one:1 --format oci-archive one-d.tar
expect_rc 0 "export with the cached runtime layer"
assert_match "$OUT" "runtime layer sha256:[0-9a-f]{12}… .* busybox\) CACHED" "the runtime layer is reused"
for f in "$SMOLC_CACHE"/containers/*.tar.gz; do printf 'X' | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null; done
run "$SMOLC" export one:1 --format oci-archive one-e.tar
expect_rc 0 "export with a damaged cached runtime layer"
assert_not_contains "$OUT" "CACHED" "a damaged cached layer is not used"
cmp one-a.tar one-d.tar && cmp one-a.tar one-e.tar || fail "exports with and without the cache differ"
run skopeo inspect oci-archive:one-a.tar
expect_rc 0 "skopeo inspect oci-archive"
# another image: the same runtime layer, another guest layer
run "$SMOLC" export --json -q two:1 --format docker-archive two.tar
expect_rc 0 "export docker-archive"
two_rt=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["layers"][0]["digest"])' "$OUT")
run "$SMOLC" export --json -q one:1 --format oci-archive one-c.tar
one_rt=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["layers"][0]["digest"])' "$OUT")
one_g=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["layers"][1]["digest"])' "$OUT")
assert_eq "$one_rt" "$two_rt" "the runtime layer of two images"
run skopeo inspect docker-archive:two.tar
expect_rc 0 "skopeo inspect docker-archive"
assert_not_contains "$OUT" "$one_g" "the guest layers differ"
assert_contains "$OUT" '"dev.smolc.service": "demo"' "docker-archive labels"

# errors
run "$SMOLC" export nosuch:1 x.tar
expect_rc 1 "export of a missing image"
assert_contains "$OUT" "smolc: export: no image nosuch:1 in the store" "message"
run "$SMOLC" export one:1 --format zip x.tar
expect_rc 2 "bad --format"
assert_contains "$OUT" "--format zip: expected oci-dir, oci-archive or docker-archive" "message"
run "$SMOLC" export one:1 --format oci-dir od
expect_rc 1 "export onto an existing directory"
assert_contains "$OUT" "od already exists: remove it or choose another destination" "message"
run "$SMOLC" export one:1
expect_rc 2 "no destination"
ls "$TEST_TMP"/smolc-export.* >/dev/null 2>&1 && fail "work directory left behind"
echo ok
