"""Fixtures for the method tests: hand-built batches and tiny memorised models (see method_testkit)."""

from __future__ import annotations

import copy

import pytest
import torch
from method_testkit import (
    ARCHS,
    FORGET_ANSWER_TOKENS,
    N_ROWS,
    REFUSALS,
    RETAIN_ANSWER_TOKENS,
    cat_batches,
    make_batch,
    memorise,
    rows,
)
from torch import nn

from obliviate.types import Batch


@pytest.fixture(scope="session")
def batches() -> dict[str, Batch]:
    """``forget`` (with ``alt`` = same prompts + a refusal), ``forget_plain`` (no alt) and ``retain``: 8 rows each."""
    gen = torch.Generator().manual_seed(1234)
    fp, fa = rows(gen, N_ROWS, FORGET_ANSWER_TOKENS)
    rp, ra = rows(gen, N_ROWS, RETAIN_ANSWER_TOKENS)
    alt = make_batch(fp, [REFUSALS[i % 2] for i in range(len(fp))])
    plain = make_batch(fp, fa)
    return {"forget": Batch(plain.input_ids, plain.attention_mask, plain.labels, alt=alt), "forget_plain": plain,
            "retain": make_batch(rp, ra)}  # fmt: skip


@pytest.fixture(scope="session")
def memorised(batches) -> dict[str, nn.Module]:
    """arch -> a tiny model that has memorised the forget and retain answers (copy it before training)."""
    data = cat_batches(batches["forget_plain"], batches["retain"])
    return {arch: memorise(arch, data) for arch in ARCHS}


@pytest.fixture
def fresh(memorised):
    """``fresh(arch)``: an independent copy of the memorised model."""
    return lambda arch: copy.deepcopy(memorised[arch])
