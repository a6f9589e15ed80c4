"""Untrusted image bytes: clear errors, bounded memory, alpha flattened."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import FACES

from biometrics.errors import ImageError
from biometrics.image import load_image


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims width x height: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_jpeg_file_decodes_to_rgb_uint8() -> None:
    image = load_image(FACES / "lfw/Colin_Powell/Colin_Powell_0001.jpg")
    assert image.shape == (250, 250, 3)
    assert image.dtype == np.uint8


def test_bytes_and_str_paths_are_accepted() -> None:
    path = FACES / "face_recognition/examples/obama_small.jpg"
    from_bytes = load_image(path.read_bytes())
    from_str = load_image(str(path))
    assert from_bytes.shape == (240, 320, 3)
    assert np.array_equal(from_bytes, from_str)


def test_png_with_alpha_is_converted_not_refused() -> None:
    image = load_image(FACES / "face_recognition/tests/test_images/32bit.png")
    assert image.shape == (1200, 626, 3)
    assert image.dtype == np.uint8


def test_empty_input_is_refused() -> None:
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_truncated_jpeg_is_refused() -> None:
    raw = (FACES / "face_recognition/examples/obama-480p.jpg").read_bytes()
    with pytest.raises(ImageError, match="truncated"):
        load_image(raw[: len(raw) // 2])


def test_non_image_is_refused() -> None:
    with pytest.raises(ImageError, match="not a supported image"):
        load_image(b"%PDF-1.4 this is not a photo\n" * 20)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = png_header_only(20_000, 20_000)
    assert len(bomb) < 1_000  # 400 megapixels claimed by a tiny file
    with pytest.raises(ImageError, match="too large"):
        load_image(bomb)


def test_pixel_limit_is_configurable() -> None:
    path = FACES / "lfw/Colin_Powell/Colin_Powell_0001.jpg"
    with pytest.raises(ImageError, match="250x250"):
        load_image(path, max_pixels=250 * 250 - 1)
    assert load_image(path, max_pixels=250 * 250).shape == (250, 250, 3)


def test_missing_file_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path / "absent.jpg")


def test_arrays_of_the_wrong_kind_are_refused_by_the_gate() -> None:
    from biometrics.quality import assess

    with pytest.raises(ImageError, match="uint8"):
        assess(np.zeros((100, 100, 3), dtype=np.float32), purpose="verify")
    with pytest.raises(ImageError, match="shape"):
        assess(np.zeros((100, 100, 2), dtype=np.uint8), purpose="verify")
    grey = np.full((120, 160), 128, dtype=np.uint8)
    assert [r.code for r in assess(grey, purpose="verify").reasons] == ["no_face"]


def test_a_truncated_jpeg_is_refused_even_after_face_recognition_is_imported() -> None:
    """face_recognition's import turns on Pillow's process-wide LOAD_TRUNCATED_IMAGES (the
    face bench imports it for its floor): load_image must refuse a cut upload regardless."""
    import warnings

    from PIL import ImageFile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition  # noqa: F401

    ImageFile.LOAD_TRUNCATED_IMAGES = True  # as that import leaves it, whatever ran before
    raw = (FACES / "face_recognition/examples/obama-480p.jpg").read_bytes()
    with pytest.raises(ImageError, match="truncated"):
        load_image(raw[: len(raw) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
