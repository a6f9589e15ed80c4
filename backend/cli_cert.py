"""`nongbao receipts`, `nongbao audit` and `nongbao keys`: certification-side operations."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from backend.config import get_settings


def _emit(as_json: bool, payload: dict, human: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, default=str) if as_json else human)


# --- receipts ---------------------------------------------------------------------------------


@click.group()
def receipts() -> None:
    """Signed receipts (the QR code on a certification slip)."""


@receipts.command("verify")
@click.argument("code")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="the county's public key (PEM); default: the one beside the master key",
)
@click.option("--json", "as_json", is_flag=True)
def receipts_verify(code: str, public_key: Path | None, as_json: bool) -> None:
    """Check a receipt's code offline: only the county's public key is needed."""
    from backend import receipts as signing

    path = public_key or get_settings().effective_key_file.parent / signing.PUBLIC_KEY_FILE
    if not path.exists():
        raise click.ClickException(
            f"no public key at {path}: pass --public-key FILE (GET /api/v1/receipts/public-key)"
        )
    try:
        key = signing.load_public_key(path.read_bytes())
    except ValueError as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    payload = signing.verify(key, code)
    if payload is None:
        _emit(
            as_json,
            {"genuine": False},
            "NOT GENUINE: this code was not signed by the county's key (forged, altered or damaged)",
        )
        sys.exit(1)
    body = {
        "genuine": True,
        "receipt_id": payload.receipt_id,
        "what": payload.what,
        "on": payload.on,
        "person": payload.person,
    }
    _emit(
        as_json,
        body,
        f"genuine: {payload.what} on {payload.on} for {payload.person} (receipt {payload.receipt_id})",
    )


# --- audit ------------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """The hash-chained audit trail."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True)
def audit_verify(as_json: bool) -> None:
    """Walk the chain; non-zero exit if any event was edited or deleted."""
    from sqlmodel import Session

    from backend.db import engine_for, require_migrated
    from backend.services import audit as trail

    engine = engine_for(get_settings().effective_database_url)
    require_migrated(engine)
    with Session(engine) as session:
        check = trail.verify(session)
    body = {"ok": check.ok, "events": check.events, "head": check.head, "problems": check.problems}
    if check.ok:
        _emit(as_json, body, f"audit chain intact: {check.events} events, head {check.head[:16]}")
        return
    lines = "\n".join(f"  event {p['id']}: {p['problem']}" for p in check.problems)
    _emit(
        as_json,
        body,
        f"AUDIT CHAIN BROKEN ({len(check.problems)} problem(s) in {check.events} events):\n{lines}",
    )
    click.echo(f"nongbao: audit chain broken at event {check.problems[0]['id']}", err=True)
    sys.exit(1)


# --- keys -------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """The data keys that seal personal data at rest."""


@keys.command("rotate")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate(as_json: bool) -> None:
    """Add a new data key and re-seal every encrypted field with it. Restart the servers
    afterwards: they hold the key file in memory."""
    from backend.crypto import load_keyring, save_keyring
    from backend.db import engine_for, require_migrated, session_scope

    settings = get_settings()
    if settings.master_key:
        raise click.ClickException(
            "the keys come from NONGBAO_MASTER_KEY: rotate them where that value is kept"
        )
    engine = engine_for(settings.effective_database_url)
    require_migrated(engine)
    ring = load_keyring(settings.effective_key_file, create=False)
    new_kid = ring.rotate()
    # the file first: it keeps every old key, so rows are readable whether or not the re-seal commits
    save_keyring(ring, settings.effective_key_file)
    with session_scope(engine) as session:
        counts = reseal(session, ring)
    body = {"key_id": new_kid, "resealed": counts}
    _emit(
        as_json,
        body,
        f"new data key {new_kid}; re-sealed {sum(counts.values())} values {counts}; restart the backend servers now",
    )


def reseal(session, ring) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Re-encrypt every sealed column under the keyring's current key (same associated data)."""
    from sqlmodel import select

    from backend.models import FaceTemplate, Person, ReviewCase

    counts = {"person": 0, "face_template": 0, "review_case": 0}
    plan = (
        (Person, "person", ("id_number_enc", "old_id_number_enc"), "id"),
        (FaceTemplate, "face_template", ("template_enc", "photo_enc"), "person_id"),
        (ReviewCase, "review_case", ("captured_photo_enc",), "person_id"),
    )
    for model, name, columns, aad_field in plan:
        for row in session.exec(select(model)).all():
            aad = str(getattr(row, aad_field)).encode()
            for column in columns:
                blob = getattr(row, column)
                if blob and ring.key_id_of(blob) != ring.current:
                    setattr(row, column, ring.encrypt(ring.decrypt(blob, aad), aad))
                    counts[name] += 1
            session.add(row)
    return counts
