"""recorded course packages (COURSE-1/2/3)

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa
import models.base
from models.migrations.helpers import fk as _fk, index as _index

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

T = models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "course_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("total_hours", sa.Integer(), nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("objectives", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("play_seconds", sa.Float(), nullable=True),
        sa.Column("class_hours", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
        sa.Column("published_at", T(), nullable=True),
        sa.Column("published_by", sa.Integer(), nullable=True),
        sa.Column("retired_at", T(), nullable=True),
        _fk("course_packages", "institution_id", "institutions"),
        _fk("course_packages", "created_by", "users"),
        _fk("course_packages", "published_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_packages")),
    )
    for col in ("institution_id", "status"):
        _index("course_packages", col)

    op.create_table(
        "course_chapters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        _fk("course_chapters", "package_id", "course_packages", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_chapters")),
    )
    _index("course_chapters", "package_id")

    op.create_table(
        "course_resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chapter_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("codec", sa.String(length=32), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", T(), nullable=False),
        sa.Column("proof_file_id", sa.Integer(), nullable=True),
        sa.Column("licence_holder", sa.String(length=200), nullable=True),
        sa.Column("licence_type", sa.String(length=32), nullable=True),
        sa.Column("licence_valid_until", sa.Date(), nullable=True),
        sa.Column("proof_recorded_by", sa.Integer(), nullable=True),
        sa.Column("proof_recorded_at", T(), nullable=True),
        _fk("course_resources", "chapter_id", "course_chapters", ondelete="CASCADE"),
        _fk("course_resources", "file_id", "stored_files"),
        _fk("course_resources", "uploaded_by", "users"),
        _fk("course_resources", "proof_file_id", "stored_files"),
        _fk("course_resources", "proof_recorded_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_resources")),
    )
    _index("course_resources", "chapter_id")

    op.create_table(
        "lesson_course_packages",
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        _fk("lesson_course_packages", "lesson_id", "lessons", ondelete="CASCADE"),
        _fk("lesson_course_packages", "package_id", "course_packages"),
        sa.PrimaryKeyConstraint("lesson_id", name=op.f("pk_lesson_course_packages")),
    )
    _index("lesson_course_packages", "package_id")


def downgrade() -> None:
    for table in ("lesson_course_packages", "course_resources", "course_chapters", "course_packages"):
        op.drop_table(table)
