#!/bin/bash
# 38-smolfile-fidelity: Dockerfile-like behaviour a build shows.
#  - LABEL across FROM <recipe>: the recipe's own LABEL wins over its base's
#    in the run config (a base's other labels are kept);
#  - a rescue set named by its path (rescue.tar) is linked like SETS rescue:
#    /sbin/init, /bin/sh and /sbin/mount_ext2fs point into /rescue.
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache"
python3 - <<'PY'
import io, tarfile
t = tarfile.open("rescue.tar", "w", format=tarfile.USTAR_FORMAT)
for name, typ, mode, data in [("./rescue", tarfile.DIRTYPE, 0o755, b""),
                              ("./rescue/init", tarfile.REGTYPE, 0o555, b"#!/bin/sh\n"),
                              ("./rescue/sh", tarfile.REGTYPE, 0o555, b"#!/bin/sh\n")]:
    ti = tarfile.TarInfo(name); ti.type = typ; ti.mode = mode; ti.size = len(data)
    t.addfile(ti, io.BytesIO(data) if data else None)
t.close()
PY
mkdir -p base app
mv rescue.tar base/
printf 'not a kernel\n' >base/kernel
cat >base/Smolfile <<'SMOL'
FROM scratch
SETS rescue.tar
KERNEL ./kernel
LABEL tier=base only=base
SMOL
cat >app/Smolfile <<'SMOL'
FROM base
LABEL tier=app
SMOL

cd app
run "$SMOLC" build -q -o out
assert_eq 0 "$RC" "build FROM base: $OUT"
y=$(cat out/app-amd64.yaml)
assert_contains "$y" 'tier: "app"' "the recipe's LABEL wins over its base's"
assert_contains "$y" 'only: "base"' "a base's other label is kept"

img=out/app-amd64.img
assert_eq "/rescue/init" "$(dbg "$img" "stat /sbin/init" | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')" "/sbin/init of a rescue set named by path"
assert_eq "/rescue/sh" "$(dbg "$img" "stat /bin/sh" | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')" "/bin/sh of a rescue set named by path"
echo ok
