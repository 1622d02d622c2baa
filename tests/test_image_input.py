"""Every kind of input the issue lists gets a clear message or a correct analysis."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from models.image_input import ImageInputError, load_image
from models.sample_images import camera_like_photo, encode


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return camera_like_photo(120, 160, seed=3)


def _error(source, **kwargs) -> ImageInputError:
    with pytest.raises(ImageInputError) as caught:
        load_image(source, **kwargs)
    return caught.value


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    error = _error(empty)
    assert error.code == "empty" and "empty" in str(error)


def test_truncated_jpeg_is_reported_not_decoded(photo):
    data = encode(photo, "JPEG", quality=90)
    error = _error(data[: len(data) // 2], name="cut.jpg")
    assert error.code == "truncated"
    assert "cut.jpg" in str(error) and "truncated" in str(error)


def test_text_with_image_extension(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("<html><body>not an image</body></html>")
    error = _error(fake)
    assert error.code == "not-an-image" and "text" in str(error)


def test_missing_file_and_folder(tmp_path):
    assert _error(tmp_path / "nope.jpg").code == "not-found"
    assert _error(tmp_path).code == "not-a-file"


def _png_with_declared_size(width: int, height: int) -> bytes:
    """A PNG header claiming width x height pixels, with almost no data: a decompression bomb's shape."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding():
    error = _error(_png_with_declared_size(50_000, 50_000), name="bomb.png")
    assert error.code == "too-large"
    assert "2500.0 megapixels" in str(error) and "--max-pixels" in str(error)
    assert "50000x3000 = 150.0 megapixels" in str(_error(_png_with_declared_size(50_000, 3_000), name="wide.png"))


def test_pixel_limit_is_configurable(photo, monkeypatch):
    data = encode(photo, "PNG")
    assert _error(data, max_pixels=1000).code == "too-large"
    monkeypatch.setenv("ZOOMIN_MAX_PIXELS", "1000")
    assert _error(data).code == "too-large"
    monkeypatch.setenv("ZOOMIN_MAX_PIXELS", "lots")
    assert _error(data).code == "config"


def test_cmyk_jpeg_becomes_rgb(photo):
    buffer = io.BytesIO()
    Image.fromarray(photo).convert("CMYK").save(buffer, "JPEG", quality=95)
    image = load_image(buffer.getvalue())
    assert image.rgb.shape == (120, 160, 3) and image.rgb.dtype == np.uint8
    assert image.mode == "CMYK" and any("CMYK" in n for n in image.notes)
    assert np.abs(image.rgb.astype(int) - photo.astype(int)).mean() < 12


def test_sixteen_bit_grey_and_colour_png(photo):
    grey16 = (cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)
    ok, grey_png = cv2.imencode(".png", grey16)
    image = load_image(grey_png.tobytes())
    assert image.bit_depth == 16 and any("16-bit" in n for n in image.notes)
    assert np.array_equal(image.rgb[:, :, 0], cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY))

    ok, colour_png = cv2.imencode(".png", photo[:, :, ::-1].astype(np.uint16) * 257)
    image = load_image(colour_png.tobytes())
    assert image.bit_depth == 16 and image.rgb.shape == (120, 160, 3)
    assert np.abs(image.rgb.astype(int) - photo.astype(int)).max() <= 1


def test_palette_with_transparency_is_flattened_onto_white():
    palette = Image.new("P", (40, 30), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.paste(1, (0, 0, 20, 30))
    buffer = io.BytesIO()
    palette.save(buffer, "PNG", transparency=0)
    image = load_image(buffer.getvalue())
    assert tuple(image.rgb[5, 30]) == (255, 255, 255)  # transparent red -> white
    assert tuple(image.rgb[5, 5]) == (0, 0, 255)
    assert any("transparency flattened" in n and "50.0%" in n for n in image.notes)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_images_use_the_first_frame(fmt, photo):
    frames = [Image.fromarray(photo), Image.fromarray(255 - photo), Image.fromarray(photo[::-1].copy())]
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = load_image(buffer.getvalue())
    assert image.frame_count == 3 and any("first frame" in n for n in image.notes)
    first = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    assert np.array_equal(image.rgb, first)


def test_exif_rotation_gives_displayed_orientation_and_keeps_stored_pixels(photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    data = encode(photo, "JPEG", quality=95, exif=exif.tobytes())
    image = load_image(data)
    assert (image.width, image.height) == (120, 160) and image.orientation == 6
    stored = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(image.pixels_as_stored(), stored)
    assert any("orientation 6" in n for n in image.notes)


@pytest.mark.parametrize("orientation", range(2, 9))
def test_every_orientation_round_trips_to_stored_pixels(orientation, photo):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(photo, "PNG", exif=exif.tobytes())
    image = load_image(data)
    assert np.array_equal(image.pixels_as_stored(), photo)


@pytest.mark.parametrize("fmt", ["WEBP", "TIFF", "HEIF", "AVIF", "BMP"])
def test_other_formats_decode(fmt, photo):
    options = {"lossless": True} if fmt == "WEBP" else {}
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, fmt, **options)
    image = load_image(buffer.getvalue(), name=f"x.{fmt.lower()}")
    assert image.rgb.shape == photo.shape
    assert image.format in (fmt, "HEIF", "AVIF")
    assert np.abs(image.rgb.astype(int) - photo.astype(int)).mean() < 8


def test_hash_and_metadata_are_kept(photo):
    data = encode(photo, "JPEG", quality=90)
    image = load_image(data, name="a.jpg")
    import hashlib

    assert image.sha256 == hashlib.sha256(data).hexdigest() and image.size_bytes == len(data)
    assert image.mime == "image/jpeg" and image.jpeg_quantization


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1), (37, 53), (300, 401)])
def test_decoded_pixels_are_exactly_pillows(shape):
    """The one-buffer copy out of Pillow gives the bytes its array interface gives."""
    from models.image_pixels import _rgb_array

    rgb = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    for fmt in ("PNG", "JPEG"):
        with Image.open(io.BytesIO(encode(rgb, fmt, quality=90))) as image:
            image.load()
            expected = np.asarray(image)
            got = _rgb_array(image)
        assert got.dtype == np.uint8 and got.flags.c_contiguous and np.array_equal(got, expected)
    loaded = load_image(encode(rgb, "PNG"))
    assert np.array_equal(loaded.rgb, rgb)
