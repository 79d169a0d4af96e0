"""GZSL metrics (Xian et al. protocol): per-class top-1, U, S, H, ZSL; calibrated stacking."""

import numpy as np


def per_class_accuracy(pred: np.ndarray, true: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """Top-1 accuracy of each class in `classes` (default: those present in `true`; NaN if absent)."""
    classes = np.unique(true) if classes is None else np.asarray(classes)
    size = int(max(classes.max(initial=0), true.max(initial=0))) + 1
    total = np.bincount(true, minlength=size)[classes]
    correct = np.bincount(true[pred == true], minlength=size)[classes]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, correct / np.maximum(total, 1), np.nan)


def mean_class_accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    """Per-class top-1 averaged over the classes present in `true`."""
    if len(true) == 0:
        return 0.0
    return float(np.mean(per_class_accuracy(pred, true)))


def harmonic_mean(seen: float, unseen: float) -> float:
    """H = 2SU / (S + U), 0 when both are 0."""
    return 0.0 if seen + unseen == 0 else 2 * seen * unseen / (seen + unseen)


def calibrated_stacking(scores: np.ndarray, seen_mask: np.ndarray, gamma: float) -> np.ndarray:
    """Subtract gamma from the scores of seen classes (Chao et al. 2016)."""
    return scores - gamma * seen_mask[None, :].astype(scores.dtype)


def gzsl_report(scores_seen: np.ndarray, y_seen: np.ndarray, scores_unseen: np.ndarray,
                y_unseen: np.ndarray, unseen_classes: np.ndarray, gamma: float = 0.0) -> dict:
    """U, S, H over the joint label space and ZSL over unseen classes only, in percent.

    Scores are (N, C) over all C classes; columns of classes that are neither seen nor unseen
    must already be -inf. `gamma` applies calibrated stacking to the joint predictions."""
    seen_mask = np.ones(scores_seen.shape[1], dtype=bool)
    seen_mask[unseen_classes] = False
    pred_s = calibrated_stacking(scores_seen, seen_mask, gamma).argmax(1)
    pred_u = calibrated_stacking(scores_unseen, seen_mask, gamma).argmax(1)
    zsl_pred = np.asarray(unseen_classes)[scores_unseen[:, unseen_classes].argmax(1)]
    s, u = mean_class_accuracy(pred_s, y_seen), mean_class_accuracy(pred_u, y_unseen)
    return {"U": 100 * u, "S": 100 * s, "H": 100 * harmonic_mean(s, u),
            "ZSL": 100 * mean_class_accuracy(zsl_pred, y_unseen)}
