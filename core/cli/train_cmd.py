"""``assay train``: a GRPO-family run from a YAML config plus ``key=value`` overrides."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from assay.config import field_docs
    from assay.trainer.config import GRPOConfig

    fields = "\n".join(f"  {name:<20} {doc}" for name, doc in field_docs(GRPOConfig).items())
    p = sub.add_parser(
        "train",
        help="train a policy with GRPO / Dr.GRPO / DAPO / RLOO",
        description="Train a policy on an environment with a GRPO-family algorithm.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"overrides (key=value, values parsed as YAML):\n{fields}\n\n"
               "example: assay train --config run.yaml algorithm=dapo lr=1e-4 env_kwargs='{difficulty: 2}'",
    )
    p.add_argument("--config", help="YAML file of GRPOConfig fields")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in run_dir (none yet: start at step 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import os

    from assay.config import load
    from assay.trainer.config import GRPOConfig
    from assay.trainer.distributed import finish, init_from_env
    from assay.trainer.grpo import GRPOTrainer
    from assay.trainer.run_state import BestModel, RunDir

    config = load(GRPOConfig, args.config, args.overrides)
    init_from_env(always=config.fsdp)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    trainer = GRPOTrainer(config, resume=args.resume, progress=not args.no_progress, report=True)
    if rank0:
        print(f"{config.algorithm} on {config.env_id}: {config.model}, {config.prompts_per_step} prompts x "
              f"{config.group_size} samples per step, steps {trainer.step} -> {config.steps}; run in {config.run_dir}",
              flush=True)
    history = trainer.train()
    trainer.close()  # engines first: a vLLM engine inside the process group tears its part down itself
    finish()  # on an error torchrun stops the other ranks; on success they leave together
    evals = [r["eval_accuracy"] for r in history if "eval_accuracy" in r]
    if rank0:
        if config.keep_best and (best := BestModel.summary(RunDir(config.run_dir))):
            print(best)
        latest = RunDir(config.run_dir).latest()
        where = f" (the latest: {latest.relative_to(config.run_dir)})" if latest is not None else ""
        print(f"metrics and checkpoints in {config.run_dir}{where}; curves: assay plot {config.run_dir}"
              + (f"; what the policy wrote: assay samples {config.run_dir}" if config.log_samples else ""))
        if evals:
            print(f"held-out accuracy: {evals[0]:.2f} -> {evals[-1]:.2f}")
    return 0
