"""Trainer throughput on CPU: rollout (generation) and update (forward + backward) tokens per
second, split, for the built-in tiny model on the arithmetic environment.

    .venv/bin/python bench/train_throughput.py [--steps 12] [--out bench/results/train_throughput.md]

Two prompt styles, measured in the same run one after the other:
- ``long``: the environment's own prompt (a ~100-character instruction before the expression);
- ``terse``: ``prompt_format="{expression} ="``, as `make demo` and bench/learn_arith.py train.

Each style runs ``--steps`` GRPO steps (64 prompts x 8 samples, up to 8 new tokens) from a fresh
tiny model; the first step is a warm-up and is left out. Figures are medians over the other steps:
- rollout: generated tokens / rollout seconds (HFGenerator, batched ``model.generate``);
- update: response tokens (those carrying loss) / update seconds, and every token the update's
  forward reads (prompt + response) / update seconds.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import torch

from assay.trainer.config import GRPOConfig
from assay.trainer.grpo import GRPOTrainer

STYLES = {"long": None, "terse": "{expression} ="}


def measure(style: str, steps: int, work: Path) -> dict[str, float]:
    env_kwargs = {"difficulty": 1}
    if STYLES[style]:
        env_kwargs["prompt_format"] = STYLES[style]
    run_dir = work / style
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = GRPOConfig(env_kwargs=env_kwargs, run_dir=str(run_dir), steps=steps, prompts_per_step=64, group_size=8,
                     max_new_tokens=8, eval_every=10**6, save_every=10**6, eval_size=1, lr=1e-4)
    rows = [r for r in GRPOTrainer(cfg, progress=False).train() if "rollout_s" in r][1:]
    med = lambda key: statistics.median(key(r) for r in rows)  # noqa: E731
    return {
        "steps": len(rows),
        "rollout_tok_s": med(lambda r: r["rollout_tokens"] / r["rollout_s"]),
        "update_resp_tok_s": med(lambda r: r["train_tokens"] / r["update_s"]),
        "update_all_tok_s": med(lambda r: r["processed_tokens"] / r["update_s"]),
        "rollout_s": med(lambda r: r["rollout_s"]),
        "update_s": med(lambda r: r["update_s"]),
        "resp_len": med(lambda r: r["response_len"]),
        "prompt_len": med(lambda r: (r["processed_tokens"] - r["train_tokens"]) / (64 * 8)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--out", default="bench/results/train_throughput.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {style: measure(style, args.steps, Path(tmp)) for style in STYLES}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Trainer throughput (CPU)", "",
        f"- Command: `.venv/bin/python bench/train_throughput.py --steps {args.steps}`",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average at the end {os.getloadavg()[0]:.1f}",
        f"- Date: {datetime.datetime.now().isoformat(timespec='seconds')}; commit {commit}",
        "- Tiny model (assay.trainer.tiny, fresh weights), arithmetic difficulty 1, 64 prompts x 8 samples per step,",
        "  up to 8 new tokens; medians over steps 2..N (the first step is a warm-up).", "",
        "| prompt | prompt tokens | response tokens | rollout s/step | rollout tok/s (generated) | update s/step "
        "| update tok/s (response) | update tok/s (all read) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for style, r in results.items():
        lines.append(f"| {style} | {r['prompt_len']:.0f} | {r['resp_len']:.1f} | {r['rollout_s']:.2f} | {r['rollout_tok_s']:.0f} | "
                     f"{r['update_s']:.2f} | {r['update_resp_tok_s']:.0f} | {r['update_all_tok_s']:.0f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
