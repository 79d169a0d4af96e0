"""User classes kept beside a model: stored rows (no refit on load), every change of every process kept,
the class file checked on load, limits, orphaned temporary files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tiny_model import tiny_checkpoint, tiny_recognizer, tiny_user_classes
from zsl_app.app.predictor import Predictor
from zsl_app.app.recognizer import Recognizer
from zsl_app.storage.checkpoint import load_model
from zsl_app.app import user_classes
from zsl_app.app.classes import ClassError
from zsl_app.app.overlay import RowFitter

ROOT = Path(__file__).resolve().parents[1]
VALUES = {"A": [90, 10, 50, 5, 70, 0, 30, 60], "B": [5, 80, 20, 60, 0, 40, 90, 10], "C": [50] * 8}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(benchmark, checkpoint stem) of a small model; its quality does not matter here."""
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny"), iters=20)


@pytest.fixture
def fits(monkeypatch) -> list[str]:
    """The names of the classes whose rows get fit, in order."""
    calls, fit = [], RowFitter.fit

    def counted(self, overlay, user_class):
        calls.append(user_class.name)
        return fit(self, overlay, user_class)

    monkeypatch.setattr(RowFitter, "fit", counted)
    return calls


def probabilities(r, x) -> list[dict]:
    return [{c.name: c.probability for c in r.predict_features(f, top=99).ranked} for f in x]


def stored(r) -> dict:
    return json.loads(r.classes_path.read_text())


def test_stored_rows_load_without_a_refit(tiny, fits):
    bench, stem = tiny
    r = tiny_recognizer(stem)
    r.add_class("A", VALUES["A"])
    r.add_class("B", VALUES["B"])
    assert fits == ["A", "B"]
    data = stored(r)
    assert data["weights_sha256"] == r.model.meta["weights_sha256"]
    assert [len(c["row"]["weight"]) for c in data["classes"]] == [r.model.classifier.linear.in_features] * 2
    again = tiny_recognizer(stem)  # regression: every load refit every class (43 s for 19 on CUB)
    assert fits == ["A", "B"]
    x = bench.features[bench.test_unseen][:3]
    assert probabilities(again, x) == probabilities(r, x)  # the rows as fit, to the last bit


def test_rows_for_other_weights_or_an_old_file_are_refit_and_saved(tiny, fits):
    bench, stem = tiny
    r = tiny_recognizer(stem)
    r.add_class("A", VALUES["A"])
    x = bench.features[bench.test_unseen][:3]
    expected = probabilities(r, x)
    data = stored(r)
    old = {"format": "zsl-app-classes/1", "model": data["model"],
           "classes": [{k: c[k] for k in ("name", "human", "attributes")} for c in data["classes"]]}
    for content in (old, {**data, "weights_sha256": "0" * 64}):
        r.classes_path.write_text(json.dumps(content))
        fits.clear()
        assert probabilities(tiny_recognizer(stem), x) == expected and fits == ["A"]
        assert stored(r) == data  # saved again in the current format, for these weights
        tiny_recognizer(stem)
        assert fits == ["A"]


def test_removal_refits_later_classes_as_if_never_added(tiny, tmp_path, fits):
    _, stem = tiny
    _, classes = tiny_user_classes(stem)
    rules = classes.rules
    for name in "ABC":
        classes.add(rules.new_class(name, VALUES[name]))
    first = classes.overlay.first(1)
    fits.clear()
    classes.remove("B")
    assert fits == ["C"]  # A was fit before B existed: kept as it is
    _, fresh = tiny_user_classes(stem, tmp_path / "fresh.json")
    for name in "AC":
        fresh.add(rules.new_class(name, VALUES[name]))
    assert classes.names() == fresh.names() == ["A", "C"]
    assert torch.equal(classes.overlay.weight, fresh.overlay.weight)
    assert torch.equal(classes.overlay.bias, fresh.overlay.bias)
    assert torch.equal(classes.overlay.weight[:1], first.weight)


def test_photo_examples_join_the_class_kept_and_refit_with_it(tiny, tmp_path, fits):
    bench, stem = tiny
    photos = bench.features[bench.test_unseen][:3]
    r = tiny_recognizer(stem)
    r.add_class("A", VALUES["A"], examples=photos)
    plain = Recognizer(Predictor(load_model(stem), None, model_id=stem.name), classes_path=tmp_path / "plain.json")
    plain.add_class("A", VALUES["A"])
    with_photos = [p["A"] for p in probabilities(r, photos)]
    assert np.mean(with_photos) > np.mean([p["A"] for p in probabilities(plain, photos)]) + 0.2
    assert np.array_equal(np.array(stored(r)["classes"][0]["examples"], np.float32), photos)
    fits.clear()
    again = tiny_recognizer(stem)
    assert fits == [] and [p["A"] for p in probabilities(again, photos)] == with_photos
    r.add_class("B", VALUES["B"])
    r.remove_class("A")  # B is refit without A ...
    r.add_class("A2", VALUES["A"], examples=photos)
    r.remove_class("B")  # ... and A2 refit without B, its photos with it
    _, fresh = tiny_user_classes(stem, tmp_path / "fresh.json")
    fresh.add(fresh.rules.new_class("A2", VALUES["A"], examples=photos))
    assert torch.equal(r._classes.overlay.weight, fresh.overlay.weight)


@pytest.mark.parametrize("examples, message", [
    (np.zeros((6, 16)), r"up to 5 feature rows of 16 values; got shape \(6, 16\)"),
    (np.zeros((2, 15)), r"got shape \(2, 15\)"), (np.full((1, 16), np.inf), "not a finite number")])
def test_photo_examples_of_another_shape_or_not_finite_are_refused(tiny, examples, message):
    _, stem = tiny
    r = tiny_recognizer(stem)
    with pytest.raises(ClassError, match=message):
        r.add_class("A", VALUES["A"], examples=examples)
    assert not r.classes_path.exists()


def test_a_refused_change_leaves_the_file_as_it_was(tiny, monkeypatch):
    bench, stem = tiny
    r = tiny_recognizer(stem)
    r.add_class("A", VALUES["A"])
    before = r.classes_path.read_bytes()
    monkeypatch.setattr(user_classes, "MAX_USER_CLASSES", 1)
    for name, values, message in [("B", VALUES["B"], "already has 1 user classes, the most it keeps"),
                                  ("a", VALUES["B"], "already exists"),
                                  (bench.class_names[0], VALUES["B"], "already a class of the model")]:
        with pytest.raises(ClassError, match=message):
            r.add_class(name, values)
    with pytest.raises(ClassError, match="no user class 'Nope'"):
        r.remove_class("Nope")
    assert r.classes_path.read_bytes() == before
    assert [c["name"] for c in r.class_table() if c["kind"] == "user"] == ["A"]


def test_removing_an_unknown_class_names_no_other_class(tiny):
    _, stem = tiny
    r = tiny_recognizer(stem)
    r.add_class("Secret <b>name</b>", VALUES["A"])
    r.add_class("B", VALUES["B"])
    with pytest.raises(ClassError) as refused:
        r.remove_class("Nope")
    message = str(refused.value)  # regression: it listed every user class of every user
    assert "Secret" not in message and "'B'" not in message
    assert "2 user classes" in message and "--list-classes" in message


def test_another_process_sees_every_change(tiny):
    bench, stem = tiny
    server, cli = tiny_recognizer(stem), tiny_recognizer(stem)
    cli.add_class("A", VALUES["A"])
    assert server.class_table()[-1] == {"name": "A", "kind": "user"}  # regression: seen only after a restart
    x = bench.features[bench.test_unseen][:2]
    assert probabilities(server, x) == probabilities(cli, x)
    server.add_class("B", VALUES["B"])  # regression: this write dropped A
    cli.remove_class("B")
    assert [c["name"] for c in server.class_table() if c["kind"] == "user"] == ["A"]
    assert np.allclose(server.class_attributes("A"), VALUES["A"])


ADD_IN_A_PROCESS = """
import sys, time
from pathlib import Path
from zsl_app.app.predictor import Predictor
from zsl_app.app.recognizer import Recognizer
from zsl_app.storage.checkpoint import load_model
stem, me, ready, total, remove = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
r = Recognizer(Predictor(load_model(stem), None, model_id=stem.name))
(ready / me).touch()
while len(list(ready.iterdir())) < total:  # every process has read the class file before any changes it
    time.sleep(0.01)
if remove:
    r.remove_class(remove)
for i in range(2):
    r.add_class(f"{me} class {i}", [10 * (i + 1)] * 8)
"""


def test_concurrent_processes_keep_every_change(tiny, tmp_path):
    _, stem = tiny
    server = tiny_recognizer(stem)
    server.add_class("Doomed", VALUES["C"])
    ready = tmp_path / "ready"
    ready.mkdir()
    names = ["p0", "p1"]
    procs = [subprocess.Popen([sys.executable, "-c", ADD_IN_A_PROCESS, str(stem), me, str(ready), str(len(names)),
                               "Doomed" if me == "p0" else ""], cwd=ROOT, env=os.environ.copy(),
                              stderr=subprocess.PIPE, text=True) for me in names]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    expected = {f"{me} class {i}" for me in names for i in range(2)}
    assert {c["name"] for c in server.class_table() if c["kind"] == "user"} == expected
    assert {c["name"] for c in stored(server)["classes"]} == expected
    assert {c["name"] for c in tiny_recognizer(stem).class_table() if c["kind"] == "user"} == expected


def test_orphaned_temporary_files_are_removed_under_the_lock(tiny):
    _, stem = tiny
    r = tiny_recognizer(stem)
    folder = r.classes_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    orphan = folder / f".{r.classes_path.name}.k1ll3d.tmp"  # as atomic_path names them
    other = folder / ".another-model.json.x.tmp"
    orphan.write_text("{half a fi")
    other.write_text("{")
    r.add_class("A", VALUES["A"])
    assert not orphan.exists() and other.exists()  # another model's writer may still own its file


def entry_with(field, value, index=1):
    def change(data):
        data["classes"][index][field] = value
    return change


@pytest.mark.parametrize("change, message", [
    (entry_with("name", "A"), r"class 2 \('A'\) is invalid: a user class named 'A' already exists"),
    (entry_with("name", "002.Class_1"), r"class 2 \('002.Class_1'\) is invalid: .* already a class of the model"),
    (entry_with("human", [0] * 8), r"class 2 \('B'\) is invalid: every attribute is 0"),
    (entry_with("attributes", [float("nan")] + [0.5] * 7), r"class 2 \('B'\) is invalid: attribute 1 .* is nan"),
    (entry_with("name", "Bell\x07bird"), "contains control characters"),
    (entry_with("name", 5), "class 2 must be an object with a text \"name\""),
    (entry_with("human", [True] * 8), "attribute 1 is True, a boolean"),
    (entry_with("examples", [[0.5] * 3]), r"photo examples are up to 5 feature rows .* got shape \(1, 3\)"),
    (entry_with("examples", [[float("nan")] * 16]), "photo examples hold a value that is not a finite number"),
    (lambda data: data.update(classes={}), "\"classes\" must be a list of classes, got dict"),
    (lambda data: data.update(format="zsl-app-classes/9"), "format 'zsl-app-classes/9'"),
])
def test_the_class_file_is_checked_on_load(tiny, change, message):
    _, stem = tiny
    r = tiny_recognizer(stem)
    r.add_class("A", VALUES["A"])
    r.add_class("B", VALUES["B"])
    data = stored(r)
    change(data)
    r.classes_path.write_text(json.dumps(data))
    with pytest.raises(ClassError, match=f"{r.classes_path.name}: .*{message}.*fix or delete that file"):
        tiny_recognizer(stem)
    with pytest.raises(ClassError, match="fix or delete"):  # the running app refuses it too, not half of it
        r.class_table()


def test_a_corrupt_or_mismatched_class_file_is_refused(tiny):
    _, stem = tiny
    r = tiny_recognizer(stem)
    r.classes_path.parent.mkdir(parents=True, exist_ok=True)
    r.classes_path.write_text("{not json")
    with pytest.raises(ClassError, match="fix or delete"):
        tiny_recognizer(stem)
    two = {"name": "T", "human": [1, 1], "attributes": [0.6, 0.8]}
    r.classes_path.write_text(json.dumps({"format": "zsl-app-classes/1", "model": "m", "classes": [two]}))
    with pytest.raises(ClassError, match="different number of attributes"):
        tiny_recognizer(stem)
