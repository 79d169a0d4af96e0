"""Download benchmark archives: streamed, resumable, checksum-verified, and clear when offline."""

import hashlib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from zsl_app.storage.atomic import atomic_path
from zsl_app.storage.paths import resolve_data_root

XLSA17_URL = "http://datasets.d2.mpi-inf.mpg.de/xian/xlsa17.zip"


class DownloadError(RuntimeError):
    """A download could not be completed; the message says what to do instead."""


def download_file(url: str, dest: Path, *, md5: str | None = None, size: int | None = None,
                  timeout: float = 15.0) -> Path:
    """Stream `url` to `dest` with a progress bar; resume a partial `.part` file; verify; move atomically."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = response.status == 206
            total = (int(response.headers.get("Content-Length", 0)) + (start if resumed else 0)) or None
            with open(part, "ab" if resumed else "wb") as out, tqdm(
                    total=total, initial=start if resumed else 0, unit="B", unit_scale=True,
                    desc=dest.name) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise DownloadError(f"could not download {url} ({err}). Without internet access, fetch it on "
                            f"another machine and place it at {dest}") from err
    _verify(part, md5=md5, size=size)
    part.replace(dest)
    return dest


def _verify(path: Path, *, md5: str | None, size: int | None) -> None:
    if size is not None and path.stat().st_size != size:
        raise DownloadError(f"{path} has {path.stat().st_size} bytes, expected {size}; "
                            f"run the download again to resume it")
    if md5 is not None:
        digest = hashlib.md5()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != md5:
            path.unlink()
            raise DownloadError(f"{path} is corrupt (md5 {digest.hexdigest()}, expected {md5}); deleted it, "
                                f"run the download again")


def download_xlsa17(data_root: str | None = None) -> Path:
    """Fetch the authors' xlsa17.zip (res101.mat + att_splits.mat of five datasets) into the data root."""
    root = resolve_data_root(data_root)
    archive = download_file(XLSA17_URL, root.parent / "xlsa17.zip")
    with zipfile.ZipFile(archive) as zf:
        if zf.testzip() is not None:  # the authors publish no checksum; the zip's CRCs are the check
            archive.unlink()
            raise DownloadError(f"{archive} failed its CRC check; deleted it, run the download again")
        for member in zf.infolist():
            parts = Path(member.filename).parts  # xlsa17/data/<DATASET>/<file>
            if member.is_dir() or len(parts) < 2 or ".." in parts:
                continue
            target = root / parts[-2] / parts[-1]
            with zf.open(member) as src, atomic_path(target) as tmp:
                tmp.write_bytes(src.read())
    return root
