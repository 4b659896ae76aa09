# registry.sh — a real OCI registry for the e2e tests (source it after
# common.sh): Debian's docker-registry ("distribution"), on 127.0.0.1 at a
# free port, storage under $TEST_TMP, stopped by t_cleanup.
#
#   reg_start NAME [--htpasswd FILE] [--tls CERT KEY]
#       sets REG (host:port), REG_PID, REG_DIR; waits until /v2/ answers
#   reg_stop                 stop the last one started
#   make_ca DIR              a CA and a server certificate for 127.0.0.1:
#                            DIR/ca.pem, DIR/server.pem, DIR/server.key
#   demo_recipe DIR          a tiny FROM scratch recipe (fake kernel) in DIR
#   reg_put_blob URL REPO FILE     upload FILE as a blob with curl (monolithic)
#   reg_put_manifest URL REPO TAG FILE   PUT an OCI manifest with curl

reg_have() {
	[ -x /usr/bin/docker-registry ] || skip "docker-registry is not installed (tests/deps.sh)"
	command -v skopeo >/dev/null || skip "skopeo is not installed (tests/deps.sh)"
}

reg_start() {
	local name=$1; shift
	local htp="" cert="" key=""
	while [ $# -gt 0 ]; do
		case $1 in
		--htpasswd) htp=$2; shift 2 ;;
		--tls) cert=$2; key=$3; shift 3 ;;
		*) fail "reg_start: unknown option $1" ;;
		esac
	done
	REG_DIR=$TEST_TMP/registry-$name
	mkdir -p "$REG_DIR/data"
	local port i scheme=http
	port=$(free_port)
	{
		printf 'version: 0.1\nlog:\n  level: error\n  accesslog: {disabled: true}\n'
		printf 'storage:\n  filesystem:\n    rootdirectory: %s\n  delete: {enabled: true}\n' "$REG_DIR/data"
		printf 'http:\n  addr: 127.0.0.1:%s\n  secret: smolc-test\n' "$port"
		if [ -n "$cert" ]; then
			printf '  tls:\n    certificate: %s\n    key: %s\n' "$cert" "$key"
			scheme=https
		fi
		if [ -n "$htp" ]; then
			printf 'auth:\n  htpasswd:\n    realm: smolc-test\n    path: %s\n' "$htp"
		fi
	} >"$REG_DIR/config.yml"
	/usr/bin/docker-registry serve "$REG_DIR/config.yml" >"$REG_DIR/log" 2>&1 &
	REG_PID=$!
	t_on_exit "kill $REG_PID 2>/dev/null; wait $REG_PID 2>/dev/null; true"
	REG=127.0.0.1:$port
	REG_URL=$scheme://$REG
	for i in $(seq 1 100); do
		kill -0 "$REG_PID" 2>/dev/null || fail "docker-registry died: $(cat "$REG_DIR/log")"
		curl -s -o /dev/null -k "$REG_URL/v2/" && return 0
		sleep 0.1
	done
	fail "docker-registry did not answer on $REG within 10 s: $(cat "$REG_DIR/log")"
}

reg_stop() {
	if [ -n "${REG_PID:-}" ]; then
		kill "$REG_PID" 2>/dev/null || true
		wait "$REG_PID" 2>/dev/null || true
	fi
	REG_PID=""
	return 0
}

make_ca() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=smolc test CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || fail "openssl: CA"
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server.key" -out "$d/server.csr" \
		2>/dev/null || fail "openssl: server key"
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-extfile "$d/ext" -out "$d/server.pem" 2>/dev/null || fail "openssl: sign"
}

demo_recipe() {
	local d=$1
	mkdir -p "$d"
	python3 -c 'import sys; sys.stdout.buffer.write(b"\x7fELF" + bytes(range(256)) * 600)' >"$d/kern"
	echo "${2:-hello}" >"$d/f"
	cat >"$d/Smolfile" <<-'EOF'
	FROM scratch
	SERVICE demo
	PROFILE linux
	KERNEL ./kern
	COPY f /etc/f
	RC <<'R'
	#!/bin/sh
	echo hi
	R
	EOF
}

# reg_put_blob BASEURL REPO FILE [CURL-ARGS…]: POST + PUT ?digest=
reg_put_blob() {
	local base=$1 repo=$2 file=$3; shift 3
	local d loc
	d=sha256:$(sha256sum "$file" | cut -d' ' -f1)
	loc=$(curl -fsS "$@" -X POST -D - -o /dev/null "$base/v2/$repo/blobs/uploads/" | tr -d '\r' |
		sed -n 's/^[Ll]ocation: //p')
	[ -n "$loc" ] || fail "no upload location from $base"
	case $loc in /*) loc=$base$loc ;; esac
	case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
	curl -fsS "$@" -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$loc" >/dev/null ||
		fail "blob upload of $file"
}

reg_put_manifest() {
	local base=$1 repo=$2 tag=$3 file=$4; shift 4
	curl -fsS "$@" -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary "@$file" "$base/v2/$repo/manifests/$tag" >/dev/null || fail "manifest upload"
}

# proxy_start NAME [regproxy.py options…]: tests/lib/regproxy.py in front of
# $REG; sets PROXY (host:port) and PROXY_LOG.
proxy_start() {
	local name=$1; shift
	local pf=$TEST_TMP/proxy-$name.port i pid
	PROXY_LOG=$TEST_TMP/proxy-$name.log
	: >"$PROXY_LOG"
	python3 "$ROOT/tests/lib/regproxy.py" --upstream "$REG" --port-file "$pf" --log "$PROXY_LOG" "$@" \
		2>"$TEST_TMP/proxy-$name.err" &
	pid=$!
	t_on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null; true"
	for i in $(seq 1 100); do
		[ -s "$pf" ] && break
		kill -0 "$pid" 2>/dev/null || fail "regproxy died: $(cat "$TEST_TMP/proxy-$name.err")"
		sleep 0.05
	done
	[ -s "$pf" ] || fail "regproxy did not start"
	PROXY=127.0.0.1:$(cat "$pf")
}
