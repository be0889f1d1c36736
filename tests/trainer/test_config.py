"""GRPOConfig: YAML + overrides, algorithm presets, validation errors that name the fix."""

from __future__ import annotations

import dataclasses

import pytest

from assay.config import ConfigError, field_docs, load, parse_overrides, to_yaml
from assay.errors import UnknownNameError
from assay.trainer.config import GRPOConfig


def test_every_field_has_a_docstring():
    docs = field_docs(GRPOConfig)
    missing = [f.name for f in dataclasses.fields(GRPOConfig) if not docs.get(f.name)]
    assert not missing, f"fields without a docstring: {missing}"


@pytest.mark.parametrize("algorithm,agg,adv,high,dyn", [
    ("grpo", "seq-mean-token-mean", "grpo", 0.2, False),
    ("dr_grpo", "seq-mean-token-sum-norm", "dr_grpo", 0.2, False),
    ("dapo", "token-mean", "grpo", 0.28, True),
    ("rloo", "seq-mean-token-mean", "rloo", 0.2, False),
])
def test_algorithm_presets(algorithm, agg, adv, high, dyn):
    c = GRPOConfig(algorithm=algorithm)
    assert (c.loss_agg_mode, c.advantage_mode, c.clip_high, c.dynamic_sampling) == (agg, adv, high, dyn)
    assert (c.overlong_buffer > 0) == (algorithm == "dapo")


def test_explicit_values_beat_the_preset():
    assert GRPOConfig(algorithm="dapo", clip_high=0.3, dynamic_sampling=False).clip_high == 0.3
    assert GRPOConfig(algorithm="dapo", dynamic_sampling=False).dynamic_sampling is False


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("algorithm: dapo\nlr: 0.001\nenv_kwargs: {difficulty: 2}\nsteps: 5\n")
    c = load(GRPOConfig, path, ["lr=3e-4", "group_size=4", "env_kwargs={difficulty: 3}", "tis_cap=null"])
    assert (c.algorithm, c.lr, c.group_size, c.env_kwargs, c.steps, c.tis_cap) == ("dapo", 3e-4, 4, {"difficulty": 3}, 5, None)
    round_trip = tmp_path / "again.yaml"
    round_trip.write_text(to_yaml(c))
    assert load(GRPOConfig, round_trip) == c


@pytest.mark.parametrize("override,fragment", [
    ("group_size=1", "group_size must be >= 2"),
    ("clip_low=1.5", "clip_low must be in (0, 1)"),
    ("loss_agg_mode=mean", "loss_agg_mode must be one of"),
    ("algorithm=ppo", "algorithm must be one of"),
    ("kl_estimator=k9", "kl_estimator must be one of"),
    ("temperature=0", "greedy"),
    ("lr=fast", "lr: expected float"),
    ("steps=2.5", "steps: expected int"),
    ("keep_checkpoints=-1", "keep_checkpoints must be >= 0"),
    ("reward_ensemble=max", "reward_ensemble must be one of"),
    ("reward_model=[]", "non-empty list of directories"),
    ("generator_url=127.0.0.1:8000", "must be an http(s) URL"),
    ("env_kwargs=difficulty", "env_kwargs: expected a mapping, e.g. env_kwargs={difficulty: 2}"),
    ("generator_retries=-1", "generator_retries must be >= 0"),
])
def test_bad_values_name_the_fix(override, fragment):
    with pytest.raises(ConfigError) as e:
        load(GRPOConfig, overrides=[override])
    assert fragment in str(e.value)


def test_unknown_field_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="Did you mean 'group_size'"):
        load(GRPOConfig, overrides=["groupsize=4"])


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["lr"])
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_overrides(["env_kwargs={a: [1"])
    with pytest.raises(ConfigError, match="not found"):
        load(GRPOConfig, "/no/such.yaml")


def test_generator_url_refuses_other_places_to_sample():
    with pytest.raises(ConfigError, match="set one of them"):
        GRPOConfig(generator_url="http://127.0.0.1:8000/v1", backend="ray", ray_generators=1)
    with pytest.raises(ConfigError, match="set max_staleness=0"):
        GRPOConfig(generator_url="http://127.0.0.1:8000/v1", max_staleness=1)


def test_reward_model_list_round_trips_through_yaml(tmp_path):
    c = load(GRPOConfig, overrides=["reward_model=[runs/a, runs/b]", "reward_ensemble=min"])
    assert c.reward_model == ["runs/a", "runs/b"]
    path = tmp_path / "c.yaml"
    path.write_text(to_yaml(c))
    assert load(GRPOConfig, path) == c


def test_generator_choices_are_checked_up_front():
    with pytest.raises(ConfigError, match="generator must be one of"):
        GRPOConfig(generator="sglang")
    with pytest.raises(ConfigError, match="set max_staleness=0, or sample on ray_generators actors"):
        GRPOConfig(generator="vllm", max_staleness=1, tis_cap=2.0)
    with pytest.raises(ConfigError, match="generator_url samples on a server"):
        GRPOConfig(generator="vllm", generator_url="http://127.0.0.1:8000/v1")
    GRPOConfig(generator="vllm", backend="ray", ray_generators=2, max_staleness=1, tis_cap=2.0)  # actors load each version
