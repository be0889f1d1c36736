"""Peak memory of sampling with log-probs at a real vocabulary: ``HFGenerator`` vs ``output_scores``.

    python bench/generation_memory.py [--vocab 151936] [--batch 64] [--new-tokens 128]

``HFGenerator`` records each drawn token's log-prob as generation goes, holding one step's
``[batch, vocab]`` log-probs (``SampledLogprobs``). The baseline is what it did before and what
most code does: ``generate(..., output_scores=True)``, which keeps every step's scores, then
``log_softmax`` over the stacked ``[batch, steps, vocab]`` and a gather. Each runs in a fresh
subprocess on the CPU (a one-layer model, hidden 64, random weights, so every sequence runs to
``--new-tokens``); reported: the process's peak RSS and the wall time, medians of ``--repeats``
alternating runs. Writes bench/results/generation_memory.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(args) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from assay.protocols import SamplingParams
    from assay.trainer.generators.hf import HFGenerator
    from assay.trainer.tiny import build_tokenizer

    tok = build_tokenizer()
    tok.add_tokens([f"<x{i}>" for i in range(args.vocab - len(tok))])
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=args.vocab, hidden_size=64, intermediate_size=128,
                                         num_hidden_layers=1, num_attention_heads=2, pad_token_id=0,
                                         bos_token_id=1, eos_token_id=2, tie_word_embeddings=True)).eval()
    prompts = [tok.encode(f"Q: {i} + {i} = A:") for i in range(args.batch)]
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if args.worker == "assay":
        outs = HFGenerator(model, tok, batch_size=args.batch).generate(
            prompts, SamplingParams(max_new_tokens=args.new_tokens, temperature=1.0, seed=0))
        tokens = sum(len(o.token_ids) for o in outs)
    else:
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
        with torch.no_grad():
            result = model.generate(input_ids=ids, attention_mask=(ids != 0).long(), do_sample=True, temperature=1.0,
                                    max_new_tokens=args.new_tokens, pad_token_id=0, eos_token_id=2,
                                    output_scores=True, return_dict_in_generate=True)
        new = result.sequences[:, width:]
        logp = torch.stack([s.float().log_softmax(-1) for s in result.scores], dim=1)
        logp.gather(-1, new.unsqueeze(-1))
        tokens = new.numel()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_mib": peak / 1024, "added_mib": (peak - base_rss) / 1024, "tokens": tokens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, default=151936)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "generation_memory.md"))
    ap.add_argument("--worker", choices=["assay", "output_scores"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    runs: dict[str, list[dict]] = {"assay": [], "output_scores": []}
    for _ in range(args.repeats):
        for name in runs:
            done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--worker", name],
                                  capture_output=True, text=True, check=True)
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(name, runs[name][-1], flush=True)
    med = {name: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "peak_mib", "added_mib")}
           for name, rs in runs.items()}
    a, b = med["assay"], med["output_scores"]
    lines = ["# Sampling with log-probs: peak memory", "",
             f"- Command: `python bench/generation_memory.py {' '.join(sys.argv[1:])}`",
             f"- Machine: CPU, {platform.machine()}, {platform.python_version()}; date {time.strftime('%Y-%m-%dT%H:%M:%S')}",
             f"- {args.batch} sequences x {args.new_tokens} new tokens, vocabulary {args.vocab}, one-layer model "
             f"(hidden 64); medians of {args.repeats} alternating runs, each in a fresh process", "",
             "| log-probs taken | peak RSS (MiB) | added by generation (MiB) | seconds |", "|---|---:|---:|---:|",
             f"| HFGenerator (one step at a time) | {a['peak_mib']:.0f} | {a['added_mib']:.0f} | {a['seconds']:.2f} |",
             f"| generate(output_scores=True), stacked | {b['peak_mib']:.0f} | {b['added_mib']:.0f} | {b['seconds']:.2f} |",
             "", f"memory added, output_scores / HFGenerator: {b['added_mib'] / max(a['added_mib'], 1):.1f}x; "
             f"time: {b['seconds'] / a['seconds']:.2f}x", ""]
    report = "\n".join(lines)
    print(report)
    Path(args.out).write_text(report)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
