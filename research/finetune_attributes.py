"""Fine-tune candidates that tell the top about the seen classes' attributes, not only their labels.

`attributes` (`finetune_validate.py --ft-classifier attributes`): the fine-tune's classifier becomes a bilinear
compatibility, logit_c = f W a_c + b_c, with a_c the class's L2-normalised attribute row and W (feature_dim x
attributes) learned from zero, as in attribute-based fine-tunes for zero-shot learning (e.g. APN's
classification loss): classes with similar attributes get similar weight vectors, so the top learns features
whose differences follow the attributes, the space the generative heads map attributes into.

`regression` (`--ft-classifier regression`): the free softmax stays, and a linear map of the features must
also predict the photo's class attributes (each attribute standardised over the fold's training classes;
mean squared error, weight 1 beside the cross-entropy), APN's attribute regression on the pooled features."""

import contextlib
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zsl_app.core import finetune as core_finetune
from zsl_app.core.training import train_loop
from zsl_app.storage.data import Benchmark, validation_split


class AttributeSoftmax(nn.Module):
    """logits = features W A^T + b over fixed class attributes A (classes x attributes)."""

    def __init__(self, feature_dim: int, attributes: np.ndarray):
        super().__init__()
        self.register_buffer("attributes", torch.as_tensor(attributes, dtype=torch.float32))
        self.projection = nn.Parameter(torch.zeros(feature_dim, attributes.shape[1]))
        self.bias = nn.Parameter(torch.zeros(len(attributes)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.projection @ self.attributes.T + self.bias


def fold_classes(bench: Benchmark, *, fold: int, holdout: float, seed: int) -> np.ndarray:
    """The fold's training classes, in the order the fine-tune labels them (sorted class index)."""
    return np.unique(bench.labels[validation_split(bench, fold, holdout, seed).train])


@contextlib.contextmanager
def attribute_classifier(bench: Benchmark, *, fold: int, holdout: float, seed: int):
    """While open, a fold fine-tune scores its seen classes through their attributes."""
    classes = fold_classes(bench, fold=fold, holdout=holdout, seed=seed)

    def softmax(feature_dim: int, n_classes: int) -> nn.Module:
        if n_classes != len(classes):
            raise ValueError(f"the fine-tune has {n_classes} classes; fold {fold} trains on {len(classes)}")
        return AttributeSoftmax(feature_dim, bench.attributes[classes])

    with mock.patch.object(core_finetune, "seen_softmax", softmax):
        yield


@contextlib.contextmanager
def attribute_regression(bench: Benchmark, *, fold: int, holdout: float, seed: int, weight: float = 1.0):
    """While open, a fold fine-tune (single process, cached route) also regresses the seen classes' attributes."""
    attributes = bench.attributes[fold_classes(bench, fold=fold, holdout=holdout, seed=seed)]
    targets = torch.as_tensor((attributes - attributes.mean(0)) / (attributes.std(0) + 1e-6), dtype=torch.float32)

    def fit(top, batches, n_classes, steps, config, *, callback=None, stage="fine-tune"):
        if n_classes != len(targets):
            raise ValueError(f"the fine-tune has {n_classes} classes; fold {fold} trains on {len(targets)}")
        softmax = core_finetune.seen_softmax(top.net.feature_dim, n_classes)
        regressor = nn.Linear(top.net.feature_dim, targets.shape[1])
        optimizer = torch.optim.AdamW(
            [{"params": list(top.trained.values()), "lr": config.lr},
             {"params": [*softmax.parameters(), *regressor.parameters()], "lr": 10 * config.lr}],
            weight_decay=config.weight_decay)
        top.train()

        def step(batch, _step):
            inputs, labels, _weight = batch
            features = top(inputs)
            classified = F.cross_entropy(softmax(features), labels, label_smoothing=config.label_smoothing)
            regressed = F.mse_loss(regressor(features), targets[labels])
            return {"loss": classified + weight * regressed, "classified": classified, "regressed": regressed}

        train_loop(step, optimizer, batches, steps, stage=stage, callback=callback)
        top.eval()

    with mock.patch.object(core_finetune, "fit_top", fit):
        yield


def free_softmax(bench: Benchmark, *, fold: int, holdout: float, seed: int):
    """The shipped fine-tune, unchanged."""
    return contextlib.nullcontext()


FT_CLASSIFIERS = {"softmax": free_softmax, "attributes": attribute_classifier, "regression": attribute_regression}
