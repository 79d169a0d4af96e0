"""The class registry: user-added classes of one model, validated and persisted atomically."""

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from zsl_app.storage.atomic import write_text_atomic
from zsl_app.storage.data.attribute_names import readable
from zsl_app.storage.paths import user_data_dir

FORMAT = "zsl-app-classes/1"
MAX_NAME = 80  # characters; a class name is a label, not a description


class ClassError(ValueError):
    """A class name or attribute vector the registry cannot accept."""


@dataclass
class UserClass:
    """A class a user described by its attributes."""

    name: str
    human: list[float]  # (A,) on the dataset's own scale (CUB: 0-100), as the user gave or would see it
    attributes: list[float]  # (A,) L2-normalised, the model's attribute space


@dataclass(frozen=True)
class HumanScale:
    """The dataset's own attribute scale (CUB: percentages 0-100) and how it maps to L2-normalised rows."""

    low: float  # smallest valid value (0 for CUB)
    high: float  # largest valid value (100 for CUB)
    typical_norm: float  # median L2 norm of a dataset class: turns a normalised row into plausible values

    def to_model(self, human: np.ndarray) -> np.ndarray:
        """Human scale -> the model's space (row L2-normalised, as att_splits `att`)."""
        return (human / np.linalg.norm(human)).astype(np.float32)


def human_scale_meta(original_attributes: np.ndarray, class_rows: Sequence[int]) -> dict:
    """Checkpoint metadata that maps the model's attributes back to the dataset's scale.

    att = original_att / ||original_att|| per class, so one norm per class undoes it."""
    original = np.asarray(original_attributes, dtype=np.float64)
    norms = np.linalg.norm(original[list(class_rows)], axis=1)
    return {"min": float(min(0.0, original.min())), "max": float(math.ceil(original.max())),
            "norms": [round(float(n), 6) for n in norms]}


def name_key(name: str) -> str:
    """What makes two class names the same: case, "_" vs " ", and CUB's "001." prefix do not count."""
    return " ".join(re.sub(r"^\d+\.", "", name).replace("_", " ").lower().split())


def read_attribute_file(path: str | Path) -> list[float] | dict[str, float]:
    """A .json (a list of numbers, or {attribute name: value}) or .csv (numbers, or rows "name,value")."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ClassError(f"no attribute file at {path}; expected a .csv or .json file")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ClassError(f"{path} is not valid JSON ({err})") from err
        if not isinstance(data, (list, dict)):
            raise ClassError(f"{path}: expected a JSON list of numbers or an object {{attribute name: value}}")
        return data
    if path.suffix.lower() == ".csv":
        return _parse_csv(text, path)
    raise ClassError(f"{path}: unsupported file type {path.suffix!r}; expected .csv or .json")


def _parse_csv(text: str, path: Path) -> list[float] | dict[str, float]:
    rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    if rows and all(len(r) == 2 for r in rows) and not _is_number(rows[0][0]):
        pairs = rows[1:] if not _is_number(rows[0][1]) else rows  # a "name,value" header row
        return {name: _number(value, path) for name, value in pairs}
    return [_number(c, path) for row in rows for c in row if c]


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _number(text, where) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ClassError(f"{where}: {text!r} is not a number") from None


def registry_path(model_id: str) -> Path:
    """Where the user classes of one model are kept."""
    return user_data_dir() / "classes" / f"{model_id}.json"


def read_user_classes(path: Path) -> list[UserClass]:
    """The classes saved in a registry file ([] when there is none)."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
        return [UserClass(c["name"], list(c["human"]), list(c["attributes"])) for c in data["classes"]]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ClassError(f"cannot read the user classes in {path} ({err}); fix or delete that file") from err


class ClassRegistry:
    """The user classes of one model, in the order they were added; a JSON file per model."""

    def __init__(self, model_id: str, *, attribute_names: list[str], builtin: Sequence[str], scale: HumanScale,
                 path: str | Path | None = None):
        self.model_id, self.attribute_names, self.scale = model_id, list(attribute_names), scale
        self.builtin = {name_key(n): n for n in builtin}
        self.path = Path(path) if path else registry_path(model_id)
        self.classes: list[UserClass] = self._read()

    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def get(self, name: str) -> UserClass:
        for c in self.classes:
            if name_key(c.name) == name_key(name):
                return c
        if name_key(name) in self.builtin:
            raise ClassError(f"{self.builtin[name_key(name)]!r} is a class of the dataset, not a user class; "
                             f"only classes added with --add-class can be removed")
        raise ClassError(f"no user class {name!r}; user classes: {', '.join(self.names()) or 'none'}")

    def validate(self, name: str, values, *, normalised: bool = False) -> UserClass:
        """Check a new class; ClassError says what is wrong. Nothing is stored."""
        name = self._check_name(name)
        vector = self._as_vector(values)
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
        return UserClass(name, [round(float(v), 6) for v in human], [float(v) for v in attributes])

    def add(self, user_class: UserClass) -> None:
        """Persist, then remember; a failed write leaves both file and registry as they were."""
        self._write(self.classes + [user_class])
        self.classes.append(user_class)

    def remove(self, name: str) -> UserClass:
        target = self.get(name)
        self._write([c for c in self.classes if c is not target])
        self.classes.remove(target)
        return target

    # --- checks --------------------------------------------------------------------------------
    def _check_name(self, name) -> str:
        if not isinstance(name, str) or not name.strip():
            raise ClassError("the class name is empty; expected a name such as 'Blue_Jay_hybrid'")
        name = " ".join(name.split())
        if len(name) > MAX_NAME:
            raise ClassError(f"the class name has {len(name)} characters; at most {MAX_NAME} are allowed")
        if not name.isprintable():
            raise ClassError(f"the class name {name!r} contains control characters")
        key = name_key(name)
        if key in self.builtin:
            raise ClassError(f"{name!r} is already a class of the model ({self.builtin[key]!r}); choose another name")
        if any(name_key(c.name) == key for c in self.classes):
            raise ClassError(f"a user class named {name!r} already exists; remove it first or choose another name")
        return name

    def _as_vector(self, values) -> np.ndarray:
        n = len(self.attribute_names)
        if isinstance(values, Mapping):
            values = self._from_mapping(values)
        try:
            vector = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ClassError(f"the attributes must be {n} numbers ({err})") from None
        if vector.ndim != 1 or len(vector) != n:
            raise ClassError(f"expected {n} attribute values (one per attribute of this model), "
                             f"got {vector.size if vector.ndim else 'a single value'}")
        if not np.isfinite(vector).all():
            bad = int(np.argmin(np.isfinite(vector)))
            raise ClassError(f"attribute {bad + 1} ({self.attribute_names[bad]}) is {vector[bad]}; "
                             f"expected a finite number")
        if not vector.any():
            raise ClassError("every attribute is 0; a class needs at least one attribute it has")
        return vector

    def _from_mapping(self, values: Mapping) -> list:
        """{name: value} -> a vector in attribute order; names match with CUB's raw spelling too."""
        index = {readable(n).lower(): i for i, n in enumerate(self.attribute_names)}
        out = [None] * len(self.attribute_names)
        for key, value in values.items():
            i = index.get(readable(str(key)).lower())
            if i is None:
                raise ClassError(f"unknown attribute {key!r}; expected names such as {self.attribute_names[0]!r}")
            out[i] = value
        missing = [self.attribute_names[i] for i, v in enumerate(out) if v is None]
        if missing:
            raise ClassError(f"{len(missing)} attributes have no value, e.g. {missing[:3]}; give every "
                             f"attribute a value (0 when the class does not have it)")
        return out

    # --- storage -------------------------------------------------------------------------------
    def _read(self) -> list[UserClass]:
        classes = read_user_classes(self.path)
        if any(len(c.attributes) != len(self.attribute_names) for c in classes):
            raise ClassError(f"{self.path} holds classes with a different number of attributes than model "
                             f"{self.model_id!r} ({len(self.attribute_names)}); delete that file")
        return classes

    def _write(self, classes: list[UserClass]) -> None:
        data = {"format": FORMAT, "model": self.model_id, "classes": [asdict(c) for c in classes]}
        write_text_atomic(self.path, json.dumps(data, indent=1))
