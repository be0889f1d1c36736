"""`assay search` as a user runs it, on the toy policy and the modchain environment."""

import json

from tests.cli.test_cli import run


def test_search_reports_accuracy_and_cost_and_writes_results(tmp_path):
    out_file = tmp_path / "results.jsonl"
    out = run("search", "assay/modchain-v0", "--strategy", "beam", "-o", "n=8", "-o", "beam_width=2",
              "--budget", "steps=60", "--tasks", "12", "--output", str(out_file), timeout=180)
    assert out.returncode == 0, out.stderr
    assert "accuracy" in out.stdout and "steps per task" in out.stdout
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(rows) == 12 and all(r["cost"]["steps"] <= 60 for r in rows)
    accuracy = sum(r["passed"] for r in rows) / 12
    assert f"{accuracy:.3f}" in out.stdout


def test_search_errors_name_the_fix():
    out = run("search", "assay/modchain-v0", "--strategy", "mcts", "-o", "n=4")
    assert out.returncode == 2 and "mcts has no option 'n'" in out.stderr
    out = run("search", "assay/arithmetic-v0", "--policy", "toy")
    assert out.returncode == 2 and "modchain" in out.stderr
    out = run("search", "assay/modchain-v0", "--scorer", "oracle")
    assert out.returncode == 2 and "unknown scorer" in out.stderr
    out = run("search", "assay/modchain-v0", "--budget", "lots")
    assert out.returncode == 2 and "steps=64" in out.stderr
