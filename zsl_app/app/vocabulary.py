"""A dataset's attribute vocabulary as people pick from it: CUB's part groups, other datasets' flat lists."""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .classes import ClassError

FLAT = "attributes"  # the one group of a dataset whose attributes have no parts (AWA, SUN, APY)


@dataclass(frozen=True)
class Term:
    """One attribute: its row, its group and its value within the group."""

    index: int  # row of the attribute vector
    group: str  # e.g. "bill shape"; FLAT for a flat list
    value: str  # e.g. "dagger"; the whole name in a flat list
    name: str  # the attribute's readable name, e.g. "bill shape: dagger"


@dataclass(frozen=True)
class Group:
    """Attributes that describe one part in one way, e.g. "wing color": blue, brown, ..."""

    name: str
    terms: tuple[Term, ...]

    @property
    def part(self) -> str:
        """The body part the group describes ("upper tail" of "upper tail color"); "" for size and shape."""
        return self.name.rsplit(" ", 1)[0] if " " in self.name else ""

    def term(self, value: str) -> Term:
        key = _key(value)
        for t in self.terms:
            if _key(t.value) == key:
                return t
        raise ClassError(f"{self.name!r} has no value {value!r}; its values are "
                         f"{', '.join(t.value for t in self.terms[:20])}")


class Vocabulary:
    """The attributes of one model grouped as the dataset names them ("part: value"), searchable, and
    the vectors a choice of values makes."""

    def __init__(self, attribute_names: Sequence[str]):
        grouped: dict[str, list[Term]] = {}
        for i, name in enumerate(attribute_names):
            group, value = name.split(": ", 1) if ": " in name else (FLAT, name)
            grouped.setdefault(group, []).append(Term(i, group, value, name))
        self.groups = [Group(g, tuple(terms)) for g, terms in grouped.items()]
        self.names = list(attribute_names)
        self.size = len(self.names)

    def group(self, name: str) -> Group:
        """The group of that name (case, "_" and CUB's "has_" do not count); ClassError naming the valid ones."""
        key = _key(str(name).lower().removeprefix("has_"))
        for g in self.groups:
            if _key(g.name) == key:
                return g
        raise ClassError(f"no attribute group {name!r}; the groups are {', '.join(g.name for g in self.groups)}")

    def search(self, query: str) -> list[Term]:
        """Every attribute whose name holds each word of the query, in attribute order."""
        words = _key(query).split()
        return [t for g in self.groups for t in g.terms if all(w in _key(t.name) for w in words)]

    def vector(self, parts: Mapping[str, Iterable[str] | Mapping[str, float]], prior: np.ndarray,
               strength: float) -> np.ndarray:
        """A vector (A,) on the dataset's scale: `prior` (a class to start from, or the typical one) with the
        values `parts` names set, {group: [value, ...]} at `strength` (the scale's top) or {group: {value:
        strength}} with strengths from 0 to the top."""
        vector = np.array(prior, dtype=np.float64)
        if vector.shape != (self.size,):
            raise ClassError(f"the class to start from has {vector.shape} values; expected ({self.size},)")
        for group_name, values in parts.items():
            group = self.group(group_name)
            chosen = dict(values) if isinstance(values, Mapping) else {v: strength for v in _listed(values)}
            for value, amount in chosen.items():
                vector[group.term(value).index] = _amount(amount, group.name, value, strength)
        return vector


def _key(text: str) -> str:
    """What makes two spellings of a name the same: case, "_", "-" and spacing do not count."""
    return " ".join(re.sub(r"[_\-]", " ", str(text)).lower().split())


def _listed(values) -> list[str]:
    if isinstance(values, str):
        return [values]
    if not isinstance(values, Iterable):
        raise ClassError(f"expected a list of values or {{value: strength}}, got {type(values).__name__}")
    return list(values)


def _amount(amount, group: str, value: str, top: float) -> float:
    if isinstance(amount, bool) or not isinstance(amount, (int, float, np.integer, np.floating)):
        raise ClassError(f"the strength of {group}: {value} is {amount!r}; expected a number")
    if not np.isfinite(amount):
        raise ClassError(f"the strength of {group}: {value} is {amount}; expected a finite number")
    if not 0 <= amount <= top:
        raise ClassError(f"the strength of {group}: {value} is {amount:g}; expected 0 to {top:g}")
    return float(amount)
