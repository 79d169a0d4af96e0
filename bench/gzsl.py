"""Train + evaluate a head over several seeds; print mean ± std of U, S, H, ZSL and wall time.

    python bench/gzsl.py --dataset cub --features effnetlite2 --method vae-cflow --seeds 0 1 2
    (--jobs 3 --threads 1: the seeds in three processes at once)
Results also go to bench/results/<dataset>-<method>-<features>[-<tag>].json."""

import argparse
import json
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.core.heads import head_names  # noqa: E402
from zsl_app.protocol import RunSpec, SpecError, resolve_spec  # noqa: E402
from zsl_app.protocol.spec import parse_overrides  # noqa: E402
from zsl_app.protocol.calibration import CALIBRATIONS  # noqa: E402
from zsl_app.protocol.run import run_protocol  # noqa: E402
from zsl_app.storage.atomic import write_text_atomic  # noqa: E402
from zsl_app.storage.checkpoint import run_name, save_model  # noqa: E402
from zsl_app.storage.data import load_benchmark  # noqa: E402
from zsl_app.storage.paths import resolve_data_root  # noqa: E402

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "xlsa17"
KEYS = ("U", "S", "H", "ZSL")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="cub")
    p.add_argument("--features", default="effnetlite2")
    p.add_argument("--method", default="vae-cflow", choices=head_names())
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="head Config overrides")
    p.add_argument("--classifier", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="ClassifierConfig overrides of the head's classifier defaults, e.g. lr=0.01")
    p.add_argument("--no-calibrate", action="store_true")
    p.add_argument("--calibration", choices=CALIBRATIONS, help="gamma or rate (default: the method's)")
    p.add_argument("--folds", type=int, nargs="+", default=[1], choices=[1, 2, 3],
                   help="validation folds; several: choose by mean validation H over them")
    p.add_argument("--threads", type=int, default=0, help="torch threads per run (0: torch's default)")
    p.add_argument("--jobs", type=int, default=1, help="seeds run in parallel, one process each")
    p.add_argument("--data-root", default=str(DEFAULT_ROOT) if DEFAULT_ROOT.exists() else None)
    p.add_argument("--tag", default="")
    p.add_argument("--out", help="also save each seed's model here, named as app.py --train names it")
    p.add_argument("--half", action="store_true", help="save the checkpoints' tensors as float16")
    return p.parse_args()


class FinalStageTimer:
    """Progress callback noting when the trainval fit starts: from there on is training + evaluation."""

    def __init__(self):
        self.started = None

    def __call__(self, progress) -> None:
        if self.started is None and progress.stage.startswith("final"):
            self.started = time.perf_counter()


def run_spec(args, seed: int) -> RunSpec:
    """One seed's run specification from the command line."""
    protocol = {"folds": args.folds, "calibrate": not args.no_calibrate, "calibration": args.calibration}
    return resolve_spec(args.dataset, args.method, features=args.features, head=parse_overrides(args.set),
                        classifier=parse_overrides(args.classifier), protocol=protocol, seed=seed)


def main() -> None:
    args = parse()
    try:  # refuse bad settings before any training starts
        [run_spec(args, seed) for seed in args.seeds]
    except SpecError as err:
        raise SystemExit(f"gzsl.py: {err}") from err
    runs = []
    for run in seed_runs(args):
        runs.append(run)
        summary = write_results(args, runs)  # after every seed: a crash keeps the finished ones
    minutes = np.mean([r["seconds"] for r in runs]) / 60
    settings = " ".join(args.set) + (" classifier " + " ".join(args.classifier) if args.classifier else "")
    print(f"\n{args.dataset.upper()} {args.method} {args.features} {settings} folds {args.folds} seeds {args.seeds}")
    print("| " + " | ".join(f"{k}" for k in KEYS) + " | min/run | peak RSS GB |")
    print("| " + " | ".join(f"{m:.1f} ± {s:.1f}" for m, s in summary.values())
          + f" | {minutes:.1f} | {peak_rss_gb():.2f} |")


def seed_runs(args):
    """Each seed's run record, as it finishes: in this process, or in `--jobs` worker processes."""
    if args.jobs <= 1:
        yield from (run_seed(args, seed) for seed in args.seeds)
        return
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from (f.result() for f in as_completed([pool.submit(run_seed, args, s) for s in args.seeds]))


def run_seed(args, seed: int) -> dict:
    """The whole protocol for one seed; saves the model under --out; returns the run record."""
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = run_spec(args, seed)
    bench = load_benchmark(resolve_data_root(args.data_root), spec.dataset, spec.features)
    timer = FinalStageTimer()
    result = run_protocol(spec, bench, callback=timer)
    final_seconds = time.perf_counter() - timer.started
    selection = result.model.meta["selection"]
    print(f"seed {seed}: " + " ".join(f"{k} {result.test[k]:.1f}" for k in KEYS)
          + f"  ({result.seconds / 60:.1f} min, final fit + test {final_seconds / 60:.1f} min;"
          + f" chose {_chosen(selection)})", flush=True)
    if args.out:
        name = run_name(args.out, bench.name, args.method, bench.features_name, seed)
        save_model(result.model, Path(args.out) / name, half=args.half)
    return {"seed": seed, "seconds": result.seconds, "final_seconds": final_seconds,
            "selection": selection, "test": result.test,
            **{k: v for k, v in result.model.meta["metrics"].items() if k.startswith("test_")}}


def peak_rss_gb() -> float:
    """Peak RSS in GB of this process or of the largest worker."""
    peaks = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return max(peaks) / 2**20


def write_results(args, runs: list[dict]) -> dict:
    """bench/results/<dataset>-<method>-<features>[-<tag>].json with the runs so far; returns the summary."""
    runs.sort(key=lambda r: r["seed"])
    summary = {k: (float(np.mean([r["test"][k] for r in runs])), float(np.std([r["test"][k] for r in runs])))
               for k in KEYS}
    name = "-".join(x for x in (args.dataset.lower(), args.method, args.features, args.tag) if x)
    out = Path(__file__).resolve().parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    write_text_atomic(out, json.dumps({"command": " ".join(sys.argv), "runs": runs, "summary": summary,
                                       "peak_rss_gb": peak_rss_gb()}, indent=1))
    return summary


def _chosen(selection: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in selection.items() if not k.startswith("val"))


if __name__ == "__main__":
    main()
