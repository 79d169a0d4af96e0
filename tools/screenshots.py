"""Refresh the README's screenshots, assets/screenshots/*.png, from the browser tests on the shipped model.

    python tools/screenshots.py

The tests alone write their screenshots to a temporary folder; this runs them with ZSL_SCREENSHOTS set
to assets/screenshots/, so that the tracked images change only when someone asks for it.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "assets" / "screenshots"


def main() -> int:
    env = {**os.environ, "ZSL_SCREENSHOTS": str(FOLDER), "GRADIO_ANALYTICS_ENABLED": "False"}
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "tests/test_ui_browser.py"], cwd=ROOT, env=env)
    print(f"screenshots in {FOLDER}" if code == 0 else "the browser tests failed; the screenshots may be partial")
    return code


if __name__ == "__main__":
    sys.exit(main())
