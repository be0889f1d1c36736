"""``assay pretrain-tiny``: warm-start assay's tiny CPU model with supervised training."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from assay.config import field_docs
    from assay.trainer.sft import SFTConfig

    fields = "\n".join(f"  {name:<12} {doc}" for name, doc in field_docs(SFTConfig).items())
    p = sub.add_parser(
        "pretrain-tiny",
        help="warm-start the tiny CPU model on procedural tasks (supervised)",
        description="Build assay's tiny Llama-style model and tokenizer and train them on procedural tasks' gold "
                    "answers; writes a standard Hugging Face directory for `assay train model=DIR`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"overrides (key=value, values parsed as YAML):\n{fields}\n\n"
               "example: assay pretrain-tiny out=runs/tiny-sft steps=300 'env_kwargs={difficulty: 1}'",
    )
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in out (none yet: start at step 0; see save_every)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from assay.config import load
    from assay.trainer.sft import SFTConfig, pretrain_tiny

    config = load(SFTConfig, overrides=args.overrides)
    print(f"wrote {pretrain_tiny(config, resume=args.resume, progress=not args.no_progress)}")
    return 0
