"""The Hugging Face scorers on assay's tiny Llama, built locally. References are computed the
plain way: the full model forward on the whole sequence, logits and all."""

import pytest
import torch

from assay.protocols import Prefix, Step
from assay.chat import task_messages
from assay.verifiers.learned.implicit import ImplicitPRM
from assay.verifiers.learned.prm import ValueHeadPRM
from assay.verifiers.learned.tokens import encode_prefix
from assay.trainer.tiny import build_model, build_tokenizer
from tests.search.helpers import task


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    return build_model(len(tokenizer), hidden_size=32, layers=2, heads=2, seed=0).eval()


def flat(scores):
    return [x for row in scores for x in row]


def prefixes(tokenizer):
    step = lambda text, done=False: Step(text, tuple(tokenizer.encode(text, add_special_tokens=False)), 0.0, done)  # noqa: E731
    return [Prefix(task(0), (step("Step 1: 4\n"), step("Step 2: 9\n"), step("\\boxed{9}", True))),
            Prefix(task(1), (step("x = 12\n"),)),
            Prefix(task(2), ())]


def test_encode_prefix_marks_each_steps_last_token(tokenizer):
    p = prefixes(tokenizer)[0]
    ids, prompt_len, ends = encode_prefix(tokenizer, p)
    pieces = [tokenizer.encode(s.text, add_special_tokens=False) for s in p.steps]
    assert ends == [prompt_len + len(pieces[0]) - 1, prompt_len + len(pieces[0]) + len(pieces[1]) - 1, len(ids) - 1]
    assert ids[prompt_len:] == sum(pieces, [])


def test_value_head_prm_scores_sigmoid_head_at_step_ends(tokenizer, model):
    torch.manual_seed(1)
    head = torch.nn.Linear(model.config.hidden_size, 1)
    prm = ValueHeadPRM(model, tokenizer, head, batch_size=2)
    ps = prefixes(tokenizer)
    got = prm.score(ps)
    assert [len(g) for g in got] == [3, 1, 0]
    for p, scores in zip(ps, got):
        ids, _, ends = encode_prefix(tokenizer, p)
        with torch.no_grad():
            hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0]
            expected = torch.sigmoid(head(hidden[ends])[:, 0]).tolist() if ends else []
        assert scores == pytest.approx(expected, abs=1e-5)
        assert all(0 < s < 1 for s in scores)


def test_value_head_prm_round_trips_and_reads_trl_checkpoints(tokenizer, model, tmp_path):
    from safetensors.torch import load_file, save_file

    head = torch.nn.Linear(model.config.hidden_size, 1)
    prm = ValueHeadPRM(model, tokenizer, head)
    ps = prefixes(tokenizer)
    prm.save_pretrained(tmp_path / "prm")
    want = flat(prm.score(ps))
    assert flat(ValueHeadPRM.from_pretrained(tmp_path / "prm").score(ps)) == pytest.approx(want, abs=1e-5)
    # TRL's AutoModelForCausalLMWithValueHead keeps the head as v_head.summary.* in the model file
    trl = tmp_path / "trl"
    prm.save_pretrained(trl)
    (trl / "value_head.safetensors").unlink()
    state = load_file(trl / "model.safetensors")
    state.update({"v_head.summary.weight": head.weight.detach().clone(), "v_head.summary.bias": head.bias.detach().clone()})
    save_file(state, trl / "model.safetensors", metadata={"format": "pt"})
    assert flat(ValueHeadPRM.from_pretrained(trl).score(ps)) == pytest.approx(want, abs=1e-5)


def test_value_head_prm_without_a_head_is_a_clear_error(tokenizer, model, tmp_path):
    from assay.errors import AssayError

    model.save_pretrained(tmp_path / "bare")
    tokenizer.save_pretrained(tmp_path / "bare")
    with pytest.raises(AssayError, match="no value head"):
        ValueHeadPRM.from_pretrained(tmp_path / "bare")
    with pytest.raises(ValueError, match="value head"):
        ValueHeadPRM(model, tokenizer, torch.nn.Linear(5, 1))


def test_implicit_prm_is_beta_times_the_log_ratio_summed_per_step(tokenizer, model):
    """q_t = beta (log pi(y_t) - log pi_ref(y_t)); a step scores sum_t q_t over its tokens."""
    ref = build_model(len(tokenizer), hidden_size=32, layers=2, heads=2, seed=7).eval()
    prm = ImplicitPRM(model, ref, tokenizer, beta=0.5, batch_size=2)
    ps = prefixes(tokenizer)
    got = prm.score(ps)
    for p, scores in zip(ps, got):
        ids, prompt_len, ends = encode_prefix(tokenizer, p, task_messages, use_step_ids=True)
        x = torch.tensor([ids])
        with torch.no_grad():
            lp = model(x).logits[0].log_softmax(-1)
            lp_ref = ref(x).logits[0].log_softmax(-1)
        q = [0.5 * float(lp[t - 1, ids[t]] - lp_ref[t - 1, ids[t]]) for t in range(prompt_len, len(ids))]
        bounds = [prompt_len] + [e + 1 for e in ends]
        expected = [sum(q[a - prompt_len:b - prompt_len]) for a, b in zip(bounds, bounds[1:])]
        assert scores == pytest.approx(expected, abs=1e-4)
    assert ImplicitPRM(model, model, tokenizer).score(ps[:1]) == [[0.0, 0.0, 0.0]]
