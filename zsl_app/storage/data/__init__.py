"""Benchmark data: xlsa17 loading, validation folds, download, attribute names."""

from .splits import MinMaxScaler, Split, proposed_split, validation_split
from .xlsa17 import DATASETS, Benchmark, DataError, available_datasets, available_features, load_benchmark

__all__ = [
    "DATASETS", "Benchmark", "DataError", "MinMaxScaler", "Split", "available_datasets",
    "available_features", "load_benchmark", "proposed_split", "validation_split",
]
