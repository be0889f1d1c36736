"""GRPO with generator=vllm: rollouts and evaluations sampled by vLLM in this process, which holds
the policy's weights after every update (and a resumed run's from its first rollout)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from assay.protocols import SamplingParams
from assay.trainer.config import GRPOConfig
from assay.trainer.tiny import save_tiny


def config(model, run_dir, **kw) -> GRPOConfig:
    # a fresh model never answers right: the overlong penalty gives its groups rewards that differ
    settings = dict(generator="vllm", steps=3, prompts_per_step=4, group_size=4, max_new_tokens=6, overlong_buffer=5,
                    eval_every=3, eval_size=4, save_every=2, lr=1e-3, env_kwargs={"difficulty": 1})
    return GRPOConfig(model=str(model), run_dir=str(run_dir), **{**settings, **kw})


def engine_matches(trainer, checkpoint) -> None:
    """The engine's log-probs of its own samples are the checkpoint's, by a plain forward pass."""
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    prompt = trainer.tokenizer.apply_chat_template([{"role": "user", "content": "3 + 4 ="}],
                                                   add_generation_prompt=True)["input_ids"]
    out = trainer.generator.generate([prompt], SamplingParams(max_new_tokens=6, temperature=1.0, seed=1))[0]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + list(out.token_ids)])).logits[0, len(prompt) - 1 : -1].float()
    ref = logits.log_softmax(-1).gather(-1, torch.tensor(out.token_ids)[:, None]).squeeze(-1)
    torch.testing.assert_close(torch.tensor(out.logprobs), ref, rtol=1e-4, atol=1e-4)


def test_training_samples_with_vllm_holding_the_latest_weights(tmp_path):
    from assay.trainer.generators.vllm import VLLMGenerator
    from assay.trainer.grpo import GRPOTrainer

    model = save_tiny(tmp_path / "tiny", hidden_size=64, layers=1, heads=2)  # vLLM CPU attention: head_dim >= 32
    trainer = GRPOTrainer(config(model, tmp_path / "run"), progress=False)
    assert isinstance(trainer.generator, VLLMGenerator)
    rows = trainer.train()
    steps = [r for r in rows if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3] and all(r["rollout_tokens"] > 0 for r in steps)
    assert [r["step"] for r in rows if "eval_accuracy" in r] == [0, 3]
    final = tmp_path / "run" / "checkpoints" / "step_000003"
    start = AutoModelForCausalLM.from_pretrained(model).state_dict()
    moved = AutoModelForCausalLM.from_pretrained(final).state_dict()
    assert max((moved[k] - start[k]).abs().max().item() for k in start) > 1e-4  # it trained
    engine_matches(trainer, final)  # and vLLM was handed each update


def test_starting_the_engine_leaves_the_processs_random_state_alone(tmp_path):
    import random

    from assay.trainer.generators.vllm import VLLMGenerator
    from transformers import AutoTokenizer

    model = save_tiny(tmp_path / "tiny", hidden_size=64, layers=1, heads=2)
    torch.manual_seed(123)
    random.seed(5)
    expected = (torch.rand(3), random.random())
    torch.manual_seed(123)
    random.seed(5)
    VLLMGenerator(model, AutoTokenizer.from_pretrained(model), seed=0)
    assert torch.equal(torch.rand(3), expected[0]) and random.random() == expected[1]


def test_a_resumed_run_starts_its_engine_from_the_checkpoint(tmp_path):
    from assay.trainer.grpo import GRPOTrainer

    model = save_tiny(tmp_path / "tiny", hidden_size=64, layers=1, heads=2)  # vLLM CPU attention: head_dim >= 32
    GRPOTrainer(config(model, tmp_path / "run", steps=2), progress=False).train()
    resumed = GRPOTrainer(config(model, tmp_path / "run"), resume=True, progress=False)
    engine_matches(resumed, tmp_path / "run" / "checkpoints" / "step_000002")


def test_lora_runs_hand_vllm_the_merged_weights(tmp_path):
    from assay.trainer.grpo import GRPOTrainer

    model = save_tiny(tmp_path / "tiny", hidden_size=64, layers=1, heads=2)
    trainer = GRPOTrainer(config(model, tmp_path / "run", lora_rank=4, lr=1e-2), progress=False)
    trainer.train()
    engine_matches(trainer, tmp_path / "run" / "checkpoints" / "step_000003")


def test_assay_eval_samples_with_vllm_when_asked(tmp_path):
    import json
    import os
    import subprocess
    import sys

    model = save_tiny(tmp_path / "tiny", hidden_size=64, layers=1, heads=2)
    out = tmp_path / "episodes.jsonl"
    done = subprocess.run([sys.executable, "-m", "assay.cli.main", "eval", str(model), "generator=vllm", "eval_size=6",
                           "max_new_tokens=4", "env_kwargs={difficulty: 1}", "--output", str(out)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "VLLM_LOGGING_LEVEL": "INFO"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Resolved architecture" in done.stdout + done.stderr  # the engine's start-up log: vLLM sampled
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and all(r["token_ids"] and len(r["logprobs"]) == len(r["token_ids"]) for r in rows)


def test_assay_train_with_vllm_ends_cleanly(tmp_path):
    """The CLI leaves the process group it made, not the one vLLM set up for itself."""
    import subprocess
    import sys

    model = save_tiny(tmp_path / "tiny", hidden_size=64, layers=1, heads=2)
    done = subprocess.run([sys.executable, "-m", "assay.cli.main", "train", "--no-progress", f"model={model}",
                           f"run_dir={tmp_path / 'run'}", "generator=vllm", "precision=bf16", "steps=2",
                           "prompts_per_step=2", "group_size=2", "max_new_tokens=4", "eval_every=2", "eval_size=2",
                           "env_kwargs={difficulty: 1}"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "held-out accuracy:" in done.stdout
    # destroying vLLM's group at the end left its shutdown a traceback ("Invalid process group specified")
    assert "Traceback" not in done.stdout + done.stderr, (done.stdout + done.stderr)[-3000:]


RANK_SCRIPT = """
import sys, torch
from assay.trainer.distributed import finish, init_from_env
from assay.trainer.grpo import GRPOTrainer
from tests.vllm.test_vllm_training import config, engine_matches

model, run_dir, fsdp = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
init_from_env(always=fsdp)
trainer = GRPOTrainer(config(model, run_dir, steps=2, fsdp=fsdp), progress=False)
trainer.train()
torch.distributed.barrier()  # rank 0 has written the checkpoint
engine_matches(trainer, run_dir + "/checkpoints/step_000002")  # this rank's engine holds the final weights
trainer.close()
finish()
print("rank done", flush=True)
"""


@pytest.mark.parametrize("fsdp", [False, True])
def test_torchrun_ranks_each_sample_with_an_engine_holding_the_latest_weights(tmp_path, fsdp):
    """Under torchrun (and with fsdp) every rank runs its own engine inside the process group
    (vLLM's external_launcher) and is handed the gathered weights after every update."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    model = save_tiny(tmp_path / "tiny", hidden_size=64, layers=1, heads=2)
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(model), str(tmp_path / "run"), "1" if fsdp else "0"],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))})
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert done.stdout.count("rank done") == 2
    assert "Traceback" not in done.stdout + done.stderr
