"""load_image: every source type, every PIL mode, EXIF orientation, size limits and bad input."""

import io
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zsl_app.storage.images import MAX_ASPECT, ImageError, load_image


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels but holds none: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_every_source_type_gives_the_same_rgb_image(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    data = encode(Image.fromarray(array))
    (tmp_path / "photo.png").write_bytes(data)
    sources = [tmp_path / "photo.png", str(tmp_path / "photo.png"), data, bytearray(data), io.BytesIO(data),
               Image.fromarray(array), array]
    for src in sources:
        image = load_image(src)
        assert image.mode == "RGB" and image.size == (9, 6)
        np.testing.assert_array_equal(np.asarray(image), array)


def test_arrays_grey_float_and_invalid():
    assert load_image(np.full((4, 5), 7, np.uint8)).getpixel((0, 0)) == (7, 7, 7)
    assert load_image(np.ones((4, 5, 1), np.float32)).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(np.zeros((2, 2, 4), np.uint8)).mode == "RGB"
    with pytest.raises(ImageError, match="values in"):
        load_image(np.full((4, 5, 3), 2.0))
    with pytest.raises(ImageError, match="uint8"):
        load_image(np.zeros((4, 5, 3), np.int32))
    for shape in [(4, 5, 2), (5,)]:
        with pytest.raises(ImageError, match="shape"):
            load_image(np.zeros(shape, np.uint8))


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (2, 1), (255, 0, 0, 255))
    rgba.putpixel((1, 0), (0, 0, 0, 0))  # fully transparent black
    image = load_image(encode(rgba))
    assert image.getpixel((0, 0)) == (255, 0, 0) and image.getpixel((1, 0)) == (255, 255, 255)
    la = Image.new("LA", (1, 1), (0, 0))
    assert load_image(la).getpixel((0, 0)) == (255, 255, 255)


def test_palette_grey_cmyk_and_16_bit_modes():
    palette = Image.new("RGB", (3, 3), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert load_image(encode(palette)).getpixel((1, 1)) == (10, 200, 30)
    transparent = Image.new("P", (2, 2), 0)
    transparent.putpalette([0, 0, 0, 0, 255, 0])
    transparent.info["transparency"] = 0
    assert load_image(encode(transparent)).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(Image.new("L", (2, 2), 128)).getpixel((0, 0)) == (128, 128, 128)
    assert load_image(Image.new("1", (2, 2), 1)).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(Image.new("CMYK", (2, 2), (0, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)
    deep = Image.fromarray(np.full((2, 2), 65535, np.uint16))  # a 16-bit grey PNG
    assert load_image(encode(deep)).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied():
    photo = Image.new("RGB", (40, 20), (255, 0, 0))
    photo.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; display rotated 90 degrees clockwise
    image = load_image(encode(photo, "JPEG", exif=exif.tobytes(), quality=95))
    assert image.size == (20, 40)
    top, bottom = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # red on top, blue below


def test_tiny_image():
    image = load_image(encode(Image.new("RGB", (1, 1), (1, 2, 3))))
    assert image.size == (1, 1) and image.getpixel((0, 0)) == (1, 2, 3)


def test_decompression_bombs_are_refused_before_decoding():
    start = time.perf_counter()
    with pytest.raises(ImageError, match="64 megapixels; the limit is 50"):
        load_image(png_header(8000, 8000))  # over our limit, under PIL's own
    with pytest.raises(ImageError, match="too large"):
        load_image(png_header(100_000, 100_000))  # PIL's own limit trips first
    assert time.perf_counter() - start < 1  # the pixels were never decoded
    with pytest.raises(ImageError, match="limit is 0 megapixels"):
        load_image(encode(Image.new("RGB", (10, 10))), max_pixels=99)
    with pytest.raises(ImageError, match="megapixels"):
        load_image(Image.new("L", (10, 10)), max_pixels=99)


def test_bad_input_raises_clear_errors(tmp_path):
    with pytest.raises(ImageError, match="not an image"):
        load_image(np.random.default_rng(0).bytes(500))
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(encode(Image.new("RGB", (64, 64), (9, 9, 9)), "JPEG")[:300])
    with pytest.raises(ImageError, match="no image file"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageError, match="cannot read an image from a int"):
        load_image(42)
    assert issubclass(ImageError, ValueError)


def test_sides_may_differ_up_to_the_limit():
    assert load_image(encode(Image.new("RGB", (MAX_ASPECT * 3, 3)))).size == (MAX_ASPECT * 3, 3)
    with pytest.raises(ImageError, match=f"is 1 x {MAX_ASPECT + 1} pixels; its sides differ more than {MAX_ASPECT}"):
        load_image(Image.new("L", (1, MAX_ASPECT + 1)))


STRIP = """
import io, resource, sys, time
from PIL import Image
from zsl_app.core.backbones import BACKBONES
from zsl_app.storage.images import MAX_ASPECT, ImageError, load_image
transform = BACKBONES.get("effnet-lite2").make_transform()
for size in [(5000, 1), (1, 20000)]:
    buf = io.BytesIO()
    Image.new("RGB", size).save(buf, "PNG")
    before, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    try:
        transform(load_image(buf.getvalue()))
        message = "accepted"
    except ImageError as err:
        message = str(err)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # MB
    print(f"{len(buf.getvalue())}|{message}|{grown:.0f}|{time.perf_counter() - started:.3f}")
"""


def test_a_thin_strip_is_refused_before_the_resize_blows_it_up():
    """A 100-byte 5000 x 1 PNG once took 2.5 GB: the backbone scales the shorter side up to its crop.
    Measured in a fresh process, whose peak memory is its own."""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", STRIP], capture_output=True, text=True, timeout=120, cwd=root,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    for line, (w, h) in zip(out.stdout.splitlines(), [(5000, 1), (1, 20000)]):
        size, message, grown_mb, seconds = line.split("|")
        assert int(size) < 200
        assert message == f"the uploaded bytes is {w} x {h} pixels; its sides differ more than {MAX_ASPECT} times. " \
                          f"Crop it to the subject and try again"
        assert float(grown_mb) < 20 and float(seconds) < 0.5
