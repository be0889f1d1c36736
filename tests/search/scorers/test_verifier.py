from assay.protocols import Prefix, Step
from assay.search.scorers import VerifierScorer
from tests.search.helpers import math_verifier, task


def prefix(*texts, done=True):
    steps = tuple(Step(t, terminal=done and i == len(texts) - 1) for i, t in enumerate(texts))
    return Prefix(task(), steps)


def test_verifier_scorer_judges_only_finished_prefixes():
    scorer = VerifierScorer(math_verifier(), neutral=0.5)
    right, wrong, open_ = prefix("a\n", "\\boxed{7}"), prefix("a\n", "\\boxed{9}"), prefix("a\n", done=False)
    assert scorer.score([right, wrong, open_]) == [[0.5, 1.0], [0.5, 0.0], [0.5]]
