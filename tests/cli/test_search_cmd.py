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
    out = run("search", "tests.trainer.echo_env_registered:plain-reverse-v0")
    assert out.returncode == 2 and "has none (a plain Gymnasium env" in out.stderr, out.stderr


def test_search_with_a_model_policy_and_a_value_head_prm_from_disk(tmp_path):
    import torch

    from assay.trainer.tiny import build_model, build_tokenizer
    from assay.verifiers.learned.prm import ValueHeadPRM

    tok = build_tokenizer()
    prm_dir = ValueHeadPRM(build_model(len(tok), hidden_size=32, layers=2, heads=2), tok,
                           torch.nn.Linear(32, 1)).save_pretrained(tmp_path / "prm")
    out = run("search", "assay/arithmetic-v0", "--policy", "tiny", "--scorer", f"prm:{prm_dir}",
              "--strategy", "best_of_n", "-o", "n=2", "--budget", "4", "--tasks", "2", "--max-new-tokens", "4",
              "--output", str(tmp_path / "r.jsonl"), timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["cost"]["scorer_calls"] >= 1 and r["cost"]["steps"] == 2 for r in rows)


def test_a_chunked_search_resumes_to_the_results_of_one_never_stopped(tmp_path):
    """--chunk 4 writes each chunk's rows as it ends. Cut the file as a kill in the second chunk's
    write would (a complete row of it, then half a row): --resume keeps the first chunk, searches
    the rest, and ends with exactly the rows of the uninterrupted run."""
    common = ["search", "assay/modchain-v0", "--strategy", "beam", "-o", "n=4", "-o", "beam_width=2", "--budget", "24",
              "--tasks", "10", "--chunk", "4", "--no-progress"]
    whole, cut = tmp_path / "whole.jsonl", tmp_path / "cut.jsonl"
    assert run(*common, "--output", str(whole), timeout=180).returncode == 0
    lines = whole.read_text().splitlines()
    assert len(lines) == 10 and len({json.loads(line)["task_id"] for line in lines}) == 10
    first = run(*common, "--output", str(cut), timeout=180)
    assert first.returncode == 0 and cut.read_text() == whole.read_text()  # the same seeds: the same search
    cut.write_text("\n".join(lines[:5]) + "\n" + lines[5][:20])
    out = run(*common, "--output", str(cut), "--resume", timeout=180)
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stdout and "4 of 10 tasks already searched" in out.stdout
    assert cut.read_text() == whole.read_text()
    accuracy = sum(json.loads(line)["passed"] for line in lines) / 10
    assert f"{accuracy:.3f}" in out.stdout  # the report covers the kept rows too
    other = run(*common[:-3], "--chunk", "5", "--no-progress", "--output", str(cut), "--resume", timeout=180)
    assert other.returncode == 2 and "other settings (chunk 4 -> 5)" in other.stderr
