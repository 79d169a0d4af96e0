"""A model's photo reading beside its checkpoint: the attribute reader and the domain check, in one
`<checkpoint>.reading.safetensors` whose header records what they were fit for, written atomically."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from zsl_app.core.attribute_reader import AttributeReader
from zsl_app.core.domain import DomainCheck

from .atomic import atomic_path
from .checkpoint import CheckpointError, paths

FORMAT = "zsl-app-reading/1"
SUFFIX = ".reading.safetensors"


@dataclass
class Reading:
    """What a model reads in a photo besides its class, for one dataset and feature space."""

    reader: AttributeReader
    domain: DomainCheck
    meta: dict  # dataset, feature_space, attribute_dim, the validation choices and scores


def reading_path(checkpoint: str | Path) -> Path:
    weights_path, _ = paths(checkpoint)
    return weights_path.with_name(weights_path.name.removesuffix(".safetensors") + SUFFIX)


def save_reading(checkpoint: str | Path, reading: Reading) -> Path:
    """Write the reading beside a checkpoint (float32 tensors, JSON header); returns its path."""
    r, d = reading.reader, reading.domain
    tensors = {"reader.mean": r.mean, "reader.std": r.std, "reader.weight": r.weight, "reader.bias": r.bias,
               "domain.centroids": d.centroids}
    header = {**reading.meta, "format": FORMAT, "scale": [r.low, r.high], "domain": d.domain,
              "imagenet_classes": list(d.imagenet_classes), "min_probability": d.min_probability,
              "min_similarity": d.min_similarity}
    path = reading_path(checkpoint)
    with atomic_path(path) as tmp:
        save_file({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in tensors.items()},
                  str(tmp), metadata={"reading": json.dumps(header)})
    return path


def load_reading(checkpoint: str | Path, *, feature_space: str, attribute_dim: int) -> Reading | None:
    """The reading beside a checkpoint, None when there is none; CheckpointError when it was fit for
    another feature space or attribute set, or is damaged."""
    path = reading_path(checkpoint)
    if not path.is_file():
        return None
    try:
        tensors = {k: v.double().numpy() for k, v in load_file(str(path)).items()}
        with safe_open(str(path), "pt") as f:
            meta = json.loads(f.metadata()["reading"])
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"cannot read the photo reading {path} ({err}); delete it to predict without "
                              f"it, or write it again (python tools/fit_reading.py CHECKPOINT)") from err
    if meta.get("format") != FORMAT or meta.get("feature_space") != feature_space \
            or tensors["reader.weight"].shape[1:] != (attribute_dim,):
        raise CheckpointError(f"{path} was fit for other features or attributes than its checkpoint "
                              f"({meta.get('feature_space')!r}); write it again (python tools/fit_reading.py "
                              f"CHECKPOINT)")
    low, high = meta["scale"]
    reader = AttributeReader(tensors["reader.mean"], tensors["reader.std"], tensors["reader.weight"],
                             tensors["reader.bias"], low, high)
    domain = DomainCheck(meta["domain"], tuple(meta["imagenet_classes"]), tensors["domain.centroids"],
                         meta["min_probability"], meta["min_similarity"])
    return Reading(reader, domain, meta)

