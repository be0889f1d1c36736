"""``assay/mix-v0``: one environment that poses the tasks of several, each episode from one member
chosen by weight (PrimeIntellect verifiers' ``EnvGroup``), so the trainer, search and the CLI
train and evaluate on a mixture with no change of their own.

Each task the mixture poses is its member's task with two changes: ``meta["env"]``
(:data:`MEMBER_KEY`) names the member, and the id is prefixed with that name (``"left:t3"``), since
two members may use the same ids and the trainer groups episodes by task id. Resetting with such a
task routes it to its member, which gets it back exactly as it produced it. A plain Gymnasium
member (no Task in ``info``) gets a task made here from its observation and reset seed
(``meta["reset_seed"]``), and is posed it again by that seed, as the trainer does for plain envs.

Members are built on first use with ``assay.make`` and closed by ``close()``. A mixture cannot
hold a mixture: list the inner one's members instead.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np
from gymnasium.envs.registration import EnvSpec

from assay import registry
from assay.envs.episode import RESET_SEED, plain_task, task_list
from assay.envs.spaces import FreeText
from assay.errors import AssayError
from assay.types import Provenance, Task, Verdict

MEMBER_KEY = "env"  # Task.meta key (and info key) naming the member that posed a task
MEMBER_SEED_TAG = 0x313C  # mixed with the reset seed to choose the member, so the choice is not the member's own stream
ENTRY_KEYS = ("id", "weight", "kwargs", "name")


@dataclass(frozen=True)
class Member:
    """One environment of a mixture: ``name`` tags its tasks (the env id unless given)."""

    name: str
    spec: EnvSpec
    weight: float
    kwargs: dict = field(default_factory=dict)


def parse_members(envs: Any) -> tuple[Member, ...]:
    """``{env_id: weight}`` or ``[{"id": ..., "weight": 1.0, "kwargs": {...}, "name": ...}, ...]``
    (a bare id in the list weighs 1) -> members, validated up front with one-line errors."""
    form = "envs must be {env_id: weight, ...} or a list of {id: ..., weight: ..., kwargs: {...}} entries"
    if isinstance(envs, Mapping):
        entries = [{"id": env_id, "weight": weight} for env_id, weight in envs.items()]
    elif isinstance(envs, Sequence) and not isinstance(envs, str):
        entries = [{"id": e} if isinstance(e, str) else e for e in envs]
    else:
        raise AssayError(f"{form}; got {type(envs).__name__}")
    if not entries:
        raise AssayError(f"{form}; got none: name at least one env, e.g. envs={{assay/arithmetic-v0: 1}}")
    members: list[Member] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise AssayError(f"{form}; got the entry {entry!r}")
        unknown = sorted(set(entry) - set(ENTRY_KEYS))
        if unknown or "id" not in entry:
            raise AssayError(f"an envs entry takes the keys {', '.join(ENTRY_KEYS)} (id required); got {dict(entry)!r}")
        env_id, weight, kwargs = entry["id"], entry.get("weight", 1.0), entry.get("kwargs") or {}
        if not isinstance(env_id, str):
            raise AssayError(f"an env id is a string such as 'assay/arithmetic-v0', got {env_id!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
            raise AssayError(f"the weight of {env_id} must be a number > 0 (its share of episodes is weight / total), "
                             f"got {weight!r}")
        if not isinstance(kwargs, Mapping):
            raise AssayError(f"the kwargs of {env_id} must be a mapping of constructor arguments, got {kwargs!r}")
        spec = registry.spec(env_id)  # an unknown id raises the registry's did-you-mean error
        if _is_mixture(spec):
            raise AssayError(f"{spec.id} is a mixture: a mixture cannot hold one; list its members here instead, "
                             "with their weights multiplied by its weight")
        name = entry.get("name", spec.id)
        if not isinstance(name, str) or not name:
            raise AssayError(f"the name of {env_id} must be a non-empty string, got {name!r}")
        members.append(Member(name, spec, float(weight), dict(kwargs)))
    names = [m.name for m in members]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise AssayError(f"envs names {', '.join(repeated)} more than once: give each entry its own 'name' "
                         "(it tags that member's tasks), e.g. {id: assay/math-v0, name: gsm8k, kwargs: {...}}")
    return tuple(members)


def _is_mixture(spec: EnvSpec) -> bool:
    entry = spec.entry_point
    if isinstance(entry, str):
        return entry == f"{__name__}:{EnvMixture.__name__}"
    return isinstance(entry, type) and issubclass(entry, EnvMixture)


def tag(task: Task, name: str) -> Task:
    """The mixture's form of a member's task: id prefixed with the member's name, member in meta."""
    if MEMBER_KEY in task.meta:
        raise AssayError(f"member {name} posed task {task.id!r} with meta[{MEMBER_KEY!r}] already set, the key a mixture "
                         "tags tasks with: rename that key in the member env")
    return dataclasses.replace(task, id=f"{name}:{task.id}", meta={**task.meta, MEMBER_KEY: name})


def untag(task: Task) -> Task:
    """The member's own form of a tagged task (the inverse of :func:`tag`)."""
    name = task.meta[MEMBER_KEY]
    prefix = f"{name}:"
    meta = {k: v for k, v in task.meta.items() if k != MEMBER_KEY}
    return dataclasses.replace(task, id=task.id[len(prefix):] if task.id.startswith(prefix) else task.id, meta=meta)


class EnvMixture(gymnasium.Env[str, str]):
    """Each ``reset(seed=s)`` chooses a member by weight with a generator seeded from ``s`` alone and
    resets it with ``s``; ``reset(options={"task": t})`` poses a task this mixture posed before.
    ``step`` goes to the member of the episode; ``info`` gains ``info["env"]``, the member's name."""

    metadata = {"render_modes": ["ansi", "human"]}

    def __init__(self, envs: Any, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.members = parse_members(envs)
        self.render_mode = render_mode
        weights = np.array([m.weight for m in self.members])
        self._cumulative = np.cumsum(weights / weights.sum())
        self.observation_space = FreeText(max_length=1 << 20)
        self.action_space = FreeText(max_length=1 << 20)
        self._built: dict[str, gymnasium.Env] = {}
        self._build_lock = threading.Lock()  # the routing verifier may build members from search's threads
        self._current: str | None = None
        self._task: Task | None = None
        self._done = True

    # -- members ----------------------------------------------------------------------------
    def member(self, name: str) -> gymnasium.Env:
        """The member env named ``name``, built on first use."""
        with self._build_lock:
            if name not in self._built:
                member = next((m for m in self.members if m.name == name), None)
                if member is None:
                    raise AssayError(f"this mixture has no member {name!r}; its members: "
                                     f"{', '.join(m.name for m in self.members)}")
                extra = {"render_mode": self.render_mode} if self.render_mode is not None else {}
                self._built[name] = registry.make(member.spec, **member.kwargs, **extra)
            return self._built[name]

    def choose(self, seed: int) -> Member:
        """The member that ``reset(seed=seed)`` resets: by weight, from the seed alone."""
        u = np.random.default_rng((MEMBER_SEED_TAG, seed)).random()
        return self.members[min(int(np.searchsorted(self._cumulative, u, side="right")), len(self.members) - 1)]

    def task_list(self) -> list[Task] | None:
        """Every member's tasks, tagged, interleaved by weight (smooth weighted round-robin: each
        prefix holds the members in proportion to their weights, as far as their lists last), when
        every member's tasks are a finite list; else None (evaluation then draws by seed)."""
        lists = []
        for m in self.members:
            tasks = task_list(self.member(m.name))
            if tasks is None:
                return None
            lists.append([tag(t, m.name) for t in tasks])
        weights = [m.weight for m in self.members]
        credit, taken, out = [0.0] * len(lists), [0] * len(lists), []
        while True:
            open_ = [i for i in range(len(lists)) if taken[i] < len(lists[i])]
            if not open_:
                return out
            total = sum(weights[i] for i in open_)
            for i in open_:
                credit[i] += weights[i]
            pick = max(open_, key=lambda i: credit[i])  # ties: the member listed first
            credit[pick] -= total
            out.append(lists[pick][taken[pick]])
            taken[pick] += 1

    def _member_of(self, task: Task) -> str:
        name = task.meta.get(MEMBER_KEY)
        if not any(m.name == name for m in self.members):
            raise AssayError(f"task {task.id!r} names member {name!r} in meta[{MEMBER_KEY!r}], which this mixture does "
                             f"not have (members: {', '.join(m.name for m in self.members)}): pose tasks this mixture drew")
        return name

    # -- Gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is not None and not isinstance(task, Task):
            raise TypeError(f"options['task'] must be an assay.Task, got {type(task).__name__}")
        if task is None:
            if seed is None:  # still reproducible from the env's own generator, and a plain member's task has a seed
                seed = int(self.np_random.integers(2**31 - 1))
            name = self.choose(seed).name
            obs, info = self.member(name).reset(seed=seed)
            posed = info.get("task") if isinstance(info, dict) else None
            task = tag(posed, name) if isinstance(posed, Task) else self._plain_task(name, obs, seed)
        else:
            name = self._member_of(task)
            if RESET_SEED in task.meta:  # a plain member's task: its seed is the one way to pose it again
                obs, info = self.member(name).reset(seed=task.meta[RESET_SEED])
            else:
                obs, info = self.member(name).reset(seed=seed, options={**(options or {}), "task": untag(task)})
                posed = info.get("task") if isinstance(info, dict) else None
                task = tag(posed, name) if isinstance(posed, Task) else task
        self._current, self._task, self._done = name, task, False
        messages = (info or {}).get("messages") or [{"role": "user", "content": obs}]
        return obs, {**(info or {}), "task": task, "messages": messages, MEMBER_KEY: name}

    def _plain_task(self, name: str, obs: Any, seed: int) -> Task:
        return tag(plain_task(self.member(name), obs, seed), name)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self._done or self._current is None:
            raise gymnasium.error.ResetNeeded("call reset() before step(); this episode has ended")
        obs, reward, terminated, truncated, info = self.member(self._current).step(action)
        info = dict(info or {})
        if "task" in info:  # the member's own form; callers key episodes by the mixture's
            info["task"] = self._task
        provenance = info.get("provenance")
        if isinstance(provenance, Provenance) and self.spec is not None:
            # the verifier and seed stay the member's (`assay rescore` looks the verifier up by name);
            # the env is the one that can pose the task again, the member being in task.meta
            info["provenance"] = dataclasses.replace(provenance, env_id=self.spec.id)
        info[MEMBER_KEY] = self._current
        self._done = bool(terminated or truncated)
        return obs, reward, terminated, truncated, info

    @property
    def verifier(self) -> MixtureVerifier | None:
        """Judges each task with its member's verifier; None when a member (a plain Gymnasium env)
        has none, since its tasks could not be judged outside ``step``."""
        verifiers = {m.name: getattr(self.member(m.name).unwrapped, "verifier", None) for m in self.members}
        return None if any(v is None for v in verifiers.values()) else MixtureVerifier(verifiers)

    def gold_response(self, task: Task) -> str:
        member = self.member(self._member_of(task)).unwrapped
        if not hasattr(member, "gold_response"):
            raise AssayError(f"member {task.meta[MEMBER_KEY]} states no gold answer (a plain Gymnasium env)")
        return member.gold_response(untag(task))

    @property
    def oracle_action(self):
        """The current member's ``oracle_action`` (web env); absent (``hasattr`` False) otherwise."""
        member = self.member(self._current).unwrapped if self._current is not None else None
        if member is None or not hasattr(member, "oracle_action"):
            raise AttributeError("oracle_action: the current member has no oracle")
        return member.oracle_action

    def render(self) -> str | None:
        if self._current is None:
            text = "(no episode: call reset())"
            if self.render_mode == "human":
                print(text)
                return None
            return text
        text = self.member(self._current).render()
        return f"[{self._current}]\n{text}" if isinstance(text, str) else text

    def close(self) -> None:
        for env in self._built.values():
            env.close()
        self._built.clear()
        self._current, self._done = None, True
        super().close()

    # -- pickling: members go along as they pickle themselves; the lock is rebuilt ----------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_build_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._build_lock = threading.Lock()


class MixtureVerifier:
    """Routes each task to the verifier of the member named in its ``meta["env"]``, with the task in
    the member's own form. Named after its members' verifiers (``"math"`` when all are math)."""

    def __init__(self, verifiers: dict[str, Any]):
        self.verifiers = verifiers
        names = list(dict.fromkeys(v.name for v in verifiers.values()))
        versions = list(dict.fromkeys(f"{v.name}:{v.version}" for v in verifiers.values()))
        self.name = "+".join(names)
        self.version = next(iter(verifiers.values())).version if len(versions) == 1 else "+".join(versions)

    def _route(self, task: Task):
        verifier = self.verifiers.get(task.meta.get(MEMBER_KEY))
        return (verifier, untag(task)) if verifier is not None else (None, task)

    def verify(self, task: Task, response: str) -> Verdict:
        verifier, own = self._route(task)
        if verifier is None:  # a verifier never raises: a task from elsewhere cannot be judged
            return Verdict.failure(f"task {task.id!r} names no member of this mixture in meta[{MEMBER_KEY!r}] "
                                   f"(members: {', '.join(self.verifiers)})")
        return verifier.verify(own, response)

    def verify_batch(self, tasks: Sequence[Task], responses: Sequence[str]) -> list[Verdict]:
        """Each member's share in one batch of its own verifier (which runs it concurrently)."""
        if len(tasks) != len(responses):
            raise ValueError(f"verify_batch got {len(tasks)} tasks and {len(responses)} responses")
        out: list[Verdict | None] = [None] * len(tasks)
        by_member: dict[str, list[int]] = {}
        for i, task in enumerate(tasks):
            name = task.meta.get(MEMBER_KEY)
            if name in self.verifiers:
                by_member.setdefault(name, []).append(i)
            else:
                out[i] = self.verify(task, responses[i])
        for name, indices in by_member.items():
            verdicts = self.verifiers[name].verify_batch([untag(tasks[i]) for i in indices], [responses[i] for i in indices])
            for i, verdict in zip(indices, verdicts):
                out[i] = verdict
        return out

    def gold_response(self, task: Task) -> str:
        verifier, own = self._route(task)
        if verifier is None:
            raise AssayError(f"task {task.id!r} names no member of this mixture in meta[{MEMBER_KEY!r}]")
        return verifier.gold_response(own)
