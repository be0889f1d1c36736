"""``assay plot RUN_DIR [RUN_DIR ...]``: learning curves from metrics.jsonl as PNG files, for the run
directories of ``assay train`` (GRPO family), ``assay train-rm`` (reward models) and ``assay
pretrain-tiny``. Several runs share one figure, one line per run in every panel, to compare them.

What is drawn is computed first (``curves``: panel -> lines) and only then drawn, so the data of a
figure can be checked without reading pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assay.errors import AssayError
from assay.trainer.run_state import RunDir

PANELS = [
    ("eval_accuracy", "held-out accuracy"),
    ("reward", "train reward"),
    ("accuracy", "train accuracy"),
    ("entropy", "entropy"),
    ("kl", "KL to reference"),
    ("tokens_per_s", "tokens / s"),
    ("loss", "train loss"),
    # reward models (assay train-rm); per-category accuracies (acc/<category>) join the pairwise panel
    ("pairwise_accuracy", "held-out pairwise accuracy"),
    ("step_accuracy", "held-out step accuracy"),
    ("outcome_accuracy", "held-out outcome accuracy"),
]
CATEGORY_PREFIX = "acc/"
# a single run's breakdowns, drawn as extra lines in their panel: reward-model categories, and the
# members of an environment mixture (assay.envs.mixture)
BREAKDOWNS = {"pairwise_accuracy": (CATEGORY_PREFIX,), "eval_accuracy": ("eval_pass@", "eval_accuracy/"),
              "accuracy": ("accuracy/",)}
# logged as exactly 0 when the run has no such term (kl_coef=0): a flat panel would say nothing
ZERO_WHEN_OFF = {"kl"}


def _natural(key: str) -> tuple:
    """Sort eval_pass@16 after eval_pass@2."""
    head, _, tail = key.rpartition("@")
    return (head, int(tail)) if tail.isdigit() else (key, 0)


def moving_mean(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over the last ``window`` values (fewer at the start): the smoothed line."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def run_labels(run_dirs: Sequence[str | Path]) -> list[str]:
    """Each run's folder name, or its path where two names are the same."""
    names = [Path(d).name for d in run_dirs]
    return [name if names.count(name) == 1 else str(d) for name, d in zip(names, run_dirs)]


def curves(run_dirs: Sequence[str | Path]) -> dict[str, list[tuple[str, list[int], list[float]]]]:
    """``{metric: [(label, steps, values), ...]}`` for every known metric any run logged, one line
    per run (a single run adds a line per breakdown: ``acc/<category>`` of a reward model to its pairwise
    panel, ``eval_pass@k`` of sampled evaluations and ``eval_accuracy/<member>`` / ``accuracy/<member>`` of an
    environment mixture to theirs)."""
    rows_of = []
    for d in run_dirs:
        run = RunDir(d)
        rows = run.rows()
        if not rows:
            raise AssayError(f"no metrics in {run.metrics_path}; is {d} a run directory of `assay train`, "
                             "`assay train-rm` or `assay pretrain-tiny`?")
        rows_of.append(rows)
    out: dict[str, list[tuple[str, list[int], list[float]]]] = {}
    labels = run_labels(run_dirs)
    for key, _ in PANELS:
        lines = []
        for label, rows in zip(labels, rows_of):
            names = [(key, label if len(run_dirs) > 1 else "all")]
            for prefix in BREAKDOWNS.get(key, ()) if len(run_dirs) == 1 else ():
                shown = "eval_" if prefix == "eval_pass@" else prefix  # lines read pass@4, arith, far
                keys = sorted({k for r in rows for k in r if k.startswith(prefix)}, key=_natural)
                names += [(c, c.removeprefix(shown)) for c in keys]
            for name, line_label in names:
                pts = [(r["step"], r[name]) for r in rows if name in r]
                if pts:
                    lines.append((line_label, [p[0] for p in pts], [p[1] for p in pts]))
        if lines and not (key in ZERO_WHEN_OFF and all(v == 0 for _, _, values in lines for v in values)):
            out[key] = lines
    if not out:
        files = ", ".join(str(RunDir(d).metrics_path) for d in run_dirs)
        raise AssayError(f"{files} has none of the metrics assay plots ({', '.join(k for k, _ in PANELS)})")
    return out


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path | None = None, smooth: int = 1) -> Path:
    """Write the learning curves of one run (default ``RUN_DIR/learning_curves.png``) or several
    overlaid (default ``comparison.png`` here); ``smooth`` > 1 draws a trailing mean over that many
    points over the faint raw line. Returns the path."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    if not run_dirs:
        raise AssayError("name at least one run directory")
    if smooth < 1:
        raise AssayError(f"--smooth must be >= 1 (1: no smoothing), got {smooth}")
    data = curves(run_dirs)
    titles = dict(PANELS)
    cols = min(3, len(data))
    nrows = (len(data) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = run_labels(run_dirs)
    for ax, (key, lines) in zip(axes.flat, data.items()):
        for i, (label, steps, values) in enumerate(lines):
            color = colors[(labels.index(label) if label in labels else i) % len(colors)]
            main_line = label in labels or label == "all"
            if smooth > 1 and len(values) > smooth:
                ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
                values = moving_mean(values, smooth)
            ax.plot(steps, values, color=color, marker="o" if len(steps) < 30 else None,
                    linewidth=1.5 if main_line else 1.0, label=label)
        if len(lines) > 1:
            ax.legend(fontsize=8)
        ax.set_title(titles[key])
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if "accuracy" in key:
            ax.set_ylim(-0.02, 1.02)
    for ax in list(axes.flat)[len(data):]:
        ax.axis("off")
    fig.suptitle(" vs ".join(labels) if len(labels) <= 3 else f"{len(labels)} runs")
    fig.tight_layout()
    out = Path(out) if out else (Path(run_dirs[0]) / "learning_curves.png" if len(run_dirs) == 1 else Path("comparison.png"))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_run(run_dir: str | Path, out: str | Path | None = None, smooth: int = 1) -> Path:
    """Write one run's ``learning_curves.png`` (one panel per metric present) and return its path."""
    return plot_runs([run_dir], out, smooth)
