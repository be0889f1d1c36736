#!/usr/bin/env bash
# One script for a fresh GPU machine: the kernels' CUDA correctness tests, then the kernel
# benchmark, in under 5 minutes. Run it from the repository root:
#
#     bash bench/gpu_check.sh            # results land in $OUT (default bench/results)
#
# The GPU image has torch, triton, pytest and rich but not assay or gymnasium, and no network.
# assay is laid out from the source tree as its wheel would be (pyproject's package-dir), with no
# build step; gymnasium (and Liger-Kernel / verl for the comparison rows) come from wheels in
# .whl/ when present (see bench/README.md for how to fetch them).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
SITE=$(mktemp -d)

if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .whl/*.whl || echo "gpu_check: wheel install failed" >&2
fi
$PY - "$SITE" <<'PYEOF'
import pathlib, shutil, sys, tomllib
cfg = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["tool"]["setuptools"]
site = pathlib.Path(sys.argv[1])
for package, folder in cfg["package-dir"].items():
    dst = site / package.replace(".", "/")
    dst.mkdir(parents=True, exist_ok=True)
    for f in pathlib.Path(folder).iterdir():
        if f.is_file():
            shutil.copy2(f, dst / f.name)
PYEOF
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
unset TRITON_INTERPRET

{
  echo "date: $(date -Is)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  $PY -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'device', torch.cuda.get_device_name())"
} 2>&1 | tee "$OUT/gpu_info.txt"

status=0
timeout 150 $PY -m pytest -q -p no:cacheprovider tests/kernels 2>&1 | tee "$OUT/gpu_tests.log" || status=1
timeout 90 $PY bench/profile_logprobs.py --out "$OUT/profile_logprobs.md" 2>&1 | tee "$OUT/profile.log" || status=1
timeout 240 $PY -m assay.cli.main bench kernels --device cuda --repeats 10 --out "$OUT/kernels_gpu.md" 2>&1 \
  | tee "$OUT/gpu_bench.log" || status=1
exit $status
