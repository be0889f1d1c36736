"""Rollouts: run episodes of any assay environment with a Generator, exact at the token level.

Token-in/token-out: the ids trained on are exactly the ids the generator returned. Environment
observations of multi-turn episodes are tokenized once, on their own, and masked out of the loss;
generated text is never re-tokenized (with a BPE tokenizer ``encode(decode(ids)) != ids``, and a
re-tokenizing trainer would compute log-probs of tokens the policy never sampled).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium

from assay.chat import chat_ids
from assay.envs.episode import RESET_SEED, plain_verdict
from assay.protocols import Generator, SamplingParams
from assay.types import Task, Trajectory, Turn, Verdict


class EnvRunner(Protocol):
    """Where the environments of a rollout live: in this process (:class:`LocalEnvRunner`) or on
    workers (``assay.trainer.ray_backend.RayEnvRunner``). Episodes are addressed by slot (their
    index in the rollout); each call takes one request per slot and returns one result per
    request, in order: the env's return value, or the exception it raised (never raised here, so
    one crashing env does not stop the others)."""

    def reset(self, requests: Sequence[tuple[int, int | None, dict]], keep: Collection[int] = ()) -> list[Any]:
        """``(slot, seed, options)`` -> ``(obs, info)`` or an exception, per request. A reset starts
        a new rollout: the runner may forget every other slot except those in ``keep`` (episodes
        paused by a partial rollout, resumed later on the same env)."""
        ...

    def step(self, requests: Sequence[tuple[int, str]]) -> list[Any]:
        """``(slot, action)`` -> ``(obs, reward, terminated, truncated, info)`` or an exception."""
        ...


class LocalEnvRunner:
    """Environments in this process, built by ``make_env`` on first use of a slot and reused across
    calls (``pool``, a list the caller may keep).

    With ``threads`` > 1 a call's requests run on that many threads at once. Environments whose
    step waits on a subprocess, a sandbox, a container or a browser (code, Verilog, SWE and web,
    math off its fast path) then overlap; pure-Python ones gain nothing (the GIL) and lose little,
    since each thread takes its share of a call in one piece. Slot ``s`` always runs on thread
    ``s % threads``, and its env is built there: some resources must stay on the thread that made
    them (Playwright's sync API). Results come back in request order either way, and each env sees
    the same calls in the same order, so the episodes are the same as with one thread."""

    def __init__(self, make_env: Callable[[], gymnasium.Env], pool: list | None = None, threads: int = 1):
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.make_env = make_env
        self.envs = pool if pool is not None else []
        self._grow = threading.Lock()  # lanes add slots to self.envs concurrently
        self._lanes = [ThreadPoolExecutor(1, thread_name_prefix=f"assay-env-{k}") for k in range(threads)] \
            if threads > 1 else []

    def _env(self, slot: int) -> gymnasium.Env:
        with self._grow:
            while len(self.envs) <= slot:
                self.envs.append(None)
            env = self.envs[slot]
        if env is None:  # built on the slot's own thread
            env = self.make_env()
            with self._grow:
                self.envs[slot] = env
        return env

    def reset(self, requests, keep=()):
        return self._run(requests, lambda slot, seed, options: self._env(slot).reset(seed=seed, options=options))

    def step(self, requests):
        return self._run(requests, lambda slot, action: self._env(slot).step(action))

    def close(self) -> None:
        """Close every env on the thread that built it, then stop the threads."""
        slots = [(slot,) for slot, env in enumerate(self.envs) if env is not None]
        self._run(slots, lambda slot: self.envs[slot].close())
        for lane in self._lanes:
            lane.shutdown(wait=True)
        self._lanes = []

    def _run(self, requests: Sequence[tuple], fn: Callable[..., Any]) -> list[Any]:
        """``fn(*request)`` per request (its value or the exception it raised), in request order;
        each lane runs its slots' requests one after another, in the order given."""
        if not self._lanes:
            return [_call(lambda r=r: fn(*r)) for r in requests]
        by_lane: dict[int, list[int]] = {}
        for i, request in enumerate(requests):
            by_lane.setdefault(request[0] % len(self._lanes), []).append(i)
        out: list[Any] = [None] * len(requests)

        def run_lane(indices: list[int]) -> None:
            for i in indices:
                out[i] = _call(lambda: fn(*requests[i]))

        for future in [self._lanes[lane].submit(run_lane, indices) for lane, indices in by_lane.items()]:
            future.result()
        return out


def _call(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as e:  # returned, not raised: the caller marks that episode and goes on
        return e


@dataclass
class Episode:
    """Mutable state of one episode while it runs (becomes a frozen Trajectory at the end)."""

    slot: int
    task: Task
    group_id: str
    seed: int | None
    prompt_ids: list[int]
    context: list[int]  # prompt + everything so far: what the generator sees next
    turns: list[Turn] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    boundaries: list[int] = field(default_factory=list)
    reward: float = 0.0
    verdict: Verdict | None = None
    info: dict = field(default_factory=dict)
    error: str | None = None
    done: bool = False
    turn: int = 0  # generated turns so far

    @property
    def versions(self) -> list[int]:
        """Policy versions that sampled this episode's turns (where tracked)."""
        return [t.version for t in self.turns if t.role == "assistant" and t.version is not None]


def observation_ids(tokenizer, observation: str, after_eos: bool) -> list[int]:
    """Tokens for an environment observation between two generated turns (masked out)."""
    ids = chat_ids(tokenizer, [{"role": "user", "content": observation}])
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is not None and ids[:1] == [bos]:
        ids = ids[1:]
    return ids if after_eos else tokenizer.encode("\n", add_special_tokens=False) + ids


def run_episodes(
    make_env: Callable[[], gymnasium.Env],
    tasks: Sequence[Task],
    group_size: int,
    generator: Generator,
    tokenizer,
    params: SamplingParams,
    max_turns: int = 1,
    seed: int = 0,
    env_pool: list[gymnasium.Env] | None = None,
    runner: EnvRunner | None = None,
    reserved: Collection[int] = (),
    version: Callable[[], int] | None = None,
) -> list[Trajectory]:
    """``group_size`` episodes of every task; returns one Trajectory per episode, in task order.

    All active episodes advance together: one batched generator call per turn. An environment
    that raises, or a verifier that cannot judge, marks that episode (``verdict.error`` set) and
    the others go on; the trainer's error policy decides what happens to it. ``runner`` says where
    the environments live (default: here, built with ``make_env`` into ``env_pool``); every
    turn's steps go to it as one batch, so a remote runner steps them in parallel. ``reserved``
    slots belong to episodes paused elsewhere (partial rollouts): they are left alone.
    ``version()``, read after each generate call, is recorded on the turns it sampled.
    """
    runner = runner if runner is not None else LocalEnvRunner(make_env, env_pool)
    episodes = start_episodes(runner, tasks, group_size, tokenizer, seed, reserved)
    advance(episodes, runner, generator, tokenizer, params, max_turns, version=version)
    return [to_trajectory(ep) for ep in episodes]


def free_slots(n: int, reserved: Collection[int]) -> list[int]:
    """The ``n`` lowest slot numbers not in ``reserved`` (``0..n-1`` when nothing is reserved)."""
    taken, out, slot = set(reserved), [], 0
    while len(out) < n:
        if slot not in taken:
            out.append(slot)
        slot += 1
    return out


def start_episodes(runner: EnvRunner, tasks: Sequence[Task], group_size: int, tokenizer, seed: int,
                   reserved: Collection[int] = ()) -> list[Episode]:
    """Reset one environment per episode (``group_size`` per task, in task order) on free slots.

    Episode ``i`` of the call is reset with seed ``seed + i`` whatever slot it lands on, so the
    same tasks give the same episodes whether or not other slots are reserved; a task of a plain
    Gymnasium env (:func:`assay.envs.episode.plain_task`) is reset with its own seed."""
    slots = free_slots(len(tasks) * group_size, reserved)
    tasks_of = [task for task in tasks for _ in range(group_size)]
    resets = runner.reset([(slot, task.meta.get(RESET_SEED, seed + i), {"task": task})
                           for i, (slot, task) in enumerate(zip(slots, tasks_of))], keep=reserved)
    episodes: list[Episode] = []
    for i, (slot, task, result) in enumerate(zip(slots, tasks_of, resets)):
        group_id = f"{task.id}#{seed}"
        if isinstance(result, BaseException):
            ep = Episode(slot, task, group_id, seed + i, [], [])
            ep.error, ep.done = f"env reset failed: {type(result).__name__}: {result}", True
            episodes.append(ep)
            continue
        obs, info = result
        messages = info.get("messages") or [{"role": "user", "content": obs}]
        prompt = chat_ids(tokenizer, messages)
        episodes.append(Episode(slot, task, group_id, seed + i, prompt, list(prompt), [Turn("user", obs)], info=info))
    return episodes


def advance(episodes: Sequence[Episode], runner: EnvRunner, generator: Generator, tokenizer, params: SamplingParams,
            max_turns: int, turns: int | None = None, version: Callable[[], int] | None = None) -> int:
    """Step the unfinished episodes together, one batched generate call per turn, each by at most
    ``turns`` turns (None: to the end); an episode ends when its env terminates or truncates, when
    it fails, or at ``max_turns`` turns. Returns how many tokens were generated.

    Call ``c`` of this advance samples with seed ``params.seed + c`` (when a seed is set)."""
    generated = 0
    for call in range(turns if turns is not None else max_turns):
        active = [ep for ep in episodes if not ep.done]
        if not active:
            break
        gens = generator.generate([ep.context for ep in active],
                                  SamplingParams(**{**params.__dict__, "seed": None if params.seed is None else params.seed + call}))
        sampled_by = version() if version is not None else None
        for ep, gen in zip(active, gens):
            ep.token_ids += gen.token_ids
            ep.loss_mask += [1] * len(gen.token_ids)
            ep.logprobs += gen.logprobs
            ep.context += gen.token_ids
            ep.boundaries.append(len(ep.token_ids))
            ep.turns.append(Turn("assistant", gen.text, gen.token_ids, gen.logprobs, sampled_by))
            ep.turn += 1
            generated += len(gen.token_ids)
        results = runner.step([(ep.slot, gen.text) for ep, gen in zip(active, gens)])
        for ep, gen, result in zip(active, gens, results):
            if isinstance(result, BaseException):
                ep.error = f"env step failed: {type(result).__name__}: {result}"
                ep.info = {"traceback": "".join(traceback.format_exception(result, limit=5))}
                ep.done = True
                continue
            obs, reward, terminated, truncated, info = result
            ep.reward += float(reward)  # the episode's return; assay envs pay only at the end
            ep.info = info
            ep.verdict = info.get("verdict", ep.verdict)
            if terminated or truncated or ep.turn >= max_turns:
                ep.done = True
            elif obs:
                obs_ids = observation_ids(tokenizer, obs, after_eos=gen.finish_reason == "eos")
                ep.turns.append(Turn("environment", obs, tuple(obs_ids)))
                ep.token_ids += obs_ids
                ep.loss_mask += [0] * len(obs_ids)
                ep.logprobs += [0.0] * len(obs_ids)
                ep.context += obs_ids
    return generated


def to_trajectory(ep: Episode) -> Trajectory:
    verdict = ep.verdict
    if ep.error is not None:
        verdict = Verdict.failure(ep.error, **{k: v for k, v in ep.info.items() if k == "traceback"})
    elif verdict is None and ep.done:  # a plain Gymnasium env judges by its reward alone
        verdict = plain_verdict(ep.reward, ep.info)
    provenance = ep.info.get("provenance")
    kwargs = {"provenance": provenance} if provenance is not None else {}
    return Trajectory(
        task_id=ep.task.id,
        group_id=ep.group_id,
        turns=tuple(ep.turns),
        prompt_ids=tuple(ep.prompt_ids),
        token_ids=tuple(ep.token_ids),
        loss_mask=tuple(ep.loss_mask),
        logprobs=tuple(ep.logprobs),
        step_boundaries=tuple(ep.boundaries),
        reward=ep.reward if ep.error is None else 0.0,
        verdict=verdict,
        task=ep.task,
        **kwargs,
    )
