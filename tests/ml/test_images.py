"""Tests for ml.images: content-based type checks, size limits, EXIF orientation, RGB output."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ml.images import ImageError, decode_image, encode_jpeg

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _save(image: Image.Image, fmt: str, **params) -> bytes:
    """Encode a Pillow image to bytes in the given format."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    """A random RGB image (compresses badly, so files have real payload)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (the pixel data is tiny and never decoded)."""
    data = bytearray(_save(Image.new("RGB", (1, 1)), "PNG"))
    ihdr_start = 8  # after the signature: length(4) type(4) payload(13) crc(4)
    payload = bytearray(data[ihdr_start + 8 : ihdr_start + 21])
    payload[0:8] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + payload) & 0xFFFFFFFF)
    data[ihdr_start + 8 : ihdr_start + 21] = payload
    data[ihdr_start + 21 : ihdr_start + 25] = crc
    return bytes(data)


def _decode_error(data: bytes, **kwargs) -> ImageError:
    """Return the ImageError decode_image raises for `data`."""
    with pytest.raises(ImageError) as info:
        decode_image(data, **kwargs)
    return info.value


def _close(pixel: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> bool:
    """True when an RGB pixel is within `tol` of `colour` on every channel."""
    return bool(np.all(np.abs(pixel.astype(int) - np.array(colour)) <= tol))


def test_empty_bytes_are_empty_file():
    assert _decode_error(b"").code == "empty_file"


def test_text_bytes_are_not_an_image():
    error = _decode_error(b"hello, this is a plain text file\n" * 20)
    assert error.code == "not_an_image"
    assert error.message


def test_jpeg_cut_in_half_is_corrupt_image():
    data = _save(_noise(64, 64), "JPEG", quality=90)
    assert decode_image(data).shape == (64, 64, 3)  # the whole file is fine
    assert _decode_error(data[: len(data) // 2]).code == "corrupt_image"


@pytest.mark.parametrize("fmt", ["GIF", "TIFF"])
def test_gif_and_tiff_are_unsupported_image(fmt):
    error = _decode_error(_save(Image.new("RGB", (16, 16), RED), fmt))
    assert error.code == "unsupported_image"
    assert fmt in error.message


def test_image_above_max_pixels_is_image_too_large():
    data = _save(Image.new("RGB", (100, 50), RED), "PNG")
    assert decode_image(data, max_pixels=5000).shape == (50, 100, 3)  # exactly at the limit
    error = _decode_error(data, max_pixels=4999)
    assert error.code == "image_too_large"
    assert "100x50" in error.message


def test_png_header_claiming_huge_size_is_image_too_large_without_decoding():
    # 8000x8000 = 64M pixels: over the default 40M limit, under Pillow's own bomb limit.
    assert _decode_error(_png_claiming(8000, 8000)).code == "image_too_large"
    # 100000x100000 trips Pillow's DecompressionBombError inside Image.open.
    assert _decode_error(_png_claiming(100_000, 100_000)).code == "image_too_large"


def test_exif_orientation_6_is_applied():
    # Stored 40 wide x 20 high; quadrants TL red, TR green, BL blue, BR white.
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:10, :20] = RED
    stored[:10, 20:] = GREEN
    stored[10:, :20] = BLUE
    stored[10:, 20:] = WHITE
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    data = _save(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())

    out = decode_image(data)
    assert out.shape == (40, 20, 3)
    # Rotating clockwise moves stored top-left to top-right, top-right to bottom-right.
    assert _close(out[2, -3], RED)
    assert _close(out[-3, -3], GREEN)
    assert _close(out[2, 2], BLUE)
    assert _close(out[-3, 2], WHITE)


def test_cmyk_jpeg_decodes_to_uint8_rgb():
    data = _save(Image.new("CMYK", (24, 24), (0, 255, 255, 0)), "JPEG", quality=95)
    out = decode_image(data)
    assert out.dtype == np.uint8
    assert out.shape == (24, 24, 3)
    assert _close(out[12, 12], RED)


def test_16_bit_greyscale_png_keeps_gradient_ordering_without_clipping():
    column = np.linspace(0, 65535, 64).astype(np.uint16)
    grey16 = np.tile(column, (8, 1))
    image = Image.fromarray(grey16)
    data = _save(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")

    out = decode_image(data)
    assert out.dtype == np.uint8
    assert out.shape == (8, 64, 3)
    row = out[0, :, 0].astype(int)
    assert np.all(np.diff(row) >= 0)  # ordering kept
    assert row[0] == 0 and row[-1] == 255
    assert len(np.unique(row)) > 50  # not saturated at 255 past the first few columns
    assert abs(row[32] - 130) <= 3  # mid-grey stays mid-grey
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_rgba_png_decodes_to_rgb():
    data = _save(Image.new("RGBA", (12, 10), (10, 200, 30, 128)), "PNG")
    out = decode_image(data)
    assert out.shape == (10, 12, 3)
    assert tuple(out[5, 5]) == (10, 200, 30)


def test_webp_decodes():
    data = _save(Image.new("RGB", (32, 16), BLUE), "WEBP", quality=95)
    out = decode_image(data)
    assert out.shape == (16, 32, 3)
    assert _close(out[8, 16], BLUE)


def test_bmp_decodes_exactly():
    source = np.asarray(_noise(9, 7, seed=3))
    assert np.array_equal(decode_image(_save(Image.fromarray(source), "BMP")), source)


def test_phone_style_mpo_jpeg_decodes_first_frame():
    first, second = Image.new("RGB", (30, 20), RED), Image.new("RGB", (30, 20), BLUE)
    data = _save(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    out = decode_image(data)
    assert out.shape == (20, 30, 3)
    assert _close(out[10, 15], RED)


def test_decode_returns_contiguous_uint8_rgb():
    out = decode_image(_save(Image.new("L", (5, 4), 77), "PNG"))
    assert out.dtype == np.uint8 and out.shape == (4, 5, 3) and out.flags["C_CONTIGUOUS"]
    assert np.all(out == 77)


def test_encode_jpeg_round_trips_shape_and_content():
    source = np.zeros((48, 80, 3), dtype=np.uint8)
    source[:, :40] = RED
    source[:, 40:] = GREEN
    data = encode_jpeg(source)
    assert data[:2] == b"\xff\xd8"
    out = decode_image(data)
    assert out.shape == source.shape
    assert _close(out[24, 10], RED) and _close(out[24, 70], GREEN)
