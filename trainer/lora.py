"""LoRA adapters (peft) for the trainers: ``assay train-rm`` and ``assay train`` with ``lora_rank``.

The adapters are injected into the model in place (``get_peft_model``), so the model keeps its
class and everything that reads it (hidden states, generation, the log-prob kernel) works as
without LoRA; the returned peft wrapper is kept only to merge. Whatever leaves the trainer as a
model directory (checkpoints, the final model, a generator server's weights) is a merged copy:
plain linear layers holding ``W + scale * B A``, a standard Hugging Face directory.
"""

from __future__ import annotations

import copy
import warnings

import torch


def lora_targets(spec: str) -> str | list[str]:
    """``all-linear`` or comma-separated module names (peft's ``target_modules``)."""
    return spec if spec == "all-linear" else [name.strip() for name in spec.split(",") if name.strip()]


def add_lora(model, rank: int, alpha: float = 0.0, targets: str = "all-linear"):
    """Adds rank-``rank`` adapters in place to the ``targets`` linear layers of the trunk (never the
    output head) and freezes everything else; returns the peft wrapper. ``alpha`` 0 means 2 * rank."""
    from peft import LoraConfig, get_peft_model

    # Gaussian A (std 1 / rank) rather than peft's default Kaiming-uniform: on the arithmetic
    # preferences the default start gave lower held-out accuracy (bench/results/reward_models.md).
    config = LoraConfig(r=rank, lora_alpha=alpha or 2 * rank, lora_dropout=0.0, target_modules=lora_targets(targets),
                        init_lora_weights="gaussian")
    if targets != "all-linear":  # peft's own error names no module the user could have meant
        paths = [name for name, module in model.named_modules()
                 if isinstance(module, torch.nn.Linear) and module is not model.get_output_embeddings()]
        linear = sorted({path.rsplit(".", 1)[-1] for path in paths})
        # peft's rule: a target is a module's path or a dotted suffix of it (q_proj, self_attn.q_proj)
        unknown = [t for t in lora_targets(targets) if not any(p == t or p.endswith("." + t) for p in paths)]
        if unknown:
            from assay.config import ConfigError

            raise ConfigError(f"lora_targets names {', '.join(unknown)}, which {type(model).__name__} has no linear "
                              f"layer called; its linear layers are: {', '.join(linear)} (or all-linear)")
    with warnings.catch_warnings():  # peft asks transformers a deprecated question; nothing for the user to do
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, config)


def merged_copy(model, adapted):
    """The model as it would be saved now, leaving the one in training untouched: with LoRA, a copy
    with the adapters merged in (merging in place and back would not restore the weights exactly)."""
    return model if adapted is None else copy.deepcopy(adapted).merge_and_unload()


class AdaptersOff:
    """The KL reference of a LoRA run: the policy with its adapters switched off, which is the model
    the run started from (the adapters are all that trains), without a second copy of the weights
    (as TRL does for peft models). It offers what ``response_logprobs`` reads of a model."""

    def __init__(self, model, adapted):
        self.model, self.adapted = model, adapted

    def base_model(self, *args, **kwargs):
        with self.adapted.disable_adapter():
            return self.model.base_model(*args, **kwargs)

    def get_output_embeddings(self):
        return self.model.get_output_embeddings()  # never adapted (add_lora leaves the head out)


def trainable_state(model) -> dict:
    """The tensors a LoRA run trains (the adapters), by name: what its checkpoints must keep to
    resume exactly; the frozen base comes back from the starting model."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model, state: dict) -> None:
    live = dict(model.named_parameters())
    missing = [name for name in state if name not in live]
    if missing:
        raise ValueError(f"the checkpoint's adapters do not fit the model (no {missing[:3]}...)")
    for name, value in state.items():
        live[name].data.copy_(value)
