"""The update's peak memory and time with ``gradient_checkpointing`` on and off, side by side.

    .venv/bin/python bench/gradient_checkpointing.py [--repeats 5] [--layers 8] [--hidden 256] [--response 480]

Each measurement is a fresh process (the two settings take turns), so the resident-set high-water
mark it reads is its own: the process builds a Llama-style model (``assay.trainer.tiny.build_model``,
fresh weights) and one batch of 16 sequences (32-token prompts, ``--response`` tokens each, all
trained on), reads its peak RSS, runs one ``policy_update`` (SGD, micro-batches of 8), and reads
the peak again: the difference is what the update added at its peak (activations, gradients,
log-prob buffers). A second update is timed. Medians over ``--repeats``. Writes
bench/results/gradient_checkpointing.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
BATCH, MICRO, PROMPT = 16, 8, 32


def child(args) -> None:
    import torch

    from assay.trainer.batch import collate
    from assay.trainer.config import GRPOConfig
    from assay.trainer.policy import enable_gradient_checkpointing
    from assay.trainer.tiny import build_model
    from assay.trainer.update import policy_update
    from assay.types import Trajectory

    vocab = 512
    model = build_model(vocab, hidden_size=args.hidden, layers=args.layers, heads=4, seed=0,
                        max_positions=PROMPT + args.response).eval()  # eval mode, as the trainer holds its policy
    if args.child == "on":
        enable_gradient_checkpointing(model)
    g = torch.Generator().manual_seed(0)
    trajs = [Trajectory(task_id=f"t{i}", group_id=f"g{i // 4}",
                        prompt_ids=tuple(torch.randint(4, vocab, (PROMPT,), generator=g).tolist()),
                        token_ids=tuple(torch.randint(4, vocab, (args.response,), generator=g).tolist()),
                        loss_mask=(1,) * args.response, logprobs=(-1.0,) * args.response) for i in range(BATCH)]
    batch = collate(trajs, torch.randn(BATCH, generator=g), pad_id=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    cfg = GRPOConfig(micro_batch_size=MICRO, max_grad_norm=0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    policy_update(model, optimizer, batch, cfg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    policy_update(model, optimizer, batch, cfg)
    elapsed = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"extra_mib": (peak - before) / 1024, "update_s": elapsed, "params": params}))


def measure(setting: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", setting, "--layers", str(args.layers), "--hidden", str(args.hidden),
           "--response", str(args.response)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--response", type=int, default=480)
    ap.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    runs: dict[str, list[dict]] = {"off": [], "on": []}
    for r in range(args.repeats):
        for setting in (("off", "on") if r % 2 == 0 else ("on", "off")):  # alternating: a load spike hits both alike
            runs[setting].append(measure(setting, args))
            print(f"pass {r}: {setting} {runs[setting][-1]}", flush=True)
    med = {s: {k: statistics.median(run[k] for run in runs[s]) for k in ("extra_mib", "update_s")} for s in runs}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    import torch

    lines = [
        "# Gradient checkpointing: the update's peak memory and time",
        "",
        f"- Command: `.venv/bin/python bench/gradient_checkpointing.py --repeats {args.repeats} --layers {args.layers} "
        f"--hidden {args.hidden} --response {args.response}`",
        f"- Machine: {platform.machine()}, {os.cpu_count()} cores, CPU, torch {torch.__version__}; load average at the end "
        f"{os.getloadavg()[0]:.1f} (the machine is shared)",
        f"- Date: {datetime.datetime.now().isoformat(timespec='seconds')}; commit {commit}",
        f"- Llama-style model, {args.layers} layers, hidden {args.hidden} ({runs['off'][0]['params'] / 1e6:.1f}M parameters, "
        f"fp32); one `policy_update` (SGD) of {BATCH} sequences of {PROMPT} + {args.response} tokens, micro-batches of "
        f"{MICRO}. Each figure is a fresh process; the settings alternate; medians over {args.repeats}.",
        "",
        "| gradient_checkpointing | peak RSS added by the update (MiB) | update s | runs (MiB / s) |",
        "|---|---:|---:|---|",
    ]
    for setting in ("off", "on"):
        each = ", ".join(f"{run['extra_mib']:.0f} / {run['update_s']:.2f}" for run in runs[setting])
        lines.append(f"| {setting} | {med[setting]['extra_mib']:.0f} | {med[setting]['update_s']:.2f} | {each} |")
    lines += ["", f"With checkpointing the update's peak is {med['on']['extra_mib'] / med['off']['extra_mib']:.2f}x "
                  f"and its time {med['on']['update_s'] / med['off']['update_s']:.2f}x those without.", ""]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gradient_checkpointing.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
