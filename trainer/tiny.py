"""assay's built-in tiny policy for CPU runs: a Llama-style causal LM and a tokenizer made here.

Both are standard Hugging Face objects saved as a standard model directory
(``config.json``, ``model.safetensors``, ``tokenizer.json``, ...), so everything downstream
loads them with ``AutoModelForCausalLM`` / ``AutoTokenizer`` exactly as it would a real
checkpoint.

The tokenizer is character-level BPE over printable ASCII plus a few merges for frequent
fragments (``\\boxed{``, ``Step``, `` = ``...). The merges make its round trip deliberately *not*
the identity: the characters ``S``,``t``,``e``,``p`` generated one by one decode to ``Step``, which
re-encodes as the single merged token. Trainers that re-tokenize text instead of keeping the
generated ids get caught by that (tests/trainer/test_multiturn.py).
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["<pad>", "<s>", "</s>", "<unk>"]
# Frequent fragments of the procedural math prompts and answers, as BPE merge chains.
MERGED = ["\\boxed{", "Step", " = ", "answer", "mod "]
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}Q: {{ m['content'] }}\n"
    "{% elif m['role'] == 'assistant' %}A: {{ m['content'] }}{{ eos_token }}\n"
    "{% else %}{{ m['content'] }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}A: {% endif %}"
)


def _vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    vocab: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL)}
    for code in list(range(32, 127)) + [10]:  # printable ASCII and newline
        vocab.setdefault(chr(code), len(vocab))
    merges: list[tuple[str, str]] = []
    for word in MERGED:
        left = word[0]
        for ch in word[1:]:
            merged = left + ch
            if merged not in vocab:
                merges.append((left, ch))
                vocab[merged] = len(vocab)
            left = merged
    return vocab, merges


def build_tokenizer():
    """A ``PreTrainedTokenizerFast`` (BPE over characters, see the module docstring)."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab, merges = _vocab_and_merges()
    core = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", ignore_merges=False))
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>",
                                  pad_token="<pad>", unk_token="<unk>", padding_side="left")
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_model(vocab_size: int, hidden_size: int = 128, layers: int = 4, heads: int = 4, seed: int = 0,
                max_positions: int = 512):
    """A randomly initialised Llama-style causal LM (about 0.8M parameters at the defaults)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 3,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def save_tiny(path: str | Path, seed: int = 0, **model_kwargs) -> Path:
    """Build the tiny tokenizer and a fresh model and save both as a Hugging Face directory."""
    path = Path(path)
    tok = build_tokenizer()
    model = build_model(len(tok), seed=seed, **model_kwargs)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
