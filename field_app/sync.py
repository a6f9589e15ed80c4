"""Sending the outbox: in the background whenever the backend is reachable.

Each due visit is marked `sending` (committed), sent with its client id as idempotency
key, then marked done (the backend's decision kept for the worker) or failed (a refusal,
explained in plain words), or rescheduled with exponential backoff and jitter when
nothing definite came back. The clock, the sleep and the randomness are injected so the
tests control time.

Run alone (a separate process, as the fault test does):
    python -m field_app.sync DATA_DIR [--once]    (PIN in env NONGBAO_FIELD_PIN)
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client import clock as product_clock
from field_app.client import ApiError, CertificationIn, FieldClient, Problem, Unreachable, VisitIn
from field_app.outbox import Outbox, Visit
from field_app.store import DeviceStore


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1 after n failures: base * 2^(n-1), capped; "equal jitter"
    (half fixed, half random) so phones that regain signal together do not retry in step."""

    base: float = 5.0
    cap: float = 900.0

    def delay(self, failures: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, failures - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


# --- refusals in plain words -----------------------------------------------------------------


@dataclass(frozen=True)
class Explained:
    code: str
    zh: str
    en: str
    final: bool = True  # False: the visit stays in the outbox (e.g. sign in again, then resend)
    settled: bool = (
        False  # True: nothing more to do, though nothing was recorded (e.g. already certified)
    )


# where a person was certified, by the backend's channel: (zh, en), to read "已于 <day> <zh>完成认证"
CHANNEL_WHERE: dict[str, tuple[str, str]] = {
    "kiosk": ("在自助机", "at a kiosk"),
    "counter": ("在窗口", "at the counter"),
    "data_match": ("通过数据比对", "by a data match"),
    "field": ("通过另一次上门走访", "on another field visit"),
    "review": ("经县里人工复核", "by county review"),
    "award": ("在待遇核定时", "when the pension was awarded"),
}
# the reason a recorded face visit carries when the person was certified since the list was made
MEANWHILE_REASON = re.compile(r"^already_certified:([a-z_]+):(\d{4}-\d{2}-\d{2})$")
# how a refused not-at-home visit's 409 says the same
MEANWHILE_DETAIL = re.compile(r"already certified on (\d{4}-\d{2}-\d{2}) \(channel ([a-z_]+)\)")


def _where(channel: str) -> tuple[str, str]:
    return CHANNEL_WHERE.get(channel, (f"通过{channel}", f"through {channel}"))


def meanwhile(reasons: Iterable[object]) -> Explained | None:
    """A face visit the backend recorded, although the person had been certified elsewhere
    since the work list was downloaded: said plainly, so the worker knows both count."""
    for reason in reasons:
        if m := MEANWHILE_REASON.match(str(reason)):
            channel, day = m.groups()
            zh, en = _where(channel)
            return Explained(
                "recorded_certified_meanwhile",
                f"此人已于 {day} {zh}完成认证，本次走访也已记录",
                f"Already certified {en} on {day}; this visit was recorded too",
            )
    return None


def _certified_meanwhile(detail: str) -> Explained:
    m = MEANWHILE_DETAIL.search(detail)
    if m is None:
        return Explained(
            "certified_meanwhile",
            "此人在此期间已经认证（自助机或窗口），无需再访",
            "Already certified meanwhile (at a kiosk or the counter): no visit needed",
            settled=True,
        )
    day, channel = m.groups()
    zh, en = _where(channel)
    return Explained(
        "certified_meanwhile",
        f"此人已于 {day} {zh}完成认证，无需再访",
        f"Already certified {en} on {day}: no visit needed",
        settled=True,
    )


# the problem codes (docs/problem-codes.md) the worker is told about in words of their own
KIND_FOR_CODE = {
    "certified_meanwhile": "certified_meanwhile",
    "person_ended": "person_died",
    "not_assigned": "not_assigned",
    "challenge_expired": "challenge_expired",
    "card_locked": "locked_today",
}


def _kind(status: int, problem: Problem, detail: str) -> str | None:
    """What the refusal is, from its machine code; from the wording only when the problem
    carries no code at all (a backend older than the codes)."""
    if problem.code:
        return KIND_FOR_CODE.get(problem.code)
    if "already certified" in detail:
        return "certified_meanwhile"
    if "terminated" in detail or "deceased" in detail or "died" in detail:
        return "person_died"
    if status == 403 and "villages" in detail:
        return "not_assigned"
    if "expired" in detail:
        return "challenge_expired"
    if "locked" in detail:
        return "locked_today"
    return None


def explain(status: int, problem: Problem) -> Explained:
    """The backend's problem+json, for a village worker: what happened and what to do."""
    detail = (problem.detail or problem.title).lower()
    if status == 401:
        return Explained(
            "signed_out",
            "登录已过期，请联网重新登录后再发送",
            "Your sign-in has expired: sign in again online, then the visit is sent",
            final=False,
        )
    kind = _kind(status, problem, detail)
    if kind == "certified_meanwhile":
        return _certified_meanwhile(detail)
    if kind == "person_died":
        return Explained(
            "person_died",
            "系统记录此人已去世或已终止待遇，本次走访未记录",
            "The registry records this person as deceased (or their pension ended): the visit was not recorded",
        )
    if kind == "not_assigned":
        return Explained(
            "not_assigned",
            "此人已不在您负责的村（已迁出，或您已调离），请告知县农保中心",
            "This person is no longer in your villages (moved away, or you are no longer assigned): tell the county office",
        )
    if status == 403:
        return Explained(
            "forbidden",
            "您的账号无权提交此走访，请联系县农保中心",
            "Your account may not send this visit: call the county office",
        )
    if status == 404:
        return Explained(
            "not_found",
            "系统中找不到此人（可能已迁出注销），请告知县农保中心",
            "This person is no longer in the registry (moved away or cancelled): tell the county office",
        )
    if kind == "challenge_expired":
        return Explained(
            "challenge_expired",
            "活体验证码已过期，请更新名单后重新走访",
            "The liveness challenge expired before the visit was sent: refresh the list and visit again",
        )
    if kind == "locked_today":
        return Explained(
            "locked_today",
            "今天人脸比对失败次数过多，已转县里人工审核",
            "Too many failed face checks today: the case is with county staff",
        )
    if status == 409:
        return Explained(
            "conflict",
            # the backend's detail is English for staff logs: the worker reads Chinese only
            "与服务器上的记录冲突，本次走访未记录，请联系县农保中心",
            "Conflicts with the backend's records: " + (problem.detail or ""),
        )
    return Explained(
        "refused",
        "服务器拒绝了这次走访，请联系县农保中心",
        "Refused by the backend: " + (problem.detail or problem.title),
    )


def recorded(result: dict[str, Any]) -> dict[str, Any]:
    """What the outbox keeps of a visit the backend recorded: its answer, and in plain words
    anything the worker should know about it."""
    done = {"status": "recorded", **result}
    if note := meanwhile(result.get("reasons") or ()):
        done["meanwhile"] = {"code": note.code, "zh": note.zh, "en": note.en}
    return done


# --- the syncer ------------------------------------------------------------------------------


@dataclass
class SyncReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    needs_sign_in: bool = False


class Syncer:
    def __init__(
        self,
        outbox: Outbox,
        client: FieldClient,
        *,
        clock: Callable[[], float] = product_clock.timestamp,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        backoff: Backoff = Backoff(),
        listed_on: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.backoff = backoff
        self.listed_on = listed_on
        self.on_change: Callable[[], None] = lambda: None
        self.on_reachable: Callable[[bool], None] = lambda ok: None  # for the "online/offline" sign

    def run_once(self, *, force: bool = False) -> SyncReport:
        """One pass over the visits due now (all unsent ones when the worker taps "send
        now"). Stops at the first network failure: the others would fail the same way, and
        each attempt costs battery."""
        report = SyncReport()
        for cid in self.outbox.due(float("inf") if force else self.clock()):
            outcome = self.send(cid)
            self.on_change()
            if outcome == "needs_sign_in":
                report.needs_sign_in = True
                break
            getattr(report, outcome).append(cid)
            if outcome == "retrying":
                break
        return report

    def send(self, cid: str) -> str:
        entry = self.outbox.get(cid, open_visit=True)
        assert entry.visit is not None
        attempt = self.outbox.mark_sending(cid)
        try:
            result = self._post(cid, entry.visit)
        except Unreachable as exc:
            self.outbox.retry_later(
                cid, self.clock() + self.backoff.delay(attempt, self.rng), str(exc)
            )
            self.on_reachable(False)
            return "retrying"
        except ApiError as exc:
            self.on_reachable(True)
            return self._refused(cid, exc)
        self.on_reachable(True)
        self.outbox.mark_done(cid, recorded(result))
        return "sent"

    def _refused(self, cid: str, exc: ApiError) -> str:
        why = explain(exc.status, exc.problem)
        body = {
            "status": why.code,
            "zh": why.zh,
            "en": why.en,
            "http_status": exc.status,
            "detail": exc.problem.detail,
        }
        if not why.final:
            self.outbox.retry_later(cid, self.clock() + self.backoff.cap, why.code)
            return "needs_sign_in"
        (self.outbox.mark_done if why.settled else self.outbox.mark_failed)(cid, body)
        return "sent" if why.settled else "failed"

    def _post(self, cid: str, visit: Visit) -> dict[str, Any]:
        result = self._post_main(cid, visit)
        attestation = str(visit.fields.get("attestation", ""))
        if attestation or visit.documents:
            note = str(visit.fields.get("note", ""))
            result["attachments"] = self.client.attach(
                cid, visit.person_id, attestation or "-", note, visit.documents
            )
        return result

    def _post_main(self, cid: str, visit: Visit) -> dict[str, Any]:
        f = visit.fields
        if visit.kind == "certification":
            sub = CertificationIn(
                client_id=cid,
                person_id=visit.person_id,
                **{
                    k: f[k]
                    for k in CertificationIn.model_fields
                    if k in f and k not in ("client_id", "person_id")
                },
            )
            result = self.client.certify(sub, visit.images, visit.frames)
            if result.outcome == "failed":
                self._refer(cid, visit, result.certification_id)
            return result.model_dump(mode="json")
        body = VisitIn(
            client_id=cid,
            person_id=visit.person_id,
            outcome=visit.kind,
            **{
                k: f[k]
                for k in VisitIn.model_fields
                if k in f and k not in ("client_id", "person_id", "outcome")
            },
        )
        return self.client.visit(body).model_dump(mode="json")

    def _refer(self, cid: str, visit: Visit, certification_id: str) -> None:
        """A failed face check at home goes to county staff (idempotent: a resend after a
        lost answer replays the certification and then this)."""
        note = str(visit.fields.get("note", ""))
        self.client.visit(
            VisitIn(
                client_id=f"{cid}-refer",
                person_id=visit.person_id,
                outcome="refer_failed",
                visited_at=str(visit.fields.get("visited_at", "")),
                certification_id=certification_id,
                note=note,
            )
        )

    def run(
        self, stop: threading.Event, *, idle_poll: float = 30.0, until_empty: bool = False
    ) -> None:
        """Send until stopped; sleep until the next visit is due (or `idle_poll`)."""
        while not stop.is_set():
            report = self.run_once()
            next_at = self.outbox.next_due_at()
            if next_at is None and until_empty:
                return
            if report.needs_sign_in:
                return  # nothing can be sent until the worker signs in again
            wait = (
                idle_poll if next_at is None else max(0.0, min(idle_poll, next_at - self.clock()))
            )
            if wait > 0:
                self.sleep(wait)


def main(argv: list[str] | None = None) -> int:
    """The sync as its own process: open the store with the PIN, send until the outbox is empty."""
    parser = argparse.ArgumentParser(prog="python -m field_app.sync")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--fast-kdf", action="store_true", help="tests: the cheap scrypt cost")
    parser.add_argument("--base-delay", type=float, default=Backoff.base)
    args = parser.parse_args(argv)
    from field_app import vault as vlt

    store = DeviceStore(
        args.data_dir / "field.sqlite3", cost=vlt.FAST_COST if args.fast_kdf else vlt.DEFAULT_COST
    )
    vault = store.unlock(os.environ["NONGBAO_FIELD_PIN"])
    session = store.session(vault)
    if session is None:
        print("sync: not signed in", file=sys.stderr)
        return 2
    client = FieldClient(session.base_url, token=session.token, timeout=10.0)
    syncer = Syncer(
        Outbox(store, vault, product_clock.timestamp),
        client,
        backoff=Backoff(base=args.base_delay, cap=max(args.base_delay * 8, 1.0)),
    )
    if args.once:
        syncer.run_once()
    else:
        syncer.run(threading.Event(), idle_poll=1.0, until_empty=True)
    counts = syncer.outbox.counts()
    print(f"sync: {counts}", file=sys.stderr)
    return 0 if counts["pending"] + counts["sending"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
