"""The web app's training job: one at a time, in a worker thread, observable and cancellable."""

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from zsl_app.core.heads import HEADS
from zsl_app.core.training import Cancelled, Progress
from zsl_app.protocol import RunSpec, resolve_spec
from zsl_app.protocol.finetune import PhotoRun, finetune_base, photo_stages
from zsl_app.protocol.reading import reading_for
from zsl_app.protocol.run import run_protocol
from zsl_app.protocol.stages import FINAL, features_hook
from zsl_app.storage.checkpoint import run_name, save_model
from zsl_app.storage.data import DataError
from zsl_app.storage.finetuned import backbones_dir, copy_beside
from zsl_app.storage.paths import user_data_dir
from zsl_app.storage.reading_file import save_reading

METRIC_ROWS = ("val", "test", "test_uncalibrated")  # meta["metrics"] rows, in the order shown
METRIC_HEADERS = ["evaluation", "U", "S", "H", "ZSL"]  # the columns of `metrics_rows`


class Busy(RuntimeError):
    """A training is already running."""


@dataclass
class TrainRequest:
    """What the Train tab asks for; None fields keep the head's (dataset) default."""

    dataset: str
    features: str
    method: str
    length: int  # iterations or epochs, whichever the head's length_field is
    seed: int = 0
    temperature: float | None = None  # fixed generation temperature; None: chosen on validation
    unseen_samples: int | None = None  # synthetic examples per unseen class
    classifier_epochs: int = 25
    select: bool = True  # choose snapshot, options and gamma on validation
    images: Path | None = None  # the server's CUB photos: fine-tune the backbone on them per stage (never a
    #                             visitor's path: the tab fills it from what the server found)

    def spec(self) -> RunSpec:
        """The run specification of this request; SpecError says which value is out of range."""
        fields = {f.name for f in dataclasses.fields(HEADS.get(self.method).Config)}
        head = {HEADS.get(self.method).length_field: int(self.length)}
        if self.temperature is not None and "temperature" in fields:
            head["temperature"] = float(self.temperature)
        if self.unseen_samples is not None:
            head["unseen_samples"] = int(self.unseen_samples)
        return resolve_spec(self.dataset, self.method, features=None if self.images else self.features, head=head,
                            classifier={"epochs": int(self.classifier_epochs)}, protocol={"select": self.select},
                            seed=self.seed, finetune=None if self.images is None else {})


@dataclass
class Snapshot:
    """What the UI shows of a job at one moment."""

    stage: str = "starting"
    step: int = 0
    total: int = 0
    stage_eta: float | None = None  # seconds left in this stage, from its rate so far
    elapsed: float = 0.0
    curve: list[tuple[str, int, float]] = field(default_factory=list)  # (stage, step, loss) of every report
    done: bool = False
    error: BaseException | None = None  # Cancelled when cancelled
    checkpoint: Path | None = None
    metrics: dict | None = None


class TrainingJob:
    """Runs `train_and_evaluate` in a worker thread; a second start while one runs raises Busy."""

    def __init__(self, runs_dir: Path, data_root: Path):
        self.runs_dir, self.data_root = Path(runs_dir), Path(data_root)
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._state = Snapshot(done=True)
        self._started = self._stage_started = self._last_report = 0.0

    @property
    def running(self) -> bool:
        return not self._state.done  # set last by the worker: once done, a new start is allowed

    def start(self, request: TrainRequest, bench) -> None:
        """Begin training on an already loaded benchmark; Busy if another training runs."""
        with self._lock:
            if self.running:
                raise Busy(f"a training is already running ({self._state.stage}, "
                           f"{time.perf_counter() - self._started:.0f} s in); wait for it to finish or cancel it")
            self._cancel.clear()
            self._state = Snapshot()
            self._started = self._stage_started = self._last_report = time.perf_counter()
            threading.Thread(target=self._run, args=(request, bench), name="zsl-train", daemon=True).start()

    def cancel(self) -> bool:
        """Ask the running training to stop at its next progress report; False if none runs."""
        if not self.running:
            return False
        self._cancel.set()
        return True

    def snapshot(self) -> Snapshot:
        with self._lock:
            state = dataclasses.replace(self._state, curve=list(self._state.curve))
        if not state.done:
            state.elapsed = time.perf_counter() - self._started
        return state

    def _on_progress(self, p: Progress) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled by the user")
        now = time.perf_counter()
        with self._lock:
            s = self._state
            if p.stage != s.stage:  # the new stage began right after the previous report
                self._stage_started = self._last_report
            self._last_report = now
            rate = (now - self._stage_started) / max(p.step, 1)
            s.stage, s.step, s.total, s.stage_eta = p.stage, p.step, p.total, rate * (p.total - p.step)
            if "loss" in p.losses:
                s.curve.append((p.stage, p.step, p.losses["loss"]))

    def _run(self, request: TrainRequest, bench) -> None:
        try:
            spec = request.spec()
            data = bench if spec.finetune is None else self._photo_stages(spec, request.images)
            result = run_protocol(spec, data, callback=self._on_progress)
            model = result.model
            features = model.meta["features"]["name"]
            name = run_name(self.runs_dir, request.dataset, request.method, features, request.seed)
            meta_path = save_model(model, self.runs_dir / name)
            try:  # the photo reading beside it, as the CLI writes it ("Why" and the out-of-domain notice)
                save_reading(meta_path, reading_for(features_hook(data)(FINAL)))
            except DataError:  # e.g. no validation fold to choose its settings on: predictions go without it
                pass
            if spec.finetune is not None:
                copy_beside(model.feature_space, self.runs_dir)
            outcome = {"checkpoint": meta_path.with_suffix(""), "metrics": model.meta["metrics"]}
        except BaseException as err:  # reported to the UI, which raises it there with its message
            outcome = {"error": err}
        with self._lock:
            self._state = dataclasses.replace(self._state, done=True, elapsed=time.perf_counter() - self._started,
                                              stage_eta=0.0, **outcome)

    def _photo_stages(self, spec: RunSpec, images: Path):
        """The fine-tuned route: the cache, the final fine-tune now, each validation fold's when asked."""
        where = PhotoRun(images_root=images, data_root=self.data_root, cache_dir=user_data_dir() / "cache",
                         backbone_dir=backbones_dir())
        return photo_stages(spec.dataset, finetune_base("effnet-lite2", spec.finetune), spec.finetune, where, seed=spec.seed,
                            holdout=spec.protocol.holdout, callback=self._on_progress,
                            extract_progress=lambda done, total: self._on_progress(
                                Progress("cache lower stages", done, total)))


def metrics_rows(metrics: dict | None) -> list[list]:
    """meta["metrics"] -> table rows [evaluation, U, S, H, ZSL], rounded to 0.1."""
    rows = []
    for name in METRIC_ROWS:
        row = (metrics or {}).get(name)
        if row:
            rows.append([name] + [round(float(row[k]), 1) for k in ("U", "S", "H", "ZSL")])
    return rows
