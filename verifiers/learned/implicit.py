"""PRIME's implicit process reward model: per-token log-ratios of a trained model to its reference."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from assay.chat import MessagesFn, task_messages
from assay.kernels import token_logprobs
from assay.protocols import Prefix
from assay.verifiers.learned.tokens import encode_prefix, final_hidden, pad_batch, pad_id


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

    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: torch.dtype = torch.float32, **kwargs) -> ImplicitPRM:
        """A directory ``assay train-rm --kind implicit`` wrote: the trained causal LM, and in
        ``reward_model.json`` its ``beta`` and where the reference lies (relative to ``path``)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        meta = json.loads((path / "reward_model.json").read_text())
        ref_path = path / meta.get("reference", "reference")
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        ref = AutoModelForCausalLM.from_pretrained(ref_path, dtype=dtype)
        kwargs.setdefault("beta", float(meta.get("beta", 0.05)))
        return cls(model, ref, AutoTokenizer.from_pretrained(path), **kwargs)

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
        ids, mask = pad_batch([c[0] for c in chunk], pad_id(self.tokenizer), device)
        hidden = final_hidden(model, ids, mask)  # (B, L, D)
        rows, cols = [], []
        for b, (row, prompt_len, _) in enumerate(chunk):
            rows += [b] * (len(row) - prompt_len)
            cols += range(prompt_len, len(row))
        if not rows:
            return torch.zeros(0)
        rows_t, cols_t = torch.tensor(rows, device=device), torch.tensor(cols, device=device)
        h = hidden[rows_t, cols_t - 1]  # position t-1 predicts token t
        return token_logprobs(h, model.get_output_embeddings().weight, ids[rows_t, cols_t]).float().cpu()
