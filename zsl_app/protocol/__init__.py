"""The protocol: one run specification, validation-only selection, calibration, retrain and one test."""

from .selection import Selection
from .spec import Protocol, RunSpec, SpecError, head_defaults, resolve_spec
from .stages import FINAL, FeaturesFor, Stage, same_features

__all__ = ["FINAL", "FeaturesFor", "Protocol", "RunSpec", "Selection", "SpecError", "Stage", "head_defaults",
           "resolve_spec", "same_features"]
