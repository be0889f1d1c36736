"""Sampling from a transformers causal LM in this process (CPU or GPU).

Log-probs are taken from the distribution the token was actually sampled from (temperature and
top-p/top-k applied to the logits), which is what importance ratios against the sampler need.

They are taken as generation goes (:class:`SampledLogprobs`), not from ``generate``'s
``output_scores``: those keep every step's ``[batch, vocab]`` scores to the end, 5 GB in fp32 for
64 sequences of 128 tokens at a 151936-token vocabulary, and the old code then stacked them into
one ``[batch, steps, vocab]`` tensor and copied it to the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from assay.protocols import Generation, SamplingParams
from assay.trainer.precision import autocast
from assay.trainer.seeds import chunk_seed


class SampledLogprobs:
    """A logits processor that warps the scores as sampling asks and records the log-prob of each
    drawn token, holding one step's ``[batch, vocab]`` log-probs at a time.

    It applies transformers' own warpers in transformers' order (temperature, top-k, top-p) and is
    the only warper in the call (``generate`` gets temperature 1, top-k 0, top-p 1), so the
    distribution sampled from is exactly the one recorded. Which token was drawn at step t is
    known at step t + 1 (the last column of ``input_ids``); :meth:`finish` adds the last step's.
    """

    def __init__(self, temperature: float, top_k: int, top_p: float):
        from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

        self.warpers = []
        if temperature not in (0.0, 1.0):  # 0: greedy, the raw distribution is recorded
            self.warpers.append(TemperatureLogitsWarper(temperature))
        if temperature != 0.0 and top_k:
            self.warpers.append(TopKLogitsWarper(top_k=top_k))
        if temperature != 0.0 and top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p=top_p))
        self.last: torch.Tensor | None = None  # log-probs of the step whose token is not yet seen
        self.chosen: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        if self.last is not None:
            self.chosen.append(self.last.gather(1, input_ids[:, -1:]).squeeze(1))
        self.last = scores.float().log_softmax(-1)
        return scores

    def finish(self, sequences: torch.Tensor, steps: int) -> torch.Tensor:
        """``(batch, steps)`` log-probs of the generated tokens (the last ``steps`` columns)."""
        if self.last is not None and len(self.chosen) < steps:
            self.chosen.append(self.last.gather(1, sequences[:, -1:]).squeeze(1))
        self.last = None
        if not self.chosen:
            return torch.zeros(sequences.shape[0], 0)
        return torch.stack(self.chosen[:steps], dim=1)



class HFGenerator:
    def __init__(self, model, tokenizer, batch_size: int = 64, precision: str = "fp32"):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.precision = precision  # "bf16": generate under autocast (assay.trainer.precision)
        if tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer needs a pad token for batched generation")

    @torch.no_grad()
    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        """Batches of ``batch_size``; with a seed, batch ``k > 0`` samples with a seed mixed from
        ``(seed, k)``: reseeding every batch with the same seed would give row ``i`` of each batch
        the same random draws."""
        out: list[Generation] = []
        for k, start in enumerate(range(0, len(prompts), self.batch_size)):
            out += self._generate_batch(prompts[start : start + self.batch_size], replace(params, seed=chunk_seed(params.seed, k)))
        return out

    def _generate_batch(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        device = next(self.model.parameters()).device
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attn = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):  # left padding: every prompt ends where generation starts
            ids[i, width - len(p):] = torch.tensor(list(p), dtype=torch.long)
            attn[i, width - len(p):] = 1
        if params.seed is not None:
            torch.manual_seed(params.seed)
        recorder = SampledLogprobs(params.temperature, params.top_k or 0, params.top_p)
        was_training = self.model.training
        self.model.eval()
        try:
            with autocast(device, self.precision):
                result = self._generate(ids.to(device), attn.to(device), params, recorder)
        finally:
            self.model.train(was_training)
        new = result.sequences[:, width:]  # (B, steps)
        chosen = recorder.finish(result.sequences, new.shape[1]).cpu()  # (B, steps)
        new = new.cpu()
        return [self._finish(new[i], chosen[i], params) for i in range(len(prompts))]

    def _generate(self, ids: torch.Tensor, attn: torch.Tensor, params: SamplingParams, recorder: SampledLogprobs):
        from transformers import LogitsProcessorList

        greedy = params.temperature == 0
        return self.model.generate(
            input_ids=ids,
            attention_mask=attn,
            max_new_tokens=params.max_new_tokens,
            do_sample=not greedy,
            # the recorder warps (it must see the sampled distribution): generate's own warpers are off
            temperature=None if greedy else 1.0,
            top_p=None if greedy else 1.0,
            top_k=None if greedy else 0,
            logits_processor=LogitsProcessorList([recorder]),
            stop_strings=list(params.stop) or None,
            tokenizer=self.tokenizer if params.stop else None,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
            return_dict_in_generate=True,
        )

    def _finish(self, tokens: torch.Tensor, logps: torch.Tensor, params: SamplingParams) -> Generation:
        """Cut at EOS (kept: the policy generated it) or at the end of the first stop string."""
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        ids: list[int] = []
        reason = "length"
        for tok in tokens.tolist():
            if tok == eos:
                ids.append(tok)
                reason = "eos"
                break
            if tok == pad and eos == pad:
                break
            ids.append(tok)
            if params.stop:
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                if any(s in text for s in params.stop):
                    reason = "stop"
                    break
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return Generation(tuple(ids), tuple(logps[: len(ids)].tolist()), text, reason)
