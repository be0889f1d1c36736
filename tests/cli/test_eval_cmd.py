"""`assay eval` as a user runs it: a run directory stands for its latest checkpoint under the
run's own settings, and reproduces the accuracy the run logged for it."""

from __future__ import annotations

import json
import re

import pytest

from assay.cli.eval_cmd import resolve
from assay.cli.main import main
from assay.errors import AssayError
from assay.trainer.config import GRPOConfig
from assay.trainer.grpo import GRPOTrainer
from assay.trainer.tiny import save_tiny


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    model = save_tiny(root / "tiny", hidden_size=32, layers=1, heads=2)
    cfg = GRPOConfig(model=str(model), run_dir=str(root / "run"), steps=2, save_every=1, eval_every=1, eval_size=6,
                     prompts_per_step=2, group_size=2, max_new_tokens=5, env_kwargs={"difficulty": 1}, seed=3,
                     keep_best=True)
    GRPOTrainer(cfg, progress=False).train()
    return root / "run"


def accuracy(out: str) -> float:
    return float(re.search(r"accuracy\s*│\s*([0-9.]+)", out).group(1))


def test_a_run_directory_is_evaluated_at_its_latest_checkpoint_with_its_settings(run_dir, capsys):
    assert main(["eval", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"settings from {run_dir / 'config.yaml'}" in out and "step_000002" in out and "6 held-out tasks" in out
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert accuracy(out) == [r["eval_accuracy"] for r in logged if "eval_accuracy" in r][-1]


def test_folders_inside_a_run_find_its_settings(run_dir, tmp_path):
    assert resolve(str(run_dir)) == (str(run_dir / "checkpoints" / "step_000002"), run_dir / "config.yaml")
    assert resolve(str(run_dir / "best")) == (str(run_dir / "best"), run_dir / "config.yaml")
    step = run_dir / "checkpoints" / "step_000001"
    assert resolve(str(step)) == (str(step), run_dir / "config.yaml")
    assert resolve("tiny") == ("tiny", None)
    (tmp_path / "config.yaml").write_text("steps: 1\n")
    with pytest.raises(AssayError, match="run directory without a checkpoint"):
        resolve(str(tmp_path))


def test_samples_and_output(run_dir, tmp_path, capsys):
    out_file = tmp_path / "episodes.jsonl"
    # an override among the options: argparse alone would refuse it there
    assert main(["eval", str(run_dir), "--samples", "2", "eval_size=3", "--temperature", "1.0", "--output", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "pass@2" in out and "temperature 1" in out and "wrote 6 trajectories" in out
    assert len(out_file.read_text().splitlines()) == 6
    assert main(["eval", str(run_dir), "--samples", "2", "--temperature", "0"]) == 2
    assert "repeats one episode" in capsys.readouterr().err
    assert main(["eval", str(run_dir.parent)]) == 2  # neither a model nor a run
    assert "has no config.json" in capsys.readouterr().err


def test_through_a_server_only_when_asked(run_dir, tmp_path, capsys):
    """generator_url=URL on the command line samples through that server (here `assay serve` of the
    same checkpoint: the same greedy tokens as in process); a generator_url in the run's config is
    not used, since that server may hold other weights than MODEL."""
    from assay.serialization import iter_jsonl
    from tests.trainer.test_openai_generator import serving

    checkpoint = run_dir / "checkpoints" / "step_000002"
    local, remote = tmp_path / "local.jsonl", tmp_path / "remote.jsonl"
    assert main(["eval", str(checkpoint), "--output", str(local)]) == 0
    with serving(checkpoint) as url:
        assert main(["eval", str(checkpoint), f"generator_url={url}", "--output", str(remote)]) == 0
    tokens = lambda path: [row["token_ids"] for _, row in iter_jsonl(path)]  # noqa: E731
    assert tokens(remote) == tokens(local) and len(tokens(local)) == 6
    config = re.sub(r"(?m)^generator_url:.*$", "generator_url: http://127.0.0.1:9/v1", (run_dir / "config.yaml").read_text())
    assert "127.0.0.1:9" in config  # nothing listens there
    (tmp_path / "run.yaml").write_text(config)
    capsys.readouterr()
    assert main(["eval", str(checkpoint), "--config", str(tmp_path / "run.yaml")]) == 0


def test_all_checkpoints_reproduce_the_accuracies_the_run_logged(run_dir, capsys):
    assert main(["eval", str(run_dir), "--all-checkpoints"]) == 0
    out = capsys.readouterr().out
    got = {m.group(1): float(m.group(2)) for m in re.finditer(r"│ (step_\d+|best)(?: \*)?\s*│\s*([0-9.]+)", out)}
    logged = {f"step_{r['step']:06d}": r["eval_accuracy"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
              if "eval_accuracy" in (r := json.loads(line)) and r["step"] > 0}
    assert {k: v for k, v in got.items() if k != "best"} == logged
    assert got["best"] == json.loads((run_dir / "best" / "best.json").read_text())["value"]
    assert main(["eval", str(run_dir / "best"), "--all-checkpoints"]) == 2
    assert "needs MODEL to be a run directory" in capsys.readouterr().err
