#!/usr/bin/env bash
# bench/grade_curves.sh - loss against time of both parameterisations on the same
# photo, prompt and model, and the table docs/grading.md quotes.
#   bench/grade_curves.sh [MODEL_DIR] [PHOTO] [PROMPT] [CPU_SECONDS]
# Defaults: the shared tiny OpenAI model, chelsea.png, "cold teal night, high
# contrast", 60 CPU seconds per run. Writes build/grade_curves.csv.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SHARED=${DLUT_SHARED:-../shared}
model=${1:-$SHARED/data/clip-ref/openai_tiny}
photo=${2:-$SHARED/data/photos/chelsea.png}
prompt=${3:-cold teal night, high contrast}
secs=${4:-60}
make -s BUILD="$BUILD" "$BUILD/bench/bench_grade"
csv="$BUILD/grade_curves.csv"
"$BUILD/bench/bench_grade" curves "$model" "$photo" "$prompt" "$secs" "$csv"
/usr/bin/python3 - "$csv" <<'PY'
import csv, collections, sys
by = collections.defaultdict(list)
for r in csv.DictReader(open(sys.argv[1])):
    by[r["param"]].append(r)
ts = (0.5, 1, 2, 5, 10, 30, 60)
print("best L_total reached by CPU time (s):")
print("| param | CPU/step | " + " | ".join(f"{t} s" for t in ts) + " |")
for k, v in by.items():
    cells = []
    for t in ts:
        b = [float(r["best_total"]) for r in v if float(r["cpu_seconds"]) <= t]
        cells.append(f"{b[-1]:.3f}" if b else "-")
    per = float(v[-1]["cpu_seconds"]) / len(v)
    print(f"| {k} | {per*1000:.0f} ms | " + " | ".join(cells) + " |")
PY
