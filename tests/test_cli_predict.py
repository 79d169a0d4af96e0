"""`python app.py --predict`: loads only what prediction uses; several photos or folders in one call."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from zsl_app.app.cli import main
from zsl_app.app.predictor import default_checkpoint
from zsl_app.storage.checkpoint import CheckpointError, paths
from zsl_app.storage.paths import PROJECT_ROOT

# Imported by other actions only: the web app, charts and tables, torchvision (resnet101 builds with it).
NOT_FOR_PREDICTION = ("gradio", "fastapi", "matplotlib", "pandas", "torchvision")


def shipped_model_present() -> bool:
    try:
        return all(p.is_file() for p in paths(default_checkpoint()))
    except CheckpointError:
        return False


needs_shipped = pytest.mark.skipif(not shipped_model_present(), reason="the shipped default model is not in weights/")


def photo(path, seed: int):
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(path)
    return path


@needs_shipped
def test_predict_imports_nothing_prediction_does_not_use(tmp_path):
    """Its 6-10 s were mostly imports and loading; torchvision alone pulled in torch._dynamo."""
    script = ("import json, sys\nfrom zsl_app.app.cli import main\n"
              f"code = main(['--predict', {str(photo(tmp_path / 'a.png', 0))!r}])\n"
              "print(json.dumps([code, sorted({m.split('.')[0] for m in sys.modules})]))")
    out = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "ZSL_USER_DIR": str(tmp_path / "user")})
    code, modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert code == 0, out.stderr
    assert [m for m in NOT_FOR_PREDICTION if m in modules] == []


@needs_shipped
def test_predict_several_photos_and_a_folder_with_a_progress_bar(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        photo(folder / f"p{i}.jpg", i)
    (folder / "notes.txt").write_text("not a photo, and not read: no photo suffix")
    single = photo(tmp_path / "single.png", 9)
    assert main(["--predict", str(folder), str(single), "--json", "--top", "2"]) == 0
    out, err = capsys.readouterr()
    answers = json.loads(out)
    assert [a["photo"] for a in answers] == [str(folder / f"p{i}.jpg") for i in range(3)] + [str(single)]
    assert all(len(a["ranked"]) == 2 and a["ranked"][0]["display_name"] for a in answers)
    assert "4/4" in err  # the progress bar, on stderr

    (folder / "p1.jpg").write_bytes(b"broken")
    assert main(["--predict", str(folder), "--top", "1"]) == 2  # the others are still answered
    out, err = capsys.readouterr()
    assert "p1.jpg is not an image" in err and out.count("(cub-") == 2


@needs_shipped
def test_predict_shows_display_names_and_json_keeps_ids(tmp_path, capsys):
    image = photo(tmp_path / "one.png", 1)
    assert main(["--predict", str(image), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)  # one photo: one object, as before
    first = answer["ranked"][0]
    assert first["name"].split(".")[0].isdigit() and "_" not in first["display_name"]
    assert main(["--predict", str(image)]) == 0
    assert first["display_name"] in capsys.readouterr().out


def test_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["--predict", str(tmp_path)]) == 2
    assert f"no photos in the folder {tmp_path}" in capsys.readouterr().err


def test_resnet101_names_torchvisions_weights():
    """The URL is written out so that registering the backbone does not import torchvision."""
    torchvision = pytest.importorskip("torchvision")
    from zsl_app.core.backbones import resnet
    assert resnet.WEIGHTS_URL == torchvision.models.ResNet101_Weights.IMAGENET1K_V2.url
