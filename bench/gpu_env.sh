# Sourced by the GPU scripts (gpu_check.sh, and by hand before bench/gpu_train_smoke.py): makes
# assay importable on a bare GPU image without a build step and without network.
#
# The image has torch, triton, transformers, pytest and rich but not assay or gymnasium. assay is
# laid out from the source tree as its wheel would be (pyproject's package-dir); gymnasium (and
# Liger-Kernel / verl for the comparison rows) come from wheels in .whl/ when present (see
# bench/README.md for how to fetch them). Sets PY and PYTHONPATH.
PY=${PYTHON:-python3}
SITE=$(mktemp -d)
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .whl/*.whl || echo "gpu_env: wheel install failed" >&2
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
