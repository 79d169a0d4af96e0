"""Adapt the top stages of a backbone to the seen classes, on cached activations of its frozen stages, or the
whole network on the photos themselves.

The top `stages` stages and the head convolution train, with a linear softmax over the seen classes on the
pooled features; the softmax is discarded afterwards: the trained top defines a new feature space. With one
or two stages the lower ones stay as ImageNet trained them and their activations are computed once per photo
(`storage.activations`), which a CPU can afford; with `stages="all"` every block trains on photos decoded
and augmented every epoch, a GPU's work."""

import copy
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from . import distributed
from .training import ProgressCallback, epoch_batches, train_loop

CHUNK = 64  # activation maps per forward pass when extracting features
WHOLE = "all"  # FinetuneConfig.stages: every block and the head convolution (the stem convolution stays)
FINETUNED_MARK = "-ft-"  # in the name of every features file a fine-tune writes: effnetlite2-390-ft-34668e82-mirror


def is_finetuned_features(name: str | None) -> bool:
    """Whether a features file name is one a fine-tuned backbone wrote."""
    return name is not None and FINETUNED_MARK in name


@dataclass(frozen=True)
class FinetuneConfig:
    """How the top of a backbone is adapted; the values are the ones chosen on CUB validation."""

    stages: int | str = 1  # top stages trained with the head convolution: 1 or 2 on the activation cache,
    #                        or "all" (WHOLE) on the photos, decoded and augmented every epoch (for a GPU)
    epochs: int = 10  # passes over the training photos
    lr: float = 3e-4  # AdamW learning rate of the backbone's top; the softmax learns 10x faster
    weight_decay: float = 1e-4  # AdamW, on the top's weights and the softmax
    batch_size: int = 64  # photos per step
    label_smoothing: float = 0.1  # of the seen-class cross-entropy
    flip: bool = False  # train on mirrored photos too (the cache's second view); off: chosen on validation
    crop: int = 0  # random crops of the cached maps: up to this many cells off each side (0: none, chosen on
    #                validation); with "all", any value above 0 means random-resized crops of the photos
    resolution: int | None = 390  # input side in px of the fine-tuned backbone: 390 chosen on validation with
    #                               effnet-lite2 (its own is 260); None: the base's own
    mirror: bool = True  # describe each photo by the mean of the features of its crop and of its mirrored crop
    #                      (twice the backbone's work per photo): chosen on validation; False: the crop alone

    def __post_init__(self):
        if self.stages not in (1, 2, WHOLE):
            raise ValueError(f"fine-tune stages must be 1 or 2 (the top stage, or the top two) or {WHOLE!r} "
                             f"(the whole network); got {self.stages!r}")
        for name in ("epochs", "batch_size"):
            if not 1 <= getattr(self, name) <= 10_000:
                raise ValueError(f"fine-tune {name} must be between 1 and 10000; got {getattr(self, name)}")
        if not (0 < self.lr < 1 and 0 <= self.weight_decay < 1 and 0 <= self.label_smoothing < 1 and self.crop >= 0):
            raise ValueError(f"fine-tune settings out of range: {self}")
        if self.resolution is not None and not 64 <= self.resolution <= 1024:
            raise ValueError(f"fine-tune resolution must be 64-1024 px; got {self.resolution}")

    @classmethod
    def recorded(cls, settings: dict) -> "FinetuneConfig":
        """The settings a fine-tune recorded; a field an older record lacks had the value it has now, except
        the resolution and the mirror: before they were settings, every fine-tune ran at the base's own input
        and described a photo by its crop alone."""
        return cls(**{"resolution": None, "mirror": False, **settings})

    @property
    def cached(self) -> bool:
        """Trained on the cached activations of the frozen lower stages (else on the photos)."""
        return self.stages != WHOLE

    @property
    def trained_views(self) -> int:
        """Views of each photo the cached route trains on: the photo, and its mirror image with `flip`."""
        return 2 if self.flip else 1

    @property
    def views(self) -> int:
        """Views of each photo the activation cache must hold: the mirror image too with `flip` or `mirror`."""
        return 2 if self.flip or self.mirror else 1

    def trained_part(self) -> str:
        """What trains, in words: "the top 1 stage(s)" or "the whole network"."""
        return f"the top {self.stages} stage(s)" if self.cached else "the whole network"


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
    fit_top(top, cached_batches(maps, labels, config, generator), n_classes, steps_for(maps.shape[1], config),
            config, callback=callback, stage=stage)


def train_top_on_photos(top: Top, photos: Dataset, n_classes: int, config: FinetuneConfig, *,
                        lower: Callable[[torch.Tensor], torch.Tensor], generator: torch.Generator, workers: int = 2,
                        callback: ProgressCallback | None = None, stage: str = "fine-tune") -> None:
    """Fit the top on photos decoded every epoch: `photos[i]` is (uint8 pixels (3, H, W), label), and `lower`
    turns a batch of pixels into the maps entering the top (the frozen part, run without gradients)."""
    n = len(photos)
    loader = DataLoader(photos, batch_sampler=RankBatches(n, config.batch_size, generator), num_workers=workers,
                        generator=torch.Generator().manual_seed(int(torch.randint(2**31, (1,), generator=generator))),
                        persistent_workers=workers > 0)
    weight = distributed.batch_part(min(config.batch_size, n))[1]

    def batches():
        for pixels, labels in loader:
            with torch.no_grad():
                maps = lower(pixels)
            yield maps, labels, weight

    fit_top(top, batches(), n_classes, steps_for(n, config), config, callback=callback, stage=stage)


def steps_for(n: int, config: FinetuneConfig) -> int:
    """Optimisation steps of `config.epochs` passes over n photos (last partial batch dropped)."""
    return config.epochs * max(1, n // min(config.batch_size, n))


def cached_batches(maps: torch.Tensor, labels: torch.Tensor, config: FinetuneConfig,
                   generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]:
    """This rank's share of each global batch of cached maps, each photo in a random view (the flip) and the
    batch in one random crop, with its labels and loss weight."""
    views = maps.shape[0] if config.flip else 1
    for idx in epoch_batches(maps.shape[1], config.batch_size, generator):
        # Every rank draws the whole global batch's randomness (same generator), then takes its own rows.
        view = torch.randint(0, views, (len(idx),), generator=generator)
        part, weight = distributed.batch_part(len(idx))
        yield random_crop(maps[view[part], idx[part]], config.crop, generator), labels[idx[part]], weight


class RankBatches:
    """Batch sampler: this rank's share of each global batch of `epoch_batches`, forever."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator):
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __iter__(self):
        for idx in epoch_batches(self.n, self.batch_size, self.generator):
            yield idx[distributed.batch_part(len(idx))[0]].tolist()


def seen_softmax(feature_dim: int, n_classes: int) -> nn.Module:
    """The fine-tune's classifier of the seen classes: a zero-initialised linear softmax."""
    softmax = nn.Linear(feature_dim, n_classes)
    nn.init.zeros_(softmax.weight)
    nn.init.zeros_(softmax.bias)
    return softmax


def fit_top(top: Top, batches: Iterator[tuple[torch.Tensor, torch.Tensor, float]], n_classes: int, steps: int,
            config: FinetuneConfig, *, callback: ProgressCallback | None = None, stage: str = "fine-tune") -> None:
    """The fine-tune's loop: a zero-initialised softmax over the seen classes on the top's features, AdamW,
    label smoothing; `batches` gives (inputs of the top, labels, loss weight) of this rank."""
    device = next(top.parameters()).device
    softmax = seen_softmax(top.net.feature_dim, n_classes).to(device)
    optimizer = torch.optim.AdamW(
        [{"params": list(top.trained.values()), "lr": config.lr},
         {"params": softmax.parameters(), "lr": 10 * config.lr}], weight_decay=config.weight_decay)
    model = distributed.data_parallel(nn.Sequential(top, softmax))  # DDP under torchrun
    top.train()

    def step(batch, _step):
        inputs, labels, weight = batch
        loss = F.cross_entropy(model(inputs.to(device)), labels.to(device), label_smoothing=config.label_smoothing)
        return {"loss": loss * weight}

    train_loop(step, optimizer, batches, steps, stage=stage, callback=callback)
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
    device = next(top.parameters()).device
    out = [top(torch.as_tensor(np.array(maps[i:i + CHUNK])).to(device)).cpu()  # a copy: maps may be read-only
           for i in range(0, len(maps), CHUNK)]
    return torch.cat(out).numpy()


def photo_features(top: Top, maps: np.ndarray, *, mirror: bool) -> np.ndarray:
    """Cached maps (views, N, C, H, W) -> each photo's features: of its crop (view 0), or with `mirror` the mean
    of its crop's and its mirrored crop's (view 1), as `Backbone.embed` computes them from the photo."""
    features = top_features(top, maps[0])
    return (features + top_features(top, maps[1])) / 2 if mirror else features
