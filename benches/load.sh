#!/usr/bin/env bash
# Load benchmark (issue 5): requests/s and p50/p99 latency, direct to a local upstream
# vs through sigv4-proxy, for small GETs and 4 KiB POSTs at 1 and 64 connections, in
# one run; prints a markdown table. Speed is measured here, never asserted in tests.
#
#   benches/load.sh                      # bench_upstream (+ nginx if installable)
#   DURATION=10 WARMUP=2 NGINX=0 benches/load.sh
#   PROXY_LOG=info benches/load.sh       # keep the per-request access log (default warn)
#
# Env: DURATION (s, default 10), WARMUP (s, default 2), CONNS ("1 64"),
# WRK_THREADS (2; runs with fewer connections than threads use one thread per
# connection, as wrk requires), NGINX (1 = also nginx as upstream, 0 = skip; default
# 1), PROXY_LOG (the proxy's RUST_LOG, default warn), UPSTREAM_THREADS (2), FLOOR (1 =
# also examples/forward_floor, a bare hyper forwarder, in front of bench_upstream: the
# floor for any hyper-based proxy on this machine; 0 = skip), FLOOR_MODES ("conn
# tpc-conn": forward_floor with one upstream connection per client connection, as the
# proxy's affinity does, on tokio's work-stealing runtime and on one current-thread
# runtime per core as the proxy's workers; also "pool" and "tpc-pool" with hyper-util's
# pooled client), KINDS ("GET POST": which requests to run), ROUNDS (1: each direct/proxy pair is
# measured ROUNDS times back to back and the round with the median proxy/direct ratio
# is shown, with the range over all rounds in the last column; on this shared 2-core
# machine one run swings by 15 % or more), PROXY_BIN (the proxy binary to measure,
# default the release build), ROUNDS_LOG (a file: every round is appended to it as one
# tab-separated line, so rounds from several runs can be pooled with benches/pool.sh).
# Everything runs on 127.0.0.1 and is stopped on exit.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNS="${CONNS:-1 64}"
WRK_THREADS="${WRK_THREADS:-2}"
NGINX="${NGINX:-1}"
FLOOR="${FLOOR:-1}"
FLOOR_MODES="${FLOOR_MODES:-conn tpc-conn}"
KINDS="${KINDS:-GET POST}"
ROUNDS="${ROUNDS:-1}"
export WRK_REPORT="$REPO/benches/wrk_report.lua"

ensure_cmd wrk wrk
build_release

# run_wrk URL SCRIPT CONNS PID: warm-up, then the measured run; prints the RESULT line
# plus cpu_us=<CPU time (user+sys) PID spent per request during the measured run>.
run_wrk() {
    local url="$1" script="$2" conns="$3" pid="$4" threads="$WRK_THREADS" out c0 c1 reqs
    [ "$conns" -lt "$threads" ] && threads="$conns"
    wrk -t"$threads" -c"$conns" -d"${WARMUP}s" -s "$script" "$url" >/dev/null 2>&1 || true
    c0="$(cpu_ticks "$pid")"
    out="$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -s "$script" "$url" 2>&1)"
    c1="$(cpu_ticks "$pid")"
    printf '%s\n' "$out" >>"$BENCH_TMP/wrk.log"
    out="$(printf '%s\n' "$out" | grep -m1 '^RESULT ')" || { log "wrk failed:"; log "$out"; return 1; }
    reqs="$(field "$out" requests)"
    printf '%s cpu_us=%s\n' "$out" "$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.1f", n ? t / hz / n * 1e6 : 0 }')"
}

# CPU time (user+sys, clock ticks) used so far by PID (a multi-process server: the
# sum over its children too, e.g. nginx workers).
cpu_ticks() {
    local total=0 p
    for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        total=$(( total + $(awk '{ print $14 + $15 }' /proc/"$p"/stat 2>/dev/null || echo 0) ))
    done
    echo "$total"
}
CLK_TCK="$(getconf CLK_TCK)"

field() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<"$1"; }
ms() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1000 }'; }

start_upstream
log "bench_upstream on $UPSTREAM_ADDR (pid $UPSTREAM_PID)"
start_proxy proxy "http://$UPSTREAM_ADDR"
log "sigv4-proxy on $PROXY_ADDR (pid $PROXY_PID) -> $UPSTREAM_ADDR"
MAIN_PROXY_PID=$PROXY_PID

TARGETS=("bench_upstream|$UPSTREAM_ADDR|$PROXY_ADDR|$UPSTREAM_PID|$PROXY_PID")

if [ "$FLOOR" = 1 ]; then
    for mode in $FLOOR_MODES; do
        start_bg "floor-$mode" "$REPO/target/release/examples/forward_floor" "$mode" "$UPSTREAM_ADDR"
        FLOOR_PID=$LAST_PID
        FLOOR_ADDR="$(wait_line "$BENCH_TMP/floor-$mode.out" '^listening on ' | sed 's|.*http://||')"
        log "forward_floor $mode on $FLOOR_ADDR -> $UPSTREAM_ADDR"
        TARGETS+=("bench_upstream via forward_floor $mode (not the proxy)|$UPSTREAM_ADDR|$FLOOR_ADDR|$UPSTREAM_PID|$FLOOR_PID")
    done
fi

if [ "$NGINX" = 1 ]; then
    ensure_cmd nginx nginx-light
    mkdir -p "$BENCH_TMP/nginx"
    # Port: let the kernel pick one, then hand it to nginx (a tiny race, loopback only).
    NGINX_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    cat >"$BENCH_TMP/nginx/nginx.conf" <<NGX
worker_processes auto;
pid $BENCH_TMP/nginx/nginx.pid;
error_log $BENCH_TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path $BENCH_TMP/nginx/body;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / { return 200 "ok\n"; }
    }
}
NGX
    start_bg nginx nginx -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" -g 'daemon off;'
    NGINX_PID=$LAST_PID
    for _ in $(seq 50); do
        curl -sf "http://127.0.0.1:$NGINX_PORT/" >/dev/null 2>&1 && break
        sleep 0.1
    done
    start_proxy proxy-nginx "http://127.0.0.1:$NGINX_PORT"
    log "nginx on 127.0.0.1:$NGINX_PORT; sigv4-proxy on $PROXY_ADDR -> nginx"
    TARGETS+=("nginx|127.0.0.1:$NGINX_PORT|$PROXY_ADDR|$NGINX_PID|$PROXY_PID")
fi

# Sanity: one request each way, so a broken setup fails loudly instead of benchmarking
# error responses.
for t in "${TARGETS[@]}"; do
    IFS='|' read -r _ direct proxied _ _ <<<"$t"
    for addr in "$direct" "$proxied"; do
        code="$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary 'x' "http://$addr/bench-bucket/check")"
        [ "$code" = 200 ] || { log "POST http://$addr/ answered $code"; cat "$BENCH_TMP"/*.err >&2; exit 1; }
    done
done

log "running: ${#TARGETS[@]} upstream(s) x GET/POST x conns {$CONNS} x direct/proxy, ${WARMUP}s warm-up + ${DURATION}s each"
printf '\n'
printf 'load %s, %s cores, wrk %s threads, %ss per run (+%ss warm-up), %s round(s) per row, proxy RUST_LOG=%s\n\n' \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" "$WRK_THREADS" "$DURATION" "$WARMUP" "$ROUNDS" "${PROXY_LOG:-warn}"
printf '| upstream | request | conns | direct req/s | proxy req/s | proxy/direct | direct p50 ms | proxy p50 ms | added p50 ms | direct p99 ms | proxy p99 ms | upstream CPU µs/req | proxy CPU µs/req | errors (direct/proxy) | over the rounds: proxy/direct, added p50 ms |\n'
printf '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n'
for t in "${TARGETS[@]}"; do
    IFS='|' read -r name direct proxied upid ppid <<<"$t"
    for kind in $KINDS; do
        if [ "$kind" = GET ]; then script="$REPO/benches/wrk_get.lua"; label="GET"; else script="$REPO/benches/wrk_post.lua"; label="POST 4 KiB"; fi
        for c in $CONNS; do
            rows=""
            for _ in $(seq "$ROUNDS"); do
                d="$(run_wrk "http://$direct" "$script" "$c" "$upid")"
                p="$(run_wrk "http://$proxied" "$script" "$c" "$ppid")"
                d_err=$(( $(field "$d" connect_err) + $(field "$d" read_err) + $(field "$d" write_err) + $(field "$d" timeout) + $(field "$d" non2xx) ))
                p_err=$(( $(field "$p" connect_err) + $(field "$p" read_err) + $(field "$p" write_err) + $(field "$p" timeout) + $(field "$p" non2xx) ))
                if [ -n "${ROUNDS_LOG:-}" ]; then
                    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$name" "$label" "$c" \
                        "$(field "$d" rps)" "$(field "$p" rps)" "$(field "$d" p50_us)" "$(field "$p" p50_us)" "$(( d_err + p_err ))" >>"$ROUNDS_LOG"
                fi
                # One line per round: the sort key (ratio), the added p50, then the row.
                rows+="$(awk -v name="$name" -v label="$label" -v c="$c" \
                    -v drps="$(field "$d" rps)" -v prps="$(field "$p" rps)" \
                    -v d50="$(field "$d" p50_us)" -v p50="$(field "$p" p50_us)" \
                    -v d99="$(field "$d" p99_us)" -v p99="$(field "$p" p99_us)" \
                    -v ucpu="$(field "$d" cpu_us)" -v pcpu="$(field "$p" cpu_us)" \
                    -v derr="$d_err" -v perr="$p_err" 'BEGIN {
                        printf "%.4f %.3f | %s | %s | %d | %.0f | %.0f | %.1f %% | %.3f | %.3f | %+.3f | %.3f | %.3f | %.1f | %.1f | %d / %d |\n",
                            prps / drps, (p50 - d50) / 1000,
                            name, label, c, drps, prps, 100 * prps / drps,
                            d50 / 1000, p50 / 1000, (p50 - d50) / 1000, d99 / 1000, p99 / 1000, ucpu, pcpu, derr, perr
                    }')"$'\n'
            done
            # The median round by ratio, and the range of ratio and added p50 over all.
            printf '%s' "$rows" | sort -n | awk -v n="$ROUNDS" '
                NF { r[++k] = $1; a[k] = $2; line[k] = $0 }
                END {
                    m = int((k + 1) / 2); sub(/^[^|]*/, "", line[m])
                    amin = amax = a[1]
                    for (i = 2; i <= k; i++) { if (a[i] < amin) amin = a[i]; if (a[i] > amax) amax = a[i] }
                    if (n > 1) printf "%s median of %d: %.1f–%.1f %%, %+.3f to %+.3f |\n", line[m], k, 100 * r[1], 100 * r[k], amin, amax
                    else printf "%s 1 round |\n", line[m]
                }'
        done
    done
done
printf '\nproxy (in front of bench_upstream) memory after the run: %s\n' "$(grep -E '^VmHWM|^VmRSS' /proc/"$MAIN_PROXY_PID"/status | tr -s ' \t' ' ' | paste -sd, -)"
