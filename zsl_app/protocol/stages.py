"""The protocol's stages and the hook that gives each its own features (by default the same everywhere)."""

from dataclasses import dataclass
from typing import Callable

from zsl_app.storage.data import Benchmark


@dataclass(frozen=True)
class Stage:
    """A step of the protocol that reads features: validation fold `fold`, or (fold None) the final
    fit on trainval with its single test evaluation."""

    fold: int | None = None

    @property
    def final(self) -> bool:
        return self.fold is None

    def __str__(self) -> str:
        return "final" if self.final else f"fold {self.fold}"


FINAL = Stage()
FeaturesFor = Callable[[Stage], Benchmark]  # features_for(stage) -> the benchmark that stage reads


def same_features(bench: Benchmark) -> FeaturesFor:
    """The default hook: every stage reads `bench`."""
    return lambda stage: bench


def features_hook(data: Benchmark | FeaturesFor) -> FeaturesFor:
    """A per-stage hook as given, or `same_features` of a single benchmark."""
    return data if callable(data) else same_features(data)
