"""A torchrun worker for tests/test_distributed.py: `app.py`'s command line with each shard it saves logged as
"<rank> <first photo>" to $SHARD_LOG. With $KILL_RANK_1 set, rank 1 kills itself (SIGKILL) before saving its
second shard, once rank 0 has saved both of its own.

Usage: KILL_RANK_1=1 SHARD_LOG=log torchrun --nproc-per-node 2 tests/killed_rank.py --extract cub ..."""

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zsl_app.app.cli import main  # noqa: E402
from zsl_app.storage import shards  # noqa: E402

RANK = int(os.environ["RANK"])
save_shard = shards.save_shard
saved: list[int] = []  # first photos of the shards this process saved


def logged_save(folder: Path, shard: shards.Shard, rows) -> None:
    """save_shard, logged; with $KILL_RANK_1, rank 1's second shard is never saved."""
    if os.environ.get("KILL_RANK_1") and RANK == 1 and saved:
        deadline = time.monotonic() + 60
        while len(list(folder.glob("*.safetensors"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # rank 0's two shards and this rank's first one: then die
        os.kill(os.getpid(), signal.SIGKILL)
    save_shard(folder, shard, rows)
    saved.append(shard.start)
    with open(os.environ["SHARD_LOG"], "a") as log:
        log.write(f"{RANK} {shard.start}\n")


shards.save_shard = logged_save
sys.exit(main(sys.argv[1:]))
