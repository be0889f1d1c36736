"""Reward-model training on the tiny model (hidden 32, a few steps): the loss reads labels at
exactly the positions the scorers read, it learns, and the checkpoints are standard Hugging Face
directories that the scorers load back with identical scores."""

import json

import pytest
import torch

from assay.protocols import Prefix, Step
from assay.trainer import rm_data
from assay.trainer.reward_model import RMConfig, _encode, _head_at, _sequence_logp, train_reward_model
from assay.trainer.rm_data import OutcomeExample, PreferencePair, StepExample
from assay.trainer.tiny import build_model, build_tokenizer
from assay.types import Task
from assay.verifiers.learned.implicit import ImplicitPRM
from assay.verifiers.learned.loading import load_reward_model, reward_model_kind
from assay.verifiers.learned.orm import ValueHeadORM
from assay.verifiers.learned.prm import ValueHeadPRM

SMALL = dict(tiny_hidden=32, batch_size=8, lr=3e-3, data="(in memory)")


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_training_reads_the_head_where_the_scorers_do(tok):
    """The PRM loss's logits at step ends == ValueHeadPRM.logits; the ORM's == ValueHeadORM.rewards."""
    torch.manual_seed(0)
    model = build_model(len(tok), hidden_size=32, layers=2, heads=2).eval()
    head = torch.nn.Linear(32, 1)
    t = Task("t", "3 + 4 =")
    steps = [("Step 1: 7\n", "\\boxed{7}"), ("x\n",)]
    rows = [_encode(tok, t, s) for s in steps]
    with torch.no_grad():
        got = _head_at(model, tok, head, rows, last_only=False).tolist()
        last = _head_at(model, tok, head, rows, last_only=True).tolist()
    want = ValueHeadPRM(model, tok, head).logits([Prefix(t, tuple(Step(x) for x in s)) for s in steps])
    assert got == pytest.approx([x for row in want for x in row], abs=1e-5)
    assert last == pytest.approx(ValueHeadORM(model, tok, head).rewards([t, t], ["Step 1: 7\n\\boxed{7}", "x\n"]), abs=1e-5)


def test_implicit_training_logits_match_the_implicit_prm_scores(tok):
    """beta * (sum log pi - sum log pi_ref) over the response == the sum of ImplicitPRM's step scores."""
    model = build_model(len(tok), hidden_size=32, layers=2, heads=2, seed=1).eval()
    ref = build_model(len(tok), hidden_size=32, layers=2, heads=2, seed=2).eval()
    t = Task("t", "3 + 4 =")
    steps = ("Step 1: 7\n", "\\boxed{7}")
    rows = [_encode(tok, t, steps)]
    with torch.no_grad():
        got = 0.05 * float(_sequence_logp(model, tok, rows)[0] - _sequence_logp(ref, tok, rows)[0])
    scores = ImplicitPRM(model, ref, tok, beta=0.05, use_step_ids=False).score([Prefix(t, tuple(Step(s) for s in steps))])
    assert got == pytest.approx(sum(scores[0]), abs=1e-5)


def test_orm_learns_a_preference_and_round_trips(tmp_path):
    """Chosen '\\boxed{N}' vs rejected bare 'N': a fixed cue the tiny model learns in a few steps."""
    pairs = [PreferencePair(Task(f"t{i}", f"{i} + 1 ="), f"\\boxed{{{i + 1}}}", f"{i + 1}", "format") for i in range(16)]
    cfg = RMConfig(kind="orm", out=str(tmp_path / "orm"), steps=12, seed=0, **SMALL)
    out, history = train_reward_model(cfg, pairs, pairs, log=lambda _: None, progress=False)
    assert history[-1]["pairwise_accuracy"] == 1.0 and history[-1]["loss"] < history[1]["loss"]
    assert reward_model_kind(out) == "orm" and (out / "value_head.safetensors").exists() and (out / "config.json").exists()
    loaded = load_reward_model(out)
    assert isinstance(loaded, ValueHeadORM)
    chosen = loaded.rewards([p.task for p in pairs], [p.chosen for p in pairs])
    rejected = loaded.rewards([p.task for p in pairs], [p.rejected for p in pairs])
    assert all(c > r for c, r in zip(chosen, rejected))


def test_prm_checkpoint_loads_with_value_head_prm(tmp_path):
    examples = [StepExample(Task(f"t{i}", "q"), ("Step 1: 1\n", "Step 2: x\n"), (1.0, 0.0)) for i in range(8)]
    cfg = RMConfig(kind="prm", out=str(tmp_path / "prm"), steps=15, seed=0, **SMALL)
    out, history = train_reward_model(cfg, examples, examples, log=lambda _: None, progress=False)
    assert history[-1]["step_accuracy"] == 1.0
    prm = ValueHeadPRM.from_pretrained(out)
    [[good, bad]] = prm.score([Prefix(Task("new", "q"), (Step("Step 1: 1\n"), Step("Step 2: x\n")))])
    assert good > 0.5 > bad


def test_implicit_prm_trains_and_loads(tmp_path):
    examples = [OutcomeExample(Task(f"t{i}", "q"), ("\\boxed{1}",), 1.0) for i in range(4)] + \
               [OutcomeExample(Task(f"u{i}", "q"), ("\\boxed{2}",), 0.0) for i in range(4)]
    cfg = RMConfig(kind="implicit", out=str(tmp_path / "ip"), steps=10, seed=0, **SMALL)
    out, history = train_reward_model(cfg, examples, examples, log=lambda _: None, progress=False)
    assert history[-1]["outcome_accuracy"] == 1.0
    prm = load_reward_model(out, use_step_ids=False)
    assert isinstance(prm, ImplicitPRM) and prm.beta == 0.05
    [[right], [wrong]] = prm.score([Prefix(Task("a", "q"), (Step("\\boxed{1}"),)), Prefix(Task("b", "q"), (Step("\\boxed{2}"),))])
    assert right > 0 > wrong


def test_config_errors_say_the_fix():
    from assay.config import ConfigError

    with pytest.raises(ConfigError, match="data is required"):
        RMConfig(kind="orm")
    with pytest.raises(ConfigError, match="kind must be one of"):
        RMConfig(kind="dpo", data="x")
    with pytest.raises(ConfigError, match="lr_schedule must be one of constant, linear, cosine, wsd"):
        RMConfig(data="x", lr_schedule="step")


def test_lr_schedule_sets_the_learning_rate_of_every_step(tmp_path, monkeypatch):
    """constant keeps the peak after warm-up; linear ends at 10% of it."""
    pairs = rm_data.arithmetic_preferences(8, seed=0)
    lrs: list[float] = []
    real_step = torch.optim.AdamW.step

    def spy(self, *a, **k):
        lrs.append(self.param_groups[0]["lr"])
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    seen = {}
    for schedule in ("constant", "linear"):
        lrs.clear()
        cfg = RMConfig(kind="orm", data="(given)", out=str(tmp_path / schedule), steps=12, batch_size=2, lr=1e-3,
                       tiny_hidden=16, lr_schedule=schedule)
        train_reward_model(cfg, pairs, log=lambda _: None, progress=False)
        seen[schedule] = list(lrs)
    assert seen["constant"][-1] == pytest.approx(1e-3) and seen["constant"][10] == pytest.approx(1e-3)
    assert seen["linear"][-1] == pytest.approx(1e-4)


def test_cli_train_then_eval(tmp_path, capsys):
    from assay.cli.main import main

    data = rm_data.write_jsonl(rm_data.preference_rows(rm_data.arithmetic_preferences(16, seed=0)), tmp_path / "p.jsonl")
    assert main(["train-rm", "--no-progress", "--kind", "orm", f"data={data}", f"out={tmp_path / 'orm'}", "steps=2",
                 "tiny_hidden=32", "batch_size=4"]) == 0
    assert main(["eval-rm", str(tmp_path / "orm"), "--data", str(data), "--json"]) == 0
    assert '"pairwise_accuracy"' in capsys.readouterr().out
    bon = rm_data.write_jsonl([{"prompt": "2 + 2 =", "answer": "4", "domain": "math",
                                "responses": ["\\boxed{4}", "\\boxed{5}"]}], tmp_path / "bon.jsonl")
    assert main(["eval-rm", str(tmp_path / "orm"), "--bon", str(bon)]) == 0
    out = capsys.readouterr().out
    assert "bon/pass@n" in out and "bon/mean@n             0.5000" in out
    assert main(["eval-rm", str(tmp_path / "orm")]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err


def test_eval_rm_of_several_orms_is_their_standardized_ensemble(tmp_path, capsys):
    """Two ORMs: eval-rm's figure equals ``pairwise_accuracy`` of ``EnsembleScorer.standardized``
    fitted on every evaluated response; a PRM among them is refused."""
    import json

    from assay.cli.main import main
    from assay.trainer.rm_eval import pairwise_accuracy
    from assay.verifiers.learned import EnsembleScorer
    from assay.verifiers.learned.orm import ValueHeadORM

    pairs = rm_data.arithmetic_preferences(16, seed=0)
    data = rm_data.write_jsonl(rm_data.preference_rows(pairs), tmp_path / "p.jsonl")
    dirs = []
    for seed in (0, 1):
        dirs.append(str(tmp_path / f"orm{seed}"))
        assert main(["train-rm", "--no-progress", "--kind", "orm", f"data={data}", f"out={dirs[-1]}", "steps=3",
                     "tiny_hidden=32", "batch_size=4", f"seed={seed}"]) == 0
    capsys.readouterr()
    assert main(["eval-rm", *dirs, "--data", str(data), "--ensemble", "min", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    pairs = rm_data.load_preferences(data)
    reference = [Prefix(p.task, (Step(r),)) for p in pairs for r in (p.chosen, p.rejected)]
    ensemble = EnsembleScorer.standardized([ValueHeadORM.from_pretrained(d) for d in dirs], reference, "min")
    assert got["ensemble"] == "min" and got["model"] == dirs
    assert got["pairwise_accuracy"] == pairwise_accuracy(ensemble, pairs)["pairwise_accuracy"]
    steps = [StepExample(Task("t", "q"), ("1\n", "a\n"), (1.0, 0.0))]
    prm, _ = train_reward_model(RMConfig(kind="prm", data="x", out=str(tmp_path / "prm"), tiny_hidden=32, steps=1), steps,
                                log=lambda _: None, progress=False)
    assert main(["eval-rm", dirs[0], str(prm), "--data", str(data)]) == 2
    assert "an ensemble needs reward models of one kind" in capsys.readouterr().err


def test_orm_lm_coef_adds_the_mean_next_token_loss_of_chosen_responses(tok):
    """loss(lm_coef=c) - loss(lm_coef=0) == c * (- sum log p(chosen response tokens) / their count)."""
    from assay.trainer.reward_model import _loss

    torch.manual_seed(0)
    model = build_model(len(tok), hidden_size=32, layers=2, heads=2).eval()
    head = torch.nn.Linear(32, 1)
    pairs = [PreferencePair(Task("a", "1 + 1 ="), "\\boxed{2}", "\\boxed{3}"), PreferencePair(Task("b", "2 + 2 ="), "4", "5")]
    cfg = RMConfig(kind="orm", data="x", lm_coef=0.5)
    with torch.no_grad():
        plain = float(_loss(RMConfig(kind="orm", data="x"), model, tok, head, None, pairs))
        with_lm = float(_loss(cfg, model, tok, head, None, pairs))
        rows = [_encode(tok, p.task, [p.chosen]) for p in pairs]
        nll = -float(_sequence_logp(model, tok, rows).sum()) / sum(len(i) - n for i, n, _ in rows)
    assert with_lm - plain == pytest.approx(0.5 * nll, rel=1e-5)


def test_weight_average_is_the_bias_corrected_moving_average():
    """decay 0.5 over weights 2 then 4: avg = (0.5*0.5*2 + 0.5*4) / (1 - 0.25) = 3.0 / 0.75 = 4 * (2/3) + 2 * (1/3)."""
    from assay.trainer.reward_model import WeightAverage

    p = torch.nn.Parameter(torch.tensor([0.0]))
    ema = WeightAverage([p], 0.5)
    assert ema.averaged()[0].item() == 0.0  # before any step: the live weights
    for value in (2.0, 4.0):
        with torch.no_grad():
            p.fill_(value)
        ema.update()
    assert ema.averaged()[0].item() == pytest.approx(10 / 3)
    with ema.swapped():
        assert p.item() == pytest.approx(10 / 3)
    assert p.item() == 4.0  # the live weights come back
    ema.copy_to_params()
    assert p.item() == pytest.approx(10 / 3)


def test_ema_training_saves_the_averaged_weights(tmp_path, monkeypatch):
    """With ema set, the saved model is the average of the weights after each step, not the last ones."""
    from assay.trainer import reward_model as rm

    pairs = rm_data.arithmetic_preferences(8, seed=0)
    seen: list = []
    real = rm.WeightAverage.update

    def spy(self):
        real(self)
        seen.append(self)

    monkeypatch.setattr(rm.WeightAverage, "update", spy)
    cfg = RMConfig(kind="orm", data="(given)", out=str(tmp_path / "ema"), steps=6, batch_size=2, lr=1e-2, tiny_hidden=16, ema=0.9)
    out, _ = train_reward_model(cfg, pairs, log=lambda _: None, progress=False)
    ema = seen[-1]
    assert ema.n == 6
    loaded = ValueHeadORM.from_pretrained(out)
    head_w = loaded.head.weight.detach()
    assert torch.allclose(head_w, ema.averaged()[-2].to(head_w.dtype), atol=1e-6)
    with pytest.raises(Exception, match="ema must be in"):
        RMConfig(data="x", ema=1.0)


def test_lora_trains_adapters_only_and_saves_a_plain_merged_checkpoint(tmp_path):
    """With lora_rank, the trunk's weights move only through the low-rank update (embeddings and
    norms stay as initialised), the saved directory has plain weights under the base model's names,
    and it scores exactly as the model did at the end of training."""
    from safetensors.torch import load_file

    pairs = [PreferencePair(Task(f"t{i}", f"{i} + 1 ="), f"\\boxed{{{i + 1}}}", f"{i + 1}", "format") for i in range(16)]
    base = build_model(len(build_tokenizer()), hidden_size=32, layers=2, heads=4, seed=0).state_dict()
    cfg = RMConfig(kind="orm", out=str(tmp_path / "lora"), steps=12, seed=0, lora_rank=4, **SMALL)
    out, history = train_reward_model(cfg, pairs, pairs, log=lambda _: None, progress=False)
    assert history[-1]["pairwise_accuracy"] == 1.0
    saved = load_file(out / "model.safetensors")
    assert not [k for k in saved if "lora" in k]
    for name, value in base.items():
        if name not in saved:  # the tied output head is saved once, as the embedding
            continue
        moved = not torch.equal(saved[name], value)
        is_linear = name.endswith("proj.weight")
        assert moved == is_linear, f"{name}: moved={moved}, a trunk linear layer: {is_linear}"
        if is_linear:  # a rank-4 update: W_saved - W_base has rank <= 4
            assert torch.linalg.matrix_rank(saved[name] - value).item() <= 4
    loaded = ValueHeadORM.from_pretrained(out)
    chosen = loaded.rewards([p.task for p in pairs], [p.chosen for p in pairs])
    rejected = loaded.rewards([p.task for p in pairs], [p.rejected for p in pairs])
    assert sum(c > r for c, r in zip(chosen, rejected)) / len(pairs) == history[-1]["pairwise_accuracy"]
    with pytest.raises(Exception, match="lora_rank and lora_alpha must be >= 0"):
        RMConfig(data="x", lora_rank=-1)


def test_keep_best_keeps_the_model_of_the_best_evaluation(tmp_path):
    """With LoRA and an EMA (the saved model is a merged copy of the averaged weights): out/best
    scores the held-out pairs exactly as its evaluation did, it is the earliest of the best
    evaluations, and keeping it leaves the training run and its final model unchanged."""
    from safetensors.torch import load_file

    from assay.errors import AssayError
    from assay.trainer.rm_eval import pairwise_accuracy

    train, held = rm_data.arithmetic_preferences(32, seed=0), rm_data.arithmetic_preferences(24, seed=1, held_out=True)
    settings = dict(kind="orm", data="(given)", steps=40, batch_size=4, lr=3e-2, tiny_hidden=32, lora_rank=4, ema=0.8, seed=1)
    out, history = train_reward_model(RMConfig(out=str(tmp_path / "kept"), keep_best=True, **settings), train, held,
                                      log=lambda _: None, progress=False)
    plain, plain_history = train_reward_model(RMConfig(out=str(tmp_path / "plain"), **settings), train, held,
                                              log=lambda _: None, progress=False)
    scores = [(r["step"], r["pairwise_accuracy"]) for r in history if r["step"] > 0]
    top = max(v for _, v in scores)
    first_top = next(s for s, v in scores if v == top)
    assert json.loads((out / "best" / "best.json").read_text()) == {"step": first_top, "metric": "pairwise_accuracy", "value": top}
    assert first_top != scores[-1][0] and top > scores[-1][1]  # these settings peak before the end: the check means something
    assert pairwise_accuracy(ValueHeadORM.from_pretrained(out / "best"), held)["pairwise_accuracy"] == top
    untimed = [[{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows] for rows in (history, plain_history)]
    assert untimed[0] == untimed[1]
    for name in ("model.safetensors", "value_head.safetensors"):
        a, b = load_file(out / name), load_file(plain / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    with pytest.raises(AssayError, match="keep_best needs held-out data"):
        train_reward_model(RMConfig(out=str(tmp_path / "none"), keep_best=True, **settings), train, log=lambda _: None)


def test_lora_targets_limits_the_adapters_to_the_named_layers(tmp_path):
    from safetensors.torch import load_file

    pairs = [PreferencePair(Task(f"t{i}", f"{i} + 1 ="), f"\\boxed{{{i + 1}}}", f"{i + 1}", "format") for i in range(8)]
    base = build_model(len(build_tokenizer()), hidden_size=32, layers=2, heads=4, seed=0).state_dict()
    cfg = RMConfig(kind="orm", out=str(tmp_path / "attn"), steps=4, seed=0, lora_rank=4,
                   lora_targets="q_proj, k_proj,v_proj,o_proj", **SMALL)
    out, _ = train_reward_model(cfg, pairs, log=lambda _: None, progress=False)
    saved = load_file(out / "model.safetensors")
    moved = {name.split(".")[-2] for name, value in base.items() if name in saved and not torch.equal(saved[name], value)}
    assert moved == {"q_proj", "k_proj", "v_proj", "o_proj"}
    with pytest.raises(Exception, match="lora_targets is empty"):
        RMConfig(data="x", lora_targets=" , ")
