"""Search strategies at equal compute on the toy modchain task: which closes the gap between
majority vote and the oracle pass@N?

    .venv/bin/python bench/search_compare.py [--problems 1000] [--seeds 5] [--budgets 4 16 64 256]
        [--workers 2] [--real] [--out bench/results/search.md]

Setup (issue 7):
- Task: ``assay/modchain-v0`` chains (difficulty 2: 4 steps), ``--problems`` of them.
- Policy: ``assay.search.toy.ToyChainPolicy``: each step right with ``--step-accuracy``; one trap
  step per task right with ``--trap-accuracy``, else always the same wrong value (wrong answers
  cluster, so majority vote can settle on one); with ``--repeat-rate`` it repeats its last line.
- Scorer: ``assay.search.toy.NoisyPRM`` (``sigmoid(+-separation/2 + noise * eps)``), unbiased;
  a second table gives it a bias toward repeated lines (``--repeat-bias``).
- Budget N: every strategy gets ``Budget(steps=N * 4)``, the steps of N full solutions: majority
  and best-of-N sample N solutions; beam search keeps N beams (beam width 4); DVTS runs N/4
  subtrees of 4; MCTS expands 4 candidates per node until the step budget is spent.
- Oracle pass@N: some of the N best-of-N samples is right.

Accuracy is averaged over seeds per problem, then over problems; standard errors come from 1000
bootstrap resamples of the problems, and the comparison of the best tree strategy with
max(majority, weighted best-of-N) uses paired resamples. ``--real`` also runs the strategies with
assay's tiny transformer (warm-started on arithmetic) so the path with real generation runs.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

STEPS = 4  # modchain difficulty 2
STRATEGIES = ("majority", "bon_last", "bon_min", "beam", "dvts", "mcts")
TREE = ("beam", "dvts", "mcts")
LABELS = {"majority": "majority@N", "bon_last": "weighted BoN (last)", "bon_min": "weighted BoN (min)",
          "beam": "beam search", "dvts": "DVTS", "mcts": "MCTS", "oracle": "oracle pass@N"}


def make(name: str, n: int):
    from assay.search import DVTS, MCTS, BeamSearch, BestOfN, MajorityVote

    width = min(4, n)
    return {"majority": MajorityVote(n=n), "bon_last": BestOfN(n=n), "bon_min": BestOfN(n=n, aggregation="min"),
            "beam": BeamSearch(n=n, beam_width=width), "dvts": DVTS(n=n, beam_width=width),
            "mcts": MCTS(width=4)}[name]


def one_seed(args: tuple) -> dict:
    """Per (budget, strategy): a 0/1 vector over problems, and the mean cost."""
    seed, problems, budgets, settings, bias = args
    from assay.envs.procedural import modchain
    from assay.search import Budget
    from assay.search.toy import NoisyPRM, ToyChainPolicy, toy_answer

    rng = np.random.default_rng(1000 + seed)
    tasks = [modchain.generate(rng, 2) for _ in range(problems)]
    gold = [t.answer for t in tasks]
    out: dict = {}
    for n in budgets:
        for name in STRATEGIES:
            policy = ToyChainPolicy(step_accuracy=settings["step_accuracy"], trap_accuracy=settings["trap_accuracy"],
                                    repeat_rate=settings["repeat_rate"], seed=seed * 7919 + n)
            prm = NoisyPRM(separation=settings["separation"], noise=settings["noise"], repeat_bias=bias, seed=seed)
            t0 = time.perf_counter()
            results = make(name, n).search(tasks, policy, None if name == "majority" else prm,
                                           budget=Budget(steps=n * STEPS), answer=toy_answer, equivalence="exact")
            wall = time.perf_counter() - t0
            out[(n, name)] = {
                "correct": np.array([r.answer == g for r, g in zip(results, gold)], dtype=float),
                "steps": float(np.mean([r.cost.steps for r in results])),
                "scored": float(np.mean([r.cost.scorer_calls for r in results])),
                "wall": wall,
            }
            if name == "bon_last":
                out[(n, "oracle")] = {"correct": np.array([any(e.answer == g for e in r.explored)
                                                           for r, g in zip(results, gold)], dtype=float)}
    return out


def bootstrap(matrix: np.ndarray, rng: np.random.Generator, reps: int = 1000) -> np.ndarray:
    """Means of ``reps`` resamples of the rows (problems) of ``matrix`` ``[problems, ...]``."""
    idx = rng.integers(0, matrix.shape[0], size=(reps, matrix.shape[0]))
    return matrix[idx].mean(axis=1)


def summarise(runs: list[dict], budgets: list[int]) -> dict:
    rng = np.random.default_rng(0)
    table = {}
    for n in budgets:
        names = STRATEGIES + ("oracle",)
        per_problem = {s: np.mean([r[(n, s)]["correct"] for r in runs], axis=0) for s in names}
        matrix = np.stack([per_problem[s] for s in names], axis=1)  # (problems, strategies)
        boots = bootstrap(matrix, rng)  # (reps, strategies)
        row = {s: {"acc": float(matrix[:, j].mean()), "se": float(boots[:, j].std(ddof=1))} for j, s in enumerate(names)}
        for s in STRATEGIES:
            row[s]["steps"] = float(np.mean([r[(n, s)]["steps"] for r in runs]))
            row[s]["scored"] = float(np.mean([r[(n, s)]["scored"] for r in runs]))
            row[s]["wall"] = float(np.sum([r[(n, s)]["wall"] for r in runs]))
        baseline = max(("majority", "bon_last", "bon_min"), key=lambda s: row[s]["acc"])
        best_tree = max(TREE, key=lambda s: row[s]["acc"])
        j_tree, j_base = names.index(best_tree), names.index(baseline)
        diff = boots[:, j_tree] - boots[:, j_base]
        gap = row["oracle"]["acc"] - row["majority"]["acc"]
        row["_"] = {"baseline": baseline, "best_tree": best_tree,
                    "margin": row[best_tree]["acc"] - row[baseline]["acc"], "margin_se": float(diff.std(ddof=1)),
                    "closed": {s: (row[s]["acc"] - row["majority"]["acc"]) / gap if gap > 0 else float("nan")
                               for s in STRATEGIES}}
        table[n] = row
    return table


def plot(table: dict, biased: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("unbiased PRM", table)] + ([("PRM biased toward repeated steps", biased)] if biased else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    for ax, (title, tab) in zip(axes[0], panels):
        budgets = sorted(tab)
        for s in ("oracle",) + STRATEGIES:
            acc = [tab[n][s]["acc"] for n in budgets]
            se = [tab[n][s]["se"] for n in budgets]
            ax.errorbar(budgets, acc, yerr=[2 * x for x in se], marker="o", capsize=3, label=LABELS[s],
                        linestyle="--" if s == "oracle" else "-")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("budget N (steps of N solutions)")
        ax.set_ylabel("accuracy (error bars: 2 SE)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def real_policy_run(problems: int, budgets: list[int]) -> list[str]:
    """The same strategies with assay's tiny transformer on arithmetic (single-step answers), scored
    by PRIME's implicit PRM (the warm-started model against its own initialisation) and, as an
    oracle, by the verifier. Exercises real generation; small sizes, so only indicative."""
    import tempfile

    import assay
    from assay.protocols import SamplingParams
    from assay.search import Budget, MajorityVote, BestOfN, BeamSearch
    from assay.search.generator_policy import GeneratorPolicy
    from assay.search.scorers import VerifierScorer
    from assay.verifiers.learned.implicit import ImplicitPRM
    from assay.trainer.demo import ENV_KWARGS
    from assay.trainer.generators.hf import HFGenerator
    from assay.trainer.policy import load_policy
    from assay.trainer.sft import SFTConfig, pretrain_tiny

    work = Path(tempfile.mkdtemp(prefix="assay-search-bench-"))
    t0 = time.perf_counter()
    sft = pretrain_tiny(SFTConfig(out=str(work / "sft"), env_kwargs=dict(ENV_KWARGS), steps=400, seed=0),
                        log=lambda line: None)
    sft_s = time.perf_counter() - t0
    model, tok = load_policy(str(sft), work)
    ref, _ = load_policy("tiny", work)  # the initialisation the warm start began from (seed 0)
    env = assay.make("assay/arithmetic-v0", **ENV_KWARGS)
    tasks, prompts = [], {}
    for i in range(10_000, 10_000 + problems):
        _, info = env.reset(seed=i)
        tasks.append(info["task"])
        prompts[info["task"].id] = info["messages"]
    messages = lambda task, hints: prompts[task.id]  # noqa: E731
    verifier = env.unwrapped.verifier
    lines = [f"Tiny transformer policy (warm start: {sft_s:.0f} s of SFT, 400 steps), {problems} held-out "
             f"arithmetic tasks (`{ENV_KWARGS}`), T = 1.0, one solution = one step:", "",
             "| N | strategy | scorer | accuracy | steps/task | scorer calls/task | wall s |", "|---|---|---|---|---|---|---|"]
    for n in budgets:
        for name, strategy, scorer in (
                ("majority@N", MajorityVote(n=n), None),
                ("weighted BoN", BestOfN(n=n, aggregation="sum"), ImplicitPRM(model, ref, tok, messages=messages)),
                ("beam search", BeamSearch(n=n, beam_width=min(2, n), aggregation="sum"),
                 ImplicitPRM(model, ref, tok, messages=messages)),
                ("best-of-N", BestOfN(n=n, selection="best"), VerifierScorer(verifier))):
            policy = GeneratorPolicy(HFGenerator(model, tok), tok, SamplingParams(max_new_tokens=12, temperature=1.0,
                                                                                     seed=n), messages=messages)
            t0 = time.perf_counter()
            results = strategy.search(tasks, policy, scorer, budget=Budget(steps=n), verifier=verifier)
            wall = time.perf_counter() - t0
            acc = np.mean([r.passed for r in results])
            scorer_name = "none" if scorer is None else ("verifier (oracle)" if isinstance(scorer, VerifierScorer)
                                                         else "implicit PRM")
            lines.append(f"| {n} | {name} | {scorer_name} | {acc:.3f} | {np.mean([r.cost.steps for r in results]):.1f} "
                         f"| {np.mean([r.cost.scorer_calls for r in results]):.1f} | {wall:.1f} |")
            print(lines[-1], flush=True)
    return lines


READING = """## Reading the tables

- Majority vote gets worse as N grows, by construction: the trap step's single wrong value makes
  one wrong answer the most common, and more votes make that plurality surer. This is the regime
  (systematic errors) where a step-level scorer pays.
- The tree strategies prune a prefix as soon as the PRM doubts a step, so they re-sample the
  trap step instead of voting over its consequences; DVTS keeps N/4 independent subtrees, which
  keeps answers diverse where beam search's survivors collapse onto one prefix.
- MCTS spends less than its budget at N = 256: the toy's steps take few distinct values, so the
  tree runs out of new nodes even with two re-samplings per node (``widen=2``). Its answer
  follows the best backed-up value; at small budgets it rarely finishes a solution.
- Real generation: arithmetic answers are one step, so the strategies reduce to sampling; the
  implicit PRM is the warm-started model against its own initialisation, a weak scorer. The
  point of that table is that generation, the implicit PRM and the verifier run through the same
  strategies; its accuracies are indicative only.
"""

def render(args, table, biased, real_lines, wall) -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    cpu = platform.processor() or platform.machine()
    out = [f"# Search strategies at equal compute (toy modchain)", "",
           f"Command: `.venv/bin/python bench/search_compare.py --problems {args.problems} --seeds {args.seeds} "
           f"--budgets {' '.join(map(str, args.budgets))}{' --real' if args.real else ''}`  ",
           f"Machine: {cpu}, {__import__('os').cpu_count()} cores (shared); {datetime.date.today()}; commit {commit}; "
           f"total {wall / 60:.1f} min.", "",
           f"Toy policy: step accuracy {args.step_accuracy}, trap accuracy {args.trap_accuracy}, repeat rate "
           f"{args.repeat_rate}; PRM separation {args.separation}, noise {args.noise}. {args.problems} problems x "
           f"{args.seeds} seeds; accuracy +- bootstrap SE over problems. Budget N = steps of N solutions "
           f"({STEPS} steps each).", ""]

    def block(title, tab):
        out.extend([f"## {title}", "", "| N | " + " | ".join(LABELS[s] for s in STRATEGIES + ("oracle",)) + " |",
                    "|---|" + "---|" * (len(STRATEGIES) + 1)])
        for n in sorted(tab):
            out.append(f"| {n} | " + " | ".join(f"{tab[n][s]['acc']:.3f} +- {tab[n][s]['se']:.3f}"
                                                 for s in STRATEGIES + ("oracle",)) + " |")
        out.extend(["", "Best tree strategy against max(majority, weighted best-of-N), and the fraction of the "
                        "majority -> pass@N gap each strategy closes:", "",
                    "| N | best tree | baseline | margin | paired SE | margin / SE | " +
                    " | ".join(f"gap closed: {LABELS[s]}" for s in STRATEGIES[1:]) + " |",
                    "|---|---|---|---|---|---|" + "---|" * (len(STRATEGIES) - 1)])
        for n in sorted(tab):
            m = tab[n]["_"]
            out.append(f"| {n} | {LABELS[m['best_tree']]} | {LABELS[m['baseline']]} | {m['margin']:+.3f} | "
                       f"{m['margin_se']:.3f} | {m['margin'] / m['margin_se']:.1f} | " +
                       " | ".join(f"{m['closed'][s]:.2f}" for s in STRATEGIES[1:]) + " |")
        out.extend(["", "Mean cost per problem (steps generated / prefixes scored) and summed wall seconds:", "",
                    "| N | " + " | ".join(LABELS[s] for s in STRATEGIES) + " |", "|---|" + "---|" * len(STRATEGIES)])
        for n in sorted(tab):
            out.append(f"| {n} | " + " | ".join(f"{tab[n][s]['steps']:.0f} / {tab[n][s]['scored']:.0f} "
                                                 f"({tab[n][s]['wall']:.0f} s)" for s in STRATEGIES) + " |")
        out.append("")

    block("Unbiased PRM", table)
    if biased:
        block(f"PRM biased toward repeated steps (repeat_bias {args.repeat_bias})", biased)
    if real_lines:
        out.extend(["## Real generation", ""] + real_lines + [""])
    out.append(READING)
    out.append(f"Plot: `{Path(args.out).with_suffix('.png').name}`.")
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budgets", type=int, nargs="+", default=[4, 16, 64, 256])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--step-accuracy", type=float, default=0.8)
    p.add_argument("--trap-accuracy", type=float, default=0.35)
    p.add_argument("--repeat-rate", type=float, default=0.05)
    p.add_argument("--separation", type=float, default=2.0)
    p.add_argument("--noise", type=float, default=1.0)
    p.add_argument("--repeat-bias", type=float, default=3.0)
    p.add_argument("--biased-budgets", type=int, nargs="*", default=[16, 64])
    p.add_argument("--real", action="store_true")
    p.add_argument("--real-problems", type=int, default=100)
    p.add_argument("--out", default="bench/results/search.md")
    args = p.parse_args()
    settings = {k: getattr(args, k) for k in ("step_accuracy", "trap_accuracy", "repeat_rate", "separation", "noise")}
    t0 = time.perf_counter()
    jobs = [(s, args.problems, args.budgets, settings, 0.0) for s in range(args.seeds)]
    jobs += [(s, args.problems, args.biased_budgets, settings, args.repeat_bias) for s in range(args.seeds)
             if args.biased_budgets]
    with ProcessPoolExecutor(args.workers) as pool:
        runs = list(pool.map(one_seed, jobs))
    table = summarise(runs[:args.seeds], args.budgets)
    biased = summarise(runs[args.seeds:], args.biased_budgets) if args.biased_budgets else None
    real_lines = real_policy_run(args.real_problems, [4, 8]) if args.real else []
    wall = time.perf_counter() - t0
    Path(args.out).write_text(render(args, table, biased, real_lines, wall))
    plot(table, biased, Path(args.out).with_suffix(".png"))
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
