"""Feature extraction into xlsa17 files, on a CUB-shaped folder of the 16 real sample photos,
and the CUB photo download path (offline here)."""

import csv
import io
import re
import shutil
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from zsl_app.storage.data import download
from zsl_app.storage.data.cub_images import DownloadError, download_cub_images, find_cub_images
from zsl_app.storage.data.xlsa17 import DataError
from zsl_app.storage.extract import extract_features, tqdm_progress
from zsl_app.storage.images import ImageError

from conftest import SAMPLES, SHARED, XLSA17, needs_samples

pytestmark = needs_samples


@pytest.fixture(scope="module")
def manifest() -> list[dict]:
    return sorted(csv.DictReader(open(SAMPLES / "manifest.csv")), key=lambda r: int(r["image_id"]))


@pytest.fixture
def cub(tmp_path, manifest) -> tuple[Path, Path]:
    """(images_root, data_root): a CUB_200_2011 folder holding the sample photos, and an xlsa17 root."""
    listing = dict(line.split() for line in (SHARED / "meta" / "cub" / "images.txt").read_text().splitlines())
    images_root = tmp_path / "CUB_200_2011"
    lines = []
    for row in manifest:
        relative = listing[row["image_id"]]  # "<class folder>/<file>.jpg", as in the real dataset
        target = images_root / "images" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLES / row["file"], target)
        lines.append(f"{row['image_id']} {relative}")
    (images_root / "images.txt").write_text("\n".join(reversed(lines)) + "\n")  # order comes from the ids
    data_root = tmp_path / "xlsa17"
    (data_root / "CUB").mkdir(parents=True)
    shutil.copy(XLSA17 / "CUB" / "att_splits.mat", data_root / "CUB")
    return images_root, data_root


def test_extracted_file_matches_the_published_features(cub, manifest):
    images_root, data_root = cub
    calls = []
    out = extract_features(images_root, data_root, batch_size=6, workers=2,
                           progress=lambda done, total: calls.append((done, total)))
    assert out == data_root / "CUB" / "effnetlite2.mat"
    assert calls == [(6, 16), (12, 16), (16, 16)]
    assert [p.name for p in out.parent.iterdir()] == sorted(["att_splits.mat", "effnetlite2.mat"])  # no temp left

    written = scipy.io.loadmat(out)
    reference = scipy.io.loadmat(XLSA17 / "CUB" / "effnetlite2.mat")
    rows = [int(r["image_id"]) - 1 for r in manifest]
    assert written["features"].shape == (1280, 16) and written["features"].dtype == np.float32
    assert np.abs(written["features"] - reference["features"][:, rows]).max() < 1e-3
    np.testing.assert_array_equal(written["labels"], reference["labels"][rows])
    names = scipy.io.loadmat(data_root / "CUB" / "att_splits.mat")["allclasses_names"].reshape(-1)
    for label, row in zip(written["labels"].reshape(-1), manifest):
        assert str(names[int(label) - 1][0]) == row["class"]
    files = [str(f[0]) for f in written["image_files"].reshape(-1)]
    assert files == [str(f[0]) for f in reference["image_files"][rows].reshape(-1)]
    assert str(written["backbone"][0]) == str(reference["backbone"][0])


def test_missing_inputs_are_named(cub, tmp_path):
    images_root, data_root = cub
    with pytest.raises(DataError, match=f"missing {re.escape(str(tmp_path / 'nowhere' / 'images.txt'))}"):
        extract_features(tmp_path / "nowhere", data_root)
    att_splits = tmp_path / "empty" / "CUB" / "att_splits.mat"
    with pytest.raises(DataError, match=f"missing {re.escape(str(att_splits))}"):
        extract_features(images_root, tmp_path / "empty")
    next((images_root / "images").rglob("*.jpg")).unlink()
    with pytest.raises(DataError, match="1 of the 16 photos .* are missing"):
        extract_features(images_root, data_root)
    with pytest.raises(DataError, match="supports CUB only"):
        extract_features(images_root, data_root, dataset="SUN")


def test_unknown_class_folder_is_refused(cub):
    images_root, data_root = cub
    (images_root / "images.txt").write_text("1 999.Dodo/Dodo_0001.jpg\n")
    with pytest.raises(DataError, match=r"\['999.Dodo'\] are not in"):
        extract_features(images_root, data_root)


def test_a_corrupt_photo_stops_the_run_and_leaves_no_file(cub):
    images_root, data_root = cub
    next((images_root / "images").rglob("*.jpg")).write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match="not an image"):
        extract_features(images_root, data_root, workers=0)
    assert [p.name for p in (data_root / "CUB").iterdir()] == ["att_splits.mat"]


def test_tqdm_progress_draws_and_closes(capsys):
    progress = tqdm_progress("extract")
    progress(8, 16)
    progress(16, 16)
    assert "16/16" in capsys.readouterr().err


def test_cub_download_fails_fast_offline_with_a_clear_message(tmp_path, monkeypatch):
    def offline(request, timeout):
        assert timeout <= 15  # never hang on a dead network
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    folder = re.escape(str(tmp_path / "CUB_200_2011"))
    expected = f"(?s)no network.*place it at {folder}.tgz.*so that {folder}/images.txt exists"
    with pytest.raises(DownloadError, match=expected):
        download_cub_images(tmp_path)


def test_cub_folder_found_or_extracted_from_a_placed_archive(cub, tmp_path):
    images_root, _ = cub
    assert find_cub_images(images_root) == images_root == find_cub_images(tmp_path)
    assert download_cub_images(tmp_path) == images_root  # already there: nothing downloaded
    placed = tmp_path / "placed"
    placed.mkdir()
    with tarfile.open(placed / "CUB_200_2011.tgz", "w:gz") as tar:
        tar.add(images_root / "images.txt", "CUB_200_2011/images.txt")
        info = tarfile.TarInfo("CUB_200_2011/images")
        info.type = tarfile.DIRTYPE
        tar.addfile(info, io.BytesIO())
    assert download_cub_images(placed) == placed / "CUB_200_2011"
    assert sorted(p.name for p in placed.iterdir()) == ["CUB_200_2011"]  # archive and temp folder gone
