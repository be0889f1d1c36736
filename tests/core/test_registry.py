"""The env registry: Gymnasium underneath, the assay/ namespace, did-you-mean, worker processes."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import gymnasium
import pytest

import assay
from assay.errors import AssayError, UnknownNameError

TOY = "tests.core.toy_env:ToyEnv"


def test_builtins_are_listed_and_namespaced():
    ids = assay.list_envs()
    assert {"assay/math-v0", "assay/arithmetic-v0", "assay/modchain-v0"} <= set(ids)
    assert all(i.startswith("assay/") for i in ids)


def test_unknown_id_suggests_the_closest():
    with pytest.raises(UnknownNameError) as e:
        assay.make("assay/mth-v0")
    assert "Did you mean 'assay/math-v0'" in str(e.value)
    with pytest.raises(UnknownNameError, match="math-v0"):
        assay.make("maths")


def test_an_argument_the_env_does_not_take_is_a_clear_error():
    with pytest.raises(AssayError, match=r"assay/math-v0 takes no argument 'difficulty_level' .*pydoc assay.envs.math_env"):
        assay.make("assay/math-v0", difficulty_level=2)


def test_register_qualifies_and_gymnasium_make_works():
    full = assay.register("toy-reg-v0", TOY, target=3)
    assert full == "assay/toy-reg-v0" and full in assay.list_envs()
    env = gymnasium.make("assay/toy-reg-v0", disable_env_checker=True)
    obs, _ = env.reset(seed=0)
    assert obs == "say 3"
    assert assay.make("toy-reg-v0", target=9).reset()[0] == "say 9"  # make kwargs override defaults


def test_register_refuses_silent_override_and_bad_entry_points():
    assay.register("toy-dup-v0", TOY, target=1)
    assay.register("toy-dup-v0", TOY, target=1)  # identical: no-op
    with pytest.raises(AssayError, match="already registered"):
        assay.register("toy-dup-v0", TOY, target=2)
    assay.register("toy-dup-v0", TOY, target=2, override=True)
    assert assay.spec("toy-dup-v0").kwargs == {"target": 2}
    with pytest.raises(AssayError, match="module:ClassName"):
        assay.register("toy-bad-v0", "tests.core.toy_env.ToyEnv")
    with pytest.raises(AssayError, match="namespace"):
        assay.register("other/toy-v0", TOY)


def _make_in_worker(spec_bytes: bytes, queue) -> None:
    import assay as worker_assay

    try:
        env = worker_assay.make(pickle.loads(spec_bytes))
        obs, _ = env.reset(seed=0)
        builtin = worker_assay.make("assay/arithmetic-v0").reset(seed=0)[0]
        queue.put(("ok", obs, builtin))
    except Exception as e:  # report instead of hanging the parent
        queue.put(("error", repr(e), ""))


def test_entry_point_spec_works_in_a_fresh_spawned_process():
    """A spec registered by entry-point string pickles into a *spawned* worker (no inherited
    registry) and builds there; built-in ids resolve there through the plugin entry point."""
    assay.register("toy-worker-v0", TOY, target=5)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_make_in_worker, args=(pickle.dumps(assay.spec("toy-worker-v0")), queue))
    proc.start()
    status, obs, builtin = queue.get(timeout=120)
    proc.join(timeout=30)
    assert status == "ok", obs
    assert obs == "say 5"
    parent = assay.make("assay/arithmetic-v0").reset(seed=0)[0]
    assert builtin == parent, "same seed must give the same task in another process"


def test_gymnasium_make_works_right_after_import_assay():
    import subprocess
    import sys

    code = "import assay, gymnasium\nenv = gymnasium.make('assay/math-v0', disable_env_checker=True)\nprint(env.reset(seed=0)[1]['task'].id)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip(), out.stderr
