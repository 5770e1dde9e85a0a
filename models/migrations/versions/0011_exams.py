"""online final exam (EXAM-1): question bank, papers, attempts, answers

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa
import models.base
from models.migrations.helpers import fk as _fk, index as _index

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

T = models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "exam_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("course_type", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("stem", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("retired_at", T(), nullable=True),
        _fk("exam_questions", "institution_id", "institutions"),
        _fk("exam_questions", "created_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_questions")),
    )
    _index("exam_questions", "institution_id")
    _index("exam_questions", "course_type")

    op.create_table(
        "exam_papers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("course_type", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("total_points", sa.Integer(), nullable=False),
        sa.Column("pass_mark", sa.Integer(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("opens_at", T(), nullable=False),
        sa.Column("closes_at", T(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        _fk("exam_papers", "class_id", "classes"),
        _fk("exam_papers", "institution_id", "institutions"),
        _fk("exam_papers", "created_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_papers")),
    )
    for col in ("class_id", "institution_id", "district_code"):
        _index("exam_papers", col)

    op.create_table(
        "exam_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("student_user_id", sa.Integer(), nullable=False),
        sa.Column("started_at", T(), nullable=False),
        sa.Column("deadline", T(), nullable=False),
        sa.Column("submitted_at", T(), nullable=True),
        sa.Column("submitted_by", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("graded_at", T(), nullable=True),
        _fk("exam_attempts", "paper_id", "exam_papers"),
        _fk("exam_attempts", "student_user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_attempts")),
        sa.UniqueConstraint("paper_id", "student_user_id", name=op.f("uq_exam_attempts_paper_id")),
    )
    _index("exam_attempts", "paper_id")
    _index("exam_attempts", "student_user_id")

    op.create_table(
        "exam_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("saved_at", T(), nullable=False),
        sa.Column("saves", sa.JSON(), nullable=False),
        sa.Column("points", sa.Float(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("graded_by", sa.Integer(), nullable=True),
        sa.Column("graded_at", T(), nullable=True),
        _fk("exam_answers", "attempt_id", "exam_attempts"),
        _fk("exam_answers", "question_id", "exam_questions"),
        _fk("exam_answers", "graded_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_answers")),
        sa.UniqueConstraint("attempt_id", "question_id", name=op.f("uq_exam_answers_attempt_id")),
    )
    _index("exam_answers", "attempt_id")


def downgrade() -> None:
    for table in ("exam_answers", "exam_attempts", "exam_papers", "exam_questions"):
        op.drop_table(table)
