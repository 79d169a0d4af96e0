"""How a class is named to a person: 158.Bay_breasted_Warbler is shown as "Bay-breasted Warbler"."""

import re

NUMBERED = re.compile(r"\d+\.(.+)")  # CUB's ids are its image folders: 001.Black_footed_Albatross
# CUB writes a hyphenated English name with "_" and keeps the capitals where the name has a space:
# Black_footed_Albatross, Black_and_white_Warbler, but Great_Crested_Flycatcher. So an "_" before a
# lowercase letter stood for a hyphen; in the 200 ids this gives each hyphenated name its hyphen.
HYPHEN = re.compile(r"_(?=[a-z])")


def display_name(class_id: str, kind: str | None = None) -> str:
    """The name shown for a class: the dataset's id made readable; a user class exactly as it was typed."""
    if kind == "user":
        return class_id
    numbered = NUMBERED.fullmatch(class_id)
    if numbered:
        return HYPHEN.sub("-", numbered.group(1)).replace("_", " ")
    return class_id.replace("_", " ").replace("+", " ")  # SUN: airplane_cabin, AWA: grizzly+bear


def normalised(text: str) -> str:
    """Lowercase, with '_', '-', '+' and '.' as spaces: how a search compares text."""
    return " ".join(re.sub(r"[_\-+.]", " ", text.lower()).split())


def search_text(class_id: str, kind: str | None = None) -> str:
    """What a search matches against: the shown name and the id."""
    return normalised(f"{display_name(class_id, kind)} {class_id}")


def sort_key(class_id: str, kind: str | None = None) -> tuple[str, str]:
    """Alphabetical by the shown name, case ignored; the id breaks ties."""
    return display_name(class_id, kind).casefold(), class_id
