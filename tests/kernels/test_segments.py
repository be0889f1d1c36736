"""Segment ops (group advantages, PRM aggregation, process returns): every backend against the
plain-torch reference over awkward ragged layouts, plus hand-computed values and invariants.

Triton runs through its interpreter when there is no GPU (``TRITON_INTERPRET=1``, set below
before anything imports triton), so the kernel sizes here stay small.
"""

from __future__ import annotations

import math
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is imported

import pytest  # noqa: E402

from assay.kernels.segments import (  # noqa: E402
    group_advantages,
    group_advantages_reference,
    prm_aggregate,
    prm_aggregate_reference,
    process_returns,
    process_returns_reference,
)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
BACKENDS = ("cpu", "triton")

# Output tolerance by *input* dtype. All outputs are float32 and the reference is float64, so a
# float32 input is held to float32 accumulation error. Half inputs are compared to the reference
# of the unrounded float32 rewards, so their entries measure input rounding, nothing else.
TOL = {
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float16: dict(rtol=2e-3, atol=2e-3),
    torch.bfloat16: dict(rtol=2e-2, atol=2e-2),
}
F32 = TOL[torch.float32]


def _t(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype, device=DEVICE)


def _offsets(lengths):
    return _t([0] + list(torch.tensor(lengths, dtype=torch.int64).cumsum(0).tolist()), torch.int64)


def _ragged(n_elements: int, gen: torch.Generator, max_len: int = 6) -> list[int]:
    """Ragged lengths summing to n_elements, with empty segments at the start, middle and end."""
    lengths = [0]
    while sum(lengths) < n_elements:
        lengths.append(min(int(torch.randint(1, max_len + 1, (1,), generator=gen)), n_elements - sum(lengths)))
        if len(lengths) == 3:
            lengths.append(0)
    return lengths + [0]


LAYOUTS = ("offsets", "sorted_ids", "shuffled_ids")
SIZES = (0, 1, 7, 1000)


def _advantage_case(layout: str, b: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    rewards = torch.randn(b, generator=gen).to(DEVICE)
    lengths = _ragged(b, gen)
    if layout == "offsets":
        return rewards, dict(offsets=_offsets(lengths))
    ids = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    if layout == "shuffled_ids":  # sparse, negative, interleaved ids
        ids = (ids * 7 - 40)[torch.randperm(b, generator=gen)]
    return rewards, dict(group_ids=ids.to(DEVICE))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("b", SIZES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("mode", ("grpo", "dr_grpo", "rloo"))
def test_group_advantages_matches_reference(mode, layout, b, backend):
    rewards, groups = _advantage_case(layout, b)
    expected = group_advantages_reference(rewards, mode=mode, **groups)
    got = group_advantages(rewards, mode=mode, backend=backend, **groups)
    assert got.dtype == torch.float32 and got.shape == (b,)
    torch.testing.assert_close(got, expected, **F32)


def _segments(b: int, seed: int, signed: bool):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, generator=gen) if signed else torch.rand(b, generator=gen) * 1.5 + 0.25
    return x.to(DEVICE), _offsets(_ragged(b, gen))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("b", SIZES)
@pytest.mark.parametrize("signed", (False, True))
@pytest.mark.parametrize("op", ("min", "mean", "prod", "last", "sum"))
def test_prm_aggregate_matches_reference(op, signed, b, backend):
    x, off = _segments(b, seed=1, signed=signed)
    expected = prm_aggregate_reference(x, off, op, empty=-3.0)
    got = prm_aggregate(x, off, op, empty=-3.0, backend=backend)
    assert got.shape == (off.numel() - 1,)
    torch.testing.assert_close(got, expected, **F32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("b", SIZES)
@pytest.mark.parametrize("mode,gamma", [("sum", 1.0), ("min", 1.0), ("discounted", 0.9), ("softmin", 1.0)])
def test_process_returns_matches_reference(mode, gamma, b, backend):
    x, off = _segments(b, seed=2, signed=True)
    expected = process_returns_reference(x, off, mode, gamma=gamma, temperature=0.1)
    got = process_returns(x, off, mode, gamma=gamma, temperature=0.1, backend=backend)
    torch.testing.assert_close(got, expected, **F32)


def _long_case(seed: int = 3):
    """Segments longer than any block (1500 > 1024), next to short and empty ones."""
    gen = torch.Generator().manual_seed(seed)
    lengths = [0, 1500, 3, 0, 1, 1100, 0]
    return (torch.rand(sum(lengths), generator=gen) + 0.5).to(DEVICE), _offsets(lengths)


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_segments(backend):
    x, off = _long_case()
    for mode in ("grpo", "dr_grpo", "rloo"):
        torch.testing.assert_close(group_advantages(x, mode=mode, offsets=off, backend=backend),
                                   group_advantages_reference(x, mode=mode, offsets=off), **F32)
    for op in ("min", "mean", "prod", "last", "sum"):
        torch.testing.assert_close(prm_aggregate(x, off, op, backend=backend), prm_aggregate_reference(x, off, op), **F32)
    for mode in ("sum", "min", "discounted", "softmin"):
        torch.testing.assert_close(process_returns(x, off, mode, gamma=0.99, backend=backend),
                                   process_returns_reference(x, off, mode, gamma=0.99), **F32)


def test_triton_block_loops_with_small_tiles():
    """Many block iterations and a partial last block per row, cheap to interpret (BLOCK=16)."""
    from assay.kernels.segments import triton_kernels as tk

    gen = torch.Generator().manual_seed(4)
    lengths = [0, 37, 16, 0, 1, 50, 2, 0]
    x, off = (torch.randn(sum(lengths), generator=gen)).to(DEVICE), _offsets(lengths)
    ids = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    ids = ids[torch.randperm(ids.numel(), generator=gen)].to(DEVICE)
    for segs in (1, 4):
        for mode in ("grpo", "dr_grpo", "rloo"):
            torch.testing.assert_close(tk.group_advantages_triton(x, ids, None, mode, 1e-6, block=16, segs=segs),
                                       group_advantages_reference(x, ids, mode), **F32)
        for op in ("min", "mean", "prod", "last", "sum"):
            torch.testing.assert_close(tk.prm_aggregate_triton(x, off, op, 0.0, block=16, segs=segs),
                                       prm_aggregate_reference(x, off, op), **F32)
        for mode in ("sum", "min", "discounted", "softmin"):
            torch.testing.assert_close(tk.process_returns_triton(x, off, mode, 0.9, 0.5, block=16, segs=segs),
                                       process_returns_reference(x, off, mode, 0.9, 0.5), **F32)


# ---- hand-computed values ---------------------------------------------------------------------

@pytest.mark.parametrize("backend", ("reference",) + BACKENDS)
def test_advantages_by_hand(backend):
    """rewards [1, 0, 1, 1], one group: mean .75, d = r - mean = [.25, -.75, .25, .25],
    unbiased var = (3 * .0625 + .5625) / 3 = .25, std .5.

    GRPO = d / (.5 + eps); Dr.GRPO = d; RLOO = r - (sum - r)/(n - 1) = [1 - 2/3, 0 - 1, 1/3, 1/3].
    Two interleaved groups, ids [3, 9, 3, 9], rewards [1, 5, 0, 7]: group 3 is {1, 0}, std sqrt(.5),
    GRPO +-.5/sqrt(.5); group 9 is {5, 7}, std sqrt(2), GRPO -+1/sqrt(2).
    """
    r, one = _t([1.0, 0.0, 1.0, 1.0]), _t([0, 0, 0, 0], torch.int64)
    d = _t([0.25, -0.75, 0.25, 0.25])
    eps = 1e-6
    torch.testing.assert_close(group_advantages(r, one, "grpo", eps, backend=backend), d / (0.5 + eps), **F32)
    torch.testing.assert_close(group_advantages(r, one, "dr_grpo", backend=backend), d, **F32)
    torch.testing.assert_close(group_advantages(r, one, "rloo", backend=backend), _t([1 / 3, -1.0, 1 / 3, 1 / 3]), **F32)
    two = group_advantages(_t([1.0, 5.0, 0.0, 7.0]), _t([3, 9, 3, 9], torch.int64), "grpo", 0.0, backend=backend)
    h = 0.5 / math.sqrt(0.5)
    torch.testing.assert_close(two, _t([h, -h, -h, h]), **F32)


@pytest.mark.parametrize("backend", ("reference",) + BACKENDS)
def test_process_returns_by_hand(backend):
    """r = [0.5, -1, 2], one segment.

    sum: [0.5 - 1 + 2, -1 + 2, 2] = [1.5, 1, 2]; min: [-1, -1, 2];
    discounted (gamma .5): G2 = 2, G1 = -1 + .5 * 2 = 0, G0 = .5 + .5 * 0 = .5;
    softmin (T = 1): w = softmax(-r) = e^{-r} / Z with Z = e^{-.5} + e^{1} + e^{-2},
    r' = w * r, G = reverse cumsum of r'.
    """
    r, off = _t([0.5, -1.0, 2.0]), _t([0, 3], torch.int64)
    cases = {"sum": [1.5, 1.0, 2.0], "min": [-1.0, -1.0, 2.0], "discounted": [0.5, 0.0, 2.0]}
    for mode, want in cases.items():
        torch.testing.assert_close(process_returns(r, off, mode, gamma=0.5, backend=backend), _t(want), **F32)
    z = math.exp(-0.5) + math.exp(1.0) + math.exp(-2.0)
    rp = [math.exp(-0.5) / z * 0.5, math.exp(1.0) / z * -1.0, math.exp(-2.0) / z * 2.0]
    want = [rp[0] + rp[1] + rp[2], rp[1] + rp[2], rp[2]]
    torch.testing.assert_close(process_returns(r, off, "softmin", temperature=1.0, backend=backend), _t(want), **F32)


@pytest.mark.parametrize("backend", ("reference",) + BACKENDS)
def test_prm_aggregate_by_hand(backend):
    """Segments [.9, .5, .8], [], [.3], [-2, .5, 3]: an empty one uses ``empty`` (here -1) for
    min/mean/last, 0 for sum and 1 for prod; prod of a segment with a negative step is direct."""
    x, off = _t([0.9, 0.5, 0.8, 0.3, -2.0, 0.5, 3.0]), _t([0, 3, 3, 4, 7], torch.int64)
    want = {
        "min": [0.5, -1.0, 0.3, -2.0],
        "mean": [2.2 / 3, -1.0, 0.3, 0.5],
        "prod": [0.36, 1.0, 0.3, -3.0],
        "last": [0.8, -1.0, 0.3, 3.0],
        "sum": [2.2, 0.0, 0.3, 1.5],
    }
    for op, values in want.items():
        torch.testing.assert_close(prm_aggregate(x, off, op, empty=-1.0, backend=backend), _t(values), **F32)


# ---- invariants -------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ("reference",) + BACKENDS)
@pytest.mark.parametrize("mode", ("grpo", "dr_grpo", "rloo"))
def test_singletons_and_all_equal_groups_are_exactly_zero(mode, backend):
    """A group of one, or of equal rewards (0.1 is not exact in binary; 1e6 + .3 neither), gives
    exactly 0: no eps-scaled rounding noise."""
    r = _t([0.1] * 7 + [1e6 + 0.3] * 5 + [0.7, -2.0, 5.0])
    ids = _t([0] * 7 + [1] * 5 + [2, 3, 4], torch.int64)
    for eps in (1e-6, 0.0):
        out = group_advantages(r, ids, mode, eps, backend=backend)
        assert torch.equal(out, torch.zeros_like(out)), out


@pytest.mark.parametrize("backend", ("reference",) + BACKENDS)
def test_grpo_is_stable_for_large_offsets(backend):
    """Rewards 1e6 + noise: E[x^2] - E[x]^2 in float32 loses every digit (x^2 ~ 1e12 has an ulp of
    65536); the shifted two-pass statistics keep them. Expected values come from float64."""
    gen = torch.Generator().manual_seed(5)
    noise = (torch.randn(64, generator=gen) * 8).round() / 16  # multiples of 1/16: exact at 1e6
    r = (1e6 + noise).to(torch.float32).to(DEVICE)
    ids = torch.arange(64, device=DEVICE) // 8
    r64 = r.double().view(8, 8)
    want = ((r64 - r64.mean(1, keepdim=True)) / (r64.std(1, keepdim=True) + 1e-6)).flatten().float()
    naive_var = (r.view(8, 8).square().mean(1) - r.view(8, 8).mean(1).square()) * 8 / 7
    assert not torch.allclose(naive_var.sqrt().cpu(), r64.std(1).float().cpu(), atol=0.1)  # naive form fails here
    torch.testing.assert_close(group_advantages(r, ids, "grpo", backend=backend), want, **F32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_mask_broadcasts_to_tokens(backend):
    rewards, groups = _advantage_case("shuffled_ids", 7)
    mask = (torch.rand(7, 5, generator=torch.Generator().manual_seed(6)) > 0.3).to(DEVICE)
    out = group_advantages(rewards, mode="grpo", loss_mask=mask, backend=backend, **groups)
    adv = group_advantages_reference(rewards, mode="grpo", **groups)
    assert out.shape == (7, 5) and out.dtype == torch.float32
    torch.testing.assert_close(out, adv[:, None] * mask.float(), **F32)
    torch.testing.assert_close(group_advantages_reference(rewards, mode="grpo", loss_mask=mask, **groups), out, **F32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", (torch.float16, torch.bfloat16))
def test_half_inputs_give_float32(dtype, backend):
    """Half rewards are read as float32: exact math on the rounded inputs, and within input
    rounding (TOL[dtype]) of the float32 rewards' reference."""
    rewards, groups = _advantage_case("shuffled_ids", 1000)
    low = rewards.to(dtype)
    out = group_advantages(low, mode="rloo", backend=backend, **groups)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, group_advantages_reference(low.float(), mode="rloo", **groups), **F32)
    torch.testing.assert_close(out, group_advantages_reference(rewards, mode="rloo", **groups), **TOL[dtype])
    x, off = _segments(1000, seed=7, signed=False)
    for op in ("mean", "prod", "min"):
        got = prm_aggregate(x.to(dtype), off, op, backend=backend)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, prm_aggregate_reference(x.to(dtype).float(), off, op), **F32)
        torch.testing.assert_close(got, prm_aggregate_reference(x, off, op), **TOL[dtype])
    got = process_returns(x.to(dtype), off, "discounted", gamma=0.9, backend=backend)
    torch.testing.assert_close(got, process_returns_reference(x, off, "discounted", gamma=0.9), **TOL[dtype])


def test_outputs_carry_no_graph():
    """Rewards are data: the ops detach and have no backward."""
    r = _t([1.0, 2.0, 4.0]).requires_grad_()
    off = _t([0, 3], torch.int64)
    for out in (group_advantages(r, offsets=off), prm_aggregate(r, off, "mean"), process_returns(r, off, "sum")):
        assert not out.requires_grad


# ---- argument checks --------------------------------------------------------------------------

def test_validation_errors():
    r, off = _t([1.0, 2.0, 3.0]), _t([0, 1, 3], torch.int64)
    ids = _t([0, 0, 1], torch.int64)
    with pytest.raises(ValueError, match=r"mode must be one of \('grpo', 'dr_grpo', 'rloo'\)"):
        group_advantages(r, ids, "ppo")
    with pytest.raises(ValueError, match="exactly one of group_ids"):
        group_advantages(r)
    with pytest.raises(ValueError, match="exactly one of group_ids"):
        group_advantages(r, ids, offsets=off)
    with pytest.raises(ValueError, match="one id per reward"):
        group_advantages(r, ids[:2])
    with pytest.raises(TypeError, match="integer"):
        group_advantages(r, ids.float())
    with pytest.raises(TypeError, match="floating-point"):
        group_advantages(ids, ids)
    with pytest.raises(ValueError, match="1-D"):
        group_advantages(r.view(3, 1), ids)
    with pytest.raises(ValueError, match="eps"):
        group_advantages(r, ids, eps=-1.0)
    with pytest.raises(ValueError, match="loss_mask must be"):
        group_advantages(r, ids, loss_mask=torch.ones(2, 4, device=DEVICE))
    with pytest.raises(ValueError, match="non-decreasing"):
        group_advantages(r, offsets=_t([0, 2, 1, 3], torch.int64))
    with pytest.raises(ValueError, match="end at len"):
        prm_aggregate(r, _t([0, 2], torch.int64), "sum")
    with pytest.raises(ValueError, match="start at 0"):
        process_returns(r, _t([1, 3], torch.int64), "sum")
    with pytest.raises(ValueError, match="at least one entry"):
        prm_aggregate(r[:0], _t([], torch.int64), "sum")
    with pytest.raises(ValueError, match=r"op must be one of \('min', 'mean', 'prod', 'last', 'sum'\)"):
        prm_aggregate(r, off, "max")
    with pytest.raises(ValueError, match=r"mode must be one of \('sum', 'min', 'discounted', 'softmin'\)"):
        process_returns(r, off, "gae")
    with pytest.raises(ValueError, match="temperature"):
        process_returns(r, off, "softmin", temperature=0.0)
    with pytest.raises(ValueError, match="backend must be one of"):
        process_returns(r, off, backend="cuda")


def test_cpu_serial_and_parallel_loops_agree_on_both_sides_of_the_threshold(monkeypatch):
    """Small inputs run the loops on the calling thread, large ones in numba's parallel region:
    the same per-segment code, so the two must agree exactly, with odd and empty segments."""
    from assay.kernels.segments import cpu

    g = torch.Generator().manual_seed(5)
    lengths = torch.randint(0, 9, (30011,), generator=g)
    lengths[::97] = 0
    offsets = torch.zeros(lengths.numel() + 1, dtype=torch.int64)
    torch.cumsum(lengths, 0, out=offsets[1:])
    x = torch.rand(int(offsets[-1]), generator=g) + 0.01
    assert x.numel() > cpu.PARALLEL_MIN_ELEMENTS // 2
    results = {}
    for threshold in (1, 1 << 40):  # everything parallel, then everything serial
        monkeypatch.setattr(cpu, "PARALLEL_MIN_ELEMENTS", threshold)
        results[threshold] = (
            cpu.group_advantages_cpu(x, None, offsets, "grpo", 1e-6),
            [cpu.prm_aggregate_cpu(x, offsets, op, 0.0) for op in ("min", "mean", "prod", "last", "sum")],
            [cpu.process_returns_cpu(x, offsets, mode, 0.9, 0.1) for mode in ("sum", "min", "discounted", "softmin")],
        )
    parallel, serial = results[1], results[1 << 40]
    assert torch.equal(parallel[0], serial[0])
    assert all(torch.equal(a, b) for a, b in zip(parallel[1], serial[1]))
    assert all(torch.equal(a, b) for a, b in zip(parallel[2], serial[2]))
