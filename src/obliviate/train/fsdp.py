"""FSDP on CPU processes (gloo): torch's FSDP2 ``fully_shard`` applied by the training loop itself.

accelerate 1.15 applies its FSDP plugin only to GPU-type processes. When the launch asks for FSDP
(``ACCELERATE_USE_FSDP``, which ``accelerate launch --config_file configs/accelerate/fsdp.yaml`` sets) and there is
no GPU, :func:`obliviate.train.loop.make_accelerator` starts the processes as gloo CPU processes and
:func:`obliviate.train.loop.train` trains a :class:`ShardedTwin` of the model instead of handing it to accelerate's
DDP wrapper: a copy with ``fully_shard`` applied to every transformer block (the model's ``_no_split_modules``,
as accelerate's ``TRANSFORMER_BASED_WRAP``) and then to the root. Its parameters, their gradients and AdamW's
moments are DTensor shards, 1/N per process; forward and backward all-gather the weights block by block and
reduce-scatter the gradients (their mean over processes, as DDP averages them).

The model the caller holds stays whole on every process and receives the trained weights (all-gathered) before
each callback, each checkpoint and at the end, so hooks, evaluation, ``save_pretrained`` and a LoRA reference (the
same model with adapters disabled) see an ordinary module. Checkpoints are written in the single-process format
(full trainable weights, the optimiser's state keyed by parameter index), so a run can be resumed sharded or not.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)


def requested() -> bool:
    """The launch asks for FSDP (accelerate's config or ``ACCELERATE_USE_FSDP=true``)."""
    from accelerate.utils import parse_flag_from_env

    return parse_flag_from_env("ACCELERATE_USE_FSDP")


def applies(acc: Any) -> bool:
    """FSDP was asked for and accelerate runs the processes as plain CPU data parallel: the loop shards."""
    from accelerate.utils import DistributedType

    return requested() and acc.distributed_type == DistributedType.MULTI_CPU


def _block_names(model: nn.Module) -> set[str]:
    """Class names of the transformer blocks (transformers' ``_no_split_modules``, found on a peft model too)."""
    for m in model.modules():
        names = getattr(m, "_no_split_modules", None)
        if names:
            return set(names)
    return set()


class ShardedTwin:
    """A copy of ``model`` sharded over the ``world`` processes of the default (gloo) process group.

    ``module`` is what trains (the method's loss gets it); :meth:`copy_to` / :meth:`copy_from` move weights
    between it and the whole model (collective: every process calls them at the same point).
    """

    def __init__(self, model: nn.Module, world: int) -> None:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import FSDPModule, fully_shard

        mesh = init_device_mesh("cpu", (world,))
        self.module = copy.deepcopy(model)  # hooks and requires_grad flags come along; sharding frees its tensors
        blocks = _block_names(model)
        for m in list(self.module.modules()):
            if type(m).__name__ in blocks:
                fully_shard(m, mesh=mesh)
        fully_shard(self.module, mesh=mesh)  # the root: embeddings, final norm, (tied) head
        sharded = sum(isinstance(m, FSDPModule) for m in self.module.modules()) - 1  # blocks, not the root
        params = list(self.module.parameters())
        local = sum(p.to_local().numel() for p in params)  # this process's shard: dim-0 rows split over processes
        log.info(
            "FSDP2 (fully_shard) on %d CPU processes: %d blocks + the root sharded; this process holds %d of %d "
            "parameter values", world, sharded, local, sum(p.numel() for p in params),
        )  # fmt: skip

    def gradient_sync(self, enabled: bool) -> None:
        """Reduce-scatter gradients on this backward (False: accumulate locally, as DDP's ``no_sync``)."""
        self.module.set_requires_gradient_sync(enabled)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """All-gather the trained weights into ``model`` (every process gets them)."""
        params = dict(model.named_parameters())
        for name, p in self.module.named_parameters():
            params[name].copy_(p.full_tensor() if hasattr(p, "full_tensor") else p)

    def copy_from(self, model: nn.Module) -> None:
        """Shard ``model``'s weights into the twin (after a checkpoint was loaded into ``model``)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(self.module, model.state_dict(), options=StateDictOptions(full_state_dict=True))

    def optimizer_state(self, optimizer: Any) -> dict[str, Any]:
        """The sharded optimiser's state gathered in the single-process format (collective; complete on rank 0)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        full = get_optimizer_state_dict(
            self.module, _inner(optimizer), options=StateDictOptions(full_state_dict=True, cpu_offload=True)
        )
        index = {name: i for i, name in enumerate(self._names())}
        groups = [{**g, "params": [index[n] for n in g["params"]]} for g in full.get("param_groups", [])]
        return {"state": {index[n]: s for n, s in full.get("state", {}).items()}, "param_groups": groups}

    def load_optimizer_state(self, optimizer: Any, state: dict[str, Any]) -> None:
        """Shard a single-process optimiser state into the sharded optimiser (every process passes the same)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        names = self._names()
        full = {
            "state": {names[int(i)]: s for i, s in state["state"].items()},
            "param_groups": [{**g, "params": [names[int(i)] for i in g["params"]]} for g in state["param_groups"]],
        }
        set_optimizer_state_dict(self.module, _inner(optimizer), full, options=StateDictOptions(full_state_dict=True))

    def _names(self) -> list[str]:
        # the optimiser's parameter order: trainable parameters as named_parameters() lists them (tied ones once)
        return [n for n, p in self.module.named_parameters() if p.requires_grad]


class OptimizerView:
    """The sharded optimiser as :mod:`obliviate.train.checkpoint` sees an optimiser: ``state_dict`` returns the
    state gathered beforehand (the gather is collective, the write is main-process only), ``load_state_dict``
    shards a single-process state."""

    def __init__(self, twin: ShardedTwin, optimizer: Any, state: dict[str, Any] | None = None) -> None:
        self.twin, self.optimizer, self.state = twin, optimizer, state

    def state_dict(self) -> dict[str, Any]:
        assert self.state is not None, "gather the state on every process first"
        return self.state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.twin.load_optimizer_state(self.optimizer, state)


def _inner(optimizer: Any) -> torch.optim.Optimizer:
    return getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer wraps the torch one
