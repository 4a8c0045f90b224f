#!/usr/bin/env bash
# Paired A/B of proxy builds (issue 5): the same upstream, wrk load against each build in
# turn, ROUNDS times, so a noisy machine slows every build alike within a round; the
# builds run in the given order in odd rounds and in reverse in even ones, so that
# neither gains from its place in the round. Prints
# req/s, p50 and the server's user and system CPU per request (from /proc/PID/stat) for
# the upstream alone ("direct"), a bare forwarder ("floor", examples/forward_floor) and
# each build. Speed is measured here, never asserted in tests.
#
#   BINS="/tmp/before /tmp/after" benches/ab.sh
#   BINS="..." ROUNDS=6 CONNS=1 SCRIPT=benches/wrk_post.lua FLOOR_MODE=tpc-conn benches/ab.sh
#
# Env: BINS (proxy binaries; default the release build), ROUNDS (4), CONNS (64),
# DURATION (4 s per run, after 1 s of warm-up), SCRIPT (benches/wrk_get.lua),
# FLOOR_MODE (tpc-conn; "" to skip the floor), UPSTREAM_TLS (1: the upstream serves
# HTTPS and the proxies reach it over TLS; "direct" is then wrk over TLS, and there is
# no floor). Everything runs on 127.0.0.1.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS="${ROUNDS:-4}"
CONNS="${CONNS:-64}"
DURATION="${DURATION:-4}"
SCRIPT="${SCRIPT:-$REPO/benches/wrk_get.lua}"
FLOOR_MODE="${FLOOR_MODE-tpc-conn}"
BINS="${BINS:-$PROXY_BIN}"
export WRK_REPORT="$REPO/benches/wrk_report.lua"

ensure_cmd wrk wrk
build_release
start_upstream

NAMES=(direct)
PIDS=("$UPSTREAM_PID")
ADDRS=("$UPSTREAM_URL")
if [ -n "$FLOOR_MODE" ] && [ "${UPSTREAM_TLS:-0}" != 1 ]; then
    start_bg floor "$REPO/target/release/examples/forward_floor" "$FLOOR_MODE" "$UPSTREAM_ADDR"
    NAMES+=("floor")
    PIDS+=("$LAST_PID")
    ADDRS+=("$(wait_line "$BENCH_TMP/floor.out" '^listening on ' | sed 's|.*listening on ||')")
fi
# The builds follow direct (and the floor) in NAMES.
FIRST_BUILD=${#NAMES[@]}
start_builds "$UPSTREAM_URL"

threads=2
[ "$CONNS" -lt 2 ] && threads=1
# utime and stime (clock ticks) of PID so far.
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"
# direct (and the floor) first in every round, then the builds.
for round in $(seq "$ROUNDS"); do
    echo "round $round (load $(cut -d' ' -f1 /proc/loadavg))"
    order=($(seq 0 $((FIRST_BUILD - 1))))
    if [ $((round % 2)) = 1 ]; then
        order+=($(seq "$FIRST_BUILD" $((${#NAMES[@]} - 1))))
    else
        order+=($(seq $((${#NAMES[@]} - 1)) -1 "$FIRST_BUILD"))
    fi
    for k in "${order[@]}"; do
        addr="${ADDRS[$k]}" pid="${PIDS[$k]}"
        wrk -t"$threads" -c"$CONNS" -d1s -s "$SCRIPT" "$addr" >/dev/null 2>&1 || true
        read -r u0 s0 < <(ticks "$pid")
        out="$(wrk -t"$threads" -c"$CONNS" -d"${DURATION}s" --latency -s "$SCRIPT" "$addr" 2>&1 | grep -m1 '^RESULT ')" || {
            log "wrk failed against ${NAMES[$k]}"
            continue
        }
        read -r u1 s1 < <(ticks "$pid")
        awk -v name="${NAMES[$k]}" -v line="$out" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" 'BEGIN {
            n = line; sub(/.* requests=/, "", n); sub(/ .*/, "", n)
            rps = line; sub(/.* rps=/, "", rps); sub(/ .*/, "", rps)
            p50 = line; sub(/.* p50_us=/, "", p50); sub(/ .*/, "", p50)
            printf "  %-24s %9.0f req/s  p50 %6d us  user %5.1f  sys %5.1f us/req\n", name, rps, p50, u / hz / n * 1e6, s / hz / n * 1e6
        }'
    done
done
