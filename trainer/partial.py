"""Partial rollouts (Kimi k1.5, Kimi Team 2025): a long episode never holds up a batch.

With ``partial_rollout_turns = N`` a step advances every unfinished episode by at most N turns.
Groups whose episodes have all finished form the step's batch; a group with an episode still
running is paused whole and continued first at the next step, under the newer policy. Whole
groups, not episodes, because GRPO's advantages compare the rewards within a group: half a group
would train against the wrong baseline.

A paused episode keeps everything a continuation needs: its environment (the runner is told to
leave that slot alone while new episodes are reset on others), its token ids, the behaviour
log-prob of every generated token, and on each turn the policy version that sampled it. The
update's truncated importance weights ``min(pi_theta / pi_behaviour, C)`` (``tis_cap``) read those
log-probs, so the older turns of a mixed-version episode are corrected token by token.

The staleness bound. Steps are versions (the weights after ``v`` updates are version ``v``); a
batch trained at version ``t`` holds no token older than ``t - max_staleness``. A paused group
whose oldest turn would break that at the coming step is dropped before it is continued, and
counted. Every episode started is therefore trained once, dropped once, or still paused
(``started == trained + dropped + paused``; the tests count them).

Departures: Kimi k1.5 budgets tokens per iteration; this budgets turns (the unit the rollout
loop advances by, and the one an environment's state changes at). Rollouts with partial
rollouts run in the driver, synchronously: a paused group's staleness is the number of steps it
waited, which the bound caps. Paused episodes are not in checkpoints (their environments live in
the runner, possibly on other machines); a resumed run drops them and says how many.
"""

from __future__ import annotations

from collections.abc import Sequence

from assay.protocols import Generator, SamplingParams
from assay.trainer.rollout import Episode, EnvRunner, advance, start_episodes, to_trajectory
from assay.types import Task, Trajectory


class PartialRollouts:
    """The paused groups of a run and the step-by-step rollout that continues them.

    ``turns_per_step``: turns each episode may take per step; ``max_staleness``: how many versions
    older than the training version a batch's oldest token may be (>= 1, or nothing could wait).
    """

    def __init__(self, turns_per_step: int, max_staleness: int):
        if turns_per_step < 1 or max_staleness < 1:
            raise ValueError(f"partial rollouts need turns_per_step >= 1 and max_staleness >= 1, "
                             f"got {turns_per_step} and {max_staleness}")
        self.turns, self.k = turns_per_step, max_staleness
        self.paused: list[list[Episode]] = []  # groups, in the order they were started
        self.started = self.trained = self.dropped = 0  # episodes, over the run

    @property
    def paused_episodes(self) -> int:
        return sum(len(g) for g in self.paused)

    def reserved_slots(self) -> set[int]:
        """Env slots of paused, unfinished episodes: new episodes (and evaluation) must not reset them."""
        return {ep.slot for group in self.paused for ep in group if not ep.done}

    def expire(self, version: int) -> int:
        """Drop paused groups that could no longer train within the bound at ``version``; returns
        how many episodes were dropped."""
        keep, dropped = [], 0
        for group in self.paused:
            if _oldest(group, version) < version - self.k:
                dropped += len(group)
            else:
                keep.append(group)
        self.paused = keep
        self.dropped += dropped
        return dropped

    def step(self, runner: EnvRunner, tasks: Sequence[Task], group_size: int, generator: Generator, tokenizer,
             params: SamplingParams, max_turns: int, seed: int, version: int) -> tuple[list[Trajectory], dict]:
        """Continue the paused groups, start ``group_size`` episodes of each new task, advance all
        by up to ``turns_per_step`` turns with ``generator`` (policy ``version``); returns the
        trajectories of the groups that finished and this step's counts. Call :meth:`expire` first."""
        if any(_oldest(g, version) < version - self.k for g in self.paused):
            raise RuntimeError("partial rollouts: expire() must drop stale groups before they are continued")
        carried = self.paused
        new = start_episodes(runner, tasks, group_size, tokenizer, seed, reserved=self.reserved_slots())
        self.started += len(new)
        groups = carried + [new[i : i + group_size] for i in range(0, len(new), group_size)]
        generated = advance([ep for g in groups for ep in g], runner, generator, tokenizer, params, max_turns,
                            turns=self.turns, version=lambda: version)
        finished = [g for g in groups if all(ep.done for ep in g)]
        self.paused = [g for g in groups if not all(ep.done for ep in g)]
        batch = [to_trajectory(ep) for g in finished for ep in g]
        self.trained += len(batch)
        oldest = min((_oldest(g, version) for g in finished), default=version)
        if version - oldest > self.k:  # expire() guarantees it; a failure here is a bug, never tolerated
            raise RuntimeError(f"partial rollouts: a batch at version {version} holds a token of version {oldest}, "
                               f"past max_staleness={self.k}")
        resumed = {id(g) for g in carried}
        return batch, {
            "rollout_tokens": float(generated),
            "carried_in": float(sum(len(g) for g in carried)),  # episodes continued from earlier steps
            "carried_trained": float(sum(len(g) for g in finished if id(g) in resumed)),  # of the batch, begun earlier
            "carried_out": float(self.paused_episodes),  # paused now, continued next step
            "policy_version": float(oldest),
            "staleness": float(version - oldest),
        }


def _oldest(group: Sequence[Episode], default: int) -> int:
    """The oldest policy version that sampled any turn of the group."""
    return min((v for ep in group for v in ep.versions), default=default)
