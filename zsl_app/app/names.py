"""How a class is named to a person: 158.Bay_breasted_Warbler is shown as "Bay-breasted Warbler"."""

import re

NUMBERED = re.compile(r"\d+\.(.+)")  # CUB's ids are its image folders: 001.Black_footed_Albatross
# CUB writes a hyphenated English name with "_" and keeps the capitals where the name has a space:
# Black_footed_Albatross, Black_and_white_Warbler, but Great_Crested_Flycatcher. So an "_" before a
# lowercase letter stood for a hyphen; in the 200 ids this gives each hyphenated name its hyphen.
HYPHEN = re.compile(r"_(?=[a-z])")
# The ids drop apostrophes and two hyphens before capitals, and misspell one name; these read as the
# English names birders use.
CUB_ENGLISH = {
    "009.Brewer_Blackbird": "Brewer's Blackbird", "022.Chuck_will_Widow": "Chuck-will's-widow",
    "023.Brandt_Cormorant": "Brandt's Cormorant", "061.Heermann_Gull": "Heermann's Gull",
    "067.Anna_Hummingbird": "Anna's Hummingbird", "093.Clark_Nutcracker": "Clark's Nutcracker",
    "098.Scott_Oriole": "Scott's Oriole", "105.Whip_poor_Will": "Whip-poor-will",
    "113.Baird_Sparrow": "Baird's Sparrow", "115.Brewer_Sparrow": "Brewer's Sparrow",
    "122.Harris_Sparrow": "Harris's Sparrow", "123.Henslow_Sparrow": "Henslow's Sparrow",
    "124.Le_Conte_Sparrow": "Le Conte's Sparrow", "125.Lincoln_Sparrow": "Lincoln's Sparrow",
    "126.Nelson_Sharp_tailed_Sparrow": "Nelson's Sharp-tailed Sparrow", "141.Artic_Tern": "Arctic Tern",
    "146.Forsters_Tern": "Forster's Tern", "178.Swainson_Warbler": "Swainson's Warbler",
    "180.Wilson_Warbler": "Wilson's Warbler", "187.American_Three_toed_Woodpecker":
    "American Three-toed Woodpecker", "193.Bewick_Wren": "Bewick's Wren",
}


def display_name(class_id: str, kind: str | None = None) -> str:
    """The name shown for a class: the dataset's id made readable; a user class exactly as it was typed."""
    if kind == "user":
        return class_id
    if class_id in CUB_ENGLISH:
        return CUB_ENGLISH[class_id]
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
