#!/bin/sh
# Side-by-side timing of the training step against PyTorch/Opacus (issue 18): alternates the Rust
# bench `step_vs_opacus` and its twin `step_vs_opacus.py`, REPEATS times for each thread count, so
# background load hits both alike. Usage: sh training/benches/side_by_side.sh [python] (default python3;
# the Python side needs `pip install torch opacus`). Prints the load, then one line per run.
set -eu
PY=${1:-python3}
HERE=$(dirname "$0")
REPEATS=${REPEATS:-3}
cargo bench -p vg-training --bench step_vs_opacus --no-run -q
for threads in 1 2; do
    for i in $(seq "$REPEATS"); do
        echo "threads $threads, repeat $i: $(uptime)"
        RAYON_NUM_THREADS=$threads MIMALLOC_PURGE_DELAY=-1 STEP_ROUNDS=${STEP_ROUNDS:-7} cargo bench -q -p vg-training --bench step_vs_opacus | tail -n 1
        "$PY" "$HERE/step_vs_opacus.py" --threads "$threads" --rounds "${STEP_ROUNDS:-7}" 2>/dev/null | tail -n 1
    done
done
