"""Does a photo look like what a model knows? Two cues: the backbone's own ImageNet classifier (P(bird) for
CUB) and the photo's similarity to the model's training classes in feature space."""

from dataclasses import dataclass

import numpy as np

# ImageNet-1k classes of each dataset's domain, as rows of the ImageNet classifiers (torchvision's category
# order, which the EfficientNet-Lite and ResNet weights share): CUB's are the 59 bird classes,
# "cock" .. "great grey owl", "black grouse" .. "black swan", "white stork" .. "albatross".
IMAGENET_DOMAINS = {"CUB": ("bird", tuple(range(7, 25)) + tuple(range(80, 101)) + tuple(range(127, 147)))}
SHARE_FLAGGED = 0.0025  # of validation photos each cue may flag: together at most 0.5%, half the 1% allowed


@dataclass
class DomainScore:
    """How much a photo looks like what the model knows."""

    in_domain: bool  # every available cue passed its threshold
    domain: str  # what the model knows, e.g. "bird" (CUB); "" where ImageNet names no such set
    probability: float | None  # P(domain) by the backbone's ImageNet classifier; None without that cue
    similarity: float  # cosine of the photo's features to the nearest training-class mean


@dataclass(frozen=True)
class DomainCheck:
    """The two cues of one model and their thresholds, chosen on validation photos."""

    domain: str  # e.g. "bird"
    imagenet_classes: tuple[int, ...]  # ImageNet classes that make up the domain; () without that cue
    centroids: np.ndarray  # (K, D) unit-length mean features of the training classes
    min_probability: float  # P(domain) below this is out of domain
    min_similarity: float  # similarity below this is out of domain

    def probability(self, imagenet_logits: np.ndarray | None) -> np.ndarray | None:
        """P(domain) (N,) from ImageNet logits (N, 1000), summed over the domain's classes."""
        if imagenet_logits is None or not self.imagenet_classes:
            return None
        logits = np.asarray(imagenet_logits, dtype=np.float64)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p[:, list(self.imagenet_classes)].sum(axis=1) / p.sum(axis=1)

    def similarity(self, features: np.ndarray) -> np.ndarray:
        """Cosine (N,) of raw features (N, D) to the nearest training-class mean."""
        x = np.asarray(features, dtype=np.float64)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return (x @ self.centroids.T).max(axis=1)

    def passes(self, features: np.ndarray, imagenet_logits: np.ndarray | None = None) -> np.ndarray:
        """Which photos (N,) every available cue calls in domain, from features (N, D) and ImageNet logits."""
        passes = self.similarity(features) >= self.min_similarity
        probability = self.probability(imagenet_logits)
        return passes if probability is None else passes & (probability >= self.min_probability)

    def score(self, features: np.ndarray, imagenet_logits: np.ndarray | None = None) -> DomainScore:
        """One photo's features (D,) and, when the backbone has them, its ImageNet logits (1000,)."""
        logits = None if imagenet_logits is None else imagenet_logits[None]
        probability = self.probability(logits)
        return DomainScore(bool(self.passes(features[None], logits)[0]), self.domain,
                           None if probability is None else float(probability[0]),
                           float(self.similarity(features[None])[0]))


def class_centroids(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit-length mean features (K, D) of each class present in `labels` (N,)."""
    means = np.stack([features[labels == c].mean(axis=0) for c in np.unique(labels)]).astype(np.float64)
    return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)


def imagenet_domain(dataset: str) -> tuple[str, tuple[int, ...]]:
    """(name, ImageNet classes) of a dataset's domain; ("", ()) where ImageNet has no such set."""
    return IMAGENET_DOMAINS.get((dataset or "").upper(), ("", ()))
