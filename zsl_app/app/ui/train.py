"""The Train tab: start, follow and cancel one training; make a saved run the active model."""

import dataclasses
import time

import gradio as gr
import pandas as pd

from zsl_app.app.classes import ClassError
from zsl_app.app.recognizer import Recognizer
from zsl_app.core.heads import HEADS, head_names
from zsl_app.core.training import Cancelled
from zsl_app.protocol import SpecError, head_defaults
from zsl_app.storage.checkpoint import CheckpointError, paths
from zsl_app.storage.data import DataError, available_datasets, available_features

from .messages import refused
from .state import AppState
from .training import METRIC_HEADERS, Busy, TrainingJob, TrainRequest, metrics_rows

POLL_SECONDS = 0.5  # how often a running training refreshes the page


class TrainTab:
    """The training form, its progress and results, and the saved runs."""

    def __init__(self, state: AppState):
        self.state = state
        self.job = TrainingJob(state.runs_dir)

    def build(self) -> None:
        if self.state.read_only:
            gr.Markdown("Training and changing the active model are switched off on this server.")
        with gr.Column(visible=not self.state.read_only):
            gr.Markdown("Train on the benchmarks found under the data root (`--data-root`, else "
                        "`$ZSL_DATA_ROOT`): the honest protocol selects on a class-disjoint validation split, "
                        "retrains on trainval and tests once. One training at a time; predictions keep working "
                        "meanwhile.")
            request = self._form()
            with gr.Row():
                start = gr.Button("Train", variant="primary")
                cancel = gr.Button("Cancel", variant="stop")
            status = gr.Markdown(elem_id="train-status")
            with gr.Row():
                curve = gr.LinePlot(loss_frame([]), x="step", y="loss", color="stage", label="head training loss",
                                    height=300)
                results = gr.Dataframe(headers=METRIC_HEADERS, label="U / S / H / ZSL (%)", interactive=False,
                                       elem_id="train-results")
            with gr.Row():
                self.runs = gr.Dropdown(self.run_names(), value=None, label="saved runs", scale=3,
                                        allow_custom_value=True)
                activate = gr.Button("Make active", scale=1)
            active = gr.Markdown()
        # Two slots: one for the running training, one to refuse a second request at once (the job's
        # lock) rather than queue it behind a run of many minutes.
        start.click(self.train, request, [status, curve, results, self.runs], api_name="train",
                    concurrency_limit=2, concurrency_id="train")
        cancel.click(self.cancel, None, status, api_name="cancel_training", queue=False)
        activate.click(self.activate, self.runs, active, api_name="activate")

    def _form(self) -> list:
        """The training settings, in the order `train` takes them; the head's defaults follow the choices."""
        datasets = self.datasets()
        first = datasets[0] if datasets else None
        found = self.features(first)
        method = "vae-cflow" if "vae-cflow" in head_names() else head_names()[0]
        with gr.Row():
            dataset = gr.Dropdown(datasets, value=first, label="dataset")
            features = gr.Dropdown(found, value=found[0] if found else None, label="features")
            head = gr.Dropdown(head_names(), value=method, label="head")
        with gr.Row():
            length, temperature, samples = head_fields(method, first)
            seed = gr.Number(0, label="seed", precision=0)
            classifier_epochs = gr.Number(25, label="classifier epochs", precision=0, minimum=1)
            select = gr.Checkbox(True, label="select on validation")
        dataset.change(lambda d: gr.Dropdown(choices=self.features(d), value=(self.features(d) or [None])[0]),
                       dataset, features, api_visibility="private")
        gr.on([head.change, dataset.change], lambda h, d: head_fields(h, d, render=False), [head, dataset],
              [length, temperature, samples], api_visibility="private")
        return [dataset, features, head, length, seed, temperature, samples, classifier_epochs, select]

    def datasets(self) -> list[str]:
        return available_datasets(self.state.data_root)

    def features(self, dataset: str | None) -> list[str]:
        return available_features(self.state.data_root, dataset) if dataset else []

    def train(self, dataset, features, method, length, seed, temperature, samples, classifier_epochs, select,
              progress=gr.Progress()):
        """Start a training and yield (status, loss curve, metrics table, saved run) until it ends."""
        self.state.check_writable("training")
        request = train_request(dataset, features, method, length, seed, temperature, samples, classifier_epochs,
                                select)
        if request.dataset not in self.datasets() or request.features not in self.features(request.dataset):
            raise refused(f"no {request.dataset} features {request.features!r} under the data root; choose a "
                          f"dataset and features from the lists", "Not found")
        try:
            self.job.start(request, self.state.benchmark(request.dataset, request.features))
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
        yield (f"finished in {s.elapsed:.0f} s; saved the run `{run}` in the runs folder. Make it the active "
               f"model to use it in Predict.", loss_frame(s.curve),
               pd.DataFrame(metrics_rows(s.metrics), columns=METRIC_HEADERS),
               gr.Dropdown(choices=self.run_names(), value=run))

    def cancel(self) -> str:
        self.state.check_writable("cancelling a training")
        return "cancelling at the next progress report..." if self.job.cancel() else "no training is running"

    def run_names(self) -> list[str]:
        """Checkpoints saved under the runs folder, newest first."""
        found = sorted(self.state.runs_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        return [p.stem for p in found if paths(p)[0].is_file()]

    def activate(self, run: str | None) -> str:
        """Load a saved run with its backbone and make it the model every tab uses."""
        self.state.check_writable("changing the active model")
        if not run or run not in self.run_names():  # only runs of this folder: never an arbitrary server path
            raise refused(f"no saved run {run!r}; train one first", "No such run")
        try:
            predictor = Recognizer.load(self.state.runs_dir / run)
        except (CheckpointError, ClassError, ValueError) as err:
            raise refused(f"cannot use {run}: {err}", "Model not activated") from err
        with self.state.lock:
            self.state.predictor = predictor
        return f"active model: {self.state.model_line()}"


def head_fields(method: str, dataset: str | None, *, render: bool = True):
    """Length, temperature and samples-per-class inputs with the head's (dataset) defaults."""
    cls, config = HEADS.get(method), head_defaults(method, dataset)
    fields = {f.name for f in dataclasses.fields(config)}
    return (gr.Number(getattr(config, cls.length_field), label=f"{cls.length_field} (training length)",
                      precision=0, minimum=1, render=render),
            gr.Number(0, label="temperature T (0: chosen on validation)", minimum=0,
                      interactive="temperature" in fields, render=render),
            gr.Number(config.unseen_samples, label="synthetic samples per unseen class", precision=0, minimum=1,
                      render=render))


def train_request(dataset, features, method, length, seed, temperature, samples, classifier_epochs,
                  select) -> TrainRequest:
    """The Train tab's fields -> a request, refusing what the protocol cannot use."""
    if not dataset or not features:
        raise refused("choose a dataset and a features file (none found under the data root?)", "Missing choice")
    if method not in HEADS.names():
        raise refused(f"unknown head {method!r}; choose one of {', '.join(HEADS.names())}", "Unknown head")
    for label, value in (("iterations/epochs", length), ("samples per class", samples),
                         ("classifier epochs", classifier_epochs)):
        if value is None:
            raise refused(f"{label} must be a whole number; it is empty", "Invalid value")
    request = TrainRequest(dataset=dataset, features=features, method=method, length=int(length),
                           seed=int(seed or 0), temperature=temperature or None, unseen_samples=int(samples),
                           classifier_epochs=int(classifier_epochs), select=bool(select))
    try:
        request.spec()  # every bound checked here, before a training thread starts
    except SpecError as err:
        raise refused(str(err), "Invalid value") from err
    return request


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
