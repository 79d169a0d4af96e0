"""Fit a model's photo reading on its benchmark, every choice made on validation fold 1: the reader's ridge
penalty (mean correlation of the attributes read in photos of validation classes with their class's vector)
and the domain thresholds (the share of validation photos each cue may flag)."""

import dataclasses
import re

import numpy as np

from zsl_app.core.attribute_reader import fit_readers, row_correlations
from zsl_app.core.backbones import BACKBONES, BackboneError, backbone_names, create_backbone
from zsl_app.core.domain import SHARE_FLAGGED, DomainCheck, class_centroids, imagenet_domain
from zsl_app.storage.data import Benchmark, DataError, load_benchmark, validation_split
from zsl_app.storage.reading_file import Reading

PENALTIES = (1e2, 1e3, 3e3, 1e4, 3e4, 1e5)  # ridge penalties tried on standardised features


def fit_reading(bench: Benchmark, imagenet_logits: np.ndarray | None = None, *, fold: int = 1) -> Reading:
    """The reader and domain check for models on `bench`, chosen on validation fold `fold`, refit on trainval;
    `imagenet_logits` (N, 1000), one row per photo of `bench`, give the domain check its ImageNet cue."""
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
    logits = imagenet_logits[val_rows] if imagenet_logits is not None and classes else None
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
    """`fit_reading` with the ImageNet logits of the backbone the benchmark's features come from: its own
    features, or for a fine-tuned space those of the base network (its features file beside, same photos);
    without that backbone or file, the feature-space cue alone."""
    input_side = re.search(r"crop (\d+), resize", bench.feature_space)
    for name in backbone_names():
        cls = BACKBONES.get(name)
        side = int(input_side[1]) if input_side else cls.make_transform().crop
        try:
            recipe = cls.recipe_at(side)
        except BackboneError:  # a recipe that does not name its input: only its own
            recipe = cls.recipe
        if bench.feature_space == recipe or bench.feature_space.startswith(f"{recipe}; blocks from"):
            return fit_reading(bench, _imagenet_logits(name, side, bench))
    return fit_reading(bench)


def _imagenet_logits(backbone_name: str, side: int, bench: Benchmark) -> np.ndarray | None:
    """The official backbone's ImageNet logits of the benchmark's photos (at their `side` px input), from its
    ImageNet features."""
    try:
        backbone = create_backbone(backbone_name, resolution=side)
        base = bench if bench.feature_space == backbone.recipe else \
            load_benchmark(bench.root.parent, bench.name, backbone.features_name)
    except (BackboneError, DataError):  # weights not installed, no base features file: no ImageNet cue
        return None
    if base.feature_space != backbone.recipe or not np.array_equal(base.labels, bench.labels):
        return None
    return backbone.imagenet_logits(base.features)
