"""What a user class is: a name and an attribute vector, checked against the rules of one model."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from zsl_app.core.attribute_scale import HumanScale
from zsl_app.storage.data.attribute_names import readable
from .names import display_name

MAX_NAME = 80  # characters; a class name is a label, not a description
MAX_PHOTOS = 5  # photos a class is read from, and kept as its examples
SMALLEST = 1e-6  # the largest value of a class must reach this: the class file keeps 6 decimals


class ClassError(ValueError):
    """A class name or attribute vector the app cannot accept."""


@dataclass
class UserClass:
    """A class a user described by its attributes."""

    name: str
    human: list[float]  # (A,) on the dataset's own scale (CUB: 0-100), as the user gave or would see it
    attributes: list[float]  # (A,) L2-normalised, the model's attribute space
    examples: list[list[float]] = field(default_factory=list)  # (k, D) backbone features of photos of it, if any


def name_key(name: str) -> str:
    """What makes two class names the same: case, "_" vs " ", and CUB's "001." prefix do not count."""
    return " ".join(re.sub(r"^\d+\.", "", name).replace("_", " ").lower().split())


def keys_of(class_id: str) -> set[str]:
    """The keys a dataset class answers to: its id's and its shown name's ("Brewer's Blackbird")."""
    return {name_key(class_id), name_key(display_name(class_id))}


class ClassRules:
    """What one model accepts as a user class: its attributes, their scale, and the names it already has."""

    def __init__(self, *, attribute_names: Sequence[str], scale: HumanScale, builtin: Sequence[str],
                 feature_dim: int = 0):
        self.attribute_names, self.scale, self.feature_dim = list(attribute_names), scale, feature_dim
        self.builtin = {key: n for n in builtin for key in keys_of(n)}

    def new_class(self, name, values, *, normalised: bool = False, existing: Sequence[str] = (),
                  examples=()) -> UserClass:
        """Check a new class (`examples`: backbone features of photos of it, (k, D)); ClassError says what is
        wrong. Nothing is stored."""
        name = self.check_name(name, existing)
        vector = self.vector(values)
        if normalised:
            low, high = (0.0 if self.scale.low >= 0 else -1.0), 1.0
        else:
            low, high = self.scale.low, self.scale.high
        if vector.min() < low - 1e-6 or vector.max() > high + 1e-6:
            bad = int(np.argmax((vector < low - 1e-6) | (vector > high + 1e-6)))
            kind = "L2-normalised" if normalised else "this dataset's"
            raise ClassError(f"attribute {bad + 1} ({self.attribute_names[bad]}) is {vector[bad]:g}; {kind} "
                             f"values lie in [{low:g}, {high:g}]"
                             + ("" if normalised else "; pass --normalised for an L2-normalised vector"))
        attributes = self.scale.to_model(vector)
        human = attributes * self.scale.typical_norm if normalised else vector
        return UserClass(name, [round(float(v), 6) for v in human], [float(v) for v in attributes],
                         self.examples(examples))

    def stored_class(self, entry: Mapping, existing: Sequence[str]) -> UserClass:
        """A class read back from the class file, checked as when it was added (its range aside:
        a normalised class's human values may pass the scale's top)."""
        name = self.check_name(entry.get("name"), existing)
        human, attributes = (self.vector(entry.get(field), field) for field in ("human", "attributes"))
        if abs(np.linalg.norm(attributes) - 1) > 1e-3:
            raise ClassError(f"its attributes have L2 norm {np.linalg.norm(attributes):g}; expected 1")
        return UserClass(name, [float(v) for v in human], [float(v) for v in attributes],
                         self.examples(entry.get("examples", [])))

    def examples(self, features) -> list[list[float]]:
        """Photo features kept as a class's examples: at most MAX_PHOTOS finite rows of the model's feature
        dimension, as lists; ClassError otherwise."""
        features = np.asarray(features, dtype=np.float64) if len(features) else np.zeros((0, self.feature_dim))
        if features.ndim != 2 or features.shape[1] != self.feature_dim or len(features) > MAX_PHOTOS:
            raise ClassError(f"a class's photo examples are up to {MAX_PHOTOS} feature rows of "
                             f"{self.feature_dim} values; got shape {features.shape}")
        if not np.isfinite(features).all():
            raise ClassError("a class's photo examples hold a value that is not a finite number")
        return [[float(v) for v in row] for row in features]

    def check_name(self, name, existing: Sequence[str] = ()) -> str:
        """The name with its whitespace tidied; ClassError when it is empty, too long or taken."""
        if name is not None and not isinstance(name, str):
            raise ClassError(f"the class name must be text, got {type(name).__name__} {name!r}")
        if not name or not name.strip():
            raise ClassError("the class name is empty; expected a name such as 'Blue_Jay_hybrid'")
        name = " ".join(name.split())
        if len(name) > MAX_NAME:
            raise ClassError(f"the class name has {len(name)} characters; at most {MAX_NAME} are allowed")
        if not name.isprintable():
            raise ClassError(f"the class name {name!r} contains control characters")
        key = name_key(name)
        if key in self.builtin:
            raise ClassError(f"{name!r} is already a class of the model ({self.builtin[key]!r}); choose another name")
        if any(name_key(n) == key for n in existing):
            raise ClassError(f"a user class named {name!r} already exists; remove it first or choose another name")
        return name

    def vector(self, values, what: str = "attributes") -> np.ndarray:
        """One finite number per attribute, not all (nearly) zero, as float64 (A,)."""
        n = len(self.attribute_names)
        if isinstance(values, Mapping):
            values = self._from_mapping(values)
        vector = _numbers(values, n, what)
        if vector.ndim != 1:
            raise ClassError(f"expected one flat list of {n} attribute values, got "
                             + (f"an array of shape {vector.shape}" if vector.ndim else "a single value"))
        if len(vector) != n:
            raise ClassError(f"expected {n} attribute values (one per attribute of this model), got {len(vector)}")
        if not np.isfinite(vector).all():
            bad = int(np.argmin(np.isfinite(vector)))
            raise ClassError(f"attribute {bad + 1} ({self.attribute_names[bad]}) is {vector[bad]}; "
                             f"expected a finite number")
        if not vector.any():
            raise ClassError("every attribute is 0; a class needs at least one attribute it has")
        if np.abs(vector).max() < SMALLEST:
            raise ClassError(f"every attribute is below {SMALLEST:g} (largest {np.abs(vector).max():g}); a class "
                             f"needs at least one attribute it has, on the scale "
                             f"[{self.scale.low:g}, {self.scale.high:g}]")
        return vector

    def _from_mapping(self, values: Mapping) -> list:
        """{name: value} -> a vector in attribute order; names match with CUB's raw spelling too."""
        index = {readable(n).lower(): i for i, n in enumerate(self.attribute_names)}
        out, given = [None] * len(self.attribute_names), {}
        for key, value in values.items():
            i = index.get(readable(str(key)).lower())
            if i is None:
                raise ClassError(f"unknown attribute {key!r}; expected names such as {self.attribute_names[0]!r}")
            if i in given:
                raise ClassError(f"attribute {self.attribute_names[i]!r} is given twice ({given[i]!r} and "
                                 f"{key!r}); give each attribute one value")
            out[i], given[i] = value, key
        missing = [self.attribute_names[i] for i, v in enumerate(out) if v is None]
        if missing:
            raise ClassError(f"{len(missing)} attributes have no value, e.g. {missing[:3]}; give every "
                             f"attribute a value (0 when the class does not have it)")
        return out


def _numbers(values, n: int, what: str) -> np.ndarray:
    """A flat sequence of numbers as float64; booleans and nested lists are refused, not converted."""
    if isinstance(values, np.ndarray) and values.dtype == bool or isinstance(values, (bool, np.bool_)):
        raise ClassError(f"the {what} are booleans; expected {n} numbers")
    if isinstance(values, Sequence) and not isinstance(values, str):
        for i, v in enumerate(values):
            if isinstance(v, (bool, np.bool_)):
                raise ClassError(f"attribute {i + 1} is {v}, a boolean; expected a number")
            if isinstance(v, (Sequence, Mapping, np.ndarray)) and not isinstance(v, str):
                raise ClassError(f"attribute {i + 1} is a {type(v).__name__}, not a number; expected one flat "
                                 f"list of {n} numbers (is the list nested?)")
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ClassError(f"the {what} must be {n} numbers ({err})") from None
