"""The honest protocol: select on a class-disjoint validation split, retrain on trainval, test once."""

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from zsl_app.core.attribute_scale import human_scale_meta
from zsl_app.core.classifier import ClassifierConfig, train_classifier
from zsl_app.core.metrics import gzsl_report
from zsl_app.core.model import ZSLModel
from zsl_app.core.training import ProgressCallback, fit_head
from zsl_app.storage.data import Benchmark, proposed_split

from .calibration import carried_gamma
from .prepared import classifier_data, evaluate, new_head, prepare, seen_relabel
from .selection import Selection, select_settings
from .spec import Protocol, RunSpec, SpecError, resolve_spec
from .stages import FINAL, FeaturesFor, features_hook


@dataclass(frozen=True)
class Calibration:
    """How validation's calibrated-stacking gamma reached the final model."""

    method: str  # one of calibration.CALIBRATIONS
    validation_gamma: float
    gamma: float  # the final model's


@dataclass
class Result:
    """A trained model with its validation choice and test metrics."""

    model: ZSLModel
    spec: RunSpec  # as run: the chosen settings applied
    selection: Selection
    calibration: Calibration | None  # None: no gamma carried over (no calibration or no validation)
    test: dict  # U, S, H, ZSL in percent
    seconds: float


def run_protocol(spec: RunSpec, data: Benchmark | FeaturesFor, *,
                 callback: ProgressCallback | None = None) -> Result:
    """The whole protocol: select on validation, retrain on trainval, evaluate test once. `data` is the
    benchmark every stage reads, or features_for(stage) -> Benchmark giving each stage its own (asked for
    each validation fold in turn, then for FINAL)."""
    started = time.perf_counter()
    features_for = features_hook(data)
    if not callable(data):
        _check_data(spec, data, hook=False)  # before the long validation stage
    selection = (select_settings(spec, features_for, callback=callback) if spec.protocol.select
                 else Selection.given(spec))
    bench = features_for(FINAL)
    _check_data(spec, bench, hook=callable(data))
    spec = selection.apply(dataclasses.replace(spec, features=spec.features or bench.features_name))
    model = fit_final(spec, bench, callback=callback)
    test_data = prepare(bench, proposed_split(bench), spec.device)
    calibration = _carried_calibration(spec, selection, model, test_data)
    test = _evaluate_once(model, spec, selection, calibration, test_data)
    seconds = time.perf_counter() - started
    model.meta["train_seconds"] = round(seconds, 1)
    return Result(model, spec, selection, calibration, test, seconds)


def _carried_calibration(spec: RunSpec, selection: Selection, model: ZSLModel, data) -> Calibration | None:
    """Validation's gamma carried to the final model as the spec's calibration says (None: none chosen)."""
    if not (spec.protocol.select and spec.protocol.calibrate):
        return None
    gamma = carried_gamma(spec.protocol.calibration, selection.gamma, selection.val["seen_to_unseen"],
                          model.head, model.classifier, data)
    return Calibration(spec.protocol.calibration, selection.gamma, gamma)


def _evaluate_once(model: ZSLModel, spec: RunSpec, selection: Selection, calibration: Calibration | None,
                   data) -> dict:
    """The single test evaluation, recorded in the model's metadata with what led to it; returns U/S/H/ZSL."""
    model.meta["selection"] = _selection_meta(selection, calibration)
    test = evaluate(model.head, model.classifier, data, calibration.gamma if calibration else selection.gamma)
    uncalibrated = evaluate(model.head, model.classifier, data, 0.0)  # reported beside, never chosen on
    model.meta["metrics"] = {"val": selection.val, "test": test, "test_uncalibrated": uncalibrated}
    if calibration and calibration.method == "rate":  # the other calibration's outcome, also only reported beside
        model.meta["metrics"]["test_validation_gamma"] = evaluate(model.head, model.classifier, data,
                                                                  calibration.validation_gamma)
    model.meta["protocol"] = dataclasses.asdict(spec.protocol)
    return test


def train_and_evaluate(bench: Benchmark, method: str = "vae-cflow", head: Mapping[str, Any] | None = None, *,
                       classifier: Mapping[str, Any] | ClassifierConfig | None = None,
                       protocol: Mapping[str, Any] | Protocol | None = None, seed: int = 0, device: str = "cpu",
                       callback: ProgressCallback | None = None) -> Result:
    """Shorthand for run_protocol(resolve_spec(...), bench): `head` holds Config overrides; `classifier`
    and `protocol` are overrides too, as a mapping or as every field of a ClassifierConfig / Protocol."""
    spec = resolve_spec(bench.name, method, features=bench.features_name, head=head,
                        classifier=_overrides(classifier), protocol=_overrides(protocol), seed=seed, device=device)
    return run_protocol(spec, bench, callback=callback)


def _overrides(section) -> dict:
    if section is None or isinstance(section, Mapping):
        return dict(section or {})
    return {k: v for k, v in dataclasses.asdict(section).items() if k != "fixed"}  # `fixed` follows `head`


def _check_data(spec: RunSpec, bench: Benchmark, *, hook: bool) -> None:
    """The final stage's benchmark is the spec's dataset (and, without a per-stage hook, its features)."""
    if bench.name != spec.dataset or not hook and spec.features not in (None, bench.features_name):
        raise SpecError(f"the run is specified for {spec.dataset} {spec.features or ''} features but the data "
                        f"given is {bench.name} {bench.features_name}")


def _selection_meta(selection: Selection, calibration: Calibration | None) -> dict:
    meta = selection.to_meta()
    if calibration:
        meta.update(calibration=calibration.method, validation_gamma=calibration.validation_gamma,
                    gamma=calibration.gamma)
    return meta


def fit_final(spec: RunSpec, bench: Benchmark, *, callback: ProgressCallback | None = None) -> ZSLModel:
    """Train head + classifier on trainval with the spec's settings; the label space is every class."""
    data = prepare(bench, proposed_split(bench), spec.device)
    head = new_head(spec, data)
    fit_head(head, data.x_train, seen_relabel(data), data.att[data.seen_local],
             generator=torch.Generator().manual_seed(spec.seed), stage="final/head", callback=callback)
    generator = torch.Generator().manual_seed(spec.seed)
    x, y, synthetic = classifier_data(head, data, generator)
    classifier = train_classifier(x, y, len(data.classes), spec.classifier, generator=generator, synthetic=synthetic,
                                  stage="final/classifier", callback=callback)
    seen_mask = np.isin(data.classes, bench.seen_classes)
    n_real = len(x) if synthetic is not None else len(x) - len(data.unseen_local) * spec.head.unseen_samples
    meta = {
        "dataset": bench.name, "method": spec.method, "seed": spec.seed, "head_dims": head.dims,
        "config": dataclasses.asdict(spec.head), "classifier": dataclasses.asdict(spec.classifier),
        "features": {"name": bench.features_name, "feature_space": bench.feature_space,
                     "dim": int(bench.features.shape[1])},
        "human_scale": human_scale_meta(bench.original_attributes, data.classes),  # what people type
    }
    return ZSLModel(head=head, classifier=classifier, scaler=data.scaler,
                    class_names=[bench.class_names[c] for c in data.classes],
                    class_kinds=["seen" if s else "unseen" for s in seen_mask],
                    attributes=bench.attributes[data.classes], meta=meta,
                    replay_x=x[:n_real].cpu().numpy(), replay_y=y[:n_real].cpu().numpy())


def evaluate_model(model: ZSLModel, bench: Benchmark) -> dict:
    """Re-evaluate a saved model on the benchmark's test split with its own scaler and class order."""
    index = {name: i for i, name in enumerate(model.class_names)}
    missing = [bench.class_names[c] for c in np.union1d(bench.seen_classes, bench.unseen_classes)
               if bench.class_names[c] not in index]
    if missing:
        raise ValueError(f"the model does not know {len(missing)} {bench.name} classes, e.g. {missing[:3]}")
    to_model = np.array([index[n] for n in bench.class_names])
    scores_seen = model.scores(bench.features[bench.test_seen])
    scores_unseen = model.scores(bench.features[bench.test_unseen])
    unseen = to_model[bench.unseen_classes]
    return gzsl_report(scores_seen, to_model[bench.labels[bench.test_seen]], scores_unseen,
                       to_model[bench.labels[bench.test_unseen]], unseen)
