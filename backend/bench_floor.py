"""The floor of `nongbao bench balance`: the same rows as GET /api/v1/persons/{id}/account (the
person, the account's buckets and entries), read by one minimal endpoint with no sign-in, no
audit event, no limits and no middleware but the server's door (backend/api/admission.py, with
the server's setting: a limit on requests inside a worker, not a check). It runs under uvicorn with
the same workers and the same database as the measured server, in the same run; never
deployed (it checks nothing).
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlmodel import Session

from backend.api.admission import Admission
from backend.config import get_settings
from backend.db import engine_for
from backend.models import Person
from backend.services.contributions import account_of

engine = engine_for(os.environ["NONGBAO_DATABASE_URL"])
app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
app.add_middleware(Admission, limit=get_settings().max_active_requests)


@app.get("/floor/{person_id}")
def floor(person_id: str) -> JSONResponse:
    with Session(engine) as session:
        if session.get(Person, person_id) is None:
            return JSONResponse({"detail": "no such person"}, status_code=404)
        body = account_of(session, person_id)
    return JSONResponse({**body, "entries": [{**e, "on": str(e["on"])} for e in body["entries"]]})  # type: ignore[attr-defined]


@app.get("/healthz")
def healthz() -> JSONResponse:
    return JSONResponse({"ok": True})
