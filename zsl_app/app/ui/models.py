"""The checkpoints a server can answer with, in one list: the shipped models and the runs trained here.

A choice's value is what the list and the `activate` API carry: "weights/<stem>" for a shipped model,
the bare stem for a run in the runs folder. Only these values are ever turned into a path."""

import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from zsl_app.app.classes import ClassError
from zsl_app.app.predictor import DEFAULT_FILE, default_checkpoint
from zsl_app.app.recognizer import Recognizer
from zsl_app.storage.checkpoint import CheckpointError, paths, read_metadata
from zsl_app.storage.paths import PROJECT_ROOT, WEIGHTS_DIR

from .messages import refused, without_badges

SHIPPED = "weights/"
WHO = ("**Make active** switches the model that answers **for every visitor of this server**, on every tab, until "
       "someone switches again or the server restarts (it then loads the model it was started with).")


@dataclass(frozen=True)
class Checkpoint:
    """One model the list offers."""

    value: str
    stem: Path  # the checkpoint without its .json / .safetensors suffix
    shipped: bool

    @property
    def label(self) -> str:
        if not self.shipped:
            return f"{self.stem.name} · trained here"
        return f"{self.stem.name} · shipped" + (", the default" if self.stem == shipped_default() else "")


def shipped_default() -> Path | None:
    try:
        return default_checkpoint()
    except CheckpointError:
        return None


def complete(folder: Path) -> list[Path]:
    """Model checkpoint stems in `folder` whose weights and metadata are both there, newest first (a fine-tuned
    backbone saved beside its model is no model)."""
    found = [p for p in folder.glob("*.json") if p.name != DEFAULT_FILE and paths(p)[0].is_file() and is_model(p)]
    return [p.with_suffix("") for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def is_model(meta_path: Path) -> bool:
    try:
        read_metadata(meta_path)
    except CheckpointError:
        return False
    return True


def checkpoints(runs_dir: Path) -> list[Checkpoint]:
    """The shipped models (the default first), then the saved runs, newest first."""
    default = shipped_default()
    shipped = sorted(complete(WEIGHTS_DIR), key=lambda p: (p != default, p.name))
    return ([Checkpoint(SHIPPED + p.name, p, True) for p in shipped]
            + [Checkpoint(p.name, p, False) for p in complete(runs_dir)])


def choices(runs_dir: Path) -> list[tuple[str, str]]:
    """(label, value) pairs for a dropdown."""
    return [(c.label, c.value) for c in checkpoints(runs_dir)]


def find(value: str | None, runs_dir: Path) -> Checkpoint | None:
    """The listed checkpoint with this value; None for anything else (never an arbitrary server path)."""
    return next((c for c in checkpoints(runs_dir) if c.value == value), None)


def value_of(stem: Path | None, runs_dir: Path) -> str | None:
    """The list's value for a checkpoint (stem or either file), if it is listed."""
    if stem is None:
        return None
    return next((c.value for c in checkpoints(runs_dir) if stem_of(c.stem) == stem_of(stem)), None)


def stem_of(path: str | Path) -> Path:
    """A checkpoint's absolute stem, however it was named (stem, .json or .safetensors, relative or not)."""
    return paths(path)[0].with_suffix("").resolve()


def located(stem: Path, runs_dir: Path) -> str:
    """Markdown for where a checkpoint lives: its path relative to the project, else its name and folder's role
    (the page never shows a server path outside the project)."""
    stem = Path(stem)
    try:
        return f"`{stem.resolve().relative_to(PROJECT_ROOT)}`"
    except ValueError:
        return f"`{stem.name}` in the runs folder" if stem.parent == Path(runs_dir).resolve() else f"`{stem.name}`"


def describe(stem: Path | None, meta: dict, model_id: str, runs_dir: Path) -> str:
    """Markdown naming exactly which checkpoint answers: where it is, when it was saved, its weights' hash."""
    parts = [located(stem, runs_dir) if stem is not None else f"`{model_id}`"]
    if meta.get("saved_at"):
        parts.append("saved " + saved_time(meta["saved_at"]))
    if meta.get("weights_sha256"):
        parts.append(f"sha256 `{meta['weights_sha256'][:12]}`")
    return " · ".join(parts)


def saved_time(stamp: str) -> str:
    """'2026-12-01T20:58:42Z' -> '2026-12-01 20:58 UTC'."""
    try:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return stamp


class ModelsPanel:
    """The shipped models and the saved runs in one list; "Make active" and the way back to the shipped default."""

    def __init__(self, state):
        self.state = state
        # Made before it is rendered, so that a training shown above it can add its finished run to it.
        self.list = gr.Dropdown(choices(state.runs_dir), value=self.active_value(), label="models", scale=4,
                                elem_id="models", render=False, allow_custom_value=True,  # our refusal speaks
                                info="shipped with the app, then the runs trained on this server, newest first")

    def build(self) -> None:
        gr.Markdown(f"### Models\n{WHO}")
        with gr.Row():
            self.list.render()
            activate = gr.Button("Make active", scale=1)
            default = gr.Button("Back to the shipped default", scale=2)
        self.active = gr.Markdown(elem_id="active-model")
        chosen = activate.click(self.activate, self.list, self.active, api_name="activate")
        back = default.click(self.activate_default, None, [self.list, self.active], api_visibility="private")
        without_badges(chosen, [self.active])
        without_badges(back, [self.list, self.active])
        self.switched = [chosen, back]  # the layout refreshes what depends on the model after each

    def active_value(self) -> str | None:
        return value_of(self.state.checkpoint, self.state.runs_dir)

    def fresh(self) -> gr.Dropdown:
        """The list as it is now (a run may have finished, another visitor may have switched)."""
        return gr.Dropdown(choices=choices(self.state.runs_dir), value=self.active_value())

    def activate(self, value: str | None) -> str:
        """Load a listed checkpoint with its backbone and make it the model every tab uses, for every visitor."""
        self.state.check_writable("changing the active model")
        found = find(value, self.state.runs_dir)
        if found is None:
            raise refused(f"no model {value!r} in the list; choose a shipped model or a saved run", "No such model")
        try:
            predictor = Recognizer.load(found.stem)
        except (CheckpointError, ClassError, ValueError) as err:
            raise refused(f"cannot use {found.stem.name}: {err}", "Model not activated") from err
        self.state.activate(predictor, found.stem)
        return f"active model, for every visitor: {self.state.checkpoint_text()}"

    def activate_default(self) -> tuple:
        default = shipped_default()
        value = value_of(default, self.state.runs_dir)
        if value is None:
            raise refused("this app has no shipped default model (weights/default.json)", "No default")
        return gr.Dropdown(value=value), self.activate(value)
