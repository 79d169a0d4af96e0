"""A class's attribute vector read from a .csv or .json file: bounded in size, every fault named."""

import csv
import io
import json
from pathlib import Path

from .classes import ClassError

# A 312-value vector is a few KB; parsing costs ~100x a file's size in memory, so 1 MB bounds it at ~0.1 GB.
MAX_BYTES = 1_000_000
JSON_KINDS = {bool: "a boolean", str: "text", list: "a list (is the list nested?)", dict: "an object",
              type(None): "null"}


def read_attribute_file(path: str | Path) -> list[float] | dict[str, float]:
    """A .json (a list of numbers, or {attribute name: value}) or .csv (numbers, or rows "name,value")."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ClassError(f"no attribute file at {path}; expected a .csv or .json file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ClassError(f"{path}: unsupported file type {path.suffix!r}; expected .csv or .json")
    text = _read_text(path)
    return _parse_json(text, path) if suffix == ".json" else _parse_csv(text, path)


def _read_text(path: Path) -> str:
    with path.open("rb") as f:
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ClassError(f"{path} is larger than {MAX_BYTES // 1000} KB; an attribute file holds one value per "
                         f"attribute (a few KB)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ClassError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8 "
                         f"(a spreadsheet's 'CSV UTF-8')") from None


def _parse_json(text: str, path: Path) -> list[float] | dict[str, float]:
    try:
        data = json.loads(text, object_pairs_hook=lambda pairs: _unique(pairs, path))
    except json.JSONDecodeError as err:
        raise ClassError(f"{path} is not valid JSON ({err})") from err
    except RecursionError:
        raise ClassError(f"{path} is nested too deeply; expected a JSON list of numbers or an object "
                         f"{{attribute name: value}}") from None
    if isinstance(data, list):
        for i, value in enumerate(data):
            _check_number(value, f"{path}: item {i + 1}")
        return data
    if isinstance(data, dict):
        for name, value in data.items():
            _check_number(value, f"{path}: attribute {name!r}")
        return data
    raise ClassError(f"{path}: expected a JSON list of numbers or an object {{attribute name: value}}")


def _unique(pairs: list[tuple], path: Path) -> dict:
    """A JSON object whose keys are each given once (json keeps the last of a repeated key silently)."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise ClassError(f"{path}: {key!r} is given twice; give each attribute one value")
        out[key] = value
    return out


def _check_number(value, where: str) -> None:
    """JSON numbers only: true would otherwise count as 1.0 and a nested list as its items."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ClassError(f"{where} is {JSON_KINDS.get(type(value), type(value).__name__)}; expected a number")


def _parse_csv(text: str, path: Path) -> list[float] | dict[str, float]:
    rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    if rows and all(len(r) == 2 for r in rows) and not _is_number(rows[0][0]):
        pairs = rows[1:] if not _is_number(rows[0][1]) else rows  # a "name,value" header row
        return _unique([(name, _number(value, path)) for name, value in pairs], path)
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
