"""Sampling from a transformers causal LM in this process (CPU or GPU).

Log-probs are taken from the distribution the token was actually sampled from (temperature and
top-p/top-k applied to the logits), which is what importance ratios against the sampler need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from assay.protocols import Generation, SamplingParams
from assay.trainer.seeds import chunk_seed



class HFGenerator:
    def __init__(self, model, tokenizer, batch_size: int = 64):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
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
        greedy = params.temperature == 0
        was_training = self.model.training
        self.model.eval()
        try:
            result = self.model.generate(
                input_ids=ids.to(device),
                attention_mask=attn.to(device),
                max_new_tokens=params.max_new_tokens,
                do_sample=not greedy,
                temperature=None if greedy else params.temperature,
                top_p=None if greedy else params.top_p,
                top_k=None if greedy else (params.top_k or 0),
                stop_strings=list(params.stop) or None,
                tokenizer=self.tokenizer if params.stop else None,
                pad_token_id=pad,
                eos_token_id=self.tokenizer.eos_token_id,
                output_scores=True,
                return_dict_in_generate=True,
            )
        finally:
            self.model.train(was_training)
        new = result.sequences[:, width:].cpu()  # (B, steps)
        # scores: per step (B, V) logits after temperature / top-p / top-k processing
        logp = torch.stack([s.float().log_softmax(-1) for s in result.scores], dim=1).cpu()  # (B, steps, V)
        chosen = logp.gather(-1, new.unsqueeze(-1)).squeeze(-1)  # (B, steps)
        return [self._finish(new[i], chosen[i], params) for i in range(len(prompts))]

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
