"""A trained GZSL model: scaler -> head.embed -> classifier, over a named set of classes."""

from dataclasses import dataclass, field

import numpy as np
import torch

from zsl_app.storage.data import MinMaxScaler

from .classifier import SoftmaxClassifier, predict_logits
from .heads import Head

KINDS = ("seen", "unseen", "user")


@dataclass
class ZSLModel:
    """Everything needed to classify features of one feature space, and to add classes later."""

    head: Head
    classifier: SoftmaxClassifier
    scaler: MinMaxScaler
    class_names: list[str]  # (C,) the classifier's output order
    class_kinds: list[str]  # (C,) each one of KINDS
    attributes: np.ndarray  # (C, A) L2-normalised class attribute vectors
    meta: dict = field(default_factory=dict)  # dataset, method, config, metrics, feature space, ...
    replay_x: np.ndarray | None = None  # (M, E) classifier-space examples of seen classes,
    replay_y: np.ndarray | None = None  # (M,) kept so the classifier can be refit with new classes

    @property
    def feature_space(self) -> str:
        return self.meta["features"]["feature_space"]

    @property
    def calibration(self) -> float:
        """Calibrated-stacking gamma: validation's, carried to this model by the protocol (0 = none)."""
        return float(self.meta.get("selection", {}).get("gamma", 0.0))

    @torch.no_grad()
    def embed(self, features: np.ndarray) -> torch.Tensor:
        """Raw backbone features (N, D) -> classifier space (N, E)."""
        x = torch.from_numpy(self.scaler.transform(np.asarray(features, dtype=np.float32)))
        return self.head.embed(x.to(self.head.device))

    @torch.no_grad()
    def scores(self, features: np.ndarray) -> np.ndarray:
        """Calibrated logits (N, C) for raw backbone features (N, D)."""
        logits = predict_logits(self.classifier, self.embed(features)).cpu().numpy()
        seen = np.array([k == "seen" for k in self.class_kinds])
        return logits - self.calibration * seen[None, :]

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Softmax over every known class (N, C)."""
        s = self.scores(features)
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
