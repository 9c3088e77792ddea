"""eval_mode switches every submodule to eval for the block and restores each one's own flag, also on errors."""

from __future__ import annotations

import pytest
from torch import nn

from obliviate.utils.modes import eval_mode


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 1)))


def _flags(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


@pytest.mark.parametrize("start", [True, False])
def test_eval_inside_and_restored_after(start):
    model = _model().train(start)
    with eval_mode(model) as inside:
        assert inside is model and not any(_flags(model))
    assert _flags(model) == [start] * len(_flags(model))


def test_restored_when_the_block_raises():
    model = _model().train()
    with pytest.raises(RuntimeError, match="boom"), eval_mode(model):
        assert not any(_flags(model))
        raise RuntimeError("boom")
    assert all(_flags(model))


def test_mixed_modes_come_back_per_submodule():
    model = _model().train()
    model[2].eval()  # a frozen part kept in eval while the rest trains
    before = _flags(model)
    assert any(before) and not all(before)
    with eval_mode(model):
        assert not any(_flags(model))
    assert _flags(model) == before


def test_nested_blocks_restore_in_order():
    model = _model().train()
    with eval_mode(model):
        with eval_mode(model[2]):
            assert not any(_flags(model))
        assert not any(_flags(model))  # the inner block restored its own (eval) state
    assert all(_flags(model))
