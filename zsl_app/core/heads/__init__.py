"""Generative GZSL heads, chosen by name: `create_head("vae-cflow", head_config("vae-cflow"), ...)`."""

from . import disentangled_vae  # noqa: F401
from . import vae_cflow  # noqa: F401  (registers itself)
from .base import HEADS, Head, create_head, head_config, head_names, stored_config

__all__ = ["HEADS", "Head", "create_head", "head_config", "head_names", "stored_config"]
