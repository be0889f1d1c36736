"""assay's GRPO trainer against TRL's ``GRPOTrainer``: same model, same settings, side by side.

    python bench/trl_compare.py                          # CPU check: the tiny model, a few steps
    python bench/trl_compare.py --model qwen2-0.5b --steps 6 --prompts 8 --group 8 \\
        --max-new-tokens 128 --micro 16 --repeats 2      # a GPU (bench/gpu_trl.sh)

Each run is a fresh subprocess (so each one's peak memory is its own), alternating assay, TRL,
assay, TRL, ... ``--repeats`` times. Both train the same locally built model (no download):
``tiny`` is assay's CPU model; ``qwen2-0.5b`` has Qwen2-0.5B's shape (24 layers, hidden 896,
vocabulary 151936, tied head) with random weights, and the tiny tokenizer padded with placeholder
tokens to that vocabulary. Random weights sample near-uniformly over 151936 ids, so every
completion runs to ``--max-new-tokens`` in both trainers: equal work, and the throughput is what is
compared, not learning.

Same settings on both sides: prompts (the arithmetic env's tasks, chat-templated), group size,
completion length, temperature 1, learning rate, one optimiser step per batch of
``prompts x group`` completions in micro-batches of ``--micro``, token-mean loss (TRL's ``dapo``
type, assay's ``token-mean``), clip 0.2, no KL, no reference model, fp32 weights (TF32 matmuls on a
GPU for both), generation with ``model.generate`` (no vLLM in either). The first step is a warm-up
and is not timed.

Reported per trainer: median seconds per step, completion tokens per second, and peak memory
(``torch.cuda.max_memory_allocated`` on a GPU; the process's peak RSS on a CPU). Written to
``--out`` (default bench/results/trl_compare.md) with the command, the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QWEN2_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, max_position_embeddings=4096, tie_word_embeddings=True)


def build_model(kind: str, path: Path) -> Path:
    """A model directory: assay's tiny model, or Qwen2-0.5B's shape with random weights."""
    from assay.trainer.tiny import build_tokenizer, save_tiny

    if kind == "tiny":
        return save_tiny(path)
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = build_tokenizer()
    # placeholder tokens up to the model's vocabulary, so any sampled id decodes
    tok.add_tokens([f"<x{i}>" for i in range(QWEN2_05B["vocab_size"] - len(tok))])
    config = Qwen2Config(**QWEN2_05B, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def tasks(n: int) -> list[dict]:
    """``n`` arithmetic tasks: the prompt text both trainers get, and the answer."""
    import assay

    env = assay.make("assay/arithmetic-v0", difficulty=1, prompt_format="{expression} =")
    out = []
    for seed in range(n):
        task = env.reset(seed=seed)[1]["task"]
        out.append({"prompt": task.prompt, "answer": str(task.answer)})
    return out


def peak_memory_mib(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_assay(args, model_dir: Path, work: Path) -> dict:
    from assay.trainer.config import GRPOConfig
    from assay.trainer.grpo import GRPOTrainer

    cfg = GRPOConfig(model=str(model_dir), run_dir=str(work / "assay"), env_id="assay/arithmetic-v0",
                     env_kwargs={"difficulty": 1, "prompt_format": "{expression} ="}, device=args.device,
                     steps=args.steps, prompts_per_step=args.prompts, group_size=args.group,
                     max_new_tokens=args.max_new_tokens, temperature=1.0, top_p=1.0, lr=1e-6,
                     algorithm="grpo", loss_agg_mode="token-mean", clip_low=0.2, clip_high=0.2,
                     dynamic_sampling=False, kl_coef=0.0, micro_batch_size=args.micro,
                     generation_batch_size=args.prompts * args.group, eval_every=10**6, eval_size=1,
                     save_every=10**6, seed=0, precision=args.precision)
    rows = [r for r in GRPOTrainer(cfg, progress=False).train() if "step_s" in r]
    timed = rows[1:]
    return {"step_s": [r["step_s"] for r in timed], "tokens": [r["rollout_tokens"] for r in timed]}


def run_trl(args, model_dir: Path, work: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    batch = args.prompts * args.group
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": t["prompt"]}], "answer": t["answer"]}
                              for t in tasks(args.prompts * args.steps)])

    def correct(completions, answer, **_):
        return [float(c[0]["content"].strip() == a) for c, a in zip(completions, answer)]

    class Clock(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []

        def on_step_end(self, *_, **__):
            self.ends.append(time.perf_counter())

    on_cpu = args.device == "cpu"
    config = GRPOConfig(output_dir=str(work / "trl"), per_device_train_batch_size=args.micro,
                        gradient_accumulation_steps=batch // args.micro, num_generations=args.group,
                        generation_batch_size=batch, max_completion_length=args.max_new_tokens, temperature=1.0,
                        top_p=1.0, learning_rate=1e-6, beta=0.0, loss_type="dapo", epsilon=0.2, scale_rewards="group",
                        max_steps=args.steps, logging_steps=1, report_to="none", save_strategy="no",
                        bf16=args.precision == "bf16",
                        use_cpu=on_cpu, seed=0, disable_dropout=True, shuffle_dataset=False)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    clock = Clock()
    trainer = GRPOTrainer(model=model, reward_funcs=correct, args=config, train_dataset=data,
                          processing_class=tokenizer, callbacks=[clock])
    start = time.perf_counter()
    trainer.train()
    ends = [start, *clock.ends]
    steps = [b - a for a, b in zip(ends, ends[1:])][1:]
    lengths = [row["completions/mean_length"] * batch for row in trainer.state.log_history
               if "completions/mean_length" in row][1:]
    return {"step_s": steps, "tokens": lengths}


def worker(args) -> None:
    import torch

    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # the same for both trainers
        torch.backends.cudnn.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        result = (run_assay if args.worker == "assay" else run_trl)(args, Path(args.model_dir), Path(tmp))
    result["peak_mib"] = peak_memory_mib(args.device)
    Path(args.json).write_text(json.dumps(result))


def summary(name: str, runs: list[dict]) -> dict:
    steps = [s for r in runs for s in r["step_s"]]
    rates = [t / s for r in runs for t, s in zip(r["tokens"], r["step_s"])]
    return {"name": name, "step_s": statistics.median(steps), "tok_s": statistics.median(rates),
            "peak_mib": max(r["peak_mib"] for r in runs), "steps": len(steps)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["tiny", "qwen2-0.5b"], default="tiny")
    ap.add_argument("--steps", type=int, default=4, help="optimiser steps per run (the first is not timed)")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--micro", type=int, default=8, help="completions per forward/backward")
    ap.add_argument("--repeats", type=int, default=1, help="runs per trainer, alternating")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "trl_compare.md"))
    ap.add_argument("--worker", choices=["assay", "trl"], help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if (args.prompts * args.group) % args.micro:
        ap.error("--micro must divide --prompts x --group (one optimiser step per batch in both trainers)")
    if args.worker:
        worker(args)
        return
    results: dict[str, list[dict]] = {"assay": [], "trl": []}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model(args.model, Path(tmp) / "model")
        for r in range(args.repeats):
            for name in results:
                out = Path(tmp) / f"{name}-{r}.json"
                cmd = [sys.executable, __file__, *sys.argv[1:], "--device", args.device, "--worker", name,
                       "--model-dir", str(model_dir), "--json", str(out)]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    sys.exit(f"{name} run {r} failed:\n{done.stderr[-4000:]}")
                results[name].append(json.loads(out.read_text()))
                print(f"{name} run {r}: {json.dumps(results[name][-1])[:200]}", flush=True)
    rows = [summary(name, runs) for name, runs in results.items()]
    report = render(args, rows)
    print(report)
    Path(args.out).write_text(report)


def render(args, rows: list[dict]) -> str:
    import torch

    assay, trl = rows
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({os.cpu_count()} cores, {platform.machine()})"
    memory = "torch.cuda.max_memory_allocated" if args.device == "cuda" else "peak RSS of the process"
    import trl as trl_module

    lines = [
        "# assay GRPO vs TRL GRPOTrainer", "",
        f"- Command: `python bench/trl_compare.py {' '.join(sys.argv[1:])}`",
        f"- Device: {device}; torch {torch.__version__}, trl {trl_module.__version__}; date {time.strftime('%Y-%m-%dT%H:%M:%S')}",
        f"- Model: {args.model}, {args.precision}; {args.prompts} prompts x {args.group} samples per step, {args.max_new_tokens} new "
        f"tokens, micro-batch {args.micro}, {args.steps} steps per run (first not timed), {args.repeats} run(s) "
        "per trainer, alternating; medians over every timed step", "",
        f"| trainer | s / step | completion tokens / s | peak memory (MiB, {memory}) | timed steps |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {r['step_s']:.3f} | {r['tok_s']:.0f} | {r['peak_mib']:.0f} | {r['steps']} |")
    lines += ["", f"assay / TRL throughput: {assay['tok_s'] / trl['tok_s']:.2f}x; "
              f"peak memory assay / TRL: {assay['peak_mib'] / trl['peak_mib']:.2f}x", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
