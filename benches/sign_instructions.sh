#!/usr/bin/env bash
# Instructions per signature for this crate's signer and for aws-sigv4 1.6, counted by
# callgrind: a noise-free companion to `cargo bench --bench sign -- cpu_time` (which
# measures on-CPU time and so moves with the machine's load and frequency).
#
#   benches/sign_instructions.sh             # N1=10000 N2=20000
#   N1=20000 N2=40000 benches/sign_instructions.sh
#
# Builds examples/sign_count in release, runs it under callgrind for N1 and N2
# signatures of the benchmark's small GET (SQS ListQueues, warm key cache) and prints
# (Ir(N2) - Ir(N1)) / (N2 - N1): start-up, key derivation and the first-call costs cancel.
#
# Caveat: under valgrind aws-lc cannot use the SHA-NI instructions and runs its AVX
# SHA-256 (about 2.1k instructions per 64-byte block), so the SHA share here is larger
# than on a real CPU with SHA-NI. Compare counts between versions of this crate, not
# with nanoseconds.
#
# Needs valgrind (apt-get install valgrind).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N1="${N1:-10000}"
N2="${N2:-20000}"
ensure_cmd valgrind valgrind
cd "$REPO"
cargo build --release --quiet --example sign_count
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/sign_count"

# Total instructions (Ir) of one run of `sign_count WHICH N`.
count() {
    local out="$BENCH_TMP/callgrind.$1.$2"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" "$1" "$2" \
        >/dev/null 2>"$out.log"
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out"
}

per_sig() {
    local a b
    a="$(count "$1" "$N1")"
    b="$(count "$1" "$N2")"
    echo $(((b - a) / (N2 - N1)))
}

ours="$(per_sig ours)"
theirs="$(per_sig aws)"
printf 'instructions/signature sigv4-proxy (warm key cache): %d\n' "$ours"
printf 'instructions/signature aws-sigv4 1.6:                %d\n' "$theirs"
awk -v o="$ours" -v t="$theirs" 'BEGIN { printf "ratio:                                               %.1fx\n", t / o }'
