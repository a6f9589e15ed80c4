"""The CPU one certification request costs the server, at the largest the caps admit.

Runs the backend in this process (SQLite in a temporary folder, the test run's users) and
measures `time.process_time()` around one POST /api/v1/certifications (the server's work
runs in this process's threads), for:

- `worst`: the most the entry checks let through: MAX_IMAGES best images at the image cap,
  MAX_FRAMES distinct frames at the frame cap, every one of them named as a sample
  (each one's identity is computed), signed;
- `refused`: an oversized request (5 images of 4000x3000, 10 frames of 1280x720), refused
  from the headers before any decode;
- `typical`: one image and one frame, as the tests send;
- `refused_floor`, the floor of `refused`: the same bytes posted without the kiosk's token,
  refused (401) before any check of the pictures: receiving and parsing the request alone.
  `refused_ratio` is refused / floor.

    PYTHONPATH=$PWD NONGBAO_CLOCK=2026-11-27T10:00:00+08:00 .venv/bin/python scripts/cert_request_cpu.py

Needs /work/shared/faces (the LFW photos the tests use). Prints one JSON object.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image


def scaled(jpeg: bytes, size: tuple[int, int], variant: int = 0) -> bytes:
    """The face photo placed in a frame of `size` (scaled to the height), as a JPEG; each
    variant has a different background, so no two parts share a cache entry."""
    face = Image.open(io.BytesIO(jpeg)).convert("RGB")
    w, h = size
    side = min(w, h)
    canvas = Image.new("RGB", size, (90 + variant % 100, 90, 90 + variant // 100))
    canvas.paste(face.resize((side, side)), ((w - side) // 2, (h - side) // 2))
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def main() -> int:
    from fastapi.testclient import TestClient

    from backend.app import create_app
    from backend.db import upgrade
    from backend.services import captures
    from tests.backend.cert_helpers import (
        ENROL_A,
        SAME_A,
        challenge,
        device,
        elder,
        enrol_face,
        photo,
        sign,
        synthesized_evidence,
    )
    from tests.backend.conftest import Api, bootstrap, make_settings
    from tests.conftest import TODAY

    tmp = Path(tempfile.mkdtemp(prefix="nongbao-cpu-"))
    url = f"sqlite:///{tmp / 'db.sqlite3'}"
    upgrade(url)
    bootstrap(url, tmp)
    app = create_app(make_settings(url, tmp), today=lambda: TODAY)
    results: dict[str, Any] = {}
    with TestClient(app) as client:
        api = Api(client)
        pid = elder(api)
        enrol_face(api, pid, ENROL_A)
        face = photo(SAME_A)

        def run(
            name: str, images: list[bytes], frames: list[bytes], samples: bool, signed: bool = True
        ) -> None:
            kiosk = device(api, name=f"kiosk-{name}")
            ch = challenge(api, kiosk, pid)
            evidence = json.loads(synthesized_evidence(ch))
            if samples:  # every frame named as a sample: each one's identity is computed
                items = evidence["frames"]
                for n in range(min(len(frames), captures.MAX_FRAMES)):
                    items.append({**items[0], "t": items[-1]["t"] + 0.05, "sample": n})
            data = {
                "person_id": pid,
                "channel": "kiosk",
                "challenge_id": ch["challenge_id"],
                "nonce": ch["nonce"],
                "evidence": json.dumps(evidence),
            }
            files = [("images", (f"i{n}.jpg", b, "image/jpeg")) for n, b in enumerate(images)]
            files += [("frames", (f"f{n}.jpg", b, "image/jpeg")) for n, b in enumerate(frames)]
            body = sign(kiosk.key, data, files)
            started, wall = time.process_time(), time.perf_counter()
            headers = kiosk if signed else {}
            r = client.post("/api/v1/certifications", headers=headers, data=body, files=files)
            results[name] = {
                "status": r.status_code,
                "code": r.json().get("code") or r.json().get("outcome"),
                "cpu_s": round(time.process_time() - started, 3),
                "wall_s": round(time.perf_counter() - wall, 3),
                "request_bytes": sum(len(b) for b in images + frames) + len(body["evidence"]),
                "images": len(images),
                "frames": len(frames),
            }

        run("typical", [face], [face], samples=False)
        oversized = ([scaled(face, (4000, 3000))] * 5, [scaled(face, (1280, 720))] * 10)
        run("refused_floor", *oversized, samples=True, signed=False)
        run("refused", *oversized, samples=True)
        run(
            "worst",
            [scaled(face, captures.MAX_IMAGE_SIDES, n) for n in range(captures.MAX_IMAGES)],
            [scaled(face, captures.MAX_FRAME_SIDES, n) for n in range(captures.MAX_FRAMES)],
            samples=True,
        )
    floor = results["refused_floor"]["cpu_s"]
    results["refused_ratio"] = round(results["refused"]["cpu_s"] / floor, 2) if floor else None
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
