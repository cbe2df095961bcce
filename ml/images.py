"""Decode uploaded images safely: type from content, size limits, EXIF orientation, RGB out."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ml.errors import CodedError

# MPO: JPEGs from many phone cameras carry a multi-picture segment; the first frame is used.
ALLOWED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "BMP"}


class ImageError(CodedError, ValueError):
    """An upload that is not a usable image; `code` names the reason."""


def decode_image(data: bytes, max_pixels: int = 40_000_000) -> np.ndarray:
    """Return the image in `data` as a uint8 RGB array, or raise ImageError."""
    if not data:
        raise ImageError("empty_file", "The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ALLOWED_FORMATS:
                raise ImageError(
                    "unsupported_image",
                    f"{image.format} images are not accepted; send JPEG, PNG or WebP.",
                )
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    "image_too_large",
                    f"The image is {width}x{height}; at most {max_pixels:,} pixels are accepted.",
                )
            image.load()
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError("not_an_image", "The file is not an image we can read.") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError("image_too_large", "The image has too many pixels.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError("corrupt_image", "The image is damaged or truncated.") from exc
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: map the full 16-bit range onto 8 bits instead of clipping.
        array = np.asarray(image, dtype=np.float32)
        image = Image.fromarray(np.clip(array / 257.0, 0, 255).astype(np.uint8))
    rgb = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """Encode an RGB array as JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Check an image is HxWx3 uint8 RGB, converting grey and RGBA; contiguous out."""
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
    return np.ascontiguousarray(image)
