"""Liveness frames for the tests of the certification route and its clients.

The server measures liveness on the frames themselves, so a test that wants a pass must
send a sequence of the person doing the challenge's actions. There is no such video of the
shared photos' people: the frames are SYNTHESIZED from one photo by
biometrics.sequences (the face mesh re-rendered in 3-D: a head turn with parallax, closed
lids, an open mouth; see that module's docstring for what this is and is not). Rendering
is cached per photo and action list; timestamps are re-based on each challenge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache

from biometrics.image import load_image
from biometrics.sequences import simulated_capture

FPS = 6.0
# The frames are stamped twice as densely as they were rendered: a test submits right after
# the challenge is issued, and the server refuses frames stamped more than 5 s ahead of its
# clock (a 3-action sequence is ~5 s at 6 frames/s). The server sees a quick person at 12/s.
STAMP_FPS = 12.0


@cache
def _rendered(
    digest: str, photo: bytes, actions: tuple[str, ...]
) -> tuple[tuple[bytes, ...], tuple[float, ...]]:
    frames, items = simulated_capture(load_image(photo), actions, start=0.0, fps=FPS)
    return tuple(frames), tuple(float(i["t"]) for i in items)  # type: ignore[arg-type]


def genuine_capture(
    photo: bytes, actions: Sequence[str], start: float
) -> tuple[list[bytes], list[dict[str, float]]]:
    """(JPEG frames, evidence items) of the photo's face doing `actions`, the first frame
    at `start` (unix seconds)."""
    digest = hashlib.sha256(photo).hexdigest()
    frames, offsets = _rendered(digest, photo, tuple(actions))
    del offsets  # re-stamped at STAMP_FPS (above)
    items = [{"t": round(start + i / STAMP_FPS, 3), "sample": i} for i in range(len(frames))]
    return list(frames), items
