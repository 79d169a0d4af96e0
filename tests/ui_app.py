"""The web app running in-process for the UI tests and the load bench: a small real model, a free port."""

import socket
from contextlib import contextmanager
from pathlib import Path

from conftest import SAMPLES, XLSA17, require_real_cub

# Training lengths that finish in seconds on two CPU cores; the numbers mean nothing, the plumbing does.
TINY_HEAD = {"iters": 5, "unseen_samples": 20, "encoder_hidden": 64, "decoder_hidden": 64, "coupling_hidden": 32,
             "flow_steps": 1}


def sample_photos() -> list[Path]:
    return sorted(SAMPLES.glob("*.jpg"))


def small_checkpoint(folder: Path) -> Path:
    """The shipped frozen VAE-cFlow model (its features are the real effnetlite2.mat the tests evaluate on)
    when present, else a tiny one trained on the real CUB features."""
    from zsl_app.storage.checkpoint import paths
    from zsl_app.storage.paths import WEIGHTS_DIR
    shipped = WEIGHTS_DIR / "cub-vae-cflow-effnetlite2-s0"
    if all(p.is_file() for p in paths(shipped)):
        return shipped
    return train_tiny_cub(folder / "cub-tiny")


def train_tiny_cub(path: Path) -> Path:
    """A CUB model in the effnetlite2 space, trained for seconds (about 20 s on 2 cores)."""
    from zsl_app.storage.checkpoint import save_model
    from zsl_app.core.attribute_scale import human_scale_meta
    from zsl_app.core.classifier import ClassifierConfig
    from zsl_app.storage.data import load_benchmark
    from zsl_app.protocol.run import Protocol, train_and_evaluate

    bench = load_benchmark(require_real_cub(), "CUB", "effnetlite2")
    model = train_and_evaluate(bench, "vae-cflow", TINY_HEAD, classifier=ClassifierConfig(epochs=2),
                               protocol=Protocol(select=False)).model
    model.meta["human_scale"] = human_scale_meta(bench.original_attributes,
                                                 [bench.class_names.index(n) for n in model.class_names])
    save_model(model, path)
    return path


def closest_unseen(predictor) -> tuple[Path, str, int]:
    """(photo, class, rank): the sample photo in whose full ranking an unseen class ranks highest."""
    n = len(predictor.class_table())
    found = []
    for photo in sample_photos():
        ranked = predictor.predict(photo, top=n).ranked
        rank = next(i for i, r in enumerate(ranked) if r.kind == "unseen")
        found.append((rank, photo.name, photo, ranked[rank].name))
    rank, _, photo, name = min(found)
    return photo, name, rank


def probability(predictor, photo: Path, name: str) -> float:
    ranked = predictor.predict(photo, top=len(predictor.class_table())).ranked
    return next(r.probability for r in ranked if r.name == name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(tmp: Path, *, examples_dir: Path | None = SAMPLES, read_only: bool = False,
                data_root: Path | None = None):
    """Yield (url, predictor) of the app serving a small CUB model; training runs live in `tmp`, user classes in the test's user data dir (conftest).
    `data_root`: the benchmark folder the app reads (default: the real xlsa17)."""
    require_real_cub()
    from zsl_app.app.recognizer import Recognizer
    from zsl_app.app.ui.layout import build_app, launch
    checkpoint = small_checkpoint(tmp)
    predictor = Recognizer.load(checkpoint)
    demo = build_app(predictor, checkpoint=checkpoint, data_root=data_root or XLSA17, examples_dir=examples_dir,
                     runs_dir=tmp / "runs", read_only=read_only)
    _, url, _ = launch(demo, port=free_port(), block=False)
    try:
        yield url, predictor
    finally:
        demo.close()
