"""A field visit as a state machine, free of Kivy: the screens, what each shows, and
what each tap or camera frame does. The Kivy layer (app.py) only draws `view()` and
forwards events; tests drive this class directly.

A visit: find the person (handbook QR, ID card, or name search in the list), then either
the face check (quality guidance, the liveness challenge fetched ahead, an on-device
preliminary result; the backend decides), optional document photos, the worker's
attestation and a note; or "not at home"; or "reported dead by family". Saving commits the
visit to the outbox first; the sync sends it whenever the backend is reachable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from client import clock
from client.capture import MAX_FRAME_SIDES, MAX_IMAGE_SIDES, fit_within
from field_app.client import Challenge, WorkPerson
from field_app.outbox import Visit
from field_app.ports import Devices, action_prompt
from field_app.session import FieldSession, SignInError
from field_app.texts import t

Screen = Literal[
    "sign_in",
    "unlock",
    "list",
    "scan",
    "person",
    "face",
    "prelim",
    "docs",
    "attest",
    "not_home",
    "dead",
    "outbox",
]

PASS_AT, REFER_AT = 0.50, 0.60  # the default county's thresholds, for the preliminary guess only
GOOD_FRAMES = 3  # consecutive good frames before the photo is taken
# the backend measures liveness on the frames (>= 5 per second over the whole challenge,
# docs/certification.md): every frame 1/7 s apart is sent, up to its 90
MAX_SAMPLES = 90
SAMPLE_INTERVAL_S = 1 / 7
ACTION_SECONDS = 10.0
MAX_DOCUMENTS = 4


def masked_id(number: str) -> str:
    """An ID number as the work list carries it (backend.idnumber.mask): 110105********002X."""
    if len(number) == 18:
        return number[:6] + "*" * 8 + number[14:]
    return "*" * max(len(number) - 4, 0) + number[-4:]


# --- the visit being made ---------------------------------------------------------------------


@dataclass
class FaceCapture:
    challenge: Challenge
    phase: Literal["quality", "liveness", "done"] = "quality"
    good: int = 0
    image: np.ndarray | None = None
    jpeg: bytes = b""
    items: list[dict[str, Any]] = field(default_factory=list)
    samples: list[bytes] = field(default_factory=list)
    actions_done: int = 0
    started: float = 0.0
    prompt: tuple[str, str] = ("", "")
    distance: float | None = None
    liveness_done: bool = False
    want_sample: bool = False
    last_sample_at: float = 0.0


@dataclass
class Draft:
    person: WorkPerson
    found_by: str
    card: tuple[str, str] | None = None  # (id_number, name) when found by the ID card
    face: FaceCapture | None = None
    documents: list[bytes] = field(default_factory=list)


@dataclass
class View:
    screen: Screen
    lang: str
    title: str
    message: str = ""
    tone: Literal["info", "good", "warn", "bad"] = "info"
    rows: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


class FieldFlow:
    def __init__(
        self,
        session: FieldSession,
        devices: Devices,
        *,
        wall: Callable[[], float] = clock.timestamp,
        base_url: str = "",
        on_saved: Callable[[], None] = lambda: None,
    ) -> None:
        self.session = session
        self.dev = devices
        self.wall = wall
        self.base_url = base_url
        self.on_saved = on_saved  # e.g. wake the sync
        self.lang = "zh"
        self.screen: Screen = "unlock" if session.store.has_pin() else "sign_in"
        self.message: tuple[str, str] = ("", "")
        self.tone: Literal["info", "good", "warn", "bad"] = "info"
        self.query = ""
        self.draft: Draft | None = None

    # --- helpers ----------------------------------------------------------------------------

    def _say(
        self,
        key_or_text: str | tuple[str, str],
        tone: Literal["info", "good", "warn", "bad"] = "info",
    ) -> None:
        self.message = (
            key_or_text
            if isinstance(key_or_text, tuple)
            else (t(key_or_text, "zh"), t(key_or_text, "en"))
        )
        self.tone = tone

    def _go(self, screen: Screen) -> None:
        self.screen = screen
        self.message = ("", "")
        self.tone = "info"

    def toggle_lang(self) -> None:
        self.lang = "en" if self.lang == "zh" else "zh"

    def online(self) -> bool:
        """Whether the backend answered recently: not merely that the sign-in once did."""
        return self.session.online_now()

    def persons(self) -> list[WorkPerson]:
        wl = self.session.worklist() if self.session.current else None
        return wl.persons if wl else []

    # --- signing in ---------------------------------------------------------------------------

    def sign_in(self, username: str, password: str, pin: str, base_url: str | None = None) -> bool:
        try:
            self.session.sign_in_online(base_url or self.base_url, username, password, pin)
        except SignInError as exc:
            self._say((exc.zh, exc.en), "bad")
            return False
        self._go("list")
        return True

    def unlock(self, pin: str) -> bool:
        try:
            self.session.unlock_offline(pin)
        except SignInError as exc:
            self._say((exc.zh, exc.en), "bad")
            if not self.session.store.has_pin():
                self.screen = "sign_in"
            return False
        self._go("list")
        return True

    def go_sign_in(self) -> None:
        self._go("sign_in")

    def sign_out(self, discard_unsent: bool = False) -> bool:
        try:
            self.session.sign_out(discard_unsent=discard_unsent)
        except SignInError as exc:
            self._say((exc.zh, exc.en), "warn")
            return False
        self.draft = None
        self._go("sign_in")
        return True

    def refresh(self) -> bool:
        """Download the work list (the UI runs this off its thread)."""
        from field_app.client import ClientError

        try:
            self.session.download_worklist()
        except ClientError:
            self.session.reachable = False
            self._say("cannot_reach", "warn")
            return False
        self.session.reachable = True
        self._say("downloaded", "good")
        return True

    # --- finding the person -------------------------------------------------------------------

    def search(self, text: str) -> None:
        self.query = text.strip()

    def matches(self) -> list[WorkPerson]:
        q = self.query.upper()
        if not q:
            return self.persons()
        return [
            p
            for p in self.persons()
            if q in p.name.upper()
            or p.id_number_masked.upper().endswith(q)
            or p.id_number_masked.upper() == masked_id(q)
            or q in p.village_name.upper()
        ]

    def select(
        self, person_id: str, found_by: str = "list", card: tuple[str, str] | None = None
    ) -> bool:
        person = next((p for p in self.persons() if p.person_id == person_id), None)
        if person is None:
            self._say("not_found", "warn")
            return False
        self.draft = Draft(person, found_by, card)
        self._go("person")
        return True

    def scan_qr(self, text: str) -> bool:
        """The handbook's QR code: the person id, bare or as `nongbao:person:<id>` or a URL
        ending in `person=<id>` / `/persons/<id>`."""
        m = re.search(r"(?:person[=:]|/persons/)([A-Za-z0-9_-]+)", text)
        return self.select(m.group(1) if m else text.strip(), "qr")

    def start_scan(self) -> None:
        self._go("scan")

    def qr_seen(self, text: str | None) -> bool:
        """A camera frame's QR text (None: none in this frame) while on the scan screen."""
        if self.screen != "scan" or not text:
            return False
        if not self.scan_qr(text):
            self.screen = "list"
            return False
        return True

    def read_card(self, id_number: str, name: str) -> bool:
        # the work list holds the number masked, as the field worker's role sees it: the card
        # is matched on the visible digits and, if two people share them, on the name too;
        # the card's full number goes with the visit and the backend checks it against the
        # registry
        number = id_number.strip().upper()
        same = [p for p in self.persons() if p.id_number_masked.upper() == masked_id(number)]
        if len(same) > 1:
            same = [p for p in same if p.name == name.strip()]
        person = same[0] if len(same) == 1 else None
        if person is None:
            self._say("not_found", "warn")
            return False
        return self.select(person.person_id, "id_card", (number, name.strip()))

    def back(self) -> None:
        if self.screen in ("person", "outbox", "scan"):
            self.draft = None if self.screen == "person" else self.draft
            self._go("list")
        elif self.screen in ("face", "prelim", "not_home", "dead", "docs", "attest"):
            self._go("person")
        elif self.screen == "sign_in" and self.session.store.has_pin():
            self._go("unlock")

    def show_outbox(self) -> None:
        self._go("outbox")

    # --- the face check ------------------------------------------------------------------------

    def start_face(self) -> bool:
        d = self.draft
        assert d is not None
        if d.person.face_template is None:
            self._say("no_face_enrolled", "warn")
            return False
        # a challenge already carried by a saved visit is spent, even if the app was killed
        # before it could be struck off the list
        spent = {e.label.get("challenge_id") for e in self.session.outbox().entries()}
        usable = [c for c in d.person.challenges if c.challenge_id not in spent]
        if not usable:
            self._say("no_challenge", "warn")
            return False
        d.face = FaceCapture(usable[0])
        self._go("face")
        return True

    def frame(self, image: np.ndarray) -> None:
        """One camera frame while on the face screen."""
        d = self.draft
        if self.screen != "face" or d is None or d.face is None:
            return
        f, now = d.face, self.wall()
        if f.phase == "quality":
            self._quality(f, image, now)
        elif f.phase == "liveness":
            self._liveness(f, image, now)

    def _quality(self, f: FaceCapture, image: np.ndarray, now: float) -> None:
        q = self.dev.gate.assess(image)
        if not q.ok:
            f.good = 0
            f.prompt = (q.zh, q.en)
            return
        f.good += 1
        f.prompt = (t("face_good", "zh"), t("face_good", "en"))
        if f.good >= GOOD_FRAMES:
            # no larger than the backend takes (it refuses bigger ones unread)
            f.image, f.jpeg = image, self.dev.encode(fit_within(image, MAX_IMAGE_SIDES))
            f.phase, f.started = "liveness", now
            self.dev.watcher.begin(tuple(f.challenge.actions), now)

    def _liveness(self, f: FaceCapture, image: np.ndarray, now: float) -> None:
        done, item = self.dev.watcher.feed(image, now)
        f.want_sample = f.want_sample or done > f.actions_done
        if item is not None:
            # the frame's capture time, as the watcher stamped it (the time it is analysed
            # here may lag behind)
            at = float(item.get("t", now))
            if at - f.last_sample_at >= SAMPLE_INTERVAL_S and len(f.samples) < MAX_SAMPLES:
                # the backend measures liveness and identity itself on these frames
                f.samples.append(self.dev.encode(fit_within(image, MAX_FRAME_SIDES)))
                item = {**item, "t": at, "sample": len(f.samples) - 1}
                f.last_sample_at = at
            f.items.append(item)
        f.actions_done = done
        total = len(f.challenge.actions)
        f.prompt = _prompt(f.challenge.actions[min(done, total - 1)]) if done < total else ("", "")
        timed_out = now - f.started > ACTION_SECONDS * total
        if done >= total or timed_out:
            f.liveness_done = done >= total
            f.phase = "done"
            f.distance = (
                self.dev.matcher.distance(self.draft.person.face_template or "", f.image)
                if self.draft and f.image is not None
                else None
            )
            self._go("prelim")

    def retry_face(self) -> bool:
        d = self.draft
        assert d is not None
        if d.face is not None and len(d.person.challenges) > 1:
            # the first challenge stays unused on the device: the backend never saw it
            d.person.challenges = d.person.challenges[1:] + d.person.challenges[:1]
        return self.start_face()

    def preliminary(self) -> tuple[str, Literal["info", "good", "warn", "bad"]]:
        f = self.draft.face if self.draft else None
        if f is None or f.distance is None:
            return "prelim_unknown", "warn"
        if f.distance <= PASS_AT:
            return "prelim_pass", "good"
        return ("prelim_grey", "warn") if f.distance <= REFER_AT else ("prelim_fail", "bad")

    def to_documents(self) -> None:
        self._go("docs")

    def take_document(self, image: np.ndarray) -> None:
        d = self.draft
        if d is not None and len(d.documents) < MAX_DOCUMENTS:
            d.documents.append(self.dev.encode(image))

    def to_attest(self) -> None:
        self._go("attest")

    # --- saving --------------------------------------------------------------------------------

    def _base_fields(self, note: str) -> dict[str, Any]:
        fix = self.dev.locator.fix()
        wl = self.session.worklist()
        fields: dict[str, Any] = {
            "visited_at": datetime.fromtimestamp(self.wall(), UTC).isoformat(),
            "note": note.strip()[:2000],
            "listed_on": wl.today if wl else None,
        }
        if fix is not None:
            fields.update(
                latitude=round(fix.latitude, 6),
                longitude=round(fix.longitude, 6),
                accuracy_m=round(fix.accuracy_m, 1),
            )
        return fields

    def mismatch(self) -> bool:
        """The device's own comparison said "not the same person"."""
        return self.draft is not None and self.preliminary()[0] == "prelim_fail"

    def save_certification(
        self, attested: bool, note: str = "", *, confirmed: bool = False
    ) -> str | None:
        d = self.draft
        if d is None or d.face is None or d.face.phase != "done":
            return None
        if not attested:
            self._say("attest_required", "warn")
            return None
        if self.mismatch() and not confirmed:
            # the worker is about to vouch for someone the device thinks is someone else:
            # a second, explicit tick (checked the ID card against the person) is required
            self._say("mismatch_confirm_required", "bad")
            return None
        f = d.face
        fields = {
            **self._base_fields(note),
            "challenge_id": f.challenge.challenge_id,
            "nonce": f.challenge.nonce,
            "evidence": json.dumps({"frames": f.items}),
            "attestation": t("attest_text", "zh") + " / " + t("attest_text", "en"),
            "found_by": d.found_by,
        }
        if d.card:
            fields.update(id_number=d.card[0], name=d.card[1])
        # signed now, at capture, over exactly what the outbox will send (even days later)
        key = self.session.capture_key()
        fields["signature"] = key.sign(
            f.challenge.challenge_id, f.challenge.nonce, [f.jpeg], f.samples, fields["evidence"]
        )
        fields["key_id"] = key.key_id
        prelim = {
            "distance": f.distance,
            "verdict": self.preliminary()[0],
            "liveness_done": f.liveness_done,
        }
        if self.mismatch():
            prelim["mismatch_confirmed"] = confirmed  # the worker overrode the device's doubt
        visit = Visit(
            "certification",
            d.person.person_id,
            fields,
            images=[f.jpeg],
            frames=f.samples,
            documents=d.documents,
            preliminary=prelim,
        )
        return self._commit(visit, used_challenge=f.challenge.challenge_id)

    def to_not_home(self) -> None:
        self._go("not_home")

    def save_not_home(self, note: str = "") -> str | None:
        d = self.draft
        if d is None:
            return None
        return self._commit(Visit("not_at_home", d.person.person_id, self._base_fields(note)))

    def to_dead(self) -> None:
        self._go("dead")

    def save_dead(self, attested: bool, date_of_death: str = "", note: str = "") -> str | None:
        d = self.draft
        if d is None:
            return None
        if not attested:
            self._say("attest_required", "warn")
            return None
        fields = {
            **self._base_fields(note),
            "attestation": t("attest_dead", "zh") + " / " + t("attest_dead", "en"),
        }
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", date_of_death.strip()):
            fields["date_of_death"] = date_of_death.strip()
        return self._commit(
            Visit("reported_dead", d.person.person_id, fields, documents=d.documents)
        )

    def _commit(self, visit: Visit, used_challenge: str | None = None) -> str:
        person = self.draft.person if self.draft else None
        label = (
            {"name": person.name, "id": person.id_number_masked, "village": person.village_name}
            if person
            else {}
        )
        if used_challenge:
            label["challenge_id"] = used_challenge
        cid = self.session.outbox().add(visit, label=label)  # on disk before anything else
        if used_challenge:
            self.session.use_challenge(visit.person_id, used_challenge)
        self.draft = None
        self._go("list")
        self._say("saved", "good")
        self.on_saved()
        return cid

    # --- the view model ------------------------------------------------------------------------

    def view(self) -> View:
        lang = self.lang
        v = View(
            self.screen,
            lang,
            self._title(),
            message=self.message[0 if lang == "zh" else 1],
            tone=self.tone,
        )
        if self.screen == "list":
            visited = (
                {e.label.get("person_id"): e for e in self.session.outbox().entries()}
                if self.session.current
                else {}
            )
            v.rows = [
                {**_person_row(p, lang), "visit": _visit_note(visited.get(p.person_id), lang)}
                for p in self.matches()
            ]
            v.data["query"] = self.query
            v.data["counts"] = self.session.outbox().counts() if self.session.current else {}
            v.data["online"] = self.online()
        elif self.screen == "outbox":
            v.rows = [_outbox_row(e, lang) for e in self.session.outbox().entries()]
        elif self.draft is not None:
            v.data["person"] = _person_row(self.draft.person, lang)
            v.data["documents"] = len(self.draft.documents)
            f = self.draft.face
            if self.screen == "face" and f is not None:
                v.data.update(
                    phase=f.phase,
                    actions=list(f.challenge.actions),
                    done=f.actions_done,
                    prompt=f.prompt[0 if lang == "zh" else 1],
                )
                v.message = v.data["prompt"]
            if self.screen == "prelim" and f is not None:
                key, tone = self.preliminary()
                v.data.update(
                    distance=f.distance,
                    verdict=t(key, lang),
                    similarity=t(similarity_key(f.distance), lang),
                    liveness_done=f.liveness_done,
                )
                v.message, v.tone = t(key, lang), tone
                if not f.liveness_done:
                    v.data["liveness_note"] = t("liveness_incomplete", lang)
            v.data["mismatch"] = self.screen in ("prelim", "docs", "attest") and self.mismatch()
            if self.screen == "attest" and v.data["mismatch"] and not v.message:
                v.message, v.tone = t("mismatch_warning", lang), "bad"
            fix = (
                self.dev.locator.fix()
                if self.screen in ("attest", "not_home", "dead", "person")
                else None
            )
            v.data["location"] = (
                f"{fix.latitude:.5f}, {fix.longitude:.5f} ±{fix.accuracy_m:.0f} m"
                if fix
                else t("no_location", lang)
            )
        return v

    def _title(self) -> str:
        key = {
            "sign_in": "sign_in",
            "unlock": "unlock",
            "list": "list",
            "outbox": "outbox",
            "scan": "scan_qr",
            "face": "face_title",
            "prelim": "prelim",
            "docs": "docs",
            "attest": "attest",
            "not_home": "not_home",
            "dead": "reported_dead",
        }.get(self.screen)
        if key is None and self.draft is not None:
            return self.draft.person.name
        return t(key or "app", self.lang)


def _prompt(action: str) -> tuple[str, str]:
    return action_prompt(action)


CHANNELS = ("kiosk", "field", "counter", "data_match", "review", "award")


def channel_label(channel: str, lang: str) -> str:
    """How the person was last certified, in words (never the backend's code)."""
    return t(f"channel_{channel}" if channel in CHANNELS else "channel_other", lang)


def similarity_key(distance: float | None) -> str:
    """The device's face comparison in plain words, not a distance figure."""
    if distance is None:
        return "similarity_unknown"
    if distance <= PASS_AT:
        return "similarity_high"
    return "similarity_medium" if distance <= REFER_AT else "similarity_low"


def _person_row(p: WorkPerson, lang: str) -> dict[str, Any]:
    last = p.last_certification
    return {
        "person_id": p.person_id,
        "name": p.name,
        "id": p.id_number_masked,
        "village": p.village_name,
        "address": p.address,
        "phone": p.phone or "",
        "homebound": p.homebound,
        "due": t(p.due_state, lang) if p.due_state in ("due", "overdue", "never") else p.due_state,
        "last": (
            f"{t('last_certified', lang)} {last.certified_on} {channel_label(last.channel, lang)}"
            if last
            else t("never", lang)
        ),
        "challenges": len(p.challenges),
        "has_face": p.face_template is not None,
    }


def _visit_note(e: Any, lang: str) -> str:
    """The person's latest visit in the outbox, for their row in the list."""
    return "" if e is None else f"{t('kind_' + e.kind, lang)}: {_outbox_row(e, lang)['text']}"


OUTCOME_KEYS = {
    "passed": "outcome_passed",
    "referred": "outcome_referred",
    "failed": "outcome_failed",
    "not_at_home": "outcome_not_at_home",
    "reported_dead": "outcome_reported_dead",
}


def _outbox_row(e: Any, lang: str) -> dict[str, Any]:
    r = e.result or {}
    if e.state == "done" and "outcome" in r and r.get("status") == "recorded":
        outcome = r["outcome"]
        text = t(OUTCOME_KEYS[outcome], lang) if outcome in OUTCOME_KEYS else t("state_done", lang)
        if r.get("valid_until"):
            text += f" → {r['valid_until']}"
        if r.get("meanwhile"):  # certified elsewhere since the list was made: both count
            text += "\n" + r["meanwhile"]["zh" if lang == "zh" else "en"]
    elif e.state in ("done", "failed") and "zh" in r:
        text = r["zh" if lang == "zh" else "en"]
    else:
        text = t(f"state_{e.state}", lang)
    tone = (
        "good"
        if e.state == "done"
        and r.get("outcome") in (None, "passed", "not_at_home", "reported_dead")
        else ("bad" if e.state == "failed" or r.get("outcome") == "failed" else "warn")
    )
    who = e.label
    return {
        "client_id": e.client_id,
        "kind": t(f"kind_{e.kind}", lang),
        "state": e.state,
        "text": text,
        "tone": tone,
        "attempts": e.attempts,
        "name": who.get("name", ""),
        "id": who.get("id", ""),
        "person_id": who.get("person_id", ""),
    }
