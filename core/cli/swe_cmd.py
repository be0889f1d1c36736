"""``assay swe``: make SWE tasks from a package's sdist, grade predictions, build the SWE image."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from assay.errors import AssayError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("swe", help="SWE tasks: generate them, grade predictions, build the Docker image",
                       description="Repository-level software-engineering tasks graded as SWE-bench does.")
    p.set_defaults(run=lambda args: (p.print_help(), 0)[1])
    s = p.add_subparsers(dest="swe_command", metavar="SUBCOMMAND")

    m = s.add_parser("make-tasks", help="inject bugs into a package's sdist and keep the tasks that validate",
                     description="Build SWE tasks from a pure-Python source distribution with its tests "
                                 "(e.g. from `pip download --no-binary :all: --no-deps NAME`). Example: "
                                 "assay swe make-tasks inflection-0.5.1.tar.gz -o tasks.jsonl --max-tasks 4")
    m.add_argument("sdist", nargs="+", type=Path, help="source tarball(s)")
    m.add_argument("-o", "--output", type=Path, required=True, help="JSONL file to write the tasks to")
    m.add_argument("--max-tasks", type=int, default=4, help="tasks kept per package (default 4)")
    m.add_argument("--max-tries", type=int, default=24, help="mutations tried per package (default 24)")
    m.add_argument("--p2p", type=int, default=20, help="PASS_TO_PASS tests per task (default 20)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--backend", default="bwrap", choices=["bwrap", "docker"])
    m.add_argument("--relative-sources", action="store_true",
                   help="refer to each sdist by its path relative to the output file's folder (for shipped sets)")
    m.set_defaults(run=make_tasks_cmd)

    g = s.add_parser("grade", help="grade SWE-bench predictions (instance_id, model_name_or_path, model_patch)",
                     description="Grade a predictions file against task instances; prints one JSON line per "
                                 "prediction and a resolved count. Example: assay swe grade preds.jsonl --tasks tasks.jsonl")
    g.add_argument("predictions", type=Path)
    g.add_argument("--tasks", type=Path, default=None, help="instances JSONL (default: the shipped set)")
    g.add_argument("--backend", default="bwrap", choices=["bwrap", "docker"])
    g.add_argument("--image", default=None, help="Docker image (default: assay-swe:pyX.Y)")
    g.set_defaults(run=grade_cmd)

    b = s.add_parser("build-image", help="build the SWE Docker image (sandbox image + git, patch, pytest, repos)",
                     description="Build assay-swe:pyX.Y from the sandbox image (run `assay sandbox build-image` first).")
    b.add_argument("--tag", default=None)
    b.add_argument("--tasks", type=Path, default=None, help="also bake these tasks' repositories into the image")
    b.set_defaults(run=build_image_cmd)


def make_tasks_cmd(args: argparse.Namespace) -> int:
    from assay.envs.swe.generate import GenConfig, make_tasks, write_tasks
    from assay.verifiers.swe.workspace import Runtime

    made = []
    for sdist in args.sdist:
        if not sdist.is_file():
            raise AssayError(f"{sdist}: no such file (download one: pip download --no-binary :all: --no-deps NAME)")
        location = os.path.relpath(sdist.resolve(), args.output.resolve().parent) if args.relative_sources else None
        made += make_tasks(GenConfig(sdist, args.max_tasks, args.max_tries, args.p2p, args.seed, source_location=location),
                           Runtime(args.backend))
    write_tasks(args.output, made)
    print(f"wrote {len(made)} tasks to {args.output}")
    return 0 if made else 1


def _instances(path: Path | None):
    from assay.envs.swe.tasks import shipped_instances
    from assay.verifiers.swe.instance import load_instances

    if path is None:
        return shipped_instances()
    if not path.is_file():
        raise AssayError(f"{path}: no such task file")
    return load_instances(path)


def grade_cmd(args: argparse.Namespace) -> int:
    from assay.verifiers.swe.grader import grade
    from assay.verifiers.swe.instance import read_predictions
    from assay.verifiers.swe.workspace import Runtime

    if not args.predictions.is_file():
        raise AssayError(f"{args.predictions}: no such predictions file")
    by_id = {i.instance_id: i for i in _instances(args.tasks)}
    runtime, resolved, preds = Runtime(args.backend, args.image), 0, read_predictions(args.predictions)
    for p in preds:
        if p.instance_id not in by_id:
            raise AssayError(f"prediction for unknown instance {p.instance_id!r}")
        g = grade(by_id[p.instance_id], p.model_patch, runtime)
        resolved += g.outcome.resolved
        print(json.dumps({"instance_id": p.instance_id, "model_name_or_path": p.model_name_or_path,
                          "resolved": g.outcome.resolved, "problem": g.outcome.problem, "error": g.error,
                          "tests": {t.test_id: t.status for t in g.outcome.tests if not t.passed}}))
    print(f"resolved {resolved} of {len(preds)}")
    return 0


def build_image_cmd(args: argparse.Namespace) -> int:
    from assay.verifiers.swe.image import build_swe_image

    try:
        build_swe_image(args.tag, _instances(args.tasks) if args.tasks else ())
    except RuntimeError as e:
        raise AssayError(str(e)) from e
    return 0
