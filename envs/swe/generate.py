"""``assay swe make-tasks``: SWE tasks from a real package's source distribution (SWE-smith-like).

1. The sdist becomes a git repository (``snapshot.upstream_repo``); its whole test suite runs once
   in the sandbox: the tests that pass there are the candidates for PASS_TO_PASS.
2. Bugs are injected one at a time by AST mutation (``mutations.py``) into non-test modules.
3. The mutated tree's suite runs in the sandbox: tests that passed upstream and fail now are
   FAIL_TO_PASS; a sample of the rest is PASS_TO_PASS. No failing test: the mutation is dropped.
4. The gold patch is the mutation's inverse (``git diff`` from the buggy tree to upstream); the
   problem statement is written from the failing tests' output.
5. Validation, through the same grader that scores agents, on a snapshot rebuilt from the sdist
   (which also checks that ``base_commit`` reproduces): the gold patch must resolve the task and
   an empty patch must not. Tasks that fail either are dropped.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assay.errors import AssayError
from assay.envs.swe.mutations import Mutation, candidates, sample
from assay.verifiers.swe.grader import grade, run_tests
from assay.verifiers.swe.instance import RepoSource, SWEInstance
from assay.verifiers.swe.snapshot import commit_all, git, upstream_repo
from assay.verifiers.swe.workspace import Runtime

_TEST_FILE = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*\.py$|_test\.py$|(^|/)conftest\.py$|(^|/)setup\.py$|(^|/)docs?/")


@dataclass(frozen=True)
class GenConfig:
    """How many tasks to make from one sdist and how."""

    sdist: Path  # the source tarball
    max_tasks: int = 4  # tasks kept per package
    max_tries: int = 24  # mutations tried at most
    p2p_sample: int = 20  # PASS_TO_PASS tests per task
    seed: int = 0
    timeout_s: float = 120.0
    source_location: str | None = None  # how task files refer to the sdist (default: its path)


def _suite(instance: SWEInstance, runtime: Runtime, timeout_s: float) -> tuple[dict[str, str], str]:
    graded = run_tests(instance, "", runtime, timeout_s, ())
    report = (graded.answer or {}).get("report") or {}
    if graded.error or not isinstance(report.get("tests"), dict):
        raise AssayError(f"running {instance.repo}'s test suite failed: {graded.error or graded.log[-500:]}")
    return report["tests"], graded.log


def _statement(package: str, f2p: list[str], log: str) -> str:
    shown = "\n".join(f"- `{t}`" for t in f2p[:8]) + (f"\n- ... and {len(f2p) - 8} more" if len(f2p) > 8 else "")
    return (f"After a recent change to {package}, some of its tests fail:\n\n{shown}\n\n"
            f"pytest reports:\n\n```\n{log.strip()[-2500:]}\n```\n\n"
            "Find the bug in the library code and fix it. Do not change the tests.")


def make_tasks(cfg: GenConfig, runtime: Runtime = Runtime(), log: Callable[[str], None] = print) -> list[SWEInstance]:
    sdist = Path(cfg.sdist).resolve()
    package = sdist.name.removesuffix(".tar.gz").removesuffix(".zip")
    location = cfg.source_location or str(sdist)
    kept: list[SWEInstance] = []
    with tempfile.TemporaryDirectory(prefix="assay-swe-gen-") as tmp:
        upstream = Path(tmp) / "upstream"
        upstream_commit = upstream_repo(sdist, upstream)
        base_probe = SWEInstance(f"{package}.upstream", package, upstream_commit, "", "", "", (), (),
                                 RepoSource("path", str(upstream)))
        results, _ = _suite(base_probe, runtime, cfg.timeout_s)
        passing = sorted(t for t, s in results.items() if s == "passed")
        log(f"{package}: {len(passing)} of {len(results)} tests pass upstream")
        if not passing:
            raise AssayError(f"{package}: no test passes upstream; nothing to build tasks on")
        files = [p for p in git(upstream, "ls-files").stdout.decode().splitlines()
                 if p.endswith(".py") and not _TEST_FILE.search(p)]
        pool: list[Mutation] = []
        for path in files:
            pool += candidates(path, (upstream / path).read_text())
        tried = sample(pool, cfg.max_tries, cfg.seed)
        for i, m in enumerate(tried):
            if len(kept) >= cfg.max_tasks:
                break
            instance = _try(m, i, cfg, package, location, upstream, upstream_commit, passing, runtime, Path(tmp), log)
            if instance is not None:
                kept.append(instance)
    return kept


def _try(m: Mutation, i: int, cfg: GenConfig, package: str, location: str, upstream: Path, upstream_commit: str,
         passing: list[str], runtime: Runtime, tmp: Path, log) -> SWEInstance | None:
    work = tmp / f"m{i}"
    shutil.copytree(upstream, work, symlinks=True)
    target = work / m.path
    target.write_text(m.apply(target.read_text()))
    instance_id = f"{package}.{m.kind}.{m.path.replace('/', '.').removesuffix('.py')}.L{m.line}.{i}"
    base = commit_all(work, f"task {instance_id}")
    gold = git(work, "diff", base, upstream_commit).stdout.decode()
    probe = SWEInstance(instance_id, package, base, "", gold, "", (), (), RepoSource("path", str(work)))
    try:
        results, run_log = _suite(probe, runtime, cfg.timeout_s)
    except AssayError as e:
        log(f"  skip {m.path}:{m.line} {m.kind}: {e}")
        return None
    f2p = [t for t in passing if results.get(t) != "passed"]
    if not f2p:
        log(f"  skip {m.path}:{m.line} {m.kind}: no test notices ({m.description})")
        return None
    rest = [t for t in passing if t not in f2p]
    step = max(1, len(rest) // cfg.p2p_sample)
    p2p = rest[::step][: cfg.p2p_sample]
    fail_log = run_tests(probe, "", runtime, cfg.timeout_s, tuple(f2p[:5])).log
    instance = SWEInstance(
        instance_id=instance_id, repo=package, base_commit=base, problem_statement=_statement(package, f2p, fail_log),
        patch=gold, test_patch="", FAIL_TO_PASS=tuple(f2p), PASS_TO_PASS=tuple(p2p),
        repo_source=RepoSource("sdist", str(Path(location))),
        extra={"mutation": {"kind": m.kind, "path": m.path, "line": m.line, "description": m.description}},
    )
    # validate against a snapshot rebuilt from the sdist, as users of the task file will get it
    check = SWEInstance(**{**vars(instance), "repo_source": RepoSource("sdist", str(cfg.sdist.resolve()))})
    gold_ok = grade(check, gold, runtime, cfg.timeout_s).outcome.resolved
    empty_ok = grade(check, "", runtime, cfg.timeout_s).outcome.resolved
    if not gold_ok or empty_ok:
        log(f"  drop {instance_id}: gold resolves={gold_ok}, empty patch resolves={empty_ok}")
        return None
    log(f"  keep {instance_id}: {len(f2p)} FAIL_TO_PASS, {len(p2p)} PASS_TO_PASS ({m.description})")
    return instance


def write_tasks(path: Path, instances: list[SWEInstance]) -> None:
    with open(path, "w") as f:
        for inst in instances:
            f.write(json.dumps(inst.to_record()) + "\n")
