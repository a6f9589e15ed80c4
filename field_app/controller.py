"""The field app's controller: what each tap does, which buttons a screen offers, the status
corner (online/offline, the outbox), the background sync and the heartbeat. Plain Python and
threads, no Kivy: app.py draws and forwards, tests drive this class directly.

The flow (flow.py) is the visit's state machine; the controller adds what the app around it
decides: when to fetch the work list, when the backend counts as reachable, and what a tap
does with what the worker typed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from field_app.flow import FieldFlow, View
from field_app.sync import Backoff, Syncer
from field_app.texts import t

HEARTBEAT_S = 30.0  # how often the backend is asked "are you there" for the online sign
Background = Callable[[Callable[[], Any], Callable[[Any], None]], None]


class Form(Protocol):
    """What the worker typed and ticked on the current screen."""

    def text(self, key: str) -> str: ...

    def checked(self, key: str) -> bool: ...


class NoForm:
    def text(self, key: str) -> str:
        return ""

    def checked(self, key: str) -> bool:
        return False


def run_inline(work: Callable[[], Any], then: Callable[[Any], None]) -> None:
    """The background runner for tests and scripts: now, on this thread."""
    then(work())


class SyncService:
    """The outbox sender in a background thread, for the signed-in session, and a heartbeat
    that keeps the online sign honest while there is nothing to send."""

    def __init__(
        self, flow: FieldFlow, on_change: Callable[[], None], heartbeat_s: float = HEARTBEAT_S
    ) -> None:
        self.flow = flow
        self.on_change = on_change
        self.heartbeat_s = heartbeat_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat: threading.Thread | None = None
        self.syncer: Syncer | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        session = self.flow.session
        self.syncer = Syncer(
            session.outbox(), session.client(), sleep=self._sleep, backoff=Backoff()
        )
        self.syncer.on_change = self.on_change
        self.syncer.on_reachable = lambda ok: setattr(session, "reachable", ok)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="field-sync", daemon=True)
        self._thread.start()
        if self._beat is None or not self._beat.is_alive():
            self._beat = threading.Thread(target=self._heartbeat, name="field-beat", daemon=True)
            self._beat.start()

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _run(self) -> None:
        assert self.syncer is not None
        try:
            self.syncer.run(self._stop, idle_poll=30.0)
        except Exception:  # a locked or signed-out store: the next sign-in starts a new one
            self._thread = None
        self.on_change()

    def beat_once(self) -> bool:
        """Ask the backend whether it is there; record the answer for the online sign."""
        session = self.flow.session
        if session.current is None:
            return False
        try:
            ok = session.client().healthy()
        except Exception:  # a signed-out store mid-beat: offline until the next sign-in
            ok = False
        session.reachable = ok
        self.on_change()
        return ok

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self.beat_once()

    def send_now(self, done: Callable[[], None] = lambda: None) -> None:
        """The worker's "send now": everything unsent, ignoring the backoff schedule; `done`
        runs when the pass is over (on the sending thread)."""
        syncer = self.syncer
        if syncer is not None:

            def send() -> None:
                syncer.run_once(force=True)
                done()
                self.on_change()

            threading.Thread(target=send, daemon=True).start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()


class FieldController:
    """Taps in, flow calls and background work out; the status and the buttons for a view."""

    def __init__(
        self,
        flow: FieldFlow,
        *,
        background: Background = run_inline,
        sync: SyncService | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.flow = flow
        self.background = background
        self.on_change = on_change
        self.sync = sync or SyncService(flow, on_change)
        self.busy = False
        flow.on_saved = self._saved
        self.id_reader: Any = None
        self.card_failed: Callable[[], None] = lambda: None

    # --- background work ------------------------------------------------------------------

    def in_background(
        self, work: Callable[[], Any], then: Callable[[Any], None] = lambda _r: None
    ) -> None:
        self.busy = True
        self.on_change()

        def done(result: Any) -> None:
            self.busy = False
            then(result)
            self.on_change()

        self.background(work, done)

    def _saved(self) -> None:
        """A visit is on disk: wake the sender, and say so plainly when it cannot go yet."""
        self.sync.wake()
        if not self.flow.online():
            n = self.unsent()
            self.flow._say(
                (
                    f"{t('saved_offline', 'zh')}（{t('outbox', 'zh')} {n}）",
                    f"{t('saved_offline', 'en')} ({t('outbox', 'en')}: {n})",
                ),
                "warn",
            )

    def _sent(self) -> None:
        """After "send now": all gone, or still waiting for signal (said with the count)."""
        left = self.unsent()
        if left == 0:
            self.flow._say(("已全部发送", "Everything is sent"), "good")
        elif not self.flow.online():
            self.flow._say(
                (
                    f"暂时离线：联网后自动上传（待发送 {left}）",
                    f"Offline: {left} sent once there is signal",
                ),
                "warn",
            )

    def unsent(self) -> int:
        if self.flow.session.current is None:
            return 0
        counts = self.flow.session.outbox().counts()
        return counts["pending"] + counts["sending"]

    # --- taps -------------------------------------------------------------------------------

    def tap(self, action: str, form: Form | None = None) -> None:
        """Every button lands here: one name per action, so the tour and tests can tap too."""
        f, typed = self.flow, form or NoForm()
        text = typed.text
        if action == "sign_in":
            server = text("server") or f.base_url
            username, password, pin = text("username"), text("password"), text("pin")
            self.in_background(lambda: f.sign_in(username, password, pin, server), self._signed_in)
        elif action == "unlock":
            if f.unlock(text("pin")):
                self._signed_in(True)
        elif action == "refresh":
            self.in_background(f.refresh)
        elif action == "send_now":
            self.sync.start()
            f._say(("正在发送…", "Sending…"))
            self.sync.send_now(self._sent)
        elif action == "read_card":
            self.in_background(self._read_card, self._card_read)
        elif action.startswith("person:"):
            f.select(action.split(":", 1)[1])
        elif action == "save_cert":
            f.save_certification(
                typed.checked("attest"), text("note"), confirmed=typed.checked("confirm_mismatch")
            )
        elif action == "save_not_home":
            f.save_not_home(text("note"))
        elif action == "save_dead":
            f.save_dead(typed.checked("attest"), text("date_of_death"), text("note"))
        elif action == "sign_out":
            if f.sign_out():
                self.sync.stop()
        else:
            getattr(f, action)()

    def _signed_in(self, ok: Any) -> None:
        """Signed in or unlocked: show the list kept on the device at once, then fetch a
        fresh one in the background (offline, the kept one simply stays)."""
        if not ok:
            return
        self.sync.start()
        quiet_message = self.flow.message
        has_list = bool(self.flow.persons())

        def fetched(got: Any) -> None:
            if not got and has_list:
                self.flow.message = quiet_message  # a kept list and no signal is normal
                self.flow.tone = "info"

        self.in_background(self.flow.refresh, fetched)

    def _read_card(self) -> Any:
        if self.id_reader is None:
            return None
        try:
            return self.id_reader.read(timeout=10)
        except Exception:
            return None

    def _card_read(self, card: Any) -> None:
        if card is None:
            self.flow._say(("请把身份证放在读卡器上", "Put the ID card on the reader"), "warn")
            return
        self.flow.read_card(card.id_number, card.name)

    # --- what the screen shows around the flow's view --------------------------------------

    def status(self, view: View) -> str:
        """The top corner: 在线/离线 and the number of visits waiting to be sent."""
        if self.flow.session.current is None:
            return ""
        state = t("online" if self.flow.online() else "offline", view.lang)
        return f"{state}\n{t('outbox', view.lang)} {self.unsent()}"

    def buttons(self, view: View, landscape: bool = False) -> list[tuple[str, str, str]]:
        """(action, label, tone) for the screen's buttons, in order."""
        lang, s = view.lang, view.screen

        def b(key: str, action: str, tone: str = "primary") -> tuple[str, str, str]:
            return (action, t(key, lang), tone)

        if s == "sign_in":
            return [b("sign_in", "sign_in")] + (
                [b("back", "back", "plain")] if self.flow.session.store.has_pin() else []
            )
        if s == "unlock":
            return [b("unlock", "unlock"), b("online_sign_in", "go_sign_in", "plain")]
        if s == "list":
            return [
                b("scan_qr", "start_scan", "plain"),
                b("read_card", "read_card", "plain"),
                b("refresh", "refresh", "plain"),
                b("outbox", "show_outbox", "plain"),
            ]
        if s == "person":
            return [
                b("start_face", "start_face", "good"),
                b("not_home", "to_not_home", "warn"),
                b("reported_dead", "to_dead", "bad"),
                b("back", "back", "plain"),
            ]
        if s == "prelim":
            go = b("continue", "to_documents")
            if view.data.get("mismatch"):  # the safe choice first, the risky one in amber
                return [b("retry", "retry_face"), b("continue_anyway", "to_documents", "warn")]
            return [go, b("retry", "retry_face", "plain")]
        if s == "docs":
            return [b("take_photo", "take_photo", "plain"), b("continue", "to_attest")]
        if s == "attest":
            save = b("save", "save_cert", "warn" if view.data.get("mismatch") else "good")
            return [save, b("back", "back", "plain")]
        if s == "not_home":
            return [b("save", "save_not_home", "warn"), b("back", "back", "plain")]
        if s == "dead":
            return [b("save", "save_dead", "bad"), b("back", "back", "plain")]
        if s == "outbox":
            return [b("sync_now", "send_now"), b("back", "back", "plain")]
        if s in ("scan", "face"):
            return [b("back", "back", "plain")]
        return []
