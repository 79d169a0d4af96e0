"""A features file made in shards: under torchrun each process embeds its share of the photo list into shard
files, and rank 0 merges them, in the list's order, into the one features file.

A shard is written atomically and records what it holds (its rows, the backbone recipe, the hash of its
photos), so a process killed mid-run loses only the shard it was writing: on restart, finished shards are
kept and a shard made from other photos or by another backbone is redone, never merged."""

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from .atomic import atomic_path
from .data.xlsa17 import DataError

FORMAT = "zsl-app-features-shard/1"
# Photos per shard file: the most a rerun redoes for a killed process; small enough that CUB's 11,788 photos
# make 47 shards, shared evenly by up to 8 processes (ImageNet-21K: ~55K files of 1.3 MB)
SHARD_PHOTOS = 256


@dataclass(frozen=True)
class Shard:
    """Rows start..stop of the photo list, and what makes their features: sha256 of recipe and photos."""

    start: int
    stop: int
    key: str

    def metadata(self) -> dict[str, str]:
        return {"format": FORMAT, "start": str(self.start), "stop": str(self.stop), "key": self.key}


def plan_shards(files: list[str], recipe: str, size: int) -> list[Shard]:
    """The photo list cut into shards of `size` photos (the last one shorter)."""
    return [Shard(start, min(start + size, len(files)),
                  hashlib.sha256("\n".join([recipe, *files[start:start + size]]).encode()).hexdigest())
            for start in range(0, len(files), size)]


def shard_folder(out: Path) -> Path:
    """Where the shards of features file `out` wait for their merge: a hidden folder beside it."""
    return out.with_name(f".{out.stem}.shards")


def shard_path(folder: Path, shard: Shard) -> Path:
    return folder / f"{shard.start:09d}-{shard.stop:09d}.safetensors"


def load_shard(folder: Path, shard: Shard) -> np.ndarray | None:
    """The shard's features when its file holds exactly them; None when absent, unreadable or made otherwise."""
    path = shard_path(folder, shard)
    if not path.is_file():
        return None
    try:
        with safe_open(path, "np") as f:
            if f.metadata() != shard.metadata():
                return None
            rows = f.get_tensor("features")
    except (SafetensorError, OSError, KeyError):
        return None
    return rows if len(rows) == shard.stop - shard.start else None


def save_shard(folder: Path, shard: Shard, rows: np.ndarray) -> None:
    with atomic_path(shard_path(folder, shard)) as tmp:
        save_file({"features": np.ascontiguousarray(rows)}, tmp, metadata=shard.metadata())


def unsaved(folder: Path, shards: list[Shard]) -> list[Shard]:
    """The shards without a valid file: the work left."""
    return [shard for shard in shards if load_shard(folder, shard) is None]


def save_as_completed(folder: Path, shards: list[Shard], batches: Iterable[np.ndarray]) -> None:
    """Cut the features of the shards' photos, arriving in order batch by batch, into the shards; each is saved as
    soon as its last row arrives, so a process killed later keeps it."""
    pending, held = list(shards), []
    for batch in batches:
        held.append(batch)
        while pending and sum(map(len, held)) >= pending[0].stop - pending[0].start:
            rows, shard = np.concatenate(held), pending.pop(0)
            save_shard(folder, shard, rows[:shard.stop - shard.start])
            held = [rows[shard.stop - shard.start:]]


def merge_shards(folder: Path, shards: list[Shard]) -> np.ndarray:
    """Every shard's features, in order; a missing shard is an error that names it."""
    parts = []
    for shard in shards:
        rows = load_shard(folder, shard)
        if rows is None:
            raise DataError(f"{shard_path(folder, shard)} is missing or holds other photos after every process "
                            f"finished; on several machines the data root must be one folder they all share "
                            f"(e.g. NFS). Run the same command again: finished shards are kept")
        parts.append(rows)
    return np.concatenate(parts)


def remove_shards(out: Path) -> None:
    """Once the features file is written its shards are spent."""
    shutil.rmtree(shard_folder(out), ignore_errors=True)
