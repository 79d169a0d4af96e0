import numpy as np
import pytest
import scipy.io

from conftest import require_real_cub
from zsl_app.storage.data import DataError, MinMaxScaler, available_datasets, load_benchmark, proposed_split, validation_split


def test_tiny_fixture_loads(tiny_root):
    bench = load_benchmark(tiny_root, "cub", "tinyfeat")
    assert bench.features.shape == (240, 16) and bench.attributes.shape == (10, 8)
    np.testing.assert_allclose(np.linalg.norm(bench.attributes, axis=1), 1, rtol=1e-5)
    assert list(bench.seen_classes) == list(range(6)) and list(bench.unseen_classes) == [6, 7, 8, 9]
    assert bench.feature_space == "tiny synthetic recipe"
    assert available_datasets(tiny_root) == ["CUB"]


def test_validation_split_is_class_disjoint_and_inside_trainval(tiny_root):
    bench = load_benchmark(tiny_root, "cub", "tinyfeat")
    split = validation_split(bench, fold=1, holdout=0.25, seed=0)
    assert set(split.unseen_classes) == {4, 5} and set(split.seen_classes) == {0, 1, 2, 3}
    rows = np.concatenate([split.train, split.eval_seen, split.eval_unseen])
    assert set(rows) <= set(bench.trainval) and len(set(rows)) == len(rows)
    assert set(bench.labels[split.train]) == {0, 1, 2, 3}
    assert set(bench.labels[split.eval_unseen]) == {4, 5}
    assert not set(rows) & set(np.concatenate([bench.test_seen, bench.test_unseen]))
    again = validation_split(bench, fold=1, holdout=0.25, seed=0)
    np.testing.assert_array_equal(split.eval_seen, again.eval_seen)


def test_scaler_uses_training_statistics():
    scaler = MinMaxScaler.fit(np.array([[0.0, 2.0], [4.0, 6.0]]))
    np.testing.assert_allclose(scaler.transform(np.array([[2.0, 4.0], [8.0, 2.0]])), [[0.5, 0.5], [2.0, 0.0]])


def test_missing_file_names_path_and_keys(tmp_path):
    with pytest.raises(DataError, match=r"CUB/att_splits.mat.*trainval_loc"):
        load_benchmark(tmp_path, "CUB", "res101")


def test_unknown_dataset():
    with pytest.raises(DataError, match="expected one of APY"):
        load_benchmark("/nowhere", "imagenet")


def test_wrong_keys(tiny_root):
    scipy.io.savemat(tiny_root / "CUB" / "bad.mat", {"feats": np.zeros((2, 2))})
    with pytest.raises(DataError, match="lacks keys features, labels"):
        load_benchmark(tiny_root, "CUB", "bad")


def test_wrong_dimensions(tiny_root):
    scipy.io.savemat(tiny_root / "CUB" / "short.mat", {"features": np.zeros((16, 5), np.float32),
                                                       "labels": np.ones((5, 1))})
    with pytest.raises(DataError, match="outside the 5 feature rows"):
        load_benchmark(tiny_root, "CUB", "short")


def test_corrupt_file(tiny_root):
    (tiny_root / "CUB" / "broken.mat").write_bytes(b"not a mat file")
    with pytest.raises(DataError, match="cannot read"):
        load_benchmark(tiny_root, "CUB", "broken")


def test_real_cub_shapes():
    bench = load_benchmark(require_real_cub(), "CUB", "effnetlite2")
    assert bench.features.shape == (11788, 1280) and bench.attributes.shape == (200, 312)
    assert (len(bench.seen_classes), len(bench.unseen_classes)) == (150, 50)
    assert (len(bench.trainval), len(bench.test_seen), len(bench.test_unseen)) == (7057, 1764, 2967)
    assert bench.original_attributes.max() <= 100 and bench.original_attributes.max() > 50
    split = proposed_split(bench)
    assert not set(split.seen_classes) & set(split.unseen_classes)
    val = validation_split(bench, fold=1)
    assert (len(val.seen_classes), len(val.unseen_classes)) == (100, 50)
