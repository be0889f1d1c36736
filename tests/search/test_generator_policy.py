import pytest

from assay.chat import chat_ids
from assay.protocols import Generation, Prefix, SamplingParams, Step
from assay.search.generator_policy import GeneratorPolicy
from assay.chat import task_messages
from assay.trainer.tiny import build_model, build_tokenizer
from tests.search.helpers import task


class Recording:
    """A Generator that writes 'S','t','e','p',' ','1','\\n' one character id at a time (the tiny
    tokenizer would encode that text as the merged 'Step' token: a re-tokenizer gets caught),
    then the answer line with an end of sequence."""

    def __init__(self, tokenizer):
        self.tok, self.contexts, self.params = tokenizer, [], []

    def generate(self, prompts, params):
        self.params.append(params)
        out = []
        for p in prompts:
            self.contexts.append(list(p))
            if len(self.contexts) % 2:
                ids = [self.tok.convert_tokens_to_ids(c) for c in "Step 1\n"]
                out.append(Generation(tuple(ids), (-0.1,) * len(ids), "Step 1\n", "stop"))
            else:
                ids = [self.tok.convert_tokens_to_ids(c) for c in "\\boxed{7}"] + [self.tok.eos_token_id]
                out.append(Generation(tuple(ids), (-0.2,) * len(ids), "\\boxed{7}", "eos"))
        return out


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def test_contexts_are_the_prompt_ids_plus_the_generated_ids_never_retokenized(tokenizer):
    gen = Recording(tokenizer)
    policy = GeneratorPolicy(gen, tokenizer, SamplingParams(max_new_tokens=8, seed=3))
    [[first]] = policy.propose([Prefix(task())], 1)
    assert not first.terminal and first.text == "Step 1\n"
    assert tokenizer.encode("Step 1\n", add_special_tokens=False) != list(first.token_ids)  # the merge
    [[second]] = policy.propose([Prefix(task(), (first,))], 1)
    assert second.terminal and second.logprob == pytest.approx(-0.2 * len(second.token_ids))
    prompt = chat_ids(tokenizer, task_messages(task()))
    assert gen.contexts[1] == prompt + list(first.token_ids)
    assert all("\n" in p.stop for p in gen.params) and gen.params[0].seed != gen.params[1].seed


def test_complete_writes_step_by_step_in_one_call_per_step_and_stops_at_max_steps(tokenizer):
    gen = Recording(tokenizer)
    policy = GeneratorPolicy(gen, tokenizer)
    [steps] = policy.complete([Prefix(task())])
    assert [s.text for s in steps] == ["Step 1\n", "\\boxed{7}"] and steps[-1].terminal
    assert len(steps[0].token_logprobs) == len(steps[0].token_ids)
    [cut] = GeneratorPolicy(Recording(tokenizer), tokenizer).complete([Prefix(task())], max_steps=1)
    assert len(cut) == 1 and not cut[0].terminal
    [capped] = GeneratorPolicy(Recording(tokenizer), tokenizer, max_steps=1).complete([Prefix(task())])
    assert len(capped) == 1 and capped[0].terminal  # the step that reaches max_steps ends the solution


def test_steps_without_token_ids_are_refused(tokenizer):
    policy = GeneratorPolicy(Recording(tokenizer), tokenizer)
    with pytest.raises(ValueError, match="token ids"):
        policy.propose([Prefix(task(), (Step("written elsewhere\n"),))], 1)


def test_a_real_transformers_generator_drives_search(tokenizer):
    from assay.search import Budget, MajorityVote
    from assay.trainer.generators.hf import HFGenerator

    model = build_model(len(tokenizer), hidden_size=32, layers=2, heads=2, seed=0)
    policy = GeneratorPolicy(HFGenerator(model, tokenizer), tokenizer, SamplingParams(max_new_tokens=6, seed=0),
                             max_steps=3)
    results = MajorityVote(n=3).search([task(0), task(1)], policy, budget=Budget(steps=9))
    for r in results:
        assert len(r.explored) == 3
        for e in r.explored:
            assert 1 <= len(e.steps) <= 3 and all(s.token_ids for s in e.steps)
            assert e.done
