"""The main job on built-in defaults (``make demo`` / ``assay demo``): warm-start the tiny model,
train it with GRPO on procedural arithmetic on the CPU, and report held-out accuracy before and
after.

1. ``pretrain-tiny`` for a few hundred supervised steps: the model learns the answer format
   (``\\boxed{N}``) and some sums, not all (about 25% held-out, greedy).
2. GRPO from that checkpoint under a wall-clock budget; held-out accuracy (greedy, tasks from
   seeds no training step draws) is measured before the first step and every ``eval_every`` steps.
3. ``learning_curves.png`` in the run directory, and a last line ``held-out accuracy: A -> B``.

The settings are the ones bench/learn_arith.py measures over three seeds (see
bench/results/learn_arith.md); why they differ from GRPOConfig's defaults is said at each one.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from assay.errors import AssayError

# The tiny model cannot use a 100-character instruction; "{expression} =" keeps every forward pass
# ~20 tokens instead of ~110, which is what makes minutes of CPU enough.
ENV_KWARGS = {"difficulty": 1, "prompt_format": "{expression} ="}
MARKER = "assay-demo.json"  # written into the run dir, so a rerun may replace only its own output


@dataclass(frozen=True)
class DemoSettings:
    run_dir: str = "runs/demo"
    """Where the warm start, checkpoints, metrics and learning curves go (replaced if a demo wrote it)."""
    seed: int = 0
    """Seed of the warm start and of the GRPO run."""
    sft_steps: int = 200
    """Supervised warm-start steps (about 25% held-out accuracy after 200)."""
    steps: int = 500
    """GRPO steps; the cosine learning-rate schedule spans them (about 0.5 s each on 2 quiet cores)."""
    max_wall_s: float = 300.0
    """GRPO wall-clock budget in seconds (a cap: on a quiet machine the steps end first)."""
    eval_size: int = 128
    """Held-out tasks per evaluation."""
    eval_every: int = 50
    """GRPO steps between evaluations."""

    def grpo_config(self, model: str):
        from assay.trainer.config import GRPOConfig

        return GRPOConfig(
            env_kwargs=dict(ENV_KWARGS),
            model=model,
            run_dir=str(Path(self.run_dir) / "grpo"),
            seed=self.seed,
            steps=self.steps,
            max_wall_s=self.max_wall_s,
            eval_size=self.eval_size,
            eval_every=self.eval_every,
            save_every=max(self.eval_every, 50),
            # 64 prompts x 8: at 512 samples per step the policy gradient is steady enough for
            # lr 2e-4; at 128 the same lr wanders and 1e-3 undoes the warm start.
            prompts_per_step=64,
            group_size=8,
            lr=3e-4,
            # Cosine decay to a tenth: the late steps, when most groups are already solved, are
            # the noisy ones (held-out accuracy swung by +-0.06 between evaluations at constant lr).
            lr_schedule="cosine",
            warmup_steps=10,
            min_lr_ratio=0.1,
            # Groups whose samples all scored alike carry no GRPO gradient: leave them out of the
            # update (DAPO's filter, without its refill). Same gradient direction; the update got
            # ~3x cheaper and steps 0.74 s -> 0.52 s, so more steps fit the budget.
            dynamic_sampling=True,
            max_refill_rounds=0,
            # Sampling at T=0.5 keeps rollouts near the greedy answer that evaluation scores, so
            # the update settles the contest between the top two or three candidate answers;
            # measured: T=1.0 0.26 -> 0.40, T=0.7 -> 0.46, T=0.5 -> 0.52 after 100 steps.
            temperature=0.5,
            max_new_tokens=8,  # "\boxed{NN}" and EOS are 5 tokens
            micro_batch_size=128,
        )


def prepare_run_dir(path: Path) -> None:
    """Create ``path``; replace it only when an earlier demo made it (never a user's directory)."""
    if path.exists():
        if not (path / MARKER).exists():
            raise AssayError(f"{path} exists and was not made by `assay demo`; pass --run-dir with a new path")
        shutil.rmtree(path)
    path.mkdir(parents=True)


def run_demo(settings: DemoSettings, log=print) -> tuple[float, float]:
    """Warm start, train, plot; returns (held-out accuracy before, after)."""
    from assay.trainer.grpo import GRPOTrainer
    from assay.trainer.plot import plot_run
    from assay.trainer.sft import SFTConfig, pretrain_tiny

    root = Path(settings.run_dir)
    prepare_run_dir(root)
    (root / MARKER).write_text(json.dumps({"settings": settings.__dict__, "started": time.time()}, indent=1))
    log(f"[1/3] warm start: {settings.sft_steps} supervised steps of the tiny model on arithmetic "
        f"(difficulty {ENV_KWARGS['difficulty']})")
    started = time.perf_counter()
    sft = pretrain_tiny(SFTConfig(out=str(root / "sft"), env_kwargs=dict(ENV_KWARGS), steps=settings.sft_steps,
                                  seed=settings.seed), log=lambda line: log(f"      {line}"))
    log(f"      done in {time.perf_counter() - started:.0f}s -> {sft}")
    cfg = settings.grpo_config(str(sft))
    log(f"[2/3] GRPO: {cfg.prompts_per_step} prompts x {cfg.group_size} samples per step, lr {cfg.lr}, "
        f"T={cfg.temperature}, for up to {settings.max_wall_s:.0f}s; held-out accuracy on {cfg.eval_size} tasks")
    history = GRPOTrainer(cfg).train()
    evals = [r for r in history if "eval_accuracy" in r]
    for row in evals:
        log(f"      step {row['step']:>4}  {row['elapsed_s']:6.0f}s  held-out accuracy {row['eval_accuracy']:.2f}")
    png = plot_run(cfg.run_dir)
    log(f"[3/3] learning curves: {png}")
    return evals[0]["eval_accuracy"], evals[-1]["eval_accuracy"]
