"""Generative GZSL heads, chosen by name: `create_head("vae-cflow", ...)`."""

from .base import HEADS, Head, create_head, head_names
from . import vae_cflow  # noqa: F401  (registers itself)
from . import disentangled_vae  # noqa: F401

__all__ = ["HEADS", "Head", "create_head", "head_names"]
