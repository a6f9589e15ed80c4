"""Document archives: files attached to a person, encrypted and content-addressed on disk.

A blob lives at `ROOT/ab/abcdef…` where the name is the sha256 of the plaintext; it holds the
keyring's ciphertext sealed with that sha256 as associated data, so a blob moved under
another name, or altered, fails to open. Identical content is stored once and may be
referenced by several documents. Rows are never deleted: disposal under the retention
policy marks them `deleted_at` and removes a blob once no live document refers to it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from cryptography.exceptions import InvalidTag
from sqlmodel import Session, col, select

from backend.crypto import HEADER_MAX, KeyError_, Keyring
from backend.errors import DomainError, NotFound, field_error
from backend.files import write_atomically
from backend.models import ARCHIVE_KINDS, ArchiveDocument, utcnow
from backend.services import audit, registry
from backend.services.context import Ctx

# what a file's first bytes must be, whatever the upload's header claims
MAGIC: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
_SHA = re.compile(r"^[0-9a-f]{64}$")


class ArchiveDamaged(DomainError):
    """A stored blob is missing, does not open or does not match its recorded sha256."""

    status = 500
    title = "Archived document damaged"
    type = "https://nongbao.example/problems/archive-damaged"
    code = "archive_damaged"


class TooLarge(DomainError):
    status = 413
    title = "Document too large"
    type = "https://nongbao.example/problems/too-large"
    code = "document_too_large"


def archive_root(data_dir: Path) -> Path:
    return data_dir / "archive"


def blob_path(root: Path, sha256: str) -> Path:
    if not _SHA.match(sha256):
        raise ValueError("not a sha256")
    return root / sha256[:2] / sha256


def sniff(data: bytes) -> str | None:
    for content_type, prefixes in MAGIC.items():
        if any(data.startswith(p) for p in prefixes):
            return content_type
    return None


def _clean_name(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:200] or "document"


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


def _write_blob(ctx: Ctx, root: Path, sha256: str, data: bytes) -> None:
    path = blob_path(root, sha256)
    if path.exists():  # the same content is already stored: dedupe
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, ctx.keyring.encrypt(data, sha256.encode()))


def check(ctx: Ctx, data: bytes, declared_type: str | None = None) -> str:
    """The content type of an acceptable document, from its first bytes; refuses an empty,
    too large or unrecognised file, or one whose declared type is not what it is."""
    limit = ctx.policy.archives.max_bytes
    if len(data) > limit:
        raise TooLarge(f"the document is {len(data)} bytes; at most {limit} are accepted")
    if not data:
        raise field_error("file", "the file is empty")
    content_type = sniff(data)
    if content_type is None:
        raise field_error("file", "only PDF, JPEG and PNG documents are accepted")
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared in MAGIC and declared != content_type:
        raise field_error("file", f"the file is {content_type}, not {declared} as declared")
    return content_type


def add(
    ctx: Ctx,
    root: Path,
    person_id: str,
    kind: str,
    filename: str | None,
    declared_type: str | None,
    data: bytes,
) -> ArchiveDocument:
    """File a document for a person; the caller has checked the person's village scope."""
    person = registry.get(ctx, person_id)
    if kind not in ARCHIVE_KINDS:
        raise field_error("kind", f"kind must be one of {', '.join(ARCHIVE_KINDS)}")
    content_type = check(ctx, data, declared_type)
    sha256 = hashlib.sha256(data).hexdigest()
    _write_blob(ctx, root, sha256, data)
    doc = ArchiveDocument(
        id=uuid.uuid4().hex,
        person_id=person.id,
        kind=kind,
        filename=_clean_name(filename),
        content_type=content_type,
        sha256=sha256,
        size=len(data),
        created_by=ctx.actor.label[:80],
        retain_until=_years_after(ctx.today, ctx.policy.archives.retention_years(kind)),
    )
    ctx.session.add(doc)
    ctx.session.flush()
    return doc


def find(
    ctx: Ctx, person_id: str, kind: str, sha256: str, filename_prefix: str
) -> ArchiveDocument | None:
    """A document of the person already filed with this content under a name starting with
    the prefix (disposed ones too: what was filed once is not filed again)."""
    rows = ctx.session.exec(
        select(ArchiveDocument)
        .where(
            ArchiveDocument.person_id == person_id,
            ArchiveDocument.kind == kind,
            ArchiveDocument.sha256 == sha256,
        )
        .order_by(col(ArchiveDocument.created_at), col(ArchiveDocument.id))
    ).all()
    # compared here, not with LIKE: SQLite's LIKE ignores case, PostgreSQL's does not
    return next((d for d in rows if d.filename.startswith(filename_prefix)), None)


def list_for(ctx: Ctx, person_id: str, *, include_disposed: bool = False) -> list[ArchiveDocument]:
    registry.get(ctx, person_id)
    q = select(ArchiveDocument).where(ArchiveDocument.person_id == person_id)
    if not include_disposed:
        q = q.where(col(ArchiveDocument.deleted_at).is_(None))
    return list(
        ctx.session.exec(q.order_by(col(ArchiveDocument.created_at), col(ArchiveDocument.id))).all()
    )


def get(ctx: Ctx, doc_id: str) -> ArchiveDocument:
    doc = ctx.session.get(ArchiveDocument, doc_id)
    if doc is None or doc.deleted_at is not None:
        raise NotFound(f"no document {doc_id}")
    return doc


def read(ctx: Ctx, root: Path, doc: ArchiveDocument) -> bytes:
    """The document's plaintext, checked against its sha256 (an audited read of personal
    data); the caller has checked the person's village scope."""
    path = blob_path(root, doc.sha256)
    try:
        sealed = path.read_bytes()
    except FileNotFoundError:
        raise ArchiveDamaged(f"document {doc.id}: its stored content is missing") from None
    try:
        data = ctx.keyring.decrypt(sealed, doc.sha256.encode())
    except (InvalidTag, KeyError_, IndexError, ValueError):
        raise ArchiveDamaged(
            f"document {doc.id}: its stored content does not open (altered or damaged)"
        ) from None
    if hashlib.sha256(data).hexdigest() != doc.sha256 or len(data) != doc.size:
        raise ArchiveDamaged(f"document {doc.id}: its content does not match its sha256")
    audit.record(ctx, "archives.document.read", doc.person_id, after={"document_id": doc.id})
    return data


@dataclass
class Disposal:
    documents: int = 0
    blobs_removed: int = 0
    blobs_kept: int = 0  # still referenced by a document within its retention

    def as_dict(self) -> dict[str, int]:
        return {
            "documents": self.documents,
            "blobs_removed": self.blobs_removed,
            "blobs_kept": self.blobs_kept,
        }


def dispose_expired(ctx: Ctx, root: Path, today: date) -> Disposal:
    """Mark every live document past its retain_until as disposed (rows stay), and remove
    each blob none of whose live documents is still within retention. Blobs are removed
    after the rows are flushed; the caller commits straight away."""
    expired = ctx.session.exec(
        select(ArchiveDocument).where(
            col(ArchiveDocument.deleted_at).is_(None),
            ArchiveDocument.retain_until < today,
        )
    ).all()
    result = Disposal()
    now = utcnow()
    for doc in expired:
        doc.deleted_at = now
        ctx.session.add(doc)
        audit.record(
            ctx,
            "archives.document.dispose",
            doc.person_id,
            after={"document_id": doc.id, "retain_until": doc.retain_until},
        )
        result.documents += 1
    ctx.session.flush()
    to_remove: list[Path] = []
    for sha256 in sorted({d.sha256 for d in expired}):
        still_kept = ctx.session.exec(
            select(ArchiveDocument.id).where(
                ArchiveDocument.sha256 == sha256,
                col(ArchiveDocument.deleted_at).is_(None),
            )
        ).first()
        if still_kept is not None:
            result.blobs_kept += 1
        else:
            to_remove.append(blob_path(root, sha256))
    for path in to_remove:
        if path.exists():
            path.unlink()
            result.blobs_removed += 1
    return result


# --- key rotation -----------------------------------------------------------------------------

RESEALED, CURRENT, DAMAGED, GONE = "resealed", "current", "damaged", "gone"


def blob_files(root: Path) -> list[Path]:
    """Every stored blob, in name order (not the `.tmp-` files of a write in progress)."""
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.glob("??/*")
        if p.is_file() and _SHA.match(p.name) and p.parent.name == p.name[:2]
    )


def reseal_blob(keyring: Keyring, path: Path) -> str:
    """Re-seal one blob under the keyring's current key, in place; one of RESEALED, CURRENT
    (already under it: a re-run after a crash skips it), DAMAGED (does not open or does not
    match its name: left as it is) or GONE (disposed meanwhile)."""
    sha256 = path.name
    try:
        sealed = path.read_bytes()
    except FileNotFoundError:
        return GONE
    if keyring.sealed_key_id(sealed) == keyring.current:
        return CURRENT
    try:
        data = keyring.decrypt(sealed, sha256.encode())
    except (InvalidTag, KeyError_, IndexError, ValueError):
        return DAMAGED
    if hashlib.sha256(data).hexdigest() != sha256:
        return DAMAGED
    # the name is the plaintext's sha256, so it stays; a reader sees the old or the new blob,
    # both of which open with the key file (it keeps the old keys)
    write_atomically(path, keyring.encrypt(data, sha256.encode()))
    return RESEALED


@dataclass
class Reseal:
    resealed: int = 0
    current: int = 0
    damaged: list[str] = field(default_factory=list)  # sha256 names

    def as_dict(self) -> dict[str, int]:
        return {"resealed": self.resealed, "current": self.current, "damaged": len(self.damaged)}


def reseal_all(
    keyring: Keyring, root: Path, progress: Callable[[int, int], None] | None = None
) -> Reseal:
    """Re-seal every stored blob, referenced or not: a backup copies every file and a restore
    needs a key for each, so one orphan left under an old key would keep that key needed."""
    files = blob_files(root)
    result = Reseal()
    for done, path in enumerate(files, 1):
        outcome = reseal_blob(keyring, path)
        if outcome == RESEALED:
            result.resealed += 1
        elif outcome == CURRENT:
            result.current += 1
        elif outcome == DAMAGED:
            result.damaged.append(path.name)
        if progress:
            progress(done, len(files))
    return result


def live_documents(session: Session, sha256s: list[str]) -> dict[str, list[str]]:
    """The ids of the live documents that refer to each blob (to name a damaged one's owners)."""
    if not sha256s:
        return {}
    rows = session.exec(
        select(ArchiveDocument.sha256, ArchiveDocument.id)
        .where(
            col(ArchiveDocument.sha256).in_(sha256s),
            col(ArchiveDocument.deleted_at).is_(None),
        )
        .order_by(col(ArchiveDocument.created_at), col(ArchiveDocument.id))
    ).all()
    owners: dict[str, list[str]] = {sha: [] for sha in sha256s}
    for sha256, doc_id in rows:
        owners[sha256].append(doc_id)
    return owners


def blob_key_counts(root: Path) -> Counter[str | None]:
    """How many blobs each data key seals (None: not a ciphertext of ours); reads only each
    blob's header, never decrypts."""
    counts: Counter[str | None] = Counter()
    for path in blob_files(root):
        try:
            with path.open("rb") as fh:
                counts[Keyring.sealed_key_id(fh.read(HEADER_MAX))] += 1
        except FileNotFoundError:
            continue  # disposed meanwhile
    return counts
