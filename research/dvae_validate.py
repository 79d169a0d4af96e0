"""Diagnose Disentangled-VAE settings on a CUB validation split only (fold 1 unless --fold; test is never read).

Trains once with the given head settings, printing the losses every 10 epochs; then for the
snapshots (default: epoch 75 and the last epoch) prints the latent statistics (mean |mu|, mean sigma per
encoder branch) and, per classifier batch size, learning rate, sample counts per class and classifier
seed, the best validation H over the classifier epochs (calibrated-stacking gamma chosen on the same
validation data, as the protocol does). --grid FILE also writes every variant's validation U / S / H and
share of training seen images sent to unseen classes per classifier epoch and gamma (input of
research/classifier_transfer.py).
Usage: python research/dvae_validate.py [--set lsc_weight=1 ...] [--batch-sizes 256 32]
       [--classifier-lrs 0.001 0.003] [--classifier-seeds 0 1 2] [--seen-samples 200 400]
       [--unseen-samples 200 400 800] [--classifier-epochs 30] [--snapshots 150] [--fold 2]
       [--seen-share 0.67] [--grid grid.json] [--heads DIR]"""

import argparse
import copy
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.core.classifier import train_classifier  # noqa: E402
from zsl_app.core.training import fit_head  # noqa: E402
from zsl_app.protocol import resolve_spec  # noqa: E402
from zsl_app.protocol.calibration import GAMMAS, gamma_reports  # noqa: E402
from zsl_app.protocol.prepared import classifier_set, new_head, prepare, seen_relabel  # noqa: E402
from zsl_app.protocol.spec import parse_overrides  # noqa: E402
from zsl_app.storage.atomic import atomic_path, write_text_atomic  # noqa: E402
from zsl_app.storage.data import load_benchmark, validation_split  # noqa: E402
from zsl_app.storage.paths import resolve_data_root  # noqa: E402

SNAPSHOT = 75  # the protocol's half-length snapshot
# gammas of the --grid rows: the protocol's candidates, and a finer range (negatives included) on which
# research/classifier_transfer.py --calibration rate finds the gamma that carries a seen-to-unseen share over
GRID_GAMMAS = np.union1d(GAMMAS, np.round(np.arange(-1.0, 3.001, 0.05), 2))


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="head Config overrides")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32])
    p.add_argument("--classifier-lrs", type=float, nargs="+", default=[1e-3])
    p.add_argument("--seen-samples", type=int, nargs="+", help="per seen class; default: the head's seen_samples")
    p.add_argument("--unseen-samples", type=int, nargs="+", help="per unseen class; default: the head's")
    p.add_argument("--classifier-seeds", type=int, nargs="+", help="sample draws + classifier init; default: --seed")
    p.add_argument("--classifier-epochs", type=int, default=30)
    p.add_argument("--snapshots", type=int, nargs="+", help="head epochs to evaluate; default: 75 and the last")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fold", type=int, default=1, help="xlsa17 validation fold (trainclassesK / valclassesK)")
    p.add_argument("--seen-share", type=float, default=1.0,
                   help="keep this share of the fold's seen classes (a smaller model, as validation is to trainval)")
    p.add_argument("--heads", type=Path, help="folder caching the trained head snapshots (safetensors)")
    p.add_argument("--grid", type=Path, help="write validation U / S / H per variant, classifier epoch and gamma")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root")
    args = p.parse_args()
    if not 0.0 < args.seen_share <= 1.0:
        p.error(f"--seen-share must be in (0, 1], got {args.seen_share}")
    if min((args.seen_samples or []) + (args.unseen_samples or []), default=1) < 1:
        p.error("--seen-samples and --unseen-samples must be at least 1")
    return args


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    bench = load_benchmark(resolve_data_root(args.data_root), "CUB", "effnetlite2")
    data = prepare(bench, fewer_seen(bench, validation_split(bench, args.fold, 0.2, args.seed), args.seen_share,
                                     args.seed), "cpu")
    spec = resolve_spec("CUB", "dvae", features="effnetlite2", head=parse_overrides(args.set), seed=args.seed)
    config = spec.head
    head = new_head(spec, data)
    print(json.dumps({"settings": args.set, "seed": args.seed, "fold": args.fold, "seen": len(data.seen_local)}),
          flush=True)
    marks = args.snapshots or (SNAPSHOT, config.epochs)
    snapshots = cached(args, marks)
    if not snapshots:
        snapshots = train(head, data, marks, args.seed)
        if args.heads:
            save_heads(args, snapshots)
    grid = []
    for epoch, state in snapshots.items():
        head.load_state_dict(state)
        head.eval()
        print(f"epoch {epoch}: " + latent_statistics(head, data), flush=True)
        counts = itertools.product(args.seen_samples or [config.seen_samples],
                                   args.unseen_samples or [config.unseen_samples])
        variants = itertools.product(args.batch_sizes, args.classifier_lrs, counts, args.classifier_seeds or [args.seed])
        for batch_size, lr, (n_seen, n_unseen), seed in variants:
            clf = dataclasses.replace(spec.classifier, epochs=args.classifier_epochs, batch_size=batch_size, lr=lr)
            head.config = dataclasses.replace(config, seen_samples=n_seen, unseen_samples=n_unseen)
            variant = {"epoch": epoch, "batch_size": batch_size, "lr": lr, "seen_samples": n_seen,
                       "unseen_samples": n_unseen}
            summary, rows = validate(head, data, clf, seed)
            grid.append({"variant": variant, "classifier_seed": seed, "rows": rows})
            print(f"{', '.join(f'{k} {v:g}' for k, v in variant.items())}, classifier seed {seed}: {summary}",
                  flush=True)
    if args.grid:
        write_text_atomic(args.grid, json.dumps({"fold": args.fold, "seed": args.seed, "seen": len(data.seen_local),
                                                 "settings": args.set, "variants": grid}))


def fewer_seen(bench, split, share: float, seed: int):
    """The split restricted to a random `share` of its seen classes (rows of the others dropped)."""
    if share >= 1.0:
        return split
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(split.seen_classes, round(share * len(split.seen_classes)), replace=False))
    rows = lambda r: r[np.isin(bench.labels[r], keep)]  # noqa: E731
    return dataclasses.replace(split, train=rows(split.train), eval_seen=rows(split.eval_seen), seen_classes=keep)


def _head_file(args, epoch: int) -> Path:
    settings = "-".join(sorted(args.set)) or "default"
    share = "" if args.seen_share >= 1.0 else f"-seen{args.seen_share:g}"
    return args.heads / f"fold{args.fold}-seed{args.seed}{share}-{settings}-epoch{epoch}.safetensors"


def cached(args, marks) -> dict:
    """Snapshots saved by an earlier run with the same fold, seed and settings; {} if any is missing."""
    if not args.heads or not all(_head_file(args, m).exists() for m in marks):
        return {}
    print(f"heads loaded from {args.heads}", flush=True)
    return {m: load_file(_head_file(args, m)) for m in marks}


def save_heads(args, snapshots: dict) -> None:
    args.heads.mkdir(parents=True, exist_ok=True)
    for epoch, state in snapshots.items():
        with atomic_path(_head_file(args, epoch)) as tmp:  # an interrupted save is never loaded later
            save_file({k: v.contiguous() for k, v in state.items()}, tmp)


def train(head, data, marks, seed: int) -> dict:
    per_epoch, snapshots, started = head.steps_per_unit(len(data.x_train)), {}, time.perf_counter()

    def report(progress):
        if progress.step % (10 * per_epoch) < 10 <= progress.step:
            print(f"epoch {progress.step // per_epoch:3d} "
                  + " ".join(f"{k} {v:.2f}" for k, v in progress.losses.items()), flush=True)

    def snapshot(step):
        if step % per_epoch == 0 and step // per_epoch in marks:
            snapshots[step // per_epoch] = copy.deepcopy(head.state_dict())

    fit_head(head, data.x_train, seen_relabel(data), data.att[data.seen_local],
             generator=torch.Generator().manual_seed(seed), callback=report, on_step=snapshot)
    print(f"fit: {time.perf_counter() - started:.0f} s", flush=True)
    return snapshots


@torch.no_grad()
def latent_statistics(head, data) -> str:
    parts = []
    posteriors = {"visual": head.visual_encoder(data.x_train), "semantic": head.semantic_encoder(data.att)}
    for name, posterior in posteriors.items():
        for branch, (mu, logvar) in posterior.items():
            parts.append(f"{name} {branch} |mu| {mu.norm(dim=1).mean():.2f} sigma {torch.exp(0.5 * logvar).mean():.3f}")
    return "; ".join(parts)


def validate(head, data, clf, seed: int) -> tuple[str, list]:
    """The best validation H over classifier epochs and the protocol's gammas as text, and every
    (classifier epoch, gamma, U, S, H, seen_to_unseen) on the finer GRID_GAMMAS."""
    torch.manual_seed(seed)  # the classifier's init: the same draw whatever was trained before
    generator = torch.Generator().manual_seed(seed)
    x, y = classifier_set(head, data, generator)
    found, rows = [], []

    def on_epoch(epoch, model):
        reports = gamma_reports(head, model, data, True, GRID_GAMMAS)
        gamma, report = max((r for r in reports if r[0] in GAMMAS), key=lambda r: r[1]["H"])  # as the protocol
        found.append((report["H"], epoch, gamma, report, dict(reports)[0.0]))
        rows.extend((epoch, g, *(round(r[k], 3) for k in ("U", "S", "H", "seen_to_unseen"))) for g, r in reports)

    train_classifier(x, y, len(data.classes), clf, generator=generator, on_epoch=on_epoch)
    h, epoch, gamma, report, uncalibrated = max(found, key=lambda f: f[0])
    rounded = lambda r: " / ".join(f"{k} {v:.1f}" for k, v in r.items())  # noqa: E731
    return (f"best H {h:.1f} at classifier epoch {epoch}, gamma {gamma}: {rounded(report)} "
            f"(uncalibrated {rounded(uncalibrated)}); H per epoch {[round(f[0], 1) for f in found]}; "
            f"uncalibrated U per epoch {[round(f[4]['U'], 1) for f in found]}"), rows


if __name__ == "__main__":
    main()
