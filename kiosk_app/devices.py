"""The kiosk's only door to `hardware/`: card slot, camera, printer.

The rest of kiosk_app sees the small protocols below; when the hardware package's API
changes, only this file changes. Simulated devices live here too, for `--simulate` and tests.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from client import clock
from kiosk_app.models import CardInfo, CardKind, ReceiptContent


class DeviceProblem(Exception):
    """A device failed in a way the person cannot fix (message for the log and staff)."""


class CardUnreadable(DeviceProblem):
    pass


class PaperOut(DeviceProblem):
    pass


class PrinterBroken(DeviceProblem):
    pass


# ------------------------------------------------------------------ card slot


class CardSlot(Protocol):
    def watch(self, on_insert: Callable[[CardKind], None], on_remove: Callable[[], None]) -> None:
        """Call back (from any thread) when a card arrives or leaves."""
        ...

    def read(self, kind: CardKind, timeout_s: float) -> CardInfo:
        """Read the card that arrived; CardUnreadable on failure."""
        ...

    def close(self) -> None: ...


class SimulatedCardSlot:
    """Cards come and go by calling insert()/remove() (the simulator panel, tests)."""

    def __init__(self) -> None:
        self.card: CardInfo | None = None
        self.unreadable = False  # the next reads fail, like a dirty chip
        self.reader_connected = True  # False: the self-test finds no reader
        self._on_insert: Callable[[CardKind], None] | None = None
        self._on_remove: Callable[[], None] | None = None

    def watch(self, on_insert: Callable[[CardKind], None], on_remove: Callable[[], None]) -> None:
        self._on_insert, self._on_remove = on_insert, on_remove

    def insert(self, card: CardInfo) -> None:
        if self.card is not None:
            return
        self.card = card
        if self._on_insert:
            self._on_insert(card.kind)

    def remove(self) -> None:
        if self.card is None:
            return
        self.card = None
        if self._on_remove:
            self._on_remove()

    def reader_present(self) -> tuple[bool, str]:
        return self.reader_connected, "" if self.reader_connected else "simulated: unplugged"

    def read(self, kind: CardKind, timeout_s: float) -> CardInfo:
        if self.card is None:
            raise CardUnreadable("no card")
        if self.unreadable:
            raise CardUnreadable("simulated unreadable chip")
        return self.card

    def close(self) -> None:
        pass


class HardwareCardSlot:
    """The kiosk's readers from `hardware.cards` (social security card, ID card): any object
    with card_present/read/watch/close, whose read() gives a `hardware.cards.CardData`."""

    def __init__(self, readers: dict[CardKind, Any]) -> None:
        if not readers:
            raise DeviceProblem("no card reader is configured (hardware config: none)")
        self._readers = readers
        self._watchers: list[Any] = []

    def watch(self, on_insert: Callable[[CardKind], None], on_remove: Callable[[], None]) -> None:
        for kind, reader in self._readers.items():

            def callback(event: Any, kind: CardKind = kind) -> None:
                if event.kind == "inserted":
                    on_insert(kind)
                elif event.kind == "removed":
                    on_remove()

            self._watchers.append(reader.watch(callback))

    def reader_present(self) -> tuple[bool, str]:
        """Every configured reader answers (a card need not be in)."""
        errors = importlib.import_module("hardware.errors")
        for kind, reader in self._readers.items():
            try:
                reader.card_present()
            except errors.DeviceError as exc:
                return False, f"{kind.value}: {exc}"
        return True, ""

    def read(self, kind: CardKind, timeout_s: float) -> CardInfo:
        errors = importlib.import_module("hardware.errors")
        try:
            data = self._readers[kind].read(timeout=timeout_s)
        except errors.DeviceError as exc:
            raise CardUnreadable(str(exc)) from exc
        return card_info_from(data)

    def close(self) -> None:
        for watcher in self._watchers:
            watcher.stop()
        for reader in self._readers.values():
            reader.close()


def card_info_from(data: Any) -> CardInfo:
    """hardware.cards.CardData -> CardInfo (only what the kiosk needs)."""
    kind = CardKind.ID_CARD if data.source == "idcard" else CardKind.SOCIAL_SECURITY
    return CardInfo(kind, data.id_number, data.name, data.card_number)


# ------------------------------------------------------------------ camera


class Camera(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def read(self) -> np.ndarray | None:
        """The latest RGB frame (H, W, 3) uint8, or None when none is available."""
        ...

    def captured_at(self) -> float | None:
        """When the frame `read` last returned was captured (the product clock's POSIX
        seconds, what the liveness evidence carries); None when the camera cannot tell, and
        the kiosk stamps the frame when it reads it."""
        ...


class SimulatedCamera:
    """Synthetic frames: a lit background with a face-like oval that drifts a little."""

    def __init__(self, width: int = 640, height: int = 480) -> None:
        self.width, self.height = width, height
        self.broken = False
        self._n = 0
        yy, xx = np.mgrid[0:height, 0:width]
        self._yy, self._xx = yy, xx
        base = np.empty((height, width, 3), np.uint8)
        base[..., 0] = 70 + (yy * 60 // height)
        base[..., 1] = 90 + (yy * 50 // height)
        base[..., 2] = 110 + (xx * 40 // width)
        self._base = base

    def start(self) -> None:
        self._n = 0

    def stop(self) -> None:
        pass

    def captured_at(self) -> float | None:
        return None  # stamped by the kiosk when read

    def read(self) -> np.ndarray | None:
        if self.broken:
            return None
        self._n += 1
        frame = self._base.copy()
        cx = self.width / 2 + 6 * np.sin(self._n / 5)
        cy = self.height / 2
        inside = ((self._xx - cx) / 110) ** 2 + ((self._yy - cy) / 145) ** 2 <= 1
        frame[inside] = (224, 186, 160)
        for ex in (cx - 40, cx + 40):  # eyes
            eye = ((self._xx - ex) / 14) ** 2 + ((self._yy - (cy - 30)) / 8) ** 2 <= 1
            frame[eye] = (40, 30, 30)
        mouth = ((self._xx - cx) / 40) ** 2 + ((self._yy - (cy + 60)) / 9) ** 2 <= 1
        frame[mouth] = (150, 60, 60)
        return frame


class ChallengeCamera:
    """A simulated camera with a person in front of it who does what the kiosk asks (the
    demo kiosk against a real backend, end-to-end tests). Until a challenge starts it shows
    the person's photos (`show`) in turn; `play(actions, start)` then shows their face doing
    the actions, rendered in 3-D from the first photo by biometrics.sequences (frames the
    server's liveness check accepts; see that module for what they are and are not).

    It behaves as a real camera filming a person at `render_fps` would, whatever the speed
    of the machine: frame i of the playback is stamped `start + i / render_fps` (when a
    camera would have captured it, `captured_at`), and the playback is paced by the reads,
    not by the clock. The controller reads at its camera rate `fps`, so each rendered frame
    is read fps/render_fps times in a row (a reader faster than its camera sees a frame
    again; the controller keeps a frame once, by its stamp): every frame is sent at its own
    time, and no part of the playback is skipped however long the reader pauses (a loaded
    machine, Kivy drawing, rendering). The stamps never run ahead of the reads' wall time:
    the reader takes at least 1/fps per read. Frames are `size`, the kiosk's sample width
    (at 320x240 the face mesh misses some rendered blinks). Rendering runs ahead on a
    thread. `actions_shown()`: how many actions the frames read so far have completed."""

    def __init__(
        self, fps: float = 12.0, render_fps: float = 6.0, size: tuple[int, int] = (480, 360)
    ) -> None:
        self.fps, self.render_fps, self.size = fps, render_fps, size
        self.broken = False
        self._sequences: Any = importlib.import_module("biometrics.sequences")
        self._photos: list[np.ndarray] = []
        self._n = 0
        self._changed = threading.Condition()
        self._playing = False
        self._frames: list[np.ndarray] = []
        self._ends: list[int] = []  # per action: how many reads until it is complete
        self._total = 0  # frames in the playback
        self._repeat = 1  # reads of each frame
        self._read = 0  # reads of the playback
        self._generation = 0  # a new play() or show() ends the rendering of the old one
        self._start = 0.0  # the playback's first frame's capture stamp
        self._stamp: float | None = None  # the capture stamp of the frame last read

    def show(self, photos: list[np.ndarray]) -> None:
        """The person now in front of the camera: their RGB photos."""
        with self._changed:
            self._photos, self._n, self._playing = list(photos), 0, False
            self._generation += 1

    def start(self) -> None:
        pass

    def stop(self) -> None:
        with self._changed:
            self._playing = False
            self._generation += 1

    def play(self, actions: tuple[str, ...], start: float) -> None:
        """The person does `actions`; the playback's first frame is captured at `start`."""
        sequences = self._sequences
        rate = self.render_fps
        repeat = max(1, round(self.fps / rate))
        poses = [len(sequences.action_poses(a, rate)) for a in actions]
        baseline = len(sequences.timeline((), rate))
        ends = [baseline + sum(poses[: i + 1]) for i in range(len(actions))]
        with self._changed:
            if not self._photos:
                raise DeviceProblem("nobody in front of the simulated camera")
            self._generation += 1
            generation, photo = self._generation, self._photos[0]
            self._playing, self._frames, self._read = True, [], 0
            self._start, self._stamp = start, None
            self._repeat, self._ends = repeat, [end * repeat for end in ends]
            self._total = ends[-1] if ends else baseline
        threading.Thread(
            target=self._render,
            args=(sequences, photo, actions, generation),
            name="simulated camera rendering",
            daemon=True,
        ).start()

    def _render(self, sequences: Any, photo: np.ndarray, actions: Any, generation: int) -> None:
        image = sequences.camera_frame(photo, size=self.size)
        rendered = sequences.sequence_frames(image, actions, start=0.0, fps=self.render_fps)
        for _t, frame in rendered:
            with self._changed:
                if generation != self._generation:
                    return
                self._frames.append(frame)
                self._changed.notify_all()

    def actions_shown(self) -> int:
        with self._changed:
            return sum(1 for end in self._ends if self._read >= end) if self._playing else 0

    def captured_at(self) -> float | None:
        with self._changed:
            return self._stamp if self._playing else None

    def read(self) -> np.ndarray | None:
        if self.broken:
            return None
        with self._changed:
            if not self._playing:
                if not self._photos:
                    return None
                self._n += 1
                return self._photos[(self._n - 1) % len(self._photos)]
            i = shown = self._read // self._repeat
            if i >= self._total >= 3:  # played out: sway among the last (neutral) frames
                i = self._total - 2 - (i - self._total) % 2
            if (
                not self._changed.wait_for(
                    lambda: len(self._frames) > i or not self._playing, timeout=10.0
                )
                or not self._playing
            ):
                return None
            self._read += 1
            self._stamp = self._start + shown / self.render_fps
            return self._frames[i]


class HardwareCamera:
    """A camera of `hardware.camera` (opened by `open`, e.g. hardware.factory.open_camera):
    opened when the certification starts and closed after it, so the camera light is on only
    while it is used."""

    def __init__(self, open: Callable[[], Any]) -> None:
        self._open = open
        self._camera: Any = None
        self._grabbed: float | None = None  # the last frame read: when it was grabbed
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._camera is None:
                self._camera = self._open()
                if self._camera is None:
                    raise DeviceProblem("no camera is configured (hardware config: none)")

    def stop(self) -> None:
        with self._lock:
            camera, self._camera = self._camera, None
        if camera is not None:
            camera.close()

    def read(self) -> np.ndarray | None:
        with self._lock:
            camera = self._camera
        if camera is None:
            return None
        frame = camera.latest()
        self._grabbed = None if frame is None else float(frame.timestamp)
        return None if frame is None else frame.image

    def captured_at(self) -> float | None:
        """The frame's grab stamp (the device's wall clock) on the product clock's line."""
        grabbed = self._grabbed
        return None if grabbed is None else grabbed + clock.offset_seconds()


# ------------------------------------------------------------------ printer


class Printer(Protocol):
    def print_receipt(self, content: ReceiptContent) -> None:
        """Print; PaperOut or PrinterBroken when it cannot."""
        ...


class SimulatedPrinter:
    """Counts paper; `paper=0` is out of paper. Keeps what it printed (and writes it to
    `out_dir` as text when given)."""

    def __init__(self, paper: int | None = None, out_dir: Path | None = None) -> None:
        self.paper = paper  # None: endless roll
        self.broken = False
        self.printed: list[ReceiptContent] = []
        self.out_dir = out_dir

    def status(self) -> str:
        if self.broken:
            return "offline"
        return "out_of_paper" if self.paper is not None and self.paper <= 0 else "ok"

    def print_receipt(self, content: ReceiptContent) -> None:
        if self.broken:
            raise PrinterBroken("simulated printer offline")
        if self.paper is not None:
            if self.paper <= 0:
                raise PaperOut("simulated printer out of paper")
            self.paper -= 1
        self.printed.append(content)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            text = "\n".join([content.title, *content.lines, content.qr_code or ""])
            (self.out_dir / f"receipt-{len(self.printed):04d}.txt").write_text(text, "utf-8")


class HardwarePrinter:
    """A printer of `hardware.printer` (print_receipt(hardware.receipt.Receipt)), its errors
    mapped to ours."""

    def __init__(self, device: Any) -> None:
        if device is None:
            raise DeviceProblem("no printer is configured (hardware config: none)")
        self.device = device

    def status(self) -> str:
        """ok | out_of_paper | cover_open | offline (the device's status query)."""
        errors = importlib.import_module("hardware.errors")
        try:
            st = self.device.status()
        except errors.DeviceError:
            return "offline"
        if st is None:
            return "ok"  # the printer cannot say; the test receipt will tell
        if st.cover_open:
            return "cover_open"
        if st.paper_out:
            return "out_of_paper"
        return "offline" if st.error else "ok"

    def print_receipt(self, content: ReceiptContent) -> None:
        receipt_mod = importlib.import_module("hardware.receipt")
        errors = importlib.import_module("hardware.errors")
        receipt = receipt_mod.Receipt(
            title=content.title,
            lines=list(content.lines),
            qr=content.qr_code,
            printed_at=clock.local_now(),
            number=content.extra.get("number"),
            header=content.extra.get("header"),
            footer=[content.extra["footer"]] if content.extra.get("footer") else [],
            tall_body=True,  # 6 mm letters: the kiosk's residents are old
        )
        try:
            self.device.print_receipt(receipt)
        except errors.PaperOutError as exc:
            raise PaperOut(str(exc)) from exc
        except errors.DeviceError as exc:
            raise PrinterBroken(str(exc)) from exc


def open_hardware_printer() -> Printer:
    """The configured printer (hardware.factory); DeviceProblem when there is none."""
    try:
        factory = importlib.import_module("hardware.factory")
        return HardwarePrinter(factory.open_printer())
    except (ImportError, AttributeError) as exc:
        raise DeviceProblem(f"hardware printer is not usable: {exc}") from exc


def open_hardware_card_slot() -> CardSlot:
    """The configured readers (hardware.factory.open_reader); DeviceProblem when none."""
    try:
        factory = importlib.import_module("hardware.factory")
        readers = {
            CardKind.SOCIAL_SECURITY: factory.open_reader("ssc"),
            CardKind.ID_CARD: factory.open_reader("idcard"),
        }
    except (ImportError, AttributeError) as exc:
        raise DeviceProblem(f"hardware card readers are not usable: {exc}") from exc
    return HardwareCardSlot({k: r for k, r in readers.items() if r is not None})


def open_hardware_camera() -> Camera:
    """The configured camera (hardware.factory.open_camera), opened on demand."""
    try:
        factory = importlib.import_module("hardware.factory")
        opener = factory.open_camera
    except (ImportError, AttributeError) as exc:
        raise DeviceProblem(f"hardware camera is not usable: {exc}") from exc
    return HardwareCamera(opener)


# ------------------------------------------------------------------ self-test (technician menu)

TEST_RECEIPT = ReceiptContent(
    title="农保自助机 打印测试", lines=("打印机自检", "Printer self-test")
)


def check_card_reader(slot: CardSlot) -> tuple[bool, str, str]:
    """(ok, code, detail): is the card reader there (a card need not be in)?"""
    present = getattr(slot, "reader_present", None)
    if present is None:
        return False, "no_check", f"{type(slot).__name__} cannot be checked"
    try:
        ok, detail = present()
    except Exception as exc:
        return False, "no_reader", str(exc)
    return (True, "ok", "") if ok else (False, "no_reader", detail)


def check_camera(
    camera: Camera,
    timeout_s: float = 3.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[bool, str, str]:
    """(ok, code, detail): start the camera, wait for one frame, stop it."""
    try:
        camera.start()
    except Exception as exc:
        return False, "camera_failed", str(exc)
    try:
        deadline = clock() + timeout_s
        while True:
            frame = camera.read()
            if frame is not None:
                return True, "ok", f"frame {frame.shape[1]}x{frame.shape[0]}"
            if clock() >= deadline:
                return False, "no_frame", f"no frame in {timeout_s:g} s"
            sleep(0.05)
    finally:
        with contextlib.suppress(Exception):  # the frame (or its absence) is the answer
            camera.stop()


def check_printer(printer: Printer) -> tuple[bool, str, str]:
    """(ok, code, detail): the printer's status, then a test receipt."""
    status = getattr(printer, "status", None)
    if status is not None:
        code = status()
        if code != "ok":
            return False, code, f"printer status {code}"
    try:
        printer.print_receipt(TEST_RECEIPT)
    except PaperOut as exc:
        return False, "out_of_paper", str(exc)
    except PrinterBroken as exc:
        return False, "offline", str(exc)
    return True, "printed", ""


def encode_jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    """RGB uint8 -> JPEG bytes."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
