"""The web app: Predict, Classes, Train and Evaluate tabs over one active model (`build_app`, `serve`)."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read when gradio is imported: no telemetry

from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from zsl_app.app.predictor import default_checkpoint  # noqa: E402
from zsl_app.app.recognizer import Recognizer  # noqa: E402
from zsl_app.storage.paths import WEIGHTS_DIR, resolve_data_root  # noqa: E402

from .classes import ClassesTab  # noqa: E402
from .evaluate import EvaluateTab  # noqa: E402
from .predict import PredictTab  # noqa: E402
from .state import AppState  # noqa: E402
from .train import TrainTab  # noqa: E402
from .uploads import MAX_UPLOAD_BYTES, Uploads  # noqa: E402

CONCURRENCY = 4  # events of one kind running at once (training has its own two slots)
QUEUE_SIZE = 64  # requests waiting beyond that are refused with "queue full"
# System fonts: the default theme fetches Google Fonts, which an offline machine cannot reach.
THEME = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
READ_ONLY = ("**Read-only demo:** classify photos and browse the classes; adding classes, training and changing "
             "the model are switched off.")


def build_app(predictor: Recognizer, *, checkpoint=None, data_root=None, examples_dir=None, runs_dir=None,
              read_only: bool = False) -> gr.Blocks:
    """The whole app around `predictor`, loaded from `checkpoint` (its path is shown to name the model);
    nothing runs until `launch`.

    `read_only`: every event that changes what other visitors see (classes, training, the active
    model) refuses, and its controls are hidden."""
    with gr.Blocks(title="zsl-app", analytics_enabled=False) as demo:
        state = AppState(predictor, checkpoint=checkpoint, data_root=resolve_data_root(data_root),
                         data_root_given=bool(data_root), uploads=Uploads(demo), read_only=read_only,
                         runs_dir=Path(runs_dir) if runs_dir else WEIGHTS_DIR / "runs")
        intro = gr.Markdown(state.intro(), elem_id="intro")
        if read_only:
            gr.Markdown(READ_ONLY)
        predict, classes, train = PredictTab(state), ClassesTab(state), TrainTab(state)
        with gr.Tab("Predict", id="predict"):
            predict.build(examples_dir)
        with gr.Tab("Classes", id="classes"):
            classes.build(predict)
        with gr.Tab("Train", id="train"):
            train.build()
        with gr.Tab("Evaluate", id="evaluate") as evaluate_tab:
            EvaluateTab(state).build(evaluate_tab)

        def model_views():
            """What depends on the active model: the intro, its line, its classes (user classes are per model)."""
            return state.intro(), state.model_line(), *classes.fresh_lists()

        views = [intro, predict.model_line, *classes.lists]
        for switched in train.models.switched:  # every tab now answers with another model: show it at once
            predict.rerun(switched.success(model_views, None, views, api_visibility="private"))
        # Read again on every page load: another visitor may have added a class, trained or switched models,
        # and benchmark data may have arrived.
        demo.load(lambda: (*model_views(), train.models.fresh(), *train.fresh()), None,
                  [*views, train.models.list, train.no_data, train.training, train.dataset],
                  api_visibility="private")
    return demo


def launch(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = None, block: bool = True):
    """Queue and launch: never shared, bounded uploads, system fonts."""
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo.launch(server_name=host, server_port=port, share=False, max_file_size=MAX_UPLOAD_BYTES,
                       theme=THEME, prevent_thread_lock=not block, quiet=not block, footer_links=["api"])


def serve(args) -> int:
    """`python app.py`: load the model (--model, else weights/default.json) and serve it."""
    checkpoint = args.model or default_checkpoint()
    predictor = Recognizer.load(checkpoint, backbone_weights=args.backbone_weights)
    demo = build_app(predictor, checkpoint=checkpoint, data_root=args.data_root, examples_dir=args.examples,
                     runs_dir=args.out, read_only=args.read_only)
    mode = " read-only" if args.read_only else ""
    print(f"serving {predictor.info['model']}{mode} on http://{args.host}:{args.port}")
    launch(demo, host=args.host, port=args.port)
    return 0
