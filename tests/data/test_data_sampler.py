"""PairedSampler: deterministic per (seed, epoch), seeds differ, epochs cover the forget set, shards disjoint."""

from __future__ import annotations

import pytest

from obliviate.data.forget_retain import PairedSampler


def flat(batches, side=0):
    return [i for b in batches for i in (b[side] or [])]


def test_deterministic_and_seed_dependent():
    make = lambda seed: PairedSampler(10, 7, batch_size=3, retain_batch_size=2, seed=seed)  # noqa: E731
    assert make(0).batches(0) == make(0).batches(0)
    assert make(0).batches(1) == make(0).batches(1)
    assert make(0).batches(0) != make(1).batches(0)
    assert make(0).batches(0) != make(0).batches(1)
    assert make(1).batches(0) != make(0).batches(1)  # seed and epoch do not alias


def test_epoch_covers_forget_once_and_retain_without_replacement():
    s = PairedSampler(10, 7, batch_size=3, retain_batch_size=2, seed=4)
    batches = s.batches(2)
    assert len(batches) == len(s) == 4
    assert [len(f) for f, _ in batches] == [3, 3, 3, 1]
    assert sorted(flat(batches)) == list(range(10))
    retain = flat(batches, 1)
    assert len(retain) == 8 and sorted(retain[:7]) == list(range(7))  # one full permutation, then it cycles
    assert all(len(r) == 2 for _, r in batches)


def test_no_retain_and_no_shuffle():
    batches = PairedSampler(5, batch_size=2, shuffle=False).batches(0)
    assert batches == [([0, 1], None), ([2, 3], None), ([4], None)]


@pytest.mark.parametrize("n_forget", [12, 11])
def test_shards_disjoint_equal_length_and_covering(n_forget):
    shards = [
        PairedSampler(n_forget, 12, batch_size=2, seed=7, num_shards=3, shard_index=k).batches(0) for k in range(3)
    ]
    assert len({len(b) for b in shards}) == 1
    forget = [set(flat(b)) for b in shards]
    assert set().union(*forget) == set(range(n_forget))
    if n_forget % 3 == 0:
        assert sum(len(f) for f in forget) == n_forget  # pairwise disjoint
    for step in range(len(shards[0])):  # retain rows of one step are disjoint across processes
        rows = [i for b in shards for i in b[step][1]]
        assert len(rows) == len(set(rows))


def test_bad_arguments():
    with pytest.raises(ValueError, match="non-empty forget set"):
        PairedSampler(0, batch_size=2)
    with pytest.raises(ValueError, match="shard_index"):
        PairedSampler(4, batch_size=2, num_shards=2, shard_index=2)
