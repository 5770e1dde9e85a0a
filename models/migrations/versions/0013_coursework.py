"""homework (LIVE-7) and business plans (EXAM-2)

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa
import models.base
from models.migrations.helpers import fk as _fk, index as _index

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

T = models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "homework",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("lesson_day", sa.Date(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("due_at", T(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        _fk("homework", "class_id", "classes"),
        _fk("homework", "created_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_homework")),
    )
    for col in ("class_id", "lesson_day"):
        _index("homework", col)

    op.create_table(
        "homework_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("homework_id", sa.Integer(), nullable=False),
        sa.Column("student_user_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("submitted_at", T(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("screening_held", sa.Boolean(), nullable=False),
        sa.Column("mark", sa.String(length=16), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("checked_by", sa.Integer(), nullable=True),
        sa.Column("checked_at", T(), nullable=True),
        _fk("homework_submissions", "homework_id", "homework"),
        _fk("homework_submissions", "student_user_id", "users"),
        _fk("homework_submissions", "checked_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_homework_submissions")),
        sa.UniqueConstraint("homework_id", "student_user_id", "version",
                            name=op.f("uq_homework_submissions_homework_id")),
    )
    for col in ("homework_id", "student_user_id", "submitted_at", "checked_at"):
        _index("homework_submissions", col)

    op.create_table(
        "business_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("student_user_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("course_type", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("file_type", sa.String(length=8), nullable=True),
        sa.Column("form", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("screening_held", sa.Boolean(), nullable=False),
        sa.Column("submitted_at", T(), nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewer_role", sa.String(length=32), nullable=True),
        sa.Column("reviewed_at", T(), nullable=True),
        sa.Column("review_comment", sa.Text(), nullable=True),
        sa.Column("credited_hours", sa.Integer(), nullable=False),
        _fk("business_plans", "class_id", "classes"),
        _fk("business_plans", "student_user_id", "users"),
        _fk("business_plans", "file_id", "stored_files"),
        _fk("business_plans", "reviewed_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_plans")),
        sa.UniqueConstraint("class_id", "student_user_id", "version", name=op.f("uq_business_plans_class_id")),
    )
    for col in ("class_id", "student_user_id", "status"):
        _index("business_plans", col)


def downgrade() -> None:
    for table in ("business_plans", "homework_submissions", "homework"):
        op.drop_table(table)
