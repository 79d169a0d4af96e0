"""The web app: Predict, Classes, Train and Evaluate tabs over one active model (`build_app`, `serve`)."""

import dataclasses
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read when gradio is imported: no telemetry

from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from zsl_app.app.predictor import Predictor  # noqa: E402
from zsl_app.core.heads import HEADS, head_names  # noqa: E402
from zsl_app.storage.paths import PROJECT_ROOT, WEIGHTS_DIR, resolve_data_root  # noqa: E402

from .handlers import METRIC_HEADERS, ZEROS, AppState, loss_frame, strength_rows, train_request  # noqa: E402

EXAMPLES_DIR = PROJECT_ROOT / "assets" / "examples"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
MAX_FILE_SIZE = "20mb"  # far above any photo; refuses uploads meant to fill the disk
CONCURRENCY = 4  # events of one kind running at once (training has its own two slots)
QUEUE_SIZE = 64  # requests waiting beyond that are refused with "queue full"
# System fonts: the default theme fetches Google Fonts, which an offline machine cannot reach.
THEME = gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def build_app(predictor: Predictor, *, data_root=None, examples_dir=None, runs_dir=None) -> gr.Blocks:
    """The whole app around `predictor`; nothing runs until `launch`."""
    state = AppState(predictor, data_root=resolve_data_root(data_root),
                     runs_dir=Path(runs_dir) if runs_dir else WEIGHTS_DIR / "runs")
    with gr.Blocks(title="zsl-app", analytics_enabled=False) as demo:
        gr.Markdown("# zsl-app\nGeneralized zero-shot classification: classes the model has seen photos of, "
                    "classes it knows only by their attributes, and classes you describe yourself.")
        with gr.Tab("Predict", id="predict"):
            photo, shown = _predict_tab(state, examples_dir)
        with gr.Tab("Classes", id="classes"):
            lists = _classes_tab(state, photo, shown)
        with gr.Tab("Train", id="train"):
            runs = _train_tab(state)
        with gr.Tab("Evaluate", id="evaluate") as evaluate_tab:
            _evaluate_tab(state, evaluate_tab)
        # Lists are read again on every page load: another visitor may have added a class or trained.
        demo.load(lambda: (*class_lists(state), gr.Dropdown(choices=state.runs()), state.model_line()),
                  None, [*lists, runs, shown[2]], api_visibility="private")
    return demo


def _predict_tab(state: AppState, examples_dir) -> tuple[gr.Image, list]:
    with gr.Row():
        with gr.Column(scale=2):
            photo = gr.Image(label="photo", type="filepath", sources=["upload", "clipboard"], height=340,
                             elem_id="photo")
            classify = gr.Button("Classify", variant="primary")
            photos = example_photos(examples_dir)
            if photos:
                gr.Examples([[p] for p in photos], inputs=photo, label="examples")
        with gr.Column(scale=3):
            top = gr.Label(label="top 5", num_top_classes=5, elem_id="top5")
            model_line = gr.Markdown(state.model_line(), label="model")
            with gr.Accordion("ranked classes (JSON)", open=False):
                ranked = gr.JSON(label="ranked")
    gr.Markdown("### Why\nThe attributes the model reads in the photo, beside those of its top class "
                f"(scale 0-{state.predictor.human_scale_max:g}).")
    with gr.Row():
        read = gr.Dataframe(strength_rows([], 1), label="read in the photo", interactive=False)
        has = gr.Dataframe(strength_rows([], 1), label="what the top class has (its attribute vector)",
                           interactive=False)
    # preprocess=False: the handler decodes the upload itself, so a non-image gets a clear message
    # (gradio's own decoding would fail with an anonymous error); the path is still checked by gradio.
    shown = [top, ranked, model_line, read, has]
    gr.on([photo.change, classify.click], state.predict, inputs=photo, outputs=shown, api_name="predict",
          preprocess=False)
    return photo, shown


def _classes_tab(state: AppState, photo: gr.Image, shown: list) -> list:
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                query = gr.Textbox(label="search", placeholder="e.g. warbler", scale=3)
                kind = gr.Radio(["all", "seen", "unseen", "user-added"], value="all", label="kind", scale=2)
            table = gr.Dataframe(state.list_classes(), label="classes", interactive=False, max_height=420,
                                 elem_id="classes")
        with gr.Column(scale=2):
            first = (state.class_names() or [None])[0]
            chosen = gr.Dropdown(state.class_names(), value=first, label="class", allow_custom_value=True)
            vector = gr.Dataframe(state.class_vector(first), label="its attributes, strongest first",
                                  interactive=False, max_height=420)
    gr.on([query.change, kind.change], state.list_classes, [query, kind], table, api_name="list_classes",
          trigger_mode="always_last")
    table.select(selected_class, None, chosen, api_visibility="private")
    chosen.change(state.class_vector, chosen, vector, api_name="class_attributes")

    gr.Markdown(f"### Add a class\nDescribe it by its attributes on the dataset's scale "
                f"(0-{state.predictor.human_scale_max:g}): start from zeros or a similar class, edit the "
                f"values, or upload a .csv / .json vector.")
    with gr.Row():
        with gr.Column(scale=2):
            name = gr.Textbox(label="new class name", placeholder="e.g. Painted Bunting hybrid",
                              elem_id="new-name")
            template = gr.Dropdown([ZEROS] + state.class_names(), value=ZEROS, label="start from",
                                   allow_custom_value=True)
            upload = gr.File(label="or upload a vector (.csv or .json)", file_types=[".csv", ".json"],
                             elem_id="vector-file")
            add = gr.Button("Add class", variant="primary")
            status = gr.Markdown(elem_id="class-status")
            gr.Markdown("### Remove a user-added class")
            removable = gr.Dropdown(state.class_names("user"), value=None, label="user-added class",
                                    allow_custom_value=True)
            remove = gr.Button("Remove class", variant="stop")
        with gr.Column(scale=3):
            editor = gr.Dataframe(state.template(None), label="attributes of the new class", interactive=True,
                                  static_columns=[0], max_height=480, datatype=["str", "number"],
                                  elem_id="new-vector")
    template.change(state.template, template, editor, api_name="template")
    upload.upload(state.read_vector, upload, editor, api_name="read_vector")

    lists = [table, chosen, template, removable]
    add.click(state.add_class, [name, editor], status, api_name="add_class").success(
        lambda: class_lists(state), None, lists, api_visibility="private").then(
        state.predict, photo, shown, api_visibility="private", preprocess=False)  # the new class at once
    remove.click(state.remove_class, removable, status, api_name="remove_class").success(
        lambda: class_lists(state), None, lists, api_visibility="private").then(
        state.predict, photo, shown, api_visibility="private", preprocess=False)
    return lists


def class_lists(state: AppState) -> tuple:
    """Fresh values for the class table and the three class dropdowns."""
    return (state.list_classes(), gr.Dropdown(choices=state.class_names()),
            gr.Dropdown(choices=[ZEROS] + state.class_names()),
            gr.Dropdown(choices=state.class_names("user"), value=None))


def selected_class(evt: gr.SelectData) -> str:
    """A click anywhere in a row of the class table -> that row's class name."""
    return evt.row_value[0]


def _train_tab(state: AppState) -> gr.Dropdown:
    datasets = state.datasets()
    first = datasets[0] if datasets else None
    found = state.features(first)
    method = "vae-cflow" if "vae-cflow" in head_names() else head_names()[0]
    gr.Markdown(f"Train on the benchmarks found under `{state.data_root}`: the honest protocol selects on a "
                f"class-disjoint validation split, retrains on trainval and tests once. One training at a time; "
                f"predictions keep working meanwhile.")
    with gr.Row():
        dataset = gr.Dropdown(datasets, value=first, label="dataset")
        features = gr.Dropdown(found, value=found[0] if found else None, label="features")
        head = gr.Dropdown(head_names(), value=method, label="head")
    with gr.Row():
        length, temperature, samples = head_fields(method, first)
        seed = gr.Number(0, label="seed", precision=0)
        classifier_epochs = gr.Number(25, label="classifier epochs", precision=0, minimum=1)
        select = gr.Checkbox(True, label="select on validation")
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
        runs = gr.Dropdown(state.runs(), value=None, label=f"saved runs in {state.runs_dir}", scale=3,
                           allow_custom_value=True)
        activate = gr.Button("Make active", scale=1)
    active = gr.Markdown()

    dataset.change(lambda d: gr.Dropdown(choices=state.features(d), value=(state.features(d) or [None])[0]),
                   dataset, features, api_visibility="private")
    gr.on([head.change, dataset.change], lambda h, d: head_fields(h, d, render=False), [head, dataset],
          [length, temperature, samples], api_visibility="private")

    def train(dataset, features, method, length, seed, temperature, samples, classifier_epochs, select,
              progress=gr.Progress()):
        request = train_request(dataset, features, method, length, seed, temperature, samples,
                                classifier_epochs, select)
        yield from state.train(request, progress)

    # Two slots: one for the running training, one to refuse a second request at once (AppState.job's
    # lock) rather than queue it behind a run of many minutes.
    start.click(train, [dataset, features, head, length, seed, temperature, samples, classifier_epochs, select],
                [status, curve, results, runs], api_name="train", concurrency_limit=2, concurrency_id="train")
    cancel.click(state.cancel, None, status, api_name="cancel_training", queue=False)
    activate.click(state.activate, runs, active, api_name="activate")
    return runs


def head_fields(method: str, dataset: str | None, *, render: bool = True):
    """Length, temperature and samples-per-class inputs with the head's (dataset) defaults."""
    cls = HEADS.get(method)
    config = cls.Config(**cls.dataset_defaults.get((dataset or "").upper(), {}))
    fields = {f.name for f in dataclasses.fields(config)}
    return (gr.Number(getattr(config, cls.length_field), label=f"{cls.length_field} (training length)",
                      precision=0, minimum=1, render=render),
            gr.Number(0, label="temperature T (0: chosen on validation)", minimum=0,
                      interactive="temperature" in fields, render=render),
            gr.Number(config.unseen_samples, label="synthetic samples per unseen class", precision=0, minimum=1,
                      render=render))


def _evaluate_tab(state: AppState, tab: gr.Tab) -> None:
    gr.Markdown("U/S/H/ZSL of the active model (saved with it, and recomputed when its features are under "
                "the data root), each class's accuracy, and how its synthetic features sit beside real ones.")
    run = gr.Button("Evaluate the active model", variant="primary")
    note = gr.Markdown(elem_id="evaluate-note")
    metrics = gr.Dataframe(headers=METRIC_HEADERS, label="U / S / H / ZSL (%)", interactive=False)
    per_class = gr.Plot(label="per-class accuracy", show_label=False)  # the figures carry their titles
    projection = gr.Plot(label="real vs synthetic features of unseen classes", show_label=False)
    gr.on([tab.select, run.click], state.evaluate, None, [metrics, per_class, projection, note],
          api_name="evaluate")


def example_photos(examples_dir=None) -> list[str]:
    folder = Path(examples_dir) if examples_dir else EXAMPLES_DIR
    if not folder.is_dir():
        return []
    return [str(p) for p in sorted(folder.iterdir()) if p.suffix.lower() in PHOTO_SUFFIXES]


def launch(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = None, block: bool = True):
    """Queue and launch: never shared, bounded uploads, system fonts."""
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo.launch(server_name=host, server_port=port, share=False, max_file_size=MAX_FILE_SIZE,
                       theme=THEME, prevent_thread_lock=not block, quiet=not block, footer_links=["api"])


def serve(args) -> int:
    """`python app.py`: load the model (--model, else weights/default.json) and serve it."""
    predictor = Predictor.load(args.model, backbone_weights=args.backbone_weights)
    demo = build_app(predictor, data_root=args.data_root, examples_dir=args.examples, runs_dir=args.out)
    print(f"serving {predictor.info['model']} on http://{args.host}:{args.port}")
    launch(demo, host=args.host, port=args.port)
    return 0
