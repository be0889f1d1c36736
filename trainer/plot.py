"""``assay plot RUN_DIR``: learning curves from metrics.jsonl as PNG files, for the run directories of
``assay train`` (GRPO family) and ``assay train-rm`` (reward models)."""

from __future__ import annotations

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


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``learning_curves.png`` (one panel per metric present) and return its path."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    run = RunDir(run_dir)
    rows = run.rows()
    if not rows:
        raise AssayError(f"no metrics in {run.metrics_path}; is {run_dir} a run directory of `assay train` or `assay train-rm`?")
    panels = [(k, title) for k, title in PANELS if any(k in r for r in rows)]
    if not panels:
        raise AssayError(f"{run.metrics_path} has none of the metrics assay plots ({', '.join(k for k, _ in PANELS)})")
    categories = sorted({k for r in rows for k in r if k.startswith(CATEGORY_PREFIX)})
    cols = min(3, len(panels))
    nrows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for ax, (key, title) in zip(axes.flat, panels):
        lines = [(key, "all")] + ([(c, c.removeprefix(CATEGORY_PREFIX)) for c in categories] if key == "pairwise_accuracy" else [])
        for name, label in lines:
            pts = [(r["step"], r[name]) for r in rows if name in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 30 else None,
                    linewidth=1.5 if name == key else 1.0, label=label)
        if len(lines) > 1:
            ax.legend(fontsize=8)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if "accuracy" in key:
            ax.set_ylim(-0.02, 1.02)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(str(Path(run_dir).name))
    fig.tight_layout()
    out = Path(out) if out else Path(run_dir) / "learning_curves.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
