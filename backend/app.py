"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from backend import clock, ledger
from backend.answers import HealthOut
from backend.api import metrics, problems
from backend.api.admission import Admission
from backend.api.audit import audit_reads, audit_reads_and_writes
from backend.api.deps import AppState
from backend.api.limits import BodyLimit
from backend.api.ratelimit import RateLimit, default_rules
from backend.api.routes import archives, auth, benefits, money, registry
from backend.api.routes import certification as certification_routes
from backend.api.routes import control as control_routes
from backend.api.routes import faces as faces_routes
from backend.api.routes import family as family_routes
from backend.api.routes import field as field_routes
from backend.api.routes import grievances as grievances_routes
from backend.api.routes import kiosk as kiosk_routes
from backend.api.routes import notices as notices_routes
from backend.api.routes import payments as payments_routes
from backend.api.routes import receipts as receipts_routes
from backend.api.routes import reports as reports_routes
from backend.api.routes import review as review_routes
from backend.config import Settings, get_settings
from backend.console import help_requests as console_help
from backend.console import site as console_site
from backend.crypto import load_keyring
from backend.db import engine_for, make_private_dir, require_migrated, session_scope
from backend.policy import load_policy
from backend.services import audit
from backend.services.notices_runner import background_sender


def create_app(
    settings: Settings | None = None, *, today: Callable[[], date] = clock.today
) -> FastAPI:
    settings = settings or get_settings()
    make_private_dir(settings.data_dir)  # keys, archives and the embedded database live here
    engine = engine_for(settings.effective_database_url)
    # refuse to start on an unmigrated database, with a message that says what to do
    require_migrated(engine)
    with session_scope(engine) as s:
        ledger.ensure_fund_accounts(s)
    state = AppState(
        settings=settings,
        engine=engine,
        policy=load_policy(settings.policy_file),
        keyring=load_keyring(settings.effective_key_file, settings.master_key),
        today=today,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # the audit sealer: every worker runs one, a file lock lets one seal at a time
        sealer = None
        if settings.audit_seal_seconds > 0:
            heads = audit.HeadLog(
                settings.effective_audit_head_file, settings.effective_key_file.parent
            )
            sealer = audit.Sealer(engine, heads, settings.audit_seal_seconds)
            sealer.start()
        sender = background_sender(state)  # SMS notices, when a gateway is configured
        yield
        if sender is not None:
            sender.cancel()
        if sealer is not None:
            sealer.stop()

    app = FastAPI(
        title="Nongbao",
        version="0.1.0",
        description="Resident basic pension: registry, ledger, benefits and survival certification.",
        lifespan=lifespan,
    )
    app.state.nongbao = state
    problems.install(app)
    app.add_middleware(
        BodyLimit, max_json=settings.max_body_bytes, max_upload=settings.max_upload_bytes
    )
    app.add_middleware(
        RateLimit,
        rules=default_rules(settings.device_requests_per_minute),
        engine=engine,
        keyring=state.keyring,
    )
    app.add_middleware(Admission, limit=settings.max_active_requests)  # see its docstring
    metrics.install(app, engine, state.keyring)  # outermost: times and logs every answer, 429s too

    @app.get("/healthz", tags=["operations"], response_model=HealthOut)
    def healthz() -> JSONResponse:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "detail": type(exc).__name__}, status_code=503
            )
        return JSONResponse({"status": "ok", "database": engine.dialect.name})

    # every staff read of personal data is audited, on every router (backend/api/audit.py)
    reads = Depends(audit_reads, scope="function")
    for router in (
        auth.router,
        registry.router,
        money.router,
        benefits.router,
        archives.router,
        payments_routes.router,
        notices_routes.router,
        grievances_routes.router,
    ):
        # every successful write and staff read through these routers is audited (the
        # certification routers below record richer write events themselves)
        app.include_router(router, dependencies=[Depends(audit_reads_and_writes, scope="function")])
    app.include_router(money.one_trip)  # the balance read: its own unit of work and event
    for router in (
        faces_routes.router,
        certification_routes.router,
        control_routes.router,  # internal control: each act audits itself, replays do not
        review_routes.router,
        kiosk_routes.router,
        field_routes.router,
        reports_routes.router,
        family_routes.router,  # 亲情认证: sign-in and listing audit themselves
    ):
        app.include_router(router, dependencies=[reads])
    app.include_router(notices_routes.gateway_router)  # the SMS gateway's receipts: its token
    app.include_router(receipts_routes.router)  # public: no staff read, see NO_PERSONAL_DATA
    app.include_router(family_routes.page_router)  # the family page /m/: static, public
    console_site.install(app)
    app.include_router(receipts_routes.public)  # /r/<code>: the receipt QR code's page
    app.include_router(console_help.router)  # the kiosk help requests' list
    return app
