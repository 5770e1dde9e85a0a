"""recorded lessons' course videos (ATT-5, COURSE-1, REC-1)

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
import models.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Study sessions, prompts and answers need no table: they are lesson events (study_progress,
    # hm_prompt, hm_answer, face_check), derived by server/study and server/attendance/recordedstudy.
    op.create_table(
        "lesson_videos",
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("codec", sa.String(length=32), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"], name=op.f("fk_lesson_videos_lesson_id_lessons"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["file_id"], ["stored_files.id"], name=op.f("fk_lesson_videos_file_id_stored_files")),
        sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"], name=op.f("fk_lesson_videos_uploaded_by_users")),
        sa.PrimaryKeyConstraint("lesson_id", name=op.f("pk_lesson_videos")),
    )
    with op.batch_alter_table("lesson_videos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lesson_videos_file_id"), ["file_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lesson_videos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lesson_videos_file_id"))
    op.drop_table("lesson_videos")
