"""A STAND-IN second enrolment photo, for demos and simulators only.

Enrolment takes at least two photos (policy `[face] enrol_min_photos`). A real enrolment takes
two separate captures of the person; the demo (scikit-image's astronaut) and the PAD
simulator have one picture per person, so they derive the second from the first: re-framed
(4% cut from the top and the left), scaled to 90% and 6% brighter. Its template lies ~0.07
from the original's, much closer than a second capture's would: never use this for a real
person.
"""

from __future__ import annotations

import io


def second_view(data: bytes) -> bytes:
    """The same picture, slightly re-framed, smaller and brighter, as PNG bytes."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGB")
    width, height = picture.size
    picture = picture.crop((width * 4 // 100, height * 4 // 100, width, height))
    brighter = np.clip(np.asarray(picture, np.float32) * 1.06, 0, 255).astype(np.uint8)
    picture = Image.fromarray(brighter)
    size = (max(1, picture.width * 9 // 10), max(1, picture.height * 9 // 10))
    buf = io.BytesIO()
    picture.resize(size, Image.Resampling.LANCZOS).save(buf, format="PNG")
    return buf.getvalue()
