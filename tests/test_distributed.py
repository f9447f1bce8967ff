"""Data order and DistributedDataParallel training (2 gloo processes on CPU).

The DDP model is the test-only ``Tiny`` (no BatchNorm: with BatchNorm each rank would
normalise with its own half-batch statistics and the run could not match a
single-process one). It has a discriminator, so the two-optimiser pattern is covered.
"""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file
from test_train import Tiny, tiny_data

from survey_lib.distributed import ResumableBatchSampler
from survey_lib.train import train


def test_every_epoch_is_a_permutation_fixed_by_seed_and_epoch():
    s = ResumableBatchSampler(10, batch_size=5, seed=3, num_batches=6)
    batches = list(s)
    epochs = [sum(batches[i:i + 2], []) for i in (0, 2, 4)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    assert epochs[1] == np.random.default_rng([3, 1]).permutation(10).tolist()
    assert list(ResumableBatchSampler(10, 5, seed=4, num_batches=2)) != batches[:2]


def test_resuming_mid_stream_gives_the_remaining_batches_even_across_epochs():
    full = list(ResumableBatchSampler(7, batch_size=3, seed=0, num_batches=8))
    tail = list(ResumableBatchSampler(7, batch_size=3, seed=0, start=3 * 3, num_batches=5))
    assert tail == full[3:]
    assert len(full[2]) == 3  # positions 6, 7, 8 straddle the first epoch boundary


def test_ranks_split_the_global_batch():
    one = list(ResumableBatchSampler(20, batch_size=6, seed=1, num_batches=5))
    parts = [list(ResumableBatchSampler(20, 6, seed=1, num_batches=5, rank=r, world_size=3)) for r in range(3)]
    for i, batch in enumerate(one):
        assert sum((p[i] for p in parts), []) == batch
    with pytest.raises(ValueError, match="multiple of the number of processes 4"):
        ResumableBatchSampler(20, batch_size=6, seed=1, world_size=4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STEPS, BATCH = 3, 8


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    """One rank, started the way torchrun starts it: only environment variables set;
    ``train`` itself joins the (gloo, CPU) process group."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        method = Tiny(adversarial=True)
        result = train(method, tiny_data(16), steps=STEPS, batch_size=BATCH, live=False, device="cpu",
                       seed=1, out_dir=os.path.join(out, "ckpt"))
        save_file({k: v.contiguous() for k, v in method.state_dict().items()},
                  os.path.join(out, f"rank{rank}.safetensors"))
        with open(os.path.join(out, f"rank{rank}.txt"), "w") as fh:
            fh.write(f"{result.history['total'][-1]!r} {result.checkpoint}")
        assert dist.get_backend() == "gloo" and dist.get_world_size() == world
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1)]
    for key in ranks[0]:  # DDP: gradients averaged, so both ranks take identical steps
        assert torch.equal(ranks[0][key], ranks[1][key]), key

    torch.manual_seed(0)
    single = Tiny(adversarial=True)
    result = train(single, tiny_data(16), steps=STEPS, batch_size=BATCH, live=False, device="cpu", seed=1)
    for key, value in single.state_dict().items():
        torch.testing.assert_close(ranks[0][key], value, rtol=0, atol=1e-5, msg=key)
    # logged losses are averaged over ranks: the mean over the global batch
    rank0_total, ckpt = (tmp_path / "rank0.txt").read_text().split()
    assert float(rank0_total) == pytest.approx(result.history["total"][-1], rel=1e-5)
    # only rank 0 wrote a checkpoint; every rank knows where it is
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["latest.json", f"step_{STEPS:08d}"]
    assert (tmp_path / "rank1.txt").read_text().split()[1] == ckpt
    saved = load_file(str(tmp_path / "ckpt" / f"step_{STEPS:08d}" / "model.safetensors"))
    assert all(torch.equal(saved[k], ranks[0][k]) for k in saved)
