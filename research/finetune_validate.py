"""Validation evidence for the fine-tune settings: fine-tune on a fold's training photos only, then run
the head's validation-only selection on that fold's feature space and print validation U / S / H.

Nothing here reads a test photo or a test score; the settings that ship are chosen from these lines.

    python research/finetune_validate.py --images PATH/CUB_200_2011 --data-root PATH/xlsa17 \\
        --method dvae --fold 1 --seed 0 --set stages=1 epochs=10 lr=1e-4

Head settings are studied the same way: `--head FIELD=VALUE` changes the head's Config (`--classifier
FIELD=VALUE` the GZSL classifier's; `--ensemble K` makes it an ensemble of K, see
`classifier_ensemble.py`), `--checkpoints N`
scores N head snapshots evenly spaced over its training, and each snapshot's best validation report is
printed under "per_length" (the protocol with 2 checkpoints over length L chooses among L/2 and L), so one
long run shows every shorter one; `--grid FIELD=V1,V2` replaces the head's generation grid (e.g. the
VAE-cFlow temperatures) for this run, and "per_option" gives the best report of each snapshot and option.
`--fold-features DIR` keeps each fold fine-tune's features there and reuses them (the same settings, fold,
seed and holdout give the same tensors on one machine).

How the protocol's calibration carries from a smaller model to a larger one (validation's 100 seen classes
to trainval's 150) is measured as `research/dvae-study.md` did for Disentangled-VAE: `--seen-share 0.67`
trains on a random two thirds of the fold's seen classes (the same unseen classes and fine-tune), and
`--transfer-grid FILE` writes every candidate's validation U / S / H and share of training seen images sent
to unseen classes per classifier epoch and gamma (the finer gammas of `dvae_validate.py`), the input of
`research/classifier_transfer.py --joint`.
"""

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vae_cflow_prior  # noqa: E402,F401  (registers the research variants of VAE-cFlow's prior)
from classifier_ensemble import ensembled  # noqa: E402
from dvae_validate import GRID_GAMMAS, fewer_seen  # noqa: E402
from finetune_attributes import FT_CLASSIFIERS  # noqa: E402
from zsl_app.protocol import selection  # noqa: E402
from zsl_app.protocol.calibration import GAMMAS, gamma_reports  # noqa: E402
from zsl_app.core.finetune import FinetuneConfig  # noqa: E402
from zsl_app.core.heads import HEADS  # noqa: E402
from zsl_app.protocol.finetune import (check_rows_match, cut_of, finetune_base, load_photos,  # noqa: E402
                                       validation_bench)
from zsl_app.protocol import resolve_spec  # noqa: E402
from zsl_app.protocol.selection import fold_reports  # noqa: E402
from zsl_app.protocol.spec import parse_overrides  # noqa: E402
from zsl_app.storage.atomic import atomic_path, write_text_atomic  # noqa: E402
from zsl_app.storage.data import Benchmark, load_benchmark, validation_split  # noqa: E402
from zsl_app.storage.paths import user_data_dir  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="the CUB_200_2011 folder")
    p.add_argument("--data-root", required=True, help="xlsa17 folder with CUB/att_splits.mat and effnetlite2.mat")
    p.add_argument("--method", default="dvae")
    p.add_argument("--fold", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frozen", action="store_true", help="no fine-tune: the frozen features, for comparison")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="FinetuneConfig overrides")
    p.add_argument("--ft-classifier", choices=sorted(FT_CLASSIFIERS), default="softmax",
                   help="the fine-tune's classifier of the seen classes (finetune_attributes.py)")
    p.add_argument("--head", nargs="*", default=[], metavar="FIELD=VALUE", help="head Config overrides")
    p.add_argument("--classifier", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="ClassifierConfig overrides (the GZSL classifier's epochs, lr, batch size)")
    p.add_argument("--ensemble", type=int, default=1, metavar="K",
                   help="each candidate's classifier an ensemble of K (research/classifier_ensemble.py)")
    p.add_argument("--checkpoints", type=int, default=2, help="head snapshots scored (the protocol's 2 by default)")
    p.add_argument("--grid", nargs="*", default=[], metavar="FIELD=V1,V2",
                   help="generation options searched instead of the head's grid")
    p.add_argument("--cache-dir", help="activation cache folder (default: the user's)")
    p.add_argument("--fold-features", metavar="DIR", help="keep and reuse the fold fine-tunes' features here")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="append the result as a JSON line to this file")
    p.add_argument("--seen-share", type=float, default=1.0, help="keep this share of the fold's seen classes")
    p.add_argument("--transfer-grid", metavar="FILE", help="write every candidate's report per epoch and gamma")
    args = p.parse_args()
    if args.ensemble < 1:
        p.error(f"--ensemble must be 1 or more; got {args.ensemble}")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    bench = load_benchmark(Path(args.data_root), "CUB", "effnetlite2")
    config = FinetuneConfig(**parse_overrides(args.set))
    head, classifier = parse_overrides(args.head), parse_overrides(args.classifier)
    spec = resolve_spec("CUB", args.method, head=head, classifier=classifier, seed=args.seed,
                        protocol={"folds": (args.fold,), "checkpoints": args.checkpoints})
    if not args.frozen:
        cache = Path(args.cache_dir) if args.cache_dir else user_data_dir() / "cache"
        bench = fold_bench(bench, Path(args.images), cache, config, fold=args.fold, holdout=spec.protocol.holdout,
                           seed=args.seed, keep=Path(args.fold_features) if args.fold_features else None,
                           classifier=args.ft_classifier)
    tuned_s = time.perf_counter() - started
    grid = {k: tuple(json.loads(f"[{values}]")) for k, _, values in (g.partition("=") for g in args.grid)}
    reports = scored(spec, bench, args, grid)
    if args.transfer_grid:
        split = fewer_seen(bench, validation_split(bench, args.fold, spec.protocol.holdout, args.seed),
                           args.seen_share, args.seed)
        write_transfer_grid(Path(args.transfer_grid), reports, args, seen=len(split.seen_classes))
    reports = {c: r for c, r in reports.items() if c.gamma in GAMMAS}  # the protocol's candidates
    best = max(reports, key=lambda c: reports[c]["H"])
    row = {"method": args.method, "fold": args.fold, "seed": args.seed, "seen_share": args.seen_share,
           "finetune": None if args.frozen else dataclasses.asdict(config), "head": head,
           **({"ft_classifier": args.ft_classifier} if args.ft_classifier != "softmax" else {}),
           **({"classifier": classifier} if classifier else {}),
           **({"ensemble": args.ensemble} if args.ensemble > 1 else {}), "val": best_report(reports),
           "chosen": {"length": best.length, **dict(best.options), "classifier_epochs": best.classifier_epochs,
                      "gamma": best.gamma},
           "per_length": {str(length): best_report(reports, lambda c, length=length: c.length == length)
                          for length in sorted({c.length for c in reports})},
           "per_option": {" ".join([str(length), *(f"{k}={v}" for k, v in options)]):
                          best_report(reports, lambda c, key=(length, options): (c.length, c.options) == key)
                          for length, options in sorted({(c.length, c.options) for c in reports})},
           "finetune_s": round(tuned_s, 1), "total_s": round(time.perf_counter() - started, 1)}
    print(json.dumps(row))
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


def scored(spec, bench: Benchmark, args, grid: dict) -> dict:
    """fold_reports with this run's generation grid, share of the fold's seen classes and gammas (the finer
    ones for --transfer-grid)."""
    head_class = HEADS.get(args.method)

    def fewer(*split_args):
        return fewer_seen(bench, validation_split(*split_args), args.seen_share, args.seed)

    gammas = GRID_GAMMAS if args.transfer_grid else GAMMAS
    with (mock.patch.object(head_class, "selection_grid", grid or head_class.selection_grid),
          mock.patch.object(selection, "validation_split", fewer),
          mock.patch.object(selection, "gamma_reports", lambda *a: gamma_reports(*a, gammas)),
          ensembled(args.ensemble)):
        return fold_reports(spec, bench, args.fold)


def write_transfer_grid(path: Path, reports: dict, args, *, seen: int) -> None:
    """The reports as `research/classifier_transfer.py` reads them: one variant per snapshot and option, rows
    (classifier epoch, gamma, U, S, H, seen_to_unseen)."""
    variants = {}
    for c, r in reports.items():
        variant = variants.setdefault((c.length, c.options), {"variant": {"length": c.length, **dict(c.options)},
                                                              "rows": []})
        variant["rows"].append((c.classifier_epochs, c.gamma, *(round(r[k], 3) for k in ("U", "S", "H",
                                                                                           "seen_to_unseen"))))
    write_text_atomic(path, json.dumps({"fold": args.fold, "seed": args.seed, "seen": seen, "method": args.method,
                                        "head": args.head, "variants": list(variants.values())}))


def best_report(reports: dict, among=lambda candidate: True) -> dict:
    """The validation report of the best-H candidate `among` accepts, rounded."""
    best = max((c for c in reports if among(c)), key=lambda c: reports[c]["H"])
    return {k: round(reports[best][k], 2) for k in ("U", "S", "H", "ZSL")}


def fold_bench(bench: Benchmark, images: Path, cache: Path, config: FinetuneConfig, *, fold: int, holdout: float,
               seed: int, keep: Path | None, classifier: str = "softmax") -> Benchmark:
    """The benchmark in the space of fold `fold`'s own fine-tune, read from `keep` when a run made it there."""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if (k, v) != ("mirror", False)}  # the key of
    #                                                         fine-tunes kept before the setting existed unchanged
    key = json.dumps({"config": settings, "fold": fold, "holdout": holdout, "seed": seed,
                      **({"classifier": classifier} if classifier != "softmax" else {})}, sort_keys=True)
    stem = keep / f"cub-fold{fold}-s{seed}-{hashlib.sha256(key.encode()).hexdigest()[:12]}" if keep else None
    if stem and stem.with_suffix(".json").is_file():
        recipe = json.loads(stem.with_suffix(".json").read_text())["recipe"]
        return dataclasses.replace(bench, features=np.load(stem.with_suffix(".npy")),
                                   features_name=f"{bench.features_name}-ft-val{fold}", feature_space=recipe)
    base = finetune_base("effnet-lite2", config)
    photos = load_photos(images, bench.root / "att_splits.mat", base, cut_of(base, config), cache, views=config.views)
    check_rows_match(photos, bench)
    with FT_CLASSIFIERS[classifier](bench, fold=fold, holdout=holdout, seed=seed):
        tuned = validation_bench(bench, photos, base, config, fold=fold, holdout=holdout, seed=seed)
    if stem:
        with atomic_path(stem.with_suffix(".npy")) as tmp, open(tmp, "wb") as f:
            np.save(f, tuned.features)
        write_text_atomic(stem.with_suffix(".json"),
                          json.dumps({"key": json.loads(key), "recipe": tuned.feature_space}))
    return tuned


if __name__ == "__main__":
    main()
