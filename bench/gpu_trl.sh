#!/usr/bin/env bash
# On a lent GPU machine: assay's GRPO trainer vs TRL's GRPOTrainer (bench/trl_compare.py), same
# model (Qwen2-0.5B's shape, random weights, built there) and settings, alternating runs. About
# 4 minutes on an H100. Run from the repository root with `.whl` and `.whl-trl` carried:
#
#     bash bench/gpu_trl.sh            # results land in $OUT (default bench/results)
#
# The image has accelerate, pandas, pyarrow and transformers but not trl, datasets, dill or
# multiprocess: their wheels travel in .whl-trl/ (bench/README.md says how to fetch them).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
source bench/gpu_env.sh  # sets PY, and SITE: the folder on PYTHONPATH the wheels go to
$PY -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .whl-trl/*.whl || echo "gpu_trl: wheel install failed" >&2
$PY -c "import pyarrow, datasets, trl, transformers; print('pyarrow', pyarrow.__version__, 'datasets', datasets.__version__, 'trl', trl.__version__, 'transformers', transformers.__version__)"
timeout 420 $PY bench/trl_compare.py --model qwen2-0.5b --precision bf16 --steps 5 --prompts 8 --group 8 \
  --max-new-tokens 128 --micro 16 --repeats 2 --out "$OUT/trl_compare.md" 2>&1 | tee "$OUT/trl_compare.log"
