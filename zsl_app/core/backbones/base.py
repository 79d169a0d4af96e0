"""The backbone interface: photo -> the recipe's preprocessing -> pretrained network -> feature vector."""

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from zsl_app.core.registry import Registry

BACKBONES = Registry("backbone")
RANDOM = "random"  # `weights=RANDOM`: untrained network, for tests only
# The network sees chunks of 2 photos: their activations stay in the CPU caches. On a 2-core CPU
# effnet-lite2 ran ~25% faster than in chunks of 4, and 1.5-3x faster than in batches of 16.
CHUNK = 2
RESAMPLE = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}
RESOLUTIONS = range(64, 1025)  # input sides in px a backbone can be asked to run at


class BackboneError(ValueError):
    """Backbone weights are missing or do not fit the network."""


@dataclass(frozen=True)
class ResizeCrop:
    """Resize the shorter side, centre-crop a square, normalise to CHW float32 (picklable for workers)."""

    resize: int  # shorter side after resizing; the longer side is rounded to keep the aspect ratio
    crop: int  # side of the centre crop
    resample: str  # "bicubic" or "bilinear" (PIL filters)
    mean: tuple[float, float, float]  # per channel, on the [0, 1] scale
    std: tuple[float, float, float]

    def at(self, crop: int) -> "ResizeCrop":
        """The same recipe at a `crop` px input, the shorter side resized in the same proportion."""
        return dataclasses.replace(self, crop=crop, resize=round(crop * self.resize / self.crop))

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """A PIL image -> (3, crop, crop) float32."""
        return self.normalise(self.pixels(image))

    def pixels(self, image: Image.Image) -> torch.Tensor:
        """A PIL image -> (3, crop, crop) uint8: the geometric part, a quarter of the bytes to move."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        w, h = image.size
        size = (self.resize, round(h * self.resize / w)) if w <= h else (round(w * self.resize / h), self.resize)
        image = image.resize(size, RESAMPLE[self.resample])
        left, top = (size[0] - self.crop) // 2, (size[1] - self.crop) // 2
        image = image.crop((left, top, left + self.crop, top + self.crop))
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)  # (3, H, W)

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (..., 3, H, W) -> float32 (..., 3, H, W)."""
        mean, std = torch.tensor(self.mean).view(3, 1, 1), torch.tensor(self.std).view(3, 1, 1)
        return (pixels.float() / 255 - mean) / std


class Backbone:
    """A pretrained image network whose pooled activations define one feature space.

    Subclasses set the class attributes and implement `make_transform`, `build_network` and
    `default_weights`; `weights` is None (the official ImageNet weights), a path to a .pth file,
    or "random" (tests only); `resolution` is the input side in px, None for the recipe's own (another
    resolution is another feature space: its recipe and features name say so)."""

    name: ClassVar[str]
    feature_dim: ClassVar[int]
    features_name: ClassVar[str]  # stem of the xlsa17 features file it produces, e.g. "effnetlite2"
    recipe: str  # identifies the feature space; recorded in features files and checkpoints
    weights_file: ClassVar[str]  # file name of the official weights
    classifier_prefix: ClassVar[str]  # state-dict keys of the ImageNet classifier, kept apart from the network

    def __init__(self, *, weights: str | Path | None = None, device: str | torch.device = "cpu",
                 resolution: int | None = None):
        self.device = torch.device(device)
        self.transform = self.make_transform()
        self.recipe = type(self).recipe
        if resolution is not None and resolution != self.transform.crop:
            self.at_resolution(resolution)
        net = self.build_network()
        self.imagenet: nn.Linear | None = None  # the ImageNet classifier on the pooled features, when loaded
        self.imagenet_net: nn.Module | None = None  # the ImageNet network, once a fine-tune changed `net`
        self.imagenet_cut: int | None = None  # the block the fine-tune starts at: the stages below are shared
        self.mirror = False  # a fine-tune's setting: features are the mean of the crop's and the mirrored crop's
        if weights == RANDOM:
            self.recipe = f"{self.recipe}; RANDOM weights (not a feature space)"
        else:
            path = Path(weights).expanduser() if weights else self.default_weights()
            self.load_weights(net, path)
            if path.name != self.weights_file:  # other weights, other space: say so in the recipe
                self.recipe = f"{self.recipe}; weights {path.name}"
        self.net = optimise_for_inference(net).to(self.device)
        self.imagenet_recipe = self.recipe  # the features `imagenet` classifies; a fine-tune changes `recipe`

    def at_resolution(self, side: int) -> None:
        """Run at a `side` px input: the transform, the recipe ("crop 330, resize 371") and the features name."""
        if side not in RESOLUTIONS:
            raise BackboneError(f"input resolution must be {RESOLUTIONS.start}-{RESOLUTIONS.stop - 1} px; got {side}")
        self.transform = self.transform.at(side)
        self.recipe = self.recipe_at(side)
        self.features_name = f"{type(self).features_name}-{side}"

    @classmethod
    def recipe_at(cls, side: int) -> str:
        """The recipe at a `side` px input: its own with the input size changed ("crop 330, resize 371")."""
        own = cls.make_transform()
        before, after = f"crop {own.crop}, resize {own.resize}", f"crop {side}, resize {own.at(side).resize}"
        if before not in cls.recipe:
            raise BackboneError(f"{cls.name}'s recipe does not name its input size ({before!r})")
        return cls.recipe.replace(before, after)

    @property
    def resolution(self) -> int:
        """The input side in px."""
        return self.transform.crop

    # --- implemented by each backbone ----------------------------------------------------------
    @classmethod
    def make_transform(cls) -> ResizeCrop:
        raise NotImplementedError

    @classmethod
    def build_network(cls) -> nn.Module:
        """The network with random weights, mapping (B, 3, H, W) to (B, feature_dim)."""
        raise NotImplementedError

    @classmethod
    def default_weights(cls) -> Path:
        """The local file of the official weights, or a BackboneError saying where to put it."""
        raise NotImplementedError

    # --- the interface used by extraction and prediction ---------------------------------------
    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """A PIL image -> (3, H, W) float32, exactly as the features of this space were made."""
        return self.transform(image)

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """Preprocessed images (B, 3, H, W) -> features (B, feature_dim) float32, on the CPU."""
        with torch.inference_mode():
            batch = batch.to(self.device).contiguous(memory_format=torch.channels_last)
            return torch.cat([self.mirrored(self.net, chunk) for chunk in batch.split(CHUNK)]).cpu()

    def mirrored(self, net, batch: torch.Tensor) -> torch.Tensor:
        """net(batch), or with `mirror` the mean of net(batch) and net(the batch mirrored left to right)."""
        return (net(batch) + net(batch.flip(-1))) / 2 if self.mirror else net(batch)

    def embed_lower(self, batch: torch.Tensor, cut: int) -> torch.Tensor:
        """Preprocessed images (B, 3, H, W) -> the activation maps entering block `cut`, on the CPU."""
        self.check_finetunable()
        with torch.inference_mode():
            batch = batch.to(self.device).contiguous(memory_format=torch.channels_last)
            return torch.cat([self.net.bottom(chunk, cut) for chunk in batch.split(CHUNK)]).cpu()

    def check_finetunable(self) -> None:
        """Fine-tuning cuts the network between stages; only networks that name their stages can be cut."""
        if not hasattr(self.net, "stage_starts"):
            raise BackboneError(f"{self.name} cannot be fine-tuned: its network does not name the stages a "
                                f"fine-tune cuts between (the effnet-lite backbones do)")

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """PIL images -> (N, feature_dim) float32."""
        if not images:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        return self.embed(torch.stack([self.preprocess(im) for im in images])).numpy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, feature_dim={self.feature_dim}, device={self.device})"

    def load_weights(self, net: nn.Module, path: Path) -> None:
        """Load a .pth state dict strictly into the network, its ImageNet classifier (the features come before
        it) into `imagenet` when the file has one."""
        state = read_state_dict(path)
        head = {k.removeprefix(self.classifier_prefix): v for k, v in state.items()
                if k.startswith(self.classifier_prefix)}
        state = {k: v for k, v in state.items() if not k.startswith(self.classifier_prefix)}
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise BackboneError(f"{path} does not hold {self.name} weights: {str(err)[:500]}") from err
        if set(head) == {"weight", "bias"} and head["weight"].shape[1:] == (self.feature_dim,):
            self.imagenet = nn.Linear(self.feature_dim, len(head["bias"])).requires_grad_(False)
            self.imagenet.load_state_dict(head)

    # --- the ImageNet classifier: how much a photo looks like ImageNet's classes ---------------
    def keep_imagenet_network(self, cut: int | None = None) -> None:
        """Call before a fine-tune changes `net` (from block `cut` up, if given): ImageNet logits then come from
        the network as loaded, which shares the unchanged stages below `cut` with the fine-tuned one."""
        self.imagenet_net, self.imagenet_cut = copy.deepcopy(self.net), cut

    def imagenet_logits(self, features: np.ndarray) -> np.ndarray | None:
        """ImageNet logits (N, 1000) of features (N, D) of the network as loaded; None without its classifier,
        or when `net` was changed (fine-tuned) and its features are no longer the classifier's."""
        if self.imagenet is None or self.recipe != self.imagenet_recipe:
            return None
        with torch.inference_mode():
            return self.imagenet(torch.as_tensor(np.asarray(features, dtype=np.float32))).numpy()

    def look(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray | None]:
        """PIL images -> (features (N, feature_dim), ImageNet logits (N, 1000) or None, see imagenet_logits)."""
        batch = torch.stack([self.preprocess(im) for im in images])
        if self.imagenet is None or self.imagenet_net is None:
            features = self.embed(batch).numpy()
            return features, self.imagenet_logits(features)
        with torch.inference_mode():
            pairs = [self.tuned_and_imagenet(chunk) for chunk in
                     batch.to(self.device).contiguous(memory_format=torch.channels_last).split(CHUNK)]
            features, base = (torch.cat(part).cpu() for part in zip(*pairs))
            return features.numpy(), self.imagenet(base).numpy()

    def tuned_and_imagenet(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features of the fine-tuned network and of the ImageNet one; the stages below the fine-tune's
        cut run once for both (half the work of a top-stage fine-tune's photo), and once more on the mirrored
        crop with `mirror`."""
        if self.imagenet_cut is None:
            return self.mirrored(self.net, batch), self.imagenet_net(batch)
        cut = self.imagenet_cut
        maps = self.net.bottom(batch, cut)
        tuned = self.net.top(maps, cut)
        if self.mirror:
            tuned = (tuned + self.net.top(self.net.bottom(batch.flip(-1), cut), cut)) / 2
        return tuned, self.imagenet_net.top(maps, cut)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a legacy .pth file, read without executing pickled code."""
    if not path.is_file():
        raise BackboneError(f"weights file {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise BackboneError(f"cannot read weights {path} as a PyTorch state dict ({err})") from err


def optimise_for_inference(net: nn.Module) -> nn.Module:
    """Eval mode, BatchNorm folded into the preceding convolutions, channels_last memory layout."""
    net.eval().requires_grad_(False)
    fold_batchnorms(net)
    return net.to(memory_format=torch.channels_last)


def fold_batchnorms(net: nn.Module) -> None:
    """Fold every eval-mode BatchNorm2d into the Conv2d registered just before it in the same parent.

    Both networks here register each BatchNorm right after the convolution it normalises; the
    channel check guards the pairing. Saves one pass over every activation map."""
    for parent in list(net.modules()):
        children = list(parent.named_children())
        for (_, conv), (bn_name, bn) in zip(children, children[1:]):
            if (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
                    and conv.out_channels == bn.num_features):
                fused = fuse_conv_bn_eval(conv, bn)
                conv.weight, conv.bias = fused.weight, fused.bias
                setattr(parent, bn_name, nn.Identity())


def create_backbone(name: str, weights: str | Path | None = None, device: str | torch.device = "cpu", *,
                    resolution: int | None = None) -> Backbone:
    """Build a registered backbone by name, e.g. `create_backbone("effnet-lite2")`."""
    return BACKBONES.get(name)(weights=weights, device=device, resolution=resolution)


def backbone_names() -> list[str]:
    return BACKBONES.names()
