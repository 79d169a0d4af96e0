"""Image backbones, chosen by name: `create_backbone("effnet-lite2")`; each owns its preprocessing recipe."""

from .base import BACKBONES, RANDOM, Backbone, BackboneError, ResizeCrop, backbone_names, create_backbone
from . import efficientnet_lite, resnet  # noqa: F401  (register themselves)

__all__ = ["BACKBONES", "RANDOM", "Backbone", "BackboneError", "ResizeCrop", "backbone_names", "create_backbone"]
