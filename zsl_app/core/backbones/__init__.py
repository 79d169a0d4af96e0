"""Image backbones, chosen by name: `create_backbone("effnet-lite2")`; each owns its preprocessing recipe."""

from . import efficientnet_lite, resnet  # noqa: F401  (register themselves)
from .base import BACKBONES, RANDOM, Backbone, BackboneError, ResizeCrop, backbone_names, create_backbone

__all__ = ["BACKBONES", "RANDOM", "Backbone", "BackboneError", "ResizeCrop", "backbone_names", "create_backbone"]
