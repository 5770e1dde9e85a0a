"""Small shapes the migration scripts share (each script stays a frozen record of its own schema step;
only these spellings of Alembic calls are common)."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def fk(table: str, col: str, ref: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    """A foreign key to ``ref.id`` named like the ORM's naming convention does (fk_<table>_<col>_<ref>)."""
    return sa.ForeignKeyConstraint([col], [f"{ref}.id"], name=op.f(f"fk_{table}_{col}_{ref}"), ondelete=ondelete)


def index(table: str, *cols: str, unique: bool = False, name: str | None = None) -> None:
    """An index named like the ORM's (ix_<table>_<first column>), made in batch mode for SQLite."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(name or batch_op.f(f"ix_{table}_{cols[0]}"), list(cols), unique=unique)
