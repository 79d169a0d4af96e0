"""Fine-tuned backbones on disk: the trained top tensors in float16 (.safetensors) + JSON, on top of the
base network's official weights; loading one gives a backbone of its own feature space."""

import hashlib
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from zsl_app.core.backbones import Backbone, BackboneError, backbone_names, create_backbone

from .atomic import atomic_path, write_text_atomic
from .paths import WEIGHTS_DIR, user_data_dir

FORMAT = "zsl-app-finetuned-backbone/1"
MIRROR_NOTE = "features averaged with the mirrored crop's"  # in the recipe of a fine-tune with `mirror`
MIRROR_MARK = "-mirror"  # ends the features name of a fine-tune with `mirror`


def backbones_dir() -> Path:
    """Where fine-tunes made by this user are kept."""
    return user_data_dir() / "backbones"


def finetuned_recipe(base_recipe: str, cut: int, tensors: dict[str, torch.Tensor], *, mirror: bool = False) -> str:
    """The feature space of a fine-tune: the base recipe, where it was cut, the trained tensors' hash, and
    whether a photo's features are averaged with its mirrored crop's."""
    recipe = f"{base_recipe}; blocks from {cut} fine-tuned ({tensors_sha256(tensors)[:16]})"
    return f"{recipe}; {MIRROR_NOTE}" if mirror else recipe


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(tensors[name].detach().cpu().half().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_finetuned(path: Path, base: Backbone, cut: int, tensors: dict[str, torch.Tensor], info: dict, *,
                   mirror: bool = False) -> Path:
    """Write the trained tensors (float16) and their JSON atomically; returns the JSON path.

    `info` records the data, settings and seed of the fine-tune; `features_name` names its space; `mirror`:
    a photo's features are the mean of its crop's and its mirrored crop's."""
    weights_path, meta_path = path.with_suffix(".safetensors"), path.with_suffix(".json")
    half = {k: v.detach().cpu().half().contiguous() for k, v in tensors.items()}
    with atomic_path(weights_path) as tmp:
        save_file(half, str(tmp))
    meta = {"format": FORMAT, "base": base.name, "base_recipe": base.recipe, "base_weights": base.weights_file,
            "resolution": base.resolution, "cut": cut, "trained": sorted(half), "mirror": mirror,
            "recipe": finetuned_recipe(base.recipe, cut, half, mirror=mirror),
            "weights_sha256": hashlib.sha256(weights_path.read_bytes()).hexdigest(), **info}
    write_text_atomic(meta_path, json.dumps(meta, indent=1))
    return meta_path


def read_meta(path: Path) -> dict:
    meta_path = Path(path).with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BackboneError(f"cannot read the fine-tuned backbone {meta_path} ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BackboneError(f"{meta_path} is not a fine-tuned backbone of this app (format {FORMAT!r})")
    return meta


def load_finetuned(path: str | Path, *, device: str = "cpu") -> Backbone:
    """The base backbone with its top replaced by a fine-tune; refuses a changed or foreign file."""
    path = Path(path)
    meta = read_meta(path)
    weights_path = path.with_suffix(".safetensors")
    if not weights_path.is_file():
        raise BackboneError(f"missing fine-tuned weights {weights_path}")
    if hashlib.sha256(weights_path.read_bytes()).hexdigest() != meta.get("weights_sha256"):
        raise BackboneError(f"{weights_path} does not match the hash recorded in its JSON: the file changed "
                            f"or is damaged; fine-tune again")
    backbone = create_backbone(meta["base"], device=device, resolution=meta.get("resolution"))  # older: its own
    if backbone.recipe != meta["base_recipe"]:
        raise BackboneError(f"{path} fine-tunes '{meta['base_recipe']}', but {meta['base']} here is "
                            f"'{backbone.recipe}'")
    tensors = load_file(str(weights_path))
    params = dict(backbone.net.named_parameters())
    if sorted(tensors) != meta["trained"] or any(k not in params or params[k].shape != v.shape
                                                 for k, v in tensors.items()):
        raise BackboneError(f"{weights_path} does not hold tensors of {meta['base']}'s top from block {meta['cut']}")
    backbone.keep_imagenet_network(meta["cut"])  # the out-of-domain check reads the ImageNet classifier on the base features
    with torch.no_grad():
        for name, value in tensors.items():
            params[name].copy_(value.float())
    backbone.mirror = bool(meta.get("mirror", False))  # older files: the crop alone
    backbone.recipe = finetuned_recipe(meta["base_recipe"], meta["cut"], tensors, mirror=backbone.mirror)
    if backbone.recipe != meta["recipe"]:
        raise BackboneError(f"{path}: the tensors do not give the recorded feature space")
    backbone.features_name = meta["features_name"]
    return backbone


def find_finetuned(feature_space: str, folders: list[Path]) -> Path | None:
    """The fine-tuned backbone (JSON path) whose feature space is `feature_space`, searched in `folders`,
    then in weights/ and the user's backbones folder."""
    return first_finetuned(lambda meta: meta.get("recipe") == feature_space, folders)


def first_finetuned(matches, folders: list[Path]) -> Path | None:
    """The first fine-tuned backbone's JSON whose metadata `matches`, in `folders`, weights/, then the user's."""
    for folder in [*folders, WEIGHTS_DIR, backbones_dir()]:
        for meta_path in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(meta, dict) and meta.get("format") == FORMAT and matches(meta):
                return meta_path
    return None


def open_backbone(name: str, *, weights: str | Path | None = None, device: str = "cpu") -> Backbone:
    """A registered backbone (`effnet-lite2`) or a fine-tuned one, given by its JSON or by the name of its
    features file (`effnetlite2-390-ft-34668e82-mirror`, looked up in weights/ and the user's backbones folder)."""
    if name in backbone_names():
        return create_backbone(name, weights=weights, device=device)
    path = Path(name).expanduser()
    found = path if path.suffix == ".json" and path.is_file() else \
        first_finetuned(lambda meta: meta.get("features_name") == name, [])
    if found is None:
        raise BackboneError(f"unknown backbone {name!r}: give one of {', '.join(backbone_names())}, a fine-tuned "
                            f"backbone's .json, or the features name of one in {WEIGHTS_DIR} or {backbones_dir()}")
    if weights is not None:
        raise BackboneError(f"{found} is a fine-tune on its base's official weights; --backbone-weights applies "
                            f"to a registered backbone only")
    return load_finetuned(found, device=device)


def copy_beside(feature_space: str, folder: Path) -> Path:
    """Put the fine-tuned backbone of a feature space beside a checkpoint, so the folder serves photos alone."""
    source = find_finetuned(feature_space, [])
    if source is None:
        raise BackboneError(f"no fine-tuned backbone of '{feature_space}' in {backbones_dir()}")
    for suffix in (".safetensors", ".json"):
        target = Path(folder) / source.with_suffix(suffix).name
        if source.with_suffix(suffix) != target:
            with atomic_path(target) as tmp:
                shutil.copyfile(source.with_suffix(suffix), tmp)
    return Path(folder) / source.with_suffix(".safetensors").name
