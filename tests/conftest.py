"""Every API test runs twice: on embedded SQLite and on the PostgreSQL server (DEVELOPERS.md).

``--db sqlite`` or ``--db postgresql`` narrows it; ``QIHANG_TEST_PG_URL`` points at another server.
Isolation: SQLite tests each get a copy of a migrated template file; PostgreSQL tests share a
schema made for this run and truncate every table afterwards.
"""
from __future__ import annotations

import os
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from models import Base
from models.db import Database
from server.services import Services
from server.settings import Settings

PG_URL = os.environ.get("QIHANG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_KEY = bytes(range(32))


def pytest_addoption(parser):
    parser.addoption("--db", default="both", choices=("both", "sqlite", "postgresql"),
                     help="database engines to run API tests on")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        engines = ["sqlite", "postgresql"] if choice == "both" else [choice]
        metafunc.parametrize("backend", engines, indirect=True, scope="session")


class Clock:
    """A settable clock: tests pin 'now' to make working-day rules deterministic."""

    def __init__(self):
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(timezone.utc)

    def set(self, value: datetime) -> None:
        self.fixed = value


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema():
    schema = f"qh_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL at {PG_URL} is required for the server-mode tests: {exc}")
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    db = Database(url, pool_size=5, max_overflow=10)
    db.migrate()
    yield url, db
    db.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def backend(request):
    return request.param


@pytest.fixture
def database(backend, request, tmp_path):
    if backend == "sqlite":
        path = tmp_path / "qihang.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
        yield db
        db.dispose()
    else:
        url, db = request.getfixturevalue("pg_schema")
        yield db
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def svc(database, tmp_path, clock) -> Services:
    # background jobs (webhook dispatcher, ATT-9 scheduler) are driven by their own tests, not left running
    settings = Settings(data_dir=tmp_path, database_url=database.url, secret_key=TEST_KEY, background_jobs=False)
    services = Services.build(settings, db=database)
    services.clock = clock
    return services


@pytest.fixture
def client(svc):
    from starlette.testclient import TestClient

    from server.app import create_app
    with TestClient(create_app(services=svc), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def world(client, svc):
    """A platform with its first admin; modules add institutions, staff and students on top."""
    from tests.world import World
    w = World(client, svc)
    w.bootstrap_admin()
    return w
