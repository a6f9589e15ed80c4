"""The cheap checks a kiosk or field submission passes before any pixel is decoded.

A certification request is the most expensive thing the backend does (face detection,
templates, liveness on many frames), and its sender may be hostile. So, in this order and
before any image is decoded:

1. the parts' counts and sizes, and each picture's format and dimensions read from its
   header alone (PIL's lazy open): too many, too big or not a picture is refused;
2. the evidence JSON, parsed with bounded size and nesting, finite numbers only, frames as
   objects: anything else is 422 `bad_evidence`;
3. the device's Ed25519 signature over the challenge, the nonce and the digests of the
   first image, every frame and the evidence (client/capture.py): 401
   `bad_capture_signature`;
4. (certification.submit) the challenge: issued to this caller for this person, unused,
   unexpired.

The limits are module constants so they are easy to adjust together with the liveness
check's needs (frames at >= 5 per second across each action).
"""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlmodel import select

from backend.errors import DomainError, InvalidInput, Unauthorized
from backend.models import Device
from backend.services.context import Ctx
from client import capture

# What one request may cost: the decision computes a face template (~0.4 s of CPU here) for
# images[0] and for each distinct frame the evidence names as a sample; nothing else is decoded.
MAX_IMAGES = 5  # accepted for older apps; only images[0], the signed one, is used
MAX_FRAMES = 90  # liveness frames: >= 5 per second over a challenge of up to 3 actions (~8-12 s)
MAX_IMAGE_BYTES = 3_000_000  # one best image
MAX_FRAME_BYTES = 250_000  # one frame (a 640x480 JPEG is 30-80 KB)
# (long side, short side), either orientation; the apps shrink to fit (client/capture.py)
MAX_IMAGE_SIDES = capture.MAX_IMAGE_SIDES  # a best image up to full HD
MAX_FRAME_SIDES = capture.MAX_FRAME_SIDES  # a liveness frame up to VGA
IMAGE_FORMATS = ("JPEG", "PNG")
MAX_EVIDENCE_BYTES = 262_144
MAX_EVIDENCE_DEPTH = 6  # {"frames": [{"shape": [[x, y], ...]}]} is 4 deep
MAX_EVIDENCE_ITEMS = 1_000  # per-frame measurements (30 per second for half a minute)
MAX_EVIDENCE_LIST = 1_000  # any one list (a landmark shape is at most 468 points)
NUMBER_KEYS = ("t", "ear", "mar", "yaw", "pitch", "roll", "aspect")


class TooLarge(DomainError):
    status = 413
    title = "Request too large"
    type = "https://nongbao.example/problems/too-large"
    code = "request_too_large"


def _bad_evidence(message: str) -> InvalidInput:
    return InvalidInput(
        f"the liveness evidence is not valid: {message}; nothing was recorded",
        errors=[{"field": "evidence", "message": message}],
        code="bad_evidence",
    )


# --- 1. the parts ----------------------------------------------------------------------------


def check_parts(images: Sequence[bytes], frames: Sequence[bytes]) -> None:
    """Counts, bytes, formats and dimensions, from the headers only."""
    if not images:
        raise InvalidInput(
            "send at least one face image in `images`",
            errors=[{"field": "images", "message": "at least one image"}],
            code="no_image",
        )
    _check_count("images", images, MAX_IMAGES)
    _check_count("frames", frames, MAX_FRAMES)
    for i, data in enumerate(images):
        _check_picture(f"images[{i}]", data, MAX_IMAGE_BYTES, MAX_IMAGE_SIDES)
    for i, data in enumerate(frames):
        _check_picture(f"frames[{i}]", data, MAX_FRAME_BYTES, MAX_FRAME_SIDES)


def _check_count(field: str, parts: Sequence[bytes], limit: int) -> None:
    if len(parts) > limit:
        raise InvalidInput(
            f"at most {limit} files in `{field}`, not {len(parts)}",
            errors=[{"field": field, "message": f"at most {limit} files"}],
            code="too_many_files",
        )


def _check_picture(field: str, data: bytes, max_bytes: int, sides: tuple[int, int]) -> None:
    if len(data) > max_bytes:
        raise TooLarge(
            f"`{field}` is {len(data)} bytes, over the limit of {max_bytes}",
            errors=[{"field": field, "message": f"at most {max_bytes} bytes"}],
            code="file_too_large",
        )
    width, height = picture_size(field, data)
    long_side, short_side = max(width, height), min(width, height)
    if long_side > sides[0] or short_side > sides[1]:
        raise TooLarge(
            f"`{field}` is {width}x{height} pixels, over the limit of {sides[0]}x{sides[1]}",
            errors=[{"field": field, "message": f"at most {sides[0]}x{sides[1]} pixels"}],
            code="image_too_large",
        )


def picture_size(field: str, data: bytes) -> tuple[int, int]:
    """(width, height) from the header, without decoding the pixels."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
                width, height = image.size
        except Image.DecompressionBombError:
            raise TooLarge(
                f"`{field}` declares a size far over the limit", code="image_too_large"
            ) from None
        except (UnidentifiedImageError, OSError, ValueError):
            raise InvalidInput(
                f"`{field}` is not a JPEG or PNG picture",
                errors=[{"field": field, "message": "not a JPEG or PNG picture"}],
                code="bad_image",
            ) from None
    if width <= 0 or height <= 0:
        raise InvalidInput(f"`{field}` has no pixels", code="bad_image")
    return width, height


# --- 2. the evidence -------------------------------------------------------------------------


def parse_evidence(text: str, frames: int) -> dict[str, Any]:
    """The evidence JSON as a dict, or 422 `bad_evidence`. Bounded: its size, its nesting
    (checked on the text, before the parser could recurse), finite numbers only (no NaN,
    Infinity, 1e400), frames as objects with numbers where numbers belong."""
    if not text:
        return {}
    if len(text.encode("utf-8", "surrogatepass")) > MAX_EVIDENCE_BYTES:
        raise _bad_evidence(f"larger than {MAX_EVIDENCE_BYTES} bytes")
    if nesting_depth(text) > MAX_EVIDENCE_DEPTH:
        raise _bad_evidence(f"nested deeper than {MAX_EVIDENCE_DEPTH} levels")
    try:
        raw = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise _bad_evidence(f"not JSON ({str(exc)[:80]})") from None
    if not isinstance(raw, dict):
        raise _bad_evidence("not a JSON object")
    _check_lists(raw)
    items = raw.get("frames", [])
    if not isinstance(items, list):
        raise _bad_evidence("`frames` is not a list")
    if len(items) > MAX_EVIDENCE_ITEMS:
        raise _bad_evidence(f"more than {MAX_EVIDENCE_ITEMS} frames")
    for n, item in enumerate(items):
        _check_item(n, item, frames)
    # no count of sampled frames to check: each names a frame index (_check_item), and there are
    # at most MAX_FRAMES frames
    return raw


def nesting_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings (a linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal[:20]} is out of range")
    return value


def _check_lists(value: object) -> None:
    # depth is bounded above, so this recursion is too
    if isinstance(value, list):
        if len(value) > MAX_EVIDENCE_LIST:
            raise _bad_evidence(f"a list longer than {MAX_EVIDENCE_LIST}")
        for v in value:
            _check_lists(v)
    elif isinstance(value, dict):
        for v in value.values():
            _check_lists(v)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_item(n: int, item: object, frames: int) -> None:
    if not isinstance(item, dict):
        raise _bad_evidence(f"frames[{n}] is not an object")
    for key in NUMBER_KEYS:
        if key in item and item[key] is not None and not _is_number(item[key]):
            raise _bad_evidence(f"frames[{n}].{key} is not a number")
    if "face" in item and not isinstance(item["face"], bool):
        raise _bad_evidence(f"frames[{n}].face is not true or false")
    sample = item.get("sample")
    if sample is not None and (
        not isinstance(sample, int) or isinstance(sample, bool) or not 0 <= sample < frames
    ):
        raise _bad_evidence(f"frames[{n}].sample is not the index of a sent frame")
    shape = item.get("shape")
    if shape is not None and not (
        isinstance(shape, list)
        and all(
            isinstance(p, list) and len(p) in (2, 3) and all(_is_number(c) for c in p)
            for p in shape
        )
    ):
        raise _bad_evidence(f"frames[{n}].shape is not a list of points")


# --- 3. the signature ------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    """Who signed the capture: the device and its key id (None: unsigned, allowed by policy)."""

    device_id: str | None
    key_id: str | None


def _bad_signature(reason: str) -> Unauthorized:
    return Unauthorized(
        f"the capture is not signed by a registered device key: {reason}",
        code="bad_capture_signature",
    )


def signer(ctx: Ctx, key_id: str | None) -> Device | None:
    """The device whose key must have signed: a kiosk's or field device's own; for a field
    worker signed in on a phone, the registered field phone the `key_id` names."""
    actor = ctx.actor
    if actor.device_id is not None:
        device = ctx.session.get(Device, actor.device_id)
        if device is not None and key_id and device.key_id != key_id:
            raise _bad_signature("key_id is not this device's key")
        return device
    if not key_id:
        return None
    device = ctx.session.exec(select(Device).where(Device.key_id == key_id)).first()
    if device is None:
        raise _bad_signature("no device is registered with this key")
    if device.kind != "field":
        raise _bad_signature("a field worker signs with a registered field phone's key")
    return device


def check_signature(
    ctx: Ctx,
    *,
    challenge_id: str,
    nonce: str,
    images: Sequence[bytes],
    frames: Sequence[bytes],
    evidence: str,
    signature: str | None,
    key_id: str | None,
) -> Signed:
    """401 `bad_capture_signature` unless the capture is signed by an active device's
    registered key. A device without a key may submit unsigned only when the county's
    policy allows it (`[certification] require_signed_captures = false`)."""
    device = signer(ctx, key_id)
    if device is not None and not device.active:
        raise _bad_signature("the device is revoked")
    if device is None or device.public_key is None:
        if ctx.policy.certification.require_signed_captures:
            raise _bad_signature(
                "this county requires signed captures and no device key is registered"
                if device is None or signature
                else "this device has no registered key; register its public key"
            )
        return Signed(device.id if device else None, None)
    if not signature:
        raise _bad_signature("the `signature` field is missing")
    message = capture.capture_message(challenge_id, nonce, images, frames, evidence)
    raw = capture.decode_public_key(device.public_key)
    if not capture.verify(raw, signature, message):
        raise _bad_signature("the signature does not match what was sent")
    return Signed(device.id, device.key_id)
