"""``assay plot RUN_DIR``: learning curves from metrics.jsonl as PNG files."""

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
]


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``learning_curves.png`` (one panel per metric present) and return its path."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    run = RunDir(run_dir)
    rows = run.rows()
    if not rows:
        raise AssayError(f"no metrics in {run.metrics_path}; is {run_dir} a run directory of `assay train`?")
    panels = [(k, title) for k, title in PANELS if any(k in r for r in rows)]
    cols = min(3, len(panels))
    nrows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for ax, (key, title) in zip(axes.flat, panels):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 30 else None, linewidth=1.5)
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
