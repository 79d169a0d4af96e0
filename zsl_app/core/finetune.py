"""Adapt the top stages of a backbone to the seen classes, on cached activations of its frozen stages.

The lower stages stay as ImageNet trained them; their activations are computed once per photo
(`storage.activations`). Only the top `stages` stages and the head convolution train, with a linear
softmax over the seen classes on the pooled features; the softmax is discarded afterwards: the
trained top defines a new feature space."""

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .training import ProgressCallback, epoch_batches, train_loop

CHUNK = 64  # activation maps per forward pass when extracting features


@dataclass(frozen=True)
class FinetuneConfig:
    """How the top of a backbone is adapted; the values are the ones chosen on CUB validation."""

    stages: int = 1  # top stages trained (with the head convolution); 1 or 2, the cache holds two
    epochs: int = 10  # passes over the training photos
    lr: float = 1e-4  # AdamW learning rate of the backbone's top; the softmax learns 10x faster
    weight_decay: float = 1e-4  # AdamW, on the top's weights and the softmax
    batch_size: int = 64  # photos per step
    label_smoothing: float = 0.1  # of the seen-class cross-entropy
    flip: bool = True  # train on mirrored photos too (the cache's second view)
    crop: int = 1  # random crops of the cached maps: up to this many cells off each side (0: none)

    def __post_init__(self):
        if self.stages not in (1, 2):
            raise ValueError(f"fine-tune stages must be 1 or 2 (the top stage, or the top two); got {self.stages}")
        for name in ("epochs", "batch_size"):
            if not 1 <= getattr(self, name) <= 10_000:
                raise ValueError(f"fine-tune {name} must be between 1 and 10000; got {getattr(self, name)}")
        if not (0 < self.lr < 1 and 0 <= self.weight_decay < 1 and 0 <= self.label_smoothing < 1 and self.crop >= 0):
            raise ValueError(f"fine-tune settings out of range: {self}")


class Top(nn.Module):
    """The trainable top of a cut network: activation map entering block `cut` -> pooled features."""

    def __init__(self, net: nn.Module, cut: int):
        super().__init__()
        self.net, self.cut = copy.deepcopy(net), cut  # the backbone's own network stays untouched
        self.net.requires_grad_(False)
        self.trained = self.net.top_parameters(cut)
        for p in self.trained.values():
            p.requires_grad_(True)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.net.top(maps, self.cut)

    def state(self) -> dict[str, torch.Tensor]:
        """The trained tensors, by the backbone network's own state-dict names."""
        return {k: v.detach().clone() for k, v in self.trained.items()}


def random_crop(maps: torch.Tensor, margin: int, generator: torch.Generator) -> torch.Tensor:
    """One random window of (H - 2 * margin) x (W - 2 * margin) cells for the whole batch."""
    if margin == 0:
        return maps
    h, w = maps.shape[-2:]
    top, left = (int(torch.randint(0, 2 * margin + 1, (1,), generator=generator)) for _ in range(2))
    return maps[..., top:top + h - 2 * margin, left:left + w - 2 * margin]


def train_top(top: Top, maps: torch.Tensor, labels: torch.Tensor, n_classes: int, config: FinetuneConfig, *,
              generator: torch.Generator, callback: ProgressCallback | None = None,
              stage: str = "fine-tune") -> None:
    """Fit the top on cached maps (views, N, C, H, W) of training photos with labels (N,) in [0, n_classes)."""
    softmax = nn.Linear(top.net.feature_dim, n_classes)
    nn.init.zeros_(softmax.weight)
    nn.init.zeros_(softmax.bias)
    optimizer = torch.optim.AdamW(
        [{"params": list(top.trained.values()), "lr": config.lr},
         {"params": softmax.parameters(), "lr": 10 * config.lr}], weight_decay=config.weight_decay)
    model = distributed.data_parallel(nn.Sequential(top, softmax))  # DDP under torchrun
    views = maps.shape[0] if config.flip else 1
    n = maps.shape[1]
    steps_per_epoch = max(1, n // min(config.batch_size, n))
    top.train()

    def step(idx, _step):
        # Every rank draws the whole global batch's randomness (same generator), then computes its own rows.
        view = torch.randint(0, views, (len(idx),), generator=generator)
        part, weight = distributed.batch_part(len(idx))
        batch = random_crop(maps[view[part], idx[part]], config.crop, generator)  # (B / ranks, C, h, w)
        loss = F.cross_entropy(model(batch), labels[idx[part]], label_smoothing=config.label_smoothing)
        return {"loss": loss * weight}

    train_loop(step, optimizer, epoch_batches(n, config.batch_size, generator), config.epochs * steps_per_epoch,
               stage=stage, callback=callback)
    top.eval()


def round_to_half(top: Top) -> None:
    """Round the trained tensors to float16 precision: the shipped file stores them so, and the features
    extracted now must be the ones the shipped backbone computes."""
    with torch.no_grad():
        for p in top.trained.values():
            p.copy_(p.half().float())


@torch.no_grad()
def top_features(top: Top, maps: np.ndarray | torch.Tensor) -> np.ndarray:
    """Maps (N, C, H, W) of one view -> pooled features (N, 1280) float32."""
    top.eval()
    out = [top(torch.as_tensor(np.array(maps[i:i + CHUNK]))) for i in range(0, len(maps), CHUNK)]  # a copy: maps may be read-only
    return torch.cat(out).numpy()
