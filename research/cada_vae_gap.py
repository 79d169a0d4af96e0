"""Why our `base` (CADA-VAE) differs from the public CADA-VAE code's CUB figure: a diagnostic.

Trains `base` with CADA-VAE's own fixed schedule (100 epochs, classifier lr 1e-3, batch 32,
23 epochs, no calibration, no selection) and evaluates the one model twice: with our scaling (the
training features' min-max statistics, as everywhere in zsl-app) and with the public code's, which
fits a separate min-max scaler on test_seen and on test_unseen (`scaler.fit_transform` on each in
its data_loader.py). The second figure reads test statistics; it is never used for a choice.
Then, on the same head, it retrains the classifier with PyTorch's init and with the public code's
(xavier-uniform gain 0.5, zero bias); both cycle each class's images for the seen samples, as the
public code and zsl-app do.
    python research/cada_vae_gap.py --seeds 0 1 2 --jobs 3 --threads 1"""

import argparse
import dataclasses
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.core.classifier import SoftmaxClassifier, train_classifier  # noqa: E402
from zsl_app.core.training import epoch_batches, train_loop  # noqa: E402
from zsl_app.protocol import resolve_spec  # noqa: E402
from zsl_app.protocol.prepared import classifier_set, evaluate, prepare  # noqa: E402
from zsl_app.protocol.run import fit_final  # noqa: E402
from zsl_app.storage.atomic import write_text_atomic  # noqa: E402
from zsl_app.storage.data import MinMaxScaler, load_benchmark, proposed_split  # noqa: E402
from zsl_app.storage.paths import resolve_data_root  # noqa: E402

CADA_SCHEDULE = {"ablation": "base", "epochs": 100}  # CADA-VAE's single_experiment.py for CUB
CADA_CLASSIFIER = {"epochs": 23, "batch_size": 32, "lr": 1e-3}  # its cls_train_steps, batch and lr_cls
KEYS = ("U", "S", "H", "ZSL")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=1, help="seeds run in parallel, one process each")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--data-root")
    return p.parse_args()


def run_seed(args, seed: int) -> dict:
    """Train once with CADA-VAE's schedule; test with our scaling and with per-split test scaling."""
    torch.set_num_threads(args.threads)
    bench = load_benchmark(resolve_data_root(args.data_root), "CUB", "effnetlite2")
    spec = resolve_spec("CUB", "dvae", features="effnetlite2", head=CADA_SCHEDULE, classifier=CADA_CLASSIFIER,
                        protocol={"select": False, "calibrate": False}, seed=seed)
    model = fit_final(spec, bench)
    data = prepare(bench, proposed_split(bench), "cpu")
    per_split = {name: MinMaxScaler.fit(bench.features[idx]).transform(bench.features[idx])
                 for name, idx in (("x_seen", bench.test_seen), ("x_unseen", bench.test_unseen))}
    run = {"seed": seed, "train_scaling": evaluate(model.head, model.classifier, data),
           "per_split_test_scaling": evaluate(model.head, model.classifier, dataclasses.replace(data, **per_split))}
    for init in ("default", "xavier"):
        run[f"init {init}"] = retrain_classifier(model.head, data, spec.classifier, init, seed)
    print(f"seed {seed}: " + "; ".join(f"{k} " + " ".join(f"{m} {v[m]:.1f}" for m in KEYS)
                                       for k, v in run.items() if k != "seed"), flush=True)
    return run


def retrain_classifier(head, data, clf, init: str, seed: int) -> dict:
    """A fresh classifier on the same head (same seeds for both inits); test metrics."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x, y = classifier_set(head, data, generator)
    if init == "default":
        classifier = train_classifier(x, y, len(data.classes), clf, generator=generator)
    else:
        classifier = xavier_classifier(x, y, len(data.classes), clf, generator)
    return evaluate(head, classifier, data)


def xavier_classifier(x, y, n_classes: int, clf, generator) -> SoftmaxClassifier:
    """The public code's classifier: xavier-uniform (gain 0.5) weights, zero bias, then zsl-app's training."""
    model = SoftmaxClassifier(x.shape[1], n_classes)
    nn.init.xavier_uniform_(model.linear.weight, gain=0.5)
    nn.init.zeros_(model.linear.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=clf.lr, betas=(clf.beta1, 0.999))
    per_epoch = max(1, len(x) // min(clf.batch_size, len(x)))
    train_loop(lambda idx, step: {"loss": F.cross_entropy(model(x[idx]), y[idx])}, optimizer,
               epoch_batches(len(x), clf.batch_size, generator), clf.epochs * per_epoch, stage="classifier")
    return model.eval()


def main() -> None:
    args = parse()
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = list(pool.map(run_seed, [args] * len(args.seeds), args.seeds))
    summary = {scaling: {k: (float(np.mean([r[scaling][k] for r in runs])), float(np.std([r[scaling][k] for r in runs])))
                         for k in KEYS} for scaling in runs[0] if scaling != "seed"}
    for scaling, metrics in summary.items():
        print(f"{scaling}: " + " ".join(f"{k} {m:.1f} ± {s:.1f}" for k, (m, s) in metrics.items()))
    out = Path(__file__).resolve().parent / "results" / "cub-dvae-effnetlite2-cada-vae-gap.json"
    write_text_atomic(out, json.dumps({"command": " ".join(sys.argv), "runs": runs, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
