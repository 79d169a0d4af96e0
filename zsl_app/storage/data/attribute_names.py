"""Readable attribute names of each dataset, in att row order (packaged under data/meta/)."""

from pathlib import Path

META = Path(__file__).parent / "meta"
FILES = {"CUB": "cub/attributes.txt", "AWA1": "awa_predicates.txt", "AWA2": "awa_predicates.txt",
         "SUN": "sun_attributes.txt", "APY": "apy_attributes.txt"}


def attribute_names(dataset: str, n: int | None = None) -> list[str]:
    """Names for `dataset`'s attributes; "attribute 1".. when unknown or when `n` does not match the file."""
    file = FILES.get(dataset.upper())
    names = [readable(line) for line in (META / file).read_text().splitlines() if line.strip()] if file else []
    if n is not None and len(names) != n:
        return [f"attribute {i + 1}" for i in range(n)]
    return names


def readable(line: str) -> str:
    """'12 has_bill_shape::curved_(up_or_down)' -> 'bill shape: curved (up or down)'; other names as they are."""
    parts = line.strip().split(maxsplit=1)
    name = parts[1] if len(parts) == 2 and parts[0].isdigit() else line.strip()
    if "::" in name:  # CUB's "has_<part>::<value>"
        part, value = name.split("::", 1)
        name = f"{part.removeprefix('has_')}: {value}".replace("_", " ")
    return " ".join(name.split())
