"""Validation-only selection: train on each validation fold, score every candidate setting, keep the best."""

import copy
import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from zsl_app.core.classifier import train_classifier
from zsl_app.core.heads import HEADS
from zsl_app.core.training import ProgressCallback, fit_head
from zsl_app.storage.data import Benchmark, validation_split

from .calibration import gamma_reports
from .prepared import classifier_data, new_head, prepare, seen_relabel
from .spec import RunSpec
from .stages import FeaturesFor, Stage, features_hook


@dataclass(frozen=True)
class Candidate:
    """One setting validation scores: a head snapshot, generation options, a classifier epoch, a gamma."""

    length: int  # head snapshot, in units of the head's length_field
    options: tuple[tuple[str, Any], ...]  # generation options, (Config field, value) sorted by field
    classifier_epochs: int
    gamma: float  # calibrated-stacking offset (0 without calibration)


@dataclass(frozen=True)
class Selection:
    """The settings validation chose and the validation metrics they gave (or the settings as given)."""

    length: int  # head training length, in units of the head's length_field
    options: dict[str, Any]  # generation options (head Config fields), e.g. {"temperature": 1.1}
    classifier_epochs: int
    gamma: float  # calibrated-stacking offset chosen on validation (0 without calibration)
    val: dict[str, float] | None  # mean validation U, S, H, ZSL, seen_to_unseen over the folds; None: no validation
    val_per_fold: tuple[dict[str, float], ...] = field(default=())  # each fold's, when there are several

    @classmethod
    def given(cls, spec: RunSpec) -> "Selection":
        """The spec's own settings, when no validation runs."""
        return cls(length=spec.length, options={}, classifier_epochs=spec.classifier.epochs, gamma=0.0, val=None)

    def apply(self, spec: RunSpec) -> RunSpec:
        """The spec with the chosen head length, generation options and classifier epochs."""
        length_field = HEADS.get(spec.method).length_field
        head = dataclasses.replace(spec.head, **self.options, **{length_field: self.length})
        return dataclasses.replace(spec, head=head,
                                   classifier=dataclasses.replace(spec.classifier, epochs=self.classifier_epochs))

    def to_meta(self) -> dict:
        """The checkpoint's "selection" record: the choice with the options flat, then the metrics."""
        meta = {"length": self.length, "classifier_epochs": self.classifier_epochs, "gamma": self.gamma,
                **self.options, "val": self.val}
        if self.val_per_fold:
            meta["val_per_fold"] = list(self.val_per_fold)
        return meta


def select_settings(spec: RunSpec, data: Benchmark | FeaturesFor, *,
                    callback: ProgressCallback | None = None) -> Selection:
    """Train on each validation fold and choose head length, generation options, classifier epochs
    (and gamma) by validation H, averaged over the folds. `data` as for run.run_protocol."""
    folds, features_for = spec.protocol.folds, features_hook(data)
    per_fold = [fold_reports(spec, features_for(Stage(fold)), fold, callback=callback) for fold in folds]
    mean = {key: _mean_report([reports[key] for reports in per_fold]) for key in per_fold[0]}  # same grid per fold
    best = max(mean, key=lambda key: mean[key]["H"])
    return Selection(length=best.length, options=dict(best.options), classifier_epochs=best.classifier_epochs,
                     gamma=best.gamma, val=mean[best],
                     val_per_fold=tuple(reports[best] for reports in per_fold) if len(folds) > 1 else ())


def _mean_report(reports: list[dict]) -> dict:
    return {k: float(np.mean([r[k] for r in reports])) for k in reports[0]}


def fold_reports(spec: RunSpec, bench: Benchmark, fold: int, *,
                 callback: ProgressCallback | None = None) -> dict[Candidate, dict]:
    """The validation report of every candidate on one fold, in the order they were scored."""
    protocol, seed = spec.protocol, spec.seed
    data = prepare(bench, validation_split(bench, fold, protocol.holdout, seed), spec.device)
    head = new_head(spec, data)
    full, per_unit = spec.length, head.steps_per_unit(len(data.x_train))
    marks = sorted({max(1, round(full * k / protocol.checkpoints)) for k in range(1, protocol.checkpoints + 1)})
    snapshots = {}

    def snapshot(step):
        if step % per_unit == 0 and step // per_unit in marks:
            snapshots[step // per_unit] = copy.deepcopy(head.state_dict())

    stage = f"select/fold {fold}" if len(protocol.folds) > 1 else "select"
    fit_head(head, data.x_train, seen_relabel(data), data.att[data.seen_local],
             generator=torch.Generator().manual_seed(seed), stage=f"{stage}/head", callback=callback,
             on_step=snapshot)
    reports = {}
    grid = generation_grid(spec)
    for i, (mark, options) in enumerate(itertools.product(marks, grid)):
        head.load_state_dict(snapshots[mark])
        head.config = dataclasses.replace(spec.head, **dict(options))  # options are Config fields
        generator = torch.Generator().manual_seed(seed)
        x, y, synthetic = classifier_data(head, data, generator)

        def on_epoch(epoch, model, mark=mark, options=options):
            for gamma, report in gamma_reports(head, model, data, protocol.calibrate):
                reports[Candidate(mark, options, epoch, gamma)] = report

        train_classifier(x, y, len(data.classes), spec.classifier, generator=generator, synthetic=synthetic,
                         on_epoch=on_epoch, stage=f"{stage}/classifier {i + 1}/{len(marks) * len(grid)}", callback=callback)
    return reports


def generation_grid(spec: RunSpec) -> list[tuple[tuple[str, Any], ...]]:
    """Every combination of the head's generation options the user did not fix ([()] when none)."""
    grid = {k: v for k, v in HEADS.get(spec.method).selection_grid.items() if k not in spec.protocol.fixed}
    keys = sorted(grid)
    return [tuple(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
