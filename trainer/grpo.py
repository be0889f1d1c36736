"""``GRPOTrainer``: rollout -> score -> advantages -> loss -> step, and again.

The loop in :meth:`GRPOTrainer.train` is the whole algorithm; each stage is a small method below
it. Environments are used only through the Gymnasium API (``reset(seed=...)`` draws a task,
``step(response)`` scores it), so any registered env trains the same way.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import torch

import assay
from assay.config import to_yaml
from assay.kernels import group_advantages
from assay.protocols import SamplingParams
from assay.trainer import losses, samples
from assay.trainer.batch import collate
from assay.trainer.config import RESUMABLE_CHANGES, GRPOConfig
from assay.trainer.dense import learned_rewards
from assay.trainer.distributed import resolve_device
from assay.trainer.evaluation import (EVAL_SEED_BASE, eval_sampling_seed, held_out_tasks, member_accuracy, member_passes,
                                      pass_at_sums)
from assay.trainer.generators.hf import HFGenerator
from assay.trainer.generators.openai import OpenAIGenerator, ServerError
from assay.trainer.loggers import MetricSink, open_sinks, parse_report_to
from assay.trainer.policy import load_policy
from assay.trainer.progress import StepProgress
from assay.envs.episode import draw_task, task_list
from assay.envs.mixture import MEMBER_KEY
from assay.trainer.rollout import LocalEnvRunner, run_episodes
from assay.trainer.run_state import BestModel, RunDir, derive_seed, resume_point, rng_state, set_rng_state
from assay.trainer.schedule import lr_at
from assay.trainer.update import TrainingDiverged, World, policy_update
from assay.types import Task, Trajectory
from assay.verifiers import shaping



class GRPOTrainer:
    def __init__(self, config: GRPOConfig, resume: bool = False, progress: bool = True, report: bool = False):
        """``progress``: a rich bar over the steps; ``report``: a line per evaluation too (the CLI)."""
        self.cfg = config
        self.report = report
        self.world = World.current()
        if config.prompts_per_step % self.world.size:
            from assay.config import ConfigError

            raise ConfigError(f"prompts_per_step={config.prompts_per_step} must be a multiple of the number of processes "
                              f"({self.world.size}) so that every rank gets whole groups")
        if config.partial_rollout_turns and self.world.size > 1:
            from assay.config import ConfigError

            raise ConfigError("partial_rollout_turns runs in one process (ranks would pause different numbers of groups "
                              "and draw different numbers of tasks): set partial_rollout_turns=0 under torchrun")
        self.run = RunDir(config.run_dir)
        self.progress = progress and self.world.rank == 0
        torch.manual_seed(config.seed)
        self.step = 0
        self.data_seed = config.seed * 1_000_003  # next seed used to draw a training task
        # the data position after the last batch trained on: what a checkpoint saves. Async rollouts
        # draw ahead of it, and a resumed run must draw those batches again, not skip them.
        self.trained_position = self.data_seed
        self.elapsed_s = 0.0  # training wall time before this process started (restored on resume)
        checkpoint, state = None, None
        if resume or self.world.rank == 0:  # a fresh run's checks are rank 0's (it alone writes the run dir)
            checkpoint, state = resume_point(self.run, dataclasses.asdict(config), resume, RESUMABLE_CHANGES, "run_dir",
                                             log=print if self.world.rank == 0 else lambda _: None, model_field="model")
        self.device = resolve_device(config.device)
        # with LoRA a checkpoint holds a merged model; the run goes on from its starting model plus the adapters
        resume_from = str(checkpoint) if checkpoint is not None and not config.lora_rank else config.model
        self.policy, self.tokenizer = load_policy(resume_from, config.run_dir, config.seed)
        self._lora = None  # the peft wrapper around self.policy's adapters, kept to merge them
        if config.lora_rank:
            from assay.trainer.lora import add_lora, load_trainable_state

            self._lora = add_lora(self.policy, config.lora_rank, config.lora_alpha, config.lora_targets)
            if checkpoint is not None:
                load_trainable_state(self.policy, state["lora"])
        if config.gradient_checkpointing:
            from assay.trainer.policy import enable_gradient_checkpointing

            enable_gradient_checkpointing(self.policy)
        self.policy.to(self.device)
        self._sharded = None  # fsdp=true: the FSDP root over self.policy, which the update runs and AdamW steps
        self._generation_model = None  # fsdp=true: the full copy of the weights this rank samples with
        ref = self._reference(checkpoint) if config.kl_coef > 0 else None  # before sharding: it may copy the policy
        if config.fsdp:
            from assay.trainer.fsdp import generation_copy, shard_policy

            self._generation_model = generation_copy(self.policy)
            self._sharded = shard_policy(self.policy, precision=config.precision)
            ref = shard_policy(ref, trainable=False, precision=config.precision) if ref is not None else None
        self.optimizer = torch.optim.AdamW(self._trained().parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.ref_policy = ref
        if checkpoint is not None:
            if self._sharded is not None:
                from assay.trainer.fsdp import load_optimizer_state

                load_optimizer_state(self._sharded, self.optimizer, state["optimizer"])
            else:
                self.optimizer.load_state_dict(state["optimizer"])
            set_rng_state(state["rng"])
            self.step, self.data_seed = state["step"], state["data_seed"]
            self.trained_position = self.data_seed
            self.elapsed_s = state.get("elapsed_s", 0.0)
            if self.world.rank == 0:
                self.run.truncate_metrics(self.step)
        elif self.world.rank == 0:
            shutil.rmtree(self.run.path / "tb", ignore_errors=True)  # events of a run that left no checkpoint
        self._best = BestModel(self.run, "eval_accuracy") if config.keep_best and self.world.rank == 0 else None
        # episodes paused at the checkpoint are not in it (their envs lived in the runner): counted, then gone
        self._dropped_on_resume = state.get("paused_episodes", 0) if checkpoint is not None else 0
        if config.ray_generators:
            from assay.trainer.ray_backend.generators import generators_from_config

            self.generator = generators_from_config(config, self._exportable(), self.tokenizer, version=self.step)
        elif config.generator_url:
            if self.world.size > 1:
                from assay.config import ConfigError

                raise ConfigError("generator_url runs in one process (every rank would load its weights into the one "
                                  "server): leave it unset under torchrun")
            key = os.environ.get("ASSAY_GENERATOR_API_KEY", "EMPTY")  # not in the config, which run_dir keeps
            retries = config.generator_retries
            self.generator = OpenAIGenerator(config.generator_url, OpenAIGenerator.served_model(config.generator_url, key,
                                                                                                retries=retries),
                                             api_key=key, retries=retries)
            self._sync_server()  # it may serve other weights than this run starts from (a base model, a resume)
        elif config.generator == "vllm":
            self.generator = self._vllm_generator()
        else:
            self.generator = HFGenerator(self._sampling_model(), self.tokenizer, batch_size=config.generation_batch_size,
                                         precision=config.precision)
        self._partial = None  # paused episodes of partial rollouts (assay.trainer.partial)
        if config.partial_rollout_turns:
            from assay.trainer.partial import PartialRollouts

            self._partial = PartialRollouts(config.partial_rollout_turns, config.max_staleness)
        self._ppo_c = shaping.PPOCState(state.get("ppo_c_mean", 0.0) if checkpoint is not None else 0.0)
        self.learned = learned_rewards(config, self.tokenizer, self.device) if config.reward_model else None
        if self.learned is not None and checkpoint is not None:
            self.learned.load_state(state.get("learned_rewards"))
        self.task_env = assay.make(config.env_id, **config.env_kwargs)
        # where episodes' envs run, for training and evaluation alike: here (on env_threads threads) or
        # on Ray workers
        if config.backend == "ray":
            from assay.trainer.ray_backend.env_workers import runner_from_config

            self._env_runner = runner_from_config(config)
        else:
            self._env_runner = LocalEnvRunner(self._make_env, threads=config.env_threads)
        # evaluation under eval_env_kwargs (a held-out split) runs in envs of its own; else in the training runner
        self.eval_task_env, self._eval_runner = self.task_env, self._env_runner
        if config.eval_env_kwargs:
            self.eval_task_env = assay.make(config.env_id, **config.evaluation_env_kwargs)
            if config.backend == "ray":
                from assay.trainer.ray_backend.env_workers import runner_from_config

                self._eval_runner = runner_from_config(dataclasses.replace(config, env_kwargs=config.evaluation_env_kwargs))
            else:
                self._eval_runner = LocalEnvRunner(self._make_eval_env, threads=config.env_threads)
        self._held_out: list[Task] | None = None  # the evaluation tasks, the same at every evaluation
        if self.world.rank == 0:
            self._note_training_tasks_held_out()
        self._async = None  # the rollout thread, started by the first step when max_staleness > 0
        self._sinks: list[MetricSink] = []  # report_to, opened by train() on rank 0
        self._bar = None  # the progress bar while train() runs

    # ------------------------------------------------------------------------- the story
    def train(self) -> list[dict]:
        cfg = self.cfg
        self._start_logging()
        self._clock = time.perf_counter() - self.elapsed_s
        history = []
        with self._progress() as bar, self._explain_server_loss():
            self._bar = bar
            if self.step == 0:
                history.append(self.evaluate())
            while self.step < cfg.steps and not self._out_of_time():
                started = time.perf_counter()
                trajectories, rollout_stats = self._next_rollout()  # sample G episodes per task
                errors = sum(1 for t in trajectories if t.verdict is not None and t.verdict.error)
                rewards, kept = self.score(trajectories)  # env rewards, error policy, shaping, learned outcome reward
                rollout_stats["errors"] = float(errors)
                # nothing to learn from (all dropped, or every group uniform) on some rank: every rank
                # skips, or the others would wait forever in the update's collectives
                if self.world.any(not kept):
                    self.step += 1
                    self._publish()
                    self._log({"step": self.step, "skipped": 1, **rollout_stats})
                    self._log_samples("train", trajectories)
                    self._evaluate_and_save(history)
                    continue
                trajectories = [trajectories[i] for i in kept]
                advantages = self.advantages(trajectories, rewards)  # within-group (+ dense process advantages)
                batch = collate(trajectories, advantages, self.tokenizer.pad_token_id)
                lr = self._set_lr(self.step + 1)
                update_start = time.perf_counter()
                try:
                    stats = policy_update(self._trained(), self.optimizer, batch, cfg, self.world, self.ref_policy)  # loss -> step
                except TrainingDiverged as e:
                    where = self.save(tag="diverged")
                    raise TrainingDiverged(f"{e}. Checkpoint of the last good state: {where}. To go on with a smaller "
                                           f"step: --resume lr=<lower> (from {self._resume_from_text()}); or a new run "
                                           f"from these weights: model={where}") from None
                self.step += 1
                self._publish()  # the new weights reach the generators (Ray actors, the async pipeline)
                row = {"step": self.step, **rollout_stats, **self._reward_stats(rewards, trajectories), **stats,
                       "lr": lr, "update_s": time.perf_counter() - update_start, "step_s": time.perf_counter() - started}
                row["tokens_per_s"] = (rollout_stats["rollout_tokens"] + stats["train_tokens"]) / row["step_s"]
                self._log(row)
                self._log_samples("train", trajectories, rewards.tolist())
                history.append(row)
                bar.update(self.step, _headline(row))
                self._evaluate_and_save(history)
        if self._async is not None:
            self._async.close()
            self._async = None
        return history

    def close(self) -> None:
        """Release what the run holds beyond this object: generator engines and actors, environments."""
        if hasattr(self.generator, "close"):
            self.generator.close()
        self._env_runner.close()
        if self._eval_runner is not self._env_runner:
            self._eval_runner.close()
        for sink in self._sinks:
            sink.close()
        self._sinks = []

    def _evaluate_and_save(self, history: list[dict]) -> None:
        """Held-out evaluation and checkpoint on their schedules, and both after the last step."""
        last = self.step == self.cfg.steps or self._out_of_time()
        if self.step % self.cfg.eval_every == 0 or last:
            history.append(self.evaluate())
            if self._best is not None:
                self._best.offer(history[-1], self._save_model)
        if self.step % self.cfg.save_every == 0 or last:
            self.save()

    # ------------------------------------------------------------------------- the stages
    def draw_tasks(self, n: int) -> list[Task]:
        """This rank's share of ``n * world_size`` tasks drawn from consecutive seeds: every rank
        advances the data position alike, and no two ranks get the same task."""
        tasks = []
        for i in range(n * self.world.size):
            if i % self.world.size == self.world.rank:
                tasks.append(draw_task(self.task_env, self.data_seed + i))
        self.data_seed += n * self.world.size
        return tasks

    def rollout(self, generator=None, version=None) -> tuple[list[Trajectory], dict]:
        """``prompts_per_step`` tasks (this rank's share) x ``group_size`` episodes; with dynamic
        sampling, groups whose rewards are all equal are replaced by fresh ones (bounded rounds);
        with partial rollouts, paused groups are continued first and fewer new tasks drawn.
        ``generator``: the async pipeline's (an older policy version) and ``version()`` the version
        of its latest call; default the live policy at version ``self.step``."""
        cfg = self.cfg
        generator = generator or self.generator
        version = version or (lambda: self.step)
        per_rank = cfg.prompts_per_step // self.world.size
        start = time.perf_counter()
        if self._partial is not None:
            return self._partial_rollout(generator, per_rank, start)
        kept: list[Trajectory] = []
        rounds, generated = 0, 0
        while True:
            tasks = self.draw_tasks(per_rank if not kept else per_rank - len(kept) // cfg.group_size)
            trajs = run_episodes(self._make_env, tasks, cfg.group_size, generator, self.tokenizer,
                                 self._sampling(self._sampling_seed()), cfg.max_turns, seed=self.data_seed,
                                 runner=self._env_runner, version=version)
            generated += sum(len(t.token_ids) for t in trajs)
            if not cfg.dynamic_sampling:
                kept = trajs
                break
            group_index = {g: i for i, g in enumerate(dict.fromkeys(t.group_id for t in trajs))}
            informative = losses.informative_groups(torch.tensor([t.reward for t in trajs]),
                                                    torch.tensor([group_index[t.group_id] for t in trajs]))
            kept += [t for t, keep in zip(trajs, informative.tolist()) if keep]
            rounds += 1
            if len(kept) >= per_rank * cfg.group_size or rounds > cfg.max_refill_rounds:
                kept = kept[: per_rank * cfg.group_size]
                break
        elapsed = time.perf_counter() - start
        return kept, {"rollout_s": elapsed, "rollout_tokens": float(generated), "rollout_tokens_per_s": generated / max(elapsed, 1e-9),
                      "refill_rounds": float(max(rounds - 1, 0)), "groups": float(len(kept) // cfg.group_size)}

    def _partial_rollout(self, generator, per_rank: int, start: float) -> tuple[list[Trajectory], dict]:
        """Partial rollouts (assay.trainer.partial): drop paused groups the staleness bound no longer
        admits, top the groups in flight up to ``per_rank`` with new tasks, advance every episode by
        at most ``partial_rollout_turns`` turns; finished groups are the batch."""
        cfg, partial = self.cfg, self._partial
        dropped = partial.expire(self.step)
        tasks = self.draw_tasks(per_rank - len(partial.paused))
        trajs, stats = partial.step(self._env_runner, tasks, cfg.group_size, generator, self.tokenizer,
                                    self._sampling(self._sampling_seed()), cfg.max_turns, seed=self.data_seed,
                                    version=self.step)
        elapsed = time.perf_counter() - start
        stats = {**stats, "dropped_stale": float(dropped), "rollout_s": elapsed,
                 "rollout_tokens_per_s": stats["rollout_tokens"] / max(elapsed, 1e-9), "refill_rounds": 0.0,
                 "groups": float(len(trajs) // cfg.group_size)}
        if self._dropped_on_resume:
            stats["dropped_on_resume"] = float(self._dropped_on_resume)
            self._dropped_on_resume = 0
        return trajs, stats

    def score(self, trajectories: list[Trajectory]) -> tuple[torch.Tensor, list[int]]:
        """Rewards of the trajectories kept by the error policy (drop or zero), shaped: format gate,
        length penalty, an ORM's score (hybrid), PPO-C calibration, DAPO's overlong penalty; returns (rewards of kept,
        indices kept). The transforms are the pure functions of ``assay.verifiers.shaping``."""
        cfg = self.cfg
        kept = [i for i, t in enumerate(trajectories) if cfg.error_policy == "zero" or not (t.verdict and t.verdict.error)]
        chosen = [trajectories[i] for i in kept]
        rewards = torch.tensor([t.reward for t in chosen], dtype=torch.float32)
        lengths = torch.tensor([sum(t.loss_mask) for t in chosen])
        passed = [bool(t.verdict and t.verdict.passed) for t in chosen]
        if cfg.format_fail_reward is not None:
            format_ok = [not (t.verdict and t.verdict.components.get("format", 1.0) == 0) for t in chosen]
            rewards = shaping.format_gate(rewards, format_ok, cfg.format_fail_reward)
        if cfg.length_penalty_coef:
            rewards = shaping.length_penalty(rewards, lengths, cfg.length_penalty_coef, cfg.length_free_tokens, passed)
        if self.learned is not None and not self.learned.dense and chosen:
            rewards = shaping.hybrid(rewards, self.learned.outcome_rewards(chosen), 1.0, cfg.reward_model_coef)
        if cfg.ppo_c_coef and chosen:  # calibrates the judged reward; the overlong penalty below is a length rule
            rewards, self._ppo_c = shaping.ppo_c_calibrate(rewards, [confidence(t) for t in chosen], self._ppo_c,
                                                           cfg.ppo_c_alpha, cfg.ppo_c_coef)
        if cfg.overlong_buffer:
            rewards = rewards + losses.overlong_penalty(lengths, cfg.max_new_tokens * cfg.max_turns, cfg.overlong_buffer)
        return rewards, kept

    def advantages(self, trajectories: list[Trajectory], rewards: torch.Tensor) -> torch.Tensor:
        """Group advantages ``(B,)``; with a PRM or implicit PRM, plus its per-token process
        advantages, ``(B, T)`` (assay.trainer.dense)."""
        ids = {g: i for i, g in enumerate(dict.fromkeys(t.group_id for t in trajectories))}
        group_ids = torch.tensor([ids[t.group_id] for t in trajectories])
        advantages = group_advantages(rewards, group_ids, mode=self.cfg.advantage_mode)
        if self.learned is not None and self.learned.dense:
            width = max((len(t.token_ids) for t in trajectories), default=0)
            advantages = advantages[:, None] + self.learned.process_advantages(trajectories, group_ids.tolist(), width)
        return advantages

    def evaluate(self) -> dict:
        """Held-out accuracy with greedy decoding on ``eval_size`` held-out tasks (``held_out_tasks``)."""
        cfg = self.cfg
        # the async rollout thread shares task_env and the env runner: take turns with it
        with self._async.lock if self._async is not None else contextlib.nullcontext():
            tasks = self.held_out()
            share = tasks[self.world.rank :: self.world.size]
            # paused episodes keep their envs in the runner evaluation shares: it resets other slots
            shared = self._eval_runner is self._env_runner
            paused = self._partial.reserved_slots() if self._partial is not None and shared else ()
            k = cfg.eval_samples
            trajs = run_episodes(self._make_eval_env, share, k, self.generator, self.tokenizer, self._eval_sampling(),
                                 cfg.max_turns, seed=EVAL_SEED_BASE, runner=self._eval_runner, reserved=paused)
        passed = [t.verdict is not None and t.verdict.passed for t in trajs]  # k per task, in task order
        row = {"step": self.step, "eval_accuracy": self.world.sum(sum(passed)) / (len(tasks) * k)}
        if k > 1:  # every rank: the same k values in the same order
            per_task = [sum(passed[i * k:(i + 1) * k]) for i in range(len(share))]
            for j, total in pass_at_sums(per_task, k).items():
                if j > 1:
                    row[f"eval_pass@{j}"] = self.world.sum(total) / len(tasks)
        mine = member_passes(share, passed, k)  # a mixture's members: this rank's share of them
        for member, n in Counter(t.meta[MEMBER_KEY] for t in tasks if MEMBER_KEY in t.meta).items():
            row[f"eval_accuracy/{member}"] = self.world.sum(mine.get(member, (0, 0))[0]) / (n * k)  # same order on every rank
        self._log(row)
        self._log_samples("eval", trajs)
        if self.report and self.world.rank == 0 and self._bar is not None:
            members = ", ".join(f"{k.split('/', 1)[1]} {v:.2f}" for k, v in row.items() if k.startswith("eval_accuracy/"))
            self._bar.note(f"step {self.step:>6}  {self._elapsed():7.0f}s  held-out accuracy {row['eval_accuracy']:.2f}"
                           + (f" ({members})" if members else ""))
        return row

    def held_out(self) -> list[Task]:
        """The evaluation tasks (``held_out_tasks`` of the evaluation env), drawn once."""
        if self._held_out is None:
            self._held_out = held_out_tasks(self.eval_task_env, self.cfg.eval_size)
        return self._held_out

    def _note_training_tasks_held_out(self) -> None:
        """Say so when held-out tasks are training tasks too: an env whose tasks are a finite list (a
        dataset) evaluated on that same list. Evaluation then measures recall, not generalisation."""
        training = task_list(self.task_env)
        if training is None:
            return
        held_out = self.held_out()
        seen = len({t.id for t in held_out} & {t.id for t in training})
        if seen:
            print(f"assay: note: {seen} of the {len(held_out)} held-out tasks are training tasks too ({self.cfg.env_id}'s "
                  "tasks are a finite list): evaluate on a held-out split with eval_env_kwargs, e.g. "
                  "'eval_env_kwargs={split: test}' or '{path: test.jsonl}'", flush=True)

    def save(self, tag: str | None = None) -> Path | None:
        optimizer = self._optimizer_state()  # under fsdp a collective: every rank takes part, rank 0 writes
        if self.world.rank != 0:
            return None
        state = {"optimizer": optimizer, "rng": rng_state(), "step": self.step,
                 "data_seed": self.trained_position, "elapsed_s": self._elapsed(), "config": dataclasses.asdict(self.cfg),
                 "paused_episodes": self._partial.paused_episodes if self._partial is not None else 0,
                 "learned_rewards": self.learned.state() if self.learned is not None else None,
                 "ppo_c_mean": self._ppo_c.mean}
        if self._lora is not None:
            from assay.trainer.lora import trainable_state

            state["lora"] = trainable_state(self.policy)
        return self.run.save(self.step, self._exportable(), self.tokenizer, state, tag=tag, keep=self.cfg.keep_checkpoints)

    def _exportable(self):
        """The policy as a plain Hugging Face model: itself, with FSDP its full copy (refreshed after
        every update), or with LoRA a merged copy."""
        if self._generation_model is not None:
            return self._generation_model
        if self._lora is None:
            return self.policy
        from assay.trainer.lora import merged_copy

        return merged_copy(self.policy, self._lora)

    def _trained(self):
        """What the update runs and the optimiser steps: the FSDP root, or the policy itself."""
        return self._sharded if self._sharded is not None else self.policy

    def _sampling_model(self):
        """What rollouts sample with in this process: the policy, or under FSDP its full copy."""
        return self._generation_model if self._generation_model is not None else self.policy

    def _optimizer_state(self) -> dict:
        if self._sharded is None:
            return self.optimizer.state_dict()
        from assay.trainer.fsdp import optimizer_state

        return optimizer_state(self._sharded, self.optimizer)

    def _reference(self, checkpoint: Path | None):
        """The KL reference: the policy the run started from. After a resume that is config.model, not
        the checkpoint (a reference that moved with each resume would change the objective)."""
        if self._lora is not None:  # adapters off: the starting model, whatever they have learnt
            from assay.trainer.lora import AdaptersOff

            return AdaptersOff(self.policy, self._lora)
        if checkpoint is not None:
            ref = load_policy(self.cfg.model, self.cfg.run_dir, self.cfg.seed)[0]
        else:
            ref = copy.deepcopy(self.policy)
        return ref.to(self.device).eval().requires_grad_(False)

    def _save_model(self, folder: Path) -> None:
        self._exportable().save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    def _resume_from_text(self) -> str:
        latest = self.run.latest()
        return f"the last regular checkpoint, {latest.name}" if latest is not None else "step 0: no regular checkpoint yet"

    # ------------------------------------------------------------------------- plumbing
    def _next_rollout(self) -> tuple[list[Trajectory], dict]:
        """This step's batch: sampled now (max_staleness=0, or partial rollouts, which bound staleness
        by pausing instead), or taken from the async pipeline (started here at version ``self.step``;
        ``_publish`` hands it each later version). Rows log ``data_position``, the position after
        the batch, which is where a checkpoint taken after this step resumes drawing."""
        if self.cfg.max_staleness == 0 or self._partial is not None:
            try:
                trajectories, stats = self.rollout()
            except ServerError as e:  # the run is between steps: its state now is a checkpoint to resume from
                if self.step > 0 and self._partial is None:  # (paused partial episodes would be half-advanced)
                    e.checkpoint = self.save() if self._unsaved() else self.run.latest()
                raise
            stats["data_position"] = self.data_seed
        else:
            if self._async is None:
                from assay.trainer.ray_backend.pipeline import AsyncRollouts

                self._async = AsyncRollouts(self._produce_async, self._snapshot, self._sampling_model(), self.step,
                                            self.cfg.max_staleness)
            trajectories, stats = self._async.next(self.step)
        self.trained_position = stats["data_position"]
        return trajectories, stats

    def _produce_async(self, generator) -> tuple[list[Trajectory], dict]:
        """One batch on the pipeline's thread; it records where the data position stood after the
        batch, since by the time the batch trains the thread has drawn the next ones."""
        trajectories, stats = self.rollout(generator, lambda: generator.last_version)
        return trajectories, {**stats, "data_position": self.data_seed}

    def _unsaved(self) -> bool:
        """Whether this step's state is not yet the latest regular checkpoint."""
        latest = self.run.latest()
        return latest is None or latest.name != f"step_{self.step:06d}"

    @contextlib.contextmanager
    def _explain_server_loss(self):
        """A generator server (generator_url) that stops answering or refuses a request ends the run
        with the checkpoint to resume from: the state after the last step when the loss came while
        sampling the next batch (saved then), else the last regular checkpoint (a resume drops the
        rows logged after it and redoes those steps)."""
        try:
            yield
        except ServerError as e:
            where = getattr(e, "checkpoint", None) or self.run.latest()
            resume = (f"the run is saved at {where.name} ({where}): start the server again and rerun with --resume"
                      if where is not None else "no checkpoint was written yet: start the server again and rerun")
            raise type(e)(f"{e}\nThe generator server stopped the run at step {self.step}; {resume}") from None

    def _snapshot(self, policy, version: int):
        """A generator frozen at the policy's current weights, for the async pipeline: a copy here, or
        the Ray generator actors pinned to ``version`` (the weights pushed to them once)."""
        if self.cfg.ray_generators:  # actors hold plain models: with LoRA, the merged weights of `policy`
            return self.generator.pinned(self._exportable(), version)
        return HFGenerator(copy.deepcopy(policy), self.tokenizer, batch_size=self.cfg.generation_batch_size,
                           precision=self.cfg.precision)

    def _publish(self) -> None:
        """After each step: the weights as they are now become version ``self.step`` for whoever
        samples away from the live policy (the async pipeline's snapshot, Ray generator actors, a
        generator server)."""
        if self._generation_model is not None:  # every rank gathers the new shards into its copy
            from assay.trainer.fsdp import refresh

            refresh(self._generation_model, self.policy)
        if self._async is not None:
            self._async.publish(self.step, self._sampling_model())  # with Ray generators, the snapshot is the sync
        elif self.cfg.ray_generators:
            self.generator.sync(self._exportable(), self.step)
        elif self.cfg.generator_url:
            self._sync_server()
        elif self.cfg.generator == "vllm":
            self.generator.load_weights(self._exportable().state_dict().items())

    def _vllm_generator(self):
        """vLLM in this process, started from the policy as it is now (a fresh run's model, a resumed
        checkpoint, LoRA merged), written to run_dir/generator_weights once; later weights go over in
        memory after every update (``_publish``)."""
        import torch.distributed as dist

        from assay.trainer.generators.vllm import VLLMGenerator

        where = self.run.path / "generator_weights"
        if self.world.rank == 0:
            shutil.rmtree(where, ignore_errors=True)
            self._save_model(where)
        grouped = dist.is_available() and dist.is_initialized()  # torchrun, or fsdp's group of one
        if grouped:
            dist.barrier()  # every rank reads what rank 0 wrote
        # under a process group each rank runs an engine of its own inside it (vLLM's "external_launcher")
        return VLLMGenerator(where, self.tokenizer, precision=self.cfg.precision, seed=self.cfg.seed + self.world.rank,
                             in_process_group=grouped)

    def _sync_server(self) -> None:
        """The policy as it is now, written where the generator server reads it, and loaded there."""
        where = self.run.path / "generator_weights"
        shutil.rmtree(where, ignore_errors=True)
        self._exportable().save_pretrained(where)
        self.generator.load_weights(str(where.resolve()))

    def _sampling(self, seed: int | None = None) -> SamplingParams:
        return SamplingParams(max_new_tokens=self.cfg.max_new_tokens, temperature=self.cfg.temperature,
                              top_p=self.cfg.top_p, stop=(), seed=seed)

    def _eval_sampling(self) -> SamplingParams:
        """Greedy for one episode per task; else eval_temperature with the same seed at every
        evaluation (common random numbers: two evaluations differ by the policy, not the draw)."""
        if self.cfg.eval_samples == 1:
            return dataclasses.replace(self._sampling(), temperature=0.0)
        return dataclasses.replace(self._sampling(eval_sampling_seed(self.cfg.seed, self.world.rank)),
                                   temperature=self.cfg.eval_temperature)

    def _sampling_seed(self) -> int:
        """The sampling seed of a rollout, a function of the run's seed, the data position and the rank
        alone, so a run samples the same tokens whichever generator draws them (here or on Ray actors)
        and after a resume (rollouts add the turn to it)."""
        return derive_seed(self.cfg.seed, self.data_seed, self.world.rank)

    def _set_lr(self, step: int) -> float:
        """The schedule's rate for ``step``, set on the optimiser (a function of the step alone, so
        resuming needs no scheduler state)."""
        cfg = self.cfg
        lr = lr_at(step, cfg.lr, cfg.steps, cfg.lr_schedule, cfg.warmup_steps, cfg.min_lr_ratio)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _elapsed(self) -> float:
        """Training wall time so far, across resumes."""
        clock = getattr(self, "_clock", None)
        return self.elapsed_s if clock is None else time.perf_counter() - clock

    def _out_of_time(self) -> bool:
        return self.cfg.max_wall_s is not None and self._elapsed() >= self.cfg.max_wall_s

    def _make_env(self):
        return assay.make(self.cfg.env_id, **self.cfg.env_kwargs)

    def _make_eval_env(self):
        return assay.make(self.cfg.env_id, **self.cfg.evaluation_env_kwargs)

    def _reward_stats(self, rewards: torch.Tensor, trajectories: list[Trajectory]) -> dict:
        passed = [t.verdict.passed for t in trajectories if t.verdict is not None]
        stats = {"reward": float(rewards.mean()) if rewards.numel() else 0.0,
                 "accuracy": sum(passed) / max(len(passed), 1),
                 "response_len": float(sum(sum(t.loss_mask) for t in trajectories) / max(len(trajectories), 1))}
        judged = [t for t in trajectories if t.task is not None and t.verdict is not None]
        for member, accuracy in member_accuracy([t.task for t in judged], [t.verdict.passed for t in judged], 1).items():
            stats[f"accuracy/{member}"] = accuracy  # an env mixture's members (assay.envs.mixture)
        if self.cfg.ppo_c_coef:
            stated = [c for c in (shaping.parse_confidence(final_text(t)) for t in trajectories) if c is not None]
            stats.update(confidence=sum(stated) / len(stated) if stated else 0.5,
                         confidence_missing=1 - len(stated) / max(len(trajectories), 1), ppo_c_mean=self._ppo_c.mean)
        return stats

    def _start_logging(self) -> None:
        if self.world.rank != 0:
            return
        self.run.path.mkdir(parents=True, exist_ok=True)
        (self.run.path / "config.yaml").write_text(to_yaml(self.cfg))
        if not self._sinks:
            self._sinks = open_sinks(parse_report_to(self.cfg.report_to), self.run.path, self.step, dataclasses.asdict(self.cfg))

    def _log(self, row: dict) -> None:
        if self.world.rank != 0:
            return
        row.setdefault("elapsed_s", round(self._elapsed(), 3))
        self.run.log(row)
        for sink in self._sinks:  # report_to: TensorBoard, W&B
            sink.log(row)

    def _log_samples(self, split: str, trajectories: list[Trajectory], rewards: list[float] | None = None) -> None:
        """``log_samples`` of this rank's episodes as text (rank 0's share under torchrun)."""
        if self.world.rank != 0 or not self.cfg.log_samples:
            return
        rows = samples.sample_rows(self.step, split, trajectories, self.cfg.log_samples, rewards)
        self.run.log_samples(rows)
        for sink in self._sinks if rows else ():
            sink.log_samples(split, rows, self.step)

    def _progress(self):
        return StepProgress(self.cfg.steps, self.step, enabled=self.progress)


def _headline(row: dict) -> str:
    """The progress bar's text for a training step's metric row."""
    return (f"reward {row['reward']:.3f}  acc {row['accuracy']:.2f}  kl {row['kl']:.4f}  "
            f"ent {row['entropy']:.3f}  {row['tokens_per_s']:.0f} tok/s")


def final_text(trajectory: Trajectory) -> str:
    """The text of the episode's last generated turn: where a response states its confidence."""
    return next((turn.text for turn in reversed(trajectory.turns) if turn.role == "assistant"), "")


def confidence(trajectory: Trajectory) -> float:
    """PPO-C's c: the verbalised confidence of the final turn, 0.5 (neutral) when none is stated."""
    stated = shaping.parse_confidence(final_text(trajectory))
    return 0.5 if stated is None else stated

