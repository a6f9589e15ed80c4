"""`nongbao receipts`, `nongbao audit` and `nongbao keys`: certification-side operations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from backend.config import get_settings

if TYPE_CHECKING:
    from backend.services import audit as trail_types
    from backend.services.keys import KeyStatus


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
    """The audit trail: events sealed in signed batches (docs/audit.md)."""


def _heads(head_file: Path | None) -> trail_types.HeadLog:
    from backend.services import audit as trail

    heads = trail.HeadLog.from_settings()
    return trail.HeadLog(head_file, heads.key_dir) if head_file else heads


_HEAD_FILE = click.option(
    "--head-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="the append-only head file (default: NONGBAO_AUDIT_HEAD_FILE or data/audit/heads.jsonl)",
)


@audit.command("verify")
@_HEAD_FILE
@click.option("--json", "as_json", is_flag=True)
def audit_verify(head_file: Path | None, as_json: bool) -> None:
    """Check every sealed batch against its signed head and the head file, and the events not
    yet sealed; non-zero exit if any event was edited or deleted."""
    from sqlmodel import Session

    from backend.db import engine_for, require_migrated
    from backend.services import audit as trail

    engine = engine_for(get_settings().effective_database_url)
    require_migrated(engine)
    with Session(engine) as session:
        check = trail.verify(session, _heads(head_file))
    body = {
        "ok": check.ok,
        "events": check.events,
        "sealed": check.sealed,
        "unsealed": check.unsealed,
        "batches": check.batches,
        "head": check.head,
        "problems": check.problems,
        "warnings": check.warnings,
    }
    summary = (
        f"{check.events} events ({check.sealed} sealed in {check.batches} batches, "
        f"{check.unsealed} not yet sealed)"
    )
    if check.ok:
        _emit(as_json, body, f"audit trail intact: {summary}, head {check.head[:16]}")
        return

    def where(p: dict) -> str:
        return f"event {p['id']}" if "id" in p else f"batch {p['batch']}"

    lines = "\n".join(f"  {where(p)}: {p['problem']}" for p in check.problems)
    _emit(
        as_json,
        body,
        f"AUDIT CHAIN BROKEN ({len(check.problems)} problem(s) in {summary}):\n{lines}",
    )
    click.echo(f"nongbao: audit chain broken at {where(check.problems[0])}", err=True)
    sys.exit(1)


@audit.command("seal")
@_HEAD_FILE
@click.option("--json", "as_json", is_flag=True)
def audit_seal(head_file: Path | None, as_json: bool) -> None:
    """Seal the events not yet sealed now (what `nongbao serve` does every
    NONGBAO_AUDIT_SEAL_SECONDS) and append the signed heads to the head file."""
    from backend.db import engine_for, require_migrated
    from backend.services import audit as trail

    engine = engine_for(get_settings().effective_database_url)
    require_migrated(engine)
    heads = _heads(head_file)
    sealed: list[dict] = []
    try:
        while (b := trail.seal(engine, heads)) is not None:
            sealed.append({"batch": b.id, "events": b.tree_size, "head": b.head_hash})
    except trail.SealRefusedError as exc:
        raise click.ClickException(str(exc)) from None
    events = sum(int(b["events"]) for b in sealed)
    _emit(as_json, {"batches": sealed}, f"sealed {events} events in {len(sealed)} batches")


@audit.command("heads")
@_HEAD_FILE
@click.option("--since", default=0, show_default=True, type=int, help="only batches after this")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the heads (JSON lines) to this file for the province; default: print them",
)
def audit_heads(head_file: Path | None, since: int, out: Path | None) -> None:
    """Export the signed batch heads (one JSON line each) with the county's public key: the
    province or the daily report keeps them, so a database rewritten later cannot match."""
    from backend import receipts as signing

    heads = _heads(head_file)
    lines = [ln for ln in heads.lines() if json.loads(ln).get("batch", 0) > since]
    public = heads.public_key()
    key = {"public_key": signing.public_pem(public)} if public else {}
    text = "\n".join([json.dumps(key), *lines]) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"{len(lines)} heads written to {out}")


# --- keys -------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """The data keys that seal personal data at rest."""


@keys.command("rotate")
@click.option(
    "--resume",
    is_flag=True,
    help="add no key: finish an interrupted or incomplete rotation under the current key",
)
@click.option("--json", "as_json", is_flag=True)
def keys_rotate(resume: bool, as_json: bool) -> None:
    """Add a new data key and re-seal every encrypted field and every stored document with it.
    Restart the servers afterwards: they hold the key file in memory."""
    from sqlmodel import Session

    from backend.cli import blob_progress
    from backend.crypto import load_keyring, save_keyring
    from backend.db import engine_for, require_migrated, session_scope
    from backend.services import archives
    from backend.services import keys as svc

    settings = get_settings()
    if settings.master_key:
        raise click.ClickException(
            "the keys come from NONGBAO_MASTER_KEY: rotate them where that value is kept"
        )
    engine = engine_for(settings.effective_database_url)
    require_migrated(engine)
    ring = load_keyring(settings.effective_key_file, create=False)
    if not resume:
        ring.rotate()
        # the file first: it keeps every old key, so everything opens however far the re-seal gets
        save_keyring(ring, settings.effective_key_file)
    with session_scope(engine) as session:
        counts = svc.reseal_columns(session, ring)
    root = archives.archive_root(settings.data_dir)
    with blob_progress("re-sealing the archive", as_json) as progress:
        archive = archives.reseal_all(ring, root, progress)
    with Session(engine) as session:
        owners = archives.live_documents(session, archive.damaged)
        status = svc.key_status(session, ring, root)
    body = {
        "key_id": ring.current,
        "resealed": counts,
        "archive": archive.as_dict(),
        **status.as_dict(),
    }
    _emit(as_json, body, _rotate_text(body, status))
    if archive.damaged:
        _report_damaged(owners)
        sys.exit(1)


def _rotate_text(body: dict, status: KeyStatus) -> str:
    a = body["archive"]
    return (
        f"data key {body['key_id']}; re-sealed {sum(body['resealed'].values())} values {body['resealed']}; "
        f"archive: {a['resealed']} files re-sealed, {a['current']} already current, {a['damaged']} damaged\n"
        + _status_text(status)
        + "\nrestart the backend servers now"
    )


def _report_damaged(owners: dict[str, list[str]]) -> None:
    for sha256, doc_ids in owners.items():
        who = f"documents {', '.join(doc_ids)}" if doc_ids else "no live document refers to it"
        click.echo(
            f"nongbao: archive file {sha256[:2]}/{sha256} does not open or does not match its name "
            f"({who}); left as it was",
            err=True,
        )
    click.echo(
        f"nongbao: {len(owners)} archive file(s) damaged and still under an older key; restore "
        "them from a backup, then run `nongbao keys rotate --resume`",
        err=True,
    )


@keys.command("status")
@click.option("--json", "as_json", is_flag=True)
def keys_status(as_json: bool) -> None:
    """How many column values and archive files each data key still seals (read-only): an old
    key is no longer needed by the database once both are 0."""
    from sqlmodel import Session

    from backend.crypto import KeyError_, load_keyring
    from backend.db import engine_for, require_migrated
    from backend.services import keys as svc
    from backend.services.archives import archive_root

    settings = get_settings()
    engine = engine_for(settings.effective_database_url)
    require_migrated(engine)
    try:
        ring = load_keyring(settings.effective_key_file, settings.master_key, create=False)
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from None
    with Session(engine) as session:
        status = svc.key_status(session, ring, archive_root(settings.data_dir))
    _emit(as_json, status.as_dict(), _status_text(status))


def _status_text(status: KeyStatus) -> str:
    lines = []
    for kid, n in status.keys.items():
        note = " (current)" if n["current"] else ""
        if not n["in_key_file"]:
            note += " NOT IN THE KEY FILE: these cannot be opened"
        elif not n["current"] and not n["values"] and not n["blobs"]:
            note += " no longer needed by the database or the archive (backups made before the rotation still need it)"
        lines.append(f"  {kid}: {n['values']} values, {n['blobs']} archive files{note}")
    bad = status.unreadable
    if bad["values"] or bad["blobs"]:
        lines.append(
            f"  unreadable: {bad['values']} values, {bad['blobs']} archive files (damaged)"
        )
    return "sealed per data key:\n" + "\n".join(lines)
