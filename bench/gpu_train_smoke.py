"""The GRPO trainer on a GPU: does a run go through on CUDA, and does it learn the same as on CPU?

    python bench/gpu_train_smoke.py [--steps 30]       # run by bench/gpu_check.sh on a GPU machine

Trains assay's tiny model with ``device=cuda`` and then ``device=cpu``, same seed and settings, on
the digits env of tests/trainer/echo_env.py (reward = share of digits in the response; no
verifier dependencies, so it runs on a bare GPU image). Prints, per device: median step time,
rollout and update tokens per second, the train reward over the first and last five steps, and
whether every loss was finite. The first device also runs with ``fsdp=true`` (FSDP2 in a one-process
group: NCCL on a GPU), the sharded path's smoke test where only one GPU is at hand. Not a throughput claim (the tiny model leaves a GPU idle); a
check that the CUDA path (generation, Triton log-probs, update) runs and learns.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.trainer.echo_env from the checkout

import assay  # noqa: E402
from assay.trainer.config import GRPOConfig  # noqa: E402
from assay.trainer.distributed import finish, init_from_env  # noqa: E402
from assay.trainer.grpo import GRPOTrainer  # noqa: E402

assay.register("smoke-length-v0", "tests.trainer.echo_env:LengthEnv", override=True)


def run(device: str, steps: int, work: Path, fsdp: bool = False) -> str:
    name = device + ("+fsdp" if fsdp else "")
    cfg = GRPOConfig(env_id="smoke-length-v0", env_kwargs={}, device=device, steps=steps, prompts_per_step=16,
                     group_size=8, max_new_tokens=16, lr=3e-4, eval_every=10**6, save_every=10**6, eval_size=8,
                     run_dir=str(work / name), seed=0, fsdp=fsdp)
    rows = [r for r in GRPOTrainer(cfg, progress=False).train() if "rollout_s" in r]
    later = rows[1:]
    first5 = statistics.mean(r["reward"] for r in rows[:5])
    last5 = statistics.mean(r["reward"] for r in rows[-5:])
    finite = all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)
    return (f"{name}: {len(rows)} steps, median step {statistics.median(r['step_s'] for r in later):.3f}s, "
            f"rollout {statistics.median(r['rollout_tokens'] / r['rollout_s'] for r in later):.0f} tok/s, "
            f"update {statistics.median(r['processed_tokens'] / r['update_s'] for r in later):.0f} tok/s, "
            f"reward first 5 {first5:.3f} -> last 5 {last5:.3f}, losses finite: {finite}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    devices = ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]
    with tempfile.TemporaryDirectory() as tmp:
        for device in devices:
            print(run(device, args.steps, Path(tmp)), flush=True)
        init_from_env(always=True)  # FSDP needs a process group, here of one
        print(run(devices[0], args.steps, Path(tmp), fsdp=True), flush=True)
        finish()


if __name__ == "__main__":
    main()
