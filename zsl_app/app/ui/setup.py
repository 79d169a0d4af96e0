"""What a tab says where benchmark data is missing: which files, where they go, the commands that get them.

A fresh install has none, so this is an expected state, never an error. The page names the data root by how
it was chosen, not by its path: the page is public, and server paths stay off it."""

import os

from zsl_app.storage.paths import DATA_ROOT_ENV


def data_root(given: bool) -> str:
    """How this server chose its data root, in words."""
    if given:
        return "the `--data-root` folder this server was started with"
    if os.environ.get(DATA_ROOT_ENV):
        return f"`${DATA_ROOT_ENV}`"
    return "`xlsa17/` in the user data folder (`$ZSL_USER_DIR`, else `~/.local/share/zsl-app`)"


def commands(given: bool, *, photos: bool) -> str:
    """The commands that fill the data root; `photos`: also the CUB photos and their EfficientNet-Lite2 features
    (the shipped models' feature space, which xlsa17 does not include)."""
    root = " --data-root <that folder>" if given else ""
    lines = [f"python app.py --download xlsa17{root}   # attributes, splits, ResNet-101 features (5 datasets)"]
    if photos:
        lines += ["python app.py --download cub-images           # the CUB-200-2011 photos (1.1 GB)",
                  f"python app.py --extract cub --backbone effnet-lite2{root}   # their EfficientNet-Lite2 features"]
    return "```\n" + "\n".join(lines) + "\n```"


def no_benchmarks(given: bool) -> str:
    """The Train tab's message when no dataset has features under the data root."""
    return (f"**No benchmark data yet.** Training reads the xlsa17 benchmark files (class attributes, splits and "
            f"image features) from the data root, {data_root(given)}, and finds none there. On the server, run\n\n"
            f"{commands(given, photos=True)}\n\nthe first alone is enough to train on ResNet-101 features; the other "
            f"two give the features the shipped models use, so that the models you train can classify photos. Then "
            f"reload this page.")


def missing_features(dataset: str, features: str, given: bool) -> str:
    """The Evaluate tab's note when the active model's features are not under the data root."""
    photos = dataset.upper() == "CUB" and features != "res101"
    return (f"**Showing the metrics saved with the model only:** recomputing them and drawing the charts needs the "
            f"{dataset} `{features}` features under the data root, {data_root(given)}, which are not there. On the "
            f"server, run\n\n{commands(given, photos=photos)}\n\nthen evaluate again.")
