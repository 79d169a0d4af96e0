"""The fine-tuned feature space, made honestly: a backbone adapted per stage on the photos that stage may see.

Validation fold k gets its own fine-tune on the fold's training photos (its seen classes, without
the photos held out as seen-validation), so its unseen classes and held-out photos stay unseen;
the final model's backbone is fine-tuned on trainval photos. No fine-tune reads a test photo."""

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zsl_app.core import distributed
from zsl_app.core.backbones import Backbone, create_backbone
from zsl_app.core.finetune import (FINETUNED_MARK, FinetuneConfig, Top, photo_features, round_to_half, top_features,
                                   train_top, train_top_on_photos)
from zsl_app.core.training import ProgressCallback
from zsl_app.storage.activations import CacheKey, as_tensor, cached_lower
from zsl_app.storage.data import Benchmark, DataError, load_benchmark, validation_split
from zsl_app.storage.data.xlsa17 import dataset_dir
from zsl_app.storage.extract import (MAT_PREFIX, AugmentedPhotos, check_exist, class_labels, embed_files,
                                     read_images_txt, write_features)
from zsl_app.storage.finetuned import MIRROR_MARK, finetuned_recipe, save_finetuned, tensors_sha256

from .stages import FINAL, FeaturesFor, Stage

@dataclass
class Photos:
    """A dataset's photos in the features file's row order, with the cached lower-stage activations."""

    files: list[str]  # "<class folder>/<file>.jpg", images.txt order
    labels: np.ndarray  # (N,) 0-based rows of allclasses_names
    maps: np.ndarray | None  # (views, N, C, H, W) float32, memory-mapped; None: a whole-network fine-tune
    #                          reads the photos themselves
    cut: int  # the block the cached maps enter
    folder: Path | None = None  # the photos: <folder>/<class folder>/<file>.jpg
    workers: int = 2  # photo-decoding processes when the photos themselves are read

    def paths(self, rows: np.ndarray | None = None) -> list[Path]:
        """The photo files of `rows` (all by default), in order."""
        return [self.folder / self.files[i] for i in (range(len(self.files)) if rows is None else rows)]


@dataclass
class Finetuned:
    """One fine-tune: its trained top and the features it gives every photo."""

    top: Top
    features: np.ndarray  # (N, feature_dim) float32 of the original (unflipped) photos
    recipe: str  # its feature space
    rows: np.ndarray  # the photos it was trained on


def finetune_base(name: str, config: FinetuneConfig, *, weights=None, device="cpu") -> Backbone:
    """The backbone a fine-tune starts from: `name` at the settings' input resolution."""
    return create_backbone(name, weights=weights, device=device, resolution=config.resolution)


def cut_of(base: Backbone, config: FinetuneConfig) -> int:
    """The first trained block: the start of the top `config.stages` stages (block 0 for the whole network)."""
    base.check_finetunable()
    return base.net.stage_starts[-config.stages if config.cached else 0]


def load_photos(images_root: Path, att_splits: Path, base: Backbone, cut: int, cache_dir: Path, *,
                views: int = 1, workers: int = 2, progress=None, cache: bool = True) -> Photos:
    """List the photos, label them from their class folders and cache the activations entering block `cut`
    of their first `views` views (1: the photos, 2: and their mirror images; `cache=False`: no cache, for a
    fine-tune that reads the photos themselves)."""
    files = read_images_txt(images_root)
    labels = class_labels(files, att_splits) - 1
    if not cache:
        photos = Photos(files, labels, None, cut, images_root / "images", workers)
        check_exist(photos.paths(), images_root)
        return photos
    key = CacheKey.of(base.recipe, cut, files)
    # Under torchrun one process per machine builds the cache; the machine's others then read it.
    maps = distributed.main_first(lambda: cached_lower(
        cache_dir, f"{att_splits.parent.name.lower()}-{base.features_name}-cut{cut}", key,
        [images_root / "images" / f for f in files], base, views=views, workers=workers, progress=progress),
        per_machine=True)
    return Photos(files, labels, maps, cut, images_root / "images", workers)


def write_base_features(folder: Path, photos: Photos, base: Backbone) -> Path:
    """The frozen backbone's features file `<folder>/<base.features_name>.mat`, computed from the cache
    (the frozen top over the cached maps, or the photos embedded): the same rows `--extract` would write."""
    out = folder / f"{base.features_name}.mat"
    features = (embed_files(photos.paths(), base, workers=photos.workers) if photos.maps is None
                else top_features(Top(base.net, photos.cut), photos.maps[0]))
    write_features(out, features, photos.labels + 1, [MAT_PREFIX + f for f in photos.files], base.recipe)
    return out


def check_rows_match(photos: Photos, bench: Benchmark) -> None:
    """The photos must be the benchmark's rows, in order: same count, same labels."""
    if len(photos.labels) != len(bench.labels) or not np.array_equal(photos.labels, bench.labels):
        raise DataError(f"the photo folder lists {len(photos.labels)} photos whose classes do not match the "
                        f"{len(bench.labels)} rows of {bench.root}/{bench.features_name}.mat; use the "
                        f"CUB_200_2011 folder those features were extracted from")


def finetune(photos: Photos, base: Backbone, rows: np.ndarray, config: FinetuneConfig, *, seed: int,
             callback: ProgressCallback | None = None, stage: str = "fine-tune") -> Finetuned:
    """Fine-tune the top of `base` on the photos `rows` (their classes are the softmax's), then embed every photo."""
    if config.resolution not in (None, base.resolution):
        raise ValueError(f"the fine-tune settings ask for a {config.resolution} px input; the base runs at "
                         f"{base.resolution} px (make it with finetune_base)")
    cut = cut_of(base, config)
    if photos.cut != cut:
        raise ValueError(f"the cached activations enter block {photos.cut}; {config.stages} trained stages "
                         f"start at block {cut}")
    if config.cached and photos.maps.shape[0] < config.views:
        raise ValueError(f"the fine-tune reads {config.views} views of each photo; the cache holds "
                         f"{photos.maps.shape[0]}")
    classes, labels = np.unique(photos.labels[rows], return_inverse=True)
    torch.manual_seed(seed)
    top, generator = Top(base.net, cut), torch.Generator().manual_seed(seed)
    if config.cached:
        maps = as_tensor(photos.maps, rows, config.trained_views)
        train_top(top, maps, torch.as_tensor(labels), len(classes), config, generator=generator, callback=callback,
                  stage=stage)
    else:
        shown = AugmentedPhotos(photos.paths(rows), labels, base.transform, flip=config.flip, crop=config.crop > 0)
        train_top_on_photos(top, shown, len(classes), config,
                            lower=lambda pixels: base.net.bottom(base.transform.normalise(pixels).to(base.device), cut),
                            generator=generator, workers=photos.workers, callback=callback, stage=stage)
    round_to_half(top)
    features = (photo_features(top, photos.maps, mirror=config.mirror) if config.cached
                else embed_files(photos.paths(), with_top(base, top, mirror=config.mirror), workers=photos.workers))
    return Finetuned(top, features, finetuned_recipe(base.recipe, cut, top.state(), mirror=config.mirror), rows)


def with_top(base: Backbone, top: Top, *, mirror: bool = False) -> Backbone:
    """`base` computing with the fine-tuned network (a shallow copy: `base` itself is unchanged), each photo's
    features averaged with its mirrored crop's when `mirror`."""
    tuned = copy.copy(base)
    tuned.net, tuned.mirror = top.net, mirror
    return tuned


def validation_bench(bench: Benchmark, photos: Photos, base: Backbone, config: FinetuneConfig, *, fold: int,
                     holdout: float, seed: int, callback: ProgressCallback | None = None) -> Benchmark:
    """The benchmark in the feature space of fold `fold`'s own fine-tune (its training photos only)."""
    split = validation_split(bench, fold, holdout, seed)
    tuned = finetune(photos, base, split.train, config, seed=seed, callback=callback, stage=f"fine-tune/fold {fold}")
    name = f"{bench.features_name}{FINETUNED_MARK}val{fold}"
    return dataclasses.replace(bench, features=tuned.features, features_name=name, feature_space=tuned.recipe)


def final_finetune(bench: Benchmark, photos: Photos, base: Backbone, config: FinetuneConfig, *, seed: int,
                   backbone_dir: Path, callback: ProgressCallback | None = None) -> Benchmark:
    """Fine-tune on trainval photos; save the backbone in `backbone_dir` and write its features file beside
    att_splits.mat, both named after the base and the trained tensors (e.g. effnetlite2-ft-1a2b3c4d, and
    effnetlite2-ft-1a2b3c4d-mirror with `mirror`)."""
    tuned = finetune(photos, base, bench.trainval, config, seed=seed, callback=callback, stage="fine-tune/final")
    name = f"{base.features_name}{FINETUNED_MARK}{tensors_sha256(tuned.top.state())[:8]}"
    name += MIRROR_MARK if config.mirror else ""
    info = {"features_name": name, "dataset": bench.name, "trained_on": "trainval_loc",
            "photos": int(len(tuned.rows)), "classes": int(len(np.unique(photos.labels[tuned.rows]))),
            "config": dataclasses.asdict(config), "seed": seed}
    if distributed.is_main():  # every rank holds the same result; one writes it
        save_finetuned(backbone_dir / f"{bench.name.lower()}-{name}", base, tuned.top.cut, tuned.top.state(), info,
                       mirror=config.mirror)
        write_features(bench.root / f"{name}.mat", tuned.features, photos.labels + 1,
                       [MAT_PREFIX + f for f in photos.files], tuned.recipe)
    return dataclasses.replace(bench, features=tuned.features, features_name=name, feature_space=tuned.recipe)


def finetuned_stages(bench: Benchmark, photos: Photos, base: Backbone, config: FinetuneConfig, *, final: Benchmark,
                     seed: int, holdout: float, callback: ProgressCallback | None = None) -> FeaturesFor:
    """features_for(stage) for the protocol: the final stage reads `final` (the trainval fine-tune's
    features); validation fold k its own fine-tune with the same settings, made when first asked."""
    folds: dict[int, Benchmark] = {}

    def features_for(stage: Stage) -> Benchmark:
        if stage == FINAL:
            return final
        if stage.fold not in folds:
            folds[stage.fold] = validation_bench(bench, photos, base, config, fold=stage.fold, holdout=holdout,
                                                 seed=seed, callback=callback)
        return folds[stage.fold]

    return features_for


@dataclass(frozen=True)
class PhotoRun:
    """Where a fine-tuned run reads its photos and keeps what it makes."""

    images_root: Path  # the CUB_200_2011 folder
    data_root: Path  # xlsa17 root: att_splits.mat in, features files out
    cache_dir: Path  # lower-stage activations
    backbone_dir: Path  # where the final fine-tune is saved
    workers: int = 2  # photo-decoding processes while the cache is built


def photo_bench(dataset: str, base: Backbone, config: FinetuneConfig, where: PhotoRun, *,
                extract_progress=None) -> tuple[Benchmark, Photos]:
    """The photos with their cached lower stages, and the benchmark in the frozen space (its features file
    written from the cache when missing)."""
    folder = dataset_dir(where.data_root, dataset)
    photos = load_photos(where.images_root, folder / "att_splits.mat", base, cut_of(base, config), where.cache_dir,
                         views=config.views, workers=where.workers, progress=extract_progress, cache=config.cached)

    def base_features():  # under torchrun one process per machine writes it; the others find it written
        if not (folder / f"{base.features_name}.mat").is_file():
            write_base_features(folder, photos, base)

    distributed.main_first(base_features, per_machine=True)
    bench = load_benchmark(where.data_root, dataset, base.features_name)
    check_rows_match(photos, bench)
    return bench, photos


def photo_stages(dataset: str, base: Backbone, config: FinetuneConfig, where: PhotoRun, *, seed: int,
                 holdout: float, callback: ProgressCallback | None = None, extract_progress=None) -> FeaturesFor:
    """The whole photo route for the protocol: photo_bench, the final fine-tune, then one per validation fold."""
    bench, photos = photo_bench(dataset, base, config, where, extract_progress=extract_progress)
    final = final_finetune(bench, photos, base, config, seed=seed, backbone_dir=where.backbone_dir, callback=callback)
    return finetuned_stages(bench, photos, base, config, final=final, seed=seed, holdout=holdout, callback=callback)


def refinetuned_folds(final: Benchmark, tuned_meta: dict, where: PhotoRun, *, seed: int, holdout: float,
                      callback: ProgressCallback | None = None, extract_progress=None) -> FeaturesFor:
    """For a features file made by a fine-tune: its validation folds need fine-tunes of their own (the file's
    backbone has seen every trainval photo), made with the settings it records."""
    config = FinetuneConfig.recorded(tuned_meta["config"])
    base = finetune_base(tuned_meta["base"], config)
    bench, photos = photo_bench(final.name, base, config, where, extract_progress=extract_progress)
    return finetuned_stages(bench, photos, base, config, final=final, seed=seed, holdout=holdout, callback=callback)
