"""Load an xlsa17 benchmark: att_splits.mat plus a features file named after its backbone."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

DATASETS = ("APY", "AWA1", "AWA2", "CUB", "SUN")
SPLIT_KEYS = ("att", "original_att", "allclasses_names", "trainval_loc", "test_seen_loc", "test_unseen_loc")
FEATURE_KEYS = ("features", "labels")
# Features files in order of preference when the user names none.
FEATURE_PREFERENCE = ("res101", "effnetlite2")
# The original xlsa17 files carry no recipe; name the space they live in.
KNOWN_RECIPES = {"res101": "resnet101-caffe xlsa17 (Xian et al. 2018), 2048-d"}


class DataError(ValueError):
    """A data file is missing or not in the expected format."""


@dataclass
class Benchmark:
    """One dataset in one feature space; indices are 0-based rows of `features`."""

    name: str
    features_name: str  # e.g. "res101", "effnetlite2"
    feature_space: str  # the backbone recipe that produced the features
    class_names: list[str]  # (C,) in allclasses_names order
    attributes: np.ndarray  # (C, A) float32, rows L2-normalised
    original_attributes: np.ndarray  # (C, A) float32, the human scale (CUB: 0-100)
    features: np.ndarray  # (N, D) float32, unscaled
    labels: np.ndarray  # (N,) int64 class index
    trainval: np.ndarray
    test_seen: np.ndarray
    test_unseen: np.ndarray
    root: Path  # folder holding att_splits.mat

    @property
    def seen_classes(self) -> np.ndarray:
        return np.unique(self.labels[self.trainval])

    @property
    def unseen_classes(self) -> np.ndarray:
        return np.unique(self.labels[self.test_unseen])

    def class_list(self, filename: str) -> np.ndarray:
        """Class indices named in one of the split's `*classes*.txt` files."""
        path = self.root / filename
        if not path.is_file():
            raise DataError(f"missing class list {path}: expected one class name per line "
                            f"(part of the xlsa17 proposed split)")
        index = {name: i for i, name in enumerate(self.class_names)}
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        unknown = [n for n in names if n not in index]
        if unknown:
            raise DataError(f"{path} names classes absent from allclasses_names: {unknown[:3]}")
        return np.array(sorted(index[n] for n in names), dtype=np.int64)


def dataset_dir(root: Path, dataset: str) -> Path:
    """The folder of one dataset under the xlsa17 root, checked against the known names."""
    name = dataset.upper()
    if name not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    return Path(root) / name


def available_datasets(root: Path) -> list[str]:
    """Datasets under `root` that have att_splits.mat and at least one features file."""
    return [d for d in DATASETS if available_features(root, d)]


def available_features(root: Path, dataset: str) -> list[str]:
    """Names of the features files beside a dataset's att_splits.mat, preferred first."""
    folder = dataset_dir(root, dataset)
    if not (folder / "att_splits.mat").is_file():
        return []
    names = sorted(p.stem for p in folder.glob("*.mat") if p.stem not in ("att_splits", "sent_splits")
                   and not p.stem.startswith("binary"))
    return sorted(names, key=lambda n: (FEATURE_PREFERENCE.index(n) if n in FEATURE_PREFERENCE else 99, n))


def load_benchmark(root: Path, dataset: str, features: str | None = None) -> Benchmark:
    """Load `dataset` from the xlsa17 folder `root` with the named features (best available if None)."""
    folder = dataset_dir(root, dataset)
    splits = _load_mat(folder / "att_splits.mat", SPLIT_KEYS)
    features = features or _default_features(root, dataset)
    feats = _load_mat(folder / f"{features}.mat", FEATURE_KEYS)
    x = np.ascontiguousarray(np.asarray(feats["features"], dtype=np.float32).T)  # (N, D)
    labels = np.asarray(feats["labels"]).reshape(-1).astype(np.int64) - 1
    names = [_as_str(n) for n in np.asarray(splits["allclasses_names"]).reshape(-1)]
    att = np.asarray(splits["att"], dtype=np.float32).T  # (C, A)
    _check_consistency(folder / f"{features}.mat", x, labels, att, names)
    return Benchmark(
        name=folder.name, features_name=features, feature_space=_recipe(feats, features),
        class_names=names, attributes=_l2_normalise(att),
        original_attributes=np.asarray(splits["original_att"], dtype=np.float32).T,
        features=x, labels=labels, trainval=_locations(splits, "trainval_loc", len(x), folder),
        test_seen=_locations(splits, "test_seen_loc", len(x), folder),
        test_unseen=_locations(splits, "test_unseen_loc", len(x), folder), root=folder,
    )


def _default_features(root: Path, dataset: str) -> str:
    names = available_features(root, dataset)
    if not names:
        folder = dataset_dir(root, dataset)
        raise DataError(f"no features file for {folder.name}: expected {folder}/att_splits.mat and a "
                        f"features file such as {folder}/res101.mat or {folder}/effnetlite2.mat "
                        f"(run `python app.py --download xlsa17` or `--extract`)")
    return names[0]


def _load_mat(path: Path, keys: tuple[str, ...]) -> dict:
    if not path.is_file():
        raise DataError(f"missing file {path}: expected a MATLAB file with keys {', '.join(keys)}")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises several types for corrupt files
        raise DataError(f"cannot read {path} as a MATLAB .mat file ({err})") from err
    missing = [k for k in keys if k not in mat]
    if missing:
        raise DataError(f"{path} lacks keys {', '.join(missing)}; expected keys {', '.join(keys)}")
    return mat


def _check_consistency(path: Path, x: np.ndarray, labels: np.ndarray, att: np.ndarray, names: list) -> None:
    if att.shape[0] != len(names):
        raise DataError(f"att has {att.shape[0]} classes but allclasses_names has {len(names)}")
    if len(labels) != len(x):
        raise DataError(f"{path}: features has {len(x)} columns (images) but labels has {len(labels)} rows")
    if labels.min() < 0 or labels.max() >= len(names):
        raise DataError(f"{path}: labels must be 1-based indices into allclasses_names (1..{len(names)})")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: features contain NaN or infinite values")


def _locations(mat: dict, key: str, n_images: int, folder: Path) -> np.ndarray:
    loc = np.asarray(mat[key]).reshape(-1).astype(np.int64) - 1
    if loc.size and (loc.min() < 0 or loc.max() >= n_images):
        raise DataError(f"{folder}/att_splits.mat: {key} points outside the {n_images} feature rows; "
                        f"is the features file from the same dataset?")
    return loc


def _recipe(feats: dict, features: str) -> str:
    if "backbone" in feats:
        return _as_str(feats["backbone"])
    return KNOWN_RECIPES.get(features, f"unknown recipe ({features}.mat has no 'backbone' key)")


def _as_str(value) -> str:
    while isinstance(value, np.ndarray):
        value = value.reshape(-1)[0]
    return str(value).strip()


def _l2_normalise(att: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(att, axis=1, keepdims=True)
    return (att / np.maximum(norm, 1e-12)).astype(np.float32)
