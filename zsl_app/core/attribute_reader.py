"""Reading a class's attributes in one photo's features: ridge regression trained on seen-class photos."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AttributeReader:
    """Standardised features -> a linear map -> the attributes of the photo's class, on the dataset's scale."""

    mean: np.ndarray  # (D,) of the training features
    std: np.ndarray  # (D,)
    weight: np.ndarray  # (D, A)
    bias: np.ndarray  # (A,) the mean training target
    low: float  # the dataset's scale: readings are clipped to it
    high: float

    def read(self, features: np.ndarray) -> np.ndarray:
        """Raw features (N, D) -> attributes (N, A) on the dataset's scale."""
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.std
        return np.clip(z @ self.weight + self.bias, self.low, self.high).astype(np.float32)


def fit_readers(features: np.ndarray, targets: np.ndarray, penalties: Sequence[float], *, low: float,
                high: float) -> list[AttributeReader]:
    """One ridge reader per penalty, from features (N, D) and each photo's class attributes (N, A); the
    penalties share one eigendecomposition of the (D, D) Gram matrix."""
    x = np.asarray(features, dtype=np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6  # +eps: a feature constant over the training photos
    z = (x - mean) / std
    y = np.asarray(targets, dtype=np.float64)
    bias = y.mean(axis=0)
    eigenvalues, vectors = np.linalg.eigh(z.T @ z)
    projected = vectors.T @ (z.T @ (y - bias))  # (D, A)
    return [AttributeReader(mean, std, vectors @ (projected / (eigenvalues + penalty)[:, None]), bias, low, high)
            for penalty in penalties]


def row_correlations(read: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of `read` (N, A) with the same row of `truth` (N, A) -> (N,)."""
    a = read - read.mean(axis=1, keepdims=True)
    b = truth - truth.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)
