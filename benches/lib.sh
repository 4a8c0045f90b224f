# Shared helpers for the benchmark scripts in benches/ (sourced, not run).
#
# Provides: REPO (repository root), BENCH_TMP (a private temp dir removed on exit),
# ensure_cmd CMD PKG (apt-get install PKG if CMD is missing), build_release,
# start_bg NAME CMD... (start a process, remember it for cleanup, log to
# $BENCH_TMP/NAME.out/.err), wait_line FILE REGEX [SECS] (wait for a line, print it),
# start_builds UPSTREAM_URL (one proxy per binary in $BINS), and a trap that stops
# every process started with start_bg (TERM, then KILL).

# The variables set here (UPSTREAM_ADDR, PROXY_PID, ...) are read by the sourcing scripts.
# shellcheck disable=SC2034
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_TMP="$(mktemp -d "${BENCH_TMPDIR:-/tmp}/sigv4-bench.XXXXXX")"
BENCH_PIDS=()
# Dummy static credentials: the local upstream does not verify signatures, but the
# proxy signs every request exactly as it would for AWS.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-AKIDEXAMPLE}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY}"
PROXY_BIN="${PROXY_BIN:-$REPO/target/release/sigv4-proxy}"
UPSTREAM_BIN="$REPO/target/release/examples/bench_upstream"

bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# ensure_cmd CMD PKG: install the Debian package PKG when CMD is not on PATH.
ensure_cmd() {
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
        log "installing $2 (for $1)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
}

build_release() {
    log "building release binaries (cargo build --release --bin sigv4-proxy --example bench_upstream --example forward_floor)"
    (cd "$REPO" && cargo build --release --quiet --bin sigv4-proxy --example bench_upstream --example forward_floor)
}

# start_bg NAME CMD...: run CMD in the background, stdout to $BENCH_TMP/NAME.out,
# stderr to $BENCH_TMP/NAME.err; sets LAST_PID.
start_bg() {
    local name="$1"
    shift
    "$@" >"$BENCH_TMP/$name.out" 2>"$BENCH_TMP/$name.err" &
    LAST_PID=$!
    BENCH_PIDS+=("$LAST_PID")
}

# wait_line FILE REGEX [SECS]: print the first line of FILE matching REGEX, waiting up
# to SECS (default 30) for it; fails if it never appears.
wait_line() {
    local file="$1" re="$2" secs="${3:-30}" line
    for _ in $(seq $((secs * 10))); do
        line="$(grep -m1 -E "$re" "$file" 2>/dev/null || true)"
        if [ -n "$line" ]; then
            printf '%s\n' "$line"
            return 0
        fi
        sleep 0.1
    done
    log "timed out waiting for /$re/ in $file; its stderr:"
    cat "${file%.out}.err" >&2 2>/dev/null || true
    return 1
}

# start_upstream: starts bench_upstream on a free port; sets UPSTREAM_ADDR, UPSTREAM_URL
# and UPSTREAM_PID. UPSTREAM_TLS=1 serves HTTPS with a self-signed certificate, written
# to UPSTREAM_CA, which start_proxy then trusts (the route's ca_file).
start_upstream() {
    local tls=()
    UPSTREAM_CA=""
    UPSTREAM_SCHEME=http
    if [ "${UPSTREAM_TLS:-0}" = 1 ]; then
        UPSTREAM_CA="$BENCH_TMP/upstream-cert.pem"
        UPSTREAM_SCHEME=https
        tls=(--tls-cert-out "$UPSTREAM_CA")
    fi
    start_bg upstream "$UPSTREAM_BIN" --port 0 --threads "${UPSTREAM_THREADS:-2}" "${tls[@]}"
    UPSTREAM_PID=$LAST_PID
    UPSTREAM_ADDR="$(wait_line "$BENCH_TMP/upstream.out" '^listening on ' | sed 's|.*://||')"
    UPSTREAM_URL="$UPSTREAM_SCHEME://$UPSTREAM_ADDR"
}

# start_proxy NAME UPSTREAM_URL [extra serve args...]: starts the release proxy on a
# free port in front of UPSTREAM_URL (service s3, region us-east-1); sets PROXY_ADDR
# and PROXY_PID. RUST_LOG defaults to warn (PROXY_LOG=info keeps the access log).
start_proxy() {
    local name="$1" upstream="$2" route
    shift 2
    route=(--upstream "$upstream" --service s3 --region us-east-1)
    if [[ "$upstream" == https://* && -n "${UPSTREAM_CA:-}" ]]; then
        # Trusting the local upstream's certificate takes a route's ca_file: a file.
        printf '%s\n' '[[listeners]]' 'name = "bench"' 'listen = "127.0.0.1:0"' \
            '[[listeners.routes]]' "upstream = \"$upstream\"" 'service = "s3"' \
            'region = "us-east-1"' "ca_file = \"$UPSTREAM_CA\"" >"$BENCH_TMP/$name.toml"
        route=(--config "$BENCH_TMP/$name.toml")
    fi
    start_bg "$name" env RUST_LOG="${PROXY_LOG:-warn}" "$PROXY_BIN" serve \
        --listen 127.0.0.1:0 "${route[@]}" "$@"
    PROXY_PID=$LAST_PID
    wait_line "$BENCH_TMP/$name.out" '^sigv4-proxy ready' >/dev/null
    PROXY_ADDR="$(wait_line "$BENCH_TMP/$name.out" '^listening on ' | sed 's|.*http://||; s| .*||')"
}

# start_builds UPSTREAM_URL: starts one proxy per binary in $BINS in front of
# UPSTREAM_URL (start_proxy) and appends each one's name (binary#index), pid and
# URL (http://ADDR) to the NAMES, PIDS and ADDRS arrays, for scripts that compare builds.
start_builds() {
    local i=0 bin
    for bin in $BINS; do
        PROXY_BIN="$bin" start_proxy "proxy$i" "$1"
        NAMES+=("$(basename "$bin")#$i")
        PIDS+=("$PROXY_PID")
        ADDRS+=("http://$PROXY_ADDR")
        i=$((i + 1))
    done
}
