"""``assay train-rm``: train an outcome, process or implicit reward model."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from assay.config import field_docs
    from assay.trainer.reward_model import RMConfig

    fields = "\n".join(f"  {name:<14} {doc}" for name, doc in field_docs(RMConfig).items())
    p = sub.add_parser(
        "train-rm",
        help="train a reward model: pairwise ORM, step-level PRM, or PRIME implicit PRM",
        description="Train a reward model over any Hugging Face causal LM (or the tiny one) and write a standard "
                    "model directory plus value_head.safetensors and reward_model.json. Data formats: "
                    "assay.trainer.rm_data.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"overrides (key=value, values parsed as YAML):\n{fields}\n\n"
               "example: assay train-rm --kind orm data=prefs.jsonl eval_data=held.jsonl out=runs/orm steps=500 save_every=100\n"
               "  (killed? run the same command with --resume)",
    )
    p.add_argument("--kind", choices=("orm", "prm", "implicit"), help="what to train (same as kind=...)")
    p.add_argument("--config", help="YAML file with RMConfig fields")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in out (none yet: start at step 0; see save_every)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from assay.config import load
    from assay.trainer.reward_model import RMConfig, train_reward_model
    from assay.trainer.run_state import BestModel, RunDir

    overrides = list(args.overrides) + ([f"kind={args.kind}"] if args.kind else [])
    config = load(RMConfig, args.config, overrides)
    out, history = train_reward_model(config, resume=args.resume, progress=not args.no_progress)
    print(f"wrote {out}")
    if config.keep_best and (best := BestModel.summary(RunDir(out))):
        print(best)
    return 0
