"""Does the classifier stage's choice carry over to another model? Validation data only.

The protocol picks the classifier epoch and the calibration gamma on a validation model and applies
them to a different model (retrained on trainval). This script measures that transfer inside
validation data: it reads `bench/dvae_validate.py --grid` files of heads trained on different folds
or seeds, picks (epoch, gamma) on one head and reads the validation H the other head gets with it.
Per classifier variant it prints the heads' own best H, the transferred H (mean over ordered pairs)
and the loss between them. --upward keeps only pairs from a head with fewer seen classes to one with
more on the same fold (grids of `--seen-share` below 1): the protocol's direction, 100 seen classes
on validation, 150 on trainval.
Usage: python bench/classifier_transfer.py GRID.json GRID.json [...] [--max-epoch 30] [--upward]
       [--window 2]"""

import argparse
import json
import re
from itertools import permutations
from pathlib import Path

import numpy as np


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grids", type=Path, nargs="+", help="--grid files of bench/dvae_validate.py")
    p.add_argument("--max-epoch", type=int, default=30, help="classifier epochs offered (the protocol's cap)")
    p.add_argument("--window", type=int, default=0,
                   help="choose on validation H averaged over classifier epochs within +-window "
                        "(0: the protocol's argmax)")
    p.add_argument("--upward", action="store_true", help="only pairs from fewer to more seen classes, same fold")
    return p.parse_args()


def load(path: Path, max_epoch: int) -> tuple[tuple, dict]:
    """((fold, seed, seen classes), {variant: {(epoch, gamma): (U, S, H)}}), the classifier seed dropped
    from variant names."""
    grid = json.loads(path.read_text())
    variants = {}
    for name, rows in grid["variants"].items():
        key = re.sub(r", classifier seed \d+", "", name)
        variants[key] = {(e, g): (u, s, h) for e, g, u, s, h in rows if e <= max_epoch}
    return (grid["fold"], grid["seed"], grid.get("seen", 100)), variants


def name(head: tuple) -> str:
    return "fold {} seed {} ({} seen)".format(*head)


def pairs(heads, upward: bool) -> list[tuple]:
    return [(a, b) for a, b in permutations(heads, 2) if not upward or (a[0] == b[0] and a[2] < b[2])]


def transfer(source: dict, target: dict, window: int) -> tuple[tuple, float]:
    """The source's choice (best H averaged over classifier epochs within +-window, same gamma) and the
    H it gives on the target."""
    def smoothed(key):
        epoch, gamma = key
        near = [source[(e, gamma)][2] for e in range(epoch - window, epoch + window + 1) if (e, gamma) in source]
        return np.mean(near)

    choice = max(source, key=smoothed)
    return choice, target[choice][2]


def main() -> None:
    args = parse()
    heads = dict(load(path, args.max_epoch) for path in args.grids)
    if not pairs(heads, args.upward):
        raise SystemExit("no pair of heads to compare (--upward needs a smaller and a larger head on one fold)")
    variants = sorted(set.intersection(*(set(v) for v in heads.values())))
    for variant in variants:
        grids = {head: v[variant] for head, v in heads.items()}
        own = {head: max(g.values(), key=lambda r: r[2])[2] for head, g in grids.items()}
        lines, moved = [], []
        chosen = pairs(grids, args.upward)
        for a, b in chosen:
            (epoch, gamma), h = transfer(grids[a], grids[b], args.window)
            moved.append(h)
            lines.append(f"  {name(a)} -> {name(b)}: epoch {epoch}, gamma {gamma}: H {h:.1f} "
                         f"(own best {own[b]:.1f})")
        mean_own = np.mean([own[b] for _, b in chosen])
        print(f"{variant}: own best H {mean_own:.2f}, transferred H {np.mean(moved):.2f}, "
              f"loss {mean_own - np.mean(moved):.2f}")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
