"""Policy evaluation (assay.trainer.evaluation): pass@k against hand-computed values, and a report
over scripted episodes whose outcomes the test sets row by row."""

from __future__ import annotations

import pytest

import assay
from assay.envs.mixture import MEMBER_KEY
from assay.protocols import Generation, SamplingParams
from assay.trainer.evaluation import EVAL_SEED_BASE, EvalReport, evaluate_policy, held_out_tasks, member_accuracy, pass_at_k
from assay.trainer.tiny import build_tokenizer
from assay.types import Task
from tests.trainer.echo_env import LengthEnv

assay.register("test-length-v0", "tests.trainer.echo_env:LengthEnv", override=True)


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2) / C(5,2)
    assert pass_at_k(5, 2, 4) == 1.0  # any 4 of 5 include a correct one
    assert pass_at_k(5, 0, 5) == 0.0 and pass_at_k(5, 5, 1) == 1.0
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(4, 1, 5)


class PatternGenerator:
    """Row i of the (single) call answers digits when ``passes[i]``, letters otherwise: LengthEnv
    passes an answer that is more than half digits."""

    def __init__(self, tokenizer, passes: list[bool]):
        self.tok, self.passes = tokenizer, passes

    def generate(self, prompts, params):
        assert len(prompts) == len(self.passes)
        out = []
        for ok in self.passes:
            ids = self.tok.encode("123" if ok else "abc", add_special_tokens=False)
            out.append(Generation(tuple(ids), tuple(-0.1 for _ in ids), self.tok.decode(ids), "eos"))
        return out


def test_the_report_counts_episodes_per_task():
    tok = build_tokenizer()
    tasks = held_out_tasks(LengthEnv(), 3)
    # 4 samples per task, rows grouped by task: 4 of 4, 1 of 4 and 0 of 4 pass
    passes = [True] * 4 + [False, True, False, False] + [False] * 4
    report, trajectories = evaluate_policy(PatternGenerator(tok, passes), tok, LengthEnv, tasks,
                                           SamplingParams(max_new_tokens=4, temperature=1.0), samples=4)
    assert [t.task_id for t in trajectories] == [t.id for t in tasks for _ in range(4)]
    assert report.tasks == 3 and report.samples == 4 and report.errors == 0
    assert report.accuracy == pytest.approx(5 / 12)
    assert report.pass_at == pytest.approx({1: (1 + 0.25 + 0) / 3, 2: (1 + 0.5 + 0) / 3, 4: 2 / 3})
    assert report.mean_reward == pytest.approx(5 / 12)  # LengthEnv: share of digits, 1 or 0 here
    assert report.mean_response_tokens == pytest.approx(sum(len(tok.encode(t, add_special_tokens=False)) for t in
                                                            ["123"] * 5 + ["abc"] * 7) / 12)


def test_a_mixtures_accuracy_is_broken_down_by_member():
    tasks = [Task(f"{m}:t{i}", "?", meta={MEMBER_KEY: m}) for i, m in enumerate(["a", "b", "a"])]
    # 2 samples per task, in task order: a 2 of 2, b 0 of 2, a 1 of 2
    assert member_accuracy(tasks, [True, True, False, False, True, False], 2) == {"a": 0.75, "b": 0.0}
    assert member_accuracy([Task("t", "?")], [True], 1) == {}  # not a mixture: no breakdown
    report = EvalReport(3, 2, 0.5, {1: 0.5}, 0.5, 3.0, 0, by_member={"a": 0.75, "b": 0.0})
    assert ("accuracy (a)", "0.7500") in report.rows() and ("accuracy (b)", "0.0000") in report.rows()


def test_held_out_tasks_are_the_trainers_seeds():
    env = assay.make("assay/arithmetic-v0", difficulty=2)
    tasks = held_out_tasks(env, 3)
    assert [t.id for t in tasks] == [env.reset(seed=EVAL_SEED_BASE + i)[1]["task"].id for i in range(3)]
    assert len({t.id for t in tasks}) == 3
