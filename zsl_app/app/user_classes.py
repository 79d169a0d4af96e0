"""The user classes of one model: checked by its rules, kept in its class file, scored in an overlay."""

import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from zsl_app.core.model import ZSLModel
from zsl_app.storage.checkpoint import paths

from .class_store import FORMAT, ClassStore, registry_path
from .classes import ClassError, ClassRules, UserClass, name_key
from .overlay import ClassOverlay, RowFitter

# Each class's row is fit against every earlier one and a removal refits every later one (~1 s each on a
# laptop CPU, growing with the count), so 20 keeps an add and a removal within about half a minute.
MAX_USER_CLASSES = 20


class UserClasses:
    """The classes users added to one model, as the class file holds them now (any process may change it).

    Removing a class refits every later one, as if the removed class had never been added: each row was
    fit against the rows and synthetic examples of the classes before it."""

    def __init__(self, model: ZSLModel, rules: ClassRules, *, model_id: str, path: str | Path | None = None):
        self.model, self.rules, self.model_id = model, rules, model_id
        self.weights_sha256 = model.meta.get("weights_sha256")  # rows are kept for these weights only
        self.store = ClassStore(path or registry_path(model_id))
        self.fitter = RowFitter(model)
        self.classes: list[UserClass] = []
        self.overlay = ClassOverlay.empty(model)
        self.refresh()

    @property
    def path(self) -> Path:
        return self.store.path

    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def refresh(self) -> None:
        """Take up the class file when any process changed it since this one last read it."""
        if self.store.changed() and self._take_file() and self.weights_sha256:
            self._save_refit()

    def get(self, name) -> UserClass:
        """The user class of that name; ClassError saying why there is none."""
        if not isinstance(name, str):
            raise ClassError(f"a class name is text, got {type(name).__name__}")
        for c in self.classes:
            if name_key(c.name) == name_key(name):
                return c
        if name_key(name) in self.rules.builtin:
            raise ClassError(f"{self.rules.builtin[name_key(name)]!r} is a class of the dataset, not a user class; "
                             f"only classes added with --add-class can be removed")
        count = f"{len(self.classes)} user classes" if self.classes else "no user classes"
        raise ClassError(f"no user class {name!r}; this model has {count} (list them with --list-classes or in "
                         f"the Classes tab)")

    def add(self, user_class: UserClass) -> None:
        """Fit its row against every class there is now and persist; ClassError changes nothing."""
        with self.store.locked():
            self._catch_up()
            self.rules.check_name(user_class.name, self.names())  # another process may have taken it
            if len(self.classes) >= MAX_USER_CLASSES:
                raise ClassError(f"this model already has {len(self.classes)} user classes, the most it keeps; "
                                 f"remove one first (--remove-class NAME or the Classes tab)")
            overlay = self.overlay.plus(user_class, *self.fitter.fit(self.overlay, user_class))
            self._commit(self.classes + [user_class], overlay)

    def remove(self, name: str) -> UserClass:
        """Forget a user class; the ones added after it are refit as if it had never been added."""
        with self.store.locked():
            self._catch_up()
            target = self.get(name)
            i = self.classes.index(target)
            classes = self.classes[:i] + self.classes[i + 1:]
            self._commit(classes, self._fit(self.overlay.first(i), classes[i:]))
        return target

    # --- the file -> classes and rows --------------------------------------------------------------
    def _catch_up(self) -> None:
        """Under the lock: the file as it is now (a refit is saved by the write that follows)."""
        if self.store.changed():
            self._take_file()

    def _take_file(self) -> bool:
        """Install the class file as it is now; True when its rows had to be refit."""
        try:
            return self._take(self.store.read())
        except ClassError:
            self.store.forget()  # refused on every use until it is fixed, never half taken up
            raise

    def _take(self, data: dict) -> bool:
        """Install the file's classes with their stored rows, or refit them all; True when refit."""
        classes = self._check(data["classes"])
        rows = self._rows(data)
        overlay = ClassOverlay.empty(self.model)
        if rows is None:
            overlay = self._fit(overlay, classes)
        else:
            for c, (weight, bias) in zip(classes, rows):
                overlay = overlay.plus(c, weight, bias)
        self.classes, self.overlay = classes, overlay
        return rows is None and bool(classes)

    def _check(self, entries: list[dict]) -> list[UserClass]:
        n = len(self.rules.attribute_names)
        if any(isinstance(e.get("attributes"), list) and len(e["attributes"]) != n for e in entries):
            raise self.store.error(f"it holds classes with a different number of attributes than model "
                                   f"{self.model_id!r} ({n})")
        classes = []
        for i, entry in enumerate(entries):
            try:
                classes.append(self.rules.stored_class(entry, [c.name for c in classes]))
            except ClassError as err:
                raise self.store.error(f"class {i + 1} ({entry.get('name')!r}) is invalid: {err}") from None
        return classes

    def _rows(self, data: dict) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """The stored (weight, bias) of every class when they were fit for these weights, else None."""
        if not self.weights_sha256 or data.get("weights_sha256") != self.weights_sha256:
            return None
        linear = self.model.classifier.linear
        rows = []
        for entry in data["classes"]:
            try:
                weight = np.asarray(entry["row"]["weight"], dtype=np.float32)
                bias = np.float32(entry["row"]["bias"])
            except (KeyError, TypeError, ValueError):
                return None
            if weight.shape != (linear.in_features,) or not (np.isfinite(weight).all() and np.isfinite(bias)):
                return None
            rows.append((torch.from_numpy(weight).to(linear.weight.device),
                         torch.tensor(bias, device=linear.weight.device)))
        return rows

    def _fit(self, overlay: ClassOverlay, classes: list[UserClass]) -> ClassOverlay:
        """The overlay with each class's row fit in turn against everything before it."""
        for c in classes:
            overlay = overlay.plus(c, *self.fitter.fit(overlay, c))
        return overlay

    # --- classes and rows -> the file --------------------------------------------------------------
    def _commit(self, classes: list[UserClass], overlay: ClassOverlay) -> None:
        """Write, then remember; a failed write leaves both file and memory as they were."""
        entries = [{**asdict(c), "row": {"weight": overlay.weight[i].tolist(), "bias": float(overlay.bias[i])}}
                   for i, c in enumerate(classes)]
        self.store.write({"format": FORMAT, "model": self.model_id, "weights_sha256": self.weights_sha256,
                          "classes": entries})
        self.classes, self.overlay = classes, overlay

    def _save_refit(self) -> None:
        """Keep rows just refit (an older file, or other weights) so the next load takes them as they are;
        without write access the app still works, refitting on each load."""
        try:
            with self.store.locked():
                if not self.store.changed():
                    self._commit(self.classes, self.overlay)
        except OSError as err:
            warnings.warn(f"could not save the refit user classes in {self.path} ({err}); they are refit on "
                          f"every load until it can be written", stacklevel=2)


def saved_class_names(checkpoint: str | Path) -> list[str]:
    """Names of the user classes saved for a checkpoint, without loading it."""
    return [c["name"] for c in ClassStore(registry_path(paths(checkpoint)[0].stem)).read()["classes"]]
