# common.sh — shared helpers for tests/e2e/*.sh (source it; bash only).
#
# Every e2e script runs in a scratch cwd with ROOT (repo), SMOLC (binary)
# and TEST_TMP (scratch dir) set by tests/run.sh. These helpers:
#   - start/stop tests/lib/httpd.py on 127.0.0.1 (ephemeral port) and read
#     its request log;
#   - make synthetic NetBSD mirrors with tests/lib/mkset.py, through
#     tests/lib/fixture (made once, cached under build/fixtures);
#   - inspect images with debugfs / e2fsck / sgdisk (partition at 1 MiB);
#   - assert with messages that say what was expected and what was seen.
# Cleanup: `t_cleanup` runs on EXIT (trap set here): it stops the servers
# and any process registered with t_track_pid. Scripts that need their own
# EXIT work call t_on_exit "cmd".
set -u

: "${ROOT:?ROOT must be set (tests/run.sh sets it)}"
: "${TEST_TMP:=$(mktemp -d)}"
SMOLC=${SMOLC:-$ROOT/smolc}
FIXTURE=$ROOT/tests/lib/fixture
MKSET="$FIXTURE mkset"
PART_OFFSET=1048576
export SMOLC_COLOR=never

_T_PIDS=()
_T_EXIT_CMDS=()

t_track_pid() { _T_PIDS+=("$1"); }
t_on_exit() { _T_EXIT_CMDS+=("$1"); }

t_cleanup() {
	local c p
	for c in "${_T_EXIT_CMDS[@]+"${_T_EXIT_CMDS[@]}"}"; do eval "$c" || true; done
	for p in "${_T_PIDS[@]+"${_T_PIDS[@]}"}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	return 0
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

# ---- messages and assertions ----
t_log() { printf '# %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf '%s\n' "$*"; exit 77; }

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
	[ "$1" = "$2" ] || fail "$3: expected [$1], got [$2]"
}
# assert_contains HAYSTACK NEEDLE WHAT (fixed string)
assert_contains() {
	printf '%s' "$1" | grep -qF -- "$2" || fail "$3: expected to find [$2] in:
$1"
}
assert_not_contains() {
	if printf '%s' "$1" | grep -qF -- "$2"; then fail "$3: did not expect [$2] in:
$1"; fi
}
# assert_match TEXT ERE WHAT
assert_match() {
	printf '%s' "$1" | grep -qE -- "$2" || fail "$3: expected a match for /$2/ in:
$1"
}
assert_file() { [ -e "$1" ] || fail "expected file $1 to exist"; }
assert_no_file() { [ ! -e "$1" ] || fail "expected $1 not to exist"; }
assert_same_file() { cmp -s "$1" "$2" || fail "$3: $1 and $2 differ ($(cmp "$1" "$2" 2>&1 | head -1))"; }
# assert_lines N TEXT WHAT: TEXT has exactly N non-empty lines
assert_lines() {
	local n; n=$(printf '%s' "$2" | grep -c . || true)
	[ "$n" -eq "$1" ] || fail "$3: expected $1 line(s), got $n:
$2"
}

# run_smolc OUTVAR RCVAR args…: run $SMOLC capturing stdout+stderr.
# Sets $OUT (combined output) and $RC.
OUT="" RC=0
run() {
	set +e
	OUT=$("$@" 2>&1)
	RC=$?
	set -e
	return 0
}
# expect_rc N WHAT (after run)
expect_rc() {
	[ "$RC" -eq "$1" ] || fail "$2: expected exit $1, got $RC; output:
$OUT"
}

# ---- HTTP server ----
# http_start DIR [NAME]: serve DIR; sets HTTP_PORT, HTTP_URL, HTTP_LOG, HTTP_PID.
http_start() {
	local dir=$1 name=${2:-httpd}
	local pf="$TEST_TMP/$name.port"
	HTTP_LOG="$TEST_TMP/$name.log"
	HTTP_CONTROL="$TEST_TMP/$name.control"
	rm -f "$pf"
	: >"$HTTP_LOG"
	python3 "$ROOT/tests/lib/httpd.py" --root "$dir" --port-file "$pf" --log "$HTTP_LOG" \
		--control "$HTTP_CONTROL" 2>"$TEST_TMP/$name.err" &
	HTTP_PID=$!
	t_track_pid "$HTTP_PID"
	local i
	for i in $(seq 1 1200); do
		[ -s "$pf" ] && break
		kill -0 "$HTTP_PID" 2>/dev/null || fail "test HTTP server died: $(cat "$TEST_TMP/$name.err")"
		sleep 0.05
	done
	[ -s "$pf" ] || fail "test HTTP server did not start within 60 s"
	HTTP_PORT=$(cat "$pf")
	HTTP_URL="http://127.0.0.1:$HTTP_PORT"
}
http_stop() {
	[ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null && wait "$HTTP_PID" 2>/dev/null
	HTTP_PID=""
	return 0
}
# number of requests logged so far
http_count() { wc -l <"$HTTP_LOG" | tr -d ' '; }

# a TCP port on 127.0.0.1 nobody listens on
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---- synthetic NetBSD mirror ----
SETS_REL=pub/NetBSD/NetBSD-10.1/amd64/binary/sets
KERNEL_REL=kernels/netbsd-TEST
# make_mirror DIR [base-args…]: base.tar.xz (small by default), etc.tar.xz,
# rescue.tgz, SHA512 under DIR/$SETS_REL; a fake kernel at DIR/$KERNEL_REL.
# Sets KERNEL_SHA256. Extra args go to mkset.py for base.
make_mirror() {
	local dir=$1; shift
	local s="$dir/$SETS_REL"
	mkdir -p "$s" "$dir/kernels"
	rm -f "$s/SHA512"
	$MKSET --kind base --files "${BASE_FILES:-300}" --bytes "${BASE_BYTES:-2000000}" "$@" \
		--sha512 "$s/SHA512" "$s/base.tar.xz"
	$MKSET --kind etc --files 40 --sha512 "$s/SHA512" "$s/etc.tar.xz"
	$MKSET --kind rescue --bytes 200000 --sha512 "$s/SHA512" "$s/rescue.tgz"
	fake_kernel "$dir/$KERNEL_REL"
	KERNEL_SHA256=$(sha256sum "$dir/$KERNEL_REL" | cut -d' ' -f1)
}

# The POSTINST tests' start: bubblewrap as the sandbox (skip without it), a
# private cache, and a synthetic mirror; sets M (mirror) and S (its sets dir).
postinst_setup() {
	unset SMOLC_BWRAP
	[ -x /usr/bin/bwrap ] || skip "bubblewrap (/usr/bin/bwrap) is not installed"
	export SMOLC_CACHE="$TEST_TMP/cache"
	M="$TEST_TMP/mirror"
	make_mirror "$M" >/dev/null
	S="$M/$SETS_REL"
}

# misc_set DIR: write DIR/misc.tar.xz from a Python list E (on stdin) of
# ti(name, type, mode, uid=0, gid=0, data=None, link=None) entries (names
# "user" for non-zero ids, else root/wheel; one fixed mtime) and add its
# line to DIR/SHA512. `tarfile` is in scope for the entry types
# (tests/lib/mkmisc.py).
misc_set() { "$FIXTURE" misc "$1"; }

# fake_kernel FILE [REPEAT]: "\x7fELF" then bytes 0..255 REPEAT times (1000)
fake_kernel() { "$FIXTURE" kernel "$@"; }

# ---- images ----
# dbg IMG CMD: debugfs -R CMD on the ext2 partition; stdout only
# ---- NetBSD's own ext2fs driver as the judge (../shared/tools/netbsd-ext2fs) ----
# NBFS_DIR: the tool's directory (default: beside the project, as the brief
# says). nbfs_have: 0 when it is there; nbfs IMG CMD ARGS…: fsu_CMD on
# partition 1 (NetBSD's ls, cat, stat… of the guest's view); nbfsck IMG:
# NetBSD's fsck_ext2fs -f (exit 0 = nothing to fix).
nbfs_have() {
	local d
	for d in "${NBFS_DIR:-}" "$ROOT/../shared/tools/netbsd-ext2fs" /work/shared/tools/netbsd-ext2fs; do
		[ -n "$d" ] && [ -x "$d/bin/fsu_ls" ] && [ -x "$d/nbfsck" ] && { NBFS_DIR=$d; break; }
	done
	[ -n "${NBFS_DIR:-}" ] && [ -x "$NBFS_DIR/bin/fsu_ls" ] || return 1
	# its lib/ may hold its symlinks as small files naming their target
	# (a copy that lost them): make a library directory that works
	NBFS_LIB=$TEST_TMP/nbfs-lib
	mkdir -p "$NBFS_LIB"
	local f b
	for f in "$NBFS_DIR"/lib/*; do
		b=${f##*/}
		if [ ! -L "$f" ] && [ "$(stat -c %s "$f")" -lt 256 ] && ! head -c 4 "$f" | grep -q ELF; then
			ln -sf "$NBFS_DIR/lib/$(cat "$f")" "$NBFS_LIB/$b"
		else
			ln -sf "$f" "$NBFS_LIB/$b"
		fi
	done
}
nbfs() {
	local img=$1 cmd=$2; shift 2
	local fs="$TEST_TMP/nbfs-part.$$" first last
	first=$(sgdisk -i 1 "$img" | awk '/First sector/ {print $3}')
	last=$(sgdisk -i 1 "$img" | awk '/Last sector/ {print $3}')
	dd if="$img" of="$fs" bs=512 skip="$first" count=$((last - first + 1)) conv=sparse status=none
	LD_LIBRARY_PATH="$NBFS_LIB" "$NBFS_DIR/bin/fsu_$cmd" -t ext2fs "$fs" "$@" 2> >(grep -v "module 'nsmb'" >&2)
	local rc=$?
	rm -f "$fs"
	return $rc
}
nbfsck() { "$NBFS_DIR/nbfsck" "$1"; }

dbg() { debugfs -R "$2" "$1?offset=$PART_OFFSET" 2>/dev/null; }
# dbg_cat IMG PATH
dbg_cat() { dbg "$1" "cat $2"; }
# dbg_stat IMG PATH
dbg_stat() { dbg "$1" "stat $2"; }
# inode number of PATH
dbg_ino() { dbg "$1" "stat $2" | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }
# field of `stat`: mode (octal, 4 digits), uid, gid, links, type, size
dbg_field() {
	local s; s=$(dbg_stat "$1" "$2")
	case $3 in
	mode) printf '%s' "$s" | sed -n 's/.*Mode: *\([0-7]*\).*/\1/p' | head -1 ;;
	type) printf '%s' "$s" | sed -n 's/.*Type: \([A-Za-z ]*[A-Za-z]\) *Mode.*/\1/p' | head -1 ;;
	uid) printf '%s' "$s" | sed -n 's/.*User: *\([0-9]*\).*/\1/p' | head -1 ;;
	gid) printf '%s' "$s" | sed -n 's/.*Group: *\([0-9]*\).*/\1/p' | head -1 ;;
	links) printf '%s' "$s" | sed -n 's/.*Links: *\([0-9]*\).*/\1/p' | head -1 ;;
	size) printf '%s' "$s" | sed -n 's/.*Size: *\([0-9]*\).*/\1/p' | head -1 ;;
	*) fail "dbg_field: unknown field $3" ;;
	esac
}
# assert_meta IMG PATH TYPE MODE UID GID
assert_meta() {
	local img=$1 p=$2
	local s; s=$(dbg_stat "$img" "$p")
	[ -n "$s" ] || fail "$p: not in the image"
	assert_eq "$3" "$(dbg_field "$img" "$p" type)" "$p type"
	assert_eq "$4" "$(dbg_field "$img" "$p" mode)" "$p mode"
	assert_eq "$5" "$(dbg_field "$img" "$p" uid)" "$p uid"
	assert_eq "$6" "$(dbg_field "$img" "$p" gid)" "$p gid"
}
assert_in_image() { [ -n "$(dbg_stat "$1" "$2")" ] || fail "$2: expected in the image $1"; }
assert_not_in_image() { [ -z "$(dbg_stat "$1" "$2")" ] || fail "$2: expected NOT to be in the image $1"; }

# e2fsck -fn must report no problem
assert_fsck_clean() {
	local o rc
	set +e
	o=$(e2fsck -fn "$1?offset=$PART_OFFSET" 2>&1)
	rc=$?
	set -e
	[ "$rc" -eq 0 ] || fail "e2fsck -fn $1: exit $rc:
$o"
}
assert_gpt_ok() {
	local o
	o=$(sgdisk -v "$1" 2>&1) || fail "sgdisk -v $1 failed: $o"
	assert_contains "$o" "No problems found" "sgdisk -v $1"
}

# ---- builds ----
# steps lines "[i/n] title CACHED|built in" from a build log
cached_count() { printf '%s\n' "$1" | grep -cE '^\[[0-9]+/[0-9]+\] .* CACHED$' || true; }
built_count() { printf '%s\n' "$1" | grep -cE '^\[[0-9]+/[0-9]+\] .* built in [0-9.]+s$' || true; }
step_total() { printf '%s\n' "$1" | sed -n 's/^\[[0-9]*\/\([0-9]*\)\].*/\1/p' | head -1; }
# titles of the steps that were built (not cached)
built_steps() { printf '%s\n' "$1" | sed -nE 's/^\[[0-9]+\/[0-9]+\] (.*[^ ]) +built in [0-9.]+s$/\1/p'; }

# the cache must hold nothing half-written: no tmp leftovers, every layer dir complete
assert_cache_sane() {
	local c=$1
	[ -d "$c" ] || return 0
	local left
	left=$(find "$c/tmp" -mindepth 1 -maxdepth 1 2>/dev/null | head -5)
	[ -z "$left" ] || fail "cache $c: leftovers in tmp/: $left"
	left=$(find "$c" -name '*.tmp.*' 2>/dev/null | head -5)
	[ -z "$left" ] || fail "cache $c: temp files left: $left"
}
