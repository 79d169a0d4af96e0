"""A trained GZSL model: scaler -> head.embed -> classifier, over a named set of classes."""

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from zsl_app.storage.data import MinMaxScaler

from .classifier import SoftmaxClassifier, predict_logits
from .heads import Head

KINDS = ("seen", "unseen")


@dataclass
class ZSLModel:
    """Everything needed to classify features of one feature space; never changed once trained or loaded."""

    head: Head
    classifier: SoftmaxClassifier
    scaler: MinMaxScaler
    class_names: list[str]  # (C,) the classifier's output order
    class_kinds: list[str]  # (C,) each one of KINDS
    attributes: np.ndarray  # (C, A) L2-normalised class attribute vectors
    meta: dict = field(default_factory=dict)  # dataset, method, config, metrics, feature space, ...
    replay_x: np.ndarray | None = None  # (M, E) classifier-space examples of seen classes,
    replay_y: np.ndarray | None = None  # (M,) kept so rows for new classes can be fit beside the trained ones

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
    def logits(self, embedded: torch.Tensor) -> np.ndarray:
        """Raw classifier logits (N, C) for classifier-space examples (N, E)."""
        return predict_logits(self.classifier, embedded).cpu().numpy()

    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated stacking: gamma off the seen classes' logits (N, C + K); the K columns past this
        model's classes (classes added beside it) are never seen classes."""
        seen = np.zeros(logits.shape[1], dtype=bool)
        seen[:len(self.class_kinds)] = [k == "seen" for k in self.class_kinds]
        return logits - self.calibration * seen[None, :]

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Calibrated logits (N, C) for raw backbone features (N, D)."""
        return self.calibrate(self.logits(self.embed(features)))

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Softmax over every class of the model (N, C)."""
        return softmax(self.scores(features))

    def without(self, names) -> "ZSLModel":
        """This model with those classes taken out: the other classes' trained rows unchanged, their seen replay
        relabelled (the benches' "remove a class, add it back" measurements)."""
        keep = [i for i, n in enumerate(self.class_names) if n not in set(names)]
        linear = self.classifier.linear
        classifier = SoftmaxClassifier(linear.in_features, len(keep)).to(linear.weight.device)
        with torch.no_grad():
            classifier.linear.weight.copy_(linear.weight[keep])
            classifier.linear.bias.copy_(linear.bias[keep])
        replay_x, replay_y = self.replay_x, self.replay_y
        if replay_y is not None:  # the removed classes' replay goes with them, the rest is relabelled
            kept = np.isin(replay_y, keep)
            replay_x, replay_y = replay_x[kept], np.searchsorted(keep, replay_y[kept])
        return replace(self, classifier=classifier.eval(), class_names=[self.class_names[i] for i in keep],
                       class_kinds=[self.class_kinds[i] for i in keep], attributes=self.attributes[keep],
                       replay_x=replay_x, replay_y=replay_y)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) scores."""
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
