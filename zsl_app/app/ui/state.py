"""What the tabs share: the active model and its lock, the data root, the runs folder, the server's mode."""

import threading
from pathlib import Path

from zsl_app.app.recognizer import Recognizer
from zsl_app.storage.data import load_benchmark

from . import glossary
from .messages import refused
from .models import describe, stem_of
from .uploads import Uploads

KIND_LABELS = {"seen": "seen", "unseen": "unseen", "user": "user-added"}


class AppState:
    """The active predictor (swapped whole by "make active", with the checkpoint it came from) and what every
    tab reads beside it.

    One lock guards the predictor: adding a class rewrites its classifier, which a prediction must not
    see half-done. Training runs in its own thread and never takes this lock."""

    def __init__(self, predictor: Recognizer, *, checkpoint: Path | None, data_root: Path, data_root_given: bool,
                 runs_dir: Path, uploads: Uploads, read_only: bool = False):
        self.predictor, self.checkpoint = predictor, stem_of(checkpoint) if checkpoint else None
        self.data_root, self.data_root_given, self.runs_dir = Path(data_root), data_root_given, Path(runs_dir)
        self.uploads, self.read_only = uploads, read_only
        self.lock = threading.RLock()
        self._bench_lock = threading.Lock()
        self._bench: tuple[tuple, object] | None = None

    def check_writable(self, action: str) -> None:
        """Refuse a change to the shared model or classes when the server was started --read-only."""
        if self.read_only:
            raise refused(f"{action} is switched off on this server (started with --read-only)", "Read-only")

    def benchmark(self, dataset: str, features: str):
        """Load (or reuse the last loaded) benchmark: CUB's features take seconds to read."""
        key = (str(self.data_root), dataset, features)
        with self._bench_lock:
            if self._bench is None or self._bench[0] != key:
                self._bench = (key, load_benchmark(self.data_root, dataset, features))
            return self._bench[1]

    def activate(self, predictor: Recognizer, checkpoint: Path) -> None:
        with self.lock:
            self.predictor, self.checkpoint = predictor, stem_of(checkpoint)

    def checkpoint_text(self) -> str:
        """Which checkpoint answers: path, save time, weights hash."""
        with self.lock:
            predictor, checkpoint = self.predictor, self.checkpoint
        return describe(checkpoint, predictor.model.meta, predictor.info["model"], self.runs_dir)

    def model_line(self, seconds: float | None = None) -> str:
        info = self.predictor.info
        line = (f"**model** {self.checkpoint_text()} · {info['dataset']} · head `{info['method']}` · "
                f"backbone `{info['backbone']}` · {feature_space_text(self.predictor.model.meta)}")
        return line + (f" · **{1000 * seconds:.0f} ms**" if seconds is not None else "")

    def intro(self) -> str:
        model = self.predictor.model
        return glossary.intro(model.meta.get("dataset"), list(model.class_kinds))


def feature_space_text(meta: dict) -> str:
    """Which feature space the model reads photos in: the backbone as ImageNet trained it, or a fine-tune."""
    space = meta.get("features", {})
    tuned = "fine-tuned" in space.get("feature_space", "")
    return (f"features `{space.get('name')}` "
            f"({'top stage fine-tuned on the seen classes' if tuned else 'ImageNet weights, frozen'})")
