"""The GZSL softmax classifier, trained on embed(real seen) + synthesize(unseen)."""

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .training import ProgressCallback, epoch_batches, train_loop


@dataclass
class ClassifierConfig:
    """Training of the final linear softmax (paper: Adam lr 1e-3, beta1 0.5, ~20-25 epochs)."""

    epochs: int = 25  # passes over the training set; chosen on validation
    lr: float = 1e-3  # Adam learning rate (paper)
    beta1: float = 0.5  # Adam beta1 (paper)
    batch_size: int = 256  # larger than the papers' 32-64 for CPU speed; lr kept


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
    steps_per_epoch = max(1, len(x) // min(config.batch_size, len(x)))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(config.beta1, 0.999))

    def step_fn(idx, step):
        return {"loss": F.cross_entropy(model(x[idx]), y[idx])}

    def after_step(step):
        if on_epoch is not None and step % steps_per_epoch == 0:
            model.eval()
            on_epoch(step // steps_per_epoch, model)
            model.train()

    train_loop(step_fn, optimizer, epoch_batches(len(x), config.batch_size, generator),
               config.epochs * steps_per_epoch, stage=stage, callback=callback,
               report_every=steps_per_epoch, on_step=after_step)
    return model.eval()


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Logits in batches (bounded memory for large evaluation sets)."""
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
