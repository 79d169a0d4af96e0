"""The file of one model's user classes: read by anyone, changed only under a lock, written atomically."""

import fcntl
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path

from zsl_app.storage.atomic import write_text_atomic
from zsl_app.storage.paths import user_data_dir

from .classes import ClassError

FORMAT = "zsl-app-classes/2"  # each class also keeps its fitted classifier row, keyed to the model's weights
OLD_FORMATS = ("zsl-app-classes/1",)  # names and vectors only: their rows are fit again on load


def registry_path(model_id: str) -> Path:
    """Where the user classes of one model are kept."""
    return user_data_dir() / "classes" / f"{model_id}.json"


class ClassStore:
    """One class file. Writers hold an exclusive lock (fcntl, on a file beside it) from re-reading to
    writing, so every process's change survives; readers need none: each write replaces the file whole."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._seen = None  # the file's identity when last read: None = never read
        self._thread_lock = threading.RLock()  # threads of one process queue here; the holder may re-enter
        self._depth, self._fd = 0, None

    def changed(self) -> bool:
        """Whether the file was written (by any process) since this store last read it."""
        return self._seen is None or self._seen != self._identity()

    def forget(self) -> None:
        """Count the file as changed, so the next use reads it again."""
        self._seen = None

    def read(self) -> dict:
        """The file's content, checked in shape: {"format", "weights_sha256", "classes": [{"name", ...}]}."""
        identity = self._identity()  # before reading: a write in between makes changed() true again
        data = self._parse() if identity != "absent" else {"format": FORMAT, "classes": []}
        self._seen = identity
        return data

    def write(self, data: dict) -> None:
        """Replace the file atomically; only under `locked()`."""
        assert self._depth, "the class file is written under its lock"
        write_text_atomic(self.path, json.dumps(data, indent=1))
        self._seen = self._identity()

    @contextmanager
    def locked(self):
        """Hold the file's exclusive lock (waiting for other processes); orphaned temporary files of
        writers killed mid-write are removed under it, as no live writer can own one then."""
        with self._thread_lock:
            if self._depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._fd = fd
                for orphan in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                    orphan.unlink(missing_ok=True)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    os.close(self._fd)  # releases the lock

    def _identity(self):
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return "absent"
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _parse(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as err:  # ValueError: bad JSON or not UTF-8
            raise self.error(f"it is not valid JSON ({err})") from None
        if not isinstance(data, dict):
            raise self.error(f"expected an object {{\"format\", \"classes\"}}, got {type(data).__name__}")
        if data.get("format") not in (FORMAT, *OLD_FORMATS):
            raise self.error(f"format {data.get('format')!r}, expected {FORMAT!r}")
        classes = data.get("classes")
        if not isinstance(classes, list):
            raise self.error(f"\"classes\" must be a list of classes, got {type(classes).__name__} {classes!r:.40}")
        for i, entry in enumerate(classes):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise self.error(f"class {i + 1} must be an object with a text \"name\", got {entry!r:.60}")
        return data

    def error(self, problem: str) -> ClassError:
        """A refusal of the file that names it and says how to recover."""
        return ClassError(f"cannot read the user classes in {self.path}: {problem}; fix or delete that file "
                          f"(deleting it drops this model's user classes)")
