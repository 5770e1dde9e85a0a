"""offline lesson venue: where students sign in with face + location (CLS-6, ATT-6)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = ("venue_name", "venue_address", "venue_latitude", "venue_longitude", "venue_radius_m", "venue_datum")


def upgrade() -> None:
    # All nullable: only offline lessons have a venue (the schedule API requires it for them).
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("venue_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("venue_address", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("venue_latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("venue_longitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("venue_radius_m", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("venue_datum", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lessons", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
