"""torch.distributed as torchrun launches it: who this process is, one process group, a global batch split by rank.

Every rank runs the same program. Where work is split (photo shards, DDP batches) each rank takes its part;
everything else runs identically on every rank from the same seed. Outside torchrun (no process group)
every function here answers as the only process of a world of one."""

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

T = TypeVar("T")
# Ranks wait at barriers while rank 0 builds a cache or merges shards: hours on a CPU. A dead rank is
# noticed by torchrun, which stops the others; this timeout only bounds a rank that hangs.
TIMEOUT = timedelta(hours=6)


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one job."""

    rank: int = 0  # 0 .. size - 1, over every machine
    size: int = 1
    local_rank: int = 0  # on this machine: which GPU it takes

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """Started by torchrun (or anything that sets its environment)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def is_distributed() -> bool:
    """In a process group: work is shared between ranks."""
    return dist.is_initialized()


def world() -> World:
    """This process's World: from the process group when there is one, else a world of one."""
    if not dist.is_initialized():
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def is_main() -> bool:
    """Rank 0 alone writes final files and talks to the user."""
    return world().main


def local_device(device: str) -> str:
    """Under torchrun each process of a machine takes its own GPU: "cuda" -> "cuda:<LOCAL_RANK>"."""
    if device == "cuda" and launched():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return device


@contextmanager
def process_group(device: str = "cpu"):
    """Under torchrun: join the job's process group (NCCL for a CUDA device, else gloo) and leave it at the end.
    Otherwise nothing happens. Yields this process's World."""
    if not launched() or dist.is_initialized():
        yield world()
        return
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(torch.device(device))  # NCCL's collectives run on the current device
    dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT,
                            device_id=torch.device(device) if cuda else None)
    try:
        yield world()
    finally:
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (nothing to wait for in a world of one)."""
    if dist.is_initialized():
        dist.barrier()


def main_first(make: Callable[[], T], *, per_machine: bool = False) -> T:
    """Rank 0 (with per_machine, each machine's first process) runs `make` while the others wait, then they run
    it too: it builds what is missing (a cache, a file) and they find it built."""
    w = world()
    first = (w.local_rank if per_machine else w.rank) == 0
    if not first:
        barrier()
    made = make()
    if first:
        barrier()
    return made


def batch_part(n: int) -> tuple[slice, float]:
    """This rank's rows of a global batch of n, and the weight of its mean loss under which DDP's gradient
    average is the gradient of the global batch's mean loss (1.0 and every row in a world of one)."""
    w = world()
    if n < w.size:
        raise ValueError(f"a batch of {n} examples cannot be split across {w.size} processes; use a larger batch "
                         f"or fewer processes")
    start, stop = n * w.rank // w.size, n * (w.rank + 1) // w.size
    return slice(start, stop), w.size * (stop - start) / n


def data_parallel(module: nn.Module) -> nn.Module:
    """DistributedDataParallel around `module` when there are several ranks (it averages gradients in
    backward), `module` itself otherwise."""
    if world().size == 1:
        return module
    device = next(module.parameters()).device
    return DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None)
