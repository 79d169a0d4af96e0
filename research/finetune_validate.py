"""Validation evidence for the fine-tune settings: fine-tune on a fold's training photos only, then run
the head's validation-only selection on that fold's feature space and print validation U / S / H.

Nothing here reads a test photo or a test score; the settings that ship are chosen from these lines.

    python research/finetune_validate.py --images PATH/CUB_200_2011 --data-root PATH/xlsa17 \\
        --method dvae --fold 1 --seed 0 --set stages=1 epochs=10 lr=1e-4
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zsl_app.core.finetune import FinetuneConfig  # noqa: E402
from zsl_app.protocol.finetune import (check_rows_match, cut_of, finetune_base, load_photos,  # noqa: E402
                                       validation_bench)
from zsl_app.protocol import resolve_spec  # noqa: E402
from zsl_app.protocol.selection import select_settings  # noqa: E402
from zsl_app.storage.data import load_benchmark  # noqa: E402
from zsl_app.storage.paths import user_data_dir  # noqa: E402


def parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="the CUB_200_2011 folder")
    p.add_argument("--data-root", required=True, help="xlsa17 folder with CUB/att_splits.mat and effnetlite2.mat")
    p.add_argument("--method", default="dvae")
    p.add_argument("--fold", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frozen", action="store_true", help="no fine-tune: the frozen features, for comparison")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="FinetuneConfig overrides")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="append the result as a JSON line to this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    bench = load_benchmark(Path(args.data_root), "CUB", "effnetlite2")
    config = FinetuneConfig(**{k: parse_value(v) for k, v in (s.split("=", 1) for s in args.set)})
    spec = resolve_spec("CUB", args.method, protocol={"folds": (args.fold,)}, seed=args.seed)
    if not args.frozen:
        base = finetune_base("effnet-lite2", config)
        photos = load_photos(Path(args.images), bench.root / "att_splits.mat", base, cut_of(base, config),
                             user_data_dir() / "cache", views=config.views)
        check_rows_match(photos, bench)
        bench = validation_bench(bench, photos, base, config, fold=args.fold, holdout=spec.protocol.holdout,
                                 seed=args.seed)
    tuned_s = time.perf_counter() - started
    choice = select_settings(spec, bench)
    val = choice.val
    row = {"method": args.method, "fold": args.fold, "seed": args.seed,
           "finetune": None if args.frozen else dataclasses.asdict(config),
           "val": {k: round(val[k], 2) for k in ("U", "S", "H", "ZSL")},
           "chosen": {k: v for k, v in choice.to_meta().items() if k not in ("val", "val_per_fold")},
           "finetune_s": round(tuned_s, 1), "total_s": round(time.perf_counter() - started, 1)}
    print(json.dumps(row))
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
