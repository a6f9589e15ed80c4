"""Users, passwords (argon2id), bearer tokens (JWT, expiring) and device tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, timedelta

import jwt
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from backend import clock
from backend.crypto import Keyring
from backend.errors import Conflict, Forbidden, NotFound, RuleRefused, Unauthorized, field_error
from backend.ledger import new_id
from backend.models import ROLES, AppUser, Device, FamilyPhone, Village
from backend.services.context import Actor
from client import capture

_hasher = PasswordHasher()  # argon2id, memory-hard
DEVICE_TOKEN_PREFIX = "nbd_"
DEVICE_KINDS = ("kiosk", "field")  # what an admin registers
# a family member's phone registers itself by SMS code (services/family.py), never by an admin
SELF_REGISTERED_KINDS = ("family",)
ROLE_OF_KIND = {"kiosk": "kiosk", "field": "field_device", "family": "family"}
MIN_PASSWORD_LENGTH = 8
# verified against a dummy hash when the user is unknown, so timing does not reveal names
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(
    session: Session, username: str, password: str, role: str, villages: list[str] | None = None
) -> AppUser:
    username = username.strip()
    if not username or len(username) > 64:
        raise field_error("username", "a user name has 1 to 64 characters")
    if role not in ROLES:
        raise field_error("role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise field_error("password", f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    villages = villages or []
    if villages:
        known = set(session.exec(select(Village.code).where(col(Village.code).in_(villages))).all())
        unknown = sorted(set(villages) - known)
        if unknown:
            raise field_error("villages", f"unknown village codes: {', '.join(unknown)}")
    if session.exec(select(AppUser).where(AppUser.username == username)).first():
        raise Conflict(f"a user named {username!r} already exists")
    user = AppUser(
        username=username,
        password_hash=hash_password(password),
        role=role,
        villages=json.dumps(villages),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> AppUser:
    """Name and password only, no limits: sign-in goes through services/login_limits.py."""
    return verify_password(find_user(session, username), password)


def find_user(session: Session, username: str) -> AppUser | None:
    return session.exec(select(AppUser).where(AppUser.username == username)).first()


def verify_password(user: AppUser | None, password: str) -> AppUser:
    """The user, if the password is theirs and they are active (argon2: slow on purpose, so
    call it outside any transaction)."""
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("wrong user name or password") from None
    if user is None or not user.active:
        raise Unauthorized("wrong user name or password")
    return user


def _jwt_secret(keyring: Keyring) -> bytes:
    return hmac.new(keyring.index_key, b"nongbao-jwt-v1", hashlib.sha256).digest()


def issue_token(keyring: Keyring, user: AppUser, ttl_minutes: int) -> tuple[str, int]:
    now = clock.now()
    claims = {
        "sub": user.username,
        "role": user.role,
        "iat": now,
        "exp": now + timedelta(minutes=ttl_minutes),
    }
    return jwt.encode(claims, _jwt_secret(keyring), algorithm="HS256"), ttl_minutes * 60


def actor_from_token(session: Session, keyring: Keyring, token: str) -> Actor:
    if token.startswith(DEVICE_TOKEN_PREFIX):
        device = session.exec(select(Device).where(Device.token_hash == _digest(token))).first()
        if device is None or not device.active:
            raise Unauthorized("unknown or revoked device token")
        role = ROLE_OF_KIND[device.kind]
        if role == "family":
            _check_family_sign_in(session, device)
        return Actor(kind="device", name=device.name, role=role, device_id=device.id)
    try:
        # the expiry is checked against the product's clock, not PyJWT's own reading of the
        # wall clock, so that a process whose clock is set (tests, a training county) agrees
        # with the tokens it issued
        claims = jwt.decode(
            token,
            _jwt_secret(keyring),
            algorithms=["HS256"],
            options={"require": ["exp", "sub"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None
    if not isinstance(claims["exp"], int | float) or claims["exp"] <= clock.timestamp():
        raise Unauthorized("the token has expired; sign in again")
    user = session.execute(_TOKEN_USER, {"username": claims["sub"]}).first()
    if user is None or not user.active:
        raise Unauthorized("the user of this token no longer exists or is disabled")
    return Actor(
        kind="user", name=user.username, role=user.role, villages=tuple(json.loads(user.villages))
    )


# built once, four columns, no ORM identity map: every staff request runs it
_users = AppUser.__table__.c
_TOKEN_USER = sa.select(_users.username, _users.role, _users.villages, _users.active).where(
    _users.username == sa.bindparam("username")
)


def _check_family_sign_in(session: Session, device: Device) -> None:
    """A family phone's token works while its sign-in lasts (services/family.py)."""
    row = session.exec(select(FamilyPhone).where(FamilyPhone.device_id == device.id)).first()
    until = row.signed_in_until if row is not None else None
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=UTC)  # SQLite gives naive UTC
    if until is None or until <= clock.now():
        raise Unauthorized("this phone's sign-in has ended: sign in again with a new code")


def token_subject(session: Session, keyring: Keyring, token: str) -> str | None:
    """Whose token this is, for per-caller limits: `device:<id>` or `user:<name>` (however
    many tokens a user signs in for, or however the header is spelt), None if not valid."""
    try:
        who = actor_from_token(session, keyring, token)
    except Unauthorized:
        return None
    return f"device:{who.device_id}" if who.kind == "device" else f"user:{who.name}"


def register_device(
    session: Session,
    name: str,
    kind: str,
    location: str = "",
    public_key: str | None = None,
    *,
    self_registered: bool = False,
) -> tuple[Device, str]:
    if kind not in (SELF_REGISTERED_KINDS if self_registered else DEVICE_KINDS):
        raise field_error("kind", f"a device is a kiosk or a field device, not {kind!r}")
    if not name.strip():
        raise field_error("name", "a device needs a name")
    token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = Device(
        id=new_id("dev")[:40],
        name=name.strip(),
        kind=kind,
        location=location,
        token_hash=_digest(token),
    )
    if public_key is not None:
        _set_key(session, device, public_key)
    session.add(device)
    session.flush()
    return device, token


def _set_key(session: Session, device: Device, public_key: str) -> None:
    """Attach a device's capture-signing public key; one key belongs to one device."""
    try:
        raw = capture.decode_public_key(public_key)
    except ValueError as exc:
        raise field_error("public_key", str(exc)) from None
    kid = capture.key_id(raw)
    other = session.exec(select(Device).where(Device.key_id == kid)).first()
    if other is not None and other.id != device.id:
        raise Conflict("this public key is registered with another device: make a new key")
    device.public_key = base64.b64encode(raw).decode()
    device.key_id = kid


def get_device(session: Session, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    return device


def revoke_device(session: Session, device_id: str) -> Device:
    """Its token and its signatures are refused from now on (for good)."""
    device = get_device(session, device_id)
    device.active = False
    session.add(device)
    return device


def rotate_device_key(session: Session, device_id: str, public_key: str) -> Device:
    """A new key made on the device (a replaced phone, a suspected copy): the old key's
    signatures are refused from now on. A revoked device stays revoked."""
    device = get_device(session, device_id)
    if not device.active:
        raise RuleRefused("this device is revoked: register the device again")
    _set_key(session, device, public_key)
    session.add(device)
    session.flush()
    return device


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_role(actor: Actor, allowed: tuple[str, ...]) -> None:
    if actor.role not in allowed:
        raise Forbidden(f"the role {actor.role!r} may not do this (allowed: {', '.join(allowed)})")
