"""Generative GZSL heads, chosen by name: `create_head("vae-cflow", ...)`."""

from . import disentangled_vae  # noqa: F401
from . import vae_cflow  # noqa: F401  (registers itself)
from .base import HEADS, Head, create_head, head_names

__all__ = ["HEADS", "Head", "create_head", "head_names"]
