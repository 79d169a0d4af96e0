"""Wall time and peak memory of `python app.py --predict PHOTO`, a fresh process each run (what a user waits for).

    python bench/cli_predict.py [--runs 7] [--photo PHOTO] [--batch FOLDER]

Prints min / median wall seconds, CPU seconds and the peak RSS, with the machine's load average before and after
(`uptime`): on a shared machine the minimum is the closest to an idle one, and the CPU time (one thread) what an
idle one would take. `--batch FOLDER` also times one call on every
photo of a folder. Results also go to bench/results/cli_predict.json."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from zsl_app.app.photos import photos_in  # noqa: E402

SHARED = Path(os.environ.get("ZSL_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAMPLES = SHARED / "samples" / "cub"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=7, help="timed processes (default 7)")
    p.add_argument("--photo", default=str(SAMPLES / "Black_Capped_Vireo_0053_797478.jpg"), help="the photo")
    p.add_argument("--batch", help="also time one call on all photos of this folder (e.g. the 16 samples)")
    return p.parse_args()


def timed(argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one `python app.py ...` process."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "app.py", *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"app.py {' '.join(argv)} failed: {process.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def load() -> str:
    """The load averages of `uptime` (1, 5, 15 min)."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].strip()


def main() -> int:
    args = parse()
    load_before = load()
    runs = [timed(["--predict", args.photo]) for _ in range(args.runs)]
    walls, cpus = [w for w, _, _ in runs], [c for _, c, _ in runs]
    result = {"photo": Path(args.photo).name, "runs": len(runs), "min_s": min(walls),
              "median_s": statistics.median(walls), "cpu_min_s": min(cpus), "cpu_median_s": statistics.median(cpus),
              "peak_rss_mb": max(m for _, _, m in runs), "cpus": os.cpu_count(), "load_before": load_before}
    if args.batch:
        wall, cpu, rss = timed(["--predict", args.batch])
        result["batch"] = {"photos": len(photos_in(args.batch)), "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss}
    result["load_after"] = load()
    print(f"--predict one photo, {len(runs)} fresh processes: min {result['min_s']:.2f} s, median "
          f"{result['median_s']:.2f} s (CPU time min {result['cpu_min_s']:.2f} s, median "
          f"{result['cpu_median_s']:.2f} s), peak RSS {result['peak_rss_mb']:.0f} MB")
    if args.batch:
        b = result["batch"]
        print(f"--predict {args.batch} ({b['photos']} photos, one process): {b['wall_s']:.2f} s (CPU "
              f"{b['cpu_s']:.2f} s), peak RSS {b['peak_rss_mb']:.0f} MB")
    print(f"load average before {load_before}, after {result['load_after']} ({os.cpu_count()} CPUs)")
    out = ROOT / "bench" / "results" / "cli_predict.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
