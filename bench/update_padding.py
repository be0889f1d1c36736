"""The update's cost with micro-batches of like length (``length_sorted_micro_batches``, each trimmed
to its own longest sequence) against micro-batches in rollout order, side by side.

    .venv/bin/python bench/update_padding.py [--repeats 5] [--batch 64] [--micro 8]

One batch of trajectories with long-tailed response lengths (log-normal, 8 to 512 tokens, as
reasoning rollouts are: most short, a few long) and 32-token prompts, on assay's tiny model
(``assay.trainer.tiny``, fresh weights); ``policy_update`` with SGD, the two settings alternating,
each timed ``--repeats`` times; medians. A third row is the code before micro-batches were
trimmed to their own longest response (``Batch.select`` of commit 5665776, re-created here): every
micro-batch as wide as the batch's longest prompt + response. Also the positions the forward
passes read, padding included, the reason for the differences. Writes bench/results/update_padding.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

from assay.trainer.batch import Batch, collate
from assay.trainer.config import GRPOConfig
from assay.trainer.tiny import build_model, build_tokenizer
from assay.trainer.update import micro_batches, policy_update
from assay.types import Trajectory

RESULTS = Path(__file__).resolve().parent / "results"


def long_tailed_batch(n: int, vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.exp(torch.randn(n, generator=g) * 1.0 + 3.8).clamp(8, 512).round().long().tolist()
    trajs = [Trajectory(task_id=f"t{i}", group_id=f"g{i // 8}",
                        prompt_ids=tuple(torch.randint(4, vocab, (32,), generator=g).tolist()),
                        token_ids=tuple(torch.randint(4, vocab, (r,), generator=g).tolist()),
                        loss_mask=(1,) * r, logprobs=tuple((-torch.rand(r, generator=g) * 3).tolist()))
             for i, r in enumerate(lengths)]
    return collate(trajs, torch.randn(n, generator=g), pad_id=0), lengths


def select_before(self, rows):
    """``Batch.select`` as it was: trimmed to the longest prompt plus the batch's full response width."""
    sub = Batch(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))
    width = int((sub.prompt_lens + sub.response_ids.shape[1]).max()) if len(sub) else 0
    return sub if width >= sub.input_ids.shape[1] else Batch(
        sub.input_ids[:, :width], sub.attention_mask[:, :width], sub.prompt_lens, sub.response_ids,
        sub.loss_mask, sub.sampler_logprobs, sub.advantages, sub.lengths)


SETTINGS = {"before": "before: every micro-batch at the batch's full response width",
            "given": "rollout order, each trimmed (`length_sorted_micro_batches=false`)",
            "sorted": "like lengths, each trimmed (default)"}


@contextlib.contextmanager
def setting(name: str):
    """The code of ``name``: ``before`` swaps the old ``select`` in for the duration."""
    if name != "before":
        yield name == "sorted"
        return
    current = Batch.select
    Batch.select = select_before
    try:
        yield False
    finally:
        Batch.select = current


def read_positions(batch, micro: int, name: str) -> int:
    """Token positions the forward passes read, padding included."""
    with setting(name) as sort:
        batch = batch.by_length() if sort else batch
        return sum(sub.input_ids.numel() for sub in (batch.select(s) for s in micro_batches(len(batch), micro)))


def time_update(batch, micro: int, name: str, vocab: int) -> float:
    model = build_model(vocab, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    with setting(name) as sort:
        cfg = GRPOConfig(micro_batch_size=micro, length_sorted_micro_batches=sort, max_grad_norm=0)
        start = time.perf_counter()
        policy_update(model, optimizer, batch, cfg)
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--micro", type=int, default=8)
    args = ap.parse_args()
    vocab = len(build_tokenizer())
    batch, lengths = long_tailed_batch(args.batch, vocab)
    time_update(batch, args.micro, "sorted", vocab)  # warm-up
    names = list(SETTINGS)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.repeats):
        for name in names[r % 3:] + names[:r % 3]:  # rotating order: a load spike hits each alike
            times[name].append(time_update(batch, args.micro, name, vocab))
            print(f"pass {r}: {name} {times[name][-1]:.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    real = sum(32 + n for n in lengths)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# The update with micro-batches of like length",
        "",
        f"- Command: `.venv/bin/python bench/update_padding.py --repeats {args.repeats} --batch {args.batch} --micro {args.micro}`",
        f"- Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads); "
        f"load average at the end {os.getloadavg()[0]:.1f} (the machine is shared)",
        f"- Date: {datetime.datetime.now().isoformat(timespec='seconds')}; commit {commit}",
        f"- One `policy_update` (SGD, 1 epoch) of {args.batch} sequences on the tiny model, micro-batches of {args.micro}: "
        f"32-token prompts, responses log-normal in [8, 512] tokens (median {statistics.median(lengths):.0f}, "
        f"max {max(lengths)}); the three settings take turns in a rotating order; medians over {args.repeats} runs each.",
        "",
        "| micro-batches | update s | vs before | passes (s) | positions read (padding included) | of them real |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for name, label in SETTINGS.items():
        positions = read_positions(batch, args.micro, name)
        lines.append(f"| {label} | {med[name]:.2f} | {med['before'] / med[name]:.2f}x | "
                     f"{', '.join(f'{t:.2f}' for t in times[name])} | {positions} | {real / positions:.0%} |")
    lines += ["", f"The default (like lengths, trimmed) is {med['before'] / med['sorted']:.2f}x as fast as before, and "
                  f"{med['given'] / med['sorted']:.2f}x as fast as trimmed micro-batches in rollout order.", ""]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "update_padding.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
