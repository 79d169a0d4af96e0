"""Shared fixtures: the real data beside the repo, and a tiny generated xlsa17 dataset."""

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io

SHARED = Path(os.environ.get("ZSL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
XLSA17 = SHARED / "xlsa17"
SAMPLES = SHARED / "samples" / "cub"
needs_samples = pytest.mark.skipif(not (SAMPLES / "manifest.csv").is_file(),
                                   reason=f"sample photos not found at {SAMPLES} (set ZSL_SHARED_DATA)")
needs_real_cub = pytest.mark.skipif(not (XLSA17 / "CUB" / "effnetlite2.mat").is_file(),
                                    reason=f"real CUB features not found under {XLSA17} (set ZSL_SHARED_DATA)")


@pytest.fixture(autouse=True, scope="module")
def _isolated_module_user_dir(tmp_path_factory):
    """Module fixtures (a fine-tune's backbone and activation cache) never touch the real user data dir:
    they start before the per-test one below."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZSL_USER_DIR", str(tmp_path_factory.mktemp("user")))
        yield


@pytest.fixture(autouse=True)
def _isolated_user_dir(tmp_path_factory, monkeypatch):
    """Tests never touch the real user data dir."""
    monkeypatch.setenv("ZSL_USER_DIR", str(tmp_path_factory.mktemp("user")))


def require_real_cub() -> Path:
    """The real CUB benchmark files, or skip with the reason."""
    if not (XLSA17 / "CUB" / "effnetlite2.mat").is_file():
        pytest.skip(f"real data not found at {XLSA17} (set ZSL_SHARED_DATA)")
    return XLSA17


def write_tiny_xlsa17(root: Path, *, n_classes=10, n_att=8, dim=16, per_class=24, seed=0) -> Path:
    """A learnable CUB-shaped benchmark: features are noisy linear maps of class attributes.

    Classes 0-5 are trainval (0-3 trainclasses1, 4-5 valclasses1), 6-9 are test-unseen."""
    rng = np.random.default_rng(seed)
    folder = root / "CUB"
    folder.mkdir(parents=True, exist_ok=True)
    att = rng.random((n_att, n_classes))
    proj = rng.normal(size=(dim, n_att))
    labels = np.repeat(np.arange(n_classes), per_class)
    feats = np.abs(proj @ att[:, labels] + 0.3 * rng.normal(size=(dim, len(labels))))
    names = np.array([f"{i + 1:03d}.Class_{i}" for i in range(n_classes)], dtype=object)
    idx = np.arange(len(labels))
    seen = labels < 6
    test_seen = np.concatenate([idx[seen & (labels == c)][:6] for c in range(6)])
    trainval = np.setdiff1d(idx[seen], test_seen)
    scipy.io.savemat(folder / "att_splits.mat", {
        "att": att / np.linalg.norm(att, axis=0), "original_att": 100 * att,
        "allclasses_names": names.reshape(-1, 1), "trainval_loc": trainval.reshape(-1, 1) + 1,
        "test_seen_loc": test_seen.reshape(-1, 1) + 1, "test_unseen_loc": idx[~seen].reshape(-1, 1) + 1})
    scipy.io.savemat(folder / "tinyfeat.mat", {
        "features": feats.astype(np.float32), "labels": labels.reshape(-1, 1) + 1.0,
        "backbone": "tiny synthetic recipe"})
    write = lambda name, ids: (folder / name).write_text("\n".join(names[ids]) + "\n")  # noqa: E731
    write("trainclasses1.txt", [0, 1, 2, 3])
    write("valclasses1.txt", [4, 5])
    write("trainvalclasses.txt", range(6))
    write("testclasses.txt", range(6, 10))
    return root


@pytest.fixture
def tiny_root(tmp_path) -> Path:
    return write_tiny_xlsa17(tmp_path / "xlsa17")
