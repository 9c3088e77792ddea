"""Paired forget/retain index batches from an explicit, per-epoch seeded ``torch.Generator``.

Epoch ``e`` of a run with seed ``s`` draws from a generator seeded with ``s * 1_000_003 + e`` (distinct for every
(seed, epoch) pair), so the batches of any epoch are a pure function of (seed, epoch): a resumed run recomputes
``batches(epoch)`` and skips the batches already done. The forget set is covered once per epoch in a random order
(the last batch may be short); retain indices are drawn without replacement from successive random permutations
of the retain set (cycling when the forget epoch needs more retain rows than exist).

Data parallel: every process builds the same global order and keeps the positions ``shard_index::num_shards``.
When the forget set does not divide evenly the global order is padded by repeating its first indices (as
``torch.utils.data.DistributedSampler`` does) so every shard gets the same number of batches; apart from that
padding the shards are disjoint. The retain rows of one step are shared out between shards, so they are disjoint
across processes too (a row can repeat only where the retain stream wraps into its next permutation).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

_MIX = 1_000_003  # a prime: seed * _MIX + epoch never collides for epochs < _MIX
_HOLDOUT_OFFSET = 2**62  # above every seed * _MIX + epoch (seed < 2**32): holdout generators are never forget ones


class PairedSampler:
    """Deterministic (forget indices, retain indices | None) batches.

    Args:
        n_forget: number of forget examples (> 0).
        n_retain: number of retain examples (0: retain batches are None).
        batch_size: forget examples per batch per process.
        retain_batch_size: retain examples per batch per process (default: ``batch_size``).
        seed: base seed.
        shuffle: random order (False: forget in index order, retain still permuted).
        num_shards: data-parallel world size.
        shard_index: this process's rank.
    """

    def __init__(
        self,
        n_forget: int,
        n_retain: int = 0,
        *,
        batch_size: int,
        retain_batch_size: int | None = None,
        seed: int = 0,
        shuffle: bool = True,
        num_shards: int = 1,
        shard_index: int = 0,
    ) -> None:
        if n_forget <= 0:
            raise ValueError("PairedSampler needs a non-empty forget set")
        if batch_size <= 0 or (retain_batch_size is not None and retain_batch_size <= 0):
            raise ValueError("batch sizes must be positive")
        if not 0 <= shard_index < num_shards:
            raise ValueError(f"shard_index {shard_index} out of range for num_shards {num_shards}")
        self.n_forget, self.n_retain = n_forget, n_retain
        self.batch_size = batch_size
        self.retain_batch_size = retain_batch_size or batch_size
        self.seed, self.shuffle = seed, shuffle
        self.num_shards, self.shard_index = num_shards, shard_index

    @property
    def per_shard(self) -> int:
        """Forget examples each process sees per epoch (padding included)."""
        return math.ceil(self.n_forget / self.num_shards)

    def __len__(self) -> int:
        """Batches per epoch per process."""
        return math.ceil(self.per_shard / self.batch_size)

    def generator(self, epoch: int) -> torch.Generator:
        import torch  # here, not at module level: counting batches (validate) needs no torch

        return torch.Generator().manual_seed(self.seed * _MIX + epoch)

    def batches(self, epoch: int) -> list[tuple[list[int], list[int] | None]]:
        """All batches of ``epoch`` for this shard, in order."""
        import torch

        gen = self.generator(epoch)
        order = torch.randperm(self.n_forget, generator=gen) if self.shuffle else torch.arange(self.n_forget)
        total = self.per_shard * self.num_shards
        order = torch.cat([order, order[: total - self.n_forget]]) if total > self.n_forget else order
        mine = order[self.shard_index :: self.num_shards].tolist()
        forget = [mine[i : i + self.batch_size] for i in range(0, len(mine), self.batch_size)]
        if self.n_retain <= 0:
            return [(f, None) for f in forget]
        # one global retain stream per epoch; each step's slice is shared out between shards (disjoint per step)
        step = self.retain_batch_size * self.num_shards
        stream = self._retain_stream(gen, len(forget) * step)
        out = []
        for b, f in enumerate(forget):
            chunk = stream[b * step : (b + 1) * step]
            out.append((f, chunk[self.shard_index :: self.num_shards]))
        return out

    def _retain_stream(self, gen: torch.Generator, n: int) -> list[int]:
        """``n`` retain indices: concatenated random permutations (no repeats within one permutation)."""
        return _permutation_stream(gen, self.n_retain, n)

    def holdout_batches(self, epoch: int, n_holdout: int) -> list[list[int]]:
        """This shard's holdout indices for each batch of ``epoch`` (``batch_size`` rows, as many as a forget batch),
        drawn like the retain stream but from their own generator, so the forget and retain draws do not change and
        a resumed run draws the same rows."""
        import torch

        gen = torch.Generator().manual_seed(_HOLDOUT_OFFSET + self.seed * _MIX + epoch)
        step = self.batch_size * self.num_shards
        stream = _permutation_stream(gen, n_holdout, len(self) * step)
        return [stream[b * step : (b + 1) * step][self.shard_index :: self.num_shards] for b in range(len(self))]


def _permutation_stream(gen: torch.Generator, size: int, n: int) -> list[int]:
    """``n`` indices into ``range(size)``: concatenated random permutations (no repeats within one permutation)."""
    import torch

    perms = [torch.randperm(size, generator=gen) for _ in range(math.ceil(n / size))]
    return torch.cat(perms)[:n].tolist()
