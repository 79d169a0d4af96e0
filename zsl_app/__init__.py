"""zsl-app: generalized zero-shot image classification, from benchmark features to photos."""

__version__ = "0.1.0"
