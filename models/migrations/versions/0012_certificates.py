"""numbered electronic certificates (CERT-1..4): serial counters, certificates, revocations

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa
import models.base
from models.migrations.helpers import fk as _fk, index as _index

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

T = models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "certificate_counters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope_key", sa.String(length=64), nullable=False),
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("last_serial", sa.Integer(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_counters")),
        sa.UniqueConstraint("scope_key", "series", name=op.f("uq_certificate_counters_scope_key")),
    )

    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("scope_key", sa.String(length=64), nullable=False),
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("student_user_id", sa.Integer(), nullable=False),
        sa.Column("student_name", sa.String(length=50), nullable=False),
        sa.Column("course_type", sa.String(length=32), nullable=False),
        sa.Column("course_name", sa.String(length=100), nullable=False),
        sa.Column("class_hours", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("institution_name", sa.String(length=200), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("issued_at", T(), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revoked_at", T(), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        _fk("certificates", "class_id", "classes"),
        _fk("certificates", "student_user_id", "users"),
        _fk("certificates", "institution_id", "institutions"),
        _fk("certificates", "issued_by", "users"),
        _fk("certificates", "revoked_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("number", name=op.f("uq_certificates_number")),
        sa.UniqueConstraint("class_id", "student_user_id", name=op.f("uq_certificates_class_id")),
    )
    for col in ("class_id", "student_user_id", "institution_id", "district_code", "status"):
        _index("certificates", col)


def downgrade() -> None:
    for table in ("certificates", "certificate_counters"):
        op.drop_table(table)
