"""enrolled face templates, encrypted (issue 4; ATT-1/2, PLAT-3)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import models.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "face_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("template_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("photo_file_id", sa.Integer(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_face_templates_user_id_users")),
        sa.ForeignKeyConstraint(["photo_file_id"], ["stored_files.id"],
                                name=op.f("fk_face_templates_photo_file_id_stored_files")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_templates")),
        sa.UniqueConstraint("user_id", "source", name=op.f("uq_face_templates_user_id")),
    )
    with op.batch_alter_table("face_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_face_templates_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("face_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_templates_user_id"))
    op.drop_table("face_templates")
