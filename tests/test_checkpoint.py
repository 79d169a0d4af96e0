"""Checkpoints: round trip, half precision, and every refusal of weights or metadata that cannot be trusted."""

import copy
import dataclasses
import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from zsl_app.protocol import resolve_spec
from zsl_app.protocol.run import evaluate_model, run_protocol
from zsl_app.storage.checkpoint import CheckpointError, load_model, paths, read_metadata, save_model
from zsl_app.storage.data import load_benchmark
from zsl_app.storage.paths import WEIGHTS_DIR

TINY = {"encoder_hidden": 32, "decoder_hidden": 16, "coupling_hidden": 16, "unseen_samples": 20}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from conftest import write_tiny_xlsa17
    root = write_tiny_xlsa17(tmp_path_factory.mktemp("data"))
    bench = load_benchmark(root, "CUB", "tinyfeat")
    result = run_protocol(resolve_spec("CUB", "vae-cflow", head={**TINY, "iters": 60}), bench)
    return bench, result


def test_protocol_records_selection_and_metrics(tiny_model):
    bench, result = tiny_model
    meta = result.model.meta
    assert set(meta["metrics"]) >= {"val", "test"}
    for split in ("val", "test"):
        assert set(meta["metrics"][split]) >= {"U", "S", "H", "ZSL"}
    assert result.selection.length in (30, 60)  # one of the validation checkpoints
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


def edit_metadata(stem, edit) -> None:
    meta_path = paths(stem)[1]
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))


def test_refuses_wrong_shapes(tiny_model, tmp_path):
    save_model(tiny_model[1].model, tmp_path / "m")
    edit_metadata(tmp_path / "m", lambda meta: meta["config"].update(coupling_hidden=24))
    with pytest.raises(CheckpointError, match="has shape"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("key", [("features", "dim"), ("head_dims", "feature_dim"), ("head_dims", "attribute_dim")])
def test_refuses_metadata_that_does_not_describe_the_weights(tiny_model, tmp_path, key):
    save_model(tiny_model[1].model, tmp_path / "m")
    edit_metadata(tmp_path / "m", lambda meta: meta[key[0]].update({key[1]: 2048}))  # a JSON-only change
    with pytest.raises(CheckpointError, match=f"{key[0]}.{key[1]} is 2048 but the weights hold"):
        load_model(tmp_path / "m")


def test_refuses_weights_changed_after_saving(tiny_model, tmp_path):
    save_model(tiny_model[1].model, tmp_path / "m")
    weights = tmp_path / "m.safetensors"
    content = bytearray(weights.read_bytes())
    middle = len(content) // 2
    content[middle:middle + 4096] = os.urandom(4096)  # 4 KB of random bytes inside the tensor data
    weights.write_bytes(bytes(content))
    with pytest.raises(CheckpointError, match="not the file m.json was saved with"):
        load_model(tmp_path / "m")


def test_refuses_a_classifier_row_edited_in_the_weights_file(tiny_model, tmp_path):
    """A finite, well-formed edit (one class's row set to 60000: it would win every photo) is caught by the hash."""
    save_model(tiny_model[1].model, tmp_path / "m")
    weights = tmp_path / "m.safetensors"
    tensors = load_file(weights)
    tensors["classifier.linear.weight"][0] = 60000.0
    save_file(tensors, weights)
    with pytest.raises(CheckpointError, match="SHA-256 differs from weights_sha256"):
        load_model(tmp_path / "m")


def test_refuses_non_finite_weights_even_with_a_matching_hash(tiny_model, tmp_path):
    model = copy.deepcopy(tiny_model[1].model)
    with torch.no_grad():
        model.classifier.linear.weight[3] = float("nan")  # e.g. a diverged training, saved as it was
    save_model(model, tmp_path / "m")
    with pytest.raises(CheckpointError, match=r"\['classifier.linear.weight'\] hold NaN or infinite values"):
        load_model(tmp_path / "m")


def test_refuses_metadata_without_a_weights_hash(tiny_model, tmp_path):
    save_model(tiny_model[1].model, tmp_path / "m")
    edit_metadata(tmp_path / "m", lambda meta: meta.pop("weights_sha256"))
    with pytest.raises(CheckpointError, match="records no weights_sha256"):
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
    spec = resolve_spec("CUB", "vae-cflow", head={**TINY, "iters": 30}, protocol={"select": False}, seed=3)
    runs = [run_protocol(spec, bench) for _ in range(2)]
    a, b = (r.model.head.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)


LEGACY = {"cub-vae-cflow-effnetlite2-s0": ({}, {"seen_samples"}),
          "cub-dvae-effnetlite2-s0": ({"gamma": "lsc_weight"}, {"noise", "seen_draw"})}


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_shipped_checkpoints_load_through_their_legacy_fields(name):
    """The shipped metadata predates a renamed Config field and retired ones; each value still arrives."""
    renamed, retired = LEGACY[name]
    stored = read_metadata(WEIGHTS_DIR / name)["config"]
    config = json.loads(json.dumps(dataclasses.asdict(load_model(WEIGHTS_DIR / name).head.config)))  # as stored
    assert config == {renamed.get(k, k): v for k, v in stored.items() if k not in retired}


def test_a_retired_option_with_another_value_is_refused(tiny_model, tmp_path):
    save_model(tiny_model[1].model, tmp_path / "m")
    edit_metadata(tmp_path / "m", lambda meta: meta["config"].update(seen_samples=50))
    with pytest.raises(CheckpointError, match="trained with seen_samples=50, which this version no longer builds"):
        load_model(tmp_path / "m")
