"""The shipped fine-tuned backbone: the app's photo path reproduces the rows its pipeline wrote into the
fine-tuned features file, for the 16 real sample photos (reference rows kept in tests/data/)."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLES, needs_samples
from zsl_app.storage.finetuned import FORMAT, load_finetuned
from zsl_app.storage.paths import PROJECT_ROOT, WEIGHTS_DIR

REFERENCE = PROJECT_ROOT / "tests" / "data"


def shipped_finetunes() -> list:
    return [p for p in sorted(WEIGHTS_DIR.glob("*.json")) if json.loads(p.read_text()).get("format") == FORMAT]


@needs_samples
@pytest.mark.parametrize("meta_path", shipped_finetunes(), ids=lambda p: p.stem)
def test_photo_path_reproduces_the_finetuned_features_file(meta_path):
    backbone = load_finetuned(meta_path)
    reference = np.load(REFERENCE / f"cub-{backbone.features_name}-samples.npy", allow_pickle=False)  # (16, 1280)
    rows = list(csv.DictReader(open(SAMPLES / "manifest.csv")))  # the reference rows are in manifest order
    features = backbone.embed_images([Image.open(SAMPLES / r["file"]).convert("RGB") for r in rows])
    assert np.abs(features - reference).max() < 1e-4


def test_a_finetune_ships():
    assert shipped_finetunes(), "weights/ holds no fine-tuned backbone"
