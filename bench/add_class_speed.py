"""How long adding (and removing) a user class takes: validate, synthesize, fit its classifier row,
persist. Uses the attributes of real unseen classes under new names; user data goes to a temporary dir.

    python bench/add_class_speed.py [--model CHECKPOINT] [--classes 5] [--threads 0]
Results also go to bench/results/add_class_speed.json."""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["ZSL_USER_DIR"] = tempfile.mkdtemp(prefix="zsl-bench-")  # never touch the user's classes
from zsl_app.app.recognizer import Recognizer  # noqa: E402


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="checkpoint (default: weights/default.json)")
    p.add_argument("--classes", type=int, default=5, help="user classes added one after another")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p.parse_args()


def timed(fn, *args, **kwargs) -> float:
    started = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - started


def main() -> None:
    args = parse()
    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = Recognizer.load(args.model)
    unseen = [c["name"] for c in predictor.class_table() if c["kind"] == "unseen"][:args.classes]
    add = [timed(predictor.add_class, f"user {name}", predictor.class_attributes(name)) for name in unseen]
    reload = timed(Recognizer.load, args.model)
    remove = [timed(predictor.remove_class, f"user {name}") for name in unseen]
    report = {"command": " ".join(sys.argv), "model": predictor.info["model"], "threads": torch.get_num_threads(),
              "add_s": add, "add_median_s": float(np.median(add)), "add_max_s": float(max(add)),
              "remove_s": remove, "load_with_user_classes_s": reload}
    print(f"{predictor.info['model']} ({report['threads']} threads): add a class median {np.median(add):.2f} s, "
          f"max {max(add):.2f} s (1st includes drawing the other classes' synthetic sets); remove "
          f"{np.median(remove):.2f} s median; load with {len(add)} user classes {reload:.1f} s")
    out = Path(__file__).resolve().parent / "results" / "add_class_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
