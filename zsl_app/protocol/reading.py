"""Fit a model's photo reading on its benchmark, every choice made on validation fold 1: the reader's ridge
penalty (mean correlation of the attributes read in photos of validation classes with their class's vector)
and the domain thresholds (the share of validation photos each cue may flag)."""

import dataclasses
from collections.abc import Callable

import numpy as np

from zsl_app.core.attribute_reader import fit_readers, row_correlations
from zsl_app.core.backbones import BACKBONES, BackboneError, backbone_names, create_backbone
from zsl_app.core.domain import SHARE_FLAGGED, DomainCheck, class_centroids, imagenet_domain
from zsl_app.storage.data import Benchmark, validation_split
from zsl_app.storage.reading_file import Reading

PENALTIES = (1e2, 1e3, 3e3, 1e4, 3e4, 1e5)  # ridge penalties tried on standardised features
ImageNetLogits = Callable[[np.ndarray], np.ndarray | None]  # raw features (N, D) -> logits (N, 1000)


def fit_reading(bench: Benchmark, imagenet_logits: ImageNetLogits | None = None, *, fold: int = 1) -> Reading:
    """The reader and domain check for models on `bench`, chosen on validation fold `fold`, refit on trainval."""
    split = validation_split(bench, fold)
    fit_rows = np.concatenate([split.train, split.eval_seen])  # every photo of the fold's training classes
    val_rows = split.eval_unseen
    low, high = float(min(0.0, bench.original_attributes.min())), float(np.ceil(bench.original_attributes.max()))
    truth = bench.original_attributes[bench.labels]  # (N, A) each photo's class vector
    readers = fit_readers(bench.features[fit_rows], truth[fit_rows], PENALTIES, low=low, high=high)
    scores = [float(row_correlations(r.read(bench.features[val_rows]), truth[val_rows]).mean()) for r in readers]
    best = int(np.argmax(scores))
    typical = bench.original_attributes[split.seen_classes].mean(axis=0)
    baseline = float(row_correlations(np.tile(typical, (len(val_rows), 1)), truth[val_rows]).mean())

    domain, classes = imagenet_domain(bench.name)
    logits = imagenet_logits(bench.features[val_rows]) if imagenet_logits and classes else None
    check = DomainCheck(domain, classes if logits is not None else (),
                        class_centroids(bench.features[fit_rows], bench.labels[fit_rows]), 0.0, 0.0)
    thresholds = {"min_similarity": _quantile(check.similarity(bench.features[val_rows])),
                  "min_probability": _quantile(check.probability(logits))}
    flagged = float(1 - dataclasses.replace(check, **thresholds).passes(bench.features[val_rows], logits).mean())

    trainval = bench.trainval
    reader = fit_readers(bench.features[trainval], truth[trainval], [PENALTIES[best]], low=low, high=high)[0]
    final = DomainCheck(check.domain, check.imagenet_classes,
                        class_centroids(bench.features[trainval], bench.labels[trainval]), **thresholds)
    meta = {"dataset": bench.name, "feature_space": bench.feature_space, "features": bench.features_name,
            "attribute_dim": int(bench.original_attributes.shape[1]), "validation_fold": fold,
            "penalty": PENALTIES[best], "validation": {
                "correlation": dict(zip(map(str, PENALTIES), scores)), "mean_seen_class_baseline": baseline,
                "flagged": flagged}}
    return Reading(reader, final, meta)


def _quantile(values: np.ndarray | None) -> float:
    """The threshold below which SHARE_FLAGGED of the values fall (0 without the cue)."""
    return 0.0 if values is None else float(np.quantile(values, SHARE_FLAGGED))



def reading_for(bench: Benchmark) -> Reading:
    """`fit_reading` with the ImageNet classifier of the backbone that made the benchmark's features, when
    this app has it (the official weights, same recipe); else the feature-space cue alone."""
    by_features = {BACKBONES.get(n).features_name: n for n in backbone_names()}
    imagenet_logits = None
    if bench.features_name in by_features:
        try:
            backbone = create_backbone(by_features[bench.features_name])
        except BackboneError:  # weights not installed: the domain check keeps its feature-space cue
            backbone = None
        if backbone is not None and backbone.recipe == bench.feature_space:
            imagenet_logits = backbone.imagenet_logits
    return fit_reading(bench, imagenet_logits)
