"""The web app: Predict, Classes, Train and Evaluate tabs over one active model (`build_app`, `serve`)."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read when gradio is imported: no telemetry

from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

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
INTRO = ("# zsl-app\nGeneralized zero-shot classification: classes the model has seen photos of, classes it knows "
         "only by their attributes, and classes you describe yourself.")
READ_ONLY = ("**Read-only demo:** classify photos and browse the classes; adding classes, training and changing "
             "the model are switched off.")


def build_app(predictor: Recognizer, *, data_root=None, examples_dir=None, runs_dir=None,
              read_only: bool = False) -> gr.Blocks:
    """The whole app around `predictor`; nothing runs until `launch`.

    `read_only`: every event that changes what other visitors see (classes, training, the active
    model) refuses, and its controls are hidden."""
    with gr.Blocks(title="zsl-app", analytics_enabled=False) as demo:
        state = AppState(predictor, data_root=resolve_data_root(data_root),
                         runs_dir=Path(runs_dir) if runs_dir else WEIGHTS_DIR / "runs", uploads=Uploads(demo),
                         read_only=read_only)
        gr.Markdown(INTRO + ("\n\n" + READ_ONLY if read_only else ""))
        predict, classes, train = PredictTab(state), ClassesTab(state), TrainTab(state)
        with gr.Tab("Predict", id="predict"):
            predict.build(examples_dir)
        with gr.Tab("Classes", id="classes"):
            classes.build(predict)
        with gr.Tab("Train", id="train"):
            train.build()
        with gr.Tab("Evaluate", id="evaluate") as evaluate_tab:
            EvaluateTab(state).build(evaluate_tab)
        # Lists are read again on every page load: another visitor may have added a class or trained.
        demo.load(lambda: (*classes.fresh_lists(), gr.Dropdown(choices=train.run_names()), state.model_line()),
                  None, [*classes.lists, train.runs, predict.model_line], api_visibility="private")
    return demo


def launch(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = None, block: bool = True):
    """Queue and launch: never shared, bounded uploads, system fonts."""
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo.launch(server_name=host, server_port=port, share=False, max_file_size=MAX_UPLOAD_BYTES,
                       theme=THEME, prevent_thread_lock=not block, quiet=not block, footer_links=["api"])


def serve(args) -> int:
    """`python app.py`: load the model (--model, else weights/default.json) and serve it."""
    predictor = Recognizer.load(args.model, backbone_weights=args.backbone_weights)
    demo = build_app(predictor, data_root=args.data_root, examples_dir=args.examples, runs_dir=args.out,
                     read_only=args.read_only)
    mode = " read-only" if args.read_only else ""
    print(f"serving {predictor.info['model']}{mode} on http://{args.host}:{args.port}")
    launch(demo, host=args.host, port=args.port)
    return 0
