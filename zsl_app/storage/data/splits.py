"""Pure functions that turn a benchmark into train / evaluation splits, and feature scaling."""

from dataclasses import dataclass

import numpy as np

from .xlsa17 import Benchmark, DataError


@dataclass(frozen=True)
class Split:
    """Row indices for fitting and for GZSL evaluation, with the class sets they imply."""

    name: str  # "test" or "val<K>"
    train: np.ndarray  # rows the head and classifier are fitted on
    eval_seen: np.ndarray  # rows of seen classes held out for S
    eval_unseen: np.ndarray  # rows of unseen classes for U and ZSL
    seen_classes: np.ndarray  # class indices with training images
    unseen_classes: np.ndarray  # class indices known only by their attributes


def proposed_split(bench: Benchmark) -> Split:
    """The proposed split: fit on trainval, evaluate on test_seen and test_unseen."""
    return Split("test", bench.trainval, bench.test_seen, bench.test_unseen,
                 bench.seen_classes, bench.unseen_classes)


def validation_split(bench: Benchmark, fold: int = 1, holdout: float = 0.2, seed: int = 0) -> Split:
    """A class-disjoint split inside trainval: valclassesK play unseen, a share of each trainclassesK
    class's images plays seen-validation. Test images are never touched."""
    train_classes = bench.class_list(f"trainclasses{fold}.txt")
    val_classes = bench.class_list(f"valclasses{fold}.txt")
    trainval_classes = set(bench.labels[bench.trainval].tolist())
    if not set(train_classes) | set(val_classes) <= trainval_classes or set(train_classes) & set(val_classes):
        raise DataError(f"fold {fold} of {bench.name}: train and val classes must be disjoint parts of trainval")
    rows = bench.trainval
    labels = bench.labels[rows]
    fit, held = _holdout_per_class(rows[np.isin(labels, train_classes)], bench.labels, holdout, seed)
    unseen_rows = rows[np.isin(labels, val_classes)]
    return Split(f"val{fold}", fit, held, unseen_rows, train_classes, val_classes)


def _holdout_per_class(rows: np.ndarray, labels: np.ndarray, share: float, seed: int):
    """Hold out `share` of each class's rows (at least one), reproducibly."""
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for c in np.unique(labels[rows]):
        members = rng.permutation(rows[labels[rows] == c])
        n_held = max(1, int(round(share * len(members))))
        held.append(members[:n_held])
        fit.append(members[n_held:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(held))


@dataclass
class MinMaxScaler:
    """Per-dimension min-max scaling with statistics of the training features (reference code)."""

    low: np.ndarray  # (D,)
    high: np.ndarray  # (D,)

    @classmethod
    def fit(cls, x: np.ndarray) -> "MinMaxScaler":
        return cls(x.min(axis=0).astype(np.float32), x.max(axis=0).astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        span = np.maximum(self.high - self.low, 1e-8)
        return ((x - self.low) / span).astype(np.float32)
