from assay import verifiers
from assay.search.answers import final_answer, group_answers, verifier_equivalence, vote
from assay.types import Task


def test_final_answer_reads_the_last_box():
    t = Task(id="a", prompt="", answer="3")
    assert final_answer(t, "Step 1: 2\nso \\boxed{3}") == "3"
    assert final_answer(t, "no answer here at all") is None


def test_groups_merge_identical_strings_and_skip_missing_answers():
    assert group_answers(["4", None, "5", "4"]) == [[0, 3], [2]]


def test_majority_and_weighted_votes():
    answers = ["A", "B", "B", None]
    assert answers[vote(answers)] == "B"  # 2 votes to 1
    assert answers[vote(answers, [0.9, 0.3, 0.3, 5.0])] == "A"  # 0.9 > 0.6; None never wins
    assert vote([None, None]) is None
    # the representative of the winning group is its highest-weighted member
    assert vote(["B", "B"], [0.1, 0.7]) == 1


def test_verifier_equivalence_groups_equal_values_written_differently():
    same = verifier_equivalence(verifiers.get("math"), Task(id="q", prompt="", answer="0.5", domain="math"))
    groups = group_answers(["\\frac{1}{2}", "0.5", "2", "1/2"], same)
    assert sorted(map(sorted, groups)) == [[0, 1, 3], [2]]
