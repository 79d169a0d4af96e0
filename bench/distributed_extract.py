"""Extraction across processes: CUB photos embedded by 1 and by 2 torchrun processes on this machine, in photos/s,
their ratio in one run, and a projection (arithmetic, not a measurement) to 8 processes and ImageNet-21K.

Usage: python bench/distributed_extract.py --images PATH/CUB_200_2011 --data-root PATH/xlsa17 [--limit 400]
           [--procs 1 2] [--backbone effnet-lite2] [--workers 1] [--shard-photos 64]
           [--out bench/results/distributed_extract.json]
Each run is `torchrun --standalone --nproc-per-node P bench/distributed_extract.py --worker ...`, one torch thread
per process: every process loads the backbone, then extract_features is timed from a barrier to its end (the
merged features file written). Writes into a temporary data root; the photos are only read."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.core import distributed  # noqa: E402
from zsl_app.core.backbones import BACKBONES, create_backbone  # noqa: E402
from zsl_app.storage.extract import extract_features  # noqa: E402

IMAGENET_21K = 14_197_122  # photos in the full ImageNet (fall 2011 release), ~21.8K classes
PROJECTED_PROCESSES = 8


def worker(args) -> None:
    """One torchrun process: time extract_features; rank 0 writes the seconds to --result."""
    with distributed.process_group("cpu") as world:
        backbone = create_backbone(args.backbone)
        distributed.barrier()
        start = time.perf_counter()
        extract_features(args.images, args.data_root, "CUB", backbone, batch_size=args.batch_size,
                         workers=args.workers, shard_photos=args.shard_photos)
        seconds = time.perf_counter() - start
        if world.main:
            Path(args.result).write_text(json.dumps({"processes": world.size, "seconds": seconds}))


def subset(images: Path, data_root: Path, limit: int | None, folder: Path) -> tuple[Path, Path]:
    """A CUB folder listing the first `limit` photos of images.txt (the photos linked, not copied), and a data root
    holding only att_splits.mat."""
    lines = (images / "images.txt").read_text().splitlines()[:limit]
    (folder / "CUB_200_2011").mkdir(parents=True)
    (folder / "CUB_200_2011" / "images.txt").write_text("\n".join(lines) + "\n")
    (folder / "CUB_200_2011" / "images").symlink_to(images.resolve() / "images")
    (folder / "xlsa17" / "CUB").mkdir(parents=True)
    shutil.copy(data_root / "CUB" / "att_splits.mat", folder / "xlsa17" / "CUB")
    return folder / "CUB_200_2011", folder / "xlsa17"


def run(processes: int, images: Path, data_root: Path, args, folder: Path) -> dict:
    """One torchrun job of `processes` processes; its seconds and features."""
    result = folder / f"result-{processes}.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
               __file__, "--worker", "--images", str(images), "--data-root", str(data_root), "--result", str(result),
               "--backbone", args.backbone, "--batch-size", str(args.batch_size), "--workers", str(args.workers),
               "--shard-photos", str(args.shard_photos)]
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    out = data_root / "CUB" / f"{BACKBONES.get(args.backbone).features_name}.mat"
    features = scipy.io.loadmat(out)["features"]
    out.unlink()
    return {**json.loads(result.read_text()), "features": features}


def projection(rate: float) -> dict:
    """Hours for ImageNet-21K at `rate` photos/s per process, for 1 and for PROJECTED_PROCESSES processes."""
    return {f"{p} processes, hours": IMAGENET_21K / (rate * p) / 3600 for p in (1, PROJECTED_PROCESSES)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="the CUB_200_2011 folder")
    parser.add_argument("--data-root", type=Path, required=True, help="xlsa17 root (CUB/att_splits.mat is read)")
    parser.add_argument("--limit", type=int, help="the first N photos of images.txt (default: all 11,788)")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backbone", default="effnet-lite2")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="decoding processes per process")
    parser.add_argument("--shard-photos", type=int, default=64,
                        help="photos per shard (default 64: a 400-photo subset splits 208 / 192 over 2 processes)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "distributed_extract.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"before: {uptime}")
    with tempfile.TemporaryDirectory() as tmp:
        images, data_root = subset(args.images, args.data_root, args.limit, Path(tmp))
        photos = len((images / "images.txt").read_text().splitlines())
        runs = [run(p, images, data_root, args, Path(tmp)) for p in args.procs]
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = [{"processes": r["processes"], "seconds": round(r["seconds"], 1),
             "photos_per_s": round(photos / r["seconds"], 2),
             "max_abs_diff_to_first": float(np.abs(r["features"] - runs[0]["features"]).max())} for r in runs]
    per_process = photos / runs[0]["seconds"] / runs[0]["processes"]
    report = {"backbone": args.backbone, "photos": photos, "batch_size": args.batch_size, "workers": args.workers,
              "shard_photos": args.shard_photos, "cpus": os.cpu_count(), "uptime_before": uptime,
              "uptime_after": uptime_after, "runs": rows,
              "ratio_last_to_first": round(rows[-1]["photos_per_s"] / rows[0]["photos_per_s"], 2),
              "projection_imagenet21k_from_per_process_rate": {
                  "per_process_photos_per_s": round(per_process, 2), "photos": IMAGENET_21K,
                  **{k: round(v, 1) for k, v in projection(per_process).items()}}}
    for r in rows:
        print(f"{r['processes']} process(es): {r['seconds']:7.1f} s  {r['photos_per_s']:6.2f} photos/s  "
              f"max |diff| to the first run {r['max_abs_diff_to_first']:.1e}")
    print(f"ratio {report['ratio_last_to_first']}x; after: {uptime_after}")
    print(f"projection, not measured: {json.dumps(report['projection_imagenet21k_from_per_process_rate'])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
