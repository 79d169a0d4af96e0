"""Photo -> backbone -> head.embed -> classifier (+ the classes beside it) -> class probabilities."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zsl_app.core.attribute_scale import scale_of
from zsl_app.core.backbones import BACKBONES, Backbone, backbone_names, create_backbone
from zsl_app.core.domain import DomainScore
from zsl_app.core.model import ZSLModel, softmax
from zsl_app.storage.checkpoint import CheckpointError, load_model, paths, read_metadata
from zsl_app.storage.data.attribute_names import attribute_names
from zsl_app.storage.data.xlsa17 import KNOWN_RECIPES
from zsl_app.storage.finetuned import find_finetuned, load_finetuned
from zsl_app.storage.images import load_image
from zsl_app.storage.paths import WEIGHTS_DIR
from zsl_app.storage.reading_file import Reading, load_reading

from .overlay import ClassOverlay

DEFAULT_FILE = "default.json"  # in weights/: {"default": "<checkpoint stem>"}


@dataclass
class Ranked:
    """One class of a prediction."""

    name: str
    probability: float
    kind: str  # "seen", "unseen" or "user"


@dataclass
class PredictResult:
    """What the app shows for one photo."""

    ranked: list[Ranked]  # top-k, best first
    attributes: list[tuple[str, float]]  # the attributes the model reads in the photo, human scale
    class_attributes: list[tuple[str, float]]  # the top-1 class's strongest attributes, human scale
    seconds: float  # end-to-end latency of this prediction
    domain: DomainScore | None = None  # whether the photo looks like what the model knows; None: not checked


def default_checkpoint(weights_dir: Path = WEIGHTS_DIR) -> Path:
    """The checkpoint named by weights/default.json."""
    path = weights_dir / DEFAULT_FILE
    if not path.is_file():
        raise CheckpointError(f"no default model: {path} is missing. Train one (python app.py --train cub "
                              f"--features effnetlite2 --out weights --half) or pass --model CHECKPOINT")
    try:
        return weights_dir / json.loads(path.read_text(encoding="utf-8"))["default"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} must be JSON like {{\"default\": \"<checkpoint stem>\"}} ({err})") from err


def backbone_of(checkpoint: Path, meta: dict, where, *, weights=None, device="cpu") -> Backbone:
    """The backbone of a checkpoint's feature space: a fine-tune (found beside the checkpoint, in weights/ or
    among the user's fine-tunes by its feature space) or a registered backbone."""
    finetuned = find_finetuned(meta["features"]["feature_space"], [Path(checkpoint).parent])
    if finetuned is not None:
        return load_finetuned(finetuned, device=device)
    return create_backbone(backbone_for(meta, where), weights=weights, device=device)


def backbone_for(meta: dict, where) -> str:
    """The registered backbone that produced a checkpoint's features, or a refusal saying why none can."""
    features = meta["features"]["name"]
    by_features = {BACKBONES.get(n).features_name: n for n in backbone_names()}
    if features in by_features:
        return by_features[features]
    if features in KNOWN_RECIPES:
        raise CheckpointError(
            f"{where} was trained on '{features}' features ({KNOWN_RECIPES[features]}). No backbone of this app "
            f"reproduces that space (torchvision's resnet101 has other weights and preprocessing), so photos "
            f"cannot be classified with it; train on features this app can compute, e.g. --features effnetlite2")
    raise CheckpointError(f"{where} was trained on '{features}' features, which no backbone here produces "
                          f"(known: {', '.join(sorted(by_features))})")


class Predictor:
    """A trained model (never changed) with the backbone of its feature space: photo -> features -> scores."""

    def __init__(self, model: ZSLModel, backbone: Backbone | None, *, model_id: str, reading: Reading | None = None):
        self.model, self.backbone, self.model_id, self.reading = model, backbone, model_id, reading
        self.attribute_names = attribute_names(model.meta.get("dataset", ""), model.attributes.shape[1])
        self.scale, self.norms = scale_of(model.meta, model.attributes)
        self.info = {"model": model_id, "dataset": model.meta.get("dataset"), "method": model.meta.get("method"),
                     "backbone": backbone.name if backbone else None, "feature_space": model.feature_space,
                     "metrics": model.meta.get("metrics")}

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, *, backbone_weights=None, device="cpu") -> "Predictor":
        """Load a checkpoint (None: weights/default.json) with the backbone of its feature space."""
        checkpoint = Path(checkpoint) if checkpoint else default_checkpoint()
        weights_path, meta_path = paths(checkpoint)
        backbone = backbone_of(checkpoint, read_metadata(checkpoint), meta_path, weights=backbone_weights,
                               device=device)
        model = load_model(checkpoint, device=device, feature_space=backbone.recipe)
        reading = load_reading(checkpoint, feature_space=backbone.recipe, attribute_dim=model.attributes.shape[1])
        return cls(model, backbone, model_id=weights_path.stem, reading=reading)

    def features(self, image) -> np.ndarray:
        """A photo (path, bytes, PIL image or array) -> its backbone features (D,); ImageError on a bad image."""
        return self.backbone.embed_images([load_image(image)])[0]

    def look(self, image) -> tuple[np.ndarray, np.ndarray | None]:
        """A photo -> (its features (D,), the backbone's ImageNet logits (1000,) or None); ImageError on a bad image."""
        features, logits = self.backbone.look([load_image(image)])
        return features[0], None if logits is None else logits[0]

    def imagenet_logits(self, features: np.ndarray) -> np.ndarray | None:
        """The backbone's ImageNet logits (1000,) of raw features (D,); None where it has none for them."""
        logits = self.backbone.imagenet_logits(features[None]) if self.backbone else None
        return None if logits is None else logits[0]

    def domain(self, features: np.ndarray, imagenet_logits: np.ndarray | None) -> DomainScore | None:
        """Whether raw features (D,) look like what the model knows; None for a model without a reading."""
        return self.reading.domain.score(features, imagenet_logits) if self.reading else None

    def check_features(self, features) -> np.ndarray:
        """Raw backbone features as float32 (D,); ValueError for another shape."""
        features = np.asarray(features, dtype=np.float32)
        dim = self.model.meta["features"]["dim"]
        if features.shape != (dim,):
            raise ValueError(f"expected one feature vector of shape ({dim},), got {features.shape}")
        return features

    def probabilities(self, features: np.ndarray, overlay: ClassOverlay | None = None) -> np.ndarray:
        """Softmax over the model's classes, then the overlay's (N, C + K), for raw features (N, D);
        calibration lowers the seen classes only."""
        embedded = self.model.embed(features)
        logits = self.model.logits(embedded)
        if overlay is not None and len(overlay):
            logits = np.concatenate([logits, overlay.logits(embedded).cpu().numpy()], axis=1)
        return softmax(self.model.calibrate(logits))

    @torch.no_grad()
    def read_attributes(self, features: np.ndarray) -> np.ndarray:
        """The attributes read in raw features (D,), on the dataset's scale (A,): by the model's reading when
        it has one (trained for the purpose), else decoded by its head."""
        if self.reading:
            return self.reading.reader.read(features[None])[0]
        x = torch.from_numpy(self.model.scaler.transform(features[None])).to(self.model.head.device)
        decoded = self.model.head.decode_attributes(x)[0].cpu().numpy()  # (A,) model space
        return np.clip(decoded * self.scale.typical_norm, self.scale.low, self.scale.high)

    def class_attributes(self, i: int) -> np.ndarray:
        """The attribute vector of the model's class i on the dataset's scale (A,)."""
        # clipped: float16 checkpoints round 100 to 100.02
        return np.clip(self.model.attributes[i] * self.norms[i], self.scale.low, self.scale.high)
