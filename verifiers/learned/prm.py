"""A step-level process reward model: a value head over any Hugging Face transformer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch

from assay.chat import MessagesFn, task_messages
from assay.errors import AssayError
from assay.protocols import Prefix
from assay.verifiers.learned.tokens import encode_prefix, final_hidden, pad_batch, pad_id

VALUE_HEAD_FILE = "value_head.safetensors"


class ValueHeadPRM:
    """p(step correct | prefix) = sigmoid(head(h)) at each step's last token, where ``h`` is the
    final hidden state of any Hugging Face transformer and ``head`` a ``Linear(D, 1)``.

    On disk: a model directory plus ``value_head.safetensors`` (``weight [1, D]``, ``bias [1]``);
    a TRL ``AutoModelForCausalLMWithValueHead`` checkpoint (``v_head.summary.*`` keys in the
    model's safetensors) loads too. ``assay.trainer``'s PRM training writes the first form.
    """

    def __init__(self, model, tokenizer, head: torch.nn.Linear, batch_size: int = 8,
                 messages: MessagesFn = task_messages, use_step_ids: bool = False):
        hidden = model.config.hidden_size
        if head.in_features != hidden or head.out_features != 1:
            raise ValueError(f"the value head maps {head.in_features} -> {head.out_features}; the model needs {hidden} -> 1")
        self.model, self.tokenizer, self.head = model.eval(), tokenizer, head.eval()
        self.batch_size, self.messages, self.use_step_ids = batch_size, messages, use_step_ids

    def score(self, prefixes: Sequence[Prefix]) -> list[list[float]]:
        return [[_sigmoid(x) for x in row] for row in self.logits(prefixes)]

    @torch.no_grad()
    def logits(self, prefixes: Sequence[Prefix]) -> list[list[float]]:
        """The head's raw output at each step's last token (``score`` is its sigmoid)."""
        out: list[list[float]] = []
        device = next(self.model.parameters()).device
        for start in range(0, len(prefixes), self.batch_size):
            chunk = [encode_prefix(self.tokenizer, p, self.messages, self.use_step_ids)
                     for p in prefixes[start:start + self.batch_size]]
            ids, mask = pad_batch([c[0] for c in chunk], pad_id(self.tokenizer), device)
            hidden = final_hidden(self.model, ids, mask)  # (B, L, D)
            for b, (_, _, ends) in enumerate(chunk):
                if not ends:
                    out.append([])
                    continue
                h = hidden[b, torch.tensor(ends, device=device)]  # (steps, D)
                out.append(self.head(h.to(self.head.weight.dtype))[:, 0].float().tolist())
        return out

    # -- checkpoints ------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: torch.dtype = torch.float32, **kwargs) -> ValueHeadPRM:
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").exists():
            raise AssayError(f"{path} is not a Hugging Face model directory (no config.json)")
        model = AutoModel.from_pretrained(path, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(path)
        head = torch.nn.Linear(model.config.hidden_size, 1)
        state = _find_head(path, load_file)
        if state is None:
            raise AssayError(f"{path} has no value head: expected {VALUE_HEAD_FILE} (weight, bias) or TRL's "
                             "v_head.summary.* keys in model.safetensors")
        head.load_state_dict(state)
        return cls(model, tokenizer, head, **kwargs)

    def save_pretrained(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        save_file({k: v.detach().contiguous().cpu() for k, v in self.head.state_dict().items()}, path / VALUE_HEAD_FILE)
        return path


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # never overflows for x < 0
    return e / (1.0 + e)


def _find_head(path: Path, load_file) -> dict | None:
    if (path / VALUE_HEAD_FILE).exists():
        return load_file(path / VALUE_HEAD_FILE)
    for file in sorted(path.glob("*.safetensors")):
        state = load_file(file)
        trl = {k.removeprefix("v_head.summary."): v for k, v in state.items() if k.startswith("v_head.summary.")}
        if trl:
            return trl
    return None
