"""Activations of a backbone's frozen lower stages for every photo, computed once and kept on disk.

A fine-tune trains only the top stages, so the lower ones run once per photo (and once per flipped
copy, only when the fine-tune trains on mirror images) instead of once per epoch. The cache is a float32
.npy of shape (views, N, C, H, W), memory-mapped when read, with a JSON beside it saying which backbone,
cut and photos produced it."""

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from .atomic import atomic_path, write_text_atomic
from .data.xlsa17 import DataError
from .extract import PhotoFolder

FORMAT = "zsl-app-activations/1"
VIEWS = ("original", "flipped")  # view 1 is the horizontally flipped crop: the fine-tune's flip augmentation


@dataclass(frozen=True)
class CacheKey:
    """What makes two caches interchangeable."""

    recipe: str  # the backbone's feature-space recipe (weights, preprocessing)
    cut: int  # index of the first block NOT in the cached part
    photos: str  # sha256 of the photo list, in order

    @classmethod
    def of(cls, recipe: str, cut: int, files: list[str]) -> "CacheKey":
        return cls(recipe, cut, hashlib.sha256("\n".join(files).encode()).hexdigest())


def cache_paths(folder: Path, name: str) -> tuple[Path, Path]:
    """(array, metadata) paths of a cache called `name` in `folder`."""
    return folder / f"{name}.npy", folder / f"{name}.json"


def load_cache(folder: Path, name: str, key: CacheKey, views: int = len(VIEWS)) -> np.ndarray | None:
    """The cached (views, N, C, H, W) activations, memory-mapped, or None when absent, made otherwise or
    holding fewer than the first `views` of VIEWS."""
    array_path, meta_path = cache_paths(folder, name)
    if not (array_path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if meta.get("format") != FORMAT or meta.get("key") != asdict(key):
        return None
    array = np.load(array_path, mmap_mode="r")
    if array.shape != tuple(meta["shape"]) or array.shape[0] < views:
        return None
    return array


def build_cache(folder: Path, name: str, key: CacheKey, paths: list[Path], backbone, *, views: int = len(VIEWS),
                batch_size: int = 32, workers: int = 2,
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Run the lower part of `backbone` (blocks before `key.cut`) on every photo (views=1), or on every photo
    and its mirror image (views=2); write the cache atomically and return it memory-mapped."""
    if views not in range(1, len(VIEWS) + 1):
        raise ValueError(f"a cache holds 1 to {len(VIEWS)} views {VIEWS}; got {views}")
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{len(missing)} of {len(paths)} photos are missing, e.g. {missing[0]}")
    array_path, meta_path = cache_paths(folder, name)
    loader = DataLoader(PhotoFolder(paths, backbone.transform), batch_size=batch_size, num_workers=workers)
    shape = None
    with atomic_path(array_path) as tmp:
        out = None
        done = 0
        for pixels in loader:  # (B, 3, H, W) uint8
            for view, batch in enumerate((pixels, pixels.flip(-1))[:views]):
                maps = backbone.embed_lower(backbone.transform.normalise(batch), key.cut).numpy()
                if out is None:
                    shape = (views, len(paths), *maps.shape[1:])
                    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
                out[view, done:done + len(batch)] = maps
            done += len(pixels)
            if progress:
                progress(done, len(paths))
        out.flush()
        del out
    write_text_atomic(meta_path, json.dumps({"format": FORMAT, "key": asdict(key), "shape": list(shape),
                                             "views": list(VIEWS[:views])}, indent=1))
    return np.load(array_path, mmap_mode="r")


def cached_lower(folder: Path, name: str, key: CacheKey, paths: list[Path], backbone, *, views: int = len(VIEWS),
                 **options) -> np.ndarray:
    """The cache when it matches `key` and holds the first `views` views, else a new one with those views."""
    found = load_cache(folder, name, key, views)
    return found if found is not None else build_cache(folder, name, key, paths, backbone, views=views, **options)


def as_tensor(array: np.ndarray, rows: np.ndarray, views: int = len(VIEWS)) -> torch.Tensor:
    """Rows of a cache's first `views` views -> a float32 tensor (views, len(rows), ...) in memory."""
    return torch.from_numpy(np.ascontiguousarray(array[:views, rows]))
