"""A corpus of hostile and odd uploads, built in code so the tests own their data.

`REFUSED`: files no upload route may accept (each must answer 4xx JSON and store nothing).
`ODD_BUT_VALID`: real images in unusual encodings that must be read correctly, never a 500.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.studio_helpers import audio_only_mp4, encode, photo, scene_frames, write_video


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims `width` x `height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
        + chunk(b"IEND", b"")
    )


def animated_gif() -> bytes:
    """Two frames of a GIF animation."""
    frames = [Image.new("RGB", (64, 64), color) for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def zip_file() -> bytes:
    """A zip archive holding one text file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a photo")
    return buffer.getvalue()


def corrupt_video(folder: Path) -> bytes:
    """An MP4 cut off after its first kilobytes."""
    path = write_video(folder / "clip.mp4", scene_frames(10, 160, 120))
    return path.read_bytes()[:3000]


def refused(folder: Path) -> dict[str, tuple[str, bytes]]:
    """name -> (upload file name, bytes) of files every image upload route must refuse."""
    good = encode(photo("madonna"))
    return {
        "empty": ("empty.jpg", b""),
        "truncated": ("cut.jpg", good[: len(good) // 3]),
        "gif-named-jpg": ("photo.jpg", animated_gif()),
        "animated-gif": ("moving.gif", animated_gif()),
        "bomb": ("bomb.png", png_claiming(60_000, 60_000)),
        "huge-dimensions": ("huge.png", png_claiming(12_000, 12_000)),
        "html-named-jpg": ("photo.jpg", b"<!doctype html><script>alert(1)</script>"),
        "zip-named-png": ("photo.png", zip_file()),
        "corrupt-video": ("clip.jpg", corrupt_video(folder)),
        "audio-only-video": ("sound.jpg", audio_only_mp4(folder / "sound.mp4").read_bytes()),
        "random-bytes": ("noise.webp", np.random.default_rng(1).bytes(5000)),
    }


def exif_rotated(rgb: np.ndarray) -> bytes:
    """A JPEG stored sideways with EXIF orientation 6 (display rotated 90 degrees clockwise)."""
    image = Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=92)
    return buffer.getvalue()


def odd_but_valid() -> dict[str, tuple[str, bytes, tuple[int, int]]]:
    """name -> (file name, bytes, (height, width) once decoded upright) of unusual real images."""
    rgb = np.ascontiguousarray(photo("madonna")[:, 30:170])  # not square: rotation shows
    height, width = rgb.shape[:2]
    cmyk = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(cmyk, format="JPEG", quality=92)
    grey16 = io.BytesIO()
    grey = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(grey16, format="PNG")  # uint16: mode I;16
    return {
        "cmyk-jpeg": ("cmyk.jpg", cmyk.getvalue(), (height, width)),
        "16-bit-grey-png": ("grey16.png", grey16.getvalue(), (height, width)),
        "exif-rotated": ("rotated.jpg", exif_rotated(rgb), (height, width)),
    }
