#!/usr/bin/env bash
# Build every libFuzzer target in fuzz/ and run each for N seconds (default
# 20) from its seed corpus fuzz/corpus/<target>/ (if any). Fails on any crash.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
make -j"$(nproc)" fuzz >/dev/null
for f in build-fuzz/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  work=$(mktemp -d)
  [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/"
  echo "fuzz $name for ${secs}s"
  "$f" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 "$work" 2>&1 | tail -3
  rm -rf "$work"
done
