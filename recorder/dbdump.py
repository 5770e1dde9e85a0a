"""Database snapshots for backups (REC-3) and loading them back (restore).

* SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent image while the
  app keeps writing; restore puts the file in place and migrates it to the code's head.
* PostgreSQL: a table-by-table JSON-lines dump read in one ``REPEATABLE READ, READ ONLY``
  transaction (one consistent snapshot across tables, like pg_dump's). Restore migrates the empty
  target to the dump's Alembic revision, loads the rows in foreign-key order, resets sequences and
  migrates to head — into PostgreSQL or SQLite, any schema. ``pg_dump`` output (custom format) can be
  added beside it for DBAs (``qihang backup --pg-dump``); restore does not need it.

Tables are reflected from the database, not taken from the ORM, so a dump made by an older release
loads under its own schema before the newer migrations run. Values are JSON: datetimes (naive UTC,
as stored) and dates as ISO text, binary as base64, decimals as text.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from sqlalchemy import JSON, MetaData, inspect, select, text, types
from sqlalchemy.engine import Engine

from models.db import Database, make_engine

SKIP = {"alembic_version"}
BATCH = 1000


def sqlite_path(url: str) -> Path:
    return Path(url.split("///", 1)[-1])


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def sqlite_snapshot(url: str, dest: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API)."""
    path = sqlite_path(url)
    if not path.is_file():
        raise FileNotFoundError(f"no SQLite database at {path}")
    src = sqlite3.connect(path, timeout=30)  # read only in effect: the backup API never writes the source
    dst = sqlite3.connect(dest)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()


def _encode(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decoder(col_type):
    if isinstance(col_type, types.DateTime):
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if isinstance(col_type, types.Date):
        return lambda v: None if v is None else date.fromisoformat(v)
    if isinstance(col_type, types.LargeBinary):
        return lambda v: None if v is None else base64.b64decode(v)
    if isinstance(col_type, types.Numeric) and getattr(col_type, "asdecimal", False):
        return lambda v: None if v is None else Decimal(v)
    return None


def _reflect(engine_or_conn) -> MetaData:
    md = MetaData()
    md.reflect(engine_or_conn)
    for table in md.tables.values():
        for col in table.columns:
            if isinstance(col.type, types.JSON):
                col.type = JSON(none_as_null=True)  # SQL NULL stays NULL, not JSON 'null'
    return md


def iter_tables(conn) -> Iterator[tuple[str, list[str], Iterator[list]]]:
    """(table, columns, rows) for every table in foreign-key order, read on ``conn``."""
    md = _reflect(conn)
    for table in md.sorted_tables:
        if table.name in SKIP:
            continue
        cols = [c.name for c in table.columns]
        pk = list(table.primary_key.columns) or list(table.columns)
        result = conn.execute(select(table).order_by(*pk))
        yield table.name, cols, (list(row) for row in result)


def json_dump(engine: Engine, folder: Path) -> dict[str, int]:
    """One ``<table>.jsonl`` per table (header line, then one JSON array per row); row counts."""
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SET TRANSACTION READ ONLY"))
            for i, (name, cols, rows) in enumerate(iter_tables(conn)):
                n = 0
                with open(folder / f"{i:03d}-{name}.jsonl", "w", encoding="utf-8") as fh:
                    fh.write(json.dumps({"table": name, "columns": cols}, ensure_ascii=False) + "\n")
                    for row in rows:
                        fh.write(json.dumps([_encode(v) for v in row], ensure_ascii=False) + "\n")
                        n += 1
                counts[name] = n
    return counts


def read_json_dump(folder: Path) -> Iterator[tuple[str, list[str], Iterator[list]]]:
    for path in sorted(folder.glob("*.jsonl")):
        fh = open(path, encoding="utf-8")
        header = json.loads(fh.readline())

        def rows(fh=fh):
            with fh:
                for line in fh:
                    yield json.loads(line)
        yield header["table"], header["columns"], rows()


def load_tables(engine: Engine, source, *, decode: bool) -> dict[str, int]:
    """Insert every (table, columns, rows) of ``source`` into the migrated, empty ``engine``."""
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        md = _reflect(conn)
        for name, cols, rows in source:
            table = md.tables.get(name)
            if table is None:
                raise ValueError(f"the dump has table {name!r}, the target schema does not")
            decoders = [(_decoder(table.c[c].type) if decode else None) for c in cols]
            batch, n = [], 0
            for row in rows:
                batch.append({c: (d(v) if d else v) for c, d, v in zip(cols, decoders, row)})
                if len(batch) >= BATCH:
                    conn.execute(table.insert(), batch)
                    n += len(batch)
                    batch = []
            if batch:
                conn.execute(table.insert(), batch)
                n += len(batch)
            counts[name] = n
        if engine.dialect.name == "postgresql":
            _reset_sequences(conn, md)
    return counts


def _reset_sequences(conn, md: MetaData) -> None:
    for table in md.tables.values():
        for col in table.primary_key.columns:
            if isinstance(col.type, types.Integer):
                conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE(MAX(\"{col.name}\"), 1), "
                    f"MAX(\"{col.name}\") IS NOT NULL) FROM \"{table.name}\""), {"t": f'"{table.name}"', "c": col.name})


def is_empty(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return not inspect(conn).get_table_names()
    finally:
        engine.dispose()


def restore_sqlite_file(snapshot: Path, url: str) -> None:
    """Put a snapshot in place as the target SQLite database (temp + fsync + rename), then migrate."""
    target = sqlite_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".restoring")
    shutil.copyfile(snapshot, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    db = Database(url)
    try:
        db.migrate()
    finally:
        db.dispose()


def restore_rows(url: str, revision: str | None, source, *, decode: bool) -> dict[str, int]:
    """Migrate the empty target to ``revision``, load ``source``, migrate to head."""
    db = Database(url)
    try:
        db.migrate(revision or "head")
        counts = load_tables(db.engine, source, decode=decode)
        db.migrate()
        return counts
    finally:
        db.dispose()


def pg_dump(url: str, dest: Path) -> bool:
    """``pg_dump --format=custom`` of the current schema into ``dest``; False when pg_dump is missing."""
    exe = shutil.which("pg_dump")
    if exe is None:
        return False
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar()
        password = engine.url.password  # through the environment, not the command line (ps shows that)
        libpq = engine.url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    finally:
        engine.dispose()
    env = dict(os.environ, **({"PGPASSWORD": str(password)} if password else {}))
    subprocess.run([exe, "--format=custom", "--no-owner", f"--schema={schema}", f"--file={dest}", f"--dbname={libpq}"],
                   check=True, capture_output=True, timeout=3600, env=env)
    return True
