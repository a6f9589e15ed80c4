"""Cameras: OpenCV devices and streams, and a simulator playing a video or images.

Every camera grabs in its own background thread and keeps only the newest frame, so the
UI thread never waits on a device: it asks `latest()` when it repaints, or iterates
`frames()` from a worker. Frames are RGB (what Kivy textures and the face engine take),
not OpenCV's BGR.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from hardware.errors import DeviceNotFoundError, DeviceTimeoutError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
CameraStatus = Literal["connecting", "streaming", "disconnected", "ended", "closed"]


@dataclass(frozen=True)
class Frame:
    """One picture: H x W x 3 RGB uint8, when it was grabbed, and its number on this camera."""

    image: np.ndarray
    timestamp: float  # time.time() at grab
    index: int

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    def encode(self, suffix: str = ".jpg") -> bytes:
        ok, buffer = cv2.imencode(suffix, cv2.cvtColor(self.image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError(f"OpenCV cannot encode a frame as {suffix}")
        return buffer.tobytes()

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_bytes(self.encode(target.suffix or ".jpg"))
        return target


class Camera(Protocol):
    name: str

    @property
    def status(self) -> CameraStatus: ...

    def latest(self) -> Frame | None: ...

    def frames(self) -> Iterator[Frame]: ...

    def next_frame(self, timeout: float = 5.0) -> Frame: ...

    def close(self) -> None: ...


class BackgroundCamera:
    """The grabbing thread and the newest-frame hand-over shared by all cameras."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._status: CameraStatus = "connecting"
        self.last_error: str | None = None
        self._latest: Frame | None = None
        self._count = 0
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera {name}", daemon=True)

    def _start(self) -> None:
        self._thread.start()

    # subclasses: one BGR image, or None when the source is lost or finished
    def _grab(self) -> np.ndarray | None:
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError

    @property
    def status(self) -> CameraStatus:
        return self._status

    def _set_status(self, status: CameraStatus, error: str | None = None) -> None:
        with self._changed:
            if self._status == "closed":
                return  # the grabber may still be finishing its last read
            self._status = status
            if error is not None:
                self.last_error = error
            self._changed.notify_all()

    def _publish(self, bgr: np.ndarray) -> None:
        if bgr.ndim == 2:  # grey images and some IR cameras
            rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        else:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB if bgr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        with self._changed:
            if self._status == "closed":
                return
            self._latest = Frame(rgb, time.time(), self._count)
            self._count += 1
            self._status = "streaming"
            self._changed.notify_all()

    def latest(self) -> Frame | None:
        """The newest frame, at once; None before the first one."""
        return self._latest

    def _finished(self) -> bool:
        return self._status in ("ended", "closed")

    def next_frame(self, timeout: float = 5.0) -> Frame:
        """A frame grabbed after this call (for a photo: not a stale one)."""
        with self._changed:
            after = self._count
            ready = self._changed.wait_for(lambda: self._count > after or self._finished(), timeout)
            if self._count > after and self._latest is not None:
                return self._latest
        detail = f": {self.last_error}" if self.last_error else ""
        if ready:
            raise DeviceNotFoundError(f"camera {self.name} is {self._status}{detail}")
        raise DeviceTimeoutError(f"camera {self.name} sent no picture in {timeout:g} s{detail}")

    def frames(self) -> Iterator[Frame]:
        """Every new frame as it arrives (frames are skipped when the consumer is slower).

        Ends when the camera is closed, or when a non-looping simulation has played out.
        """
        seen = -1
        while True:
            frame = self._wait_newer(seen)
            if self._status == "closed":
                return
            if frame is not None and frame.index > seen:
                seen = frame.index
                yield frame
            elif self._finished():
                return

    def _wait_newer(self, seen: int) -> Frame | None:
        with self._changed:
            self._changed.wait_for(lambda: self._count - 1 > seen or self._finished())
            return self._latest

    def close(self) -> None:
        self._stopped.set()
        with self._changed:
            self._status = "closed"
            self._changed.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> BackgroundCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _capture_source(source: int | str) -> int | str:
    """ "0" from a config file means device 0, not a file called 0."""
    return int(source) if isinstance(source, str) and source.isdigit() else source


class OpenCVCamera(BackgroundCamera):
    """A USB/CSI camera (index or /dev/videoN) or a network stream (rtsp://, http://).

    When the camera is unplugged or the stream drops, it keeps retrying every
    `reconnect_delay` seconds and resumes by itself when the device is back.
    """

    def __init__(
        self,
        source: int | str = 0,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        *,
        reconnect_delay: float = 1.0,
    ) -> None:
        super().__init__(f"opencv:{source}")
        self.source = _capture_source(source)
        self.width, self.height, self.fps = width, height, fps
        self.reconnect_delay = reconnect_delay
        self._capture: cv2.VideoCapture | None = None
        self._start()

    def _open(self) -> bool:
        capture = cv2.VideoCapture(self.source)
        if not capture.isOpened():
            capture.release()
            return False
        for prop, value in (
            (cv2.CAP_PROP_FRAME_WIDTH, self.width),
            (cv2.CAP_PROP_FRAME_HEIGHT, self.height),
            (cv2.CAP_PROP_FPS, self.fps),
        ):
            if value:
                capture.set(prop, value)  # a request: drivers pick the nearest mode
        self._capture = capture
        return True

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _grab(self) -> np.ndarray | None:
        if self._capture is None:
            return None
        ok, image = self._capture.read()
        return image if ok and image is not None else None

    def _run(self) -> None:
        min_interval = 1.0 / self.fps if self.fps else 0.0
        while not self._stopped.is_set():
            if self._capture is None and not self._open():
                self._set_status("disconnected", f"cannot open {self.source!r}")
                self._stopped.wait(self.reconnect_delay)
                continue
            started = time.monotonic()
            image = self._grab()
            if image is None:  # unplugged, stream dropped, or a file came to its end
                self._release()
                self._set_status("disconnected", f"lost {self.source!r}; reconnecting")
                self._stopped.wait(self.reconnect_delay)
                continue
            self._publish(image)
            # live devices pace themselves; files and fast streams must not spin a core
            self._stopped.wait(max(0.0, min_interval - (time.monotonic() - started)))
        self._release()


def _image_paths(path: str | Path | Sequence[str | Path]) -> list[Path] | None:
    """The images to play, or None when `path` is a video file."""
    if isinstance(path, str | Path):
        target = Path(path)
        if target.is_dir():
            return sorted(p for p in target.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if target.suffix.lower() in IMAGE_SUFFIXES:
            return [target]
        return None
    return [Path(p) for p in path]


def read_media(path: str | Path | Sequence[str | Path]) -> Iterator[np.ndarray]:
    """Every BGR image of a video file, a folder of images or a list of image paths."""
    images = _image_paths(path)
    if images is None:
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise DeviceNotFoundError(f"cannot open the video {path}")
        try:
            while True:
                ok, image = capture.read()
                if not ok:
                    return
                yield image
        finally:
            capture.release()
    else:
        if not images:
            raise DeviceNotFoundError(f"no images in {path}")
        for image_path in images:
            still = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
            if still is None:
                raise DeviceNotFoundError(f"cannot read the image {image_path}")
            yield still


class SimulatedCamera(BackgroundCamera):
    """Plays a video file, a folder of images or a list of image paths at `fps`.

    It behaves like a camera (background thread, newest frame, real pacing), so the kiosk
    runs and can be demonstrated with no camera attached.
    """

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        fps: float = 15.0,
        loop: bool = True,
    ) -> None:
        label = path if isinstance(path, str | Path) else f"{len(path)} images"
        super().__init__(f"simulated:{label}")
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.path, self.fps, self.loop = path, fps, loop
        self._media = read_media(path)
        self._first: np.ndarray | None = next(
            self._media, None
        )  # fail now on a wrong path, not in the thread
        if self._first is None:
            raise DeviceNotFoundError(f"{label} holds no frames")
        self._start()

    def _grab(self) -> np.ndarray | None:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        image = next(self._media, None)
        if image is None and self.loop:
            self._media = read_media(self.path)
            image = next(self._media, None)
        return image

    def _run(self) -> None:
        interval = 1.0 / self.fps
        due = time.monotonic()
        while not self._stopped.is_set():
            image = self._grab()
            if image is None:
                self._set_status("ended")
                return
            self._publish(image)
            due += interval
            # if we fell behind (a busy machine), carry on from now instead of bursting
            due = max(due, time.monotonic())
            self._stopped.wait(due - time.monotonic())
