"""Validation selection over several folds: candidates ranked by their mean validation H."""

import numpy as np
import pytest

from zsl_app.classifier import ClassifierConfig
from zsl_app.data import load_benchmark
from zsl_app.experiment import Protocol, _fold_reports, resolve_config, select

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
