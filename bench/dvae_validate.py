"""Diagnose Disentangled-VAE settings on the CUB validation split only (fold 1; test is never read).

Trains once with the given head settings, printing the losses every 10 epochs; then for the
snapshots (default: epoch 75 and the last epoch) prints the latent statistics (mean |mu|, mean sigma per
encoder branch) and, per classifier batch size, learning rate, init, weight averaging, seen draw and
classifier seed, the best validation H over the classifier epochs (calibrated-stacking gamma chosen on
the same validation data, as the protocol does).
Usage: python bench/dvae_validate.py [--set noise=isotropic gamma=1 ...] [--batch-sizes 256 32]
       [--classifier-lrs 0.001 0.003] [--classifier-inits default xavier] [--classifier-emas 0 0.999]
       [--seen-draws random cycle] [--classifier-seeds 0 1 2] [--classifier-epochs 30] [--snapshots 150]"""

import argparse
import copy
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.classifier import INITS, train_classifier  # noqa: E402
from zsl_app.data import load_benchmark, validation_split  # noqa: E402
from zsl_app.experiment import (_best_gamma, _new_head, classifier_config, classifier_set,  # noqa: E402
                                prepare, resolve_config, seen_relabel)
from zsl_app.heads.disentangled_vae import SEEN_DRAWS  # noqa: E402
from zsl_app.paths import resolve_data_root  # noqa: E402
from zsl_app.training import fit_head  # noqa: E402

SNAPSHOT = 75  # the protocol's half-length snapshot


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="head Config overrides")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32])
    p.add_argument("--classifier-lrs", type=float, nargs="+", default=[1e-3])
    p.add_argument("--classifier-inits", nargs="+", default=["default"], choices=INITS)
    p.add_argument("--classifier-emas", type=float, nargs="+", default=[0.0], help="0: no weight averaging")
    p.add_argument("--seen-draws", nargs="+", choices=SEEN_DRAWS, help="default: the head's seen_draw")
    p.add_argument("--classifier-seeds", type=int, nargs="+", help="sample draws + classifier init; default: --seed")
    p.add_argument("--classifier-epochs", type=int, default=30)
    p.add_argument("--snapshots", type=int, nargs="+", help="head epochs to evaluate; default: 75 and the last")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root")
    return p.parse_args()


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    bench = load_benchmark(resolve_data_root(args.data_root), "CUB", "effnetlite2")
    data = prepare(bench, validation_split(bench, 1, 0.2, args.seed), "cpu")
    config = resolve_config("dvae", dict(_pair(p) for p in args.set), bench.name)
    head = _new_head("dvae", config, data, args.seed, "cpu")
    print(json.dumps({"settings": args.set, "seed": args.seed}), flush=True)
    snapshots = train(head, data, args.snapshots or (SNAPSHOT, config.epochs), args.seed)
    for epoch, state in snapshots.items():
        head.load_state_dict(state)
        head.eval()
        print(f"epoch {epoch}: " + latent_statistics(head, data), flush=True)
        draws = args.seen_draws or [config.seen_draw]
        variants = itertools.product(args.batch_sizes, args.classifier_lrs, args.classifier_inits,
                                     args.classifier_emas, draws, args.classifier_seeds or [args.seed])
        for batch_size, lr, init, ema, draw, seed in variants:
            clf = classifier_config("dvae", epochs=args.classifier_epochs, batch_size=batch_size, lr=lr,
                                    init=init, ema=ema)
            head.config = dataclasses.replace(head.config, seen_draw=draw)
            print(f"epoch {epoch}, classifier batch {batch_size}, lr {lr:g}, init {init}, ema {ema:g}, "
                  f"seen {draw}, classifier seed {seed}: " + validate(head, data, clf, seed), flush=True)


def _pair(text: str) -> tuple:
    key, value = text.split("=", 1)
    return key, json.loads(value) if value[:1].isdigit() or value[:1] in "-[{tf" else value


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


def validate(head, data, clf, seed: int) -> str:
    torch.manual_seed(seed)  # the classifier's init: the same draw whatever was trained before
    generator = torch.Generator().manual_seed(seed)
    x, y = classifier_set(head, data, generator)
    found = []

    def on_epoch(epoch, model):
        gamma, report = _best_gamma(head, model, data, True)
        found.append((report["H"], epoch, gamma, report, _best_gamma(head, model, data, False)[1]))

    train_classifier(x, y, len(data.classes), clf, generator=generator, on_epoch=on_epoch)
    h, epoch, gamma, report, uncalibrated = max(found, key=lambda f: f[0])
    rounded = lambda r: " / ".join(f"{k} {v:.1f}" for k, v in r.items())  # noqa: E731
    return (f"best H {h:.1f} at classifier epoch {epoch}, gamma {gamma}: {rounded(report)} "
            f"(uncalibrated {rounded(uncalibrated)}); H per epoch {[round(f[0], 1) for f in found]}")


if __name__ == "__main__":
    main()
