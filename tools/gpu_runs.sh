#!/usr/bin/env bash
# Every GPU number in the README, and the shipped weights, come from this script.
#   bash tools/gpu_runs.sh speed        # step throughput, the seed recipe, the fast recipe
#   bash tools/gpu_runs.sh bf16         # the seed and fast recipes again, bfloat16 autocast
#   bash tools/gpu_runs.sh best [SEEDS] # the best recipe, one process per seed, side by side
# Runs land in $RUNS (default runs/gpu). The shipped weights are the best-recipe run with the
# highest validation accuracy (train/select_best.py); the test set plays no part in that choice.
set -euo pipefail
RUNS=${RUNS:-runs/gpu}
mkdir -p "$RUNS"
export PYTHONUNBUFFERED=1
train() { python -m train --device cuda --no-progress "$@"; }

case "${1:-speed}" in
  speed)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$RUNS/gpu.txt"
    python -m tools.train_benchmark --device cuda --steps 100 --blocks 3 --json "$RUNS/train_benchmark_gpu.json"
    train --recipe seed --run-dir "$RUNS/seed"
    train --recipe seed --epochs 1 --no-cuda-graphs --run-dir "$RUNS/seed-eager-1epoch"
    train --recipe fast --run-dir "$RUNS/fast"
    ;;
  bf16)
    python -m tools.train_benchmark --device cuda --steps 100 --blocks 3 --json "$RUNS/train_benchmark_gpu.json"
    train --recipe seed --bf16 --run-dir "$RUNS/seed-bf16"
    train --recipe fast --bf16 --run-dir "$RUNS/fast-bf16"
    ;;
  best)
    seeds=${2:-"0 1"}
    for seed in $seeds; do
      train --recipe best --seed "$seed" --run-dir "$RUNS/best-seed$seed" > "$RUNS/best-seed$seed.log" 2>&1 &
    done
    wait
    tail -n 3 "$RUNS"/best-seed*.log
    ;;
  *) echo "usage: $0 speed | bf16 | best [SEEDS]" >&2; exit 2 ;;
esac
