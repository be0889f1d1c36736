"""Reward models learning on CPU, with the tiny model and data the project generates.

- ORM: pairwise Bradley-Terry on synthetic arithmetic preferences (right vs wrong answers,
  ``assay.trainer.rm_data.arithmetic_preferences``); held-out pairs use expressions never seen in
  training. Pairwise accuracy before and after.
- PRM: step labels from search (``assay.search.training.mc_step_labels``: Math-Shepherd Monte-Carlo
  roll-outs of ``ToyChainPolicy`` on modchain tasks), trained with ``--kind prm``; step-level
  accuracy on held-out trajectories against the *true* step correctness
  (``assay.search.toy.read_state(prefix).on_path``), next to the majority-class rate and AUROC.

    .venv/bin/python bench/reward_models.py --orm-init DIR   # DIR: `assay pretrain-tiny` output

The ORM headline in bench/results/reward_models.md (LoRA rank 8, five seeds, ~28 min on 2 cores):

    .venv/bin/assay pretrain-tiny out=runs/tiny-sft1000 steps=1000 \
        'env_kwargs={difficulty: 1, prompt_format: "{expression} ="}'
    .venv/bin/python bench/reward_models.py --only orm --orm-init runs/tiny-sft1000 --orm-steps 5000 \
        --orm-lr 1e-3 --orm-lr-schedule wsd --orm-ema 0.999 --orm-lora-rank 8 --orm-weight-decay 0.01 \
        --orm-seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from assay.protocols import Prefix, Step
from assay.trainer import rm_data
from assay.trainer.reward_model import RMConfig, train_reward_model
from assay.trainer.schedule import LR_SCHEDULES


def orm(args, seed: int) -> dict:
    """One ORM run; the data are the same for every seed (the seed sets the head, adapters and batch order)."""
    train = rm_data.arithmetic_preferences(args.orm_pairs, seed=0, categories=args.orm_categories.split(","))
    held = rm_data.arithmetic_preferences(400, seed=1, held_out=True)
    started = time.perf_counter()
    cfg = RMConfig(kind="orm", data="(generated)", model=args.orm_init or "tiny", out=f"{args.work}/orm-seed{seed}",
                   steps=args.orm_steps, batch_size=args.orm_batch, lr=args.orm_lr, lm_coef=args.orm_lm_coef, seed=seed,
                   lr_schedule=args.orm_lr_schedule, ema=args.orm_ema, lora_rank=args.orm_lora_rank,
                   lora_targets=args.orm_lora_targets, weight_decay=args.orm_weight_decay)
    out, history = train_reward_model(cfg, train, held)
    # the easier split: new pairs on expressions seen in training (exact training pairs removed)
    from assay.trainer.rm_eval import pairwise_accuracy
    from assay.verifiers.learned.orm import ValueHeadORM

    seen = {(p.task.prompt, p.rejected) for p in train}
    fresh = [p for p in rm_data.arithmetic_preferences(2000, seed=2) if (p.task.prompt, p.rejected) not in seen][:400]
    model = ValueHeadORM.from_pretrained(out)
    seen_split = pairwise_accuracy(model, fresh)
    return {"seed": seed, "out": str(out), "batch": args.orm_batch, "seen_expressions_new_pairs": seen_split, "seen_split_pairs": len(fresh),
            "all_held_out": all_held_out_accuracy(model), "init": args.orm_init or "fresh tiny (hidden 64)", "steps": args.orm_steps, "train_pairs": len(train),
            "train_facts": len({p.task.prompt for p in train}), "held_out_pairs": len(held),
            "held_out_facts": len({p.task.prompt for p in held}), "before": history[0], "after": history[-1],
            "seconds": time.perf_counter() - started}


def all_held_out_accuracy(orm) -> dict:
    """Pairwise accuracy on every held-out pair (``rm_data.all_arithmetic_preferences``: each unseen
    expression with each of its 20 wrong answers), per category and their mean ("balanced", the
    even near/far mix of the sampled held-out pairs). No noise from which pairs were sampled: the
    sampled 400 are the set the settings were tuned on, this one is not."""
    from assay.trainer.rm_eval import pairwise_accuracy

    acc = pairwise_accuracy(orm, rm_data.all_arithmetic_preferences(held_out=True))
    return {"near": acc["acc/near"], "far": acc["acc/far"], "balanced": (acc["acc/near"] + acc["acc/far"]) / 2}


def orm_ensemble(dirs: list[str]) -> dict:
    """The seeds' ORMs as one ensemble (``EnsembleScorer.standardized``: every member to mean 0, std 1
    on 200 responses to training prompts), pairwise accuracy on the held-out pairs per mode."""
    from assay.trainer.rm_eval import pairwise_accuracy
    from assay.verifiers.learned import EnsembleScorer
    from assay.verifiers.learned.orm import ValueHeadORM

    held = rm_data.arithmetic_preferences(400, seed=1, held_out=True)
    reference = [Prefix(p.task, (Step(t),)) for p in rm_data.arithmetic_preferences(100, seed=0) for t in (p.chosen, p.rejected)]
    members = [ValueHeadORM.from_pretrained(d) for d in dirs]
    modes = {"mean": ("mean_minus_var", 0.0), "mean_minus_var": ("mean_minus_var", 1.0), "min": ("min", 1.0)}
    out = {}
    for name, (mode, lam) in modes.items():
        ensemble = EnsembleScorer.standardized(members, reference, mode, lam)
        out[name] = {**pairwise_accuracy(ensemble, held), "all_held_out": all_held_out_accuracy(ensemble)}
    out["raw_min"] = pairwise_accuracy(EnsembleScorer(tuple(members), "min"), held)
    return out


def implicit(args) -> dict:
    """PRIME's implicit PRM on the same preference data read as outcomes (chosen 1, rejected 0);
    a pair is ranked by the summed implicit reward ``beta * sum_t log pi/pi_ref``."""
    from assay.trainer.rm_data import OutcomeExample
    from assay.verifiers.learned.loading import load_reward_model

    train = rm_data.arithmetic_preferences(args.orm_pairs, seed=0)
    held = rm_data.arithmetic_preferences(400, seed=1, held_out=True)
    examples = [e for p in train for e in (OutcomeExample(p.task, (p.chosen,), 1.0), OutcomeExample(p.task, (p.rejected,), 0.0))]
    started = time.perf_counter()
    cfg = RMConfig(kind="implicit", data="(generated)", model=args.orm_init or "tiny", out=f"{args.work}/implicit",
                   steps=args.implicit_steps, batch_size=32, lr=args.orm_lr, seed=args.seed)
    out, _ = train_reward_model(cfg, examples)
    model = load_reward_model(out, use_step_ids=False)
    totals = lambda texts: [sum(r) for r in model.score([Prefix(p.task, (Step(t),)) for p, t in zip(held, texts)])]  # noqa: E731
    chosen, rejected = totals([p.chosen for p in held]), totals([p.rejected for p in held])
    acc = {c: sum(a > b for a, b, p in zip(chosen, rejected, held) if p.category == c) /
           max(1, sum(p.category == c for p in held)) for c in ("near", "far")}
    return {"steps": args.implicit_steps, "pairwise_accuracy": sum(a > b for a, b in zip(chosen, rejected)) / len(held),
            "acc": acc, "seconds": time.perf_counter() - started}


def terse(task):
    """The same chain with a short prompt (``x_0 = 5, mod 13: + 7, * 3, - 2``): the tiny model reads
    ~40 tokens instead of ~350, so a CPU run affords 10x more training steps. The policy, the
    labels and the truth (``read_state``) read only ``meta``, which is unchanged."""
    from dataclasses import replace

    ops = ", ".join(f"{op} {a}" for op, a in task.meta["ops"])
    return replace(task, prompt=f"x_0 = {task.meta['x0']}, mod {task.meta['modulus']}: {ops}")


def toy_trajectories(n: int, seed: int, difficulty: int):
    from assay.envs.procedural.modchain import generate
    from assay.search.toy import ToyChainPolicy

    rng = np.random.default_rng(seed)
    tasks = [terse(generate(rng, difficulty)) for _ in range(n)]
    # one distractor (a wrong step is always off by +1): with +1/-1 distractors a second error often
    # cancels the first, so Monte-Carlo labels ("can still reach the answer") and the truth
    # ("every step so far right") disagree on ~25% of steps
    policy = ToyChainPolicy(step_accuracy=0.7, trap_accuracy=0.35, repeat_rate=0.1, distractors=1, seed=seed)
    return tasks, policy, [(t, steps) for t, steps in zip(tasks, policy.complete([Prefix(t) for t in tasks]))]


class ToyVerifier:
    """The toy's final answer (its last ``\\boxed{}``) against the gold: what the math verifier
    would say on these plain integers, without its worker processes."""

    name, version = "toy-exact", "1"

    def verify(self, task, response):
        from assay.search.toy import toy_answer
        from assay.types import Verdict

        ok = toy_answer(task, response) == task.answer
        return Verdict(float(ok), ok)

    def verify_batch(self, tasks, responses):
        return [self.verify(t, r) for t, r in zip(tasks, responses)]


def auroc(scores, truth) -> float:
    pos = [s for s, y in zip(scores, truth) if y]
    neg = [s for s, y in zip(scores, truth) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def prm(args) -> dict:
    from assay.search.toy import read_state
    from assay.search.training import mc_step_labels
    from assay.verifiers.learned.prm import ValueHeadPRM

    started = time.perf_counter()
    _, policy, trajs = toy_trajectories(args.prm_tasks, seed=args.seed, difficulty=args.prm_difficulty)
    labels = mc_step_labels(trajs, policy, ToyVerifier(), rollouts=args.rollouts, hard=not args.soft)
    rows = rm_data.step_labels_rows(labels)
    rm_data.write_jsonl(rows, f"{args.work}/prm_labels.jsonl")
    label_s = time.perf_counter() - started
    train = rm_data.load_step_labels(f"{args.work}/prm_labels.jsonl")
    _, _, held = toy_trajectories(300, seed=args.seed + 1000, difficulty=args.prm_difficulty)
    cfg = RMConfig(kind="prm", data=f"{args.work}/prm_labels.jsonl", out=f"{args.work}/prm", steps=args.prm_steps,
                   batch_size=32, lr=args.prm_lr, seed=args.seed)
    train_reward_model(cfg, train, log=lambda s: print(s, flush=True))
    model = ValueHeadPRM.from_pretrained(cfg.out)  # the saved checkpoint, as any user would load it
    prefixes = [Prefix(t, tuple(Step(s.text) for s in steps)) for t, steps in held]
    scores = [x for row in model.score(prefixes) for x in row]
    truth = [read_state(Prefix(p.task, p.steps[:j + 1])).on_path for p in prefixes for j in range(len(p.steps))]
    mc_agree = sum((y >= 0.5) == read_state(Prefix(s.task, s.steps[:j + 1])).on_path
                   for s in labels for j, y in enumerate(s.labels)) / sum(len(s.labels) for s in labels)
    acc = sum((s >= 0.5) == y for s, y in zip(scores, truth)) / len(truth)
    positive = sum(truth) / len(truth)
    return {"labels": "soft" if args.soft else "hard", "train_trajectories": len(trajs), "train_steps": sum(len(s.labels) for s in labels), "rollouts": args.rollouts,
            "mc_label_agreement_with_truth": mc_agree, "held_out_steps": len(truth), "step_accuracy": acc,
            "majority_rate": max(positive, 1 - positive), "auroc": auroc(scores, truth),
            "label_s": label_s, "seconds": time.perf_counter() - started}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orm-init", default="", help="warm-started tiny model (assay pretrain-tiny) for the ORM; '' = fresh")
    ap.add_argument("--orm-steps", type=int, default=600)
    ap.add_argument("--orm-lr", type=float, default=3e-4)
    ap.add_argument("--orm-pairs", type=int, default=4000)
    ap.add_argument("--orm-lm-coef", type=float, default=0.0)
    ap.add_argument("--orm-batch", type=int, default=32)
    ap.add_argument("--orm-categories", default="near,far",
                    help="training pairs cycle through these (e.g. near,near,far: two hard pairs per easy one); "
                         "the held-out pairs stay half near, half far")
    ap.add_argument("--orm-lr-schedule", default="linear", choices=LR_SCHEDULES)
    ap.add_argument("--orm-ema", type=float, default=0.0, help="weight averaging (RMConfig.ema), e.g. 0.99")
    ap.add_argument("--orm-lora-rank", type=int, default=0, help="LoRA rank (RMConfig.lora_rank); 0 trains every weight")
    ap.add_argument("--orm-lora-targets", default="all-linear", help="RMConfig.lora_targets, e.g. q_proj,k_proj,v_proj,o_proj")
    ap.add_argument("--orm-weight-decay", type=float, default=0.0)
    ap.add_argument("--orm-seeds", default="", help="comma-separated seeds for the ORM runs (default: --seed)")
    ap.add_argument("--implicit-steps", type=int, default=1000, help="implicit PRM on the ORM's pairs (0: skip)")
    ap.add_argument("--prm-tasks", type=int, default=1000)
    ap.add_argument("--prm-difficulty", type=int, default=1)
    ap.add_argument("--prm-steps", type=int, default=1500)
    ap.add_argument("--prm-lr", type=float, default=1e-3)
    ap.add_argument("--rollouts", type=int, default=32)
    ap.add_argument("--soft", action="store_true", help="soft MC labels (fraction of roll-outs that pass) instead of "
                    "Math-Shepherd's hard ones (1 if any passes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("orm", "implicit", "prm"), default=None)
    ap.add_argument("--work", default="runs/bench-rm")
    ap.add_argument("--out", default="bench/results/reward_models.md")
    args = ap.parse_args()
    result = {"machine": platform.machine(), "date": time.strftime("%Y-%m-%d"), "args": vars(args)}
    if args.only in (None, "orm"):
        seeds = [int(x) for x in args.orm_seeds.split(",")] if args.orm_seeds else [args.seed]
        result["orm"] = [orm(args, seed) for seed in seeds]
        if len(seeds) > 1:
            result["orm_ensemble"] = orm_ensemble([r["out"] for r in result["orm"]])
    if args.only in (None, "implicit") and args.implicit_steps:
        result["implicit"] = implicit(args)
    if args.only in (None, "prm"):
        result["prm"] = prm(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    before = out.read_text() if out.exists() else ""
    kept = before.split(KEEP, 1)[1] if KEEP in before else "\n"
    earlier = [earlier_section(before, kind) for kind in HEADINGS if kind not in result]  # models not run now
    out.write_text("\n".join([report(result), *filter(None, earlier)]) + "\n" + KEEP + kept)
    print(json.dumps(result, indent=1))


# Everything after this line in the results file is kept when the benchmark rewrites it (earlier runs, notes).
KEEP = "<!-- kept by bench/reward_models.py: notes and earlier runs below -->"


HEADINGS = {"orm": "## ORM:", "implicit": "## Implicit PRM", "prm": "## PRM:"}


def earlier_section(text: str, kind: str) -> str:
    """The section of ``kind`` in an earlier results file (up to the next section), or ''."""
    text = text.split(KEEP, 1)[0]
    start = text.find(HEADINGS[kind])
    if start < 0:
        return ""
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)].rstrip() + "\n"


def report(result: dict) -> str:
    """Markdown: the command, machine and date, then one section per model."""
    args = result["args"]
    skip = {"out", "work"} | ({k for k in args if k.startswith("orm")} if "orm" not in result else set()) | \
        ({k for k in args if k.startswith("prm") or k in ("rollouts", "soft")} if "prm" not in result else set()) | \
        ({"implicit_steps"} if "implicit" not in result else set())
    flags = " ".join(f"--{k.replace('_', '-')} {v}" if v is not True else f"--{k}"
                     for k, v in args.items() if k not in skip and v not in (None, "", False))
    run = (f"Command: `.venv/bin/python bench/reward_models.py {flags}`  \n"
           f"Machine: {result['machine']}, 2 shared cores (other jobs running), {result['date']}.\n")
    text = ["# Reward models learning on CPU\n\nEach section names the run that wrote it; a rerun of one part "
            "(`--only`) keeps the others.\n"]
    if "orm" in result:
        runs = result["orm"]
        o = runs[0]
        per_cat = lambda row: ", ".join(f"{k[4:]} {v:.3f}" for k, v in row.items() if k.startswith("acc/"))  # noqa: E731
        every = lambda a: f"{a['balanced']:.3f} (near {a['near']:.3f}, far {a['far']:.3f})"  # noqa: E731
        rows = "\n".join(f"| {r['seed']} | {r['before']['pairwise_accuracy']:.3f} | {r['after']['pairwise_accuracy']:.3f} "
                         f"| {per_cat(r['after'])} | {every(r['all_held_out'])} | {r['seen_expressions_new_pairs']['pairwise_accuracy']:.3f} "
                         f"| {r['seconds']:.0f} |" for r in runs)
        after = [r["after"]["pairwise_accuracy"] for r in runs]
        balanced = [r["all_held_out"]["balanced"] for r in runs]
        text.append(f"""## ORM: pairwise Bradley-Terry on synthetic arithmetic preferences

{run}
Chosen `\\boxed{{right}}` vs rejected `\\boxed{{wrong}}` (near: off by 1-2, far: off by 3-10) on terse prompts
(`"7 + 5 ="`, difficulty 1). Held-out pairs use expressions never seen in training
({o['train_facts']} training expressions, {o['held_out_facts']} held-out, {o['held_out_pairs']} pairs). Init: {o['init']}.
{o['steps']} steps of {o.get('batch', 32)} pairs{f", LoRA rank {result['args']['orm_lora_rank']}" if result['args'].get('orm_lora_rank') else ""}.
"Seen split": {o['seen_split_pairs']} new pairs (new wrong answers) on expressions seen in training, scored by the
model loaded back from its checkpoint.

"All held-out pairs": every pair on the unseen expressions (each with its 20 wrong answers), the mean of the
near and far accuracies (the sampled pairs mix them evenly). The settings were tuned looking at the sampled
pairs, not at this set.

| seed | held-out accuracy before | after | after, per category | all held-out pairs, after | seen split, after | seconds |
|---|---|---|---|---|---|---|
{rows}

Held-out accuracy after training: min {min(after):.3f}, median {float(np.median(after)):.3f} over {len(runs)} seed(s)
(all held-out pairs: min {min(balanced):.3f}, median {float(np.median(balanced)):.3f}).
""")
        if "orm_ensemble" in result:
            ens = result["orm_ensemble"]
            e = {k: v["pairwise_accuracy"] for k, v in ens.items()}
            a = {k: v["all_held_out"]["balanced"] for k, v in ens.items() if "all_held_out" in v}
            text.append(f"""The {len(runs)} models as one ensemble (`EnsembleScorer.standardized`, each member standardized on 200
responses to training prompts), same held-out pairs: mean {e['mean']:.3f}, mean - var (lambda 1)
{e['mean_minus_var']:.3f}, min {e['min']:.3f} (min over raw scores: {e['raw_min']:.3f}). On all held-out pairs:
mean {a['mean']:.3f}, mean - var {a['mean_minus_var']:.3f}, min {a['min']:.3f}.
""")
    if "implicit" in result:
        i = result["implicit"]
        text.append(f"""## Implicit PRM (PRIME) on the same pairs

{run}
The same training pairs read as outcomes (chosen 1, rejected 0), `--kind implicit` (beta 0.05), same init
and learning rate, {i['steps']} steps of 32 responses; a held-out pair counts as right when the chosen
response's summed implicit reward `beta * sum_t log pi/pi_ref` is the larger. Held-out: the same unseen
expressions as above. Before training every pair ties (the model is its reference), which counts as wrong.

| pairwise accuracy, unseen expressions | near | far |
|---|---|---|
| {i['pairwise_accuracy']:.3f} | {i['acc']['near']:.3f} | {i['acc']['far']:.3f} |

{i['seconds']:.0f} s in all.
""")
    if "prm" in result:
        p = result["prm"]
        text.append(f"""## PRM: step labels from search, on the toy modchain

{run}
{p['train_trajectories']} `ToyChainPolicy` solutions labelled by `mc_step_labels` ({p['rollouts']} roll-outs per
prefix, {p['labels']} labels; {p['train_steps']} labelled steps; labels agree with the truth on
{p['mc_label_agreement_with_truth']:.3f} of steps). Trained with `--kind prm` on a fresh tiny model, loaded back
with `ValueHeadPRM.from_pretrained`, scored on {p['held_out_steps']} steps of held-out solutions against the true
step correctness (`read_state(prefix).on_path`).

| step accuracy (p >= 0.5 vs truth) | majority-class rate | AUROC |
|---|---|---|
| {p['step_accuracy']:.3f} | {p['majority_rate']:.3f} | {p['auroc']:.3f} |

{p['seconds']:.0f} s in all ({p['label_s']:.0f} s of it labelling).
""")
    return "\n".join(text)


if __name__ == "__main__":
    main()
