"""The Classes tab: browse the model's classes and their attributes; add and remove classes of your own."""

import functools

import gradio as gr
import numpy as np
import pandas as pd

from zsl_app.app.attribute_file import read_attribute_file
from zsl_app.app.classes import ClassError
from zsl_app.app.names import display_name, normalised, search_text, sort_key
from zsl_app.storage.data.attribute_names import readable

from . import glossary
from .messages import literal, refused, without_badges
from .predict import PredictTab, known
from .state import KIND_LABELS, AppState

ZEROS = "(all zeros)"
PART_SEPARATOR = ": "  # "crown color: red" in the search across part groups


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
                    query = gr.Textbox(label="search", placeholder="e.g. warbler, white-eyed or 156", scale=3,
                                       elem_id="class-search")
                    kind = gr.Radio(["all", "seen", "unseen", "user-added"], value="all", label="kind", scale=2,
                                    info=glossary.KINDS)
                table = gr.Dataframe(self.list_classes(), label="classes, A to Z", interactive=False, max_height=420,
                                     elem_id="classes")
            with gr.Column(scale=2):
                first = (self.class_choices() or [(None, None)])[0][1]
                chosen = gr.Dropdown(self.class_choices(), value=first, label="class", allow_custom_value=True,
                                     info="type to search; or click a row of the table")
                vector = gr.Dataframe(self.class_vector(first), label="its attributes, strongest first",
                                      interactive=False, max_height=420)
        gr.on([query.change, kind.change], self.list_classes, [query, kind], table, api_name="list_classes",
              trigger_mode="always_last")
        table.select(selected_class, None, chosen, api_visibility="private")
        chosen.change(self.class_vector, chosen, vector, api_name="class_attributes")
        self.filters = [query, kind]
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
                template = gr.Dropdown([(ZEROS, ZEROS)] + self.class_choices(), value=ZEROS, label="start from",
                                       allow_custom_value=True, info="type to search; the descriptions below start "
                                       "from it too")
                upload = gr.File(label="or upload a vector (.csv or .json)", file_types=[".csv", ".json"],
                                 elem_id="vector-file")
                add = gr.Button("Add class", variant="primary")
                status = gr.Markdown(elem_id="class-status")
                gr.Markdown("### Remove a user-added class")
                removable = gr.Dropdown(self.class_choices("user"), value=None, label="user-added class",
                                        allow_custom_value=True)
                remove = gr.Button("Remove class", variant="stop")
            with gr.Column(scale=3):
                editor = gr.Dataframe(self.template(None), label="attributes of the new class", interactive=True,
                                      static_columns=[0], max_height=480, datatype=["str", "number"],
                                      elem_id="new-vector")
        examples = gr.State([])  # features of the photos the editor was last read from: they join the class
        self._describers(template, editor, examples)
        template.change(dropping_examples(self.template), template, [editor, examples], api_name="template")
        # preprocess=False: `Uploads` checks the path (see predict); the parser names the user's file.
        read = upload.upload(dropping_examples(self.read_vector), upload, [editor, examples], api_name="read_vector",
                             preprocess=False)
        without_badges(read, [editor])
        self.lists = [*browser, template, removable]
        for changed in (add.click(self.add_class, [name, editor, examples], status, api_name="add_class"),
                        remove.click(self.remove_class, removable, status, api_name="remove_class")):
            without_badges(changed, [status])
            predict.rerun(changed.success(self.fresh_lists, self.filters, self.lists, api_visibility="private"))

    def _describers(self, like, editor, examples) -> None:
        """Three ways to fill the editor as people describe a class: in words, from photos (whose features are
        kept in `examples` until another way fills the editor), by its parts."""
        gr.Markdown(f"### Or describe it\n{glossary.DESCRIBE}")
        with gr.Tabs():
            with gr.Tab("in words"):
                text = gr.Textbox(label="description", lines=2, elem_id="describe-text",
                                  placeholder="e.g. small, red crown, black wings, white belly, short cone-shaped bill")
                words = gr.Button("Read", elem_id="read-words")
                understood = gr.Dataframe(understood_rows([]), label="understood as", interactive=False,
                                          elem_id="understood")
                unknown = gr.Markdown(elem_id="not-understood")
            with gr.Tab("from photos"):
                photos = gr.File(label="1-5 photos of the class", file_count="multiple", file_types=["image"],
                                 elem_id="class-photos")
                read = gr.Button("Read photos")
                photo_note = gr.Markdown(elem_id="photo-reading")
            with gr.Tab("by parts"):
                groups = self.state.predictor.vocabulary.groups
                top = self.state.predictor.human_scale_max
                with gr.Row():
                    searched = gr.Dropdown([part_value(g.name, t.value) for g in groups for t in g.terms], value=[],
                                           multiselect=True, label="search every part", elem_id="search-parts",
                                           info="type a colour, a shape or a part: values of any group")
                    strength = gr.Slider(0, top, value=top, step=1, label="how strongly", elem_id="parts-strength",
                                         info=f"the value the picked attributes get ({top:g}: fully)")
                with gr.Row():
                    picks = [gr.Dropdown([t.value for t in g.terms], value=[], multiselect=True, label=g.name,
                                         min_width=200) for g in groups]
                parts = gr.Button("Set parts", elem_id="set-parts")
        describers = [
            words.click(dropping_examples(self.describe_words), [text, like], [editor, understood, unknown, examples],
                        api_name="describe_words"),
            read.click(self.read_photos, photos, [editor, photo_note, examples], api_name="read_photos",
                       preprocess=False),
            parts.click(dropping_examples(self.describe_parts_of(groups)), [like, strength, searched, *picks],
                        [editor, examples], api_name="describe_parts")]
        for event, outputs in zip(describers, ([editor, understood, unknown], [editor, photo_note], [editor])):
            without_badges(event, outputs)

    # --- browsing ------------------------------------------------------------------------------
    def list_classes(self, query: str = "", kind: str = "all") -> pd.DataFrame:
        """The classes whose shown name or id holds every word of `query` (case, '_' and '-' ignored), of one
        kind or all, A to Z: [shown name, kind, id]."""
        words = normalised(query or "").split()
        rows = [[display_name(row["name"], row["kind"]), KIND_LABELS[row["kind"]], row["name"]]
                for row in self.classes()
                if (kind in (None, "", "all") or KIND_LABELS[row["kind"]] == kind)
                and all(w in search_text(row["name"], row["kind"]) for w in words)]
        return pd.DataFrame(rows, columns=["class", "kind", "id"])

    def classes(self) -> list[dict]:
        """Every class as {name, kind}, A to Z by the name shown."""
        with self.state.lock:
            table = self.state.predictor.class_table()
        return sorted(table, key=lambda row: sort_key(row["name"], row["kind"]))

    def class_choices(self, kind: str | None = None) -> list[tuple[str, str]]:
        """(shown name, id) pairs for a dropdown, A to Z: the page shows the name, events receive the id."""
        return [(display_name(row["name"], row["kind"]), row["name"]) for row in self.classes()
                if kind in (None, row["kind"])]

    def fresh_lists(self, query: str = "", kind: str = "all") -> tuple:
        """Fresh values for the class table (under its current filter) and the three class dropdowns."""
        return (self.list_classes(query, kind), gr.Dropdown(choices=self.class_choices()),
                gr.Dropdown(choices=[(ZEROS, ZEROS)] + self.class_choices()),
                gr.Dropdown(choices=self.class_choices("user"), value=None))

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

    # --- describing ------------------------------------------------------------------------------
    def describe_words(self, text: str, like: str | None):
        """A description in words -> (the editor's vector, which phrase set which attributes, the words not
        understood); refused, changing nothing, when it names no attribute."""
        try:
            with self.state.lock:
                found = self.state.predictor.describe_words(text or "", like=start_class(like))
        except ClassError as err:
            raise refused(str(err), "Description not understood") from err
        missed = ("every word understood" if not found.unknown else
                  "not understood: " + ", ".join(f"*{literal(w)}*" for w in found.unknown))
        return self.editor_table(found.attributes), understood_rows(found.matches), missed

    def read_photos(self, files: list | None):
        """1-5 uploaded photos of one class -> (the editor's vector read in them, whether each looks like
        what the model knows)."""
        payloads = files if isinstance(files, list) else [files] if files else []
        photos = [self.state.uploads.read(p, "photo") for p in payloads]
        try:
            with self.state.lock:
                reading = self.state.predictor.read_photos(photos)
        except ClassError as err:
            raise refused(str(err), "Photos not read") from err
        notes = [f"{literal(photo.name)}: " + ("domain not checked" if d is None else domain_words(d))
                 for photo, d in zip(photos, reading.domain)]
        kept = "this photo" if len(photos) == 1 else f"these {len(photos)} photos"
        notes.append(f"Added now, the class keeps {kept} as examples beside the attributes above (edit them "
                     f"freely); filling the editor another way drops the photos.")
        return self.editor_table(reading.attributes), "\n\n".join(notes), reading.features.tolist()

    def describe_parts_of(self, groups: list):
        """The event for the parts tab: the class to start from, how strongly, the values found by the search
        ("group: value") and one list of values per group of `groups`."""
        def describe_parts(like: str | None, strength: float, searched: list[str] | None, *picked) -> pd.DataFrame:
            named = [(g.name, v) for g, values in zip(groups, picked) for v in values or []]
            named += [tuple(entry.split(PART_SEPARATOR, 1)) for entry in searched or []]
            if not named:
                raise refused("pick at least one value of one part", "Nothing picked")
            parts = {}
            for group, value in named:
                parts.setdefault(group, {})[value] = float(strength)
            try:
                with self.state.lock:
                    vector = self.state.predictor.describe_parts(parts, like=start_class(like))
            except ClassError as err:
                raise refused(str(err), "Parts not set") from err
            return self.editor_table(vector)
        return describe_parts

    def editor_table(self, values) -> pd.DataFrame:
        """A vector (A,) on the dataset's scale as the editor shows it."""
        table = self.template(None)
        table["value"] = np.round(np.asarray(values, dtype=float), 2)
        return table

    # --- changes ---------------------------------------------------------------------------------
    def add_class(self, name: str, table, examples: list | None = None) -> str:
        """Validate the edited vector, add the class (synthesize + refit) with the features of the photos it was
        read from, if any; nothing changes on an error."""
        self.state.check_writable("adding classes")
        values = editor_values(table)
        try:
            with self.state.lock:
                self.state.predictor.add_class(name, values, examples=examples or ())
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


def dropping_examples(fill):
    """An event that fills the editor without photos, with [] for the examples state after its outputs: the
    photos read before no longer join the class."""
    @functools.wraps(fill)
    def filled(*args):
        out = fill(*args)
        return (*out, []) if isinstance(out, tuple) else (out, [])
    return filled


def part_value(group: str, value: str) -> str:
    """How the search across groups names a value: "crown color: red"."""
    return f"{group}{PART_SEPARATOR}{value}"


def start_class(name: str | None) -> str | None:
    """The "start from" choice as the class a description starts from; None: the typical seen class."""
    return None if name in (None, "", ZEROS) else name


def understood_rows(matches: list) -> pd.DataFrame:
    """Which phrase of a description set which attributes, at what strength."""
    return pd.DataFrame([[m.phrase, ", ".join(m.attributes), m.strength] for m in matches],
                        columns=["phrase", "attributes", "strength"])


def domain_words(domain) -> str:
    """Whether one photo looks like what the model knows, in a few words."""
    what = known(domain)
    return f"looks like {what}" if domain.in_domain else f"**does not look like {what}**: its reading is a guess"


def selected_class(evt: gr.SelectData) -> str:
    """A click anywhere in a row of the class table -> that row's class id."""
    return evt.row_value[2]


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
