#!/usr/bin/env bash
# Idle-connection benchmark (issue 5): hold 10,000 concurrent idle keep-alive
# connections to sigv4-proxy (each after one proxied GET), report the proxy's RSS
# (/proc/PID/status VmRSS, VmHWM), check that a new request still succeeds while they
# are held, and that all of them are still usable after the hold.
#
#   benches/idle_conns.sh
#   N=20000 HOLD=30 MODE=connect benches/idle_conns.sh
#
# Env: N (10000), HOLD (seconds, 10; the proxy closes keep-alive connections idle for
# 30 s, see docs/benchmarks.md), MODE (request | connect). The open-file limit is
# raised to N + 1024 for this shell and its children (the proxy and the client); as
# root the hard limit is raised too when needed.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N="${N:-10000}"
HOLD="${HOLD:-10}"
MODE="${MODE:-request}"

need=$(( N + 1024 ))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
    ulimit -Hn "$need" || { log "cannot raise the hard open-file limit to $need (not root?)"; exit 1; }
fi
[ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need" ] && ulimit -Sn "$need"
log "open-file limit: soft $(ulimit -Sn), hard $(ulimit -Hn)"
ports="$(cut -f1,2 /proc/sys/net/ipv4/ip_local_port_range)"
read -r lo hi <<<"$ports"
if [ $(( hi - lo )) -lt "$N" ]; then
    log "ephemeral port range $lo-$hi is smaller than N=$N"
    exit 1
fi

build_release
start_upstream
start_proxy proxy "http://$UPSTREAM_ADDR"
log "sigv4-proxy pid $PROXY_PID on $PROXY_ADDR (limit: $(awk '/Max open files/ { print $4 }' /proc/"$PROXY_PID"/limits) files)"

status=0
python3 "$REPO/benches/idle_client.py" --addr "$PROXY_ADDR" -n "$N" --mode "$MODE" \
    --pid "$PROXY_PID" --hold "$HOLD" || status=$?
kill -0 "$PROXY_PID" 2>/dev/null || { log "the proxy died; its stderr:"; cat "$BENCH_TMP/proxy.err" >&2; exit 1; }
[ "$status" = 0 ] || { log "idle_client reported a failure (see RESULT lines)"; tail -5 "$BENCH_TMP/proxy.err" >&2; }
exit "$status"
