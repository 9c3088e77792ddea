"""Bit-for-bit reproducibility of CPU runs across machines with different core counts.

On CPU, PyTorch splits long reductions over its intra-op threads: a weight gradient ``x.T @ grad`` (the batch x
sequence dimension is reduced) or a full ``tensor.sum()`` adds its partial sums in an order that depends on
``torch.get_num_threads()``, so the last bits differ between a 2-core and a 16-core machine. Over the thousands of
steps that train a world model those bits grow into different models (and different leaderboards). Forward matmuls,
softmax and per-row reductions do not depend on the thread count, and ``torch.use_deterministic_algorithms`` does not
help here (the CPU kernels involved are already deterministic for a given thread count).

:func:`fixed_threads` pins the thread count for the parts whose numbers are published (building the built-in world,
the demo, the benchmark grids). The models involved are tiny (under 4M parameters), so one thread costs little.
CPUs with a different instruction set (AVX2 vs AVX-512) may still pick different kernels; see the README.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

REPRO_THREADS = 1  # every machine has one core; the pinned count is part of what makes results repeatable


@contextlib.contextmanager
def fixed_threads(n: int = REPRO_THREADS) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, restoring the caller's thread count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
