"""zsl-app entry point: `python app.py --help`."""

import sys

from zsl_app.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
