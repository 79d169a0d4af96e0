"""The Classes tab: browse the model's classes and their attributes; add and remove classes of your own."""

import gradio as gr
import numpy as np
import pandas as pd

from zsl_app.app.attribute_file import read_attribute_file
from zsl_app.app.classes import ClassError
from zsl_app.storage.data.attribute_names import readable

from .messages import literal, refused
from .predict import PredictTab
from .state import KIND_LABELS, AppState

ZEROS = "(all zeros)"


class ClassesTab:
    """The class table and one class's vector; the add-class editor and the remove button."""

    def __init__(self, state: AppState):
        self.state = state

    def build(self, predict: PredictTab) -> None:
        browser = self._browser()
        if self.state.read_only:
            gr.Markdown("Adding and removing classes is switched off on this server.")
        with gr.Column(visible=not self.state.read_only):
            self._editor(predict, browser)

    def _browser(self) -> list:
        """The searchable class table beside one class's vector; returns [table, chosen class]."""
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    query = gr.Textbox(label="search", placeholder="e.g. warbler", scale=3)
                    kind = gr.Radio(["all", "seen", "unseen", "user-added"], value="all", label="kind", scale=2)
                table = gr.Dataframe(self.list_classes(), label="classes", interactive=False, max_height=420,
                                     elem_id="classes")
            with gr.Column(scale=2):
                first = (self.class_names() or [None])[0]
                chosen = gr.Dropdown(self.class_names(), value=first, label="class", allow_custom_value=True)
                vector = gr.Dataframe(self.class_vector(first), label="its attributes, strongest first",
                                      interactive=False, max_height=420)
        gr.on([query.change, kind.change], self.list_classes, [query, kind], table, api_name="list_classes",
              trigger_mode="always_last")
        table.select(selected_class, None, chosen, api_visibility="private")
        chosen.change(self.class_vector, chosen, vector, api_name="class_attributes")
        return [table, chosen]

    def _editor(self, predict: PredictTab, browser: list) -> None:
        """Add a class from an edited or uploaded vector, remove one; both refresh every class list."""
        gr.Markdown(f"### Add a class\nDescribe it by its attributes on the dataset's scale "
                    f"(0-{self.state.predictor.human_scale_max:g}): start from zeros or a similar class, edit the "
                    f"values, or upload a .csv / .json vector.")
        with gr.Row():
            with gr.Column(scale=2):
                name = gr.Textbox(label="new class name", placeholder="e.g. Painted Bunting hybrid",
                                  elem_id="new-name")
                template = gr.Dropdown([ZEROS] + self.class_names(), value=ZEROS, label="start from",
                                       allow_custom_value=True)
                upload = gr.File(label="or upload a vector (.csv or .json)", file_types=[".csv", ".json"],
                                 elem_id="vector-file")
                add = gr.Button("Add class", variant="primary")
                status = gr.Markdown(elem_id="class-status")
                gr.Markdown("### Remove a user-added class")
                removable = gr.Dropdown(self.class_names("user"), value=None, label="user-added class",
                                        allow_custom_value=True)
                remove = gr.Button("Remove class", variant="stop")
            with gr.Column(scale=3):
                editor = gr.Dataframe(self.template(None), label="attributes of the new class", interactive=True,
                                      static_columns=[0], max_height=480, datatype=["str", "number"],
                                      elem_id="new-vector")
        template.change(self.template, template, editor, api_name="template")
        # preprocess=False: `Uploads` checks the path (see predict); the parser names the user's file.
        upload.upload(self.read_vector, upload, editor, api_name="read_vector", preprocess=False)
        self.lists = [*browser, template, removable]
        for changed in (add.click(self.add_class, [name, editor], status, api_name="add_class"),
                        remove.click(self.remove_class, removable, status, api_name="remove_class")):
            predict.rerun(changed.success(self.fresh_lists, None, self.lists, api_visibility="private"))

    # --- browsing ------------------------------------------------------------------------------
    def list_classes(self, query: str = "", kind: str = "all") -> pd.DataFrame:
        """Every class whose name contains `query` (case and '_' ignored), of one kind or all."""
        words = (query or "").replace("_", " ").lower().split()
        with self.state.lock:
            table = self.state.predictor.class_table()
        rows = [[row["name"], KIND_LABELS[row["kind"]]] for row in table
                if (kind in (None, "", "all") or KIND_LABELS[row["kind"]] == kind)
                and all(w in row["name"].replace("_", " ").lower() for w in words)]
        return pd.DataFrame(rows, columns=["class", "kind"])

    def class_names(self, kind: str | None = None) -> list[str]:
        with self.state.lock:
            return [row["name"] for row in self.state.predictor.class_table() if kind in (None, row["kind"])]

    def fresh_lists(self) -> tuple:
        """Fresh values for the class table and the three class dropdowns."""
        return (self.list_classes(), gr.Dropdown(choices=self.class_names()),
                gr.Dropdown(choices=[ZEROS] + self.class_names()),
                gr.Dropdown(choices=self.class_names("user"), value=None))

    def class_vector(self, name: str | None) -> pd.DataFrame:
        """One class's attributes, strongest first, on the dataset's scale."""
        if not name:
            return pd.DataFrame(columns=["attribute", "value"])
        table = self.template(name)
        return table.sort_values("value", ascending=False, kind="stable", ignore_index=True)

    def template(self, name: str | None) -> pd.DataFrame:
        """The editor's starting vector: zeros or a class's attributes, in attribute order."""
        try:
            with self.state.lock:
                predictor = self.state.predictor
                names = list(predictor.attribute_names)
                values = np.zeros(len(names)) if name in (None, "", ZEROS) else predictor.class_attributes(name)
        except ClassError as err:
            raise refused(str(err), "Unknown class") from err
        values = np.asarray(values, dtype=float)  # float32 would show as 99.16999816894531
        return pd.DataFrame({"attribute": names, "value": np.round(values, 2)})

    def read_vector(self, file: dict | None) -> pd.DataFrame:
        """An uploaded .csv/.json vector -> the editor (a {name: value} file may leave others at 0)."""
        table = self.template(None)
        if not file:
            return table
        path = self.state.uploads.path(file, "attribute file")
        name = path.name
        try:
            values = read_attribute_file(path)
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
        except ClassError as err:  # the parser names the server's copy: show the user's file name only
            raise refused(f"{name}: {str(err).replace(str(path), name)}", "Cannot read the vector") from err
        return table

    # --- changes ---------------------------------------------------------------------------------
    def add_class(self, name: str, table) -> str:
        """Validate the edited vector, add the class (synthesize + refit); nothing changes on an error."""
        self.state.check_writable("adding classes")
        values = editor_values(table)
        try:
            with self.state.lock:
                self.state.predictor.add_class(name, values)
        except ClassError as err:
            raise refused(str(err), "Class not added") from err
        return f"added **{literal(' '.join(name.split()))}**: it now takes part in every prediction."

    def remove_class(self, name: str) -> str:
        self.state.check_writable("removing classes")
        if not name:
            raise refused("choose a user-added class to remove", "Nothing to remove")
        try:
            with self.state.lock:
                self.state.predictor.remove_class(name)
        except ClassError as err:
            raise refused(str(err), "Class not removed") from err
        return f"removed **{literal(name)}**."


def selected_class(evt: gr.SelectData) -> str:
    """A click anywhere in a row of the class table -> that row's class name."""
    return evt.row_value[0]


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
