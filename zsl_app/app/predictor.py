"""Photo -> backbone -> head.embed -> classifier -> ranked classes; plus the classes users add."""

import json
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zsl_app.core.backbones import BACKBONES, Backbone, backbone_names, create_backbone
from zsl_app.core.classifier import SoftmaxClassifier
from zsl_app.core.model import ZSLModel
from zsl_app.storage.checkpoint import CheckpointError, load_model, paths, read_metadata
from zsl_app.storage.data.attribute_names import attribute_names
from zsl_app.storage.data.xlsa17 import KNOWN_RECIPES
from zsl_app.storage.images import load_image
from zsl_app.storage.paths import WEIGHTS_DIR

from .classes import ClassError, ClassRegistry, HumanScale, UserClass, name_key, read_user_classes, registry_path

DEFAULT_FILE = "default.json"  # in weights/: {"default": "<checkpoint stem>"}
SEED = 0  # of every synthetic set drawn for a refit: the same classes always give the same model
NEGATIVE_SAMPLES = 100  # synthetic examples per other unseen/user class in a refit, weighted up
TOP_ATTRIBUTES = 10
REFIT_STEPS = 60  # most L-BFGS iterations for a new class row (the fit is convex)
# Ridge on the new row. Unregularised, the row grows ~50x the trained rows' norm and its class is
# over-predicted; on CUB, 1e-4 gives a re-added unseen class about its trained row's recall (0.64 vs
# 0.55 on 8 classes) at ~1.4% false positives among other unseen photos (trained row: 0.5%).
REFIT_L2 = 1e-4


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


def human_scale(model: ZSLModel) -> tuple[HumanScale, np.ndarray]:
    """The dataset's attribute scale and each class's norm on it; without them (a checkpoint not
    written by --train) the L2-normalised values are shown as they are."""
    meta = model.meta.get("human_scale")
    if meta is None:
        low = float(min(0.0, model.attributes.min()))
        return HumanScale(low=low, high=1.0, typical_norm=1.0), np.ones(len(model.class_names), np.float32)
    norms = np.asarray(meta["norms"], dtype=np.float32)
    return HumanScale(low=meta["min"], high=meta["max"], typical_norm=float(np.median(norms))), norms


def user_class_names(checkpoint: str | Path) -> list[str]:
    """Names of the user classes saved for a checkpoint, without loading it."""
    return [c.name for c in read_user_classes(registry_path(paths(checkpoint)[0].stem))]


class Predictor:
    """A trained model with the backbone of its feature space and the user's classes."""

    def __init__(self, model: ZSLModel, backbone: Backbone | None, *, model_id: str):
        self.model, self.backbone = model, backbone
        self.attribute_names = attribute_names(model.meta.get("dataset", ""), model.attributes.shape[1])
        self.scale, self.norms = human_scale(model)
        self.human_scale_max = self.scale.high
        builtin = [i for i, k in enumerate(model.class_kinds) if k != "user"]
        self._base = {"rows": builtin, "weight": model.classifier.linear.weight.detach().clone(),
                      "bias": model.classifier.linear.bias.detach().clone()}
        self._synthetic: dict[str, torch.Tensor] = {}
        self.registry = ClassRegistry(model_id, attribute_names=self.attribute_names, scale=self.scale,
                                      builtin=[model.class_names[i] for i in builtin])
        self.info = {"model": model_id, "dataset": model.meta.get("dataset"), "method": model.meta.get("method"),
                     "backbone": backbone.name if backbone else None, "feature_space": model.feature_space,
                     "metrics": model.meta.get("metrics")}
        for user_class in self.registry.classes:
            self._append(user_class)

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, *, backbone_weights=None, device="cpu") -> "Predictor":
        """Load a checkpoint (None: weights/default.json) with the backbone of its feature space."""
        checkpoint = Path(checkpoint) if checkpoint else default_checkpoint()
        weights_path, meta_path = paths(checkpoint)
        backbone = create_backbone(backbone_for(read_metadata(checkpoint), meta_path), weights=backbone_weights,
                                   device=device)
        model = load_model(checkpoint, device=device, feature_space=backbone.recipe)
        return cls(model, backbone, model_id=weights_path.stem)

    # --- prediction ----------------------------------------------------------------------------
    def predict(self, image, top: int = 5) -> PredictResult:
        """A photo (path, bytes, PIL image or array) -> the top classes; ImageError on a bad image."""
        started = time.perf_counter()
        features = self.backbone.embed_images([load_image(image)])[0]
        return self._result(features, top, started)

    def predict_features(self, features: np.ndarray, top: int = 5) -> PredictResult:
        """Raw backbone features (D,) -> the top classes."""
        started = time.perf_counter()
        features = np.asarray(features, dtype=np.float32)
        dim = self.model.meta["features"]["dim"]
        if features.shape != (dim,):
            raise ValueError(f"expected one feature vector of shape ({dim},), got {features.shape}")
        return self._result(features, top, started)

    def _result(self, features: np.ndarray, top: int, started: float) -> PredictResult:
        probs = self.model.probabilities(features[None])[0]  # (C,)
        order = np.argsort(-probs, kind="stable")[:max(1, top)]
        ranked = [Ranked(self.model.class_names[i], float(probs[i]), self.model.class_kinds[i]) for i in order]
        return PredictResult(ranked, self._read_attributes(features),
                             self._strongest(self.class_attributes(ranked[0].name)),
                             time.perf_counter() - started)

    @torch.no_grad()
    def _read_attributes(self, features: np.ndarray) -> list[tuple[str, float]]:
        x = torch.from_numpy(self.model.scaler.transform(features[None])).to(self.model.head.device)
        decoded = self.model.head.decode_attributes(x)[0].cpu().numpy()  # (A,) model space
        return self._strongest(np.clip(decoded * self.scale.typical_norm, self.scale.low, self.scale.high))

    def _strongest(self, values: np.ndarray) -> list[tuple[str, float]]:
        order = np.argsort(-values, kind="stable")[:TOP_ATTRIBUTES]
        return [(self.attribute_names[i], round(float(values[i]), 2)) for i in order]

    # --- classes -------------------------------------------------------------------------------
    def class_table(self) -> list[dict]:
        """Every class the model knows, user classes last."""
        return [{"name": n, "kind": k} for n, k in zip(self.model.class_names, self.model.class_kinds)]

    def class_attributes(self, name: str) -> np.ndarray:
        """A class's attribute vector on the dataset's own scale (CUB: 0-100)."""
        i = self._index(name)
        if self.model.class_kinds[i] == "user":
            return np.asarray(self.registry.get(self.model.class_names[i]).human, dtype=np.float32)
        # clipped: float16 checkpoints round 100 to 100.02
        return np.clip(self.model.attributes[i] * self.norms[i], self.scale.low, self.scale.high)

    def add_class(self, name: str, attributes, *, normalised: bool = False) -> None:
        """Validate, synthesize its features, fit its classifier row, persist; ClassError changes nothing."""
        user_class = self.registry.validate(name, attributes, normalised=normalised)
        row = self._fit_row(user_class)
        self.registry.add(user_class)
        self._install(user_class, *row)

    def remove_class(self, name: str) -> None:
        """Forget a user class; the others are refit as if it had never been added."""
        self._synthetic.pop(self.registry.remove(name).name, None)
        self._reset()
        for user_class in self.registry.classes:
            self._append(user_class)

    def _index(self, name: str) -> int:
        key = name_key(name)
        for i, n in enumerate(self.model.class_names):
            if n == name or name_key(n) == key:
                return i
        raise ClassError(f"the model has no class {name!r}")

    # --- refit: the trained rows stay; each user class gets a row fit against all of them ----------
    def _append(self, user_class: UserClass) -> None:
        self._install(user_class, *self._fit_row(user_class))

    def _install(self, user_class: UserClass, weight: torch.Tensor, bias: torch.Tensor) -> None:
        m = self.model
        m.class_names.append(user_class.name)
        m.class_kinds.append("user")
        m.attributes = np.vstack([m.attributes, np.asarray(user_class.attributes, dtype=np.float32)[None]])
        self._set_rows(torch.cat([m.classifier.linear.weight.detach(), weight[None]]),
                       torch.cat([m.classifier.linear.bias.detach(), bias.view(1)]))

    def _reset(self) -> None:
        m, rows = self.model, self._base["rows"]
        m.class_names = [m.class_names[i] for i in rows]
        m.class_kinds = [m.class_kinds[i] for i in rows]
        m.attributes = m.attributes[rows]
        self._set_rows(self._base["weight"], self._base["bias"])

    def _set_rows(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        classifier = SoftmaxClassifier(weight.shape[1], weight.shape[0]).to(weight.device)
        classifier.linear.weight.data.copy_(weight)
        classifier.linear.bias.data.copy_(bias)
        self.model.classifier = classifier.eval()

    def _draw(self, attributes, n: int, seed: int) -> torch.Tensor:
        att = torch.as_tensor(np.asarray(attributes, dtype=np.float32), device=self.model.head.device)[None]
        return self.model.head.synthesize(att, n, torch.Generator().manual_seed(SEED + seed))

    def _negatives(self, name: str, attributes) -> torch.Tensor:
        """NEGATIVE_SAMPLES synthetic examples of an unseen or user class, drawn once per name."""
        if name not in self._synthetic:
            self._synthetic[name] = self._draw(attributes, NEGATIVE_SAMPLES, zlib.crc32(name.encode()))
        return self._synthetic[name]

    def _fit_row(self, user_class: UserClass) -> tuple[torch.Tensor, torch.Tensor]:
        """The new class's (weight, bias): softmax cross-entropy over the real seen replay and synthetic
        examples of every unseen and user class, with every existing row fixed (convex; L-BFGS)."""
        m, device = self.model, self.model.head.device
        n_syn = m.head.config.unseen_samples
        xs, ys, ws = [], [], []
        if m.replay_x is not None:
            xs.append(torch.as_tensor(m.replay_x, device=device))
            ys.append(torch.as_tensor(m.replay_y, device=device))
            ws.append(torch.ones(len(m.replay_x), device=device))
        for i, (name, kind) in enumerate(zip(m.class_names, m.class_kinds)):
            if kind != "seen":
                x = self._negatives(name, m.attributes[i])
                xs.append(x)
                ys.append(torch.full((len(x),), i, device=device))
                ws.append(torch.full((len(x),), n_syn / len(x), device=device))
        positives = self._draw(user_class.attributes, n_syn, zlib.crc32(user_class.name.encode()) + 1)
        x = torch.cat(xs + [positives])
        y = torch.cat(ys + [torch.full((n_syn,), len(m.class_names), device=device)])
        w = torch.cat(ws + [torch.ones(n_syn, device=device)])
        w = w / w.sum()
        with torch.no_grad():
            fixed = m.classifier(x)  # (N, C) logits of the existing rows
        weight = torch.zeros(x.shape[1], device=device, requires_grad=True)
        bias = torch.zeros((), device=device, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=REFIT_STEPS, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            logits = torch.cat([fixed, (x @ weight + bias)[:, None]], dim=1)
            loss = (F.cross_entropy(logits, y, reduction="none") * w).sum() + REFIT_L2 * weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        return weight.detach(), bias.detach()
