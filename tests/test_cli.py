"""The command line end to end on a generated dataset that lives in a real backbone's feature space
(EfficientNet-Lite0 with random weights: same network and recipe, no download needed)."""

import json

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from safetensors import safe_open

from conftest import write_tiny_xlsa17
from zsl_app.core.backbones import RANDOM, create_backbone
from zsl_app.app.cli import main

TRAIN = ["--no-select", "--iters", "20", "--classifier-epochs", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data root, checkpoint stem) of a model trained by `--train` on 1280-d effnetlite0-space features."""
    torch.set_num_threads(1)
    root = write_tiny_xlsa17(tmp_path_factory.mktemp("xlsa17"), dim=1280)
    mat = scipy.io.loadmat(root / "CUB" / "tinyfeat.mat")
    mat["backbone"] = create_backbone("effnet-lite0", weights=RANDOM).recipe
    scipy.io.savemat(root / "CUB" / "effnetlite0.mat", {k: mat[k] for k in ("features", "labels", "backbone")})
    (root / "CUB" / "tinyfeat.mat").unlink()
    out = tmp_path_factory.mktemp("weights")
    assert main(["--train", "cub", "--data-root", str(root), "--out", str(out), "--half", *TRAIN]) == 0
    (meta,) = out.glob("cub-vae-cflow-effnetlite0-s0-*.json")  # named by its settings and the time it was saved
    return root, meta.with_suffix("")


def test_train_half_and_eval(trained, capsys):
    root, stem = trained
    with safe_open(str(stem.with_suffix(".safetensors")), "pt") as f:
        assert f.get_tensor("classifier.linear.weight").dtype == torch.float16
    meta = json.loads(stem.with_suffix(".json").read_text())
    assert meta["human_scale"]["max"] == 100 and len(meta["human_scale"]["norms"]) == 10
    assert main(["--eval", str(stem), "--data-root", str(root)]) == 0
    assert "test now" in capsys.readouterr().out


def test_add_predict_list_remove(trained, tmp_path, capsys):
    _, stem = trained
    model = ["--model", str(stem), "--backbone-weights", RANDOM]
    (tmp_path / "a.csv").write_text(",".join(["40"] * 8))
    assert main(["--add-class", "My Bird", "--attributes", str(tmp_path / "a.csv"), *model]) == 0
    assert main(["--list-classes", "--model", str(stem)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "user    My Bird"

    photo = tmp_path / "bird.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(photo)
    assert main(["--predict", str(photo), "--json", "--top", "11", *model]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == stem.name and len(result["ranked"]) == 11
    assert {r["kind"] for r in result["ranked"]} == {"seen", "unseen", "user"}
    assert abs(sum(r["probability"] for r in result["ranked"]) - 1) < 1e-4
    assert len(result["attributes"]) == 8 and result["seconds"] > 0

    assert main(["--remove-class", "my bird", *model]) == 0
    capsys.readouterr()
    assert main(["--list-classes", "--model", str(stem)]) == 0
    assert "My Bird" not in capsys.readouterr().out


def test_user_errors_are_reported_not_raised(trained, tmp_path, capsys):
    _, stem = trained
    model = ["--model", str(stem), "--backbone-weights", RANDOM]
    (tmp_path / "short.json").write_text("[1, 2]")
    (tmp_path / "not.png").write_bytes(b"not an image")
    for argv, message in [
        (["--add-class", "X", "--attributes", str(tmp_path / "short.json")], "expected 8 attribute values"),
        (["--add-class", "X"], "needs --attributes"),
        (["--add-class", "002.class_1", "--attributes", str(tmp_path / "short.json")], "already a class"),
        (["--remove-class", "001.Class_0"], "class of the dataset"),
        (["--predict", str(tmp_path / "not.png")], "not an image"),
        (["--predict", str(tmp_path / "missing.png")], "no image file"),
    ]:
        assert main([*argv, *model]) == 2
        assert message in capsys.readouterr().err
    # the official weights are another feature space than the random-weight features it was trained on
    assert main(["--predict", str(tmp_path / "not.png"), "--model", str(stem)]) == 2
    assert "A head is only valid in the feature space it was trained in" in capsys.readouterr().err


def test_extract_cub_folder(trained, tmp_path):
    root, _ = trained
    images = tmp_path / "CUB_200_2011"
    for i, name in enumerate(["001.Class_0/a.jpg", "007.Class_6/b.jpg"]):
        (images / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (320, 240), (40 * i, 120, 200)).save(images / "images" / name)
    (images / "images.txt").write_text("1 001.Class_0/a.jpg\n2 007.Class_6/b.jpg\n")
    data = tmp_path / "data"
    (data / "CUB").mkdir(parents=True)
    (data / "CUB" / "att_splits.mat").write_bytes((root / "CUB" / "att_splits.mat").read_bytes())
    assert main(["--extract", "cub", "--images", str(images), "--data-root", str(data), "--backbone", "effnet-lite0",
                 "--backbone-weights", RANDOM, "--workers", "0", "--batch-size", "2"]) == 0
    mat = scipy.io.loadmat(data / "CUB" / "effnetlite0.mat")
    assert mat["features"].shape == (1280, 2) and mat["labels"].ravel().tolist() == [1, 7]
    assert main(["--extract", "cub", "--images", str(tmp_path / "nowhere"), "--data-root", str(data)]) == 2


def test_train_with_selection_carries_the_chosen_calibration(trained, tmp_path):
    root, _ = trained
    args = ["--train", "cub", "--data-root", str(root), "--out", str(tmp_path), "--calibration", "rate",
            "--iters", "20", "--classifier-epochs", "2", "--device", "cpu"]
    assert main(args) == 0
    (meta,) = tmp_path.glob("cub-vae-cflow-effnetlite0-s0-*.json")
    selection = json.loads(meta.read_text())["selection"]
    assert selection["calibration"] == "rate" and "validation_gamma" in selection


@pytest.mark.parametrize("action", ["--train", "--eval", "--predict", "--add-class", "--remove-class", "--extract"])
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_action_argument_is_an_error_not_the_web_app(action, value, capsys, monkeypatch):
    monkeypatch.setattr("zsl_app.app.ui.layout.serve", lambda args: pytest.fail("the web app was started"))
    with pytest.raises(SystemExit) as exit:
        main([action, value, "--attributes", "a.csv"])
    assert exit.value.code == 2
    assert f"argument {action}: expected a value, got an empty one" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "seed must be a whole number from 0 to 4,294,967,295; got -1"),
    (["--seed", str(2**70)], "seed must be a whole number from 0 to 4,294,967,295"),
    (["--iters", "0"], "vae-cflow iters must be a whole number from 1 to 200,000; got 0"),
    (["--iters", str(10**9)], "vae-cflow iters must be a whole number from 1 to 200,000"),
    (["--method", "dvae", "--iters", str(10**9)], "dvae epochs must be a whole number from 1 to 2,000"),
    (["--classifier-epochs", str(10**9)], "classifier epochs must be a whole number from 1 to 1,000"),
    (["--temperature", "-1"], "vae-cflow temperature must be a number from 0.01 to 10.0"),
    (["--method", "dvae", "--temperature", "1"], "unknown dvae options ['temperature']"),
    (["--folds", "1", "1"], "validation folds must be distinct"),
])
def test_out_of_range_training_settings_are_refused_before_any_data_is_read(argv, message, tmp_path, capsys):
    assert main(["--train", "cub", "--data-root", str(tmp_path / "nowhere"), *argv]) == 2
    assert message in capsys.readouterr().err
