"""Open photos from any source safely: bounded size, clear errors, upright, RGB."""

import io
import os
import struct
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Far above any camera photo, far below what would exhaust memory (an RGB copy is 150 MB).
MAX_PIXELS = 50_000_000
# Longer side / shorter side. The backbones scale the shorter side up to ~260 pixels, so a 5000 x 1
# strip (100 bytes as a PNG) would become a 1.3-million-pixel-wide image (gigabytes); photos and
# panoramas stay well under it.
MAX_ASPECT = 20
# How PIL reports broken or truncated data, depending on the format and where it breaks.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)
ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, Image.Image, np.ndarray]


class ImageError(ValueError):
    """The input is not a usable image."""


def load_image(src: ImageSource, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """A path, bytes, file-like object, PIL image or (H, W[, C]) array -> an upright RGB PIL image.

    Transparent areas are composited on white; EXIF orientation is applied."""
    image = open_image(src, max_pixels=max_pixels)
    try:
        image = ImageOps.exif_transpose(image)
    except (ValueError, TypeError, OSError, SyntaxError):
        pass  # a malformed EXIF block is no reason to refuse the pixels; keep them as stored
    return to_rgb(image)


def open_image(src: ImageSource, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode `src` after checking its size from the header; no orientation or mode conversion."""
    if isinstance(src, Image.Image):
        _check_size(src.size, max_pixels, "the image")
        return src
    if isinstance(src, np.ndarray):
        image = _from_array(src)
        _check_size(image.size, max_pixels, "the array")
        return image
    if isinstance(src, (str, os.PathLike)):
        path = Path(src).expanduser()
        if not path.is_file():
            raise ImageError(f"no image file at {path}")
        if path.stat().st_size == 0:
            raise ImageError(f"{path} is empty (0 bytes)")
        with open(path, "rb") as f:
            return _decode(f, max_pixels, str(path))
    if isinstance(src, (bytes, bytearray, memoryview)):
        if not len(src):
            raise ImageError("the uploaded bytes are empty; expected the contents of an image file")
        return _decode(io.BytesIO(bytes(src)), max_pixels, "the uploaded bytes")
    if hasattr(src, "read"):
        return _decode(src, max_pixels, getattr(src, "name", "the uploaded file"))
    raise ImageError(f"cannot read an image from a {type(src).__name__}; expected a path, bytes, "
                     f"a file object, a PIL image or a numpy array")


def _decode(f: BinaryIO, max_pixels: int, what: str) -> Image.Image:
    try:
        image = Image.open(f)  # parses the header only; pixels are decoded by load()
    except Image.DecompressionBombError as err:
        raise ImageError(f"{what} is too large to decode safely ({err})") from err
    except UnidentifiedImageError as err:
        raise ImageError(f"{what} is not an image in a format PIL can read; "
                         f"expected e.g. JPEG, PNG, WebP, BMP, GIF or TIFF") from err
    except DECODE_ERRORS as err:
        raise ImageError(f"{what} is corrupt or truncated ({err})") from err
    _check_size(image.size, max_pixels, what)
    try:
        image.load()
    except DECODE_ERRORS as err:
        raise ImageError(f"{what} is corrupt or truncated ({err})") from err
    return image


def _check_size(size: tuple[int, int], max_pixels: int, what: str) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise ImageError(f"{what} has no pixels ({w} x {h})")
    if w * h > max_pixels:
        raise ImageError(f"{what} is {w} x {h} = {w * h / 1e6:.0f} megapixels; the limit is "
                         f"{max_pixels / 1e6:.0f} megapixels. Resize it and try again")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ImageError(f"{what} is {w} x {h} pixels; its sides differ more than {MAX_ASPECT} times. "
                         f"Crop it to the subject and try again")


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ImageError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4); got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ImageError("a float image array must hold values in [0, 1]")
        array = np.round(array * 255)
    elif array.dtype != np.uint8:
        raise ImageError(f"an image array must be uint8 (0-255) or float (0-1); got {array.dtype}")
    return Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8))


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; transparency becomes white, 16-bit and float greys are rescaled."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        values = np.asarray(image, dtype=np.float32)
        top = 255.0 if values.max() <= 255 else 65535.0  # 8-bit data in a wide mode, else 16-bit
        grey = np.clip(values / top * 255, 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as err:
        raise ImageError(f"cannot convert an image of mode {image.mode} to RGB ({err})") from err
