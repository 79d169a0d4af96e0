"""The GZSL softmax classifier, trained on embed(real seen) + synthesize(unseen)."""

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .heads import Head
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


@dataclass
class SyntheticRows:
    """Synthetic training examples made per batch instead of held, for sets too large for one process
    (ImageNet-21K's ~20K unseen classes): row j is a fresh sample of class j // n each time it is drawn."""

    head: Head
    att: torch.Tensor  # (C, A) attributes of the synthesized classes
    labels: torch.Tensor  # (C,) their ids in the label space
    n: int  # samples per class in an epoch

    def __len__(self) -> int:
        return len(self.att) * self.n

    def rows(self, j: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Examples j (B,) made from noise (B, noise_dim), with their labels."""
        classes = j // self.n
        return self.head.generate(self.att[classes], 1, noise), self.labels[classes]


def train_classifier(x: torch.Tensor, y: torch.Tensor, n_classes: int, config: ClassifierConfig, *,
                     generator: torch.Generator, synthetic: SyntheticRows | None = None, stage: str = "classifier",
                     callback: ProgressCallback | None = None,
                     on_epoch: Callable[[int, SoftmaxClassifier], None] | None = None) -> SoftmaxClassifier:
    """Train a fresh classifier on (x, y) and the `synthetic` rows (indexed after x's); `on_epoch(epoch, model)`
    lets the caller validate each epoch. Under torchrun each rank computes its share of every global batch."""
    model = SoftmaxClassifier(x.shape[1], n_classes).to(x.device)
    parallel = distributed.data_parallel(model)
    n = len(x) + (len(synthetic) if synthetic is not None else 0)
    steps_per_epoch = max(1, n // min(config.batch_size, n))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(config.beta1, 0.999))

    def step_fn(idx, step):
        part, weight = distributed.batch_part(len(idx))
        xb, yb = batch_rows(x, y, synthetic, idx, part, generator)
        return {"loss": F.cross_entropy(parallel(xb), yb) * weight}

    def after_step(step):
        if on_epoch is not None and step % steps_per_epoch == 0:
            model.eval()
            on_epoch(step // steps_per_epoch, model)
            model.train()

    train_loop(step_fn, optimizer, epoch_batches(n, config.batch_size, generator),
               config.epochs * steps_per_epoch, stage=stage, callback=callback,
               report_every=steps_per_epoch, on_step=after_step)
    return model.eval()


def batch_rows(x: torch.Tensor, y: torch.Tensor, synthetic: SyntheticRows | None, idx: torch.Tensor, part: slice,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Examples and labels of rows `part` of the global batch `idx`: held rows indexed, synthetic ones made."""
    if synthetic is None:
        return x[idx[part]], y[idx[part]]
    # The whole batch's noise on every rank: each rank then makes the rows one process would make.
    noise = torch.randn((len(idx), synthetic.head.noise_dim), generator=generator)[part]
    idx = idx[part]
    made = idx >= len(x)
    x_made, y_made = synthetic.rows(idx[made] - len(x), noise[made])
    return torch.cat([x[idx[~made]], x_made]), torch.cat([y[idx[~made]], y_made])


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Logits in batches (bounded memory for large evaluation sets)."""
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
