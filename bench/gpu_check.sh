#!/usr/bin/env bash
# One script for a fresh GPU machine: the kernels' CUDA correctness tests, the logprob profile,
# the segment kernels' tile sweep, the kernel benchmark, then the trainer's CUDA smoke run, in about 5 minutes. Run it from the repository root:
#
#     bash bench/gpu_check.sh            # results land in $OUT (default bench/results)
#
# The GPU image has torch, triton, pytest and rich but not assay or gymnasium, and no network.
# assay is laid out from the source tree as its wheel would be (pyproject's package-dir), with no
# build step; gymnasium (and Liger-Kernel / verl for the comparison rows) come from wheels in
# .whl/ when present (see bench/README.md for how to fetch them).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
source bench/gpu_env.sh

{
  echo "date: $(date -Is)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  $PY -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'device', torch.cuda.get_device_name())"
} 2>&1 | tee "$OUT/gpu_info.txt"

status=0
timeout 150 $PY -m pytest -q -p no:cacheprovider tests/kernels 2>&1 | tee "$OUT/gpu_tests.log" || status=1
timeout 120 $PY bench/profile_logprobs.py --out "$OUT/profile_logprobs.md" 2>&1 | tee "$OUT/profile.log" || status=1
timeout 100 $PY bench/profile_segments.py --out "$OUT/profile_segments.md" 2>&1 | tee "$OUT/profile_segments.log" || status=1
timeout 240 $PY -m assay.cli.main bench kernels --device cuda --repeats 10 --out "$OUT/kernels_gpu.md" 2>&1 \
  | tee "$OUT/gpu_bench.log" || status=1
timeout 150 $PY bench/gpu_train_smoke.py --steps 30 2>&1 | tee "$OUT/gpu_train_smoke.log" || status=1
exit $status
