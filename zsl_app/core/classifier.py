"""The GZSL softmax classifier, trained on embed(real seen) + synthesize(unseen)."""

import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .training import ProgressCallback, epoch_batches, train_loop

INITS = ("default", "xavier")


@dataclass
class ClassifierConfig:
    """Training of the final linear softmax (paper: Adam lr 1e-3, beta1 0.5, ~20-25 epochs)."""

    epochs: int = 25  # passes over the training set; chosen on validation
    lr: float = 1e-3  # Adam learning rate (paper)
    beta1: float = 0.5  # Adam beta1 (paper)
    batch_size: int = 256  # larger than the papers' 32-64 for CPU speed; lr kept
    init: str = "default"  # "default": PyTorch's nn.Linear init; "xavier": CADA-VAE's (xavier-uniform gain 0.5, zero bias)
    weight_decay: float = 0.0  # L2 penalty added to the gradient (Adam's weight_decay); 0: none, as the papers
    ema: float = 0.0  # > 0: validate and return an exponential moving average of the weights with this
    #                   per-step decay (less last-step noise); 0: the last iterate, as the papers do

    def __post_init__(self):
        if self.init not in INITS:
            raise ValueError(f"unknown classifier init {self.init!r}; expected one of {', '.join(INITS)}")
        if self.weight_decay < 0:
            raise ValueError(f"classifier weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"classifier ema must be in [0, 1), got {self.ema}")


class SoftmaxClassifier(nn.Module):
    """A linear softmax over every class in the label space."""

    def __init__(self, in_dim: int, n_classes: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)  # (N, C) logits


def train_classifier(x: torch.Tensor, y: torch.Tensor, n_classes: int, config: ClassifierConfig, *,
                     generator: torch.Generator, stage: str = "classifier",
                     callback: ProgressCallback | None = None,
                     on_epoch: Callable[[int, SoftmaxClassifier], None] | None = None) -> SoftmaxClassifier:
    """Train a fresh classifier on (x, y); `on_epoch(epoch, model)` lets the caller validate each epoch."""
    model = SoftmaxClassifier(x.shape[1], n_classes).to(x.device)
    if config.init == "xavier":
        nn.init.xavier_uniform_(model.linear.weight, gain=0.5)
        nn.init.zeros_(model.linear.bias)
    steps_per_epoch = max(1, len(x) // min(config.batch_size, len(x)))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(config.beta1, 0.999),
                                 weight_decay=config.weight_decay)
    average = copy.deepcopy(model) if config.ema > 0 else model

    def step_fn(idx, step):
        return {"loss": F.cross_entropy(model(x[idx]), y[idx])}

    def after_step(step):
        if average is not model:
            _ema_update(average, model, config.ema)
        if on_epoch is not None and step % steps_per_epoch == 0:
            model.eval()
            on_epoch(step // steps_per_epoch, average)
            model.train()

    train_loop(step_fn, optimizer, epoch_batches(len(x), config.batch_size, generator),
               config.epochs * steps_per_epoch, stage=stage, callback=callback,
               report_every=steps_per_epoch, on_step=after_step)
    return average.eval()


@torch.no_grad()
def _ema_update(average: nn.Module, model: nn.Module, decay: float) -> None:
    for avg, current in zip(average.parameters(), model.parameters()):
        avg.lerp_(current, 1.0 - decay)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Logits in batches (bounded memory for large evaluation sets)."""
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
