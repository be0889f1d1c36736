"""Search output as training data: trajectories for the trainer, step-value labels for PRMs.

- ``to_trajectories``: every finished explored trajectory as an ``assay.Trajectory`` (token ids
  as generated, step boundaries, step scores as ``step_rewards``).
- ``mc_step_labels``: Math-Shepherd's Monte-Carlo labels, ``P(correct | prefix)`` estimated by
  rolling out from every step prefix and verifying the roll-outs.
- ``tree_step_labels``: labels from an MCTS tree: a node is correct when a finished solution below
  it passes the verifier; with ``rest_value_targets`` as ReST-MCTS*'s value targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assay.protocols import Policy, Prefix, Step, Verifier
from assay.search.result import SearchResult, TreeNode
from assay.types import Provenance, Task, Trajectory, Turn


def to_trajectories(result: SearchResult, verifier: Verifier | None = None, prompt_ids: Sequence[int] = (),
                    model: str = "") -> list[Trajectory]:
    """The finished trajectories of one search, grouped under the task id.

    Rewards come from ``verifier`` (one batched call); without one they are 0 with no verdict, to
    be filled in by ``assay rescore``. Behaviour log-probs are kept when every step has per-token
    log-probs (a ``GeneratorPolicy``), else left empty for the trainer to recompute.
    """
    finished = [e for e in result.explored if e.done]
    verdicts = (verifier.verify_batch([result.task] * len(finished), [e.text for e in finished])
                if verifier is not None else [None] * len(finished))
    out = []
    for e, verdict in zip(finished, verdicts):
        ids, logprobs, bounds = [], [], []
        for step in e.steps:
            ids += step.token_ids
            logprobs += step.token_logprobs
            bounds.append(len(ids))
        exact_logprobs = len(logprobs) == len(ids) and all(len(s.token_logprobs) == s.n_tokens for s in e.steps)
        out.append(Trajectory(
            task_id=result.task.id,
            group_id=f"search:{result.strategy}:{result.task.id}",
            turns=(Turn("assistant", e.text, tuple(ids), tuple(logprobs) if exact_logprobs else ()),),
            prompt_ids=tuple(prompt_ids),
            token_ids=tuple(ids),
            loss_mask=(1,) * len(ids),
            logprobs=tuple(logprobs) if exact_logprobs else (),
            step_boundaries=tuple(bounds) if ids else (),
            reward=verdict.reward if verdict is not None else 0.0,
            step_rewards=e.step_scores or None,
            verdict=verdict,
            task=result.task,
            provenance=Provenance(verifier=getattr(verifier, "name", ""),
                                  verifier_version=getattr(verifier, "version", ""), model=model),
        ))
    return out


@dataclass(frozen=True)
class StepLabels:
    """Per-step value labels of one trajectory: ``labels[j]`` for the prefix ending at step j."""

    task: Task
    steps: tuple[Step, ...]
    labels: tuple[float, ...]
    source: str  # "monte_carlo", "tree" or "rest_mcts"

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(s.text for s in self.steps)


def mc_step_labels(trajectories: Sequence[tuple[Task, Sequence[Step]]], policy: Policy, verifier: Verifier,
                   rollouts: int = 8, hard: bool = False) -> list[StepLabels]:
    """Math-Shepherd (Wang et al. 2024) labels: for every step prefix, ``rollouts`` completions by
    the policy (one batched call for all prefixes), verified; the label is the fraction that pass
    (soft estimation) or, with ``hard``, 1.0 if any passes. A finished prefix is labelled by its
    own verdict."""
    if rollouts < 1:
        raise ValueError(f"rollouts must be >= 1, got {rollouts}")
    prefixes = [Prefix(task, tuple(steps[:j + 1])) for task, steps in trajectories for j in range(len(steps))]
    open_ = [p for p in prefixes if not p.done]
    completions = policy.complete([p for p in open_ for _ in range(rollouts)])
    finals = [p.extend(*c) for p, c in zip((p for p in open_ for _ in range(rollouts)), completions)]
    finals += [p for p in prefixes if p.done]
    verdicts = verifier.verify_batch([f.task for f in finals], [f.text for f in finals])
    passed = [v.error is None and v.passed for v in verdicts]
    labels, cursor, done_cursor = {}, 0, len(open_) * rollouts
    for p in prefixes:
        if p.done:
            labels[p.key] = 1.0 if passed[done_cursor] else 0.0
            done_cursor += 1
        else:
            wins = passed[cursor:cursor + rollouts]
            cursor += rollouts
            labels[p.key] = (1.0 if any(wins) else 0.0) if hard else sum(wins) / rollouts
    out = []
    for task, steps in trajectories:
        keys = [Prefix(task, tuple(steps[:j + 1])).key for j in range(len(steps))]
        out.append(StepLabels(task, tuple(steps), tuple(labels[k] for k in keys), "monte_carlo"))
    return out


def rest_value_targets(step_rewards: Sequence[float], distances: Sequence[int] | None = None) -> list[float]:
    """ReST-MCTS* (Zhang et al. 2024) value targets ``V_k = max(0, V_{k-1} + (1 - V_{k-1}) * r_k / m_k)``,
    ``V_0 = 0``. ``r_k`` is the step's quality in [-1, 1] (+1 a correct step, -1 a wrong one) and
    ``m_k`` its reasoning distance, the steps from it to the answer counting itself (default
    ``K - k + 1``, so a fully correct trajectory reaches exactly 1 at its last step)."""
    n = len(step_rewards)
    distances = list(distances) if distances is not None else [n - k for k in range(n)]
    if len(distances) != n or any(m < 1 for m in distances):
        raise ValueError("distances must give one value >= 1 per step")
    values, v = [], 0.0
    for r, m in zip(step_rewards, distances):
        if not -1 <= r <= 1:
            raise ValueError(f"step rewards must lie in [-1, 1], got {r}")
        v = max(0.0, v + (1 - v) * r / m)
        values.append(v)
    return values


def tree_step_labels(result: SearchResult, verifier: Verifier, rest: bool = False) -> list[StepLabels]:
    """Labels for every root-to-leaf path of an MCTS tree: a step is correct (1.0) when some
    finished solution below it passes the verifier, else 0.0. With ``rest``, the labels are
    turned into ReST-MCTS* value targets (correct steps +1, wrong -1)."""
    if result.tree is None:
        raise ValueError(f"{result.strategy} results have no tree; tree labels need MCTS")
    memo: dict[int, bool] = {}

    def solved(node: TreeNode, prefix: Prefix) -> bool:
        if id(node) not in memo:
            if node.terminal:
                verdict = verifier.verify(prefix.task, prefix.text)
                memo[id(node)] = verdict.error is None and verdict.passed
            else:
                memo[id(node)] = any([solved(c, prefix.extend(c.step)) for c in node.children])
        return memo[id(node)]

    root = Prefix(result.task)
    solved(result.tree, root)
    out = []
    stack: list[tuple[TreeNode, Prefix, list[float]]] = [(result.tree, root, [])]
    while stack:
        node, prefix, labels = stack.pop()
        if not node.children and prefix.steps:
            values = rest_value_targets([2 * x - 1 for x in labels]) if rest else labels
            out.append(StepLabels(result.task, prefix.steps, tuple(values), "rest_mcts" if rest else "tree"))
        for child in node.children:
            stack.append((child, prefix.extend(child.step), labels + [1.0 if memo.get(id(child)) else 0.0]))
    return out
