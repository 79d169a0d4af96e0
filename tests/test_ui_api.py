"""The web app's API through gradio_client: every named event, against a real model on the real CUB features."""

import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import SAMPLES, XLSA17
from gradio_client import Client, handle_file
from ui_app import closest_unseen, probability, running_app, sample_photos

from zsl_app.app.predictor import default_checkpoint
from zsl_app.app.ui.classes import ZEROS
from zsl_app.app.ui.messages import literal
from zsl_app.storage.paths import PROJECT_ROOT

EVIL = "<a href='http://evil.example/'>CLICK</a>"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("ui_api")) as (url, predictor):
        yield Client(url, verbose=False), predictor


@pytest.fixture(scope="module")
def read_only_app(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("ui_read_only"), read_only=True) as (url, predictor):
        yield Client(url, verbose=False), predictor


def raw_call(client: Client, api: str, data: list) -> tuple[str, object]:
    """POST a payload as any HTTP client may shape it -> (the event's kind, its data)."""
    base = f"{client.src.rstrip('/')}/gradio_api/call/{api}"
    event_id = httpx.post(base, json={"data": data}, timeout=30).json()["event_id"]
    text = httpx.get(f"{base}/{event_id}", timeout=60).text
    kind = next(line[7:] for line in text.splitlines() if line.startswith("event: ") and "heartbeat" not in line)
    payload = [line[6:] for line in text.splitlines() if line.startswith("data: ")][-1]
    return kind, json.loads(payload)


def foreign_copy(path: Path) -> str:
    """A copy of `path` in gradio's upload folder that this app never stored (another app's, say)."""
    from gradio.utils import get_upload_folder
    folder = Path(get_upload_folder()) / f"test-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    return str(shutil.copy(path, folder / path.name))


def server_config(client: Client) -> str:
    return httpx.get(f"{client.src.rstrip('/')}/config", timeout=30).text


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


def test_predict_reads_only_the_files_gradio_stored_for_this_app(app, tmp_path):
    """The event decodes the photo itself (preprocess=False), so the payload's path once reached
    open() as sent: any readable file was classified, /dev/zero read until MemoryError, a FIFO blocked a
    worker, and the answers told existing files from missing ones."""
    client, _ = app
    photo = sample_photos()[0]
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    refusal = ("error", {"error": "no photo was received; upload it again", "duration": 10, "visible": True,
                         "title": "No photo"})
    for path in [str(photo), "/etc/passwd", "/dev/zero", str(fifo), str(tmp_path / "missing.jpg"),
                 foreign_copy(photo)]:
        started = time.perf_counter()
        assert raw_call(client, "predict", [{"path": path}]) == refusal, path
        assert time.perf_counter() - started < 10
    assert raw_call(client, "predict", [{"url": "data:image/png;base64,AAAA"}]) == refusal
    # A payload marked as a file gradio checks itself first: outside its upload folder it answers no message.
    assert raw_call(client, "predict", [{"path": str(photo), "meta": {"_type": "gradio.FileData"}}])[0] == "error"
    example = next(c for c in json.loads(server_config(client))["components"] if c["type"] == "dataset")
    kind, (label, *_) = raw_call(client, "predict", [example["props"]["samples"][0][0]])  # an example photo
    assert kind == "complete" and label["confidences"]


def test_read_vector_reads_only_uploaded_files(app, tmp_path):
    """Like predict, the event skips gradio's preprocessing; its payloads must stay as checked as before."""
    client, predictor = app
    (tmp_path / "v.json").write_text(json.dumps({predictor.attribute_names[0]: 42}))
    for payload in [{"path": str(tmp_path / "v.json")}, {"path": foreign_copy(tmp_path / "v.json")},
                    {"path": str(tmp_path / "v.json"), "meta": {"_type": "gradio.FileData"}}]:
        kind, answer = raw_call(client, "read_vector", [payload])
        assert kind == "error" and "42" not in json.dumps(answer), payload


def test_no_server_path_in_the_page_config(app):
    """/config is public; it held the data root and the runs folder (in labels) and the example folder."""
    client, _ = app
    config = server_config(client)
    for path in [XLSA17, SAMPLES, PROJECT_ROOT, Path(os.environ["ZSL_USER_DIR"]).parent, Path.home()]:
        assert str(path) not in config, path


def test_user_text_is_escaped_in_status_and_toasts(app):
    """Gradio renders Markdown and toast messages as HTML: a stored name became a live link for everyone."""
    client, predictor = app
    zeros = {row[0]: row[1] for row in client.predict(ZEROS, api_name="/template")["data"]}
    vector = table(dict(zeros, **{next(iter(zeros)): 50}))
    status = client.predict(EVIL, vector, api_name="/add_class")
    assert re.sub(r"\\(.)", r"\1", status).startswith(f"added **{EVIL}**")  # Markdown source of the literal name
    assert not re.search(r"(?<!\\)[<>\[\]()]", status)  # no unescaped character that opens a tag or link
    with pytest.raises(Exception) as refused:
        client.predict(EVIL, vector, api_name="/add_class")  # "a user class named ... already exists"
    assert "&lt;a href='http://evil.example/'&gt;CLICK&lt;/a&gt;" in str(refused.value) and "<a" not in str(refused.value)
    assert "removed" in client.predict(EVIL, api_name="/remove_class")
    assert [c for c in predictor.class_table() if c["kind"] == "user"] == []


def test_read_only_server_refuses_every_change(read_only_app):
    client, predictor = read_only_app
    before = predictor.class_table()
    zeros = {row[0]: row[1] for row in client.predict(ZEROS, api_name="/template")["data"]}
    calls = [(("Bird", table(dict(zeros, **{next(iter(zeros)): 50}))), "/add_class", "adding classes"),
             (("Bird",), "/remove_class", "removing classes"),
             (("CUB", "effnetlite2", "vae-cflow", 4, 0, 0, 10, 2, False), "/train", "training"),
             ((), "/cancel_training", "cancelling a training"),
             (("anything",), "/activate", "changing the active model")]
    for args, api, action in calls:
        with pytest.raises(Exception, match=f"{action} is switched off on this server \\(started with --read-only\\)"):
            client.predict(*args, api_name=api)
    assert predictor.class_table() == before
    label, *_ = client.predict(handle_file(sample_photos()[0]), api_name="/predict")
    assert label["confidences"]
    assert "Read-only demo" in server_config(client)


def test_list_and_inspect_classes(app):
    client, predictor = app
    everything = client.predict("", "all", api_name="/list_classes")["data"]
    assert len(everything) == len(predictor.class_table())
    warblers = client.predict("warbler", "unseen", api_name="/list_classes")["data"]
    assert warblers and all("warbler" in name.lower() and kind == "unseen" for name, kind, _ in warblers)
    vector = client.predict(everything[0][2], api_name="/class_attributes")["data"]
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
    assert client.predict("", "user-added", api_name="/list_classes")["data"] == [["Twin class", "user-added",
                                                                                  "Twin class"]]
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
    """A run once took the shipped model's name, overwrote its namesake, and once active showed the same model
    line as the shipped model; the shipped models were not in the list, so only a restart led back."""
    client, predictor = app
    started = time.perf_counter()
    job = client.submit("CUB", "effnetlite2", "vae-cflow", 4, 0, 0, 10, 2, True, api_name="/train")
    wait_for_output(job)
    with pytest.raises(Exception, match="already running"):
        client.predict("CUB", "effnetlite2", "vae-cflow", 4, 0, 0, 10, 2, False, api_name="/train")
    status, curve, results, runs = job.result(timeout=300)
    run = runs["value"]
    assert "saved" in status and re.fullmatch(r"cub-vae-cflow-effnetlite2-s0-\d{8}-\d{6}", run)
    assert [row[0] for row in results["data"]] == ["val", "test", "test_uncalibrated"]
    assert curve["type"] == "matplotlib" and curve["plot"]  # the loss chart, drawn
    listed = dict((value, label) for label, value in runs["choices"])
    assert "weights/cub-vae-cflow-effnetlite2-s0" in listed and "weights/cub-dvae-effnetlite2-s0" in listed
    assert listed[run].endswith("trained here")

    assert "for every visitor" in client.predict(run, api_name="/activate")
    model_line = client.predict(handle_file(sample_photos()[0]), api_name="/predict")[2]
    assert f"`{run}` in the runs folder" in model_line and "sha256" in model_line and "saved" in model_line
    with pytest.raises(Exception, match="no model"):
        client.predict("../../elsewhere", api_name="/activate")
    metrics, per_class, projection, note = client.predict(api_name="/evaluate")
    assert [row[0] for row in metrics["data"]][-1] == "test (recomputed now)"
    assert per_class is not None and projection is not None and "recomputed" in note
    assert f"`{run}` in the runs folder" in note

    client.predict("weights/cub-vae-cflow-effnetlite2-s0", api_name="/activate")  # and back
    model_line = client.predict(handle_file(sample_photos()[0]), api_name="/predict")[2]
    assert "`weights/cub-vae-cflow-effnetlite2-s0`" in model_line
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
    from zsl_app.app.ui.training import Busy, TrainingJob, TrainRequest, metrics_rows
    from zsl_app.core.training import Cancelled
    from zsl_app.storage.data import load_benchmark
    from zsl_app.storage.reading_file import reading_path

    bench = load_benchmark(tiny_root, "CUB", "tinyfeat")
    job = TrainingJob(tmp_path / "runs", tiny_root)
    request = TrainRequest("CUB", "tinyfeat", "vae-cflow", length=20, unseen_samples=8, classifier_epochs=2,
                           select=False)
    job.start(request, bench)
    with pytest.raises(Busy, match="already running"):
        job.start(request, bench)
    while not job.snapshot().done:
        time.sleep(0.05)
    done = job.snapshot()
    assert done.error is None, repr(done.error)
    assert re.fullmatch(r"cub-vae-cflow-tinyfeat-s0-\d{8}-\d{6}", done.checkpoint.name)
    assert done.checkpoint.with_suffix(".safetensors").is_file()
    assert reading_path(done.checkpoint).is_file()  # the photo reading beside it, as the CLI writes it
    assert [row[0] for row in metrics_rows(done.metrics)] == ["test", "test_uncalibrated"]
    assert {stage for stage, _, _ in done.curve} == {"final/head", "final/classifier"}
    job.start(request, bench)  # the same settings again: a second run, never over the first
    while not job.snapshot().done:
        time.sleep(0.05)
    assert job.snapshot().checkpoint != done.checkpoint and done.checkpoint.with_suffix(".json").is_file()

    job.start(TrainRequest("CUB", "tinyfeat", "vae-cflow", length=100_000, seed=1, select=False), bench)
    while job.snapshot().step == 0:
        time.sleep(0.05)
    assert job.cancel()
    while not job.snapshot().done:
        time.sleep(0.05)
    assert isinstance(job.snapshot().error, Cancelled)
    assert not list((tmp_path / "runs").glob("cub-vae-cflow-tinyfeat-s1*"))


def test_run_names_are_unique_and_never_a_shipped_name(tmp_path):
    from zsl_app.storage.checkpoint import run_name
    first = run_name(tmp_path, "CUB", "vae-cflow", "effnetlite2", 0)
    assert re.fullmatch(r"cub-vae-cflow-effnetlite2-s0-\d{8}-\d{6}", first)
    (tmp_path / f"{first}.json").write_text("{}")
    second = run_name(tmp_path, "CUB", "vae-cflow", "effnetlite2", 0)
    assert second != first and second.startswith("cub-vae-cflow-effnetlite2-s0-")  # -2 within the same second
    assert not (PROJECT_ROOT / "weights" / f"{first}.json").exists()


def test_classes_are_listed_by_display_name_sorted_and_searchable(app):
    """Classes showed `002.Laysan_Albatross` in one tab and "White eyed Vireo" (hyphen lost) in another, in the
    file's order."""
    client, _ = app
    rows = client.predict("", "all", api_name="/list_classes")["data"]
    names = [name for name, _, _ in rows]
    assert names == sorted(names, key=str.casefold)
    shown = {class_id: name for name, _, class_id in rows}
    assert shown["158.Bay_breasted_Warbler"] == "Bay-breasted Warbler"
    assert shown["156.White_eyed_Vireo"] == "White-eyed Vireo"
    assert shown["038.Great_Crested_Flycatcher"] == "Great Crested Flycatcher"
    for query in ("white-eyed", "White eyed", "156", "white_eyed_vireo"):
        assert [row[2] for row in client.predict(query, "all", api_name="/list_classes")["data"]] == \
            ["156.White_eyed_Vireo"], query
    label = client.predict(handle_file(sample_photos()[0]), api_name="/predict")[0]
    assert all("_" not in c["label"] and not c["label"][:3].isdigit() for c in label["confidences"])


def test_the_page_explains_its_terms(app):
    """A newcomer met "generalized zero-shot", U/S/H/ZSL, test_uncalibrated, "temperature T", losses near -1400
    and a JSON repeating the top 5 without a word of explanation."""
    client, _ = app
    config = server_config(client)
    for text in ["200 bird species, mostly North American (CUB-200-2011)", "unseen** ones it never saw a photo of",
                 "generalized* zero-shot classifier", "their harmonic mean", "test_uncalibrated**: the same test",
                 "How widely the synthetic features", "lower is better", "values far below zero are normal",
                 "as the API returns them", "for every visitor of this server"]:
        assert text in config, text


@pytest.fixture(scope="module")
def fresh_app(tmp_path_factory):
    """A server on a fresh install: no benchmark files under its data root."""
    tmp = tmp_path_factory.mktemp("ui_fresh")
    (tmp / "empty").mkdir()
    with running_app(tmp, data_root=tmp / "empty") as (url, predictor):
        yield Client(url, verbose=False), predictor


def test_a_fresh_install_says_what_is_missing_and_how_to_get_it(fresh_app):
    """Empty dropdowns, "none found under the data root?" and red Error badges on four panels."""
    client, _ = fresh_app
    config = server_config(client)
    assert "No benchmark data yet" in config and "python app.py --download xlsa17 --data-root" in config
    with pytest.raises(Exception, match="No benchmark data yet"):
        client.predict("CUB", "effnetlite2", "vae-cflow", 4, 0, 0, 10, 2, False, api_name="/train")
    metrics, per_class, projection, note = client.predict(api_name="/evaluate")
    assert [row[0] for row in metrics["data"]] == ["val", "test", "test_uncalibrated"]  # saved with the model
    assert per_class is None and projection is None  # and their frames hidden (see the browser test)
    for text in ["metrics saved with the model only", "python app.py --download cub-images",
                 "python app.py --extract cub --backbone effnet-lite2"]:
        assert text in note, text


def test_the_loss_chart_has_a_labelled_line_per_fit_and_plain_ticks():
    """The chart drew axes and a "stage" legend title but no line and no legend entry; a one-step chart
    labelled its axis "-1,126.547485"."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from zsl_app.app.ui.loss_chart import loss_figure

    curve = [("select/head", 1, -1126.547485), ("select/head", 2, -1180.25), ("select/classifier 1/6", 1, 2.3),
             ("final/head", 1, -1126.547485)]
    figure = loss_figure(curve)
    FigureCanvasAgg(figure).draw()
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["validation fit (chooses the settings)",
                                                                   "final fit on all training classes"]
    assert [len(line.get_xdata()) for line in ax.lines] == [2, 1] and ax.lines[1].get_marker() == "o"
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ticks and all(re.fullmatch(r"[−-]?\d+(\.\d+)?", t) for t in ticks), ticks
    assert ax.yaxis.get_offset_text().get_text() == ""
    empty = loss_figure([])
    assert "appears here" in empty.axes[0].texts[0].get_text()  # the empty state says what will come


def test_the_models_list_holds_the_shipped_models_and_the_runs_only(tmp_path):
    """A fine-tuned backbone copied beside its run is a .json + .safetensors pair too, but no model."""
    from zsl_app.app.ui.models import choices, find
    shipped = PROJECT_ROOT / "weights" / "cub-vae-cflow-effnetlite2-s0"
    for suffix in (".json", ".safetensors"):
        shutil.copy(shipped.with_suffix(suffix), tmp_path / f"cub-vae-cflow-effnetlite2-s0-20260101-000000{suffix}")
        (tmp_path / f"effnetlite2-ft-fold1{suffix}").write_text('{"format": "zsl-app-finetuned-backbone/1"}')
    listed = dict((value, label) for label, value in choices(tmp_path))
    assert listed[f"weights/{default_checkpoint().name}"].endswith("shipped, the default")
    assert listed["weights/cub-vae-cflow-effnetlite2-s0"].endswith("shipped")
    assert listed["cub-vae-cflow-effnetlite2-s0-20260101-000000"].endswith("trained here")
    assert "effnetlite2-ft-fold1" not in listed
    assert find(str(shipped), tmp_path) is None and find("../weights/x", tmp_path) is None  # listed values only


def test_model_line_names_the_feature_space(app):
    client, _ = app
    _, _, model_line, *_ = client.predict(handle_file(sample_photos()[0]), api_name="/predict")
    assert "features `" in model_line and ("frozen" in model_line or "fine-tuned" in model_line)


def test_finetune_is_refused_without_the_servers_photos(app):
    """The photos folder is the server's own (never a path a visitor sends); without one, a clear refusal."""
    client, _ = app
    with pytest.raises(Exception, match="no CUB photos on this server"):
        client.predict("CUB", "effnetlite2", "vae-cflow", 4, 0, 0, 10, 2, False, True, api_name="/train")


def test_predict_says_when_a_photo_is_not_a_bird(app):
    """The shipped cat gets a notice in the model line instead of a confident bird; a bird photo gets none."""
    client, predictor = app
    cat = PROJECT_ROOT / "assets" / "examples" / "chelsea.jpg"
    if predictor.predict(cat).domain is None:
        pytest.skip("this model has no photo reading")
    label, ranked, model_line, read, has = client.predict(handle_file(cat), api_name="/predict")
    assert "does not look like a bird (P(bird)" in model_line and "not an identification" in model_line
    assert len(ranked) == 5 and len(read["data"]) == 10  # the outputs stay as every client knows them
    bird = next(p for p in sample_photos() if predictor.predict(p).domain.in_domain)
    assert "not an identification" not in client.predict(handle_file(bird), api_name="/predict")[2]


def editor_dict(table: dict) -> dict:
    return {row[0]: row[1] for row in table["data"]}


def test_describe_words_fills_the_editor(app):
    client, predictor = app
    editor, understood, missed = client.predict("small, red crown, black wings, glorp", ZEROS,
                                                api_name="/describe_words")
    expected = predictor.describe_words("small, red crown, black wings, glorp")
    assert list(editor_dict(editor).values()) == pytest.approx(list(expected.attributes), abs=0.01)
    assert editor_dict(editor)["crown color: red"] == pytest.approx(predictor.human_scale_max)
    assert any("crown color: red" in row[1] for row in understood["data"])
    assert "glorp" in missed


def test_describe_words_refuses_a_text_with_no_known_word(app):
    client, predictor = app
    before = predictor.class_table()
    with pytest.raises(Exception, match="no word of the description names an attribute"):
        client.predict("glorp fnord", ZEROS, api_name="/describe_words")
    assert predictor.class_table() == before


def test_read_photos_fills_the_editor(app, tmp_path):
    client, predictor = app
    photos = sample_photos()[:2]
    editor, note = client.predict([handle_file(p) for p in photos], api_name="/read_photos")
    expected = predictor.read_photos(photos)
    assert list(editor_dict(editor).values()) == pytest.approx(list(expected.attributes), abs=0.01)
    assert literal(photos[0].name) in note and "looks like a bird" in note  # the name shown as typed
    with pytest.raises(Exception, match="1 to 5"):
        client.predict([handle_file(sample_photos()[0])] * 6, api_name="/read_photos")
    for payload in ({"path": "/etc/passwd"}, {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}):
        assert raw_call(client, "read_photos", [[payload]])[0] == "error"  # only files gradio stored are read
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    with pytest.raises(Exception, match="notes.jpg"):
        client.predict([handle_file(notes)], api_name="/read_photos")


def test_a_class_added_after_reading_photos_keeps_them_as_examples(app, tmp_path_factory):
    client, predictor = app
    photos = sample_photos()[:2]
    editor, note = client.predict([handle_file(p) for p in photos], api_name="/read_photos")
    assert "keeps these 2 photos as examples" in note
    assert "added" in client.predict("Photo class", editor, api_name="/add_class")  # the values edited or not
    client.predict("small, red crown, black wings", ZEROS, api_name="/describe_words")
    assert "added" in client.predict("Words class", editor, api_name="/add_class")  # the photos were dropped
    files = tmp_path_factory.getbasetemp().rglob("classes/*.json")  # the active model's, wherever it was loaded
    kept = {c["name"]: c["examples"] for path in files for c in json.loads(path.read_text())["classes"]}
    assert np.allclose(kept["Photo class"], predictor.read_photos(photos).features, atol=1e-6)
    assert kept["Words class"] == []
    for name in ("Photo class", "Words class"):
        client.predict(name, api_name="/remove_class")


def test_describe_parts_fills_the_editor(app):
    client, predictor = app
    groups = [g.name for g in predictor.vocabulary.groups]
    picked = [["red"] if g == "crown color" else ["dagger"] if g == "bill shape" else [] for g in groups]
    like = predictor.class_table()[0]["name"]
    editor = client.predict(like, 100, [], *picked, api_name="/describe_parts")
    expected = predictor.describe_parts({"crown color": ["red"], "bill shape": ["dagger"]}, like=like)
    assert list(editor_dict(editor).values()) == pytest.approx(list(expected), abs=0.01)
    with pytest.raises(Exception, match="pick at least one"):
        client.predict(ZEROS, 100, [], *[[] for _ in groups], api_name="/describe_parts")


def test_describe_parts_searched_across_groups_and_how_strongly(app):
    """The parts editor had no search across its 28 groups and no strength: picked values went to 100."""
    client, predictor = app
    groups = [g.name for g in predictor.vocabulary.groups]
    picked = [["black"] if g == "wing color" else [] for g in groups]
    editor = client.predict(ZEROS, 60, ["crown color: red", "bill shape: dagger"], *picked, api_name="/describe_parts")
    expected = predictor.describe_parts({"crown color": {"red": 60}, "bill shape": {"dagger": 60},
                                         "wing color": {"black": 60}})
    assert list(editor_dict(editor).values()) == pytest.approx(list(expected), abs=0.01)
    assert editor_dict(editor)["crown color: red"] == pytest.approx(60)
