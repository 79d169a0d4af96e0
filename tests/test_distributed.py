"""torch.distributed with real processes: two gloo processes on this CPU, launched by torchrun (the command line)
or torch.multiprocessing (DDP steps), against one process doing the same work."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torch.multiprocessing as mp
from torch.optim.optimizer import register_optimizer_step_pre_hook
from safetensors.torch import load_file, save_file

from zsl_app.core import distributed
from zsl_app.core.backbones import RANDOM, create_backbone
from zsl_app.core.classifier import ClassifierConfig, SyntheticRows, train_classifier
from zsl_app.core.finetune import FinetuneConfig, Top, train_top
from zsl_app.core.heads import create_head, head_config
from zsl_app.storage.extract import extract_features
from zsl_app.storage.shards import load_shard, merge_shards, plan_shards, save_as_completed, save_shard, shard_folder

from conftest import needs_samples
from test_extract import cub, manifest  # noqa: F401  (fixtures: a CUB folder of the 16 sample photos)

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
EXTRACT = ["--extract", "cub", "--backbone", "effnet-lite0", "--batch-size", "4", "--workers", "0",
           "--shard-photos", "4", "--device", "cpu"]  # 16 photos: 4 shards, two per rank


def torchrun(script: str, args: list[str], *, ok: bool = True, **env: str) -> subprocess.CompletedProcess:
    """Run `script` under torchrun with two processes, one thread each; unless told otherwise, it must succeed."""
    done = subprocess.run([*TORCHRUN, script, *args], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})
    assert (done.returncode == 0) == ok, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture
def one_thread():
    """Single-process references computed as the workers compute: on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def single(cub, one_thread) -> dict:  # noqa: F811
    """The 16 sample photos' features file made by one process, and a copy of the inputs for the workers."""
    images, data = cub
    out = extract_features(images, data, backbone="effnet-lite0", batch_size=4, workers=0)
    mat = scipy.io.loadmat(out)
    out.unlink()
    return mat


def assert_same_file(path: Path, reference: dict) -> None:
    mat = scipy.io.loadmat(path)
    np.testing.assert_array_equal(mat["features"], reference["features"])  # row for row, to the bit
    for key in ("labels", "image_files", "backbone"):
        assert (mat[key] == reference[key]).all(), key
    assert sorted(p.name for p in path.parent.iterdir()) == ["att_splits.mat", path.name]  # shards merged, gone


@needs_samples
def test_torchrun_extraction_equals_the_single_process_file(cub, single):  # noqa: F811
    images, data = cub
    done = torchrun("app.py", [*EXTRACT, "--images", str(images), "--data-root", str(data)])
    assert_same_file(data / "CUB" / "effnetlite0.mat", single)
    assert done.stdout.count("wrote ") == 1  # rank 0 alone speaks


@needs_samples
def test_a_killed_rank_redoes_only_its_unfinished_shard(cub, single, tmp_path):  # noqa: F811
    images, data = cub
    args = [*EXTRACT, "--images", str(images), "--data-root", str(data)]
    torchrun("tests/killed_rank.py", args, ok=False, KILL_RANK_1="1", SHARD_LOG=str(tmp_path / "first.log"))
    assert not (data / "CUB" / "effnetlite0.mat").exists()
    torchrun("tests/killed_rank.py", args, SHARD_LOG=str(tmp_path / "again.log"))  # the same command again
    logged = {run: sorted(tuple(map(int, line.split())) for line in (tmp_path / f"{run}.log").read_text().splitlines())
              for run in ("first", "again")}
    # rank 0 saved photos 0-3 and 8-11, rank 1 photos 4-7 and died; the second run embeds 12-15 alone
    assert logged == {"first": [(0, 0), (0, 8), (1, 4)], "again": [(1, 12)]}
    assert_same_file(data / "CUB" / "effnetlite0.mat", single)


def test_a_stale_or_torn_shard_is_never_read(tmp_path):
    files = [f"c/{i}.jpg" for i in range(6)]
    shard = plan_shards(files, "recipe A", 4)[0]
    folder = shard_folder(tmp_path / "x.mat")
    save_shard(folder, shard, np.ones((4, 3), np.float32))
    assert load_shard(folder, shard).shape == (4, 3)
    for other in (plan_shards(files, "recipe B", 4)[0], plan_shards(["d/0.jpg", *files[1:]], "recipe A", 4)[0]):
        assert other.stop == shard.stop and load_shard(folder, other) is None  # same rows, other photos or backbone
    path = next(folder.iterdir())
    path.write_bytes(path.read_bytes()[:-5])
    assert load_shard(folder, shard) is None


def test_shards_are_saved_from_batches_of_any_size(tmp_path):
    shards = plan_shards([f"c/{i}.jpg" for i in range(10)], "recipe", 4)  # 4 + 4 + 2 photos
    rows = np.arange(30, dtype=np.float32).reshape(10, 3)
    save_as_completed(tmp_path, shards, (rows[i:i + 3] for i in range(0, 10, 3)))
    np.testing.assert_array_equal(merge_shards(tmp_path, shards), rows)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_batch_parts_tile_the_global_batch_and_weigh_its_mean(size, monkeypatch):
    parts = []
    for rank in range(size):
        monkeypatch.setattr(distributed, "world", lambda rank=rank: distributed.World(rank, size))
        parts.append(distributed.batch_part(7))
    assert [i for part, _ in parts for i in range(7)[part]] == list(range(7))
    # DDP averages the ranks' gradients: each row must then count 1/7, as in the global batch's mean
    assert [weight / (part.stop - part.start) / size for part, weight in parts] == pytest.approx([1 / 7] * size)
    with pytest.raises(ValueError, match="cannot be split"):
        monkeypatch.setattr(distributed, "world", lambda: distributed.World(0, 8))
        distributed.batch_part(7)


def ddp_steps() -> dict[str, torch.Tensor]:
    """A backbone fine-tune and two classifiers (on held examples, and on examples synthesized per batch), trained
    on tiny generated data: the gradients of every optimizer step (flattened), and the trained weights. Global
    batches of 7 rows split 3 + 4 across two ranks, so the ranks' losses weigh unequally."""
    out, training = {}, "fine-tune"

    def record(optimizer, *_):
        step = sum(k.startswith(f"{training} step") for k in out)
        out[f"{training} step {step}"] = torch.cat([p.grad.flatten() for group in optimizer.param_groups
                                                    for p in group["params"]])

    hook = register_optimizer_step_pre_hook(record)
    torch.manual_seed(0)
    net, g = create_backbone("effnet-lite0", weights=RANDOM).net, torch.Generator().manual_seed(0)
    top, channels = Top(net, net.stage_starts[-1]), net.bottom(torch.rand(1, 3, 32, 32), net.stage_starts[-1]).shape[1]
    train_top(top, torch.rand(2, 14, channels, 3, 3, generator=g), torch.arange(14) % 3, 3,
              FinetuneConfig(epochs=2, batch_size=7, lr=1e-2), generator=torch.Generator().manual_seed(1))
    x, y = torch.rand(14, 6, generator=g), torch.arange(14) % 3
    config, training = ClassifierConfig(epochs=2, batch_size=7, lr=1e-2), "held"
    held = train_classifier(x, y, 5, config, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    head = create_head("vae-cflow", head_config("vae-cflow", {"encoder_hidden": 8, "decoder_hidden": 8,
                                                              "coupling_hidden": 8}),
                       feature_dim=6, attribute_dim=4, n_classes=3).eval()
    head.prepare(x, y, None)  # the flow's data-dependent initialisation
    synthetic, training = SyntheticRows(head, torch.rand(2, 4, generator=g), torch.tensor([3, 4]), n=7), "made"
    made = train_classifier(x, y, 5, config, generator=torch.Generator().manual_seed(3), synthetic=synthetic)
    hook.remove()
    return {**out, **{f"fine-tune {k}": v for k, v in top.state().items()},
            **{f"held {k}": v for k, v in held.state_dict().items()},
            **{f"made {k}": v for k, v in made.state_dict().items()}}


def ddp_worker(rank: int, size: int, port: int, out: str) -> None:
    """One rank of the DDP job (torch.multiprocessing), with torchrun's environment."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(size),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    with distributed.process_group("cpu") as world:
        assert world.size == size and distributed.is_distributed()
        save_file(ddp_steps(), f"{out}.{rank}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_fine_tune_and_classifier_steps_equal_one_process(tmp_path, one_thread):
    mp.spawn(ddp_worker, args=(2, free_port(), str(tmp_path / "ddp")), nprocs=2)
    ranks = [load_file(tmp_path / f"ddp.{rank}") for rank in range(2)]
    alone = ddp_steps()
    assert ranks[0].keys() == alone.keys()
    for name, value in alone.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # DDP keeps the replicas in step
    assert sum(k.startswith("made step") for k in alone) == 8  # (14 held + 14 made rows) / 7, two epochs
    for name in [k for k in alone if k.startswith(("held", "made")) or k.endswith("step 0")]:
        assert torch.allclose(ranks[0][name], alone[name], rtol=1e-5, atol=1e-6), name
    # Adam turns float noise in near-zero gradients into steps of up to its lr (1e-2): later steps of the random
    # network's fine-tune drift by a fraction of that
    for name in [k for k in alone if k.startswith("fine-tune")]:
        assert torch.allclose(ranks[0][name], alone[name], atol=2e-3), name
