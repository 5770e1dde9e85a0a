"""per-institution electronic seal keys (CERT-1)

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa
import models.base
from models.migrations.helpers import fk as _fk, index as _index

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

T = models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "seal_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("seed_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("retired_at", T(), nullable=True),
        _fk("seal_keys", "institution_id", "institutions"),
        _fk("seal_keys", "created_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seal_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_seal_keys_key_id")),
        sa.UniqueConstraint("institution_id", "generation", name=op.f("uq_seal_keys_institution_id")),
    )
    _index("seal_keys", "institution_id")


def downgrade() -> None:
    op.drop_table("seal_keys")
