#!/usr/bin/env bash
# Where does the proxy spend its CPU under load? Samples the release proxy with
# `perf record -e cpu-clock` (software clock: works in VMs without PMU counters) while
# wrk drives small GETs (or 4 KiB POSTs) at 64 connections through it, then prints the
# top symbols by self time and by inclusive time.
#
#   benches/profile.sh                 # GET, 64 connections, 10 s
#   KIND=post CONNS=1 benches/profile.sh
#
# Needs perf (apt-get install linux-perf) and root or kernel.perf_event_paranoid <= 1.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KIND="${KIND:-get}"
CONNS="${CONNS:-64}"
DURATION="${DURATION:-10}"
export WRK_REPORT="$REPO/benches/wrk_report.lua"

ensure_cmd wrk wrk
ensure_cmd perf linux-perf
build_release
start_upstream
start_proxy proxy "http://$UPSTREAM_ADDR"
threads=2
[ "$CONNS" -lt 2 ] && threads=1
wrk -t"$threads" -c"$CONNS" -d2s -s "$REPO/benches/wrk_$KIND.lua" "http://$PROXY_ADDR" >/dev/null
cpu_ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat; }
p0=$(cpu_ticks "$PROXY_PID"); u0=$(cpu_ticks "$UPSTREAM_PID")
perf record -q -e cpu-clock -F 1999 -g -p "$PROXY_PID" -o "$BENCH_TMP/perf.data" -- sleep "$DURATION" &
perf_pid=$!
result="$(wrk -t"$threads" -c"$CONNS" -d"${DURATION}s" -s "$REPO/benches/wrk_$KIND.lua" "http://$PROXY_ADDR" | grep '^RESULT')"
p1=$(cpu_ticks "$PROXY_PID"); u1=$(cpu_ticks "$UPSTREAM_PID")
wait "$perf_pid" || true
printf '%s\n' "$result"
reqs="$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$result")"
hz="$(getconf CLK_TCK)"
awk -v p=$((p1 - p0)) -v u=$((u1 - u0)) -v n="$reqs" -v hz="$hz" 'BEGIN {
    printf "CPU per request (user+sys, incl. perf overhead): proxy %.1f us, bench_upstream %.1f us\n",
        p / hz / n * 1e6, u / hz / n * 1e6 }'
printf '\n## self time, top 40\n'
perf report -i "$BENCH_TMP/perf.data" --no-children --stdio --sort symbol -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | sed 's/[ -]*$//' | head -40 || true
printf '\n## by shared object\n'
perf report -i "$BENCH_TMP/perf.data" --no-children --stdio --sort dso -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | sed 's/[ -]*$//' | head -10 || true
printf '\n## inclusive time, top 40\n'
perf report -i "$BENCH_TMP/perf.data" --children --stdio --sort symbol -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | sed 's/[ -]*$//' | head -40 || true
