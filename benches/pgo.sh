#!/usr/bin/env bash
# A profile-guided (PGO) release build of the proxy, at target/pgo/sigv4-proxy.
#
# rustc builds an instrumented proxy, which then serves a training load on 127.0.0.1:
# small GETs, 4 KiB POSTs and 1 MiB PUTs at 1 and 64 connections, to a plain HTTP
# upstream and to an HTTPS one (so the TLS client path is trained too, as every real
# AWS upstream is HTTPS). The counts it records lay out and inline the real build for
# that path. The result behaves exactly as the plain release build; only its speed
# differs (docs/benchmarks.md, "Session 8"). Compare them side by side with
#
#   BINS="target/release/sigv4-proxy target/pgo/sigv4-proxy" ROUNDS=5 benches/ab.sh
#
# Takes about 12 minutes on the 2-core VM (two release builds). Env: TRAIN_SECONDS
# (seconds per training run, default 3). Needs rustup's llvm-tools (installed here if
# missing) and wrk (installed here if missing).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TRAIN_SECONDS="${TRAIN_SECONDS:-3}"
HOST="$(rustc -vV | sed -n 's/^host: //p')"
OUT="$REPO/target/pgo"
DATA="$OUT/data"
PROFDATA="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata"

ensure_cmd wrk wrk
if [ ! -x "$PROFDATA" ]; then
    command -v rustup >/dev/null || {
        log "no $PROFDATA, and no rustup to install it: this needs the llvm-profdata of rustc's own LLVM ($(rustc -vV | sed -n 's/^LLVM version: //p'))"
        exit 1
    }
    log "installing rustup's llvm-tools (for llvm-profdata)"
    rustup component add llvm-tools
fi
build_release # bench_upstream, and the plain build to compare with

# Building with --target applies RUSTFLAGS to the proxy only, not to build scripts,
# which would otherwise write profiles of their own.
pgo_build() {
    local dir="$1" flags="$2"
    (cd "$REPO" && RUSTFLAGS="$flags" cargo build --release --quiet --locked \
        --target "$HOST" --target-dir "$OUT/$dir" --bin sigv4-proxy)
}

log "building the instrumented proxy ($OUT/gen)"
rm -rf "$DATA"
mkdir -p "$DATA"
pgo_build gen "-Cprofile-generate=$DATA"

# train NAME UPSTREAM_URL: the training load through an instrumented proxy in front
# of UPSTREAM_URL; the proxy writes its profile when it exits.
train() {
    local name="$1" upstream="$2" script conns
    PROXY_BIN="$OUT/gen/$HOST/release/sigv4-proxy" start_proxy "$name" "$upstream"
    for script in "$REPO/benches/wrk_get.lua" "$REPO/benches/wrk_post.lua" "$BENCH_TMP/put_1m.lua"; do
        for conns in 64 1; do
            wrk -t"$((conns > 1 ? 2 : 1))" -c"$conns" -d"${TRAIN_SECONDS}s" -s "$script" \
                "http://$PROXY_ADDR" | grep '^RESULT' | sed "s|^|  $name $(basename "$script") c$conns: |"
        done
    done
    kill -INT "$PROXY_PID"
    wait "$PROXY_PID" || true
}
cat >"$BENCH_TMP/put_1m.lua" <<'EOF'
wrk.method = "PUT"
wrk.path = "/bench-bucket/object-1m"
wrk.body = string.rep("x", 1048576)
dofile(os.getenv("WRK_REPORT"))
EOF
export WRK_REPORT="$REPO/benches/wrk_report.lua"

log "training: plain HTTP upstream"
start_upstream
train http "$UPSTREAM_URL"
log "training: HTTPS upstream"
UPSTREAM_TLS=1 start_upstream
train https "$UPSTREAM_URL"

shopt -s nullglob
raw=("$DATA"/*.profraw)
[ "${#raw[@]}" -gt 0 ] || {
    log "no profile was written in $DATA"
    exit 1
}
"$PROFDATA" merge -o "$DATA/merged.profdata" "${raw[@]}"

log "building the optimised proxy ($OUT/use)"
pgo_build use "-Cprofile-use=$DATA/merged.profdata -Cllvm-args=-pgo-warn-missing-function=false"
cp "$OUT/use/$HOST/release/sigv4-proxy" "$OUT/sigv4-proxy"
log "built $OUT/sigv4-proxy"
