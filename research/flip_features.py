"""Features that average a photo and its mirror image: a candidate for the fine-tuned feature space.

`finetune_validate.py --features-of flip-mean` makes each fold fine-tune as shipped, then gives every photo the
mean of the fine-tuned top's features of its crop and of the crop mirrored left to right (the photo's lower
stages run on the mirrored crop too: a second activation cache, built here once). The heads then train and are
scored on those features, so seen and unseen photos alike are described by both views; in the app it would
cost a second pass of the backbone per photo.

    python research/flip_features.py --images PATH/CUB_200_2011 --cache-dir CACHE

builds the mirrored cache beside the shipped one (`<cache name>-mirrored.npy`, shape (N, C, H, W)); a
validation run started before it is ready waits for it once its fine-tune is done."""

import argparse
import contextlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zsl_app.core.finetune import FinetuneConfig, top_features  # noqa: E402
from zsl_app.protocol import finetune as protocol_finetune  # noqa: E402
from zsl_app.protocol.finetune import cut_of, finetune_base  # noqa: E402
from zsl_app.storage.activations import CacheKey, cache_paths  # noqa: E402
from zsl_app.storage.atomic import atomic_path, write_text_atomic  # noqa: E402
from zsl_app.storage.extract import PhotoFolder, read_images_txt  # noqa: E402

FEATURES_OF = ("original", "flip-mean")
MIRROR_NOTE = " + mean with the mirrored crop"  # appended to a fine-tune's recipe when its features average both


def mirrored_name(dataset: str, base, cut: int) -> str:
    """The mirrored cache's name beside the shipped cache's `<dataset>-<features name>-cut<cut>`."""
    return f"{dataset}-{base.features_name}-cut{cut}-mirrored"


def mirrored_cache(images: Path, config: FinetuneConfig, cache_dir: Path, *, build: bool = True, workers: int = 2,
                   batch_size: int = 32) -> np.ndarray:
    """The activations entering the fine-tune's first trained block of every photo's mirrored crop (images.txt
    order), memory-mapped; built and written atomically when absent or made from other photos or weights, or
    (build=False) waited for while another process builds it."""
    base = finetune_base("effnet-lite2", config)
    cut, files = cut_of(base, config), read_images_txt(images)
    key = asdict(CacheKey.of(base.recipe, cut, files))
    array_path, meta_path = cache_paths(cache_dir, mirrored_name("cub", base, cut))
    while not build and not meta_path.is_file():
        time.sleep(30)
    if meta_path.is_file() and json.loads(meta_path.read_text())["key"] == key:
        return np.load(array_path, mmap_mode="r")
    if not build:
        raise ValueError(f"{meta_path} was made from other photos or weights; rebuild it with flip_features.py")
    loader = DataLoader(PhotoFolder([images / "images" / f for f in files], base.transform), batch_size=batch_size,
                        num_workers=workers)
    started, done, out = time.perf_counter(), 0, None
    with atomic_path(array_path) as tmp:
        for pixels in loader:
            maps = base.embed_lower(base.transform.normalise(pixels.flip(-1)), cut).numpy()
            if out is None:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(files), *maps.shape[1:]))
            out[done:done + len(maps)] = maps
            done += len(maps)
            print(f"mirrored {done}/{len(files)} in {time.perf_counter() - started:.0f} s", flush=True)
        out.flush()
        del out
    write_text_atomic(meta_path, json.dumps({"key": key, "view": "mirrored crop", "shape": [len(files), *maps.shape[1:]]}))
    return np.load(array_path, mmap_mode="r")


@contextlib.contextmanager
def flip_mean(load_mirrored):
    """While open, a fine-tune's features of every photo are the mean of its crop's and its mirrored crop's
    (`load_mirrored()` gives the mirrored cache when the fine-tune is done); yields a dict that then holds the
    crop's own features under "original"."""
    made = {}

    def features(top, maps):
        mirrored = load_mirrored()
        if len(maps) != len(mirrored):
            raise ValueError(f"{len(maps)} photos' maps; the mirrored cache holds {len(mirrored)}")
        made["original"] = top_features(top, maps)
        return (made["original"] + top_features(top, mirrored)) / 2

    with mock.patch.object(protocol_finetune, "top_features", features):
        yield made


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="the CUB_200_2011 folder")
    p.add_argument("--cache-dir", required=True, help="the activation cache folder")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    mirrored_cache(Path(args.images), FinetuneConfig(), Path(args.cache_dir))


if __name__ == "__main__":
    main()
