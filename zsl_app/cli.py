"""Command line: serve the web app (default), train, evaluate, download."""

import argparse
import sys
from pathlib import Path

import torch

from .checkpoint import CheckpointError, load_model, save_model
from .classifier import ClassifierConfig
from .data import DataError, load_benchmark
from .data.download import DownloadError, download_xlsa17
from .experiment import Protocol, evaluate_model, resolve_config, train_and_evaluate
from .heads import HEADS, head_names
from .paths import WEIGHTS_DIR, resolve_data_root
from .progress import TqdmProgress

EXAMPLES = """examples:
  python app.py                                  serve the web app on 127.0.0.1:7860
  python app.py --train cub                      VAE-cFlow on CUB, best available features
  python app.py --train cub --features effnetlite2 --seed 1 --iters 3000
  python app.py --eval weights/runs/cub-vae-cflow-effnetlite2-s0
  python app.py --download xlsa17                fetch the original benchmark files
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="app.py", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="zsl-app: generalized zero-shot image classification.",
                                epilog=EXAMPLES)
    act = p.add_mutually_exclusive_group()
    act.add_argument("--train", metavar="DATASET", help="train and evaluate on an xlsa17 dataset (APY, AWA1, AWA2, CUB, SUN)")
    act.add_argument("--eval", metavar="CHECKPOINT", help="re-evaluate a saved model on its dataset's test split")
    act.add_argument("--download", choices=["xlsa17"], help="download benchmark files into the data root")
    g = p.add_argument_group("training")
    g.add_argument("--method", default="vae-cflow", choices=head_names(), help="generative head (default: vae-cflow)")
    g.add_argument("--features", help="features file under the dataset folder, e.g. res101 or effnetlite2 "
                                      "(default: res101 if present, else effnetlite2)")
    g.add_argument("--data-root", help="xlsa17 folder (default: $ZSL_DATA_ROOT, else ~/.local/share/zsl-app/xlsa17)")
    g.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    g.add_argument("--iters", type=int, help="training length of the head: iterations (vae-cflow) or epochs (dvae)")
    g.add_argument("--temperature", type=float, help="fix the generation temperature T (vae-cflow) instead of choosing it")
    g.add_argument("--ablation", choices=["base", "dis", "full"], help="Disentangled-VAE ablation (default full)")
    g.add_argument("--classifier-epochs", type=int, default=25, help="most epochs of the final softmax (default 25)")
    g.add_argument("--no-calibrate", action="store_true",
                   help="no calibrated stacking (default: its gamma is chosen on validation)")
    g.add_argument("--no-select", action="store_true", help="skip validation; train once with the given settings")
    g.add_argument("--fold", type=int, default=1, choices=[1, 2, 3], help="validation fold (default 1)")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    g.add_argument("--out", help="checkpoint folder (default: weights/runs/)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.train:
            return train(args)
        if args.eval:
            return evaluate(args)
        if args.download:
            print(f"downloaded into {download_xlsa17(args.data_root)}")
            return 0
        from .ui import serve  # the web app is the default action
        return serve(args)
    except (DataError, CheckpointError, DownloadError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def pick_device(name: str) -> str:
    """'auto' -> cuda when available, else cpu; anything else is checked."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return name


def head_overrides(args) -> dict:
    """The head Config fields set on the command line."""
    cls = HEADS.get(args.method)
    out = {}
    if args.iters is not None:
        out[cls.length_field] = args.iters
    if args.temperature is not None:
        out["temperature"] = args.temperature
    if args.ablation is not None:
        out["ablation"] = args.ablation
    return out


def train(args) -> int:
    root = resolve_data_root(args.data_root)
    bench = load_benchmark(root, args.train, args.features)
    overrides = head_overrides(args)
    config = resolve_config(args.method, overrides, bench.name)
    protocol = Protocol(fold=args.fold, calibrate=not args.no_calibrate, select=not args.no_select,
                        fixed=tuple(overrides))
    print(f"{bench.name}: {len(bench.class_names)} classes, {bench.features.shape[1]}-d {bench.features_name} "
          f"features; method {args.method}; seed {args.seed}")
    progress = TqdmProgress()
    result = train_and_evaluate(bench, args.method, config, classifier=ClassifierConfig(epochs=args.classifier_epochs),
                                protocol=protocol, seed=args.seed, device=pick_device(args.device), callback=progress)
    progress.close()
    out = Path(args.out) if args.out else WEIGHTS_DIR / "runs"
    name = f"{bench.name.lower()}-{args.method}-{bench.features_name}-s{args.seed}"
    meta_path = save_model(result.model, out / name)
    print_table(result.model.meta["metrics"], result.seconds)
    print(f"saved {meta_path.with_suffix('.safetensors')} (+ .json)")
    return 0


def evaluate(args) -> int:
    model = load_model(args.eval, device=pick_device(args.device))
    meta = model.meta
    bench = load_benchmark(resolve_data_root(args.data_root), meta["dataset"], meta["features"]["name"])
    if bench.feature_space != model.feature_space:
        raise CheckpointError(f"{args.eval} was trained on '{model.feature_space}' features but "
                              f"{bench.root}/{bench.features_name}.mat holds '{bench.feature_space}'")
    test = evaluate_model(model, bench)
    print_table({"saved test": meta.get("metrics", {}).get("test"), "test now": test})
    return 0


def print_table(metrics: dict, seconds: float | None = None) -> None:
    """U / S / H / ZSL rows, one per evaluation."""
    print(f"\n{'':12}{'U':>8}{'S':>8}{'H':>8}{'ZSL':>8}")
    for name, row in metrics.items():
        if row:
            print(f"{name:12}" + "".join(f"{row[k]:8.1f}" for k in ("U", "S", "H", "ZSL")))
    if seconds is not None:
        print(f"wall time {seconds / 60:.1f} min")
