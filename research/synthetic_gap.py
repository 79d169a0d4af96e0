"""How VAE-cFlow's synthetic unseen features differ from real photos' features, on a validation fold only.

Trains the head as the protocol does on fold K's training features (a fold fine-tune kept by
`finetune_validate.py --fold-features`, or the frozen features), draws the classifier's synthetic features of
the fold's unseen classes at each temperature, and prints, for the seen training rows, the held-out seen rows,
the real unseen rows and the synthetic ones: the mean L2 norm, the share of values below 0 and exactly 0, the
mean distance of a row to its class mean, and how often a synthetic class's mean is nearest to its own real
class's mean. Every row read is trainval (fold K's split); no test photo is used.

    python research/synthetic_gap.py --images PATH/CUB_200_2011 --data-root PATH/xlsa17 --method vae-cflow \\
        --head flow_steps=8 --fold 1 --seed 1 --cache-dir CACHE --fold-features DIR --threads 1
"""

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import vae_cflow_prior  # noqa: E402,F401  (registers the research variants)
from finetune_validate import fold_bench  # noqa: E402
from zsl_app.core.finetune import FinetuneConfig  # noqa: E402
from zsl_app.core.training import fit_head  # noqa: E402
from zsl_app.protocol import resolve_spec  # noqa: E402
from zsl_app.protocol.prepared import new_head, prepare, seen_relabel  # noqa: E402
from zsl_app.protocol.spec import parse_overrides  # noqa: E402
from zsl_app.storage.data import load_benchmark, validation_split  # noqa: E402
from zsl_app.storage.paths import user_data_dir  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="the CUB_200_2011 folder")
    p.add_argument("--data-root", required=True, help="xlsa17 folder with CUB/att_splits.mat and effnetlite2.mat")
    p.add_argument("--method", default="vae-cflow")
    p.add_argument("--head", nargs="*", default=[], metavar="FIELD=VALUE", help="head Config overrides")
    p.add_argument("--temperatures", nargs="*", type=float, default=[0.9, 1.0, 1.1])
    p.add_argument("--fold", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frozen", action="store_true", help="the frozen features instead of the fold's fine-tune")
    p.add_argument("--cache-dir", help="activation cache folder (default: the user's)")
    p.add_argument("--fold-features", metavar="DIR", help="the fold fine-tunes' features kept there")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    spec = resolve_spec("CUB", args.method, head=parse_overrides(args.head), seed=args.seed,
                        protocol={"folds": (args.fold,)})
    bench = load_benchmark(Path(args.data_root), "CUB", "effnetlite2")
    if not args.frozen:
        cache = Path(args.cache_dir) if args.cache_dir else user_data_dir() / "cache"
        bench = fold_bench(bench, Path(args.images), cache, FinetuneConfig(), fold=args.fold,
                           holdout=spec.protocol.holdout, seed=args.seed,
                           keep=Path(args.fold_features) if args.fold_features else None)
    data = prepare(bench, validation_split(bench, args.fold, spec.protocol.holdout, args.seed), spec.device)
    head = new_head(spec, data)
    fit_head(head, data.x_train, seen_relabel(data), data.att[data.seen_local],
             generator=torch.Generator().manual_seed(args.seed))
    head.eval()
    print(f"fold {args.fold}, seed {args.seed}, {args.method} {args.head}, {spec.length} iterations")
    print(f"{'rows':24s} {'norm':>14s} {'< 0':>6s} {'== 0':>6s} {'to class mean':>14s}")
    real = {"seen, training": (data.x_train.cpu().numpy(), data.y_train.cpu().numpy()),
            "seen, held out": (data.x_seen, data.y_seen), "unseen, real": (data.x_unseen, data.y_unseen)}
    for name, (x, y) in real.items():
        print(row(name, x, y))
    for t in args.temperatures:
        head.config = dataclasses.replace(head.config, temperature=t)
        n = head.config.unseen_samples
        fake = head.synthesize(data.att[data.unseen_local], n, torch.Generator().manual_seed(args.seed))
        y_fake = data.unseen_local.repeat_interleave(n).cpu().numpy()
        print(row(f"unseen, synthetic T {t}", fake.cpu().numpy(), y_fake) + "   own class nearest: "
              f"{own_nearest(fake.cpu().numpy(), y_fake, data.x_unseen, data.y_unseen):.2f}")


def row(name: str, x: np.ndarray, y: np.ndarray) -> str:
    norms = np.linalg.norm(x, axis=1)
    spread = np.mean([np.linalg.norm(x[y == c] - x[y == c].mean(0), axis=1).mean() for c in np.unique(y)])
    return (f"{name:24s} {norms.mean():6.2f} ± {norms.std():5.2f} {(x < 0).mean():6.3f} {(x == 0).mean():6.3f} "
            f"{spread:14.2f}")


def own_nearest(fake: np.ndarray, y_fake: np.ndarray, real: np.ndarray, y_real: np.ndarray) -> float:
    """Share of synthetic classes whose mean is nearer to their own real class's mean than to any other's."""
    classes = np.unique(y_fake)
    fake_means = np.stack([fake[y_fake == c].mean(0) for c in classes])
    real_means = np.stack([real[y_real == c].mean(0) for c in classes])
    distance = np.linalg.norm(fake_means[:, None] - real_means[None], axis=2)
    return float((distance.argmin(1) == np.arange(len(classes))).mean())


if __name__ == "__main__":
    main()
