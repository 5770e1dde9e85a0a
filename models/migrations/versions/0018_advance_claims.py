"""SUB-4 advance claims: subsidy_claims.stage ("advance" | "final"), one claim of each stage per class

Revision ID: 0018
Revises: 0017
"""
from alembic import op
import sqlalchemy as sa

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subsidy_claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage", sa.String(length=16), nullable=False, server_default="final"))
        batch_op.drop_constraint("uq_subsidy_claims_class_id", type_="unique")
        batch_op.create_unique_constraint("uq_subsidy_claims_class_stage", ["class_id", "stage"])


def downgrade() -> None:
    with op.batch_alter_table("subsidy_claims", schema=None) as batch_op:
        batch_op.drop_constraint("uq_subsidy_claims_class_stage", type_="unique")
        batch_op.create_unique_constraint("uq_subsidy_claims_class_id", ["class_id"])
        batch_op.drop_column("stage")
