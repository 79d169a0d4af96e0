"""Files that events receive: only those gradio stored for this app (uploads, examples), bounded in size.

The events that take a file skip gradio's preprocessing (so a bad file gets a message that names it),
and with it gradio's own check of the path; a client may send any path in the payload. So the path
must be one gradio handed out itself, and nothing else is opened."""

import io
import os
import stat
from pathlib import Path

import gradio as gr

from .messages import refused

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # far above any photo or attribute file; refuses uploads meant to fill memory


class Uploads:
    """The files gradio stored for one app: what its upload route wrote and what its components cached."""

    def __init__(self, blocks: gr.Blocks):
        self.blocks = blocks

    def path(self, payload, what: str) -> Path:
        """A FileData payload -> the stored file's path, checked before anything is read.

        One message for a missing file and a path gradio never stored: no answer tells a client
        whether some file exists on the server."""
        path = payload.get("path") if isinstance(payload, dict) else None
        stored = isinstance(path, str) and any(path in files for files in self.blocks.temp_file_sets)
        info = file_status(path) if stored else None
        if info is None or not stat.S_ISREG(info.st_mode):
            raise refused(f"no {what} was received; upload it again", f"No {what}")
        if info.st_size > MAX_UPLOAD_BYTES:
            raise refused(f"{original_name(payload)} is {info.st_size / 2**20:.0f} MB; the limit is "
                          f"{MAX_UPLOAD_BYTES // 2**20} MB", "File too large")
        return Path(path)

    def read(self, payload, what: str) -> io.BytesIO:
        """The stored file's bytes, named after the user's file so that errors name it."""
        with self.path(payload, what).open("rb") as f:
            buffer = io.BytesIO(f.read(MAX_UPLOAD_BYTES))
        buffer.name = original_name(payload)
        return buffer


def file_status(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def original_name(payload: dict) -> str:
    """The file name on the user's machine (only the name: it is shown back to them)."""
    name = payload.get("orig_name")
    return Path(name).name if isinstance(name, str) and name.strip() else "the uploaded file"
