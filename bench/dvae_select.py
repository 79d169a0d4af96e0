"""Choose the LSC weight gamma of Disentangled-VAE on the CUB validation split only (fold 1).

Each candidate trains on trainclasses1 (valclasses1 play unseen) for a reduced number of epochs;
`experiment.select` picks the snapshot and classifier epochs by validation H. Test data is never read.
Usage: python bench/dvae_select.py [--epochs 60] [--gammas 0.5 1 2 8] [--ablation full]"""

import argparse
import json
import time

import torch


from zsl_app.data import load_benchmark
from zsl_app.experiment import Protocol, classifier_config, resolve_config, select
from zsl_app.paths import resolve_data_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="CUB")
    parser.add_argument("--features", default="effnetlite2")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--gammas", type=float, nargs="+", default=[0.5, 1.0, 2.0, 8.0])
    parser.add_argument("--ablation", default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bench = load_benchmark(resolve_data_root(), args.dataset, args.features)
    for gamma in args.gammas:
        started = time.perf_counter()
        config = resolve_config("dvae", {"epochs": args.epochs, "gamma": gamma, "ablation": args.ablation},
                                bench.name)
        best = select(bench, "dvae", config, classifier_config("dvae"), Protocol(checkpoints=2), seed=args.seed,
                      device="cpu", callback=None)
        print(json.dumps({"lsc_gamma": gamma, "ablation": args.ablation, "epochs": args.epochs,
                          "seconds": round(time.perf_counter() - started), **best}), flush=True)


if __name__ == "__main__":
    main()
