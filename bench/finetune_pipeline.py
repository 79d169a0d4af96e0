"""Time the default photo pipeline stage by stage: cache the frozen stages, fine-tune (validation fold,
final), head protocol (selection, final fit, test); print one number per stage and U / S / H / ZSL.

    python bench/finetune_pipeline.py --images PATH/CUB_200_2011 --data-root PATH/xlsa17 --method dvae \\
        --seed 0 --threads 2 [--cache-dir EMPTY_DIR]
A --cache-dir without a cache times the caching too (it is made once per backbone and photo set).
Results go to bench/results/finetune-pipeline-<method>-s<seed>.json."""

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.core.backbones import create_backbone  # noqa: E402
from zsl_app.protocol import resolve_spec  # noqa: E402
from zsl_app.protocol.finetune import PhotoRun, photo_stages  # noqa: E402
from zsl_app.protocol.run import run_protocol  # noqa: E402
from zsl_app.storage.atomic import write_text_atomic  # noqa: E402
from zsl_app.storage.finetuned import backbones_dir  # noqa: E402
from zsl_app.storage.paths import user_data_dir  # noqa: E402


class StageClock:
    """Progress callback: wall seconds from each stage's first report to its last, by stage group."""

    def __init__(self):
        self.spans: dict[str, list[float]] = defaultdict(lambda: [float("inf"), 0.0])
        self.last = time.perf_counter()

    def __call__(self, progress) -> None:
        self.note(progress.stage.split(" ")[0])  # "select/classifier 3/6" -> "select/classifier"

    def note(self, group: str) -> None:
        """A report of `group`: its span runs from the previous report of any stage to now."""
        now = time.perf_counter()
        span = self.spans[group]
        span[0], span[1] = min(span[0], self.last), now
        self.last = now

    def seconds(self) -> dict[str, float]:
        return {group: round(end - start, 1) for group, (start, end) in self.spans.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--method", default="dvae")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache-dir", help="activation cache folder (default: the user's)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    clock = StageClock()
    spec = resolve_spec("cub", args.method, seed=args.seed, finetune={})
    base = create_backbone("effnet-lite2")
    where = PhotoRun(images_root=Path(args.images), data_root=Path(args.data_root),
                     cache_dir=Path(args.cache_dir) if args.cache_dir else user_data_dir() / "cache",
                     backbone_dir=backbones_dir())
    stages = photo_stages("CUB", base, spec.finetune, where, seed=spec.seed, holdout=spec.protocol.holdout,
                          callback=clock, extract_progress=lambda done, total: clock.note("cache"))
    result = run_protocol(spec, stages, callback=clock)
    total = time.perf_counter() - started
    report = {"method": args.method, "seed": args.seed, "threads": args.threads, "finetune": str(spec.finetune),
              "seconds_per_stage": clock.seconds(), "total_minutes": round(total / 60, 1),
              "test": {k: round(result.test[k], 2) for k in ("U", "S", "H", "ZSL")},
              "val": {k: round(result.selection.val[k], 2) for k in ("U", "S", "H", "ZSL")}}
    print(json.dumps(report, indent=1))
    out = Path(__file__).resolve().parent / "results" / f"finetune-pipeline-{args.method}-s{args.seed}.json"
    write_text_atomic(out, json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
