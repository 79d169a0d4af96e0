"""The interface every generative GZSL head implements: fit / embed / synthesize."""

import dataclasses
from typing import Any, ClassVar

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
    classifier_defaults: ClassVar[dict] = {}  # ClassifierConfig overrides for this head's latent space
    calibration: ClassVar[str] = "gamma"  # how validation's calibration carries to the final model
    #                                       (experiment.CALIBRATIONS)

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

    def synthesize(self, att: torch.Tensor, n: int, generator: torch.Generator, **options) -> torch.Tensor:
        """Class attributes (C, A) -> (C * n, E) samples, class-major (rows c*n .. c*n+n-1)."""
        raise NotImplementedError

    def decode_attributes(self, x: torch.Tensor) -> torch.Tensor:
        """Image features (N, D) -> the attributes (N, A) the head reads in them."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def create_head(name: str, config: Any = None, **dims) -> Head:
    """Build a registered head; `config` is its Config, a dict of overrides, or None for defaults."""
    cls = HEADS.get(name)
    if config is None or isinstance(config, dict):
        config = make_config(cls, config or {})
    return cls(config, **dims)


def make_config(cls: type, overrides: dict):
    """The head's Config with `overrides`; unknown keys are an error naming the valid ones."""
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown {cls.name} options {sorted(unknown)}; valid: {sorted(fields)}")
    return cls.Config(**overrides)


def head_names() -> list[str]:
    return HEADS.names()
