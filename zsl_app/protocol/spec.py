"""One run specification: paper defaults -> dataset defaults -> the user's overrides, resolved and checked once."""

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from zsl_app.core.classifier import ClassifierConfig
from zsl_app.core.finetune import FinetuneConfig, is_finetuned_features
from zsl_app.core.heads import HEADS, head_config
from zsl_app.storage.data import DATASETS

from .calibration import CALIBRATIONS

SEED_RANGE = (0, 2**32 - 1)  # numpy's seeds; torch's are wider
CLASSIFIER_LIMITS = {"epochs": (1, 1_000), "batch_size": (1, 65_536)}


class SpecError(ValueError):
    """A run setting is unknown or out of range; nothing was trained."""


@dataclass(frozen=True)
class Protocol:
    """How selection is done; every choice is made on validation data only."""

    folds: tuple[int, ...] = (1,)  # trainclassesK / valclassesK folds playing seen / unseen; with several,
    #                                candidates are ranked by their mean validation H over the folds
    holdout: float = 0.2  # share of each validation-seen class's images held out for S
    checkpoints: int = 2  # head snapshots evaluated, evenly spaced over its training
    calibrate: bool = True  # also choose a calibrated-stacking gamma on validation
    calibration: str | None = None  # how that gamma carries to the final model (CALIBRATIONS); None: the head's
    select: bool = True  # False: no validation stage, train once with the given settings
    fixed: tuple[str, ...] = ()  # head Config fields the user set: never searched

    def __post_init__(self):
        if not self.folds or len(set(self.folds)) != len(self.folds):
            raise ValueError(f"validation folds must be distinct and at least one, got {list(self.folds)}")
        if self.calibration not in (None, *CALIBRATIONS):
            raise ValueError(f"unknown calibration {self.calibration!r}; expected one of {', '.join(CALIBRATIONS)}")
        if not 0 < self.holdout < 1 or self.checkpoints < 1:
            raise ValueError(f"holdout must be in (0, 1) and checkpoints at least 1; got {self.holdout}, "
                             f"{self.checkpoints}")


@dataclass(frozen=True)
class RunSpec:
    """Everything a protocol run needs besides the data; build it with `resolve_spec`."""

    dataset: str  # xlsa17 name, upper case (CUB)
    features: str | None  # features file under the dataset folder (None: the best one present)
    method: str  # registered head name
    head: Any  # the head's Config
    classifier: ClassifierConfig
    protocol: Protocol
    seed: int = 0  # of every random choice
    device: str = "cpu"
    finetune: FinetuneConfig | None = None  # adapt the backbone's top per stage on photos; None: features as given

    @property
    def length(self) -> int:
        """The head's training length, in units of its `length_field` (iterations or epochs)."""
        return getattr(self.head, HEADS.get(self.method).length_field)


def head_defaults(method: str, dataset: str | None = None):
    """The head's Config before any user override: the paper's values, then the dataset's."""
    cls = HEADS.get(method)
    return head_config(method, cls.dataset_defaults.get((dataset or "").upper(), {}))


def resolve_spec(dataset: str, method: str = "vae-cflow", *, features: str | None = None,
                 head: Mapping[str, Any] | None = None, classifier: Mapping[str, Any] | None = None,
                 protocol: Mapping[str, Any] | None = None, seed: int = 0, device: str = "cpu",
                 finetune: Mapping[str, Any] | None = None) -> RunSpec:
    """The one place settings resolve: each section's defaults, then the head's and the dataset's (and the
    head's fine-tuned ones, on a fine-tune or its features), then the caller's overrides (Config field ->
    value); raises SpecError saying what is wrong."""
    dataset = _choice("dataset", str(dataset).upper(), DATASETS)
    cls = _head_class(method)
    head = dict(head or {})
    _check_limits(f"{method} ", head, cls.limits)
    tuned = cls.finetuned_defaults if finetune is not None or is_finetuned_features(features) else {}
    head_cfg = _section("head settings", lambda: head_config(method, {
        **cls.dataset_defaults.get(dataset, {}), **tuned, **head}))
    classifier = dict(classifier or {})
    _check_limits("classifier ", classifier, CLASSIFIER_LIMITS)
    clf = _section("classifier settings", lambda: _dataclass(ClassifierConfig, {**cls.classifier_defaults,
                                                                              **classifier}))
    proto = _section("protocol settings", lambda: _dataclass(Protocol, _protocol_fields(protocol, cls, head)))
    _check_limits("", {"seed": seed}, {"seed": SEED_RANGE})
    tune = None if finetune is None else _section("fine-tune settings", lambda: _dataclass(FinetuneConfig, finetune))
    return RunSpec(dataset=dataset, features=features, method=method, head=head_cfg, classifier=clf,
                   protocol=proto, seed=int(seed), device=_device(device), finetune=tune)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """FIELD=VALUE words of a command line as overrides: a value that reads as JSON (numbers, true, lists)
    is that value, anything else the string."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SpecError(f"expected FIELD=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _protocol_fields(overrides: Mapping[str, Any] | None, cls, head: dict) -> dict:
    """Protocol overrides with the head's calibration and the user's head fields (never searched) filled in."""
    fields = dict(overrides or {})
    if "fixed" in fields:
        raise SpecError("protocol 'fixed' is derived: it is the head options you set, which are never searched")
    fields["folds"] = tuple(fields.get("folds", Protocol.folds))
    fields["calibration"] = fields.get("calibration") or cls.calibration
    return {**fields, "fixed": tuple(head)}


def _head_class(method: str):
    try:
        return HEADS.get(method)
    except KeyError as err:
        raise SpecError(err.args[0]) from err


def _choice(what: str, value: str, allowed) -> str:
    if value not in allowed:
        raise SpecError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


def _check_limits(prefix: str, values: Mapping[str, Any], limits: Mapping[str, tuple]) -> None:
    """Each bounded value is a number of the bound's kind (a whole number for whole bounds) within it."""
    for name, value in values.items():
        if name not in limits:
            continue
        low, high = limits[name]
        whole = isinstance(low, int)
        kinds = (int,) if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
            kind = "a whole number" if whole else "a number"
            raise SpecError(f"{prefix}{name} must be {kind} from {low:,} to {high:,}; got {value!r}")


def _section(what: str, build):
    """Build one section, turning a dataclass's own refusal into a SpecError."""
    try:
        return build()
    except (TypeError, ValueError) as err:
        raise SpecError(f"{what}: {err}") from err


def _dataclass(cls: type, overrides: Mapping[str, Any]):
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown {sorted(unknown)}; valid: {sorted(fields)}")
    return cls(**overrides)


def _device(name: str) -> str:
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise SpecError(f"unknown device {name!r}; expected cpu, cuda or cuda:N") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(f"device {name}: CUDA is not available on this machine; use cpu")
    return name
