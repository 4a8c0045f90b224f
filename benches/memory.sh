#!/usr/bin/env bash
# Memory benchmark (issue 5): a 5 GiB upload streamed through sigv4-proxy to the local
# bench_upstream, once per payload mode; reports the proxy's peak RSS (GNU time -v,
# "Maximum resident set size") and the upload throughput. Goal: peak RSS <= 64 MiB.
#
#   benches/memory.sh
#   SIZE=1G CASES="signed unsigned" benches/memory.sh
#
# Cases (CASES, default "direct signed unsigned chunked"):
#   direct    curl -> bench_upstream, no proxy (throughput baseline; no RSS)
#   signed    Content-Length upload, payload = "signed": hashed while spooled to
#             SPOOL_DIR, then streamed from the spool file (the spool path)
#   unsigned  Content-Length upload, payload = "unsigned" (UNSIGNED-PAYLOAD): streamed
#             straight through
#   chunked   chunked upload from a pipe (head -c SIZE /dev/zero | curl -T -),
#             payload = "signed": spooled because its length must be known
# curl is run with "Expect:" (no 100-continue handshake): with it, the direct
# curl -> bench_upstream upload ran at a third of its speed here, a client artefact
# that would make the baseline meaningless.
# The upload file is sparse (truncate -s), so it costs no disk; the signed spool writes
# SIZE bytes to SPOOL_DIR (default: a directory under $BENCH_TMPDIR or /tmp, removed
# on exit; the proxy's spool files are anonymous and vanish when closed).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SIZE="${SIZE:-5G}"
CASES="${CASES:-direct signed unsigned chunked}"
SPOOL_DIR="${SPOOL_DIR:-$BENCH_TMP/spool}"

ensure_cmd /usr/bin/time time
ensure_cmd curl curl
build_release

mkdir -p "$SPOOL_DIR"
truncate -s "$SIZE" "$BENCH_TMP/upload.bin"
BYTES="$(stat -c %s "$BENCH_TMP/upload.bin")"
need_kb=$(( BYTES / 1024 + 1024 * 1024 ))
avail_kb="$(df -Pk "$SPOOL_DIR" | awk 'NR == 2 { print $4 }')"
if [ "$avail_kb" -lt "$need_kb" ]; then
    log "spool dir $SPOOL_DIR has ${avail_kb} KiB free, needs ${need_kb} (set SPOOL_DIR)"
    exit 1
fi

start_upstream
log "bench_upstream on $UPSTREAM_ADDR; upload $BYTES bytes; spool dir $SPOOL_DIR"

# upload URL [stdin]: runs curl; prints "code received_bytes MB/s seconds".
upload() {
    local url="$1" mode="${2:-file}" w
    w='%{http_code} %{speed_upload} %{time_total}'
    if [ "$mode" = pipe ]; then
        w="$(head -c "$BYTES" /dev/zero | curl -sS -H "Expect:" -T - -o /dev/null -D "$BENCH_TMP/hdrs" -w "$w" "$url")"
    else
        w="$(curl -sS -H "Expect:" -T "$BENCH_TMP/upload.bin" -o /dev/null -D "$BENCH_TMP/hdrs" -w "$w" "$url")"
    fi
    local received
    received="$(tr -d '\r' <"$BENCH_TMP/hdrs" | awk -F': ' 'tolower($1) == "x-received-bytes" { print $2 }')"
    read -r code speed secs <<<"$w"
    awk -v c="$code" -v r="${received:-0}" -v s="$speed" -v t="$secs" \
        'BEGIN { printf "%s %s %.0f %.1f\n", c, r, s / 1e6, t }'
}

RESULTS=()
for case in $CASES; do
    if [ "$case" = direct ]; then
        read -r code received mbps secs <<<"$(upload "http://$UPSTREAM_ADDR/bench-bucket/big")"
        RESULTS+=("| direct (no proxy) | Content-Length | - | $mbps | $secs | $code, $received bytes arrived |")
        continue
    fi
    case "$case" in
        signed) payload=signed; mode="file"; framing="Content-Length" ;;
        unsigned) payload=unsigned; mode="file"; framing="Content-Length" ;;
        chunked) payload=signed; mode=pipe; framing="chunked" ;;
        *) log "unknown case $case"; exit 2 ;;
    esac
    cat >"$BENCH_TMP/proxy-$case.toml" <<TOML
[[listeners]]
name = "bench"
listen = "127.0.0.1:0"

[[listeners.routes]]
upstream = "http://$UPSTREAM_ADDR"
service = "s3"
region = "us-east-1"
payload = "$payload"

[body]
memory_threshold_bytes = 4194304
max_bytes = $BYTES
spool_dir = "$SPOOL_DIR"
TOML
    start_bg "proxy-$case" /usr/bin/time -v -o "$BENCH_TMP/time-$case.txt" \
        env RUST_LOG="${PROXY_LOG:-warn}" "$PROXY_BIN" serve --config "$BENCH_TMP/proxy-$case.toml"
    time_pid=$LAST_PID
    wait_line "$BENCH_TMP/proxy-$case.out" '^sigv4-proxy ready' >/dev/null
    addr="$(wait_line "$BENCH_TMP/proxy-$case.out" '^listening on ' | sed 's|.*http://||; s| .*||')"
    proxy_pid="$(cat /proc/"$time_pid"/task/*/children | tr ' ' '\n' | grep -m1 .)"
    log "$case: proxy pid $proxy_pid on $addr (payload=$payload, $framing)"
    read -r code received mbps secs <<<"$(upload "http://$addr/bench-bucket/big-$case" "$mode")"
    leftover="$(find "$SPOOL_DIR" -type f | wc -l)"
    kill -TERM "$proxy_pid"
    wait "$time_pid" || true
    rss_kb="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$BENCH_TMP/time-$case.txt")"
    rss="$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
    verdict="OK"
    [ "$code" = 200 ] && [ "$received" = "$BYTES" ] || verdict="FAILED: status $code, upstream got ${received:-?} bytes"
    RESULTS+=("| proxy, payload=$payload | $framing | $rss | $mbps | $secs | $verdict; spool files left: $leftover |")
done

printf '\n%s bytes uploaded per case, %s cores, load %s\n\n' "$BYTES" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| path | client framing | proxy peak RSS MiB | MB/s | seconds | result |\n'
printf '|---|---|--:|--:|--:|---|\n'
printf '%s\n' "${RESULTS[@]}"
