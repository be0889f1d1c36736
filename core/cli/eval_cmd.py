"""``assay eval MODEL``: a policy's accuracy (and pass@k) on an environment's held-out tasks."""

from __future__ import annotations

import argparse
from pathlib import Path

from assay.errors import AssayError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a policy on an environment's held-out tasks (accuracy, pass@k)",
        description="Run a policy on the held-out tasks the trainer evaluates on (the same seeds), through the "
                    "trainer's rollout code, and report accuracy, pass@k, mean reward and response length. "
                    "MODEL is a Hugging Face directory, a run directory (its latest checkpoint) or a folder "
                    "inside one (best/, checkpoints/step_N); the run's config.yaml then supplies the settings "
                    "(environment, turns, token limits) unless --config is given. key=value overrides are "
                    "GRPOConfig fields (env_id, env_kwargs, max_turns, max_new_tokens, eval_size, ...). "
                    "generator_url=URL samples through a server instead (only when given here: a run's server "
                    "may hold other weights than MODEL).",
        epilog="examples: assay eval runs/grpo    assay eval runs/grpo/best --samples 8    "
               "assay eval runs/tiny-sft env_id=assay/arithmetic-v0 'env_kwargs={difficulty: 2}' eval_size=200",
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--config", help="YAML file of GRPOConfig fields (default: the run's config.yaml, if MODEL is in a run)")
    p.add_argument("--samples", type=int, default=None,
                   help="episodes per task (pass@k for k up to this; default: the config's eval_samples, 1)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature (default: greedy with one sample, the config's eval_temperature with more)")
    p.add_argument("--seed", type=int, default=None,
                   help="sampling seed (with a temperature; default: the one the trainer's evaluations use)")
    p.add_argument("--output", metavar="FILE.jsonl", help="write the trajectories here (assay rescore reads them)")
    p.add_argument("--all-checkpoints", action="store_true",
                   help="MODEL a run directory: evaluate every checkpoint in it (and best/), one row each")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(run=run)


def resolve(model: str) -> tuple[str, Path | None]:
    """``(model directory, the run's config.yaml or None)``: a run directory stands for its latest
    checkpoint; a folder inside a run (``best``, ``checkpoints/step_N``) finds the run's config."""
    path = Path(model)
    if model == "tiny" or not path.is_dir():
        return model, None
    from assay.trainer.run_state import RunDir

    if (path / "config.yaml").is_file() and not (path / "config.json").is_file():
        latest = RunDir(path).latest()
        if latest is None:
            raise AssayError(f"{path} is a run directory without a checkpoint: pass a model directory, or train with "
                             "save_every set")
        return str(latest), path / "config.yaml"
    for parent in (path.parent, path.parent.parent):
        if (parent / "config.yaml").is_file() and not (parent / "config.json").is_file():
            return model, parent / "config.yaml"
    return model, None


def run(args: argparse.Namespace) -> int:
    import dataclasses

    import assay
    from assay.config import load
    from assay.protocols import SamplingParams
    from assay.trainer.config import GRPOConfig
    from assay.trainer.evaluation import EVAL_SEED_BASE, eval_sampling_seed, evaluate_policy, held_out_tasks

    if args.samples is not None and args.samples < 1:
        raise AssayError(f"--samples must be >= 1, got {args.samples}")
    model, run_config = resolve(args.model)
    config_path = args.config or (str(run_config) if run_config else None)
    cfg = load(GRPOConfig, config_path, [*args.overrides, f"model={model}"])
    # defaults: the run's own evaluation, so `assay eval RUN` gives what it logged
    args.samples = cfg.eval_samples if args.samples is None else args.samples
    args.seed = eval_sampling_seed(cfg.seed) if args.seed is None else args.seed
    if config_path:
        print(f"settings from {config_path}")
    if cfg.generator_url and not any(o.startswith("generator_url=") for o in args.overrides):
        # the run's server holds whatever weights it loaded last, not necessarily MODEL's
        cfg = dataclasses.replace(cfg, generator_url="")
    temperature = args.temperature if args.temperature is not None else (0.0 if args.samples == 1 else cfg.eval_temperature)
    if temperature < 0:
        raise AssayError(f"--temperature must be >= 0 (0: greedy), got {temperature}")
    if args.samples > 1 and temperature == 0:
        raise AssayError("--samples > 1 with greedy decoding repeats one episode: set --temperature (e.g. 1.0)")
    task_env = assay.make(cfg.env_id, **cfg.evaluation_env_kwargs)
    tasks = held_out_tasks(task_env, cfg.eval_size)
    params = SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=temperature, top_p=cfg.top_p,
                            seed=args.seed if temperature else None)

    def evaluate(cfg):
        generator, tokenizer = _generator(cfg)
        return evaluate_policy(generator, tokenizer, lambda: assay.make(cfg.env_id, **cfg.evaluation_env_kwargs), tasks, params,
                               args.samples, cfg.max_turns, seed=EVAL_SEED_BASE, env_threads=cfg.env_threads)

    if args.all_checkpoints:
        return _all_checkpoints(args, cfg, run_config, evaluate, temperature, len(tasks))
    report, trajectories = evaluate(cfg)
    _print(report, cfg, model, temperature)
    if args.output:
        from assay.serialization import write_jsonl

        write_jsonl(args.output, trajectories)
        print(f"wrote {len(trajectories)} trajectories to {args.output}")
    return 0


def _all_checkpoints(args, cfg, run_config: Path | None, evaluate, temperature: float, n_tasks: int) -> int:
    """Every checkpoint of the run, oldest first, then best/: one row each, the highest marked."""
    import dataclasses

    from rich.console import Console
    from rich.table import Table

    from assay.trainer.run_state import RunDir

    if run_config is None or Path(args.model).resolve() != run_config.parent.resolve():
        raise AssayError("--all-checkpoints needs MODEL to be a run directory (with config.yaml and checkpoints/)")
    if args.output or cfg.generator_url:
        raise AssayError("--all-checkpoints evaluates each checkpoint here: leave out --output and generator_url")
    run = RunDir(args.model)
    models = [(p.name, p) for p in run.regular_checkpoints()] + ([("best", run.best)] if (run.best / "config.json").exists() else [])
    if not models:
        raise AssayError(f"{run.checkpoints} holds no checkpoint")
    print(f"{len(models)} models of {_setting(args.model, cfg, temperature, n_tasks)}")
    reports = [(name, evaluate(dataclasses.replace(cfg, model=str(path)))[0]) for name, path in models]
    top = max(r.accuracy for _, r in reports)
    table = Table()
    for column in ("model", "accuracy", *(f"pass@{k}" for k in reports[0][1].pass_at if args.samples > 1), "mean reward"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, r in reports:
        table.add_row(name + (" *" if r.accuracy == top else ""), f"{r.accuracy:.4f}",
                      *(f"{v:.4f}" for v in r.pass_at.values() if args.samples > 1), f"{r.mean_reward:.4f}")
    Console().print(table)
    print("* the highest accuracy")
    return 0


def _generator(cfg):
    """The policy as the trainer would sample it: a server at generator_url, vLLM here, or the model here."""
    if cfg.generator_url:
        import os

        from transformers import AutoTokenizer

        from assay.trainer.generators.openai import OpenAIGenerator

        if not Path(cfg.model).is_dir():
            raise AssayError(f"with generator_url, MODEL must be the served model's directory (for its tokenizer), got {cfg.model!r}")
        key = os.environ.get("ASSAY_GENERATOR_API_KEY", "EMPTY")
        served = OpenAIGenerator.served_model(cfg.generator_url, key, retries=cfg.generator_retries)
        return (OpenAIGenerator(cfg.generator_url, served, api_key=key, retries=cfg.generator_retries),
                AutoTokenizer.from_pretrained(cfg.model))
    if cfg.generator == "vllm":
        from transformers import AutoTokenizer

        from assay.trainer.generators.vllm import VLLMGenerator

        if not (Path(cfg.model) / "config.json").is_file():
            raise AssayError(f"with generator=vllm, MODEL must be a Hugging Face model directory, got {cfg.model!r}")
        tokenizer = AutoTokenizer.from_pretrained(cfg.model)
        return VLLMGenerator(cfg.model, tokenizer, precision=cfg.precision, seed=cfg.seed), tokenizer
    import tempfile

    from assay.trainer.distributed import resolve_device
    from assay.trainer.generators.hf import HFGenerator
    from assay.trainer.policy import load_policy

    policy, tokenizer = load_policy(cfg.model, tempfile.mkdtemp(prefix="assay-eval-"), cfg.seed)
    policy.to(resolve_device(cfg.device)).eval()
    return HFGenerator(policy, tokenizer, batch_size=cfg.generation_batch_size, precision=cfg.precision), tokenizer


def _print(report, cfg, model: str, temperature: float) -> None:
    from rich.console import Console
    from rich.table import Table

    print(_setting(model, cfg, temperature, report.tasks))
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in report.rows():
        table.add_row(name, value)
    Console().print(table)


def _setting(model: str, cfg, temperature: float, n_tasks: int) -> str:
    """The line above a report: what was evaluated on what, and how it was sampled."""
    how = "greedy" if not temperature else f"temperature {temperature:g}"
    return f"{model} on {cfg.env_id} {cfg.evaluation_env_kwargs or ''}, {how}, {n_tasks} held-out tasks"

