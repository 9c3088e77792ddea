"""Switch a model to eval mode for a block and put every submodule back as it was, even when the block raises.

with eval_mode(model), torch.no_grad():
    logits = model(**batch.model_inputs()).logits
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[Any]:
    """``model.eval()`` inside the block; afterwards each submodule gets back its own ``training`` flag.

    Per submodule, not one ``model.train(was_training)``: a model whose parts were in different modes (a frozen
    part kept in eval while the rest trains) comes out exactly as it went in. Gradients are not touched; add
    ``torch.no_grad()`` where none are needed.
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        model.train(modes[0][1])  # through train(): a model that overrides it sees the switch back
        for m, training in modes:
            m.training = training  # then the parts that were in the other mode
