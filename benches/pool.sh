#!/usr/bin/env bash
# Pools the rounds that `ROUNDS_LOG=FILE benches/load.sh` appended to one or more files
# (from separate runs), and prints per row: the number of rounds, the median
# proxy/direct ratio with its quartiles, how many rounds reached GOAL % (default 35),
# and the median added p50. One run's median swings by several points on a shared
# machine; many rounds from runs at different times say more about where a row lies.
#
#   ROUNDS_LOG=/tmp/r.tsv ROUNDS=5 CONNS=64 benches/load.sh   # run as often as wanted
#   benches/pool.sh /tmp/r.tsv [more.tsv ...]
#
# Input lines: time, upstream, request, conns, direct rps, proxy rps, direct p50 µs,
# proxy p50 µs, errors.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 ROUNDS_LOG [ROUNDS_LOG ...]" >&2; exit 2; }
GOAL="${GOAL:-35}"
printf '| upstream | request | conns | rounds | proxy/direct: median (quartiles) | rounds ≥ %s %% | added p50 ms: median | errors |\n' "$GOAL"
printf '|---|---|--:|--:|---|--:|--:|--:|\n'
cat "$@" | awk -F'\t' 'NF >= 9 && $5 > 0 { printf "%s|%s|%s\t%.6f\t%.6f\t%d\n", $2, $3, $4, $6 / $5, ($8 - $7) / 1000, $9 }' |
    sort -t$'\t' -k1,1 -k2,2n |
    awk -F'\t' -v goal="$GOAL" '
        function q(a, n, f,   x, i) { x = 1 + (n - 1) * f; i = int(x); return a[i] + (x - i) * (a[i + 1 > n ? n : i + 1] - a[i]) }
        function flush(   n, i, j, t, b) {
            n = k; if (!n) return
            # ratios arrive sorted; sort the added p50s (insertion sort, small n)
            for (i = 2; i <= n; i++) { t = p[i]; for (j = i - 1; j >= 1 && p[j] > t; j--) p[j + 1] = p[j]; p[j + 1] = t }
            for (i = 1; i <= n; i++) if (100 * r[i] >= goal) b++
            split(key, f, "|")
            printf "| %s | %s | %s | %d | %.1f %% (%.1f–%.1f) | %d of %d | %+.3f | %d |\n", f[1], f[2], f[3], n,
                100 * q(r, n, 0.5), 100 * q(r, n, 0.25), 100 * q(r, n, 0.75), b, n, q(p, n, 0.5), e
            k = 0; e = 0
        }
        $1 != key { flush(); key = $1 }
        { r[++k] = $2; p[k] = $3; e += $4 }
        END { flush() }'
