"""Calibrated stacking: the gammas validation tries, and how its choice carries to the final model."""

import numpy as np

from zsl_app.core.metrics import gzsl_report

from .prepared import Prepared, logits

GAMMAS = np.round(np.arange(0.0, 8.01, 0.25), 2)  # calibrated-stacking candidates (logit units)
# How the gamma chosen on validation carries over to the model retrained on trainval: "gamma" applies it
# as is; "rate" applies the gamma that sends the same share of the training images of seen classes to
# an unseen class as validation's gamma did on its model (a share does not depend on the model's logit
# scale or its number of seen classes)
CALIBRATIONS = ("gamma", "rate")


def gamma_reports(head, classifier, data: Prepared, calibrate: bool,
                  gammas: np.ndarray = GAMMAS) -> list[tuple[float, dict]]:
    """(gamma, report) for every calibrated-stacking candidate (only 0 without calibration); each report
    also gives `seen_to_unseen`, the percentage of training images of seen classes sent to unseen ones."""
    candidates = gammas if calibrate else [0.0]
    scores = [logits(head, classifier, x) for x in (data.x_seen, data.x_unseen)]
    unseen = data.unseen_local.cpu().numpy()
    margins = seen_margins(head, classifier, data)
    return [(float(g), {**gzsl_report(scores[0], data.y_seen, scores[1], data.y_unseen, unseen, g),
                        "seen_to_unseen": 100 * float(np.mean(margins < g))}) for g in candidates]


def seen_margins(head, classifier, data: Prepared) -> np.ndarray:
    """For each training image (all of seen classes): its best seen-class logit minus its best unseen-class
    logit. Calibrated stacking with gamma sends exactly the images whose margin is below gamma to an unseen class."""
    scores = logits(head, classifier, data.x_train)
    unseen = np.zeros(scores.shape[1], dtype=bool)
    unseen[data.unseen_local.cpu().numpy()] = True
    return scores[:, ~unseen].max(1) - scores[:, unseen].max(1)


def carried_gamma(calibration: str, gamma: float, seen_to_unseen: float, head, classifier, data: Prepared) -> float:
    """The final model's gamma: validation's `gamma` as is ("gamma"), or the one under which the final model
    sends the same share (`seen_to_unseen`, percent) of its training images of seen classes to unseen
    classes as validation's did ("rate")."""
    if calibration == "gamma":
        return gamma
    return float(np.quantile(seen_margins(head, classifier, data), seen_to_unseen / 100))
