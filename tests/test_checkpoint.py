import json

import numpy as np
import pytest
import torch

from zsl_app.storage.checkpoint import CheckpointError, load_model, paths, read_metadata, save_model
from zsl_app.storage.data import load_benchmark
from zsl_app.protocol.run import Protocol, evaluate_model, train_and_evaluate


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from conftest import write_tiny_xlsa17
    root = write_tiny_xlsa17(tmp_path_factory.mktemp("data"))
    bench = load_benchmark(root, "CUB", "tinyfeat")
    config = {"iters": 60, "encoder_hidden": 32, "decoder_hidden": 16, "coupling_hidden": 16, "unseen_samples": 20}
    result = train_and_evaluate(bench, "vae-cflow", config, protocol=Protocol(checkpoints=2), seed=0)
    return bench, result


def test_protocol_records_selection_and_metrics(tiny_model):
    bench, result = tiny_model
    meta = result.model.meta
    assert set(meta["metrics"]) >= {"val", "test"}
    for split in ("val", "test"):
        assert set(meta["metrics"][split]) >= {"U", "S", "H", "ZSL"}
    assert result.selection["length"] in (30, 60)  # one of the validation checkpoints
    assert result.model.class_kinds.count("unseen") == 4


def test_round_trip_identical_predictions(tiny_model, tmp_path):
    bench, result = tiny_model
    save_model(result.model, tmp_path / "m")
    loaded = load_model(tmp_path / "m.safetensors")
    x = bench.features[bench.test_unseen]
    np.testing.assert_array_equal(loaded.scores(x), result.model.scores(x))
    assert evaluate_model(loaded, bench) == pytest.approx(result.test)
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["dataset"] == "CUB" and meta["features"]["feature_space"] == "tiny synthetic recipe"
    assert {"torch", "numpy", "safetensors"} <= set(meta["versions"])


def test_half_precision_storage(tiny_model, tmp_path):
    bench, result = tiny_model
    save_model(result.model, tmp_path / "h", half=True)
    loaded = load_model(tmp_path / "h")
    x = bench.features[bench.test_seen]
    assert (loaded.scores(x).argmax(1) == result.model.scores(x).argmax(1)).mean() > 0.95


def test_refuses_other_feature_space(tiny_model, tmp_path):
    save_model(tiny_model[1].model, tmp_path / "m")
    with pytest.raises(CheckpointError, match="only valid in the feature space"):
        load_model(tmp_path / "m", feature_space="resnet101 torchvision")


def test_refuses_wrong_shapes(tiny_model, tmp_path):
    save_model(tiny_model[1].model, tmp_path / "m")
    meta_path = paths(tmp_path / "m")[1]
    meta = json.loads(meta_path.read_text())
    meta["head_dims"]["feature_dim"] = 32
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="has shape"):
        load_model(tmp_path / "m")


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint metadata"):
        read_metadata(tmp_path / "none")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_metadata(tmp_path / "bad")


def test_atomic_save_leaves_old_file_on_failure(tiny_model, tmp_path, monkeypatch):
    save_model(tiny_model[1].model, tmp_path / "m")
    before = (tmp_path / "m.safetensors").read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr("zsl_app.storage.checkpoint.save_file", boom)
    with pytest.raises(RuntimeError):
        save_model(tiny_model[1].model, tmp_path / "m")
    assert (tmp_path / "m.safetensors").read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_deterministic_training(tiny_model):
    bench, result = tiny_model
    config = {"iters": 30, "encoder_hidden": 32, "decoder_hidden": 16, "coupling_hidden": 16, "unseen_samples": 20}
    runs = [train_and_evaluate(bench, "vae-cflow", config, protocol=Protocol(select=False), seed=3) for _ in range(2)]
    a, b = (r.model.head.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
