"""Documents attached to a person: file, list and view (content-addressed, encrypted)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path as FsPath
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel
from sqlmodel import Session

from backend.api import deps
from backend.api.routes.faces import ID_PATTERN
from backend.models import ArchiveDocument
from backend.services import archives, registry
from backend.services.context import Actor

router = APIRouter(prefix="/api/v1", tags=["archives"])
WRITERS = ("clerk", "admin", "reviewer")
PersonId = Path(max_length=40, pattern=ID_PATTERN)
DocId = Path(max_length=40, pattern=ID_PATTERN)


class DocumentOut(BaseModel):
    document_id: str
    person_id: str
    kind: str
    filename: str
    content_type: str
    sha256: str
    size: int
    created_by: str
    created_at: datetime
    retain_until: date


def document_out(doc: ArchiveDocument) -> DocumentOut:
    return DocumentOut(
        document_id=doc.id,
        person_id=doc.person_id,
        kind=doc.kind,
        filename=doc.filename,
        content_type=doc.content_type,
        sha256=doc.sha256,
        size=doc.size,
        created_by=doc.created_by,
        created_at=doc.created_at,
        retain_until=doc.retain_until,
    )


def archive_dir(request: Request) -> FsPath:
    return archives.archive_root(deps.state(request).settings.data_dir)


def content_response(doc: ArchiveDocument, data: bytes) -> Response:
    """The bytes as the browser should show them: inline, never sniffed, never cached."""
    return Response(
        data,
        media_type=doc.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(doc.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


# sync routes: FastAPI runs them in its thread pool (file I/O and encryption)
@router.post("/persons/{person_id}/documents", response_model=DocumentOut, status_code=201)
def add_document(
    request: Request,
    person_id: str = PersonId,
    file: UploadFile = File(...),
    kind: str = Form(..., max_length=20),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> DocumentOut:
    ctx = deps.ctx_for(request, session, who)
    registry.readable(ctx, person_id)
    # read one byte past the limit: enough to refuse, never the whole of a huge body
    data = file.file.read(ctx.policy.archives.max_bytes + 1)
    doc = archives.add(
        ctx, archive_dir(request), person_id, kind, file.filename, file.content_type, data
    )
    return document_out(doc)


@router.get("/persons/{person_id}/documents", response_model=list[DocumentOut])
def list_documents(
    request: Request,
    person_id: str = PersonId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*deps.STAFF)),
) -> list[DocumentOut]:
    ctx = deps.ctx_for(request, session, who)
    registry.readable(ctx, person_id)
    return [document_out(d) for d in archives.list_for(ctx, person_id)]


@router.get(
    "/documents/{doc_id}/content",
    response_class=Response,
    responses={
        200: {
            "content": {"image/jpeg": {}, "image/png": {}, "application/pdf": {}},
            "description": "the document's bytes, of its own type",
        }
    },
)
def document_content(
    request: Request,
    doc_id: str = DocId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*deps.STAFF)),
) -> Response:
    ctx = deps.ctx_for(request, session, who)
    doc = archives.get(ctx, doc_id)
    registry.readable(ctx, doc.person_id)
    data = archives.read(ctx, archive_dir(request), doc)
    # the audit event of this read is committed before the bytes leave
    session.commit()
    return content_response(doc, data)
