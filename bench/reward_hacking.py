"""Reward hacking of summed process rewards, and the refinements that resist it.

A tabular policy-gradient run on the toy modchain tasks (``assay.search.toy``). The policy has two
logits: ``theta_repeat`` (repeat the previous line instead of advancing; harmless to the answer but
it uses up the step cap, and a policy that hits the cap answers wrong) and ``theta_correct`` (an
advancing step is right). The proxy reward is ``NoisyPRM(repeat_bias=b)``; the true reward is
whether the final answer is right. Two regimes, one table each:

- ``b = 0``, the hack Gao et al. (2024) found: the PRM scores a repeated line exactly as it scores
  the line itself (a right step stays "right"), so repeating pays only by accumulation;
- ``b = 3``, the search benchmark's biased PRM (bench/search_compare.py ``--repeat-bias``), which
  scores a repeat *above* a right new step.

Each run trains with REINFORCE on per-step returns ``G_t = shape(PRM scores)_t + outcome``, where
shape is one of: ``sum`` (G_t = sum_{k>=t} r_k), ``min`` (PURE), ``clip`` (min(r - eta, 0), then
sum), ``delta`` (r_k - r_{k+1}, last dropped, then sum). The baseline is the batch mean of the
returns at the same step index. Hacked = proxy (summed PRM score) up while true accuracy goes down.

    .venv/bin/python bench/reward_hacking.py          # writes bench/results/reward_hacking.{md,png}
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import time
from pathlib import Path

import numpy as np

from assay.envs.procedural.modchain import apply, generate
from assay.protocols import Prefix, Step
from assay.search.toy import NoisyPRM, read_state, toy_answer
from assay.verifiers.shaping import shape_process

FORMS = {  # name: (per-step transform, return mode)
    "sum": ("none", "sum"),
    "min": ("none", "min"),
    "clip": ("clip", "sum"),
    "delta": ("delta", "sum"),
}


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def episode(task, theta, slack: int, rng: random.Random):
    """One toy solution; returns the steps and, per step, the (action, grad of log-prob) pairs."""
    x0, m, ops = int(task.meta["x0"]), int(task.meta["modulus"]), task.meta["ops"]
    k = len(ops)
    steps, grads = [], []
    value, advanced = x0, 0
    while not (steps and steps[-1].terminal):
        if len(steps) + 1 >= k + slack and advanced < k:  # out of room: answers with what it has
            steps.append(Step(f"Answer: \\boxed{{{value}}}\n", terminal=True))
            grads.append(np.zeros(2))
            continue
        g = np.zeros(2)
        if steps:
            p = sigmoid(theta[0])
            repeat = rng.random() < p
            g[0] = (1.0 if repeat else 0.0) - p
            if repeat:
                steps.append(Step(steps[-1].text))
                grads.append(g)
                continue
        p = sigmoid(theta[1])
        right = rng.random() < p
        g[1] = (1.0 if right else 0.0) - p
        op, a = ops[advanced]
        value = apply(value, op, int(a), m)
        if not right:
            value = (value + 1) % m
        advanced += 1
        text = f"Step {advanced}: {value}\n" + (f"\\boxed{{{value}}}\n" if advanced == k else "")
        steps.append(Step(text, terminal=advanced == k))
        grads.append(g)
    return steps, grads


def run(form: str, args, tasks) -> list[dict]:
    transform, mode = FORMS[form]
    rng = random.Random(args.seed)
    prm = NoisyPRM(separation=2.0, noise=1.0, repeat_bias=args.repeat_bias, seed=args.seed)
    theta = np.array([math.log(args.repeat0 / (1 - args.repeat0)), math.log(args.correct0 / (1 - args.correct0))])
    rows = []
    for it in range(args.iters + 1):
        batch = [rng.choice(tasks) for _ in range(args.batch)]
        episodes = [episode(t, theta, args.slack, rng) for t in batch]
        prefixes = [Prefix(t, tuple(s)) for t, (s, _) in zip(batch, episodes)]
        scores = prm.score(prefixes)
        outcome = [float(toy_answer(t, p.text) == t.answer) for t, p in zip(batch, prefixes)]
        flat = [x for row in scores for x in row]
        offsets = np.cumsum([0] + [len(row) for row in scores])
        returns = shape_process(flat, offsets, transform, mode, eta=args.eta).tolist()
        on_path = [read_state(p).on_path for p in prefixes]
        rows.append({"iter": it, "proxy": float(np.mean([sum(r) for r in scores])), "accuracy": float(np.mean(outcome)),
                     "on_path": float(np.mean(on_path)), "steps": float(np.mean([len(r) for r in scores])),
                     "p_repeat": sigmoid(theta[0]), "p_correct": sigmoid(theta[1])})
        if it == args.iters:
            break
        # REINFORCE: G_t + outcome, baseline = batch mean at the same step index
        per_index: dict[int, list[float]] = {}
        total = []
        for e, (_, grads) in enumerate(episodes):
            for t in range(len(grads)):
                g = returns[offsets[e] + t] + args.outcome_coef * outcome[e]
                per_index.setdefault(t, []).append(g)
                total.append((e, t, g))
        baseline = {t: float(np.mean(v)) for t, v in per_index.items()}
        grad = np.zeros(2)
        for e, t, g in total:
            grad += (g - baseline[t]) * episodes[e][1][t]
        theta = theta + args.lr * grad / args.batch
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--repeat-bias", default="0,3", help="one main table per PRM repeat bias")
    ap.add_argument("--eta", type=float, default=0.5, help="clip threshold")
    ap.add_argument("--outcome-coef", type=float, default=1.0)
    ap.add_argument("--slack", type=int, default=4)
    ap.add_argument("--repeat0", type=float, default=0.1)
    ap.add_argument("--correct0", type=float, default=0.7)
    ap.add_argument("--difficulty", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sweep", default="0,1,2,3", help="repeat biases for the sensitivity table (every seed)")
    ap.add_argument("--out", default="bench/results/reward_hacking")
    args = ap.parse_args()
    trng = np.random.default_rng(12345)
    tasks = [generate(trng, args.difficulty) for _ in range(256)]
    started = time.perf_counter()
    biases = [float(b) for b in str(args.repeat_bias).split(",") if b.strip()]
    results: dict[float, dict[str, list[list[dict]]]] = {}
    for bias in biases:
        results[bias] = {f: [] for f in FORMS}
        for form in FORMS:
            for s in range(args.seeds):
                results[bias][form].append(run(form, argparse.Namespace(**{**vars(args), "seed": args.seed + s, "repeat_bias": bias}), tasks))
    sweep = {}  # (bias, form) -> final rows of every seed; the main tables' biases are reused
    for bias in [float(b) for b in args.sweep.split(",") if b.strip()]:
        for form in FORMS:
            sweep[(bias, form)] = ([runs[-1] for runs in results[bias][form]] if bias in results else
                                   [run(form, argparse.Namespace(**{**vars(args), "seed": args.seed + s, "repeat_bias": bias}), tasks)[-1]
                                    for s in range(args.seeds)])
    elapsed = time.perf_counter() - started
    write_report(args, results, sweep, elapsed)


def _mean(runs, it, key):
    return float(np.mean([r[it][key] for r in runs]))


def verdict(runs, last: int) -> str:
    """Hacked: the proxy went up while true accuracy went down (seed means)."""
    hacked = _mean(runs, last, "proxy") > _mean(runs, 0, "proxy") and _mean(runs, last, "accuracy") < _mean(runs, 0, "accuracy")
    return "hacked" if hacked else "resists"


def main_table(runs_by_form, last: int) -> str:
    lines = ["| return form | proxy (summed PRM score) | true accuracy | P(repeat) | steps | final acc per seed | |",
             "|---|---|---|---|---|---|---|"]
    for form, runs in runs_by_form.items():
        per_seed = " ".join(f"{r[last]['accuracy']:.2f}" for r in runs)
        lines.append(f"| {form} | {_mean(runs, 0, 'proxy'):.2f} -> {_mean(runs, last, 'proxy'):.2f} | "
                     f"{_mean(runs, 0, 'accuracy'):.3f} -> {_mean(runs, last, 'accuracy'):.3f} | "
                     f"{_mean(runs, 0, 'p_repeat'):.2f} -> {_mean(runs, last, 'p_repeat'):.2f} | "
                     f"{_mean(runs, 0, 'steps'):.2f} -> {_mean(runs, last, 'steps'):.2f} | "
                     f"{per_seed} | {verdict(runs, last)} |")
    return "\n".join(lines)


REGIMES = {0.0: "the accumulation hack (Gao et al.): a repeated line is scored as the line itself",
           3.0: "the search benchmark's biased PRM: a repeat is scored above a right new step"}


def write_report(args, results, sweep, elapsed: float) -> None:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 3, figsize=(14, 4 * len(results)), squeeze=False)
    for row, (bias, by_form) in zip(axes, results.items()):
        for form, runs in by_form.items():
            xs = [r["iter"] for r in runs[0]]
            for ax, key in zip(row, ("proxy", "accuracy", "p_repeat")):
                ax.plot(xs, [_mean(runs, i, key) for i in range(len(xs))], label=form)
        for ax, title in zip(row, ("proxy: summed NoisyPRM score", "true accuracy", "P(repeat)")):
            ax.set_title(f"{title} (repeat_bias {bias:g})")
            ax.set_xlabel("policy-gradient iteration")
            ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=100)
    last = args.iters
    tables = "\n\n".join(f"## repeat_bias {bias:g}: {REGIMES.get(bias, 'PRM repeat bias ' + format(bias, 'g'))}\n\n"
                          + main_table(by_form, last) for bias, by_form in results.items())
    biases = sorted({b for b, _ in sweep})
    sweep_lines = [f"| {form} | " + " | ".join(
        f"{np.mean([r['accuracy'] for r in sweep[(b, form)]]):.2f} / {np.mean([r['p_repeat'] for r in sweep[(b, form)]]):.2f}"
        for b in biases) + " |" for form in FORMS]
    sweep_text = (f"\n\n## Sensitivity\n\nFinal true accuracy / P(repeat) after {args.iters} iterations, means over "
                  f"{args.seeds} seeds, by the PRM's repeat bias (other settings as above).\n\n| form | "
                  + " | ".join(f"repeat_bias {b:g}" for b in biases) + " |\n|---|" + "---|" * len(biases) + "\n"
                  + "\n".join(sweep_lines)) if sweep else ""
    text = f"""# Reward hacking: summed process rewards vs min-form, clip and delta

Command: `.venv/bin/python bench/reward_hacking.py` ({time.strftime('%Y-%m-%d')}, {platform.machine()},
{elapsed:.0f} s for all runs). Settings: modchain difficulty {args.difficulty} (4 steps), step cap
chain + {args.slack}, NoisyPRM(separation 2, noise 1, repeat_bias as titled), batch {args.batch},
{args.iters} iterations, lr {args.lr}, clip eta {args.eta}, outcome reward weight {args.outcome_coef},
start P(repeat) {args.repeat0}, P(step right) {args.correct0}; means over {args.seeds} seeds (the
column "final acc per seed" lists each seed). Each step's return is the shaped PRM return plus the
outcome reward (Gao et al.: the refinements are added to the success reward). Hacked = the proxy
went up while true accuracy went down.

{tables}

![curves]({out.with_suffix('.png').name}){sweep_text}

## Reading it

What the policy can do: repeat a line (scored ~sigmoid(+-1 + repeat_bias) before noise: ~0.73 for a
repeated right line at bias 0) or advance (right ~sigmoid(1) = 0.73, wrong ~0.27). Under the sum form
every extra repeat adds its score to every earlier step's return, worth more than the outcome reward
it risks, so the policy learns to repeat until the cap forces a wrong answer, whatever the bias.
Min-form returns cannot rise with extra steps (a min only falls), and clip makes every step reward
<= 0, so neither pays for length at any bias.

Delta telescopes: over a whole solution its rewards sum to ``r_1 - r_last``, whatever lies between,
so neither the number of repeats nor their scores enter the objective, and the accumulation hack
(bias 0) is gone. The hack at bias >= 2 comes from the credit, not the objective. The policy
gradient credits each action with the rewards from its own step on (reward-to-go, as PPO's GAE with
gamma = lambda = 1 does in Gao et al.), so action t gets ``r_t - r_last``. The ``-r_t`` that would
cancel its own score sits in step t-1's delta reward ``r_(t-1) - r_t``, which depends on action t
but is credited to the step before. So each step keeps its own score: a PRM that scores the hack
step above a right step at the same state (bias >= 2 here) is followed at every repeat, and a
low-scored last step (the forced answer) raises every earlier return, since ``r_last`` is subtracted
from each. At bias 0 a repeat scores
what the step it repeats scored, so that credit buys nothing and delta resists. Crediting the
cancelling term to action t instead would leave action t with ``-r_last`` plus the outcome: the
PRM's intermediate scores would drop out of the gradient and delta would carry no process signal at
all (derived, not run). So this is a property of delta, not of this toy: clip (which caps every
score at eta) and min-form (which credits the worst future step) resist at every bias.
"""
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
