"""The dataset's own attribute scale (CUB: percentages 0-100) and how it maps to the model's L2-normalised rows."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HumanScale:
    """The scale people type and read attributes on, and how it maps to L2-normalised rows."""

    low: float  # smallest valid value (0 for CUB)
    high: float  # largest valid value (100 for CUB)
    typical_norm: float  # median L2 norm of a dataset class: turns a normalised row into plausible values

    def to_model(self, human: np.ndarray) -> np.ndarray:
        """Human scale -> the model's space (row L2-normalised, as att_splits `att`)."""
        return (human / np.linalg.norm(human)).astype(np.float32)


def human_scale_meta(original_attributes: np.ndarray, class_rows: Sequence[int]) -> dict:
    """Checkpoint metadata that maps the model's attributes back to the dataset's scale.

    att = original_att / ||original_att|| per class, so one norm per class undoes it."""
    original = np.asarray(original_attributes, dtype=np.float64)
    norms = np.linalg.norm(original[list(class_rows)], axis=1)
    return {"min": float(min(0.0, original.min())), "max": float(math.ceil(original.max())),
            "norms": [round(float(n), 6) for n in norms]}


def scale_of(meta: dict, attributes: np.ndarray) -> tuple[HumanScale, np.ndarray]:
    """A model's scale and each class's norm on it, from its metadata; without them (a checkpoint not
    written by --train) the L2-normalised values are shown as they are."""
    scale = meta.get("human_scale")
    if scale is None:
        low = float(min(0.0, attributes.min()))
        return HumanScale(low=low, high=1.0, typical_norm=1.0), np.ones(len(attributes), np.float32)
    norms = np.asarray(scale["norms"], dtype=np.float32)
    return HumanScale(low=scale["min"], high=scale["max"], typical_norm=float(np.median(norms))), norms
