"""subsidy rosters, success evidence, REG-4 flags (SUB-1..4)

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa
import models.base
from models.migrations.helpers import fk as _fk, index as _index

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

T = models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "business_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("student_user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("monthly_sales_cny", sa.JSON(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_by", sa.Integer(), nullable=False),
        sa.Column("submitted_at", T(), nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", T(), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        _fk("business_evidence", "class_id", "classes"),
        _fk("business_evidence", "student_user_id", "users"),
        _fk("business_evidence", "file_id", "stored_files"),
        _fk("business_evidence", "submitted_by", "users"),
        _fk("business_evidence", "reviewed_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_evidence")),
    )
    for col in ("class_id", "student_user_id", "status"):
        _index("business_evidence", col)

    op.create_table(
        "subsidy_flag_clearances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("student_user_id", sa.Integer(), nullable=False),
        sa.Column("other_class_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cleared_by", sa.Integer(), nullable=False),
        sa.Column("cleared_at", T(), nullable=False),
        _fk("subsidy_flag_clearances", "class_id", "classes"),
        _fk("subsidy_flag_clearances", "student_user_id", "users"),
        _fk("subsidy_flag_clearances", "other_class_id", "classes"),
        _fk("subsidy_flag_clearances", "cleared_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subsidy_flag_clearances")),
        sa.UniqueConstraint("class_id", "student_user_id", "other_class_id", "kind",
                            name=op.f("uq_subsidy_flag_clearances_class_id")),
    )
    _index("subsidy_flag_clearances", "class_id")

    op.create_table(
        "subsidy_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("submitted_by", sa.Integer(), nullable=False),
        sa.Column("submitted_at", T(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("disclosure", sa.JSON(), nullable=False),
        sa.Column("disclosure_token", sa.String(length=32), nullable=False),
        sa.Column("disclosure_starts_on", sa.Date(), nullable=False),
        sa.Column("disclosure_ends_on", sa.Date(), nullable=False),
        sa.Column("total_cny", sa.Integer(), nullable=False),
        sa.Column("bundle_file_id", sa.Integer(), nullable=True),
        _fk("subsidy_claims", "class_id", "classes"),
        _fk("subsidy_claims", "institution_id", "institutions"),
        _fk("subsidy_claims", "submitted_by", "users"),
        _fk("subsidy_claims", "bundle_file_id", "stored_files"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subsidy_claims")),
        sa.UniqueConstraint("class_id", name=op.f("uq_subsidy_claims_class_id")),
        sa.UniqueConstraint("disclosure_token", name=op.f("uq_subsidy_claims_disclosure_token")),
    )
    for col in ("institution_id", "district_code"):
        _index("subsidy_claims", col)

    op.create_table(
        "institution_bank_accounts",
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("account_name", sa.String(length=200), nullable=False),
        sa.Column("bank_name", sa.String(length=200), nullable=False),
        sa.Column("account_number", sa.String(length=40), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
        _fk("institution_bank_accounts", "institution_id", "institutions"),
        _fk("institution_bank_accounts", "updated_by", "users"),
        sa.PrimaryKeyConstraint("institution_id", name=op.f("pk_institution_bank_accounts")),
    )


def downgrade() -> None:
    for table in ("institution_bank_accounts", "subsidy_claims", "subsidy_flag_clearances", "business_evidence"):
        op.drop_table(table)
