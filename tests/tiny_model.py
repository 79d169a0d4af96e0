"""A small VAE-cFlow checkpoint on the generated CUB-shaped fixture, and the app objects around it."""

from pathlib import Path

import torch

from conftest import write_tiny_xlsa17
from zsl_app.app.classes import ClassRules
from zsl_app.app.predictor import Predictor
from zsl_app.app.recognizer import Recognizer
from zsl_app.app.user_classes import UserClasses
from zsl_app.core.attribute_scale import human_scale_meta
from zsl_app.protocol import resolve_spec
from zsl_app.protocol.run import run_protocol
from zsl_app.storage.checkpoint import load_model, save_model
from zsl_app.storage.data import load_benchmark

TINY_HEAD = {"iters": 150, "unseen_samples": 60, "encoder_hidden": 32, "decoder_hidden": 16, "coupling_hidden": 16}


def tiny_checkpoint(folder: Path, *, iters: int = 150):
    """(benchmark, checkpoint stem) of a model trained for seconds, with the dataset's human scale."""
    torch.set_num_threads(1)
    bench = load_benchmark(write_tiny_xlsa17(folder / "xlsa17"), "CUB", "tinyfeat")
    spec = resolve_spec("CUB", "vae-cflow", head={**TINY_HEAD, "iters": iters},
                        protocol={"select": False, "calibrate": False})
    model = run_protocol(spec, bench).model
    model.meta["human_scale"] = human_scale_meta(bench.original_attributes,
                                                 [bench.class_names.index(n) for n in model.class_names])
    stem = folder / "tiny-model"
    save_model(model, stem)
    return bench, stem


def tiny_recognizer(stem: Path) -> Recognizer:
    """The app's object around a checkpoint, without a backbone (features in, not photos)."""
    return Recognizer(Predictor(load_model(stem), None, model_id=stem.name))


def tiny_user_classes(stem: Path, path: Path | None = None) -> tuple[Predictor, UserClasses]:
    """The two parts a Recognizer binds, built separately: the overlay is then in reach of a test."""
    predictor = Predictor(load_model(stem), None, model_id=stem.name)
    rules = ClassRules(attribute_names=predictor.attribute_names, scale=predictor.scale,
                       builtin=predictor.model.class_names, feature_dim=len(predictor.model.scaler.low))
    return predictor, UserClasses(predictor.model, rules, model_id=stem.name, path=path)
