"""Data order and multi-process training: one code path from a laptop to ``torchrun``.

Two things live here because the engine needs both on one machine too:

* :class:`ResumableBatchSampler` fixes the order in which training samples are seen as
  a pure function of ``(seed, position in the stream)``. The stream is the concatenation
  of per-epoch permutations, epoch ``e``'s permutation being drawn from
  ``numpy.random.default_rng([seed, e])``. A run resumed after ``k`` samples therefore
  sees exactly the batches an uninterrupted run would have seen next, whatever the
  batch size or number of processes.
* :class:`DistContext` says whether this process is one of several launched by
  ``torchrun`` (which sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``) and holds its rank.
  Under ``torchrun`` every rank takes a contiguous slice of the *global* batch, so
  ``world_size`` processes with per-rank batch ``B / world_size`` and averaged
  gradients (DistributedDataParallel) take the same step as one process with batch
  ``B``. Logging, the live plot and checkpoints happen on rank 0 only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


class ResumableBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Index batches for ``num_batches`` steps starting at sample position ``start``.

    Batch ``i`` holds this rank's share (a contiguous ``batch_size // world_size``
    slice) of stream positions ``start + i*batch_size ... + batch_size``. No sample is
    dropped at an epoch boundary: a batch may straddle two epochs.
    """

    def __init__(
        self,
        length: int,
        batch_size: int,
        seed: int,
        start: int = 0,
        num_batches: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        if length <= 0:
            raise ValueError(f"the training set is empty (length {length})")
        if batch_size <= 0 or batch_size % world_size:
            raise ValueError(
                f"the global batch size {batch_size} must be a positive multiple of the "
                f"number of processes {world_size}"
            )
        self.length, self.batch_size, self.seed = length, batch_size, seed
        self.start, self.num_batches = start, num_batches
        self.rank, self.world_size, self.shuffle = rank, world_size, shuffle
        self._perm_epoch = -1
        self._perm = np.arange(length)

    def permutation(self, epoch: int) -> np.ndarray:
        """The order of the data set in ``epoch`` (cached for the current epoch)."""
        if not self.shuffle:
            return np.arange(self.length)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.length)
            self._perm_epoch = epoch
        return self._perm

    def global_batch(self, position: int) -> list[int]:
        """Data set indices at stream positions ``position ... position + batch_size``."""
        out = []
        for q in range(position, position + self.batch_size):
            out.append(int(self.permutation(q // self.length)[q % self.length]))
        return out

    def __iter__(self) -> Iterator[list[int]]:
        per_rank = self.batch_size // self.world_size
        for i in range(self.num_batches):
            batch = self.global_batch(self.start + i * self.batch_size)
            yield batch[self.rank * per_rank:(self.rank + 1) * per_rank]

    def __len__(self) -> int:
        return self.num_batches


@dataclass(frozen=True)
class DistContext:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (or an equivalent launcher) started several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device_type: str) -> DistContext:
    """Join the process group when launched with several processes; else a 1-process context.

    NCCL on CUDA, gloo on CPU. An already initialised group (e.g. created by a test or
    the caller) is reused as is.
    """
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(),
                           int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    if not launched_by_torchrun():
        return DistContext()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    backend = "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl":  # one GPU per process, chosen before NCCL creates its communicators
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def wrap(module: nn.Module, ctx: DistContext, device: torch.device) -> nn.Module:
    """Wrap ``module`` in DistributedDataParallel when there are several processes.

    ``find_unused_parameters=True`` because one wrapper serves two different passes:
    the discriminator step does not touch the generator's parameters (and a generator
    step may leave some discriminator unused), which plain DDP would wait for forever.
    """
    if not ctx.enabled:
        return module
    ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


def all_mean(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Mean of ``values`` over all ranks (identity in one process)."""
    if not ctx.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / ctx.world_size


def gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """``obj`` from every rank, in rank order (a one-item list in one process).

    Uses ``all_gather_object`` (in-memory transfer between this job's own processes;
    nothing gathered here is ever written with pickle).
    """
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op in one process)."""
    if ctx.enabled:
        dist.barrier()
