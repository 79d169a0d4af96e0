"""Where the app looks for data and keeps user state."""

import os
from pathlib import Path

DATA_ROOT_ENV = "ZSL_DATA_ROOT"
USER_DIR_ENV = "ZSL_USER_DIR"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
WEIGHTS_DIR = PROJECT_ROOT / "weights"


def user_data_dir() -> Path:
    """Per-user state (downloads, user-added classes): $ZSL_USER_DIR, else the XDG data dir."""
    if os.environ.get(USER_DIR_ENV):
        return Path(os.environ[USER_DIR_ENV]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(xdg) / "zsl-app"


def resolve_data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The xlsa17 root: the explicit argument, else $ZSL_DATA_ROOT, else the user data dir."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(DATA_ROOT_ENV):
        return Path(os.environ[DATA_ROOT_ENV]).expanduser()
    return user_data_dir() / "xlsa17"
