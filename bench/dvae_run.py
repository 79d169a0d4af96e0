"""One full honest protocol run of Disentangled-VAE: select on validation, retrain on trainval, test once.

Usage: python bench/dvae_run.py [--dataset CUB] [--ablation full] [--seed 0] [--set gamma=2 ...]"""

import argparse
import json
import time

import torch

from zsl_app.data import load_benchmark
from zsl_app.experiment import Protocol, train_and_evaluate
from zsl_app.paths import resolve_data_root


def report_every(seconds: float):
    """A progress callback that prints at most once per `seconds`."""
    last = [0.0]

    def callback(progress) -> None:
        if time.perf_counter() - last[0] >= seconds or progress.step == progress.total:
            last[0] = time.perf_counter()
            losses = " ".join(f"{k}={v:.3g}" for k, v in progress.losses.items())
            print(f"{progress.stage} {progress.step}/{progress.total} {losses}", flush=True)
    return callback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="CUB")
    parser.add_argument("--features", default="effnetlite2")
    parser.add_argument("--ablation", default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", nargs="*", default=[], help="Config overrides, e.g. gamma=2")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: float(v) if "." in v or "e" in v else int(v) for k, v in (s.split("=") for s in args.set)}
    bench = load_benchmark(resolve_data_root(), args.dataset, args.features)
    result = train_and_evaluate(bench, "dvae", {"ablation": args.ablation, **overrides},
                                protocol=Protocol(calibrate=False), seed=args.seed, callback=report_every(60))
    print(json.dumps({"dataset": bench.name, "features": bench.features_name, "ablation": args.ablation,
                      "seed": args.seed, "overrides": overrides, "selection": result.selection,
                      "test": result.test, "seconds": round(result.seconds)}), flush=True)


if __name__ == "__main__":
    main()
