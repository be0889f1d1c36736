"""Reward-model evaluation: RewardBench-style pairwise accuracy per category, PRM step accuracy,
implicit-PRM outcome accuracy, and best-of-N selection accuracy with a verifier as ground truth."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from assay.protocols import Prefix, Step, Verifier
from assay.types import Task
from assay.verifiers.learned.outcome import last_step_rewards


def pairwise_accuracy(orm, pairs: Sequence) -> dict:
    """Share of pairs whose chosen response scores strictly higher than the rejected one (a tie
    counts as wrong, as in RewardBench), overall and per category (``acc/<category>``)."""
    chosen = orm.rewards([p.task for p in pairs], [p.chosen for p in pairs])
    rejected = orm.rewards([p.task for p in pairs], [p.rejected for p in pairs])
    right: dict[str, list[bool]] = defaultdict(list)
    for p, c, r in zip(pairs, chosen, rejected):
        right[p.category or "all"].append(c > r)
    hits = [x for v in right.values() for x in v]
    out = {"pairwise_accuracy": sum(hits) / max(len(hits), 1)}
    if len(right) > 1:
        out.update({f"acc/{k}": sum(v) / len(v) for k, v in sorted(right.items())})
    return out


def step_accuracy(prm, examples: Sequence) -> dict:
    """Share of steps where ``p(correct) >= 0.5`` agrees with ``label >= 0.5``, and the mean absolute
    error against soft labels."""
    prefixes = [Prefix(e.task, tuple(Step(s) for s in e.steps)) for e in examples]
    scores = [x for row in prm.score(prefixes) for x in row]
    labels = [x for e in examples for x in e.labels]
    hits = [(s >= 0.5) == (y >= 0.5) for s, y in zip(scores, labels)]
    return {"step_accuracy": sum(hits) / max(len(hits), 1),
            "step_mae": sum(abs(s - y) for s, y in zip(scores, labels)) / max(len(labels), 1)}


def outcome_accuracy(implicit_prm, examples: Sequence) -> dict:
    """Implicit PRM: share of responses where ``sum of step rewards > 0`` agrees with the outcome
    (its BCE objective reads ``sigmoid(beta * sum_t q_t)`` as p(correct))."""
    prefixes = [Prefix(e.task, tuple(Step(s) for s in e.steps)) for e in examples]
    totals = [sum(row) for row in implicit_prm.score(prefixes)]
    hits = [(t > 0) == (e.outcome >= 0.5) for t, e in zip(totals, examples)]
    return {"outcome_accuracy": sum(hits) / max(len(hits), 1)}


def response_rewards(model, tasks: Sequence[Task], responses: Sequence[str]) -> list[float]:
    """One score per response: an ORM's ``rewards``, or any ``Scorer``'s last-step score with the
    response read as one step (for a step-level PRM, scoring whole responses)."""
    if hasattr(model, "rewards"):
        return model.rewards(tasks, responses)
    return last_step_rewards(model, tasks, responses)


def scored_prefixes(example) -> list[Prefix]:
    """The prefixes an evaluation scores for one example: a preference pair's two responses (each
    one step), or a labelled or outcome example's steps (one prefix holding them all)."""
    if hasattr(example, "chosen"):
        return [Prefix(example.task, (Step(example.chosen),)), Prefix(example.task, (Step(example.rejected),))]
    return [Prefix(example.task, tuple(Step(s) for s in example.steps))]


def best_of_n(orm, tasks: Sequence[Task], candidates: Sequence[Sequence[str]], verifier: Verifier) -> dict:
    """Pick each task's highest-scoring candidate (``response_rewards``) and check it with ``verifier``. Reports the
    selection accuracy next to its bounds: ``mean@n`` (a random pick, the mean pass rate) and
    ``pass@n`` (an oracle pick: any candidate passes). Verifier errors count as failures."""
    flat_tasks = [t for t, cs in zip(tasks, candidates) for _ in cs]
    flat = [c for cs in candidates for c in cs]
    verdicts = verifier.verify_batch(flat_tasks, flat)
    passed = [v.error is None and v.passed for v in verdicts]
    scores = response_rewards(orm, flat_tasks, flat)
    chosen, mean, oracle, at = 0, 0.0, 0, 0
    for cs in candidates:
        n = len(cs)
        if n:
            best = max(range(n), key=lambda i: scores[at + i])
            chosen += passed[at + best]
            mean += sum(passed[at:at + n]) / n
            oracle += any(passed[at:at + n])
        at += n
    k = max(len(candidates), 1)
    return {"bon_accuracy": chosen / k, "mean@n": mean / k, "pass@n": oracle / k, "tasks": len(candidates)}
