"""What every button of the web app does: gradio values in, gradio values out, gr.Error for the user."""

import base64
import io
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from zsl_app.app.classes import ClassError, read_attribute_file
from zsl_app.app.predictor import Predictor
from zsl_app.core.heads import HEADS
from zsl_app.core.training import Cancelled
from zsl_app.storage.checkpoint import CheckpointError, paths
from zsl_app.storage.data import DataError, available_datasets, available_features, load_benchmark
from zsl_app.storage.data.attribute_names import readable
from zsl_app.storage.images import ImageError

from . import evaluate as ev
from .training import Busy, TrainingJob, TrainRequest, metrics_rows

TOP = 5
KIND_LABELS = {"seen": "seen", "unseen": "unseen", "user": "user-added"}
METRIC_HEADERS = ["evaluation", "U", "S", "H", "ZSL"]
POLL_SECONDS = 0.5  # how often a running training refreshes the page
ZEROS = "(all zeros)"


class AppState:
    """The active predictor (swapped whole by "make active"), the data root, runs and the training job.

    One lock guards the predictor: adding a class rewrites its classifier, which a prediction must not
    see half-done. Training runs in its own thread and never takes this lock."""

    def __init__(self, predictor: Predictor, *, data_root: Path, runs_dir: Path):
        self.predictor, self.data_root, self.runs_dir = predictor, Path(data_root), Path(runs_dir)
        self.lock = threading.RLock()
        self.job = TrainingJob(self.runs_dir)
        self._bench_lock = threading.Lock()
        self._bench: tuple[tuple, object] | None = None

    def benchmark(self, dataset: str, features: str):
        """Load (or reuse the last loaded) benchmark: CUB's features take seconds to read."""
        key = (str(self.data_root), dataset, features)
        with self._bench_lock:
            if self._bench is None or self._bench[0] != key:
                self._bench = (key, load_benchmark(self.data_root, dataset, features))
            return self._bench[1]

    # --- Predict ---------------------------------------------------------------------------------
    def predict(self, photo: dict | None):
        """Uploaded photo -> (top-5 label, ranked list, model line, attributes read, top-1 class attributes)."""
        if photo is None:
            return None, None, self.model_line(), None, None
        source = uploaded_image(photo)
        try:
            with self.lock:
                result, scale = self.predictor.predict(source, top=TOP), self.predictor.human_scale_max
        except ImageError as err:
            raise refused(str(err), "Not a usable photo") from err
        label = {f"{ev.short_name(r.name)} ({KIND_LABELS[r.kind]})": r.probability for r in result.ranked}
        ranked = [{"name": r.name, "probability": round(r.probability, 6), "kind": r.kind} for r in result.ranked]
        return (label, ranked, self.model_line(result.seconds), strength_rows(result.attributes, scale),
                strength_rows(result.class_attributes, scale))

    def model_line(self, seconds: float | None = None) -> str:
        info = self.predictor.info
        line = (f"**model** `{info['model']}` · {info['dataset']} · head `{info['method']}` · "
                f"backbone `{info['backbone']}`")
        return line + (f" · **{1000 * seconds:.0f} ms**" if seconds is not None else "")

    # --- Classes ---------------------------------------------------------------------------------
    def list_classes(self, query: str = "", kind: str = "all") -> pd.DataFrame:
        """Every class whose name contains `query` (case and '_' ignored), of one kind or all."""
        words = (query or "").replace("_", " ").lower().split()
        with self.lock:
            table = self.predictor.class_table()
        rows = [[row["name"], KIND_LABELS[row["kind"]]] for row in table
                if (kind in (None, "", "all") or KIND_LABELS[row["kind"]] == kind)
                and all(w in row["name"].replace("_", " ").lower() for w in words)]
        return pd.DataFrame(rows, columns=["class", "kind"])

    def class_names(self, kind: str | None = None) -> list[str]:
        with self.lock:
            return [row["name"] for row in self.predictor.class_table() if kind in (None, row["kind"])]

    def class_vector(self, name: str | None) -> pd.DataFrame:
        """One class's attributes, strongest first, on the dataset's scale."""
        if not name:
            return pd.DataFrame(columns=["attribute", "value"])
        table = self.template(name)
        return table.sort_values("value", ascending=False, kind="stable", ignore_index=True)

    def template(self, name: str | None) -> pd.DataFrame:
        """The editor's starting vector: zeros or a class's attributes, in attribute order."""
        try:
            with self.lock:
                names = list(self.predictor.attribute_names)
                values = np.zeros(len(names)) if name in (None, "", ZEROS) else self.predictor.class_attributes(name)
        except ClassError as err:
            raise refused(str(err), "Unknown class") from err
        values = np.asarray(values, dtype=float)  # float32 would show as 99.16999816894531
        return pd.DataFrame({"attribute": names, "value": np.round(values, 2)})

    def read_vector(self, file: str | None) -> pd.DataFrame:
        """An uploaded .csv/.json vector -> the editor (a {name: value} file may leave others at 0)."""
        if not file:
            return self.template(None)
        table = self.template(None)
        try:
            values = read_attribute_file(file)
            if isinstance(values, dict):
                index = {readable(n).lower(): i for i, n in enumerate(table["attribute"])}
                unknown = [k for k in values if readable(str(k)).lower() not in index]
                if unknown:
                    raise ClassError(f"unknown attributes {unknown[:3]}; expected names such as "
                                     f"{table['attribute'][0]!r}")
                for key, value in values.items():
                    table.loc[index[readable(str(key)).lower()], "value"] = value
            elif len(values) != len(table):
                raise ClassError(f"the file holds {len(values)} numbers; expected {len(table)}, one per attribute")
            else:
                table["value"] = values
        except ClassError as err:
            raise refused(f"{Path(file).name}: {err}", "Cannot read the vector") from err
        return table

    def add_class(self, name: str, table) -> str:
        """Validate the edited vector, add the class (synthesize + refit); nothing changes on an error."""
        values = editor_values(table)
        try:
            with self.lock:
                self.predictor.add_class(name, values)
        except ClassError as err:
            raise refused(str(err), "Class not added") from err
        return f"added **{' '.join(name.split())}**: it now takes part in every prediction."

    def remove_class(self, name: str) -> str:
        if not name:
            raise refused("choose a user-added class to remove", "Nothing to remove")
        try:
            with self.lock:
                self.predictor.remove_class(name)
        except ClassError as err:
            raise refused(str(err), "Class not removed") from err
        return f"removed **{name}**."

    # --- Train -----------------------------------------------------------------------------------
    def datasets(self) -> list[str]:
        return available_datasets(self.data_root)

    def features(self, dataset: str | None) -> list[str]:
        return available_features(self.data_root, dataset) if dataset else []

    def train(self, request: TrainRequest, progress: gr.Progress):
        """Start a training and yield (status, loss curve, metrics table, saved run) until it ends."""
        try:
            bench = self.benchmark(request.dataset, request.features)
            self.job.start(request, bench)
        except (Busy, DataError, ValueError, KeyError) as err:
            raise refused(str(err), "Training not started") from err
        try:
            while True:
                time.sleep(POLL_SECONDS)
                s = self.job.snapshot()
                if s.done:
                    break
                progress((s.step, max(s.total, 1)), desc=stage_text(s), unit="steps")
                yield stage_text(s), loss_frame(s.curve), None, gr.update()
        finally:
            if not self.job.snapshot().done:  # the page went away: stop the work it started
                self.job.cancel()
        if isinstance(s.error, Cancelled):
            yield f"cancelled after {s.elapsed:.0f} s; nothing was saved", loss_frame(s.curve), None, gr.update()
            return
        if s.error is not None:
            raise gr.Error(f"training failed: {s.error}") from s.error
        run = s.checkpoint.name
        yield (f"finished in {s.elapsed:.0f} s; saved `{s.checkpoint}.safetensors` (+ .json). "
               f"Make it the active model to use it in Predict.", loss_frame(s.curve),
               pd.DataFrame(metrics_rows(s.metrics), columns=METRIC_HEADERS),
               gr.Dropdown(choices=self.runs(), value=run))

    def cancel(self) -> str:
        return "cancelling at the next progress report..." if self.job.cancel() else "no training is running"

    def runs(self) -> list[str]:
        """Checkpoints saved under the runs folder, newest first."""
        found = sorted(self.runs_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        return [p.stem for p in found if paths(p)[0].is_file()]

    def activate(self, run: str | None) -> str:
        """Load a saved run with its backbone and make it the model every tab uses."""
        if not run or run not in self.runs():  # only runs of this folder: never an arbitrary server path
            raise refused(f"no saved run {run!r} under {self.runs_dir}; train one first", "No such run")
        try:
            predictor = Predictor.load(self.runs_dir / run)
        except (CheckpointError, ClassError, ValueError) as err:
            raise refused(f"cannot use {run}: {err}", "Model not activated") from err
        with self.lock:
            self.predictor = predictor
        return f"active model: {self.model_line()}"

    # --- Evaluate --------------------------------------------------------------------------------
    def evaluate(self):
        """(metrics table, per-class figure, PCA figure, note) for the active model."""
        with self.lock:
            model = ev.dataset_view(self.predictor.model)
        rows = metrics_rows(model.meta.get("metrics"))
        dataset, features = model.meta["dataset"], model.meta["features"]["name"]
        if features not in self.features(dataset):
            note = (f"the {dataset} `{features}` features are not under {self.data_root}: showing the metrics "
                    f"saved with the model only")
            return pd.DataFrame(rows, columns=METRIC_HEADERS), None, None, note
        try:
            bench = self.benchmark(dataset, features)
            report, per_class = ev.evaluate_now(model, bench)
            projection = ev.projection_figure(*ev.projection(model, bench))
        except (DataError, ValueError) as err:
            raise refused(str(err), "Evaluation failed") from err
        rows.append(["test (recomputed now)"] + [round(report[k], 1) for k in ("U", "S", "H", "ZSL")])
        note = f"recomputed on {bench.root}/{features}.mat: {len(bench.test_seen)} seen and " \
               f"{len(bench.test_unseen)} unseen test images"
        return pd.DataFrame(rows, columns=METRIC_HEADERS), ev.per_class_figure(per_class), projection, note


def refused(message: str, title: str) -> gr.Error:
    """The toast for a request the user can fix (no server traceback: nothing went wrong here)."""
    return gr.Error(message, title=title, print_exception=False)


def uploaded_image(photo: dict) -> io.BytesIO:
    """A gradio FileData payload -> bytes named after the user's file, so errors name that file."""
    data = photo.get("url") or ""
    if photo.get("path"):
        raw = Path(photo["path"]).read_bytes()
    elif data.startswith("data:"):
        raw = base64.b64decode(data.partition(",")[2])
    else:
        raise refused("no photo was received; upload or paste an image", "No photo")
    buffer = io.BytesIO(raw)
    buffer.name = photo.get("orig_name") or "the uploaded file"
    return buffer


def strength_rows(pairs: list[tuple[str, float]], scale: float) -> pd.DataFrame:
    """(attribute, strength) pairs with a text bar scaled to the dataset's maximum."""
    bars = ["█" * max(0, round(10 * v / scale)) if scale else "" for _, v in pairs]
    return pd.DataFrame({"attribute": [n for n, _ in pairs], "strength": [v for _, v in pairs], "": bars})


def editor_values(table) -> dict[str, float]:
    """The add-class editor's rows -> {attribute: value}; a non-number is the user's error."""
    rows = table.values.tolist() if isinstance(table, pd.DataFrame) else (table or [])
    values = {}
    for row in rows:
        name, value = str(row[0]), row[1] if len(row) > 1 else None
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            raise refused(f"attribute '{name}' has value {value!r}; expected a number", "Not a number") from None
    if not values:
        raise refused("the attribute table is empty; start from a template or upload a vector", "Empty table")
    return values


def stage_text(s) -> str:
    if not s.total:
        return f"**starting** · {s.elapsed:.0f} s elapsed"
    eta = "" if s.stage_eta is None else f" · about {s.stage_eta:.0f} s left in this stage"
    loss = f" · loss {s.curve[-1][2]:.4g}" if s.curve else ""
    return f"**{s.stage}** step {s.step}/{s.total}{loss}{eta} · {s.elapsed:.0f} s elapsed"


def loss_frame(curve: list[tuple[str, int, float]]) -> pd.DataFrame:
    """The head's loss per step, one line per head fit (validation, final): the classifier's
    cross-entropy lives on another scale and takes seconds, so the status line reports it."""
    rows = [(stage, step, loss) for stage, step, loss in curve if stage.endswith("/head")]
    frame = pd.DataFrame(rows, columns=["stage", "step", "loss"])
    return frame.astype({"stage": str, "step": int, "loss": float})


def train_request(dataset, features, method, length, seed, temperature, samples, classifier_epochs,
                  select) -> TrainRequest:
    """The Train tab's fields -> a request, refusing what the protocol cannot use."""
    if not dataset or not features:
        raise refused("choose a dataset and a features file (none found under the data root?)", "Missing choice")
    if method not in HEADS.names():
        raise refused(f"unknown head {method!r}; choose one of {', '.join(HEADS.names())}", "Unknown head")
    for label, value in (("iterations/epochs", length), ("samples per class", samples),
                         ("classifier epochs", classifier_epochs)):
        if value is None or value < 1:
            raise refused(f"{label} must be a whole number of at least 1; got {value}", "Invalid value")
    if temperature is not None and temperature < 0:
        raise refused(f"the temperature must be positive, or 0 to choose it on validation; got {temperature}",
                      "Invalid value")
    return TrainRequest(dataset=dataset, features=features, method=method, length=int(length),
                        seed=int(seed or 0), temperature=temperature or None, unseen_samples=int(samples),
                        classifier_epochs=int(classifier_epochs), select=bool(select))
