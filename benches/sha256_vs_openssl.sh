#!/usr/bin/env bash
# Compares the streaming PayloadHasher (aws-lc-rs SHA-256, 16 KiB chunks) with
# `openssl speed -evp sha256` on the same machine and prints the ratio.
# Usage: benches/sha256_vs_openssl.sh   (from the repository root; needs openssl)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== openssl speed -evp sha256 -bytes 16384 -seconds 3"
ossl_out=$(openssl speed -evp sha256 -bytes 16384 -seconds 3 2>/dev/null)
echo "$ossl_out" | tail -3
# Last line: "sha256   <kB/s>k" (openssl reports 1000-byte kilobytes per second).
ossl_kbs=$(echo "$ossl_out" | awk '/^sha256/ {v=$NF} END {sub(/k$/, "", v); print v}')
ossl_mbs=$(awk -v k="$ossl_kbs" 'BEGIN {printf "%.1f", k / 1000}')

echo "== cargo bench --bench sign -- payload_hasher"
bench_out=$(cargo bench --bench sign -- payload_hasher 2>/dev/null)
echo "$bench_out" | grep -A3 'payload_hasher' | grep -E 'time|thrpt' || true
# criterion: "thrpt:  [low unit mid unit high unit]"; take the middle estimate.
read -r value unit < <(echo "$bench_out" | awk '/thrpt:/ {gsub(/\[|\]/, ""); print $4, $5; exit}')
ours_mbs=$(awk -v v="$value" -v u="$unit" 'BEGIN {
  f = 1;
  if (u == "GiB/s") f = 1073741824; else if (u == "MiB/s") f = 1048576; else if (u == "KiB/s") f = 1024;
  printf "%.1f", v * f / 1000000 }')

echo
echo "openssl sha256 (16 KiB blocks): ${ossl_mbs} MB/s"
echo "PayloadHasher (16 KiB chunks):  ${ours_mbs} MB/s"
awk -v a="$ours_mbs" -v b="$ossl_mbs" 'BEGIN {printf "ratio: %.1f %% of openssl (target >= 90 %%)\n", 100 * a / b}'
