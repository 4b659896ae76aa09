#!/bin/bash
# 73-copy-special: what a COPY step's key is made of, for context entries
# that are not plain readable files.
#  - a FIFO and an empty directory of the same mode have different keys:
#    replacing one with the other rebuilds the COPY step (it was CACHED,
#    with the FIFO left in the image);
#  - a file smolc cannot read has no digest: `smolc plan` shows it pending
#    (no key for the step, not a made-up one), `smolc build` stops with
#    exit 1 naming the file at the COPY line.
# FROM scratch with a local kernel: no mirror, no network.
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache" SMOLC_COLOR=never
echo kernel >kern
mkdir d
printf 'hello\n' >d/f
mkfifo -m 0644 d/p
printf 'FROM scratch\nKERNEL ./kern\nSERVICE sp\nCOPY d /srv/d/\n' >Smolfile
img=images/sp-amd64.img

run "$SMOLC" build
expect_rc 0 "build with a FIFO in the context"
assert_eq 1 "$(printf '%s\n' "$OUT" | grep -cE '^\[2/3\] COPY d /srv/d/ +built in')" "COPY built the first time"
PART_OFFSET=$(( $(sgdisk -i 1 "$img" | sed -n 's/^First sector: \([0-9]*\).*/\1/p') * 512 ))
assert_contains "$(dbg_stat "$img" /srv/d/p)" "Type: FIFO" "/srv/d/p is a FIFO"

# the same name and mode, now an empty directory
rm d/p
mkdir -m 0644 d/p
run "$SMOLC" build
expect_rc 0 "build after replacing the FIFO with a directory"
assert_eq 1 "$(printf '%s\n' "$OUT" | grep -cE '^\[2/3\] COPY d /srv/d/ +built in')" \
	"COPY rebuilt when a FIFO became a directory of the same mode"
assert_contains "$(dbg_stat "$img" /srv/d/p)" "Type: directory" "/srv/d/p is a directory"
rmdir d/p

# an unreadable source: as root, drop the capabilities that bypass modes
printf 'secret\n' >d/secret
chmod 000 d/secret
as_reader() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --bounding-set=-dac_override,-dac_read_search "$@"
	else
		"$@"
	fi
}
as_reader cat d/secret >/dev/null 2>&1 && fail "d/secret is readable even with mode 000: cannot test"
run as_reader "$SMOLC" plan --json
expect_rc 0 "plan with an unreadable COPY source"
copy=$(printf '%s' "$OUT" | python3 -c '
import json, sys
s = [s for s in json.load(sys.stdin)["steps"] if s["kind"] == "copy"][0]
d = {i["what"]: i["digest"] for i in s["inputs"]}
print("secret=%s f=%s layer=%s" % (d["file d/secret"], d["file d/f"] is not None, s["layer"]))')
assert_eq "secret=None f=True layer=None" "$copy" "plan: the unreadable file pending, the step without a key"
run as_reader "$SMOLC" build
expect_rc 1 "build with an unreadable COPY source"
assert_contains "$OUT" "Smolfile:4:1: error: COPY: cannot read ./d/secret: Permission denied" "build: the error names the file"
chmod 644 d/secret
run "$SMOLC" build
expect_rc 0 "build once the file is readable"
assert_eq secret "$(dbg_cat "$img" /srv/d/secret)" "/srv/d/secret in the image"
echo ok
