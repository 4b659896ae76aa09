#!/bin/bash
# smolc push --container: the container image of a stored image in an OCI
# registry (Debian's docker-registry on 127.0.0.1), read back by skopeo;
# a second push sends no layer again, and another image's push finds the
# runtime layer there. smolc k8s: a Deployment and a Service (parsed as
# YAML): the image reference, ports, resources from MEM/CPUS, the KVM
# device resource, a read-only root with an emptyDir /tmp, TCP liveness.
set -euo pipefail
. "$ROOT/tests/lib/common.sh"
. "$ROOT/tests/lib/registry.sh"
reg_have
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (tests/deps.sh)"
[ -x /bin/busybox ] || skip "busybox-static is not installed (tests/deps.sh)"
python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml is not installed (tests/deps.sh)"
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_DATA=$TEST_TMP/data TMPDIR=$TEST_TMP DOCKER_CONFIG=$TEST_TMP/docker

demo_recipe a one
demo_recipe b two
printf 'PORTS 8080:80\nMEM 384M\nCPUS 2\n' >>a/Smolfile
run "$SMOLC" build -q -o a/out -t web:1 a/Smolfile
expect_rc 0 "build web"
run "$SMOLC" build -q -o b/out -t other:1 b/Smolfile
expect_rc 0 "build other"
reg_start plain

run "$SMOLC" push --container web:1
expect_rc 2 "push --container without a registry"
assert_contains "$OUT" "web:1 names no registry; give a target REGISTRY/REPOSITORY[:TAG]" "message"
run "$SMOLC" push --container --json web:1 "$REG/smol/web"
expect_rc 0 "push --container"
assert_match "$OUT" "runtime layer +[0-9.]+ MiB +sha256:[0-9a-f]{12}… uploaded" "runtime layer uploaded"
mdig=$(printf '%s\n' "$OUT" | python3 -c 'import json,sys; print([json.loads(l) for l in sys.stdin if l.startswith("{")][0]["digest"])')
rt=$(printf '%s\n' "$OUT" | python3 -c 'import json,sys; print([json.loads(l) for l in sys.stdin if l.startswith("{")][0]["runtime_layer"])')
run skopeo inspect --tls-verify=false "docker://$REG/smol/web:1"
expect_rc 0 "skopeo inspect docker://"
python3 - "$OUT" "$mdig" "$rt" <<'PY' || fail "skopeo inspect: $OUT"
import json, sys
i = json.loads(sys.argv[1])
assert i["Digest"] == sys.argv[2], (i["Digest"], sys.argv[2])
assert i["Layers"][0] == sys.argv[3] and len(i["Layers"]) == 2, i["Layers"]
assert i["Labels"]["dev.smolc.memory"] == "384M" and i["Labels"]["dev.smolc.cpus"] == "2", i["Labels"]
PY
run skopeo copy --src-tls-verify=false "docker://$REG/smol/web:1" "oci:$TEST_TMP/fromreg:web"
expect_rc 0 "skopeo copy from the registry (every blob checked)"
# the same again: nothing uploaded; the same manifest
run "$SMOLC" push --container web:1 "$REG/smol/web"
expect_rc 0 "push --container again"
assert_not_contains "$OUT" "uploaded" "second push"
assert_contains "$OUT" "@$mdig" "the same manifest digest"
# another image into the same repository: the runtime layer is there already
run "$SMOLC" push --container other:1 "$REG/smol/web:other"
expect_rc 0 "push --container other"
assert_match "$OUT" "runtime layer +[0-9.]+ MiB +sha256:[0-9a-f]{12}… exists" "the runtime layer is shared"
assert_match "$OUT" "guest layer +[0-9.]+ KiB +sha256:[0-9a-f]{12}… uploaded" "its own guest layer"

# k8s
run "$SMOLC" k8s web:1 --image "$REG/smol/web:1"
expect_rc 0 "k8s"
printf '%s\n' "$OUT" >k8s.yaml
python3 - k8s.yaml "$REG/smol/web:1" <<'PY' || fail "k8s manifest: $(cat k8s.yaml)"
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert [d["kind"] for d in docs] == ["Deployment", "Service"], docs
dep, svc = docs
assert dep["apiVersion"] == "apps/v1" and svc["apiVersion"] == "v1"
sel = dep["spec"]["selector"]["matchLabels"]
assert dep["spec"]["template"]["metadata"]["labels"] == sel and svc["spec"]["selector"] == sel, (sel, svc)
pod = dep["spec"]["template"]["spec"]
c, = pod["containers"]
assert c["image"] == sys.argv[2], c["image"]
assert c["ports"] == [{"name": "p8080", "containerPort": 8080, "protocol": "TCP"}], c["ports"]
r = c["resources"]
assert r["requests"] == {"cpu": "2", "memory": "512Mi"}, r
assert r["limits"]["memory"] == "640Mi" and r["limits"]["devices.kubevirt.io/kvm"] == "1", r
assert c["securityContext"]["readOnlyRootFilesystem"] is True
assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
assert c["livenessProbe"]["tcpSocket"] == {"port": 8080}, c["livenessProbe"]
assert svc["spec"]["ports"] == [{"name": "p8080", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]
assert len(dep["spec"]["template"]["metadata"]["annotations"]["dev.smolc.image.key"]) == 64
PY
run "$SMOLC" k8s --no-kvm other:1
expect_rc 0 "k8s --no-kvm"
printf '%s\n' "$OUT" >k8s2.yaml
python3 - k8s2.yaml <<'PY' || fail "k8s --no-kvm: $(cat k8s2.yaml)"
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert [d["kind"] for d in docs] == ["Deployment"], docs   # no ports: no Service
c, = docs[0]["spec"]["template"]["spec"]["containers"]
assert c["image"] == "other:1" and "livenessProbe" not in c, c
assert "devices.kubevirt.io/kvm" not in c["resources"]["limits"], c
PY
run "$SMOLC" k8s nosuch:1
expect_rc 1 "k8s of a missing image"
assert_contains "$OUT" "smolc: k8s: no image nosuch:1 in the store" "message"
echo ok
