"""Does the classifier stage's choice carry over to another model? Validation data only.

The protocol picks the classifier epoch and the calibration gamma on a validation model and applies
them to a different model (retrained on trainval). This script measures that transfer inside
validation data: it reads `research/dvae_validate.py --grid` files of heads trained on different folds
or seeds, picks (epoch, gamma) on one head and reads the validation H the other head gets with it.
Per classifier variant it prints the heads' own best H, the transferred H (mean over ordered pairs)
and the loss between them. --upward keeps only pairs from a head with fewer seen classes to one with
more on the same fold (grids of `--seen-share` below 1): the protocol's direction, 100 seen classes
on validation, 150 on trainval. --calibration rate carries the gamma over as the protocol's "rate"
calibration does: the target gets the gamma (on the grid's finer gammas) whose share of training seen images
sent to unseen classes is closest to the source's at its choice. --gammas grid lets the source choose
among all the grid's gammas (-1 to 3 by 0.05 and the protocol's) instead of the protocol's (0 to 8 by 0.25).
--pool chooses for each head on the mean of all the other heads' grids (as selection over several folds
does) instead of on one other head. --joint makes one choice among every variant's epochs and gammas, as the
protocol chooses a head snapshot and a generation option together with them (the grids of
`research/finetune_validate.py --transfer-grid`, whose variants are VAE-cFlow's snapshots and temperatures).
Usage: python research/classifier_transfer.py GRID.json GRID.json [...] [--max-epoch 30] [--upward | --pool]
       [--window 2] [--calibration rate] [--gammas grid] [--joint]"""

import argparse
import json
import sys
from itertools import permutations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.protocol.calibration import CALIBRATIONS, GAMMAS  # noqa: E402


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grids", type=Path, nargs="+", help="--grid files of research/dvae_validate.py")
    p.add_argument("--max-epoch", type=int, default=30, help="classifier epochs offered (the protocol's cap)")
    p.add_argument("--window", type=int, default=0,
                   help="choose on validation H averaged over classifier epochs within +-window "
                        "(0: the protocol's argmax)")
    p.add_argument("--upward", action="store_true", help="only pairs from fewer to more seen classes, same fold")
    p.add_argument("--pool", action="store_true", help="choose on the mean of all the other heads' grids")
    p.add_argument("--calibration", choices=CALIBRATIONS, default="gamma",
                   help="carry the chosen gamma as is, or as its share of training seen images sent to unseen classes")
    p.add_argument("--gammas", choices=("protocol", "grid"), default="protocol",
                   help="the gammas a choice is made among: the protocol's, or every gamma in the grids")
    p.add_argument("--joint", action="store_true", help="one choice among all variants (the variant joins the epoch)")
    args = p.parse_args()
    if args.joint and args.window:
        p.error("--window averages classifier epochs of one variant; it cannot be combined with --joint")
    return args


def load(path: Path, max_epoch: int, joint: bool) -> tuple[tuple, dict]:
    """((fold, seed, seen classes), {variant: {(epoch, gamma): (U, S, H, seen_to_unseen)}}); a variant
    names its head snapshot and classifier settings (of several classifier seeds, the last is kept).
    `joint`: one variant, "joint", whose epochs are (variant, classifier epoch) pairs."""
    grid = json.loads(path.read_text())
    variants = {}
    for entry in grid["variants"]:
        key = ", ".join(f"{k} {v:g}" for k, v in entry["variant"].items())
        variants[key] = {(r[0], r[1]): tuple(r[2:6]) for r in entry["rows"] if r[0] <= max_epoch}
    if joint:
        variants = {"joint": {((key, epoch), gamma): row for key, rows in variants.items()
                              for (epoch, gamma), row in rows.items()}}
    return (grid["fold"], grid["seed"], grid["seen"]), variants


def name(head: tuple) -> str:
    return "fold {} seed {} ({} seen)".format(*head)


def pairs(heads, upward: bool, pool: bool) -> list[tuple]:
    """(sources, target) pairs of heads: every other head pooled, or one head each."""
    if pool:
        return [(tuple(a for a in heads if a != b), b) for b in heads]
    return [((a,), b) for a, b in permutations(heads, 2) if not upward or (a[0] == b[0] and a[2] < b[2])]


def pooled(grids: list[dict]) -> dict:
    """The grids' rows averaged (a one-grid list: that grid), as selection averages reports over folds."""
    keys = set.intersection(*(set(g) for g in grids))
    return {key: tuple(float(np.mean([g[key][i] for g in grids])) for i in range(4)) for key in keys}


def transfer(source: dict, target: dict, window: int, calibration: str, offered) -> tuple[tuple, float, float]:
    """The source's choice among the `offered` gammas (best H averaged over classifier epochs within
    +-window, same gamma), the gamma the target gets and the H it gives there."""
    def smoothed(key):
        if not window:  # the protocol's argmax (epochs of --joint are (variant, epoch) pairs)
            return source[key][2]
        epoch, gamma = key
        near = [source[(e, gamma)][2] for e in range(epoch - window, epoch + window + 1) if (e, gamma) in source]
        return np.mean(near)

    choice = max((key for key in source if offered(key[1])), key=smoothed)
    epoch, gamma = choice
    if calibration == "rate":
        share = source[choice][3]
        gamma = min((g for e, g in target if e == epoch), key=lambda g: (abs(target[(epoch, g)][3] - share), g))
    return choice, gamma, target[(epoch, gamma)][2]


def main() -> None:
    args = parse()
    heads = dict(load(path, args.max_epoch, args.joint) for path in args.grids)
    if not pairs(heads, args.upward, args.pool):
        raise SystemExit("no pair of heads to compare (--upward needs a smaller and a larger head on one fold)")
    variants = sorted(set.intersection(*(set(v) for v in heads.values())))
    offered = (lambda gamma: gamma in GAMMAS) if args.gammas == "protocol" else (lambda gamma: True)
    for variant in variants:
        grids = {head: v[variant] for head, v in heads.items()}
        own = {head: max(r[2] for (e, gamma), r in g.items() if offered(gamma)) for head, g in grids.items()}
        lines, moved = [], []
        chosen = pairs(grids, args.upward, args.pool)
        for a, b in chosen:
            (epoch, gamma), carried, h = transfer(pooled([grids[s] for s in a]), grids[b], args.window,
                                                  args.calibration, offered)
            moved.append(h)
            lines.append(f"  {' + '.join(map(name, a))} -> {name(b)}: epoch {epoch}, gamma {gamma}"
                         + (f" -> {carried:g}" if args.calibration == "rate" else "")
                         + f": H {h:.1f} (own best {own[b]:.1f})")
        mean_own = np.mean([own[b] for _, b in chosen])
        print(f"{variant}: own best H {mean_own:.2f}, transferred H {np.mean(moved):.2f}, "
              f"loss {mean_own - np.mean(moved):.2f}")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
