"""Safe image loading: bounded memory, clear errors, RGB uint8 out.

Uploads come from kiosks, phones and the backend, so the bytes are untrusted: the pixel
count is read from the header and checked before anything is decoded (a 20000x20000 PNG
is 60 KB on disk and 1.2 GB in memory).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from biometrics.errors import ImageError

DEFAULT_MAX_PIXELS = 40_000_000
# Larger inputs are refused before reading them at all.
MAX_FILE_BYTES = 50 * 1024 * 1024


def load_image(data: bytes | str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a JPEG/PNG/... into an RGB uint8 array of shape (height, width, 3).

    Raises ImageError for empty, truncated, non-image or oversized input. EXIF rotation is
    applied (phones store portrait photos sideways) and transparency is flattened on white.
    """
    raw = _read_bytes(data)
    if not raw:
        raise ImageError("the image is empty (0 bytes)")
    image = _open_checked(raw, max_pixels)
    # a process-wide switch of Pillow's that any import may turn on (face_recognition's
    # does): with it on, a truncated upload would decode, its missing part grey
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"the image is truncated or corrupt: {exc}") from exc
    return to_rgb_array(image)


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Apply EXIF orientation and flatten alpha/palette/greyscale into RGB uint8."""
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _read_bytes(data: bytes | str | Path) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        path = Path(data)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageError(f"cannot read image file {path}: {exc.strerror or exc}") from exc
        if size > MAX_FILE_BYTES:
            raise ImageError(f"image file {path} is too large ({size} bytes)")
        raw = path.read_bytes()
    if len(raw) > MAX_FILE_BYTES:
        raise ImageError(f"image is too large ({len(raw)} bytes)")
    return raw


def _open_checked(raw: bytes, max_pixels: int) -> Image.Image:
    """Open (header only) and refuse images whose pixel count exceeds max_pixels."""
    with warnings.catch_warnings():
        # Pillow's own bomb check warns or raises at its global limit; ours is explicit.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(raw))
        except Image.DecompressionBombError as exc:
            raise ImageError(f"the image is too large to decode safely: {exc}") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageError("the data is not a supported image (JPEG, PNG, BMP, WebP)") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            f"the image is {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels}; refused before decoding"
        )
    return image


def ensure_rgb(image: np.ndarray) -> np.ndarray:
    """Accept grey or RGBA arrays too (cameras differ); refuse anything else clearly."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ImageError("expected an RGB image as a uint8 numpy array")
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"expected an RGB image of shape (height, width, 3), got {image.shape}")
    return image if image.flags.c_contiguous else np.ascontiguousarray(image)
