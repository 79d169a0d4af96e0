"""The Train tab: start, follow and cancel one training; make a shipped model or a saved run the active model."""

import dataclasses
import time

import gradio as gr
import pandas as pd

from zsl_app.core.heads import HEADS, head_names
from zsl_app.core.training import Cancelled
from zsl_app.protocol import SpecError, head_defaults
from zsl_app.storage.data import DataError, available_datasets, available_features
from zsl_app.storage.data.cub_images import find_cub_images

from . import glossary, setup
from .loss_chart import loss_figure
from .messages import refused, without_badges
from .models import ModelsPanel, choices
from .state import AppState
from .training import METRIC_HEADERS, Busy, TrainingJob, TrainRequest, metrics_rows

POLL_SECONDS = 0.5  # how often a running training refreshes the page


class TrainTab:
    """The training form, its progress and results; the list of models to make active."""

    def __init__(self, state: AppState):
        self.state = state
        self.job = TrainingJob(state.runs_dir, state.data_root)
        self.models = ModelsPanel(state)

    def build(self) -> None:
        if self.state.read_only:
            gr.Markdown("Training and changing the active model are switched off on this server.")
        with gr.Column(visible=not self.state.read_only):
            has_data = bool(self.datasets())
            self.no_data = gr.Markdown(setup.no_benchmarks(self.state.data_root_given), visible=not has_data,
                                       elem_id="train-no-data")
            with gr.Column(visible=has_data) as self.training:
                self._training()
            self.models.build()

    def _training(self) -> None:
        """The form, start and cancel, the status line, the loss chart and the result table."""
        gr.Markdown("Train on the benchmarks found under the data root: the honest protocol chooses its settings "
                    "on a validation split whose classes play unseen, retrains on all training classes and tests "
                    "once. One training at a time; predictions keep working meanwhile.")
        request = self._form()
        with gr.Row():
            start = gr.Button("Train", variant="primary")
            cancel = gr.Button("Cancel", variant="stop")
        status = gr.Markdown(elem_id="train-status")
        with gr.Row():
            with gr.Column():
                curve = gr.Plot(loss_figure([]), label="head training loss", show_label=False, elem_id="train-curve")
                gr.Markdown(glossary.LOSS)
            with gr.Column():
                results = gr.Dataframe(headers=METRIC_HEADERS, label="U / S / H / ZSL (%)", interactive=False,
                                       elem_id="train-results")
                gr.Markdown(f"{glossary.METRICS}\n\n{glossary.EVALUATIONS}")
        # Two slots: one for the running training, one to refuse a second request at once (the job's
        # lock) rather than queue it behind a run of many minutes.
        started = start.click(self.train, request, [status, curve, results, self.models.list], api_name="train",
                              concurrency_limit=2, concurrency_id="train", show_progress_on=[status])
        without_badges(started, [status, curve, results])
        cancel.click(self.cancel, None, status, api_name="cancel_training", queue=False)

    def _form(self) -> list:
        """The training settings, in the order `train` takes them; the head's defaults follow the choices."""
        datasets = self.datasets()
        first = datasets[0] if datasets else None
        found = self.features(first)
        method = "vae-cflow" if "vae-cflow" in head_names() else head_names()[0]
        with gr.Row():
            # Custom values pass to `train`, whose refusal says what is under the data root.
            self.dataset = gr.Dropdown(datasets, value=first, label="dataset", info="found under the data root",
                                       allow_custom_value=True)
            features = gr.Dropdown(found, value=found[0] if found else None, label="features",
                                   info="image features of its photos, by backbone", allow_custom_value=True)
            head = gr.Dropdown(head_names(), value=method, label="head",
                               info="the generative model that makes features for unseen classes")
        with gr.Row():
            length, temperature, samples = head_fields(method, first)
            seed = gr.Number(0, label="seed", precision=0, info=glossary.SEED)
            classifier_epochs = gr.Number(25, label="classifier epochs", precision=0, minimum=1,
                                          info=glossary.CLASSIFIER_EPOCHS)
            select = gr.Checkbox(True, label="select on validation", info=glossary.SELECT)
        photos = self.photos()
        finetune = gr.Checkbox(False, label="fine-tune the backbone on the photos", interactive=photos is not None,
                               info=glossary.FINETUNE if photos else glossary.NO_PHOTOS, elem_id="train-finetune")
        self.dataset.change(lambda d: gr.Dropdown(choices=self.features(d), value=(self.features(d) or [None])[0]),
                            self.dataset, features, api_visibility="private")
        gr.on([head.change, self.dataset.change], lambda h, d: head_fields(h, d, render=False), [head, self.dataset],
              [length, temperature, samples], api_visibility="private")
        return [self.dataset, features, head, length, seed, temperature, samples, classifier_epochs, select, finetune]

    def photos(self):
        """The CUB photos this server found (under the data root or where --download cub-images puts them)."""
        return find_cub_images(self.state.data_root) or find_cub_images()

    def datasets(self) -> list[str]:
        return available_datasets(self.state.data_root)

    def features(self, dataset: str | None) -> list[str]:
        return available_features(self.state.data_root, dataset) if dataset else []

    def fresh(self) -> tuple:
        """(no-data note, training column, dataset list): data may have arrived since the page was built."""
        datasets = self.datasets()
        return (gr.Markdown(visible=not datasets), gr.Column(visible=bool(datasets)),
                gr.Dropdown(choices=datasets, value=datasets[0] if datasets else None))

    def train(self, dataset, features, method, length, seed, temperature, samples, classifier_epochs, select,
              finetune=False, progress=gr.Progress()):
        """Start a training and yield (status, loss chart, metrics table, models list) until it ends."""
        self.state.check_writable("training")
        if not self.datasets():
            raise refused(setup.no_benchmarks(self.state.data_root_given).replace("**", ""), "No benchmark data")
        images = self.photos() if finetune else None
        if finetune and images is None:
            raise refused(glossary.NO_PHOTOS, "No photos")
        request = train_request(dataset, features, method, length, seed, temperature, samples, classifier_epochs,
                                select, images)
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
                yield stage_text(s), loss_figure(s.curve), None, gr.update()
        finally:
            if not self.job.snapshot().done:  # the page went away: stop the work it started
                self.job.cancel()
        if isinstance(s.error, Cancelled):
            yield f"cancelled after {s.elapsed:.0f} s; nothing was saved", loss_figure(s.curve), None, gr.update()
            return
        if s.error is not None:
            raise gr.Error(f"training failed: {s.error}") from s.error
        run = s.checkpoint.name
        yield (f"finished in {s.elapsed:.0f} s; saved the run `{run}` in the runs folder. Make it the active "
               f"model below to use it in Predict.", loss_figure(s.curve),
               pd.DataFrame(metrics_rows(s.metrics), columns=METRIC_HEADERS),
               gr.Dropdown(choices=choices(self.state.runs_dir), value=run))

    def cancel(self) -> str:
        self.state.check_writable("cancelling a training")
        return "cancelling at the next progress report..." if self.job.cancel() else "no training is running"


def head_fields(method: str, dataset: str | None, *, render: bool = True):
    """Length, temperature and samples-per-class inputs with the head's (dataset) defaults."""
    cls, config = HEADS.get(method), head_defaults(method, dataset)
    fields = {f.name for f in dataclasses.fields(config)}
    grid = HEADS.get("vae-cflow").selection_grid["temperature"]
    return (gr.Number(getattr(config, cls.length_field), label=f"{cls.length_field} (training length)",
                      precision=0, minimum=1, info=glossary.LENGTH, render=render),
            gr.Number(0, label="temperature T (0: chosen on validation)", minimum=0,
                      interactive="temperature" in fields, info=glossary.temperature(grid), render=render),
            gr.Number(config.unseen_samples, label="synthetic samples per unseen class", precision=0, minimum=1,
                      info=glossary.SAMPLES, render=render))


def train_request(dataset, features, method, length, seed, temperature, samples, classifier_epochs,
                  select, images=None) -> TrainRequest:
    """The Train tab's fields -> a request, refusing what the protocol cannot use."""
    if not dataset or not features:
        raise refused("choose a dataset and a features file from the lists", "Missing choice")
    if method not in HEADS.names():
        raise refused(f"unknown head {method!r}; choose one of {', '.join(HEADS.names())}", "Unknown head")
    for label, value in (("iterations/epochs", length), ("samples per class", samples),
                         ("classifier epochs", classifier_epochs)):
        if value is None:
            raise refused(f"{label} must be a whole number; it is empty", "Invalid value")
    request = TrainRequest(dataset=dataset, features=features, method=method, length=int(length),
                           seed=int(seed or 0), temperature=temperature or None, unseen_samples=int(samples),
                           classifier_epochs=int(classifier_epochs), select=bool(select), images=images)
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
