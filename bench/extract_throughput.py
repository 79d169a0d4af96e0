"""End-to-end extraction speed (decode + resize + network) of effnet-lite2, photos per second.

Compares the plain inline fp32 loop (one photo at a time, network as loaded) with the pipeline of
`zsl_app.extract` (BatchNorm folded, channels_last, small chunks, decoding in worker processes).
Usage: python bench/extract_throughput.py [--photos 192] [--workers 2] [--rounds 3]
Reads the 16 sample photos from $ZSL_SHARED_DATA (default ../shared/data) and repeats them."""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.core.backbones import create_backbone  # noqa: E402
from zsl_app.storage.extract import embed_files  # noqa: E402
from zsl_app.storage.images import open_image  # noqa: E402

SHARED = Path(os.environ.get("ZSL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def loaded_network(backbone) -> torch.nn.Module:
    """The network exactly as loaded: NCHW, BatchNorm layers kept."""
    net = backbone.build_network()
    backbone.load_weights(net, backbone.default_weights())
    return net.eval()


def plain_loop(paths: list[Path], net: torch.nn.Module, backbone) -> np.ndarray:
    """One photo at a time, decoded inline."""
    out = []
    with torch.inference_mode():
        for path in paths:
            x = backbone.transform(open_image(path).convert("RGB"))
            out.append(net(x[None])[0].numpy())
    return np.stack(out)


def timed(fn, paths: list[Path]) -> tuple[float, np.ndarray]:
    fn(paths[:4])  # warm-up: oneDNN builds its kernels on the first call of each shape
    start = time.perf_counter()
    features = fn(paths)
    return len(paths) / (time.perf_counter() - start), features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=192, help="how many photos (the 16 samples repeated)")
    parser.add_argument("--workers", type=int, default=2, help="decoding processes of the pipeline")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="repetitions; the best one is reported")
    args = parser.parse_args()
    samples = sorted((SHARED / "samples" / "cub").glob("*.jpg"))
    if not samples:
        sys.exit(f"no sample photos in {SHARED / 'samples' / 'cub'}; set ZSL_SHARED_DATA")
    paths = [samples[i % len(samples)] for i in range(args.photos)]
    backbone = create_backbone("effnet-lite2")
    plain_net = loaded_network(backbone)
    print(f"effnet-lite2, {len(paths)} photos, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.2f}")

    variants = {
        "plain inline fp32 loop": lambda p: plain_loop(p, plain_net, backbone),
        "optimised network, inline decode":
            lambda p: embed_files(p, backbone, batch_size=args.batch_size, workers=0),
        f"optimised pipeline, {args.workers} decode workers":
            lambda p: embed_files(p, backbone, batch_size=args.batch_size, workers=args.workers),
    }
    rates = {label: [] for label in variants}
    features = {}
    for _ in range(args.rounds):  # interleaved, so a burst of load elsewhere hits every variant alike
        for label, fn in variants.items():
            rate, features[label] = timed(fn, paths)
            rates[label].append(rate)
    print(f"{'variant':<40} {'best':>6} {'median':>7} {'speed-up':>9} {'max |diff|':>11}  (photos/s)")
    base, reference = max(rates["plain inline fp32 loop"]), features["plain inline fp32 loop"]
    for label, r in rates.items():
        print(f"{label:<40} {max(r):6.1f} {np.median(r):7.1f} {max(r) / base:8.2f}x "
              f"{np.abs(features[label] - reference).max():11.2e}")
    print(f"load average after: {os.getloadavg()[0]:.2f} (other processes on the machine lower these numbers)")


if __name__ == "__main__":
    main()
