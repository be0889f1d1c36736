"""``assay eval-rm``: pairwise accuracy per category, step accuracy, or best-of-N selection accuracy."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval-rm",
        help="evaluate a reward model (pairwise accuracy per category, PRM step accuracy, best-of-N)",
        description="Evaluate a reward model written by `assay train-rm`. --data: held-out data in the format of the "
                    "model's kind (preference pairs for an ORM: pairwise accuracy per category, RewardBench-style; "
                    "step labels for a PRM; outcomes for an implicit PRM). --bon: JSONL rows {prompt, answer, domain, "
                    "responses: [...]}: pick each prompt's best response by the model and check it with the domain's "
                    "verifier.",
    )
    p.add_argument("model", nargs="+", help="reward model directory; several of one kind are evaluated as an ensemble")
    p.add_argument("--ensemble", choices=("mean_minus_var", "min"), default="mean_minus_var",
                   help="how several models combine per step (Coste et al.; default mean_minus_var)")
    p.add_argument("--lam", type=float, default=1.0, help="lambda of mean_minus_var (0: the plain mean; default 1)")
    p.add_argument("--data", help="held-out JSONL / dataset in the model kind's format")
    p.add_argument("--bon", help="best-of-N JSONL: {prompt, answer, domain, responses}")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from assay.errors import AssayError
    from assay.trainer import rm_eval
    from assay.trainer.reward_model import load_examples
    from assay.verifiers.learned.loading import load_reward_models

    if not args.data and not args.bon:
        raise AssayError("nothing to evaluate: pass --data FILE and/or --bon FILE")
    if args.lam < 0:
        raise AssayError(f"--lam must be >= 0, got {args.lam}")
    kind, models = load_reward_models(args.model)
    result: dict = {"model": args.model[0] if len(models) == 1 else args.model, "kind": kind}
    if len(models) > 1:
        result["ensemble"] = args.ensemble
    if args.data:
        examples = load_examples(kind, args.data)
        evaluate = {"orm": rm_eval.pairwise_accuracy, "prm": rm_eval.step_accuracy, "implicit": rm_eval.outcome_accuracy}[kind]
        model = _combined(models, kind, args, [r for e in examples for r in rm_eval.scored_prefixes(e)])
        result.update(evaluate(model, examples), examples=len(examples))
    if args.bon:
        from assay import verifiers
        from assay.trainer.rm_data import prompt_task, read_rows
        from assay.protocols import Prefix, Step
        from assay.types import Task

        rows = read_rows(args.bon)
        tasks, candidates = [], []
        for n, row in enumerate(rows, 1):
            if not {"prompt", "answer", "responses"} <= set(row):
                raise AssayError(f"{args.bon} row {n}: needs prompt, answer and responses")
            base = prompt_task(row["prompt"])
            tasks.append(Task(base.id, row["prompt"], row["answer"], row.get("domain", "math")))
            candidates.append(list(row["responses"]))
        domains = {t.domain for t in tasks}
        if len(domains) != 1:
            raise AssayError(f"{args.bon}: one domain per file, found {sorted(domains)}")
        model = _combined(models, kind, args, [Prefix(t, (Step(c),)) for t, cs in zip(tasks, candidates) for c in cs])
        bon = rm_eval.best_of_n(model, tasks, candidates, verifiers.get(domains.pop()))
        result.update({f"bon/{k}": v for k, v in bon.items()})
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<22} {value:.4f}" if isinstance(value, float) else f"{key:<22} {value}")
    return 0


def _combined(models: list, kind: str, args: argparse.Namespace, responses: list):
    """One model as it is; several as an ``EnsembleScorer``. ORMs are standardized first, each on
    every response being evaluated (``responses``, as prefixes): a Bradley-Terry score has no fixed
    offset or scale, and fitting on the evaluated responses themselves uses no labels."""
    from assay.verifiers.learned import EnsembleScorer

    if len(models) == 1:
        return models[0]
    if kind == "orm":
        return EnsembleScorer.standardized(models, responses, args.ensemble, args.lam)
    return EnsembleScorer(tuple(models), args.ensemble, args.lam)
