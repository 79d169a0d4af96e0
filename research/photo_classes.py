"""How a class added from a few photos is best fit, chosen on validation: a model trained on CUB fold 1's
training classes with the settings of a shipped model; its 50 validation classes taken out and re-added one after
another from k = 1, 3, 5 of their photos, by the attributes read in the photos alone or with the photos'
features among the class's examples (a share of the example mass); validation U / S / H, against re-adding each
class from its true attribute vector. Nothing here reads a test photo or a test score.

    python research/photo_classes.py --model weights/cub-vae-cflow-effnetlite2-s0 --data-root PATH/xlsa17
    python research/photo_classes.py --model weights/cub-dvae-effnetlite2-ft-90fc9e00-s0-20261202-055436 \\
        --data-root PATH/xlsa17 --images PATH/CUB_200_2011     (a fine-tuned model: fold 1's own fine-tune,
                                                               at the settings its backbone records)
The fine-tuned model of the recorded results was the default of the time; it no longer ships: `python app.py
--train cub --method dvae --finetune --ft-augment --images PATH --seed 0 --half` rebuilds it.
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zsl_app.app.classes import UserClass  # noqa: E402
from zsl_app.app.overlay import ClassOverlay, RowFitter  # noqa: E402
from zsl_app.app.photo_classes import STRETCH  # noqa: E402
from zsl_app.app.predictor import Predictor  # noqa: E402
from zsl_app.core.attribute_reader import fit_readers  # noqa: E402
from zsl_app.core.attribute_scale import HumanScale, scale_of  # noqa: E402
from zsl_app.core.finetune import FinetuneConfig  # noqa: E402
from zsl_app.core.metrics import harmonic_mean, mean_class_accuracy  # noqa: E402
from zsl_app.core.model import ZSLModel  # noqa: E402
from zsl_app.protocol import resolve_spec  # noqa: E402
from zsl_app.protocol.spec import head_defaults  # noqa: E402
from zsl_app.protocol.finetune import (check_rows_match, cut_of, finetune_base, load_photos,  # noqa: E402
                                       validation_bench)
from zsl_app.protocol.run import fit_final  # noqa: E402
from zsl_app.storage.checkpoint import read_metadata  # noqa: E402
from zsl_app.storage.data import load_benchmark, validation_split  # noqa: E402
from zsl_app.storage.finetuned import find_finetuned  # noqa: E402
from zsl_app.storage.paths import user_data_dir  # noqa: E402

SEED = 0  # of the photos drawn per class


def fold_model(meta: dict, bench, split) -> ZSLModel:
    """A model with the shipped model's settings, trained on the fold's training photos; its classes are the fold's
    training (seen) and validation (unseen) classes; the shipped model's calibration gamma."""
    fold_bench = dataclasses.replace(bench, trainval=split.train, test_seen=split.eval_seen,
                                     test_unseen=split.eval_unseen)
    fields = {f.name for f in dataclasses.fields(head_defaults(meta["method"], "CUB"))} - {"seed"}
    spec = resolve_spec("CUB", meta["method"], head={k: v for k, v in meta["config"].items() if k in fields},
                        classifier=meta["classifier"], seed=meta["seed"])
    model = fit_final(spec, fold_bench)
    model.meta["selection"] = {"gamma": meta["selection"]["gamma"]}
    return model


def readd(model: ZSLModel, scale: HumanScale, classes: list[tuple[str, np.ndarray, np.ndarray]], share: float,
          bench, scored: dict, seen_rows: np.ndarray) -> dict:
    """Every class re-added in turn (name, human vector, photo features), each fit against the ones before it;
    validation U on its unused photos, S on the held-out seen photos."""
    names = [n for n, _, _ in classes]
    reduced = model.without(names)
    fitter, overlay = RowFitter(reduced, example_share=share), ClassOverlay.empty(reduced)
    for name, human, photos in classes:
        user = UserClass(f"re-added {name}", list(human), [float(v) for v in scale.to_model(np.asarray(human))],
                         [list(map(float, row)) for row in photos])
        overlay = overlay.plus(user, *fitter.fit(overlay, user))
    u_rows = np.concatenate([scored[n] for n in names])
    u_labels = np.concatenate([np.full(len(scored[n]), len(reduced.class_names) + i) for i, n in enumerate(names)])
    s_labels = np.array([reduced.class_names.index(bench.class_names[c]) for c in bench.labels[seen_rows]])
    scorer = Predictor(reduced, None, model_id="re-added")  # the app's scores, the overlay's classes last
    u = mean_class_accuracy(scorer.probabilities(bench.features[u_rows], overlay).argmax(axis=1), u_labels)
    s = mean_class_accuracy(scorer.probabilities(bench.features[seen_rows], overlay).argmax(axis=1), s_labels)
    return {"U": round(100 * u, 2), "S": round(100 * s, 2), "H": round(100 * harmonic_mean(s, u), 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="the shipped checkpoint whose settings the fold model takes")
    p.add_argument("--data-root", required=True, help="xlsa17 folder with CUB/att_splits.mat and effnetlite2.mat")
    p.add_argument("--images", help="the CUB_200_2011 folder (a fine-tuned model: fold 1's own fine-tune)")
    p.add_argument("--fold", type=int, default=1)
    p.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5])
    p.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0],
                   help="share of a class's example mass its photos carry (0: the attributes read alone)")
    p.add_argument("--penalty", type=float, default=1e4, help="the reader's ridge penalty (the shipped reading's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="append the result as a JSON line to this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    meta = read_metadata(args.model)
    bench = load_benchmark(Path(args.data_root), "CUB", "effnetlite2")
    finetuned = meta["features"]["name"] != "effnetlite2"
    if finetuned:
        tuned = find_finetuned(meta["features"]["feature_space"], [Path(args.model).parent])
        if tuned is None:
            raise SystemExit(f"{args.model}: its fine-tuned backbone is not beside it, in weights/ or the user's")
        config = FinetuneConfig.recorded(json.loads(tuned.read_text(encoding="utf-8"))["config"])  # the model's
        base = finetune_base("effnet-lite2", config)
        photos = load_photos(Path(args.images), bench.root / "att_splits.mat", base, cut_of(base, config),
                             user_data_dir() / "cache", views=config.views)
        check_rows_match(photos, bench)
        bench = validation_bench(bench, photos, base, config, fold=args.fold, holdout=0.2, seed=meta["seed"])
    split = validation_split(bench, args.fold)
    model = fold_model(meta, bench, split)
    print(f"fold model trained in {time.perf_counter() - started:.0f} s", flush=True)

    truth = bench.original_attributes
    reader = fit_readers(bench.features[split.train], truth[bench.labels[split.train]], [args.penalty], low=0,
                         high=100)[0]
    typical = truth[split.seen_classes].mean(axis=0)
    scale = scale_of(model.meta, model.attributes)[0]
    rng = np.random.default_rng(SEED)
    drawn = {bench.class_names[c]: rng.permutation(split.eval_unseen[bench.labels[split.eval_unseen] == c])
             for c in split.unseen_classes}
    scored = {n: rows[max(args.ks):] for n, rows in drawn.items()}
    rows = {"true vector": readd(model, scale, [(n, truth[bench.class_names.index(n)], []) for n in drawn], 0.0,
                                 bench, scored, split.eval_seen)}
    print(f"true vector {rows['true vector']}", flush=True)
    for k in args.ks:
        classes = []
        for name, photo_rows in drawn.items():
            features = bench.features[photo_rows[:k]]
            read = np.clip(typical + STRETCH * (reader.read(features).mean(axis=0) - typical), 0, 100)
            classes.append((name, read, features))
        for share in args.shares:
            photos = classes if share else [(n, v, []) for n, v, _ in classes]
            rows[f"k={k} share={share}"] = readd(model, scale, photos, share, bench, scored, split.eval_seen)
            print(f"k={k} share={share} {rows[f'k={k} share={share}']}", flush=True)
    result = {"model": Path(args.model).name, "fold": args.fold, "features": bench.features_name,
              "validation": rows, "seconds": round(time.perf_counter() - started)}
    print(json.dumps(result))
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
