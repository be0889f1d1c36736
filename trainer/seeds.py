"""Seeds mixed from integers, with no heavy imports (the HTTP generator client uses them too)."""

from __future__ import annotations

CHUNK_SEED_TAG = 0xC4  # keeps batch seeds apart from other seeds mixed from the same base (Ray shards)


def derive_seed(*parts: int) -> int:
    """A 31-bit seed mixed from integers (splitmix64 steps). Seeds are kept below 2**31 because
    torch's CPU generator uses only the low 32 bits of a seed: seeds that differ above them (say
    ``s`` and ``s + 2**40``) draw the same numbers."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFF


def chunk_seed(seed: int | None, k: int) -> int | None:
    """The seed of a generator's ``k``-th batch of one call: the call's seed for the first, then
    seeds mixed from ``(seed, k)``, since reseeding every batch with one seed would give row ``i``
    of each batch the same random draws. None stays None (unseeded)."""
    return seed if seed is None or k == 0 else derive_seed(seed, CHUNK_SEED_TAG, k)
