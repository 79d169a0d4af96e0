"""Time the default photo pipeline stage by stage: cache the frozen stages, fine-tune (validation fold,
final), head protocol (selection, final fit, test); print one number per stage and U / S / H / ZSL.

    python bench/finetune_pipeline.py --images PATH/CUB_200_2011 --data-root PATH/xlsa17 --method dvae \\
        --seed 0 --threads 2 [--cache-dir EMPTY_DIR] [--set resolution=390] [--save weights] [--tag timing]
A --cache-dir without a cache times the caching too (it is made once per backbone and photo set).
Several heads (`--method dvae vae-cflow dvae:ablation=base`) run one after another on the same seed's
fine-tunes, which are made once (in the first head's run): what `python app.py --train cub --finetune
--method M --seed S` computes for each, without repeating the fine-tunes.
--set changes fine-tune settings (FinetuneConfig fields); --save DIR saves the first head's model as `--train
--half` would (model, fine-tuned backbone, photo reading).
Results go to bench/results/finetune-pipeline-<method>[-<settings>][-<tag>]-s<seed>.json, one per head (a --tag
keeps a rerun of the same settings and seed, e.g. a timing run, from replacing an earlier result)."""

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.app.cli import save_trained  # noqa: E402
from zsl_app.protocol import resolve_spec  # noqa: E402
from zsl_app.protocol.spec import parse_overrides  # noqa: E402
from zsl_app.protocol.finetune import PhotoRun, finetune_base, photo_stages  # noqa: E402
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
    p.add_argument("--method", nargs="+", default=["dvae"],
                   help="heads, each METHOD or METHOD:FIELD=VALUE,... (head Config overrides)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache-dir", help="activation cache folder (default: the user's)")
    p.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE", help="fine-tune settings")
    p.add_argument("--save", metavar="DIR", help="save the first head's model here (fp16, as --half)")
    p.add_argument("--tag", help="added to the results files' names")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    finetune = parse_overrides(args.set)
    specs = {label: head_spec(label, args.seed, finetune) for label in args.method}
    spec = next(iter(specs.values()))
    base = finetune_base("effnet-lite2", spec.finetune)
    where = PhotoRun(images_root=Path(args.images), data_root=Path(args.data_root),
                     cache_dir=Path(args.cache_dir) if args.cache_dir else user_data_dir() / "cache",
                     backbone_dir=backbones_dir())
    clock = StageClock()
    stages = photo_stages("CUB", base, spec.finetune, where, seed=spec.seed, holdout=spec.protocol.holdout,
                          callback=lambda progress: clock(progress),
                          extract_progress=lambda done, total: clock.note("cache"))
    for label, spec in specs.items():
        result = run_protocol(spec, stages, callback=clock)
        report = {"method": label, "seed": args.seed, "threads": args.threads, "finetune": str(spec.finetune),
                  "seconds_per_stage": clock.seconds(), "total_minutes": round((time.perf_counter() - started) / 60, 1),
                  "load_average": os.getloadavg(),
                  "test": {k: round(result.test[k], 2) for k in ("U", "S", "H", "ZSL")},
                  "val": {k: round(result.selection.val[k], 2) for k in ("U", "S", "H", "ZSL")}}
        print(json.dumps(report, indent=1), flush=True)
        name = "-".join([label.replace(":", "-"), *(s.replace("=", "") for s in args.set),
                         *([args.tag] if args.tag else []), f"s{args.seed}"])
        out = Path(__file__).resolve().parent / "results" / f"finetune-pipeline-{name}.json"
        write_text_atomic(out, json.dumps(report, indent=1))
        if args.save and label == args.method[0]:
            save_trained(result, stages, spec, Path(args.save), half=True)
        clock, started = StageClock(), time.perf_counter()


def head_spec(label: str, seed: int, finetune: dict):
    """`dvae:ablation=base` -> the run specification of that head on the fine-tuned photo route."""
    method, _, overrides = label.partition(":")
    return resolve_spec("cub", method, head=parse_overrides(overrides.split(",") if overrides else []),
                        seed=seed, finetune=finetune)


if __name__ == "__main__":
    main()
