"""The honest protocol: select on a class-disjoint validation split, retrain on trainval, test once."""

import copy
import dataclasses
import itertools
import time
from dataclasses import dataclass

import numpy as np
import torch

from zsl_app.core.attribute_scale import human_scale_meta
from zsl_app.core.classifier import ClassifierConfig, predict_logits, train_classifier
from zsl_app.core.heads import HEADS, create_head
from zsl_app.core.heads.base import make_config
from zsl_app.core.metrics import gzsl_report
from zsl_app.core.model import ZSLModel
from zsl_app.core.training import ProgressCallback, fit_head
from zsl_app.storage.data import Benchmark, MinMaxScaler, Split, proposed_split, validation_split

GAMMAS = np.round(np.arange(0.0, 8.01, 0.25), 2)  # calibrated-stacking candidates (logit units)
# How the gamma chosen on validation carries over to the model retrained on trainval: "gamma" applies it
# as is; "rate" applies the gamma that sends the same share of the training images of seen classes to
# an unseen class as validation's gamma did on its model (a share does not depend on the model's logit
# scale or its number of seen classes)
CALIBRATIONS = ("gamma", "rate")


@dataclass
class Protocol:
    """How selection is done; every choice is made on validation data only."""

    folds: tuple[int, ...] = (1,)  # trainclassesK / valclassesK folds playing seen / unseen; with several,
    #                                candidates are ranked by their mean validation H over the folds
    holdout: float = 0.2  # share of each validation-seen class's images held out for S
    checkpoints: int = 2  # head snapshots evaluated, evenly spaced over its training
    calibrate: bool = True  # also choose a calibrated-stacking gamma on validation
    calibration: str | None = None  # how that gamma carries to the final model (CALIBRATIONS); None: the head's
    select: bool = True  # False: skip validation, train once with the given settings
    fixed: tuple[str, ...] = ()  # Config fields the user set: never searched

    def __post_init__(self):
        if not self.folds or len(set(self.folds)) != len(self.folds):
            raise ValueError(f"validation folds must be distinct and at least one, got {list(self.folds)}")
        if self.calibration not in (None, *CALIBRATIONS):
            raise ValueError(f"unknown calibration {self.calibration!r}; expected one of {', '.join(CALIBRATIONS)}")


@dataclass
class Result:
    """A trained model with its validation choice and test metrics."""

    model: ZSLModel
    selection: dict  # the chosen settings and the validation metrics they gave
    test: dict  # U, S, H, ZSL in percent
    seconds: float


@dataclass
class Prepared:
    """One split as tensors, with labels mapped to the split's own label space."""

    classes: np.ndarray  # global class ids of the label space, sorted
    x_train: torch.Tensor
    y_train: torch.Tensor  # index into `classes`
    seen_local: torch.Tensor  # positions of seen classes in `classes`
    unseen_local: torch.Tensor
    att: torch.Tensor  # (C, A) attributes of `classes`
    x_seen: np.ndarray  # evaluation features, scaled
    y_seen: np.ndarray
    x_unseen: np.ndarray
    y_unseen: np.ndarray
    scaler: MinMaxScaler


def prepare(bench: Benchmark, split: Split, device: str) -> Prepared:
    """Scale with training statistics and map labels to the split's label space."""
    classes = np.union1d(split.seen_classes, split.unseen_classes)
    local = np.full(len(bench.class_names), -1)
    local[classes] = np.arange(len(classes))
    scaler = MinMaxScaler.fit(bench.features[split.train])
    as_tensor = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    return Prepared(
        classes=classes, x_train=as_tensor(scaler.transform(bench.features[split.train])),
        y_train=as_tensor(local[bench.labels[split.train]]),
        seen_local=as_tensor(local[split.seen_classes]), unseen_local=as_tensor(local[split.unseen_classes]),
        att=as_tensor(bench.attributes[classes]),
        x_seen=scaler.transform(bench.features[split.eval_seen]), y_seen=local[bench.labels[split.eval_seen]],
        x_unseen=scaler.transform(bench.features[split.eval_unseen]),
        y_unseen=local[bench.labels[split.eval_unseen]], scaler=scaler,
    )


def seen_relabel(data: Prepared) -> torch.Tensor:
    """Training labels as indices into the seen classes (the head's latent classifier)."""
    position = torch.full((len(data.classes),), -1, dtype=torch.long, device=data.y_train.device)
    position[data.seen_local] = torch.arange(len(data.seen_local), device=position.device)
    return position[data.y_train]


def classifier_set(head, data: Prepared, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """embed(real seen) + synthesize(unseen): the classifier's training set, labels in label space."""
    x_seen, y_seen = head.embed_train(data.x_train, data.y_train, generator)
    n = head.config.unseen_samples
    x_fake = head.synthesize(data.att[data.unseen_local], n, generator)
    y_fake = data.unseen_local.repeat_interleave(n)
    return torch.cat([x_seen, x_fake]), torch.cat([y_seen, y_fake])


def evaluate(head, classifier, data: Prepared, gamma: float = 0.0) -> dict:
    """U, S, H, ZSL of a head + classifier on the prepared evaluation sets."""
    scores = [_logits(head, classifier, x) for x in (data.x_seen, data.x_unseen)]
    return gzsl_report(scores[0], data.y_seen, scores[1], data.y_unseen, data.unseen_local.cpu().numpy(), gamma)


def _logits(head, classifier, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        emb = head.embed(torch.as_tensor(x, device=head.device))
        return predict_logits(classifier, emb).cpu().numpy()


def _gamma_reports(head, classifier, data: Prepared, calibrate: bool,
                   gammas: np.ndarray = GAMMAS) -> list[tuple[float, dict]]:
    """(gamma, report) for every calibrated-stacking candidate (only 0 without calibration); each report
    also gives `seen_to_unseen`, the percentage of training images of seen classes sent to unseen ones."""
    candidates = gammas if calibrate else [0.0]
    scores = [_logits(head, classifier, x) for x in (data.x_seen, data.x_unseen)]
    unseen = data.unseen_local.cpu().numpy()
    margins = seen_margins(head, classifier, data)
    return [(float(g), {**gzsl_report(scores[0], data.y_seen, scores[1], data.y_unseen, unseen, g),
                        "seen_to_unseen": 100 * float(np.mean(margins < g))}) for g in candidates]


def seen_margins(head, classifier, data: Prepared) -> np.ndarray:
    """For each training image (all of seen classes): its best seen-class logit minus its best unseen-class
    logit. Calibrated stacking with gamma sends exactly the images whose margin is below gamma to an unseen class."""
    scores = _logits(head, classifier, data.x_train)
    unseen = np.zeros(scores.shape[1], dtype=bool)
    unseen[data.unseen_local.cpu().numpy()] = True
    return scores[:, ~unseen].max(1) - scores[:, unseen].max(1)


def carried_gamma(selection: dict, head, classifier, data: Prepared, calibration: str) -> float:
    """The final model's gamma: validation's ("gamma"), or the one under which the final model sends the
    same share of its training images of seen classes to unseen classes as validation's did ("rate")."""
    if calibration == "gamma":
        return selection["gamma"]
    share = selection["val"]["seen_to_unseen"] / 100
    return float(np.quantile(seen_margins(head, classifier, data), share))


def _new_head(method, config, data: Prepared, seed: int, device: str):
    torch.manual_seed(seed)
    head = create_head(method, copy.deepcopy(config), feature_dim=data.x_train.shape[1],
                       attribute_dim=data.att.shape[1], n_classes=len(data.seen_local))
    return head.to(device)


def select(bench, method, config, clf: ClassifierConfig, protocol: Protocol, *, seed: int, device: str,
           callback: ProgressCallback | None) -> dict:
    """Train on each validation fold and choose head steps, generation options, classifier epochs
    (and gamma) by validation H, averaged over the folds."""
    per_fold = [_fold_reports(bench, method, config, clf, protocol, fold, seed=seed, device=device,
                              callback=callback) for fold in protocol.folds]
    mean = {key: _mean_report([reports[key] for reports in per_fold]) for key in per_fold[0]}  # same grid per fold
    best = max(mean, key=lambda key: mean[key]["H"])
    choice = {**dict(best), "val": mean[best]}
    if len(protocol.folds) > 1:
        choice["val_per_fold"] = [reports[best] for reports in per_fold]
    return choice


def _mean_report(reports: list[dict]) -> dict:
    return {k: float(np.mean([r[k] for r in reports])) for k in reports[0]}


def _fold_reports(bench, method, config, clf: ClassifierConfig, protocol: Protocol, fold: int, *, seed: int,
                  device: str, callback: ProgressCallback | None) -> dict:
    """Validation report of every candidate on one fold, keyed by the candidate's settings (a tuple of
    (name, value) pairs: head length, generation options, classifier epochs, gamma)."""
    data = prepare(bench, validation_split(bench, fold, protocol.holdout, seed), device)
    head = _new_head(method, config, data, seed, device)
    full, per_unit = getattr(config, head.length_field), head.steps_per_unit(len(data.x_train))
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
    grid = _grid(head, protocol.fixed)
    for i, (mark, options) in enumerate(itertools.product(marks, grid)):
        head.load_state_dict(snapshots[mark])
        head.config = dataclasses.replace(head.config, **options)
        generator = torch.Generator().manual_seed(seed)
        x, y = classifier_set(head, data, generator)

        def on_epoch(epoch, model, mark=mark, options=options):
            for gamma, report in _gamma_reports(head, model, data, protocol.calibrate):
                settings = {"length": mark, "classifier_epochs": epoch, "gamma": gamma, **options}
                reports[tuple(settings.items())] = report

        train_classifier(x, y, len(data.classes), clf, generator=generator, on_epoch=on_epoch,
                         stage=f"{stage}/classifier {i + 1}/{len(marks) * len(grid)}", callback=callback)
    return reports


def _grid(head, fixed: tuple[str, ...]) -> list[dict]:
    grid = {k: v for k, v in head.selection_grid.items() if k not in fixed}
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))] or [{}]


def train_and_evaluate(bench: Benchmark, method: str = "vae-cflow", config=None, *,
                       classifier: ClassifierConfig | None = None, protocol: Protocol | None = None,
                       seed: int = 0, device: str = "cpu", callback: ProgressCallback | None = None) -> Result:
    """The whole protocol on one benchmark; returns the final model and its single test evaluation."""
    started = time.perf_counter()
    protocol, clf = protocol or Protocol(), classifier or classifier_config(method)
    config = resolve_config(method, config, bench.name)
    selection = {"classifier_epochs": clf.epochs, "gamma": 0.0, "val": None}
    if protocol.select:
        selection = select(bench, method, config, clf, protocol, seed=seed, device=device, callback=callback)
        config = _apply_selection(method, config, selection)
        clf = dataclasses.replace(clf, epochs=selection["classifier_epochs"])
    model = fit_final(bench, method, config, clf, seed=seed, device=device, callback=callback)
    data = prepare(bench, proposed_split(bench), device)
    if protocol.select and protocol.calibrate:
        calibration = protocol.calibration or HEADS.get(method).calibration
        gamma = carried_gamma(selection, model.head, model.classifier, data, calibration)
        selection = {**selection, "calibration": calibration, "validation_gamma": selection["gamma"], "gamma": gamma}
    model.meta["selection"] = selection
    test = evaluate(model.head, model.classifier, data, selection["gamma"])
    uncalibrated = evaluate(model.head, model.classifier, data, 0.0)  # reported beside, never chosen on
    model.meta["metrics"] = {"val": selection["val"], "test": test, "test_uncalibrated": uncalibrated}
    if selection.get("calibration") == "rate":  # the other calibration's outcome, also only reported beside
        model.meta["metrics"]["test_validation_gamma"] = evaluate(model.head, model.classifier, data,
                                                                  selection["validation_gamma"])
    model.meta["protocol"] = dataclasses.asdict(protocol)
    seconds = time.perf_counter() - started
    model.meta["train_seconds"] = round(seconds, 1)
    return Result(model, selection, test, seconds)


def resolve_config(method: str, config, dataset: str):
    """The head's Config: paper defaults for `dataset`, then the caller's overrides."""
    cls = HEADS.get(method)
    if config is None or isinstance(config, dict):
        return make_config(cls, {**cls.dataset_defaults.get(dataset.upper(), {}), **(config or {})})
    return config


def classifier_config(method: str, **overrides) -> ClassifierConfig:
    """The GZSL classifier settings for a head: its `classifier_defaults`, then the caller's overrides."""
    return ClassifierConfig(**{**HEADS.get(method).classifier_defaults, **overrides})


def _apply_selection(method: str, config, selection: dict):
    fields = {f.name for f in dataclasses.fields(config)}
    chosen = {k: v for k, v in selection.items() if k in fields}
    return dataclasses.replace(config, **chosen, **{HEADS.get(method).length_field: selection["length"]})


def fit_final(bench, method, config, clf: ClassifierConfig, *, seed: int, device: str,
              callback: ProgressCallback | None) -> ZSLModel:
    """Train head + classifier on trainval with fixed settings; the label space is every class."""
    data = prepare(bench, proposed_split(bench), device)
    head = _new_head(method, config, data, seed, device)
    fit_head(head, data.x_train, seen_relabel(data), data.att[data.seen_local],
             generator=torch.Generator().manual_seed(seed), stage="final/head", callback=callback)
    generator = torch.Generator().manual_seed(seed)
    x, y = classifier_set(head, data, generator)
    classifier = train_classifier(x, y, len(data.classes), clf, generator=generator,
                                  stage="final/classifier", callback=callback)
    seen_mask = np.isin(data.classes, bench.seen_classes)
    n_real = len(x) - len(data.unseen_local) * config.unseen_samples
    meta = {
        "dataset": bench.name, "method": method, "seed": seed, "head_dims": head.dims,
        "config": dataclasses.asdict(config), "classifier": dataclasses.asdict(clf),
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
