"""Single-photo latency of the app, end to end (decode + preprocess + backbone + head + classifier),
on the 16 real CUB sample photos, warm; also their top-1 / top-5 accuracy.

    python bench/predict_latency.py [--model CHECKPOINT] [--repeats 5] [--threads 0]
Results also go to bench/results/predict_latency.json."""

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.app.recognizer import Recognizer  # noqa: E402

SHARED = Path(os.environ.get("ZSL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="checkpoint (default: weights/default.json)")
    p.add_argument("--samples", default=str(SHARED / "samples" / "cub"), help="folder with manifest.csv")
    p.add_argument("--repeats", type=int, default=5, help="timed passes over the photos (after one warm-up)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p.parse_args()


def main() -> None:
    args = parse()
    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = Recognizer.load(args.model)
    samples = Path(args.samples)
    rows = list(csv.DictReader(open(samples / "manifest.csv")))
    hits = {}
    for row in rows:  # the warm-up pass also scores the predictions
        ranked = [r.name for r in predictor.predict(samples / row["file"], top=5).ranked]
        hits.setdefault(row["split"], []).append((ranked[0] == row["class"], row["class"] in ranked))
    seconds = []
    for _ in range(args.repeats):
        for row in rows:
            started = time.perf_counter()
            predictor.predict(samples / row["file"])
            seconds.append(time.perf_counter() - started)
    ms = np.array(seconds) * 1000
    accuracy = {split: {"n": len(h), "top1": int(sum(a for a, _ in h)), "top5": int(sum(b for _, b in h))}
                for split, h in hits.items()}
    report = {"command": " ".join(sys.argv), "model": predictor.info["model"], "photos": len(rows),
              "runs": len(ms), "threads": torch.get_num_threads(), "median_ms": float(np.median(ms)),
              "p95_ms": float(np.percentile(ms, 95)), "mean_ms": float(ms.mean()), "accuracy": accuracy}
    print(f"{predictor.info['model']}: {len(ms)} predictions, median {report['median_ms']:.0f} ms, "
          f"p95 {report['p95_ms']:.0f} ms ({report['threads']} threads)")
    for split, a in accuracy.items():
        print(f"{split:12} top-1 {a['top1']}/{a['n']}  top-5 {a['top5']}/{a['n']}")
    out = Path(__file__).resolve().parent / "results" / "predict_latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
