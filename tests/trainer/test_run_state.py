"""The run directory's checkpoints (tagged ones kept aside, old ones pruned) and ``resume_point``,
the one rule by which every trainer starts in an existing run directory, and the best model kept
beside them (``BestModel``)."""

from __future__ import annotations

import json

import pytest

from assay.errors import AssayError
from assay.trainer.run_state import BestModel, RunDir, resume_point

MAY_CHANGE = ("out", "save_every")


def saved(run: RunDir, step: int, config: dict | None = None, **kw) -> None:
    run.save(step, None, None, {"step": step, "config": config or {"lr": 1.0, "out": "a"}}, **kw)


def names(run: RunDir) -> list[str]:
    return sorted(p.name for p in run.checkpoints.iterdir() if p.is_dir())


def test_keep_deletes_all_but_the_newest_regular_checkpoints(tmp_path):
    run = RunDir(tmp_path)
    for step in (5, 10, 15, 20):
        saved(run, step, keep=2)
    assert names(run) == ["step_000015", "step_000020"]
    assert run.latest().name == "step_000020"


def test_keep_zero_keeps_every_checkpoint(tmp_path):
    run = RunDir(tmp_path)
    for step in (1, 2, 3):
        saved(run, step)
    assert names(run) == ["step_000001", "step_000002", "step_000003"]


def test_steps_sort_as_numbers_when_pruning(tmp_path):
    """step_1000000 has more digits than the zero-padding: it is still the newest."""
    run = RunDir(tmp_path)
    saved(run, 999_999)
    saved(run, 1_000_000, keep=1)
    assert names(run) == ["step_1000000"]


def test_a_tagged_checkpoint_is_not_latest_and_replaces_nothing(tmp_path):
    run = RunDir(tmp_path)
    saved(run, 10)
    tagged = run.save(10, None, None, {"step": 10, "diverged": True}, tag="diverged")
    assert tagged.name == "step_000010-diverged"
    assert run.latest().name == "step_000010"
    assert "diverged" not in run.load_state(run.latest())


def test_pruning_never_touches_a_tagged_checkpoint(tmp_path):
    run = RunDir(tmp_path)
    saved(run, 1)
    run.save(1, None, None, {"step": 1}, tag="diverged")
    for step in (2, 3):
        saved(run, step, keep=1)
    assert names(run) == ["step_000001-diverged", "step_000003"]


def test_a_fresh_run_starts_in_an_empty_directory(tmp_path):
    assert resume_point(RunDir(tmp_path / "new"), {"lr": 1.0}, False, MAY_CHANGE, "out") == (None, None)


def test_a_fresh_run_refuses_a_directory_with_a_checkpoint(tmp_path):
    run = RunDir(tmp_path)
    saved(run, 4)
    with pytest.raises(AssayError, match="holds an earlier run \\(checkpoint step_000004\\): pass --resume") as e:
        resume_point(run, {"lr": 1.0, "out": "a"}, False, MAY_CHANGE, "out")
    assert "choose another out" in str(e.value)
    assert run.latest() is not None  # nothing deleted


def test_starting_over_replaces_the_rows_of_a_run_that_left_no_checkpoint(tmp_path):
    """Nothing of such a run can be continued; its rows would mix with the new run's."""
    for resume in (False, True):
        run = RunDir(tmp_path / str(resume))
        run.log({"step": 0, "eval_accuracy": 0.5})
        run.log_samples([{"step": 0, "split": "eval"}])
        assert resume_point(run, {"lr": 1.0}, resume, MAY_CHANGE, "out", log=lambda _: None) == (None, None)
        assert run.rows() == [] and run.sample_rows() == []


def test_truncating_drops_metric_and_sample_rows_after_the_checkpoint_step(tmp_path):
    run = RunDir(tmp_path)
    for step in range(4):
        run.log({"step": step})
        run.log_samples([{"step": step, "split": "train"}, {"step": step, "split": "eval"}])
    with run.samples_path.open("a") as f:
        f.write('{"step": 4, "spl')  # a line cut short by a kill
    assert run.truncate_metrics(1) == 2
    assert [r["step"] for r in run.rows()] == [0, 1]
    assert [r["step"] for r in run.sample_rows()] == [0, 0, 1, 1]


def test_resume_with_nothing_to_resume_starts_at_step_zero_and_says_so(tmp_path):
    said = []
    assert resume_point(RunDir(tmp_path), {"lr": 1.0}, True, MAY_CHANGE, "out", log=said.append) == (None, None)
    assert len(said) == 1 and "nothing to resume" in said[0] and "starting from step 0" in said[0]


def test_resume_returns_the_latest_checkpoint_and_its_state(tmp_path):
    run = RunDir(tmp_path)
    saved(run, 2)
    saved(run, 4)
    checkpoint, state = resume_point(run, {"lr": 1.0, "out": "b", "save_every": 3}, True, MAY_CHANGE, "out")
    assert checkpoint.name == "step_000004" and state["step"] == 4


def test_resume_refuses_other_settings_and_names_each(tmp_path):
    run = RunDir(tmp_path)
    saved(run, 2, {"lr": 1.0, "seed": 0, "out": "a"})
    with pytest.raises(AssayError, match=r"with other settings \(lr 1.0 -> 2.0, seed 0 -> 1\)"):
        resume_point(run, {"lr": 2.0, "seed": 1, "out": "a"}, True, MAY_CHANGE, "run_dir")


def offer(best: BestModel, step: int, value: float) -> bool:
    def save(folder):
        (folder / "model.txt").write_text(f"step {step}")

    return best.offer({"step": step, "acc": value}, save)


def kept(run: RunDir) -> tuple[dict, str]:
    return json.loads((run.best / "best.json").read_text()), (run.best / "model.txt").read_text()


def test_the_best_model_is_the_highest_evaluation_after_step_zero_and_the_earlier_on_a_tie(tmp_path):
    run = RunDir(tmp_path)
    best = BestModel(run, "acc")
    assert not offer(best, 0, 0.9) and not run.best.exists()  # the untrained model is never kept
    assert offer(best, 1, 0.5) and kept(run) == ({"step": 1, "metric": "acc", "value": 0.5}, "step 1")
    assert not offer(best, 2, 0.5)  # a tie keeps the earlier
    assert offer(best, 3, 0.7) and kept(run) == ({"step": 3, "metric": "acc", "value": 0.7}, "step 3")
    assert not offer(best, 4, 0.6) and kept(run)[1] == "step 3"
    assert not best.offer({"step": 5, "loss": 0.1}, lambda folder: None)  # a row without the metric
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]  # no temporary folder left behind
    assert BestModel.summary(run) == f"best: step 3, acc 0.7000 ({run.best})"
    assert BestModel.summary(RunDir(tmp_path / "empty")) is None


def test_a_resumed_run_compares_with_the_rows_it_logged(tmp_path):
    run = RunDir(tmp_path)
    for row in ({"step": 0, "acc": 0.95}, {"step": 10, "acc": 0.6}, {"step": 10, "loss": 1.0}, {"step": 20, "acc": 0.8}):
        run.log(row)
    best = BestModel(run, "acc")
    assert best.value == 0.8  # step 0 does not count
    assert not offer(best, 30, 0.8) and offer(best, 40, 0.81)


def test_starting_over_deletes_the_best_model_of_a_run_that_left_no_checkpoint(tmp_path):
    run = RunDir(tmp_path)
    offer(BestModel(run, "acc"), 1, 0.5)
    assert resume_point(run, {}, False, MAY_CHANGE, "out", log=lambda _: None) == (None, None)
    assert not run.best.exists()
