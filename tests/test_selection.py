"""Validation selection over several folds (candidates ranked by their mean validation H), how its
calibration carries over to the final model, and the per-stage features hook."""

import dataclasses

import numpy as np
import pytest

from zsl_app.core.classifier import predict_logits
from zsl_app.core.heads import HEADS
from zsl_app.core.metrics import calibrated_stacking
from zsl_app.protocol import FINAL, Protocol, Stage, resolve_spec
from zsl_app.protocol.calibration import GAMMAS, gamma_reports, seen_margins
from zsl_app.protocol.prepared import evaluate, prepare
from zsl_app.protocol.run import run_protocol
from zsl_app.protocol.selection import fold_reports, select_settings
from zsl_app.protocol.stages import same_features
from zsl_app.storage.data import load_benchmark, proposed_split

TINY = {"iters": 40, "encoder_hidden": 16, "decoder_hidden": 16, "coupling_hidden": 16, "unseen_samples": 10}


@pytest.fixture
def bench(tiny_root):
    folder = tiny_root / "CUB"
    names = (folder / "trainvalclasses.txt").read_text().split()
    (folder / "trainclasses2.txt").write_text("\n".join(names[:2] + names[4:]) + "\n")
    (folder / "valclasses2.txt").write_text("\n".join(names[2:4]) + "\n")
    return load_benchmark(tiny_root, "CUB", "tinyfeat")


def tiny_spec(folds=(1,), calibration=None, **head):
    return resolve_spec("CUB", "vae-cflow", head={**TINY, **head}, classifier={"epochs": 3},
                        protocol={"folds": folds, "calibration": calibration})


def test_several_folds_choose_by_mean_validation_h(bench):
    spec = tiny_spec(folds=(1, 2))
    chosen = select_settings(spec, same_features(bench))
    per_fold = [fold_reports(spec, bench, f) for f in (1, 2)]
    mean_h = {key: np.mean([reports[key]["H"] for reports in per_fold]) for key in per_fold[0]}
    best = max(mean_h, key=mean_h.get)
    assert (chosen.length, tuple(chosen.options.items()), chosen.classifier_epochs, chosen.gamma) == (
        best.length, best.options, best.classifier_epochs, best.gamma)
    assert chosen.val["H"] == pytest.approx(mean_h[best])
    assert [r["H"] for r in chosen.val_per_fold] == pytest.approx([reports[best]["H"] for reports in per_fold])
    assert per_fold[0][best] != per_fold[1][best]  # the folds really are different validation sets


def test_one_fold_chooses_its_own_best(bench):
    spec = tiny_spec(folds=(2,))
    chosen = select_settings(spec, same_features(bench))
    reports = fold_reports(spec, bench, 2)
    assert chosen.val["H"] == max(r["H"] for r in reports.values())
    assert chosen.val_per_fold == () and "val_per_fold" not in chosen.to_meta()


def test_candidates_cover_snapshots_options_epochs_and_gammas(bench):
    reports = fold_reports(tiny_spec(), bench, 1)
    assert {c.length for c in reports} == {20, 40}  # half and full length
    assert {c.options for c in reports} == {(("temperature", t),) for t in (0.9, 1.0, 1.1)}
    assert {c.classifier_epochs for c in reports} == {1, 2, 3}
    assert {c.gamma for c in reports} == set(GAMMAS)


def test_a_generation_option_the_user_set_is_not_searched(bench):
    reports = fold_reports(tiny_spec(temperature=1.05), bench, 1)
    assert {c.options for c in reports} == {()}


def test_selection_applies_to_the_spec_and_records_flat_options(bench):
    chosen = select_settings(tiny_spec(), same_features(bench))
    spec = chosen.apply(tiny_spec())
    assert spec.head.iters == chosen.length and spec.head.temperature == chosen.options["temperature"]
    assert spec.classifier.epochs == chosen.classifier_epochs
    assert chosen.to_meta()["temperature"] == chosen.options["temperature"]


@pytest.mark.parametrize("folds", [(), (1, 1)])
def test_empty_or_repeated_folds_are_rejected(folds):
    with pytest.raises(ValueError, match="validation folds must be distinct"):
        Protocol(folds=folds)


@pytest.fixture
def tiny_run(bench):
    def run(calibration):
        return run_protocol(tiny_spec(calibration=calibration), bench)
    return run


def test_seen_to_unseen_share_is_what_calibrated_stacking_sends_to_unseen(bench, tiny_run):
    model = tiny_run("gamma").model
    data = prepare(bench, proposed_split(bench), "cpu")
    scores = predict_logits(model.classifier, model.head.embed(data.x_train)).numpy()
    unseen = data.unseen_local.numpy()
    for gamma, report in gamma_reports(model.head, model.classifier, data, True):
        pred = calibrated_stacking(scores, ~np.isin(np.arange(scores.shape[1]), unseen), gamma).argmax(1)
        assert report["seen_to_unseen"] == pytest.approx(100 * np.isin(pred, unseen).mean())


def test_rate_calibration_carries_validations_share_to_the_final_model(bench, tiny_run):
    result = tiny_run("rate")
    calibration, model = result.calibration, result.model
    assert calibration.method == "rate" and calibration.validation_gamma == result.selection.gamma in GAMMAS
    data = prepare(bench, proposed_split(bench), "cpu")
    share = 100 * np.mean(seen_margins(model.head, model.classifier, data) < calibration.gamma)
    assert share == pytest.approx(result.selection.val["seen_to_unseen"], abs=100 / len(data.x_train) + 1e-9)
    assert model.meta["selection"]["gamma"] == calibration.gamma  # what predictions use
    assert model.meta["selection"]["validation_gamma"] == calibration.validation_gamma
    beside = evaluate(model.head, model.classifier, data, calibration.validation_gamma)
    assert model.meta["metrics"]["test_validation_gamma"] == beside  # the gamma-as-is outcome, reported beside


def test_gamma_calibration_applies_validations_gamma_as_is(tiny_run):
    result = tiny_run("gamma")
    assert result.calibration.method == "gamma" and result.calibration.gamma == result.selection.gamma
    assert "test_validation_gamma" not in result.model.meta["metrics"]  # it would repeat "test"


def test_calibration_defaults_to_the_heads_and_rejects_unknown_names():
    assert HEADS.get("vae-cflow").calibration == "gamma" and HEADS.get("dvae").calibration == "rate"
    assert resolve_spec("CUB", "dvae").protocol.calibration == "rate"
    with pytest.raises(ValueError, match="unknown calibration 'logit'"):
        Protocol(calibration="logit")


def test_each_stage_reads_the_benchmark_its_hook_gives(bench, tiny_root):
    """Validation fold k and the final stage may each read their own features (a fine-tuned backbone's)."""
    other = dataclasses.replace(bench, features=np.sqrt(bench.features), features_name="tinyfeat-fold1")
    asked = []

    def features_for(stage: Stage):
        asked.append(stage)
        return other if stage.fold == 1 else bench

    hooked = run_protocol(tiny_spec(), features_for)
    assert asked == [Stage(1), FINAL] and str(Stage(1)) == "fold 1" and FINAL.final
    plain = run_protocol(tiny_spec(), bench)
    assert hooked.selection.val != plain.selection.val  # validation read the fold's own features
    assert hooked.model.meta["features"]["name"] == "tinyfeat"  # the final stage's


def test_the_chosen_calibration_gamma_never_reaches_a_head_setting(bench):
    """Regression: the selection was a flat dict filtered into the head Config by field name, so the
    calibration gamma chosen on validation became the Disentangled-VAE's LSC weight (then `gamma`) at
    the final fit."""
    tiny = {"latent": 4, "visual_encoder_hidden": 32, "visual_decoder_hidden": 32, "semantic_encoder_hidden": 16,
            "semantic_decoder_hidden": 16, "epochs": 10, "batch_size": 16, "seen_samples": 10, "unseen_samples": 10,
            "kl_warmup": (0, 2), "cross_warmup": (0, 2), "distance_warmup": (0, 2), "lsc_weight": 1.0}
    spec = resolve_spec("CUB", "dvae", head=tiny, classifier={"epochs": 3}, protocol={"calibration": "gamma"})
    result = run_protocol(spec, bench)
    assert result.selection.gamma not in (0.0, spec.head.lsc_weight)  # a choice that would show the leak
    assert result.spec.head.lsc_weight == result.model.meta["config"]["lsc_weight"] == spec.head.lsc_weight
    assert result.model.meta["selection"]["gamma"] == result.selection.gamma
