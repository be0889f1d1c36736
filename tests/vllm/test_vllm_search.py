"""`assay search --generator vllm`: a model policy sampled by vLLM in process, reproducible by seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def search(tmp_path, name: str) -> tuple[list[dict], str]:
    out = tmp_path / f"{name}.jsonl"
    done = subprocess.run([sys.executable, "-m", "assay.cli.main", "search", "assay/modchain-v0", "--policy", "tiny",
                           "--generator", "vllm", "--scorer", "none", "--strategy", "majority", "-o", "n=4",
                           "--tasks", "3", "--budget", "64", "--max-new-tokens", "8", "--no-progress", "--output", str(out)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "VLLM_LOGGING_LEVEL": "INFO"})
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in out.read_text().splitlines()], done.stdout + done.stderr


def test_search_samples_a_model_policy_with_vllm_reproducibly(tmp_path):
    first, log = search(tmp_path, "a")
    again, _ = search(tmp_path, "b")
    assert "Resolved architecture" in log  # the engine's start-up: vLLM sampled
    assert len(first) == 3 and all(r["cost"]["steps"] > 0 for r in first)
    assert first == again  # request seeds derive from --seed
