"""The Evaluate tab: U/S/H/ZSL of the active model, per-class accuracy, real vs synthetic features."""

from dataclasses import dataclass

import gradio as gr
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure  # no pyplot: no global figure state shared between requests
from matplotlib.patches import Patch

from zsl_app.app.names import display_name
from zsl_app.core.metrics import per_class_accuracy
from zsl_app.core.model import ZSLModel
from zsl_app.protocol.run import evaluate_model
from zsl_app.storage.data import Benchmark, DataError, available_features

from . import glossary, setup
from .messages import refused, without_badges
from .state import AppState
from .training import METRIC_HEADERS, metrics_rows

COLOURS = {"seen": "#4C78A8", "unseen": "#F58518"}
WORST = 20  # classes named in the per-class chart


class EvaluateTab:
    """The metrics saved with the active model, recomputed when its features are under the data root."""

    def __init__(self, state: AppState):
        self.state = state

    def build(self, tab: gr.Tab) -> None:
        gr.Markdown("U/S/H/ZSL of the active model (saved with it, and recomputed when its features are under "
                    "the data root), each class's accuracy, and how its synthetic features sit beside real ones.")
        run = gr.Button("Evaluate the active model", variant="primary")
        note = gr.Markdown(elem_id="evaluate-note")
        metrics = gr.Dataframe(headers=METRIC_HEADERS, label="U / S / H / ZSL (%)", interactive=False,
                               elem_id="evaluate-metrics")
        gr.Markdown(f"{glossary.METRICS}\n\n{glossary.EVALUATIONS}", elem_id="evaluate-help")
        # Hidden where nothing can be drawn: no empty frames.
        with gr.Column(visible=self.features_here(), elem_id="evaluate-charts") as charts:
            per_class = gr.Plot(label="per-class accuracy", show_label=False)  # the figures carry their titles
            projection = gr.Plot(label="real vs synthetic features of unseen classes", show_label=False)
        # One at a time: each recomputes the whole test split.
        event = gr.on([tab.select, run.click], self.evaluate, None, [metrics, per_class, projection, note],
                      api_name="evaluate", concurrency_limit=1)
        event.success(lambda: gr.Column(visible=self.features_here()), None, charts, api_visibility="private")
        without_badges(event, [metrics, per_class, projection, note])

    def features_here(self) -> bool:
        """Whether the active model's features are under the data root (else only its saved metrics show)."""
        meta = self.state.predictor.model.meta
        return meta["features"]["name"] in available_features(self.state.data_root, meta["dataset"])

    def evaluate(self):
        """(metrics table, per-class figure, PCA figure, note) for the active model."""
        with self.state.lock:
            model = self.state.predictor.model  # as trained: user classes are no part of the benchmark
            which = f"**model** {self.state.checkpoint_text()}"
        rows = metrics_rows(model.meta.get("metrics"))
        dataset, features = model.meta["dataset"], model.meta["features"]["name"]
        if features not in available_features(self.state.data_root, dataset):
            note = f"{which}\n\n{setup.missing_features(dataset, features, self.state.data_root_given)}"
            return pd.DataFrame(rows, columns=METRIC_HEADERS), None, None, note
        try:
            bench = self.state.benchmark(dataset, features)
            report, per_class = evaluate_now(model, bench)
            figure = projection_figure(*projection(model, bench))
        except (DataError, ValueError) as err:
            raise refused(str(err), "Evaluation failed") from err
        rows.append(["test (recomputed now)"] + [round(report[k], 1) for k in ("U", "S", "H", "ZSL")])
        note = (f"{which}\n\nrecomputed on `{dataset}/{features}.mat` under the data root: {len(bench.test_seen)} "
                f"seen and {len(bench.test_unseen)} unseen test images")
        return pd.DataFrame(rows, columns=METRIC_HEADERS), per_class_figure(per_class), figure, note


@dataclass
class PerClass:
    """Top-1 accuracy (%) of each dataset class on its test images, in the joint GZSL label space."""

    names: list[str]
    kinds: list[str]  # "seen" / "unseen"
    accuracy: np.ndarray  # (C,)


def check_fits(model: ZSLModel, bench: Benchmark) -> None:
    """Refuse a benchmark whose features come from another space than the model's."""
    if bench.feature_space != model.feature_space:
        raise ValueError(f"the model was trained on '{model.feature_space}' features but "
                         f"{bench.root}/{bench.features_name}.mat holds '{bench.feature_space}'")


def evaluate_now(model: ZSLModel, bench: Benchmark) -> tuple[dict, PerClass]:
    """U/S/H/ZSL recomputed on the test split, and each class's accuracy, for the dataset's classes."""
    check_fits(model, bench)
    report = evaluate_model(model, bench)
    index = {name: i for i, name in enumerate(model.class_names)}
    to_model = np.array([index.get(n, -1) for n in bench.class_names])
    rows = np.concatenate([bench.test_seen, bench.test_unseen])
    pred = model.scores(bench.features[rows]).argmax(1)
    classes = np.arange(len(model.class_names))
    accuracy = 100 * per_class_accuracy(pred, to_model[bench.labels[rows]], classes)
    return report, PerClass(model.class_names, model.class_kinds, accuracy)


def per_class_figure(per_class: PerClass, worst: int = WORST) -> Figure:
    """Left: every class sorted by accuracy; right: the `worst` classes by name."""
    order = np.argsort(per_class.accuracy, kind="stable")
    colours = [COLOURS.get(per_class.kinds[i], "grey") for i in order]
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    every, named = fig.subplots(1, 2, width_ratios=(1, 1.3))
    every.bar(np.arange(len(order)), per_class.accuracy[order], width=1.0, color=colours)
    every.set(title=f"all {len(order)} classes, worst to best", xlabel="class rank", ylabel="top-1 accuracy (%)",
              ylim=(0, 100))
    low = order[:worst][::-1]
    named.barh(np.arange(len(low)), per_class.accuracy[low], color=[COLOURS.get(per_class.kinds[i]) for i in low])
    named.set_yticks(np.arange(len(low)), [display_name(per_class.names[i]) for i in low], fontsize=8)
    named.set(title=f"the {len(low)} worst classes", xlabel="top-1 accuracy (%)", xlim=(0, 100))
    named.legend(handles=[Patch(color=colour, label=kind) for kind, colour in COLOURS.items()], loc="lower right")
    return fig


@torch.no_grad()
def projection(model: ZSLModel, bench: Benchmark, *, classes: int = 6, samples: int = 60, seed: int = 0):
    """2-D PCA of real (head.embed of scaled test features) and synthetic (head.synthesize) examples
    of the first `classes` unseen classes. Returns (points (N, 2), class names (N,), is_real (N,))."""
    check_fits(model, bench)
    unseen = [i for i, kind in enumerate(model.class_kinds) if kind == "unseen"][:classes]
    names = [model.class_names[i] for i in unseen]
    label_of = {n: i for i, n in enumerate(bench.class_names)}
    rows = bench.test_unseen[np.isin(bench.labels[bench.test_unseen], [label_of[n] for n in names])]
    real = model.embed(bench.features[rows]).cpu().numpy()
    att = torch.as_tensor(model.attributes[unseen], device=model.head.device)
    fake = model.head.synthesize(att, samples, torch.Generator().manual_seed(seed)).cpu().numpy()
    points = np.concatenate([real, fake])
    centred = points - points.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    labels = [bench.class_names[c] for c in bench.labels[rows]] + [n for n in names for _ in range(samples)]
    is_real = np.arange(len(points)) < len(real)
    return centred @ vt[:2].T, np.array(labels), is_real


def projection_figure(points: np.ndarray, labels: np.ndarray, is_real: np.ndarray) -> Figure:
    """Real features as dots, synthetic ones as crosses, one colour per class."""
    fig = Figure(figsize=(8, 6), layout="constrained")
    ax = fig.subplots()
    for k, name in enumerate(dict.fromkeys(labels)):
        colour = f"C{k % 10}"
        mine = labels == name
        ax.scatter(*points[mine & is_real].T, s=14, color=colour, label=f"{display_name(name)} (real)")
        ax.scatter(*points[mine & ~is_real].T, s=18, color=colour, marker="x", alpha=0.6)
    ax.set(title="unseen classes: real features (dots) vs synthesized (crosses), PCA", xlabel="PC 1", ylabel="PC 2")
    ax.legend(fontsize=7, loc="best")
    return fig
