"""The cross-cutting part of the audit, declared on every router (backend/app.py):

- every successful write through the audited routers appends an event in the route's own unit
  of work (see backend/services/audit.py);
- every successful staff read appends a "read <route>" event, unless the route returns no
  personal data (NO_PERSONAL_DATA, each with its reason) or its service already recorded a
  richer event in the same unit of work. A route added later is therefore audited unless it is
  classified here, and tests/backend/test_read_audit.py checks both directions.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlmodel import Session

from backend.api import deps
from backend.services import audit
from backend.services.context import Actor

READS = ("GET", "HEAD", "OPTIONS")

# Read routes that show no one's personal data, and why. Everything else is audited.
NO_PERSONAL_DATA: dict[str, str] = {
    "/api/v1/villages": "village codes, names and townships only",
    "/api/v1/policy": "the county's policy parameters",
    "/api/v1/ledger/check": "fund totals and a yes/no: no person's account",
    "/api/v1/receipts/verify": "public check of a receipt: masked name and ID, like the receipt",
    "/api/v1/receipts/public-key": "the county's public key",
    "/m": "redirects to the family page",
    "/m/": "the family page (亲情认证): static HTML, its data comes from the family routes",
    "/m/app.js": "the family page's script: static",
    "/m/m.css": "the family page's style sheet: static",
    "/r/{code:path}": "the receipt QR code's page: genuine or not, masked like the receipt",
    "/api/v1/reports/fund/{year}": "fund income and expenditure totals by source and kind",
    "/api/v1/reports/coverage/{year}": "counts and rates per village, no person",
}

# Read routes outside the router-level dependency that record their own "read ..." event in
# their own unit of work, and why (tests/backend/test_read_audit.py still walks them).
SELF_AUDITED_READS: dict[str, str] = {
    "/api/v1/persons/{person_id}/account": "the busiest read: sign-in, read, event and commit "
    "in one trip through the thread pool (backend/api/routes/money.py)",
}

# query parameters never copied into an event: they are personal data or secrets themselves
_SECRET_QUERY = frozenset({"id_number", "code", "token", "session", "password"})


def audit_reads_and_writes(
    request: Request,
    who: Actor | None = Depends(deps.optional_actor),
    session: Session = deps.DbSession,
) -> Iterator[None]:
    """Router dependency (declare it with scope="function"): after a route returns normally,
    a write's event, or a staff read's "read <route>" event, joins the route's own
    transaction, committed before the response is sent. One dependency for both, as a
    generator dependency costs two trips through the thread pool on every request."""
    yield
    if request.method in READS:
        _after_read(request, who, session)
    else:
        _after_write(request, who, session)


def audit_reads(
    request: Request,
    who: Actor | None = Depends(deps.optional_actor),
    session: Session = deps.DbSession,
) -> Iterator[None]:
    """Router dependency (scope="function") for routers whose writes audit themselves: after
    a read route returns normally, its "read <route>" event joins the request's unit of work,
    committed before the data is sent."""
    yield
    if request.method in READS:
        _after_read(request, who, session)


def _after_write(request: Request, who: Actor | None, session: Session) -> None:
    if who is None:
        return  # sign-in writes for no one
    if getattr(request.state, "audited", False):
        return  # the route wrote its event in its own unit of work (deps.write_event)
    deps.write_event(request, session, who)


def route_template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


def _after_read(request: Request, who: Actor | None, session: Session) -> None:
    """A "read <route>" event naming its subject (path parameters: the person, the run, the
    year) and its filters."""
    if who is None:
        return  # anonymous reads are public by design
    template = route_template(request)
    if template in NO_PERSONAL_DATA or audit.recorded_in(session):
        return
    params = [str(v) for v in request.path_params.values()]
    filters = {k: v for k, v in request.query_params.items() if k not in _SECRET_QUERY}
    subject = ";".join([",".join(params), *(f"{k}={v}" for k, v in sorted(filters.items()))])
    audit.append(session, who, f"read {template}", subject, after=filters or None)
