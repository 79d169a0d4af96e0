"""Write a checkpoint's photo reading (attribute reader + domain check) beside it, fit on its benchmark with
every choice made on validation fold 1. The shipped models' readings were written by

    python tools/fit_reading.py weights/cub-vae-cflow-effnetlite2-s0 weights/cub-dvae-effnetlite2-s0
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zsl_app.protocol.reading import reading_for  # noqa: E402
from zsl_app.storage.checkpoint import CheckpointError, read_metadata  # noqa: E402
from zsl_app.storage.data import load_benchmark  # noqa: E402
from zsl_app.storage.paths import resolve_data_root  # noqa: E402
from zsl_app.storage.reading_file import save_reading  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="checkpoint stems or files")
    p.add_argument("--data-root", help="xlsa17 folder (default: $ZSL_DATA_ROOT, else the user data dir)")
    args = p.parse_args()
    for checkpoint in args.checkpoints:
        meta = read_metadata(checkpoint)
        bench = load_benchmark(resolve_data_root(args.data_root), meta["dataset"], meta["features"]["name"])
        if bench.feature_space != meta["features"]["feature_space"]:
            raise CheckpointError(f"{checkpoint} was trained on '{meta['features']['feature_space']}' features "
                                  f"but {bench.root}/{bench.features_name}.mat holds '{bench.feature_space}'")
        reading = reading_for(bench)
        print(f"{save_reading(checkpoint, reading)}: {json.dumps(reading.meta['validation'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
