"""Validation selection over several folds (candidates ranked by their mean validation H), and how its
calibration carries over to the final model."""

import numpy as np
import pytest

from zsl_app.core.classifier import ClassifierConfig, predict_logits
from zsl_app.storage.data import load_benchmark, proposed_split
from zsl_app.protocol.run import (GAMMAS, Protocol, _fold_reports, _gamma_reports, evaluate, prepare,
                                resolve_config, seen_margins, select, train_and_evaluate)
from zsl_app.core.heads import HEADS
from zsl_app.core.metrics import calibrated_stacking

TINY = {"iters": 40, "encoder_hidden": 16, "decoder_hidden": 16, "coupling_hidden": 16, "unseen_samples": 10}


@pytest.fixture
def bench(tiny_root):
    folder = tiny_root / "CUB"
    names = (folder / "trainvalclasses.txt").read_text().split()
    (folder / "trainclasses2.txt").write_text("\n".join(names[:2] + names[4:]) + "\n")
    (folder / "valclasses2.txt").write_text("\n".join(names[2:4]) + "\n")
    return load_benchmark(tiny_root, "CUB", "tinyfeat")


def test_several_folds_choose_by_mean_validation_h(bench):
    config, clf = resolve_config("vae-cflow", TINY, "CUB"), ClassifierConfig(epochs=3)
    protocol = Protocol(folds=(1, 2))
    kwargs = {"seed": 0, "device": "cpu", "callback": None}
    chosen = select(bench, "vae-cflow", config, clf, protocol, **kwargs)
    per_fold = [_fold_reports(bench, "vae-cflow", config, clf, protocol, f, **kwargs) for f in (1, 2)]
    mean_h = {key: np.mean([reports[key]["H"] for reports in per_fold]) for key in per_fold[0]}
    best = max(mean_h, key=mean_h.get)
    assert {k: chosen[k] for k, _ in best} == dict(best)
    assert chosen["val"]["H"] == pytest.approx(mean_h[best])
    assert [r["H"] for r in chosen["val_per_fold"]] == pytest.approx([reports[best]["H"] for reports in per_fold])
    assert per_fold[0][best] != per_fold[1][best]  # the folds really are different validation sets


def test_one_fold_chooses_its_own_best(bench):
    config, clf = resolve_config("vae-cflow", TINY, "CUB"), ClassifierConfig(epochs=3)
    kwargs = {"seed": 0, "device": "cpu", "callback": None}
    chosen = select(bench, "vae-cflow", config, clf, Protocol(folds=(2,)), **kwargs)
    reports = _fold_reports(bench, "vae-cflow", config, clf, Protocol(folds=(2,)), 2, **kwargs)
    assert chosen["val"]["H"] == max(r["H"] for r in reports.values())
    assert "val_per_fold" not in chosen


@pytest.mark.parametrize("folds", [(), (1, 1)])
def test_empty_or_repeated_folds_are_rejected(folds):
    with pytest.raises(ValueError, match="validation folds must be distinct"):
        Protocol(folds=folds)


@pytest.fixture
def tiny_run(bench):
    def run(calibration):
        return train_and_evaluate(bench, "vae-cflow", TINY, classifier=ClassifierConfig(epochs=3),
                                  protocol=Protocol(calibration=calibration), seed=0)
    return run


def test_seen_to_unseen_share_is_what_calibrated_stacking_sends_to_unseen(bench, tiny_run):
    model = tiny_run("gamma").model
    data = prepare(bench, proposed_split(bench), "cpu")
    scores = predict_logits(model.classifier, model.head.embed(data.x_train)).numpy()
    unseen = data.unseen_local.numpy()
    for gamma, report in _gamma_reports(model.head, model.classifier, data, True):
        pred = calibrated_stacking(scores, ~np.isin(np.arange(scores.shape[1]), unseen), gamma).argmax(1)
        assert report["seen_to_unseen"] == pytest.approx(100 * np.isin(pred, unseen).mean())


def test_rate_calibration_carries_validations_share_to_the_final_model(bench, tiny_run):
    result = tiny_run("rate")
    selection, model = result.selection, result.model
    assert selection["calibration"] == "rate" and selection["validation_gamma"] in GAMMAS
    data = prepare(bench, proposed_split(bench), "cpu")
    share = 100 * np.mean(seen_margins(model.head, model.classifier, data) < selection["gamma"])
    assert share == pytest.approx(selection["val"]["seen_to_unseen"], abs=100 / len(data.x_train) + 1e-9)
    assert model.calibration == selection["gamma"]  # what predictions use
    beside = evaluate(model.head, model.classifier, data, selection["validation_gamma"])
    assert model.meta["metrics"]["test_validation_gamma"] == beside  # the gamma-as-is outcome, reported beside


def test_gamma_calibration_applies_validations_gamma_as_is(tiny_run):
    result = tiny_run("gamma")
    selection = result.selection
    assert selection["calibration"] == "gamma" and selection["gamma"] == selection["validation_gamma"]
    assert "test_validation_gamma" not in result.model.meta["metrics"]  # it would repeat "test"


def test_calibration_defaults_to_the_heads_and_rejects_unknown_names():
    assert HEADS.get("vae-cflow").calibration == "gamma" and HEADS.get("dvae").calibration == "rate"
    with pytest.raises(ValueError, match="unknown calibration 'logit'"):
        Protocol(calibration="logit")
