"""The bench harness measures what it claims: a known allocation shows up as peak memory."""

from __future__ import annotations

import torch

from assay.kernels.benchutil import Case, Work, measure, to_markdown


def setup_alloc(device: str, mib: int):
    """``run`` allocates a temporary of ``mib`` MiB and touches it (so it is resident)."""
    def run():
        t = torch.ones(mib * 2**18, dtype=torch.float32, device=device)  # 4 bytes * 2**18 = 1 MiB
        return float(t.sum())
    return run, Work(bytes=mib * 2**20)


def test_cpu_peak_memory_tracks_a_known_allocation():
    small = measure(Case("alloc", "small", "8MiB", "tests.kernels.test_benchutil:setup_alloc", {"mib": 8}), repeats=2)
    big = measure(Case("alloc", "big", "256MiB", "tests.kernels.test_benchutil:setup_alloc", {"mib": 256}), repeats=2)
    assert small.error is None and big.error is None, (small.error, big.error)
    assert 240 <= big.peak_extra_mib <= 300, big.peak_extra_mib
    assert small.peak_extra_mib < 64, small.peak_extra_mib
    assert big.gbps and big.time_ms > 0


def test_failing_case_is_a_row_not_a_crash():
    row = measure(Case("x", "broken", "-", "tests.kernels.test_benchutil:does_not_exist"), repeats=1)
    assert row.error and "does_not_exist" in row.error
    table = to_markdown([row])
    assert "error:" in table
