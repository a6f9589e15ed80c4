"""Runs the flow: carries out its effects with the backend and the devices, feeds results back.

No Kivy here. The UI thread calls `pump()` and `tick()` on a timer and `dispatch()` for taps;
blocking work (backend calls, card reads, printing, the camera loop) runs on worker threads
and posts its result events into a queue that `pump()` drains on the UI thread, so the flow
is only ever touched by one thread. Mode "inline" runs the work at once and "manual" when
`run_pending()` is called (tests and screenshots; the camera is then stepped by hand).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from client import clock
from client.capture import MAX_FRAME_SIDES, MAX_IMAGE_SIDES, fit_within
from kiosk_app import flow as f
from kiosk_app.backend import KioskBackend, Refused, Unreachable
from kiosk_app.devices import (
    Camera,
    CardSlot,
    CardUnreadable,
    PaperOut,
    Printer,
    PrinterBroken,
    check_camera,
    check_card_reader,
    check_printer,
    encode_jpeg,
)
from kiosk_app.face import ActionWatcher, FaceGate
from kiosk_app.help_request import HelpRequests, SimulatedHelpRequests
from kiosk_app.models import ReceiptContent, Resident, format_yuan

log = logging.getLogger("kiosk")

# The backend measures liveness on the frames themselves and needs >= 5 per second over the
# whole challenge (docs/certification.md): every frame 1/7 s apart is sent, up to the
# backend's 90, at most SAMPLE_WIDTH wide (enough for the face mesh). The camera loop runs
# at 12 a second (camera_fps), so every other frame goes, 1/6 s apart: at 10 a second it
# would be every 0.2 s, 5 a second at best, under the backend's minimum as soon as one
# frame is late. A frame carries the camera's capture stamp when the camera gives one
# (Camera.captured_at): the evidence then says when each frame was filmed, not when a
# busy loop got round to reading it.
MAX_SAMPLES = 90
SAMPLE_INTERVAL_S = 1 / 7
SAMPLE_WIDTH = 480


class KioskController:
    def __init__(
        self,
        flow: f.KioskFlow,
        backend: KioskBackend,
        cards: CardSlot,
        camera: Camera,
        printer: Printer,
        face_gate: FaceGate,
        action_watcher: ActionWatcher,
        speak: Callable[[str], None] = lambda key: None,
        *,
        say: Callable[[str, str], None] | None = None,
        mode: str = "thread",
        camera_fps: float = 12.0,
        clock: Callable[[], float] = time.monotonic,
        help_requests: HelpRequests | None = None,
    ) -> None:
        self.flow = flow
        self.help_requests: HelpRequests = help_requests or SimulatedHelpRequests()
        self.backend = backend
        self.cards = cards
        self.camera = camera
        self.printer = printer
        self.face_gate = face_gate
        self.action_watcher = action_watcher
        self.speak = speak
        # a sentence made at run time; without a voice that can render one, the fixed prompt
        self.say: Callable[[str, str], None] = say or (lambda key, text: speak(key))
        if mode not in ("thread", "inline", "manual"):
            raise ValueError(f"unknown controller mode {mode!r}")
        self.mode = mode
        self.threaded = mode == "thread"
        self._pending: list[Callable[[], None]] = []  # manual mode: work waiting for run_pending
        self.camera_fps = camera_fps
        self._clock = clock
        self._events: queue.SimpleQueue[f.Event] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(max_workers=2) if self.threaded else None
        self._lock = threading.Lock()
        self._camera_mode = ""  # "" off | assess | watch
        self._camera_thread: threading.Thread | None = None
        self._camera_misses = 0
        self.latest_frame: np.ndarray | None = None
        self.frame_serial = 0
        self._good_frame: np.ndarray | None = None
        self._photo: np.ndarray | None = None
        # liveness evidence of the current challenge
        self._actions: tuple[str, ...] = ()
        self._reported = 0  # actions already reported done
        self._measurements: list[dict[str, object]] = []
        self._samples: list[np.ndarray] = []
        self._last_sample_at = 0.0
        self._last_stamp = 0.0  # the capture stamp of the last frame measured
        self.version = 0  # bumped whenever the view may have changed
        cards.watch(
            lambda kind: self.post(f.CardInserted(kind)),
            lambda: self.post(f.CardRemoved()),
        )

    # ------------------------------------------------------------ the UI thread's calls

    def post(self, event: f.Event) -> None:
        """Thread-safe: queue an event for the next pump()."""
        self._events.put(event)

    def pump(self) -> bool:
        """Handle every queued event; True when anything happened."""
        handled = False
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return handled
            self.dispatch(event)
            handled = True

    def tick(self) -> None:
        self.pump()
        self.dispatch(f.Tick())
        self.pump()

    def dispatch(self, event: f.Event) -> None:
        before = (self.flow.view(), self.flow.screen)
        effects = self.flow.handle(event)
        for effect in effects:
            self._run(effect)
        if effects or (self.flow.view(), self.flow.screen) != before:
            self.version += 1

    def shutdown(self) -> None:
        self._stop_camera()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.cards.close()

    # ------------------------------------------------------------ effects

    def _background(self, work: Callable[[], f.Event | None]) -> None:
        def run() -> None:
            try:
                event = work()
            except Exception:  # a bug in a device or client must not kill the kiosk:
                log.exception("kiosk worker failed")  # the flow's watchdog ends the wait
                event = None
            if event is not None:
                self.post(event)

        if self._pool is not None:
            self._pool.submit(run)
        elif self.mode == "manual":
            self._pending.append(run)
        else:
            run()

    def run_pending(self) -> int:
        """Manual mode: do the queued background work now; returns how many jobs ran."""
        jobs, self._pending = self._pending, []
        for job in jobs:
            job()
        return len(jobs)

    def _backend_call(self, req: int, call: Callable[[], f.Event]) -> None:
        def work() -> f.Event:
            try:
                return call()
            except Unreachable as exc:
                log.warning("backend unreachable: %s", exc)
                return f.BackendUnreachable(req, str(exc))
            except Refused as exc:
                return f.BackendRefused(req, exc.reason, exc.detail)

        self._background(work)

    def _run(self, effect: f.Effect) -> None:
        b = self.backend
        match effect:
            case f.Speak(key=key, text=None):
                self.speak(key)
            case f.Speak(key=key, text=str(text)):
                self.say(key, text)
            case f.ReadCard(req=req, kind=kind):

                def read() -> f.Event:
                    try:
                        card = self.cards.read(kind, self.flow.config.card_read_timeout_s)
                    except CardUnreadable as exc:
                        return f.CardReadFailed(req, str(exc))
                    return f.CardRead(req, card)

                self._background(read)
            case f.OpenSession(req=req, card=card, with_photo=with_photo):
                photo = self._photo_jpeg() if with_photo else None
                self._backend_call(req, lambda: f.SessionOpened(req, b.open_session(card, photo)))
            case f.LoadAccount(req=req, resident=r):
                self._backend_call(req, lambda: f.AccountLoaded(req, b.get_account(r)))
            case f.LoadContributions(req=req, resident=r):
                self._backend_call(
                    req, lambda: f.ContributionsLoaded(req, tuple(b.get_contributions(r)))
                )
            case f.LoadPayments(req=req, resident=r):
                self._backend_call(req, lambda: f.PaymentsLoaded(req, tuple(b.get_payments(r))))
            case f.RequestChallenge(req=req, resident=r):
                self._backend_call(req, lambda: f.ChallengeIssued(req, b.get_challenge(r)))
            case f.StartCamera():
                self._start_camera()
            case f.StopCamera():
                self._stop_camera()
            case f.CaptureFace(actions=actions):
                with self._lock:
                    self._photo = self._good_frame
                    if actions:
                        self._actions, self._reported = actions, 0
                        self._measurements, self._samples = [], []
                        self._last_sample_at = self._last_stamp = 0.0
                        self.action_watcher.begin(actions, clock.timestamp())
                        self._camera_mode = "watch"
            case f.WatchAction():
                pass  # the watcher follows the whole challenge; nothing to switch
            case f.Submit(req=req, resident=r, evidence=ev, idempotency_key=key):
                with self._lock:
                    best = self._photo
                    samples = list(self._samples)
                    evidence = replace(ev, measurements=tuple(self._measurements))
                # no larger than the backend takes (it refuses bigger ones unread)
                images = (
                    [encode_jpeg(fit_within(best, MAX_IMAGE_SIDES))] if best is not None else []
                )
                jpegs = [encode_jpeg(fit_within(fr, MAX_FRAME_SIDES)) for fr in samples]
                self._backend_call(
                    req,
                    lambda: f.CertificationDone(
                        req, b.submit_certification(r, images, jpegs, evidence, key)
                    ),
                )
            case f.PrintReceipt(req=req, content=content):
                self._background(lambda: self._print(req, content))
            case f.PrintStatement(req=req, resident=r):

                def statement() -> f.Event:
                    try:
                        content = self._statement(r)
                    except Unreachable as exc:
                        return f.BackendUnreachable(req, str(exc))
                    except Refused as exc:
                        return f.BackendRefused(req, exc.reason, exc.detail)
                    return self._print(req, content)

                self._background(statement)
            case f.CallStaff(screen=screen):
                helps = self.help_requests
                self._background(lambda: f.StaffCalled(helps.send(screen)))
            case f.RunSelfTest(req=req):
                self._background(lambda: f.SelfTestDone(req, self.self_test()))
            case f.EndSession(session_id=session_id):
                self._forget()
                if session_id is not None:

                    def close() -> None:
                        with contextlib.suppress(Unreachable, Refused):
                            b.close_session(session_id)

                    self._background(lambda: close())

    def self_test(self) -> tuple[f.CheckResult, ...]:
        """The technician menu's device self-test (on a worker thread: it waits for the
        camera's first frame, prints a test receipt and calls the backend's /healthz)."""
        sleep = time.sleep if self.threaded else (lambda _s: None)
        checks: dict[str, Callable[[], tuple[bool, str, str]]] = {
            "card_reader": lambda: check_card_reader(self.cards),
            "camera": lambda: check_camera(self.camera, 3.0 if self.threaded else 0.0, sleep),
            "printer": lambda: check_printer(self.printer),
            "backend": self._check_backend,
        }
        results = []
        for device in f.TECH_DEVICES:
            try:
                ok, code, detail = checks[device]()
            except Exception as exc:  # a device bug is a fault, not a dead self-test
                log.exception("self-test of %s failed", device)
                ok, code, detail = False, "no_check", str(exc)
            log.info("self-test %s: %s %s", device, code, detail)
            results.append(f.CheckResult(device, ok, code, detail))
        return tuple(results)

    def _check_backend(self) -> tuple[bool, str, str]:
        health = getattr(self.backend, "health", None)
        if health is None:
            return False, "no_check", f"{type(self.backend).__name__} has no health check"
        try:
            health()
        except Unreachable as exc:
            return False, "unreachable", str(exc)
        return True, "ok", ""

    def _print(self, req: int, content: ReceiptContent) -> f.Event:
        try:
            self.printer.print_receipt(content)
        except PaperOut:
            return f.PrinterFault(req, "out_of_paper")
        except PrinterBroken:
            return f.PrinterFault(req, "offline")
        return f.PrintDone(req)

    def _statement(self, r: Resident) -> ReceiptContent:
        account = self.backend.get_account(r)
        payments = sorted(self.backend.get_payments(r), key=lambda p: p.period)[-3:]
        lines = [
            f"姓名：{r.name_masked}",
            f"证件号：{r.id_number_masked}",
            f"个人账户余额：{format_yuan(account.balance_fen)} 元",
        ]
        lines += [f"{p.period} 发放：{format_yuan(p.total_fen)} 元" for p in payments]
        if r.certification_valid_until is not None:
            lines.append(f"认证有效期至：{r.certification_valid_until.isoformat()}")
        return ReceiptContent(title="城乡居民养老保险 个人信息单", lines=tuple(lines))

    def _forget(self) -> None:
        with self._lock:
            self._photo = None
            self._good_frame = None
            self._actions, self._reported = (), 0
            self._measurements, self._samples = [], []
            self._last_sample_at = 0.0
            self.latest_frame = None

    def _photo_jpeg(self) -> bytes | None:
        with self._lock:
            photo = self._photo
        return encode_jpeg(photo) if photo is not None else None

    # ------------------------------------------------------------ camera

    def _start_camera(self) -> None:
        with self._lock:
            self._camera_mode = "assess"
            self._camera_misses = 0
            self._good_frame = None
        reset = getattr(self.face_gate, "reset", None)
        if reset is not None:
            reset()
        try:
            self.camera.start()
        except Exception as exc:  # no camera, or it will not open: the flow says so
            log.exception("camera would not start")
            with self._lock:
                self._camera_mode = ""
            self.post(f.CameraFailed(str(exc)))
            return
        if self.threaded and self._camera_thread is None:
            self._camera_thread = threading.Thread(
                target=self._camera_loop, name="kiosk-camera", daemon=True
            )
            self._camera_thread.start()

    def _stop_camera(self) -> None:
        with self._lock:
            self._camera_mode = ""
        thread = self._camera_thread
        self._camera_thread = None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        try:
            self.camera.stop()
        except Exception:
            log.exception("camera would not stop")

    def _camera_loop(self) -> None:
        period = 1.0 / self.camera_fps
        while self._camera_mode:
            started = time.monotonic()
            self.camera_step()
            time.sleep(max(0.0, period - (time.monotonic() - started)))

    def camera_step(self) -> None:
        """One frame: show it, then judge it (quality gate) or watch the current action."""
        with self._lock:
            mode = self._camera_mode
        if not mode:
            return
        frame = self.camera.read()
        if frame is None:
            self._camera_misses += 1
            if self._camera_misses == int(self.camera_fps * 3):  # 3 s without a picture
                self.post(f.CameraFailed("no frames"))
            return
        self._camera_misses = 0
        self.latest_frame = frame
        self.frame_serial += 1
        if mode == "assess":
            verdict = self.face_gate.assess(frame)
            if verdict.ok:
                with self._lock:
                    self._good_frame = frame
            self.post(f.FrameAssessed(verdict))
        elif mode == "watch":
            # the frame's capture stamp when the camera gives one (a frame read twice keeps
            # its stamp and is measured once), else the time it was read
            captured = self.camera.captured_at()
            stamp = clock.timestamp() if captured is None else captured
            with self._lock:
                done, measurement = self.action_watcher.feed(frame, stamp)
                again = captured is not None and stamp <= self._last_stamp
                if measurement is not None and len(self._measurements) < 2000 and not again:
                    self._last_stamp = stamp
                    if stamp - self._last_sample_at >= SAMPLE_INTERVAL_S and (
                        len(self._samples) < MAX_SAMPLES
                    ):
                        measurement = {**measurement, "t": stamp, "sample": len(self._samples)}
                        self._samples.append(_small(frame))
                        self._last_sample_at = stamp
                    self._measurements.append(measurement)
                newly = self._actions[self._reported : min(done, len(self._actions))]
                self._reported += len(newly)
            for action in newly:
                self.post(f.ActionDetected(action))


def _small(frame: np.ndarray) -> np.ndarray:
    """A liveness frame at most SAMPLE_WIDTH wide (kept small: up to 90 go to the backend)."""
    if frame.shape[1] <= SAMPLE_WIDTH:
        return frame
    from PIL import Image

    height = max(1, round(frame.shape[0] * SAMPLE_WIDTH / frame.shape[1]))
    resized = Image.fromarray(frame).resize((SAMPLE_WIDTH, height), Image.Resampling.BILINEAR)
    return np.asarray(resized)
