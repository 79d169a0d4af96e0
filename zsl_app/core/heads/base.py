"""The interface every generative GZSL head implements: fit / embed / synthesize."""

import dataclasses
from typing import Any, ClassVar, Mapping

import torch
from torch import nn

from zsl_app.core.registry import Registry

HEADS = Registry("head")


class Head(nn.Module):
    """A head maps image features and class attributes into one space the classifier is trained in.

    Subclasses define `Config` (a dataclass), `training_step` and the three operations of
    methods.md: the training loop in `training.py` drives `training_step`; after training,
    `embed(x)` maps features to the classifier space and `synthesize(att, n)` samples that space."""

    name: ClassVar[str]
    Config: ClassVar[type]
    length_field: ClassVar[str] = "iters"  # the Config field that sets training length
    selection_grid: ClassVar[dict[str, tuple]] = {}  # generation options tried on validation
    dataset_defaults: ClassVar[dict[str, dict]] = {}  # per-dataset Config overrides (paper values)
    finetuned_defaults: ClassVar[dict] = {}  # Config overrides on a fine-tuned backbone's features (chosen on
    #                                          their validation folds)
    classifier_defaults: ClassVar[dict] = {}  # ClassifierConfig overrides for this head's latent space
    calibration: ClassVar[str] = "gamma"  # how validation's calibration carries to the final model
    #                                       (protocol.calibration.CALIBRATIONS)
    limits: ClassVar[dict[str, tuple]] = {}  # Config field -> (lowest, highest) a user may set, inclusive
    renamed_fields: ClassVar[dict[str, str]] = {}  # Config field of older checkpoints -> its name now
    retired_fields: ClassVar[dict[str, Any]] = {}  # Config field no longer offered -> the one value still built

    def __init__(self, config, *, feature_dim: int, attribute_dim: int, n_classes: int):
        super().__init__()
        self.config = config
        self.dims = {"feature_dim": feature_dim, "attribute_dim": attribute_dim, "n_classes": n_classes}

    # --- training (driven by training.fit_head) ---------------------------------------------
    def steps_per_unit(self, n_train: int) -> int:
        """Optimisation steps per unit of `length_field` (1 for iterations, batches for epochs)."""
        return 1

    def num_steps(self, n_train: int) -> int:
        """How many optimisation steps one fit takes on `n_train` examples."""
        return getattr(self.config, self.length_field) * self.steps_per_unit(n_train)

    def make_optimizer(self) -> torch.optim.Optimizer:
        raise NotImplementedError

    def prepare(self, x: torch.Tensor, y: torch.Tensor, class_att: torch.Tensor) -> None:
        """Data-dependent initialisation from the first batch, before the first step (default: none)."""

    def training_step(self, x, y, class_att, step: int, total: int) -> dict[str, torch.Tensor]:
        """Losses of one batch: x (B, D) features, y (B,) training-class ids, class_att (C, A) the
        attributes of the training classes. Returns named scalars; "loss" is minimised."""
        raise NotImplementedError

    # --- the three operations ---------------------------------------------------------------
    @property
    def embed_dim(self) -> int:
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Image features (N, D) -> classifier space (N, E), deterministic."""
        raise NotImplementedError

    def embed_train(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        """Classifier training examples of seen classes from real features (default: embed all)."""
        return self.embed(x), y

    def synthesize(self, att: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
        """Class attributes (C, A) -> (C * n, E) samples, class-major (rows c*n .. c*n+n-1); generation
        options (e.g. a temperature) are Config fields."""
        return self.generate(att, n, torch.randn((len(att) * n, self.noise_dim), generator=generator))

    @property
    def noise_dim(self) -> int:
        """Width of the standard normal noise one sample is made from."""
        raise NotImplementedError

    def generate(self, att: torch.Tensor, n: int, noise: torch.Tensor) -> torch.Tensor:
        """`synthesize` from noise (C * n, noise_dim) drawn by the caller: a classifier that draws its synthetic
        examples per batch draws the batch's noise on every rank and makes only its own rows."""
        raise NotImplementedError

    def decode_attributes(self, x: torch.Tensor) -> torch.Tensor:
        """Image features (N, D) -> the attributes (N, A) the head reads in them."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def create_head(name: str, config: Any, **dims) -> Head:
    """Build a registered head from its Config (made by `head_config`)."""
    cls = HEADS.get(name)
    if not isinstance(config, cls.Config):
        raise TypeError(f"{name} needs a {cls.Config.__name__}, got {type(config).__name__}; "
                        f"build one with head_config({name!r}, overrides)")
    return cls(config, **dims)


def head_config(name: str, overrides: Mapping[str, Any] | None = None):
    """The head's Config with `overrides`; unknown fields are an error naming the valid ones."""
    cls = HEADS.get(name)
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    unknown = set(overrides or {}) - set(fields)
    if unknown:
        raise ValueError(f"unknown {name} options {sorted(unknown)}; valid: {sorted(fields)}")
    # JSON (checkpoints, command lines) has no tuples: a list stands for a tuple-valued field
    return cls.Config(**{k: tuple(v) if isinstance(fields[k].default, tuple) and isinstance(v, list) else v
                         for k, v in (overrides or {}).items()})


def stored_config(name: str, stored: Mapping[str, Any]):
    """The Config recorded in a checkpoint, read through the head's renamed and retired fields."""
    cls = HEADS.get(name)
    current = {}
    for key, value in stored.items():
        if key in cls.retired_fields:
            if value != cls.retired_fields[key]:
                raise ValueError(f"it was trained with {key}={value!r}, which this version no longer builds "
                                 f"(only {cls.retired_fields[key]!r}); retrain it")
            continue
        current[cls.renamed_fields.get(key, key)] = value
    return head_config(name, current)


def head_names() -> list[str]:
    return HEADS.names()
