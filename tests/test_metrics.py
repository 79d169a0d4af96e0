import numpy as np
import pytest

from zsl_app.core.metrics import calibrated_stacking, gzsl_report, harmonic_mean, mean_class_accuracy, per_class_accuracy


def test_per_class_accuracy_hand_computed():
    true = np.array([0, 0, 0, 1, 2, 2])
    pred = np.array([0, 1, 0, 1, 0, 2])
    np.testing.assert_allclose(per_class_accuracy(pred, true), [2 / 3, 1.0, 0.5])
    # the mean over classes, not over images (4/6 would be the per-image figure)
    assert mean_class_accuracy(pred, true) == pytest.approx((2 / 3 + 1 + 0.5) / 3)


def test_absent_class_is_nan():
    acc = per_class_accuracy(np.array([0]), np.array([0]), classes=np.array([0, 3]))
    assert acc[0] == 1.0 and np.isnan(acc[1])


def test_harmonic_mean():
    assert harmonic_mean(0.6, 0.3) == pytest.approx(0.4)
    assert harmonic_mean(0.0, 0.0) == 0.0


def test_gzsl_report_joint_space_and_zsl():
    # classes 0, 1 seen; 2, 3 unseen
    scores_seen = np.array([[5, 0, 4, 0], [0, 5, 0, 6.0]])  # image of 0 right; image of 1 taken by 3
    scores_unseen = np.array([[6, 0, 5, 0], [0, 0, 1, 2.0], [0, 9, 0, 1.0]])  # true 2, 3, 3
    rep = gzsl_report(scores_seen, np.array([0, 1]), scores_unseen, np.array([2, 3, 3]), np.array([2, 3]))
    assert rep["S"] == pytest.approx(50.0)
    assert rep["U"] == pytest.approx(100 * (0 + 0.5) / 2)  # class 2 lost to seen 0; class 3 half right
    assert rep["H"] == pytest.approx(100 * harmonic_mean(0.5, 0.25))
    assert rep["ZSL"] == pytest.approx(100.0)  # over unseen only, every image is right


def test_calibrated_stacking_moves_seen_scores_only():
    scores = np.array([[2.0, 1.5]])
    out = calibrated_stacking(scores, np.array([True, False]), 1.0)
    np.testing.assert_allclose(out, [[1.0, 1.5]])
    rep = gzsl_report(scores, np.array([0]), scores, np.array([1]), np.array([1]), gamma=1.0)
    assert rep["U"] == 100.0 and rep["S"] == 0.0
