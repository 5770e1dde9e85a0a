"""generated reports and class archives (ATT-2, REC-2); stored_files.content_type widened to 128

Revision ID: 0017
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa
import models.base
from models.migrations.helpers import fk as _fk, index as _index

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

T = models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "class_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("generated_at", T(), nullable=False),
        sa.Column("generated_by", sa.Integer(), nullable=True),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        _fk("class_documents", "class_id", "classes"),
        _fk("class_documents", "file_id", "stored_files"),
        _fk("class_documents", "generated_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_documents")),
    )
    for col in ("class_id", "superseded"):
        _index("class_documents", col)
    with op.batch_alter_table("stored_files", schema=None) as batch_op:  # the XLSX media type is 65 characters
        batch_op.alter_column("content_type", existing_type=sa.String(length=64), type_=sa.String(length=128),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("stored_files", schema=None) as batch_op:
        batch_op.alter_column("content_type", existing_type=sa.String(length=128), type_=sa.String(length=64),
                              existing_nullable=False)
    op.drop_table("class_documents")
