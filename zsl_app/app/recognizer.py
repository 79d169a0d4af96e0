"""The app's one object: a trained model and its backbone, with the user's classes beside it."""

import time
from pathlib import Path

import numpy as np

from zsl_app.core.model import ZSLModel

from .classes import ClassError, ClassRules, keys_of, name_key
from .describe import Description, Lexicon
from .photo_classes import PhotoReading, read_photos
from .predictor import PredictResult, Predictor, Ranked
from .user_classes import UserClasses
from .vocabulary import Vocabulary

TOP_ATTRIBUTES = 10


class Recognizer:
    """Predicts over the model's classes and the user's, and adds or removes the user's; the model itself
    never changes, so evaluation reads `model` as trained."""

    def __init__(self, predictor: Predictor, *, classes_path: str | Path | None = None):
        self._predictor = predictor
        model = predictor.model
        self.attribute_names = predictor.attribute_names
        self.human_scale_max = predictor.scale.high
        self.info = predictor.info
        self._rules = ClassRules(attribute_names=self.attribute_names, scale=predictor.scale,
                                 builtin=model.class_names, feature_dim=len(model.scaler.low))
        self._classes = UserClasses(model, self._rules, model_id=predictor.model_id, path=classes_path)
        self.vocabulary = Vocabulary(self.attribute_names)
        self._lexicon = Lexicon.for_dataset(self.vocabulary, model.meta.get("dataset", ""))

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, *, backbone_weights=None, device="cpu") -> "Recognizer":
        """Load a checkpoint (None: weights/default.json) with its backbone and its user classes."""
        return cls(Predictor.load(checkpoint, backbone_weights=backbone_weights, device=device))

    @property
    def model(self) -> ZSLModel:
        """The trained model as loaded, without the user's classes."""
        return self._predictor.model

    @property
    def classes_path(self) -> Path:
        """The file the user classes of this model are kept in."""
        return self._classes.path

    # --- prediction ----------------------------------------------------------------------------
    def predict(self, image, top: int = 5) -> PredictResult:
        """A photo (path, bytes, PIL image or array) -> the top classes; ImageError on a bad image."""
        started = time.perf_counter()
        features, imagenet_logits = self._predictor.look(image)
        return self._result(features, top, started, imagenet_logits)

    def predict_features(self, features: np.ndarray, top: int = 5) -> PredictResult:
        """Raw backbone features (D,) -> the top classes."""
        started = time.perf_counter()
        features = self._predictor.check_features(features)
        return self._result(features, top, started, self._predictor.imagenet_logits(features))

    def _result(self, features: np.ndarray, top: int, started: float, imagenet_logits) -> PredictResult:
        self._classes.refresh()
        overlay = self._classes.overlay
        probs = self._predictor.probabilities(features[None], overlay)[0]  # (C + K,)
        names = self.model.class_names + list(overlay.names)
        kinds = self.model.class_kinds + ["user"] * len(overlay)
        order = np.argsort(-probs, kind="stable")[:max(1, top)]
        ranked = [Ranked(names[i], float(probs[i]), kinds[i]) for i in order]
        return PredictResult(ranked, self._strongest(self._predictor.read_attributes(features)),
                             self._strongest(self.class_attributes(ranked[0].name)),
                             time.perf_counter() - started, self._predictor.domain(features, imagenet_logits))

    def _strongest(self, values: np.ndarray) -> list[tuple[str, float]]:
        order = np.argsort(-values, kind="stable")[:TOP_ATTRIBUTES]
        return [(self.attribute_names[i], round(float(values[i]), 2)) for i in order]

    # --- classes -------------------------------------------------------------------------------
    def class_table(self) -> list[dict]:
        """Every class the model knows, user classes last."""
        self._classes.refresh()
        return ([{"name": n, "kind": k} for n, k in zip(self.model.class_names, self.model.class_kinds)]
                + [{"name": n, "kind": "user"} for n in self._classes.names()])

    def class_attributes(self, name: str) -> np.ndarray:
        """A class's attribute vector on the dataset's own scale (CUB: 0-100)."""
        key = name_key(name)
        for i, n in enumerate(self.model.class_names):
            if n == name or key in keys_of(n):
                return self._predictor.class_attributes(i)
        self._classes.refresh()
        for c in self._classes.classes:
            if c.name == name or name_key(c.name) == key:
                return np.asarray(c.human, dtype=np.float32)
        raise ClassError(f"the model has no class {name!r}")

    def add_class(self, name: str, attributes, *, normalised: bool = False, examples=()) -> None:
        """Validate, synthesize its features, fit its classifier row, persist; ClassError changes nothing.
        `examples`: features of photos of the class (a PhotoReading's), which then join its synthetic set."""
        self._classes.refresh()
        self._classes.add(self._rules.new_class(name, attributes, normalised=normalised,
                                                existing=self._classes.names(), examples=examples))

    # --- describing a class: by parts, in words, with photos -> a vector to check, edit and add ---------
    def typical_attributes(self) -> np.ndarray:
        """The mean seen-class vector (A,) on the dataset's scale: what a description leaves unsaid."""
        seen = [i for i, k in enumerate(self.model.class_kinds) if k == "seen"]
        return np.mean([self._predictor.class_attributes(i) for i in seen], axis=0)

    def describe_parts(self, parts, *, like: str | None = None) -> np.ndarray:
        """{group: [value, ...]} or {group: {value: strength}} -> a vector (A,) on the dataset's scale: the
        class `like` (else the typical one) with those values set, at the scale's top unless given."""
        return self.vocabulary.vector(parts, self._start(like), self.human_scale_max)

    def describe_words(self, text: str, *, like: str | None = None) -> Description:
        """A description in words -> the attributes it names (as `describe_parts`), which phrases set which
        attributes, and the words not understood; ClassError when it names none."""
        return self._lexicon.describe(text, self._start(like), self.human_scale_max)

    def read_photos(self, images) -> PhotoReading:
        """1-5 photos of one class -> the attributes read in each, the class's vector they make, and whether
        each looks like what the model knows; ClassError naming a photo that cannot be read."""
        return read_photos(self._predictor, images, self.typical_attributes())

    def _start(self, like: str | None) -> np.ndarray:
        return self.typical_attributes() if like is None else self.class_attributes(like)

    def remove_class(self, name: str) -> None:
        """Forget a user class; the ones added after it are refit as if it had never been added."""
        self._classes.remove(name)
