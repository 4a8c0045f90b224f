#!/usr/bin/env bash
# Download benchmark: a large object streamed from the upstream to the client through
# the proxy's response path, against the same download direct. nginx (one worker,
# sendfile) serves a sparse SIZE file; curl fetches it directly and through each proxy
# build in turn, ROUNDS times. Prints MB/s, the proxy's CPU seconds per GiB
# (/proc/PID/stat) and its peak RSS. Speed is measured here, never asserted in tests.
#
#   benches/download.sh                          # SIZE=2G ROUNDS=3, the release build
#   BINS="/tmp/before /tmp/after" ROUNDS=4 benches/download.sh
#
# Env: SIZE (truncate size, default 2G), ROUNDS (3), BINS (proxy binaries; default the
# release build). Everything runs on 127.0.0.1 and is stopped on exit.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SIZE="${SIZE:-2G}"
ROUNDS="${ROUNDS:-3}"
BINS="${BINS:-$PROXY_BIN}"

ensure_cmd nginx nginx-light
ensure_cmd curl curl
build_release

mkdir -p "$BENCH_TMP/www" "$BENCH_TMP/nginx"
truncate -s "$SIZE" "$BENCH_TMP/www/object.bin"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# nginx's workers would run as nobody, who cannot read the private temp directory; as
# root they run as the user who started the script (the directive is ignored otherwise).
cat >"$BENCH_TMP/nginx/nginx.conf" <<NGX
user root;
worker_processes 1;
pid $BENCH_TMP/nginx/nginx.pid;
error_log $BENCH_TMP/nginx/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    server { listen 127.0.0.1:$PORT; location / { root $BENCH_TMP/www; } }
}
NGX
start_bg nginx nginx -p "$BENCH_TMP/nginx" -c "$BENCH_TMP/nginx/nginx.conf" -g 'daemon off;'
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.1
done

NAMES=()
PIDS=()
ADDRS=()
start_builds "http://127.0.0.1:$PORT"

hz="$(getconf CLK_TCK)"
# utime+stime (clock ticks) of PID so far.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# fetch URL [extra curl args]: prints "bytes bytes_per_second".
fetch() { curl -s -o /dev/null -w '%{size_download} %{speed_download}\n' "$@"; }

echo "$SIZE object, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| round | path | MB/s | proxy CPU s/GiB | proxy peak RSS MiB | bytes |"
echo "|--:|---|--:|--:|--:|--:|"
for round in $(seq "$ROUNDS"); do
    read -r bytes speed < <(fetch "http://127.0.0.1:$PORT/object.bin")
    awk -v r="$round" -v b="$bytes" -v s="$speed" 'BEGIN { printf "| %d | direct | %.0f | - | - | %d |\n", r, s / 1e6, b }'
    for k in "${!NAMES[@]}"; do
        pid="${PIDS[$k]}"
        c0="$(cpu "$pid")"
        read -r bytes speed < <(fetch -H 'host: s3.local' "${ADDRS[$k]}/object.bin")
        c1="$(cpu "$pid")"
        hwm="$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")"
        awk -v r="$round" -v n="${NAMES[$k]}" -v b="$bytes" -v s="$speed" -v t=$((c1 - c0)) -v hz="$hz" -v hwm="$hwm" 'BEGIN {
            printf "| %d | proxy %s | %.0f | %.2f | %.1f | %d |\n", r, n, s / 1e6, (b ? t / hz / (b / 2^30) : 0), hwm / 1024, b
        }'
    done
done
