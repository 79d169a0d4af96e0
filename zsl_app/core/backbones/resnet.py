"""ResNet-101 from torchvision with its IMAGENET1K_V2 weights (not the Caffe model of xlsa17's res101)."""

import socket
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from zsl_app.storage.paths import WEIGHTS_DIR

from .base import BACKBONES, Backbone, BackboneError, ResizeCrop

# torchvision's ResNet101_Weights.IMAGENET1K_V2. torchvision itself is imported only to build the network:
# importing it loads torch._dynamo (1.5 s and more), which registering this backbone must not cost.
WEIGHTS_URL = "https://download.pytorch.org/models/resnet101-cd907fc2.pth"
DOWNLOAD_TIMEOUT_S = 15  # fail fast offline instead of hanging on a blocked network


@contextmanager
def socket_timeout(seconds: float):
    """Bound every socket operation; torch.hub's downloader takes no timeout argument."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


@BACKBONES.register("resnet101")
class ResNet101(Backbone):
    """torchvision's ResNet-101 trunk with global average pooling (2048-d)."""

    feature_dim = 2048
    features_name = "resnet101tv"  # NOT "res101": that is the Caffe feature space of xlsa17
    weights_file = Path(WEIGHTS_URL).name  # resnet101-cd907fc2.pth
    classifier_prefix = "fc."
    recipe = ("torchvision resnet101 IMAGENET1K_V2, crop 224, resize 232 bilinear, "
              "mean (0.485, 0.456, 0.406) std (0.229, 0.224, 0.225), global average pool")

    @classmethod
    def make_transform(cls) -> ResizeCrop:
        return ResizeCrop(resize=232, crop=224, resample="bilinear",
                          mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

    @classmethod
    def build_network(cls) -> nn.Module:
        import torchvision

        net = torchvision.models.resnet101(weights=None)
        net.fc = nn.Identity()  # the pooled 2048-d activations are the features
        return net

    @classmethod
    def default_weights(cls) -> Path:
        """weights/<file> of the project, else torchvision's cache, else download into that cache."""
        cached = Path(torch.hub.get_dir()) / "checkpoints" / cls.weights_file
        for path in (WEIGHTS_DIR / cls.weights_file, cached):
            if path.is_file():
                return path
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            with socket_timeout(DOWNLOAD_TIMEOUT_S):
                # torch hub names the file after the first hex digits of its sha256; check them.
                sha256_prefix = cls.weights_file.removesuffix(".pth").rsplit("-", 1)[1]
                torch.hub.download_url_to_file(WEIGHTS_URL, str(cached), hash_prefix=sha256_prefix)
        except (OSError, RuntimeError) as err:  # URLError and timeouts are OSErrors; a bad hash is a RuntimeError
            raise BackboneError(
                f"cannot download the ImageNet weights of resnet101 from {WEIGHTS_URL} ({err}). "
                f"Download that file elsewhere and put it at {WEIGHTS_DIR / cls.weights_file} "
                f"(or {cached}), or pass weights=<path to the .pth file>") from err
        return cached
