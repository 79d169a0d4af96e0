"""Which files are photos: the suffixes the app reads, and the photos that a list of files and folders names."""

from pathlib import Path

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


class NoPhotos(ValueError):
    """A folder holds no file with a photo suffix."""


def photos_in(folder: str | Path) -> list[Path]:
    """The photos directly in `folder` (not its subfolders), by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def photo_files(given: list[str | Path]) -> list[Path]:
    """Files as given (whatever their suffix: the decoder says if one is no photo) and the photos of folders."""
    found = []
    for path in map(Path, given):
        if not path.is_dir():
            found.append(path)
            continue
        photos = photos_in(path)
        if not photos:
            raise NoPhotos(f"no photos in the folder {path} (looked for {', '.join(PHOTO_SUFFIXES)}; subfolders "
                           f"are not searched)")
        found += photos
    return found
