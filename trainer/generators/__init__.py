"""Generators: token ids in, sampled token ids and their log-probs out (``assay.protocols.Generator``).

- :class:`~assay.trainer.generators.hf.HFGenerator`: a transformers model in this process (CPU or GPU).
"""
