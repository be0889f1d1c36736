"""ORM settings tried on a validation split, never on the held-out (test) expressions.

    .venv/bin/python bench/orm_validation.py --seeds 1,4 [--extra-facts 4000] [--lora-targets q_proj,k_proj,v_proj,o_proj]

The training side of the synthetic preferences (``rm_data``: crc32(expression) % 5 != 0) is split
once more: expressions with crc32 % 5 == 1 (82 of them) leave training and all their pairs (1640,
each with its 20 wrong answers) are the validation set; training draws 4000 pairs from the other
237 expressions. Settings are the ORM headline's (bench/results/reward_models.md: LoRA rank 8, lr
1e-3 wsd, EMA 0.999, weight decay 0.01, 5000 steps from runs/tiny-sft1000). ``--extra-facts N``
adds N pairs on the + and - facts inside harder expressions' steps (difficulty 2 and 3, values up
to 40, no difficulty-1 expression and nothing from the test or validation splits). Prints one
JSON line per seed: validation accuracy on near and far pairs and their mean ("balanced").
"""

from __future__ import annotations

import argparse
import json
import time
import zlib

import numpy as np

from assay.envs.procedural.arithmetic import generate
from assay.trainer import rm_data
from assay.trainer.reward_model import RMConfig, train_reward_model
from assay.trainer.rm_data import FAR_DELTAS, NEAR_DELTAS, PreferencePair, _held_out_expression
from assay.trainer.rm_eval import pairwise_accuracy
from assay.types import Task
from assay.verifiers.learned.orm import ValueHeadORM


def is_validation(expression: str) -> bool:
    return zlib.crc32(expression.encode()) % 5 == 1


def expression(pair: PreferencePair) -> str:
    return pair.task.prompt.removesuffix(" =")


def step_facts(max_value: int = 40) -> dict[str, int]:
    """``"a + b" -> value`` for the + and - steps of 20,000 difficulty-2 and 20,000 difficulty-3 tasks."""
    rng = np.random.default_rng(3)
    facts = {}
    for difficulty in (2, 3):
        for _ in range(20_000):
            for step in generate(rng, difficulty).meta["steps"]:
                lhs, value = step["text"].split(" = ")
                if ("+" in lhs or " - " in lhs) and 0 <= int(value) <= max_value and not lhs.startswith("-"):
                    facts[lhs] = int(value)
    return facts


def extra_pairs(n: int, excluded: set[str]) -> list[PreferencePair]:
    facts = {k: v for k, v in step_facts().items() if k not in excluded and not _held_out_expression(k, 5) and not is_validation(k)}
    rng, keys, out = np.random.default_rng(7), sorted(facts), []
    for i in range(n):
        key = keys[int(rng.integers(len(keys)))]
        right, category = facts[key], "near" if i % 2 == 0 else "far"
        deltas = NEAR_DELTAS if category == "near" else FAR_DELTAS
        delta = int(rng.integers(deltas[0], deltas[-1] + 1)) * (1 if rng.random() < 0.5 else -1)
        out.append(PreferencePair(Task(id=f"fact-{key}", prompt=f"{key} =", answer=str(right), domain="math"),
                                  f"\\boxed{{{right}}}", f"\\boxed{{{right + delta}}}", category))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1,4")
    ap.add_argument("--extra-facts", type=int, default=0)
    ap.add_argument("--lora-targets", default="all-linear")
    ap.add_argument("--init", default="runs/tiny-sft1000")
    ap.add_argument("--work", default="runs/orm-validation")
    args = ap.parse_args()
    train = [p for p in rm_data.arithmetic_preferences(6000, seed=0) if not is_validation(expression(p))][:4000]
    train_side = rm_data.all_arithmetic_preferences(held_out=False)
    validation = [p for p in train_side if is_validation(expression(p))]
    if args.extra_facts:
        level_one = {expression(p) for p in train_side + rm_data.all_arithmetic_preferences(held_out=True)}
        train = train + extra_pairs(args.extra_facts, level_one)
    for seed in (int(s) for s in args.seeds.split(",")):
        started = time.perf_counter()
        cfg = RMConfig(kind="orm", data="(generated)", model=args.init, out=f"{args.work}/seed{seed}", steps=5000,
                       batch_size=32, lr=1e-3, seed=seed, lr_schedule="wsd", ema=0.999, lora_rank=8,
                       lora_targets=args.lora_targets, weight_decay=0.01)
        out, _ = train_reward_model(cfg, train, validation[::4], log=lambda _: None, progress=False)
        acc = pairwise_accuracy(ValueHeadORM.from_pretrained(out), validation)
        print(json.dumps({"seed": seed, "extra_facts": args.extra_facts, "lora_targets": args.lora_targets,
                          "train_pairs": len(train), "validation_pairs": len(validation),
                          "near": acc["acc/near"], "far": acc["acc/far"], "balanced": (acc["acc/near"] + acc["acc/far"]) / 2,
                          "seconds": round(time.perf_counter() - started)}), flush=True)


if __name__ == "__main__":
    main()
