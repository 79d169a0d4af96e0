"""Embed every photo of a dataset with a backbone into an xlsa17 features file beside att_splits.mat."""

import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import scipy.io
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from zsl_app.core import distributed
from zsl_app.core.backbones import Backbone, ResizeCrop, create_backbone

from .atomic import atomic_path
from .data.xlsa17 import DataError, dataset_dir
from .images import open_image
from .shards import (SHARD_PHOTOS, merge_shards, plan_shards, remove_shards, save_as_completed, shard_folder,
                     unsaved)

ExtractCallback = Callable[[int, int], None]  # progress(done, total) in photos
MAT_PREFIX = "CUB_200_2011/images/"  # image_files as in the published features files


class PhotoFolder(Dataset):
    """Photos decoded, resized and cropped by the backbone's recipe; runs inside DataLoader workers."""

    def __init__(self, paths: list[Path], transform: ResizeCrop):
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        # The recipe's step 1 exactly (no EXIF rotation), so rows match the published features.
        return self.transform.pixels(open_image(self.paths[i]).convert("RGB"))


class AugmentedPhotos(Dataset):
    """Training photos of a whole-network fine-tune with their labels, decoded every epoch: with `crop`, a
    random-resized crop (35-100% of the photo's area) at the recipe's size, else the recipe's centre crop;
    with `flip`, mirrored half the time; randomness from the DataLoader worker's seed."""

    def __init__(self, paths: list[Path], labels: np.ndarray, transform: ResizeCrop, *, flip: bool, crop: bool):
        from torchvision import transforms as T  # here, not at the top: --predict must not import torchvision

        self.paths, self.labels = paths, labels
        steps = [T.RandomResizedCrop(transform.crop, scale=(0.35, 1.0), interpolation=T.InterpolationMode.BICUBIC),
                 T.PILToTensor()] if crop else [transform.pixels]
        self.augment = T.Compose(steps + ([T.RandomHorizontalFlip()] if flip else []))  # (3, H, W) uint8

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.augment(open_image(self.paths[i]).convert("RGB")), int(self.labels[i])


def extract_features(images_root: str | os.PathLike, data_root: str | os.PathLike, dataset: str = "CUB",
                     backbone: str | Backbone = "effnet-lite2", batch_size: int = 32, workers: int = 2,
                     progress: ExtractCallback | None = None, shard_photos: int = SHARD_PHOTOS) -> Path:
    """Embed the photos listed in `<images_root>/images.txt`, in that order, and write
    `<data_root>/<dataset>/<backbone.features_name>.mat` atomically; returns its path.

    `images_root` is the extracted CUB_200_2011 folder (images.txt, images/<class>/<file>.jpg);
    `workers` processes decode and resize while the network runs. In a process group (torchrun) each rank
    embeds its shards of `shard_photos` photos and rank 0 writes the file (see storage.shards)."""
    if dataset.upper() != "CUB":
        raise DataError(f"extraction from photos supports CUB only (its images.txt layout); got {dataset!r}")
    images_root, folder = Path(images_root).expanduser(), dataset_dir(Path(data_root).expanduser(), dataset)
    files = read_images_txt(images_root)
    labels = class_labels(files, folder / "att_splits.mat")
    paths = [images_root / "images" / f for f in files]
    backbone = create_backbone(backbone) if isinstance(backbone, str) else backbone
    out = folder / f"{backbone.features_name}.mat"
    options = {"batch_size": batch_size, "workers": workers, "progress": progress}
    if distributed.is_distributed():
        features = embed_sharded(out, files, paths, backbone, shard_photos=shard_photos, images_root=images_root,
                                 **options)
    else:
        check_exist(paths, images_root)
        features = embed_files(paths, backbone, **options)
    if features is not None:  # None: a rank other than 0, whose shards rank 0 merges
        write_features(out, features, labels, [MAT_PREFIX + f for f in files], backbone.recipe)
        remove_shards(out)
    distributed.barrier()  # every rank returns once the file is there
    return out


def embed_sharded(out: Path, files: list[str], paths: list[Path], backbone: Backbone, *, shard_photos: int,
                  images_root: Path, batch_size: int, workers: int,
                  progress: ExtractCallback | None = None) -> np.ndarray | None:
    """This rank embeds its shards (every world-size-th) not saved yet, then rank 0 merges them all: the features
    (N, D) on rank 0, None on the others."""
    world = distributed.world()
    # Shards of whole batches: the network sees the same photos together as in a single-process run, so the
    # merged rows are that run's rows exactly.
    size = -(-shard_photos // batch_size) * batch_size
    shards, folder = plan_shards(files, backbone.recipe, size), shard_folder(out)
    todo = unsaved(folder, shards[world.rank::world.size])
    mine = [p for s in todo for p in paths[s.start:s.stop]]
    check_exist(mine, images_root)
    save_as_completed(folder, todo, embedded_batches(mine, backbone, batch_size=batch_size, workers=workers,
                                                     progress=progress))
    distributed.barrier()
    return merge_shards(folder, shards) if world.main else None


def read_images_txt(images_root: Path) -> list[str]:
    """Relative photo paths ("<class folder>/<file>.jpg") of CUB's images.txt, in image-id order."""
    path = images_root / "images.txt"
    if not path.is_file():
        raise DataError(f"missing {path}: expected the CUB_200_2011 folder (images.txt and images/), "
                        f"as extracted from CUB_200_2011.tgz")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            parts = line.split()
            if len(parts) != 2 or not parts[0].isdigit():
                raise DataError(f"{path} line {n}: expected '<image id> <class>/<file>.jpg', got {line!r}")
            rows.append((int(parts[0]), parts[1]))
    if not rows:
        raise DataError(f"{path} lists no photos")
    return [f for _, f in sorted(rows)]


def class_labels(files: list[str], att_splits: Path) -> np.ndarray:
    """1-based rows of att_splits.mat's allclasses_names, matched by class folder (not classes.txt order)."""
    if not att_splits.is_file():
        raise DataError(f"missing {att_splits}: the labels are indices into its allclasses_names; "
                        f"put the xlsa17 att_splits.mat of this dataset there")
    names = scipy.io.loadmat(att_splits, variable_names=["allclasses_names"]).get("allclasses_names")
    if names is None:
        raise DataError(f"{att_splits} has no allclasses_names")
    index = {str(np.asarray(n).reshape(-1)[0]).strip(): i + 1 for i, n in enumerate(names.reshape(-1))}
    classes = [f.split("/")[0] for f in files]
    unknown = sorted(set(classes) - index.keys())
    if unknown:
        raise DataError(f"class folders {unknown[:3]} are not in {att_splits} allclasses_names; "
                        f"is the photo folder from the same dataset?")
    return np.array([index[c] for c in classes], dtype=np.int64)


def check_exist(paths: list[Path], images_root: Path) -> None:
    """Fail before the long run, not after an hour of it."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{len(missing)} of the {len(paths)} photos listed in {images_root / 'images.txt'} "
                        f"are missing, e.g. {missing[0]}")


def embed_files(paths: list[Path], backbone: Backbone, *, batch_size: int = 32, workers: int = 2,
                progress: ExtractCallback | None = None) -> np.ndarray:
    """Photos -> (N, feature_dim) float32 in order; `workers` processes decode while the network runs."""
    features = np.empty((len(paths), backbone.feature_dim), dtype=np.float32)
    done = 0
    for rows in embedded_batches(paths, backbone, batch_size=batch_size, workers=workers, progress=progress):
        features[done:done + len(rows)] = rows
        done += len(rows)
    return features


def embedded_batches(paths: list[Path], backbone: Backbone, *, batch_size: int, workers: int,
                     progress: ExtractCallback | None = None) -> Iterator[np.ndarray]:
    """Photos -> (B, feature_dim) float32 features, batch by batch in order."""
    loader = DataLoader(PhotoFolder(paths, backbone.transform), batch_size=batch_size, num_workers=workers)
    done = 0
    for pixels in loader:  # (B, 3, H, W) uint8
        yield backbone.embed(backbone.transform.normalise(pixels)).numpy()
        done += len(pixels)
        if progress:
            progress(done, len(paths))


def write_features(path: Path, features: np.ndarray, labels: np.ndarray, image_files: list[str],
                   recipe: str) -> None:
    """An xlsa17 features file: features (D x N), labels (N x 1, 1-based), image_files, backbone."""
    files = np.empty((len(image_files), 1), dtype=object)  # an N x 1 cell array, as in res101.mat
    files[:, 0] = image_files
    content = {"features": features.T, "labels": labels.reshape(-1, 1).astype(np.float64),
               "image_files": files, "backbone": recipe}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        scipy.io.savemat(f, content, do_compression=True)


def tqdm_progress(desc: str = "extract") -> ExtractCallback:
    """A progress(done, total) callback drawing a tqdm bar on the terminal."""
    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="photo")
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update
