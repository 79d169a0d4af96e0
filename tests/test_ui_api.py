"""The web app's API through gradio_client: every named event, against a real model on the real CUB features."""

import time

import pytest
from gradio_client import Client, handle_file
from ui_app import closest_unseen, probability, running_app, sample_photos

from zsl_app.app.ui.classes import ZEROS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("ui_api")) as (url, predictor):
        yield Client(url, verbose=False), predictor


def table(values: dict) -> dict:
    """A Dataframe value as gradio_client sends it."""
    return {"headers": ["attribute", "value"], "data": [[k, v] for k, v in values.items()]}


def test_every_event_has_a_stable_api_name(app):
    client, _ = app
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/predict", "/list_classes", "/class_attributes", "/template", "/read_vector", "/add_class",
            "/remove_class", "/train", "/cancel_training", "/activate", "/evaluate"} <= names


def test_predict_a_photo_matches_the_predictor(app):
    client, predictor = app
    photo = sample_photos()[0]
    label, ranked, model_line, read, has = client.predict(handle_file(photo), api_name="/predict")
    expected = predictor.predict(photo, top=5)
    assert [r["name"] for r in ranked] == [r.name for r in expected.ranked]
    assert [r["kind"] for r in ranked] == [r.kind for r in expected.ranked]
    assert ranked[0]["probability"] == pytest.approx(expected.ranked[0].probability, abs=1e-5)
    assert len(label["confidences"]) == 5 and label["label"].endswith(f"({ranked[0]['kind']})")
    assert predictor.info["model"] in model_line and " ms" in model_line
    assert len(read["data"]) == 10 and len(has["data"]) == 10


def test_predict_refuses_a_non_image_clearly(app, tmp_path):
    client, _ = app
    notes = tmp_path / "notes.txt"
    notes.write_text("certainly not a photo")
    with pytest.raises(Exception, match="notes.txt is not an image"):
        client.predict(handle_file(notes), api_name="/predict")
    label, *_ = client.predict(handle_file(sample_photos()[1]), api_name="/predict")  # still serving
    assert label["confidences"]


def test_list_and_inspect_classes(app):
    client, predictor = app
    everything = client.predict("", "all", api_name="/list_classes")["data"]
    assert len(everything) == len(predictor.class_table())
    warblers = client.predict("warbler", "unseen", api_name="/list_classes")["data"]
    assert warblers and all("warbler" in name.lower() and kind == "unseen" for name, kind in warblers)
    vector = client.predict(everything[0][0], api_name="/class_attributes")["data"]
    assert len(vector) == len(predictor.attribute_names)
    assert [v for _, v in vector] == sorted((v for _, v in vector), reverse=True)


def test_add_class_refuses_bad_input_and_changes_nothing(app):
    client, predictor = app
    before = predictor.class_table()
    zeros = {row[0]: row[1] for row in client.predict(ZEROS, api_name="/template")["data"]}
    too_big = dict(zeros, **{next(iter(zeros)): 150})
    word = dict(zeros, **{next(iter(zeros)): "lots"})
    for name, values, message in [("Bad bird", too_big, "is 150"), ("Bad bird", zeros, "every attribute is 0"),
                                  ("Bad bird", word, "expected a number"), ("", too_big, "name is empty")]:
        with pytest.raises(Exception, match=message):
            client.predict(name, table(values), api_name="/add_class")
    assert predictor.class_table() == before


def test_add_predict_and_remove_a_class(app):
    client, predictor = app
    photo, unseen, rank = closest_unseen(predictor)
    twin = {row[0]: row[1] for row in client.predict(unseen, api_name="/template")["data"]}
    assert "added" in client.predict("Twin class", table(twin), api_name="/add_class")
    assert client.predict("", "user-added", api_name="/list_classes")["data"] == [["Twin class", "user-added"]]
    # Same attributes, same synthetic evidence: the twin must get at least a comparable share of the photo.
    assert probability(predictor, photo, "Twin class") > 0.5 * probability(predictor, photo, unseen)
    ranked = client.predict(handle_file(photo), api_name="/predict")[1]
    if rank <= 2:  # a model that ranks the original this high shows its twin in the top 5 too
        assert {"name": "Twin class", "kind": "user"} in [{k: r[k] for k in ("name", "kind")} for r in ranked]
    with pytest.raises(Exception, match="already exists"):
        client.predict("twin_class", table(twin), api_name="/add_class")
    with pytest.raises(Exception, match="not a user class"):
        client.predict(unseen, api_name="/remove_class")
    assert "removed" in client.predict("Twin class", api_name="/remove_class")
    assert client.predict("", "user-added", api_name="/list_classes")["data"] == []


def test_read_vector_from_a_file(app, tmp_path):
    client, predictor = app
    first = predictor.attribute_names[0]
    (tmp_path / "v.json").write_text(f'{{"{first}": 42}}')
    rows = client.predict(handle_file(tmp_path / "v.json"), api_name="/read_vector")["data"]
    assert rows[0] == [first, 42] and all(v == 0 for _, v in rows[1:])
    (tmp_path / "short.csv").write_text("1,2,3\n")
    with pytest.raises(Exception, match="holds 3 numbers"):
        client.predict(handle_file(tmp_path / "short.csv"), api_name="/read_vector")


def test_tiny_training_then_activate_and_evaluate(app):
    client, predictor = app
    started = time.perf_counter()
    job = client.submit("CUB", "effnetlite2", "vae-cflow", 4, 0, 0, 10, 2, True, api_name="/train")
    wait_for_output(job)
    with pytest.raises(Exception, match="already running"):
        client.predict("CUB", "effnetlite2", "vae-cflow", 4, 0, 0, 10, 2, False, api_name="/train")
    status, curve, results, runs = job.result(timeout=300)
    assert "saved" in status and runs["value"] == "cub-vae-cflow-effnetlite2-s0"
    assert [row[0] for row in results["data"]] == ["val", "test", "test_uncalibrated"]
    assert len(curve["data"]) > 0
    label, ranked, *_ = client.predict(handle_file(sample_photos()[0]), api_name="/predict")
    assert "cub-vae-cflow-effnetlite2-s0" in client.predict(runs["value"], api_name="/activate")
    with pytest.raises(Exception, match="no saved run"):
        client.predict("../../elsewhere", api_name="/activate")
    metrics, per_class, projection, note = client.predict(api_name="/evaluate")
    assert [row[0] for row in metrics["data"]][-1] == "test (recomputed now)"
    assert per_class is not None and projection is not None and "recomputed" in note
    print(f"tiny training through the API: {time.perf_counter() - started:.1f} s")


def test_cancel_training(app):
    client, _ = app
    job = client.submit("CUB", "effnetlite2", "vae-cflow", 5000, 1, 0, 10, 2, False, api_name="/train")
    wait_for_output(job)
    assert "cancelling" in client.predict(api_name="/cancel_training")
    status, *_ = job.result(timeout=60)
    assert status.startswith("cancelled") and "nothing was saved" in status


def wait_for_output(job, timeout: float = 60) -> None:
    """Until a streaming job has yielded once (the training has started)."""
    deadline = time.perf_counter() + timeout
    while not job.outputs() and time.perf_counter() < deadline:
        time.sleep(0.1)
    assert job.outputs(), "the training never reported progress"


def test_training_job_runs_one_at_a_time_and_cancels(tiny_root, tmp_path):
    """The job behind /train, on the generated fixture: no real data needed."""
    from zsl_app.storage.data import load_benchmark
    from zsl_app.core.training import Cancelled
    from zsl_app.app.ui.training import Busy, TrainingJob, TrainRequest, metrics_rows

    bench = load_benchmark(tiny_root, "CUB", "tinyfeat")
    job = TrainingJob(tmp_path / "runs")
    request = TrainRequest("CUB", "tinyfeat", "vae-cflow", length=20, unseen_samples=8, classifier_epochs=2,
                           select=False)
    job.start(request, bench)
    with pytest.raises(Busy, match="already running"):
        job.start(request, bench)
    while not job.snapshot().done:
        time.sleep(0.05)
    done = job.snapshot()
    assert done.error is None, repr(done.error)
    assert done.checkpoint == tmp_path / "runs" / "cub-vae-cflow-tinyfeat-s0"
    assert done.checkpoint.with_suffix(".safetensors").is_file()
    assert [row[0] for row in metrics_rows(done.metrics)] == ["test", "test_uncalibrated"]
    assert {stage for stage, _, _ in done.curve} == {"final/head", "final/classifier"}

    job.start(TrainRequest("CUB", "tinyfeat", "vae-cflow", length=100_000, seed=1, select=False), bench)
    while job.snapshot().step == 0:
        time.sleep(0.05)
    assert job.cancel()
    while not job.snapshot().done:
        time.sleep(0.05)
    assert isinstance(job.snapshot().error, Cancelled)
    assert not (tmp_path / "runs" / "cub-vae-cflow-tinyfeat-s1.json").exists()
