"""Shared fixtures: a fresh migrated database per test, on SQLite and on real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import settings

# property tests draw the same examples on every run and never time an example: CI stays
# deterministic (a failure found once is found again, and a slow machine is not a failure)
settings.register_profile("nongbao", derandomize=True, database=None, deadline=None)
settings.load_profile("nongbao")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TODAY = date(2026, 11, 27)  # the tests' fixed "today": results do not drift with the calendar

# The product's clock for the whole run, set before any product module is imported: this
# process, every live server and every app it starts read TODAY at 10:00 county time at the
# moment the run began, and then run on with the wall clock. The "@" pins that instant to one
# wall-clock moment, so all the processes of the run read the same time (a challenge issued by
# a server and a frame stamped by an app agree). The wall clock itself can be any day:
# `make test-any-date` runs the suite with the machine's clock moved years ahead.
os.environ["NONGBAO_CLOCK"] = f"{TODAY.isoformat()}T10:00:00+08:00@{time.time():.6f}"
# The audit sealer thread of every app and live server: off unless a test turns it on
os.environ["NONGBAO_AUDIT_SEAL_SECONDS"] = "0"


def pg_base_url() -> str:
    url = os.environ.get("NONGBAO_TEST_DATABASE_URL", "")
    if not url:
        pytest.fail(
            "NONGBAO_TEST_DATABASE_URL is not set: PostgreSQL tests never skip. "
            "Run them with `make test` (it sets the URL), or set it to a server you can create databases on."
        )
    return url


def _pg_admin(url: str):
    import sqlalchemy as sa

    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _with_db(url: str, name: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from backend.db import upgrade

    path = tmp_path_factory.mktemp("tmpl") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_template(worker_id: str) -> Iterator[str]:
    import sqlalchemy as sa

    from backend.db import upgrade

    base = pg_base_url()
    name = f"nongbao_tmpl_{worker_id}_{uuid.uuid4().hex[:6]}"
    admin = _pg_admin(base)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = _with_db(base, name)
    upgrade(url)
    from backend.db import engine_for

    engine_for(url).dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(_sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "nongbao.sqlite3"
    shutil.copy(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    import sqlalchemy as sa

    template = request.getfixturevalue("_pg_template")
    base = pg_base_url()
    name = f"nongbao_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin(base)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = _with_db(base, name)
    yield url
    from backend.db import engine_for

    engine_for(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
