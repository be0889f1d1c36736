"""Scorers over Hugging Face models: a step-level PRM with a value head, and PRIME's implicit PRM.

Both see a prefix as the prompt's chat ids followed by each step's tokens, so every step's
boundary is an exact token position (steps are tokenized one by one, or taken as generated when
``use_step_ids`` and the steps carry ids from the same tokenizer: nothing is re-tokenized then).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from assay.chat import chat_ids
from assay.errors import AssayError
from assay.kernels import token_logprobs
from assay.protocols import Prefix
from assay.types import Task

VALUE_HEAD_FILE = "value_head.safetensors"
MessagesFn = Callable[[Task, tuple[str, ...]], list[dict]]


def task_messages(task: Task, hints: tuple[str, ...] = ()) -> list[dict]:
    """The chat messages a policy or scorer reads for ``task``, hints appended as guidance."""
    messages = ([{"role": "user", "content": task.prompt}] if isinstance(task.prompt, str)
                else [dict(m) for m in task.prompt])
    if hints:
        messages.append({"role": "user", "content": "\n\n".join(hints)})
    return messages


def encode_prefix(tokenizer, prefix: Prefix, messages: MessagesFn = task_messages,
                  use_step_ids: bool = False) -> tuple[list[int], int, list[int]]:
    """``(ids, prompt_len, step_ends)``: ``step_ends[j]`` is the position of step j's last token
    (the previous step's end, or the prompt's last token, when a step has no tokens)."""
    ids = chat_ids(tokenizer, messages(prefix.task, prefix.hints))
    prompt_len, ends = len(ids), []
    for step in prefix.steps:
        if use_step_ids and step.token_ids:
            ids += step.token_ids
        else:
            ids += tokenizer.encode(step.text, add_special_tokens=False)
        ends.append(len(ids) - 1)
    return ids, prompt_len, ends


def _batch(rows: list[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):  # right padding: positions are the same as unpadded
        ids[b, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[b, :len(r)] = 1
    return ids.to(device), mask.to(device)


def _hidden(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Final hidden states ``(B, L, D)`` (after the last norm), without the LM head's logits."""
    return model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)


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

    @torch.no_grad()
    def score(self, prefixes: Sequence[Prefix]) -> list[list[float]]:
        out: list[list[float]] = []
        device = next(self.model.parameters()).device
        for start in range(0, len(prefixes), self.batch_size):
            chunk = [encode_prefix(self.tokenizer, p, self.messages, self.use_step_ids)
                     for p in prefixes[start:start + self.batch_size]]
            ids, mask = _batch([c[0] for c in chunk], _pad_id(self.tokenizer), device)
            hidden = _hidden(self.model, ids, mask)  # (B, L, D)
            for b, (_, _, ends) in enumerate(chunk):
                if not ends:
                    out.append([])
                    continue
                h = hidden[b, torch.tensor(ends, device=device)]  # (steps, D)
                out.append(torch.sigmoid(self.head(h.to(self.head.weight.dtype))[:, 0]).float().tolist())
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


def _find_head(path: Path, load_file) -> dict | None:
    if (path / VALUE_HEAD_FILE).exists():
        return load_file(path / VALUE_HEAD_FILE)
    for file in sorted(path.glob("*.safetensors")):
        state = load_file(file)
        trl = {k.removeprefix("v_head.summary."): v for k, v in state.items() if k.startswith("v_head.summary.")}
        if trl:
            return trl
    return None


class ImplicitPRM:
    """PRIME's implicit process reward (Cui et al. 2025): per token ``q_t = beta * (log pi(y_t) -
    log pi_ref(y_t))``, and a step's score is the sum of ``q_t`` over its tokens. ``model`` is the
    implicit PRM (a causal LM trained with BCE(sigmoid(beta * sum_t q_t), outcome)), ``ref_model``
    its reference. Log-probs go through ``assay.kernels.token_logprobs`` (no ``[tokens, vocab]``
    logits). Scores are log-ratios, not probabilities: aggregate them with ``sum`` or ``min``."""

    def __init__(self, model, ref_model, tokenizer, beta: float = 0.05, batch_size: int = 8,
                 messages: MessagesFn = task_messages, use_step_ids: bool = True):
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        if model.config.vocab_size != ref_model.config.vocab_size:
            raise ValueError("the implicit PRM and its reference must share a vocabulary")
        self.model, self.ref_model, self.tokenizer = model.eval(), ref_model.eval(), tokenizer
        self.beta, self.batch_size, self.messages, self.use_step_ids = beta, batch_size, messages, use_step_ids

    @torch.no_grad()
    def score(self, prefixes: Sequence[Prefix]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(prefixes), self.batch_size):
            chunk = [encode_prefix(self.tokenizer, p, self.messages, self.use_step_ids)
                     for p in prefixes[start:start + self.batch_size]]
            ratio = self._logprobs(self.model, chunk) - self._logprobs(self.ref_model, chunk)  # (N,) all step tokens
            offset = 0
            for ids, prompt_len, ends in chunk:
                n = len(ids) - prompt_len
                q = (self.beta * ratio[offset:offset + n]).tolist()
                offset += n
                bounds = [prompt_len] + [e + 1 for e in ends]
                out.append([sum(q[a - prompt_len:b - prompt_len]) for a, b in zip(bounds, bounds[1:])])
        return out

    def _logprobs(self, model, chunk) -> torch.Tensor:
        """log p of every step token of every prefix in ``chunk``, concatenated ``(N,)`` fp32."""
        device = next(model.parameters()).device
        ids, mask = _batch([c[0] for c in chunk], _pad_id(self.tokenizer), device)
        hidden = _hidden(model, ids, mask)  # (B, L, D)
        rows, cols = [], []
        for b, (row, prompt_len, _) in enumerate(chunk):
            rows += [b] * (len(row) - prompt_len)
            cols += range(prompt_len, len(row))
        if not rows:
            return torch.zeros(0)
        rows_t, cols_t = torch.tensor(rows, device=device), torch.tensor(cols, device=device)
        h = hidden[rows_t, cols_t - 1]  # position t-1 predicts token t
        return token_logprobs(h, model.get_output_embeddings().weight, ids[rows_t, cols_t]).float().cpu()
