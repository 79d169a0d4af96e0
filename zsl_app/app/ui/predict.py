"""The Predict tab: a photo in; the top classes and the attributes the model reads in it out."""

from pathlib import Path

import gradio as gr
import pandas as pd

from zsl_app.app.names import display_name
from zsl_app.app.photos import photos_in
from zsl_app.storage.images import ImageError
from zsl_app.storage.paths import PROJECT_ROOT

from . import glossary
from .messages import refused
from .state import KIND_LABELS, AppState

TOP = 5
EXAMPLES_DIR = PROJECT_ROOT / "assets" / "examples"


class PredictTab:
    """The photo, the top-5 label, the model line and the two attribute tables."""

    def __init__(self, state: AppState):
        self.state = state

    def build(self, examples_dir=None) -> None:
        with gr.Row():
            with gr.Column(scale=2):
                self.photo = gr.Image(label="photo", type="filepath", sources=["upload", "clipboard"], height=340,
                                      elem_id="photo")
                classify = gr.Button("Classify", variant="primary")
                photos = example_photos(examples_dir)
                if photos:
                    gr.Examples([[p] for p in photos], inputs=self.photo, label="examples")
            with gr.Column(scale=3):
                top = gr.Label(label=f"top {TOP}", num_top_classes=TOP, elem_id="top5")
                self.model_line = gr.Markdown(self.state.model_line(), label="model", elem_id="model-line")
                with gr.Accordion("the answer as JSON (class ids, for scripts)", open=False):
                    gr.Markdown(glossary.RANKED)
                    ranked = gr.JSON(label="ranked")
        gr.Markdown("### Why\nThe attributes the model reads in the photo, beside those of its top class "
                    f"(scale 0-{self.state.predictor.human_scale_max:g}).")
        with gr.Row():
            read = gr.Dataframe(strength_rows([], 1), label="read in the photo", interactive=False,
                                elem_id="read")
            has = gr.Dataframe(strength_rows([], 1), label="what the top class has (its attribute vector)",
                               interactive=False, elem_id="has")
        self.outputs = [top, ranked, self.model_line, read, has]
        # The spinner shows on the top 5 only; a refused photo empties every output (the toast says why), so
        # no output keeps an error badge or the answer for an earlier photo.
        event = gr.on([self.photo.change, classify.click], self.predict, inputs=self.photo, outputs=self.outputs,
                      api_name="predict", preprocess=False, show_progress_on=[top])
        event.failure(self.empty, None, self.outputs, api_visibility="private", show_progress="hidden")

    def rerun(self, event) -> None:
        """Predict the photo shown again after `event` (a class was added or removed)."""
        event.then(self.predict, self.photo, self.outputs, api_visibility="private", preprocess=False,
                   show_progress_on=[self.outputs[0]])

    def empty(self) -> tuple:
        """The outputs with no photo: nothing ranked, the model line, attribute tables with headers only."""
        return None, None, self.state.model_line(), strength_rows([], 1), strength_rows([], 1)

    def predict(self, photo: dict | None):
        """Uploaded photo -> (top-5 label, ranked list, model line, attributes read, top-1 class attributes).

        preprocess=False: the photo is decoded here, so a non-image gets a message naming the file
        (gradio's own decoding fails anonymously); `Uploads` checks the path instead of gradio."""
        if photo is None:
            return self.empty()
        source = self.state.uploads.read(photo, "photo")
        try:
            with self.state.lock:
                predictor = self.state.predictor
                result, scale = predictor.predict(source, top=TOP), predictor.human_scale_max
        except ImageError as err:
            raise refused(str(err), "Not a usable photo") from err
        label = {f"{display_name(r.name, r.kind)} ({KIND_LABELS[r.kind]})": r.probability for r in result.ranked}
        ranked = [{"name": r.name, "display_name": display_name(r.name, r.kind), "probability": round(r.probability, 6),
                   "kind": r.kind} for r in result.ranked]
        line = domain_notice(result.domain) + self.state.model_line(result.seconds)
        return (label, ranked, line, strength_rows(result.attributes, scale),
                strength_rows(result.class_attributes, scale))


def domain_notice(domain) -> str:
    """A notice heading the model line when the photo does not look like what the model knows, else ""."""
    if domain is None or domain.in_domain:
        return ""
    cue = f" (P({domain.domain}) {domain.probability:.0%})" if domain.probability is not None and domain.domain else ""
    return (f"⚠️ **This photo does not look like {known(domain)}{cue}**: the classes shown are the model's closest "
            "guesses, not an identification.\n\n")


def known(domain) -> str:
    """What the model knows, as a photo may look like it: "a bird" for CUB."""
    return f"a {domain.domain}" if domain.domain else "what this model knows"


def strength_rows(pairs: list[tuple[str, float]], scale: float) -> pd.DataFrame:
    """(attribute, strength) pairs with a text bar scaled to the dataset's maximum."""
    bars = ["█" * max(0, round(10 * v / scale)) if scale else "" for _, v in pairs]
    return pd.DataFrame({"attribute": [n for n, _ in pairs], "strength": [v for _, v in pairs], "": bars})


def example_photos(examples_dir=None) -> list[str]:
    folder = Path(examples_dir) if examples_dir else EXAMPLES_DIR
    if not folder.is_dir():
        return []
    return [str(p) for p in photos_in(folder)]
