#!/bin/bash
# 33-build-robust:
#  - `kill -9` of a build at a random moment (3 times, on a set big enough
#    for the build to take about a second), then a rebuild with the same
#    cache succeeds and gives the same image as a clean build;
#  - two builds sharing one cache at the same time both succeed, same image;
#  - a build as a non-root user works; its image still has root-owned files.
set -eu
. "$ROOT/tests/lib/common.sh"

M="$TEST_TMP/mirror"
S="$M/$SETS_REL"
mkdir -p "$S" "$M/kernels"
# a bigger base (gzip: quick to make, ~1 s to build; the SHA512 list
# gives its name), a small etc
$MKSET --kind base --files 4000 --bytes 60000000 --sha512 "$S/SHA512" "$S/base.tgz"
$MKSET --kind etc --files 40 --sha512 "$S/SHA512" "$S/etc.tar.xz"
fake_kernel "$M/kernels/k"
ks=$(sha256sum "$M/kernels/k" | cut -d' ' -f1)
http_start "$M"
export SMOLC_MIRROR="$HTTP_URL"

mkdir -p svc && cd svc
cat >Smolfile <<EOF
FROM netbsd-10.1
SERVICE big
SETS base etc
KERNEL $HTTP_URL/kernels/k sha256:$ks
RC <<EOR
#!/bin/sh
echo big
EOR
EOF
# the reference: a clean build with its own cache
t0=$(date +%s.%N)
SMOLC_CACHE="$TEST_TMP/clean-cache" run "$SMOLC" build -o clean
t1=$(date +%s.%N)
expect_rc 0 "clean build"
ref=clean/big-amd64.img
assert_fsck_clean "$ref"
dur_ms=$(python3 -c "print(max(200, int(($t1 - $t0) * 1000)))")
t_log "clean build took ${dur_ms} ms"

# --- kill -9 at random points, then rebuild ---
export SMOLC_CACHE="$TEST_TMP/cache"
for round in 1 2 3; do
	# a fresh layer set each round (--no-cache) after the first, so the
	# kill lands in layer writing, not only in the no-op path
	extra=""
	[ "$round" -gt 1 ] && extra="--no-cache"
	delay_ms=$(python3 -c "import random; print(random.randint(20, $dur_ms))")
	"$SMOLC" build -q -o out $extra >"$TEST_TMP/killed-$round.log" 2>&1 &
	pid=$!
	t_track_pid "$pid"
	sleep "$(python3 -c "print($delay_ms / 1000)")"
	if kill -9 "$pid" 2>/dev/null; then
		t_log "round $round: killed after ${delay_ms} ms"
	else
		t_log "round $round: the build finished before ${delay_ms} ms"
	fi
	wait "$pid" 2>/dev/null || true
	# whatever the kill left, a rebuild with the same cache works
	run "$SMOLC" build -o out
	expect_rc 0 "rebuild after kill -9 (round $round, ${delay_ms} ms)"
	assert_same_file "$ref" out/big-amd64.img "image rebuilt after kill -9 (round $round)"
	assert_fsck_clean out/big-amd64.img
done
# no half-written file under a final name, and the temp files of the
# killed builds were swept by the rebuilds
for f in out/*; do
	case $f in
	out/big-amd64.img | out/big-amd64.kernel | out/big-amd64.yaml | out/big-amd64.stamp | out/big-amd64.layout) ;;  # .layout: the incremental update's record
	*) fail "left by a killed build: $f" ;;
	esac
done
# a dead build's temp image goes; a live build's (this shell's pid) stays
sh -c 'exit 0' & dead=$!
wait "$dead"
head -c 4096 /dev/zero > "out/big-amd64.img.tmp.$dead"
head -c 4096 /dev/zero > "out/big-amd64.img.tmp.$$"
run "$SMOLC" build -q -o out
expect_rc 0 "build beside stale temp files"
[ ! -e "out/big-amd64.img.tmp.$dead" ] || fail "the temp image of a dead build (pid $dead) was not removed"
[ -e "out/big-amd64.img.tmp.$$" ] || fail "the temp image of a live process (pid $$) was removed"
rm -f "out/big-amd64.img.tmp.$$"

# --- two builds at once, one cache ---
export SMOLC_CACHE="$TEST_TMP/shared-cache"
n_before=$(grep -c "^GET /$SETS_REL/base.tgz 200\$" "$HTTP_LOG")
"$SMOLC" build -q -o par1 >"$TEST_TMP/par1.log" 2>&1 &
p1=$!
t_track_pid "$p1"
"$SMOLC" build -q -o par2 >"$TEST_TMP/par2.log" 2>&1 &
p2=$!
t_track_pid "$p2"
rc1=0 rc2=0
wait "$p1" || rc1=$?
wait "$p2" || rc2=$?
assert_eq 0 "$rc1" "first concurrent build exit ($(cat "$TEST_TMP/par1.log"))"
assert_eq 0 "$rc2" "second concurrent build exit ($(cat "$TEST_TMP/par2.log"))"
assert_same_file "$ref" par1/big-amd64.img "first concurrent image"
assert_same_file "$ref" par2/big-amd64.img "second concurrent image"
# the big set was downloaded once for the two builds, not twice
n=$(grep -c "^GET /$SETS_REL/base.tgz 200\$" "$HTTP_LOG")
assert_eq $((n_before + 1)) "$n" "downloads of base.tgz (two builds sharing a cache download it once)"
assert_cache_sane "$SMOLC_CACHE"

# --- non-root user ---
if [ "$(id -u)" -eq 0 ]; then
	user=smolc-e2e
	if ! id "$user" >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /bin/sh "$user" 2>/dev/null ||
			skip "cannot create a non-root user with useradd"
		t_on_exit "userdel $user 2>/dev/null"
	fi
	nr="$(mktemp -d /tmp/smolc-e2e-nonroot.XXXXXX)"
	t_on_exit "rm -rf '$nr'"
	cp Smolfile "$nr/"
	# the user runs a copy of smolc (and of sets/ and services/): the
	# checkout may sit where it cannot go (a clone under a 0700 directory)
	mkdir "$nr/bin"
	cp "$SMOLC" "$(dirname "$SMOLC")"/libsmolc-backend${SMOLC_SAN:+-asan}.so "$nr/bin/"
	cp -R "$ROOT/sets" "$ROOT/services" "$nr/"
	NRSMOLC="$nr/bin/$(basename "$SMOLC")"
	chown -R "$user" "$nr"
	as_user() { runuser -u "$user" -- env HOME="$nr" SMOLC_CACHE="$nr/cache" SMOLC_DATA="$nr/data" SMOLC_MIRROR="$SMOLC_MIRROR" \
		SMOLC_DATADIR="$nr" SMOLC_COLOR=never ASAN_OPTIONS="${ASAN_OPTIONS:-}" "$@"; }
	runuser -u "$user" -- test -x "$NRSMOLC" || skip "$NRSMOLC is not executable by $user"
	run as_user sh -c "cd '$nr' && id -u && '$NRSMOLC' build"
	expect_rc 0 "build as $user"
	uid=$(printf '%s\n' "$OUT" | head -1)
	[ "$uid" -ne 0 ] || fail "the non-root build ran as uid 0"
	img="$nr/images/big-amd64.img"
	assert_same_file "$ref" "$img" "image built by $user"
	assert_eq "$(id -u "$user")" "$(stat -c %u "$img")" "owner of the image file on the host"
	assert_meta "$img" /etc/rc regular 0755 0 0
	assert_meta "$img" /usr/games/fortune regular 02555 0 13
	assert_meta "$img" /usr/bin/su regular 04555 0 0
	assert_fsck_clean "$img"
	# a POSTINST as non-root (bubblewrap with a user namespace)
	cat >>"$nr/Smolfile" <<'EOF'
POSTINST <<EOS
echo made-by-postinst > etc/motd
EOS
EOF
	run as_user sh -c "cd '$nr' && '$NRSMOLC' build"
	if [ "$RC" -ne 0 ] && printf '%s' "$OUT" | grep -q "bwrap\|namespace"; then
		t_log "POSTINST as $user not possible here: $OUT"
	else
		expect_rc 0 "build with POSTINST as $user"
		assert_eq made-by-postinst "$(dbg_cat "$img" /etc/motd)" "/etc/motd written by POSTINST as $user"
		assert_meta "$img" /etc/motd regular 0644 0 0
	fi
else
	run "$SMOLC" build -o nonroot
	expect_rc 0 "build as uid $(id -u)"
	assert_same_file "$ref" nonroot/big-amd64.img "image built as uid $(id -u)"
	assert_meta nonroot/big-amd64.img /etc/rc regular 0755 0 0
fi
echo ok
