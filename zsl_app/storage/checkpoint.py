"""Checkpoints: `.safetensors` weights + `.json` metadata, written atomically, checked on load."""

import dataclasses
import hashlib
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load, save_file

from zsl_app import __version__
from zsl_app.core.classifier import SoftmaxClassifier
from zsl_app.core.heads import create_head, stored_config
from zsl_app.core.model import KINDS, ZSLModel

from .atomic import atomic_path, write_text_atomic
from .data import MinMaxScaler

FORMAT = "zsl-app/1"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not fit what it is loaded for."""


def run_name(folder: str | Path, dataset: str, method: str, features: str, seed: int) -> str:
    """A new checkpoint stem in `folder`, e.g. cub-vae-cflow-effnetlite2-s0-20261202-094512: the settings, then
    the time of saving (UTC), so a run never takes the name of a shipped model or of an earlier run; -2, -3 ...
    should runs of the same settings finish in the same second."""
    base = f"{dataset.lower()}-{method}-{features}-s{seed}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    name, n = base, 1
    while any(p.exists() for p in paths(Path(folder) / name)):
        n += 1
        name = f"{base}-{n}"
    return name


def paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, metadata) paths for a checkpoint given by either file or their common stem."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_model(model: ZSLModel, path: str | Path, *, half: bool = False) -> Path:
    """Write weights then metadata, each atomically; `half` stores float tensors as float16."""
    weights_path, meta_path = paths(path)
    tensors = _tensors(model)
    if half:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    with atomic_path(weights_path) as tmp:
        save_file(tensors, str(tmp))
    meta = {**model.meta, "format": FORMAT, "class_names": model.class_names, "class_kinds": model.class_kinds,
            "weights_file": weights_path.name, "weights_sha256": _sha256(weights_path),
            "versions": _versions(), "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_text_atomic(meta_path, json.dumps(meta, indent=1, default=_json_default))
    return meta_path


def _tensors(model: ZSLModel) -> dict[str, torch.Tensor]:
    tensors = {f"head.{k}": v for k, v in model.head.state_dict().items()}
    tensors.update({f"classifier.{k}": v for k, v in model.classifier.state_dict().items()})
    tensors["scaler.low"] = torch.from_numpy(model.scaler.low)
    tensors["scaler.high"] = torch.from_numpy(model.scaler.high)
    tensors["classes.attributes"] = torch.from_numpy(np.ascontiguousarray(model.attributes, dtype=np.float32))
    if model.replay_x is not None:
        tensors["replay.x"] = torch.from_numpy(np.ascontiguousarray(model.replay_x, dtype=np.float32))
        tensors["replay.y"] = torch.from_numpy(np.asarray(model.replay_y, dtype=np.int64))
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def read_metadata(path: str | Path) -> dict:
    """The JSON metadata of a checkpoint (metrics, config, classes) without loading weights."""
    _, meta_path = paths(path)
    if not meta_path.is_file():
        raise CheckpointError(f"no checkpoint metadata at {meta_path}; a checkpoint is a .safetensors "
                              f"file with a .json beside it, as written by `python app.py --train`")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{meta_path} is not valid JSON ({err})") from err
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path} has format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def load_model(path: str | Path, *, device: str = "cpu", feature_space: str | None = None) -> ZSLModel:
    """Rebuild a model from a checkpoint; refuses changed or non-finite weights, metadata that does not
    describe them, wrong shapes, a wrong format or another feature space."""
    weights_path, meta_path = paths(path)
    meta = read_metadata(path)
    if feature_space is not None and meta["features"]["feature_space"] != feature_space:
        raise CheckpointError(feature_space_message(meta["features"]["feature_space"], feature_space, meta_path))
    tensors = _load_tensors(weights_path, meta.get("weights_sha256"), meta_path)
    _check_dims(meta, tensors, meta_path)
    head = _build_head(meta, tensors, meta_path)
    n_classes, embed_dim = len(meta["class_names"]), head.embed_dim
    classifier = SoftmaxClassifier(embed_dim, n_classes)
    _load_part(classifier, tensors, "classifier.", meta_path)
    model = ZSLModel(
        head=head.to(device).eval(), classifier=classifier.to(device).eval(),
        scaler=MinMaxScaler(tensors["scaler.low"].float().numpy(), tensors["scaler.high"].float().numpy()),
        class_names=list(meta["class_names"]), class_kinds=list(meta["class_kinds"]),
        attributes=tensors["classes.attributes"].float().numpy(), meta=meta,
        replay_x=tensors["replay.x"].float().numpy() if "replay.x" in tensors else None,
        replay_y=tensors["replay.y"].numpy() if "replay.y" in tensors else None)
    _check_classes(model, meta_path)
    return model


def feature_space_message(trained: str, given: str, where) -> str:
    """The refusal a user sees when features and head come from different backbones or recipes."""
    return (f"{where} was trained on features of '{trained}', but the features given come from "
            f"'{given}'. A head is only valid in the feature space it was trained in: use a model trained "
            f"on this backbone's features (python app.py --extract ... then --train ... --features ...).")


def _load_tensors(weights_path: Path, sha256: str | None, meta_path: Path) -> dict[str, torch.Tensor]:
    """The weights, if they are the bytes the metadata recorded and every float in them is finite."""
    if not weights_path.is_file():
        raise CheckpointError(f"missing checkpoint weights {weights_path}")
    content = weights_path.read_bytes()
    if not sha256:
        raise CheckpointError(f"{meta_path} records no weights_sha256, so {weights_path.name} cannot be "
                              f"verified; use a checkpoint written by `python app.py --train`")
    if hashlib.sha256(content).hexdigest() != sha256:
        raise CheckpointError(f"{weights_path} is not the file {meta_path.name} was saved with (its SHA-256 "
                              f"differs from weights_sha256): it was changed or damaged after saving; restore "
                              f"both files from the same save, or retrain")
    try:
        tensors = load(content)
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"cannot read {weights_path} as safetensors ({err})") from err
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{weights_path}: tensors {bad[:3]} hold NaN or infinite values; retrain the model")
    return tensors


def _check_dims(meta: dict, tensors: dict, where: Path) -> None:
    """The feature and attribute sizes the metadata states are those of the weights."""
    missing = [k for k in ("scaler.low", "scaler.high", "classes.attributes") if k not in tensors]
    if missing:
        raise CheckpointError(f"{where}: its weights lack {missing}; it was not written by this app")
    n_features, n_attributes = tensors["scaler.low"].shape[-1], tensors["classes.attributes"].shape[-1]
    try:
        stated = {"features.dim": (meta["features"]["dim"], n_features),
                  "head_dims.feature_dim": (meta["head_dims"]["feature_dim"], n_features),
                  "head_dims.attribute_dim": (meta["head_dims"]["attribute_dim"], n_attributes)}
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{where}: features.dim or head_dims is missing ({err})") from err
    wrong = [f"{k} is {said!r} but the weights hold {held}" for k, (said, held) in stated.items() if said != held]
    if wrong:
        raise CheckpointError(f"{where} does not describe its weights ({'; '.join(wrong)}): the .json was "
                              f"edited or belongs to another save; restore both files from the same save")


def _build_head(meta: dict, tensors: dict, where: Path):
    try:
        config = stored_config(meta["method"], meta["config"])
        head = create_head(meta["method"], config, **meta["head_dims"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: cannot rebuild the head ({err})") from err
    _load_part(head, tensors, "head.", where)
    return head


def _load_part(module: torch.nn.Module, tensors: dict, prefix: str, where: Path) -> None:
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    expected = module.state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{where}: {prefix[:-1]} tensors do not match this architecture "
                              f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise CheckpointError(f"{where}: tensor {prefix}{key} has shape {tuple(value.shape)}, "
                                  f"expected {tuple(expected[key].shape)}")
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})


def _check_classes(model: ZSLModel, where: Path) -> None:
    n = len(model.class_names)
    if len(model.class_kinds) != n or model.attributes.shape[0] != n:
        raise CheckpointError(f"{where}: {n} class names but {len(model.class_kinds)} kinds and "
                              f"{model.attributes.shape[0]} attribute rows")
    if any(k not in KINDS for k in model.class_kinds):
        raise CheckpointError(f"{where}: class kinds must be among {KINDS}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions() -> dict:
    import numpy
    import safetensors
    return {"zsl_app": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


def _json_default(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in checkpoint metadata")
