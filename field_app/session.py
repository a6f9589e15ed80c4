"""The worker's session on the device: online sign-in, offline PIN, the work list, sign-out.

Online sign-in proves who the worker is (username and password against the backend) and
sets or checks the local PIN. For OFFLINE_DAYS after that, the PIN alone opens the app, so
a worker can visit villages without signal. Sign-out wipes the cached personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from client import clock as product_clock
from client.capture import DeviceKey
from field_app import vault as vlt
from field_app.client import ApiError, FieldClient, Unreachable, Worklist
from field_app.outbox import Outbox
from field_app.store import OFFLINE_DAYS, DeviceStore, Locked, SignedIn

CHALLENGES_PER_PERSON = 2  # a second try on the spot without signal
# "在线" means the backend answered within this long: a phone that walked out of signal
# must not keep saying it is online because the sign-in, an hour ago, went through
ONLINE_FRESH_S = 90.0


class SignInError(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


@dataclass
class Unlocked:
    vault: vlt.Vault
    signed_in: SignedIn
    online: bool


ClientFactory = Callable[[str, str | None], FieldClient]


def default_client(base_url: str, token: str | None) -> FieldClient:
    return FieldClient(base_url, token=token)


class FieldSession:
    def __init__(
        self,
        store: DeviceStore,
        *,
        client_factory: ClientFactory = default_client,
        clock: Callable[[], float] = product_clock.timestamp,
        offline_days: int = OFFLINE_DAYS,
    ) -> None:
        self.store = store
        self.client_factory = client_factory
        self.clock = clock
        self.offline_days = offline_days
        self.current: Unlocked | None = None
        self._reachable: bool | None = None
        self.answered_at: float | None = None  # when the backend last answered (device clock)
        self._capture_key: DeviceKey | None = None

    @property
    def reachable(self) -> bool | None:
        """The last contact with the backend: answered (True), failed (False), none (None)."""
        return self._reachable

    @reachable.setter
    def reachable(self, ok: bool | None) -> None:
        self._reachable = ok
        self.answered_at = self.clock() if ok else None

    def online_now(self) -> bool:
        """Signed in and the backend answered recently (ONLINE_FRESH_S)."""
        return (
            self.current is not None
            and self.answered_at is not None
            and self.clock() - self.answered_at <= ONLINE_FRESH_S
        )

    @property
    def vault(self) -> vlt.Vault:
        if self.current is None:
            raise Locked("the app is locked")
        return self.current.vault

    def client(self) -> FieldClient:
        s = self.signed_in
        return self.client_factory(s.base_url, s.token)

    @property
    def signed_in(self) -> SignedIn:
        if self.current is None:
            raise Locked("the app is locked")
        return self.current.signed_in

    def outbox(self) -> Outbox:
        return Outbox(self.store, self.vault, self.clock)

    def capture_key(self) -> DeviceKey:
        """The phone's own capture-signing key, made next to the store (0600) the first time;
        its public key is what the admin registers as this field device."""
        if self._capture_key is None:
            self._capture_key = DeviceKey.load_or_create(self.store.path.parent)
        return self._capture_key

    # --- signing in -------------------------------------------------------------------------

    def sign_in_online(self, base_url: str, username: str, password: str, pin: str) -> Unlocked:
        if not vlt.valid_pin(pin):
            raise SignInError("PIN码为4到8位数字", "The PIN is 4 to 8 digits")
        client = self.client_factory(base_url, None)
        try:
            token = client.sign_in(username, password)
        except Unreachable:
            raise SignInError(
                "连不上服务器：有信号时再登录，或用PIN码离线打开",
                "Cannot reach the server: sign in where there is signal, or open offline with your PIN",
            ) from None
        except ApiError as exc:
            raise SignInError(
                "用户名或密码不对", f"Sign-in refused: {exc.problem.detail}"
            ) from None
        if token.role != "field_worker":
            raise SignInError(
                "此应用只供村协管员（field_worker）使用", "This app is for field workers only"
            )
        vault = self._vault_for(username, pin)
        now = self.clock()
        signed = SignedIn(
            username=username,
            role=token.role,
            base_url=base_url,
            token=token.access_token,
            token_expires_at=now + token.expires_in,
            online_at=now,
        )
        self.store.save_session(vault, signed)
        self.current = Unlocked(vault, signed, online=True)
        self.reachable = True
        return self.current

    def _vault_for(self, username: str, pin: str) -> vlt.Vault:
        """Keep the data key when the same worker signs in again with the same PIN (the
        outbox stays readable); otherwise start a new key, if nothing unsent would be lost."""
        if self.store.has_pin():
            try:
                vault = self.store.unlock(pin)
                previous = self.store.session(vault)
                if previous is None or previous.username == username:
                    return vault
            except (vlt.WrongPin, Locked):
                pass
            if self.store.unsent():
                raise SignInError(
                    "本机还有未发送的走访：请用原账号和原PIN码登录",
                    "Unsent visits are on this device: sign in with the same account and PIN as before",
                )
            self.store.wipe(keep_outbox=False)
        return self.store.set_pin(pin)

    def unlock_offline(self, pin: str) -> Unlocked:
        try:
            vault = self.store.unlock(pin)
        except vlt.WrongPin:
            left = 5 - self.store.pin_failures()
            raise SignInError(
                f"PIN码不对，还可以试{left}次", f"Wrong PIN: {left} tries left"
            ) from None
        except Locked:
            raise SignInError("请联网登录", "Sign in online first") from None
        signed = self.store.session(vault)
        if signed is None:
            raise SignInError("请联网登录", "Sign in online first")
        if self.clock() > signed.offline_until(self.offline_days):
            raise SignInError(
                f"离线使用已超过{self.offline_days}天，请联网登录",
                f"Offline use is limited to {self.offline_days} days: sign in online",
            )
        self.current = Unlocked(vault, signed, online=False)
        self.reachable = None
        return self.current

    def lock(self) -> None:
        self.current = None  # the key leaves memory; the PIN opens it again

    def sign_out(self, *, discard_unsent: bool = False) -> None:
        """Wipe the cached personal data. Unsent visits survive unless discarded on purpose."""
        if self.store.unsent() and not discard_unsent:
            raise SignInError(
                "还有未发送的走访，请先联网同步",
                "Some visits are not sent yet: sync first (or discard them on purpose)",
            )
        self.store.wipe(keep_outbox=not discard_unsent)
        self.current = None

    # --- the work list ----------------------------------------------------------------------

    def worklist(self) -> Worklist | None:
        return self.store.worklist(self.vault)

    def download_worklist(self, challenges_per_person: int = CHALLENGES_PER_PERSON) -> Worklist:
        """The list, and liveness challenges fetched ahead for each person with a face.
        Challenges still unused from the last list are kept (each is usable once)."""
        client = self.client()
        fresh = client.worklist()
        old = {
            p.person_id: p.challenges
            for p in (self.worklist() or Worklist(generated_at="", today="", worker="")).persons
        }
        for person in fresh.persons:
            if person.face_template is None:
                continue  # no enrolled face: certify at the counter, or visit without a face check
            person.challenges = [
                c for c in old.get(person.person_id, []) if c.expires_at > fresh.generated_at
            ]
            while len(person.challenges) < challenges_per_person:
                person.challenges.append(client.challenge(person.person_id))
        self.store.save_worklist(self.vault, fresh)
        return fresh

    def use_challenge(self, person_id: str, challenge_id: str) -> None:
        """Forget a challenge once a visit carries it, so no second visit reuses it."""
        wl = self.worklist()
        if wl is None:
            return
        for p in wl.persons:
            if p.person_id == person_id:
                p.challenges = [c for c in p.challenges if c.challenge_id != challenge_id]
        self.store.save_worklist(self.vault, wl)
