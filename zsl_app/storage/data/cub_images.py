"""The CUB-200-2011 photos (for `--extract`): find the extracted folder, or download the official archive."""

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from zsl_app.storage.paths import user_data_dir

from .download import DownloadError, download_file

CUB_URL = "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz"
CUB_MD5 = "97eceeb196236b17998738112f37df78"
CUB_FOLDER = "CUB_200_2011"  # the archive's top folder: images.txt, classes.txt, images/<class>/<file>.jpg
DOWNLOAD_TIMEOUT_S = 10.0  # fail fast when offline


def default_images_root() -> Path:
    """Where downloaded photos are kept: <user data dir>/images."""
    return user_data_dir() / "images"


def find_cub_images(root: str | os.PathLike | None = None) -> Path | None:
    """The extracted CUB_200_2011 folder under `root` (or `root` itself), or None."""
    root = Path(root).expanduser() if root else default_images_root()
    for folder in (root, root / CUB_FOLDER):
        if (folder / "images.txt").is_file() and (folder / "images").is_dir():
            return folder
    return None


def download_cub_images(root: str | os.PathLike | None = None, *, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download CUB_200_2011.tgz (1.1 GB), check its md5, extract it under `root`; return the photo folder.

    Does nothing when the folder is already there. An interrupted download resumes; an archive placed
    at <root>/CUB_200_2011.tgz by hand is extracted without downloading (gzip's CRC checks it)."""
    root = Path(root).expanduser() if root else default_images_root()
    if found := find_cub_images(root):
        return found
    archive = root / f"{CUB_FOLDER}.tgz"
    try:
        if not archive.is_file():
            download_file(CUB_URL, archive, md5=CUB_MD5, timeout=timeout)
    except DownloadError as err:
        raise DownloadError(
            f"{err}.\nAlternatively extract that archive (md5 {CUB_MD5}) yourself so that "
            f"{root / CUB_FOLDER / 'images.txt'} exists, and pass that folder to the extraction") from err
    _extract(archive, root)
    archive.unlink()
    return root / CUB_FOLDER


def _extract(archive: Path, root: Path) -> None:
    """Unpack into a temporary folder beside the target and rename it: no half-extracted dataset."""
    with tempfile.TemporaryDirectory(dir=root, prefix=".extract-") as tmp:
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")  # refuses absolute paths and links out of `tmp`
        except (tarfile.TarError, OSError) as err:
            raise DownloadError(f"cannot extract {archive} ({err}); delete it and download it again") from err
        if not (Path(tmp) / CUB_FOLDER / "images.txt").is_file():
            raise DownloadError(f"{archive} does not contain {CUB_FOLDER}/images.txt; "
                                f"is it the CUB-200-2011 archive?")
        shutil.rmtree(root / CUB_FOLDER, ignore_errors=True)  # a folder without images.txt: incomplete
        os.replace(Path(tmp) / CUB_FOLDER, root / CUB_FOLDER)
