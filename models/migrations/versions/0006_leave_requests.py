"""leave requests and the lessons they cover (CLS-7, CLS-8)

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa
import models.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leave_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("student_user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("first_starts_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("class_hours", sa.Integer(), nullable=False),
        sa.Column("requested_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("decided_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_role", sa.String(length=32), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("cancelled_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["class_id"], ["classes.id"], name=op.f("fk_leave_requests_class_id_classes")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_leave_requests_decided_by_users")),
        sa.ForeignKeyConstraint(["student_user_id"], ["users.id"],
                                name=op.f("fk_leave_requests_student_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leave_requests")),
    )
    with op.batch_alter_table("leave_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leave_requests_class_id"), ["class_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_leave_requests_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_leave_requests_student_user_id"), ["student_user_id"], unique=False)

    op.create_table(
        "leave_request_lessons",
        sa.Column("leave_id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["leave_id"], ["leave_requests.id"],
                                name=op.f("fk_leave_request_lessons_leave_id_leave_requests"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"],
                                name=op.f("fk_leave_request_lessons_lesson_id_lessons"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("leave_id", "lesson_id", name=op.f("pk_leave_request_lessons")),
    )
    with op.batch_alter_table("leave_request_lessons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leave_request_lessons_lesson_id"), ["lesson_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("leave_request_lessons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leave_request_lessons_lesson_id"))
    op.drop_table("leave_request_lessons")
    with op.batch_alter_table("leave_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leave_requests_student_user_id"))
        batch_op.drop_index(batch_op.f("ix_leave_requests_status"))
        batch_op.drop_index(batch_op.f("ix_leave_requests_class_id"))
    op.drop_table("leave_requests")
