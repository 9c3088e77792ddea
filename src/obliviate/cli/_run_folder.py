"""What ``obliviate eval`` and ``obliviate certify`` take from a run folder given as ``--model``.

One rule for both commands: a folder holding ``model/`` (an ``obliviate unlearn`` run), or that ``model/`` folder
itself, evaluates that model, writes into the run folder, and reads the run's ``config.yaml`` for what the user
did not pass: the forget / retain / holdout data (``data.*``), the original model (``model.path``), and the
tokenisation (``data.max_length``, ``data.chat_template``). Flags always override. A folder with only ``adapter/``
is refused: both commands need a full model (``lora.output=merged``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from obliviate.errors import ObliviateError


@dataclass
class Target:
    """The model to evaluate, where its outputs go, and the run config (``{}`` when not a run folder)."""

    model: str
    out: Path
    run_config: dict[str, Any] = field(default_factory=dict)

    def data(self, key: str) -> Any:
        """``data.<key>`` of the run config (None when absent)."""
        return (self.run_config.get("data") or {}).get(key)

    @property
    def original(self) -> str | None:
        """The model the run started from (``model.path``)."""
        return (self.run_config.get("model") or {}).get("path")


def _read_config(run: Path) -> dict[str, Any]:
    path = run / "config.yaml"
    if not path.is_file():
        return {}
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ObliviateError(f"cannot read {path}: {e}") from None
    return cfg if isinstance(cfg, dict) else {}


def resolve(model: str, out: str | None, command: str) -> Target:
    """The :class:`Target` of ``--model`` / ``--out`` for ``command`` (``eval`` or ``certify``).

    Raises:
        ObliviateError: a run folder that holds only a LoRA adapter.
    """
    p = Path(model)
    run: Path | None = None
    if (p / "model").is_dir():
        run, model = p, str(p / "model")
    elif p.name == "model" and (p.parent / "config.yaml").is_file():
        run = p.parent
    elif (p / "adapter").is_dir():
        raise ObliviateError(
            f"{model} holds only a LoRA adapter; {command} needs a full model: rerun with lora.output=merged"
        )
    if run is not None:
        return Target(model, Path(out) if out else run, _read_config(run))
    default = Path("runs") / command / re.sub(r"[^\w.-]+", "_", model).strip("_")
    return Target(model, Path(out) if out else default)
