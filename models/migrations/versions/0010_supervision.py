"""supervision (issue 6): spectator links, content warnings and the word list, daily summaries, webhooks

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa
import models.base
from models.migrations.helpers import fk as _fk, index as _index

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

T = models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "spectator_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("supervisor_user_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("expires_at", T(), nullable=False),
        sa.Column("can_chat", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("revoked_at", T(), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.Column("last_used_at", T(), nullable=True),
        _fk("spectator_links", "lesson_id", "lessons"),
        _fk("spectator_links", "supervisor_user_id", "users"),
        _fk("spectator_links", "created_by", "users"),
        _fk("spectator_links", "revoked_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spectator_links")),
    )
    _index("spectator_links", "lesson_id")
    _index("spectator_links", "supervisor_user_id")

    op.create_table(
        "content_warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", T(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=True),
        sa.Column("class_id", sa.Integer(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("district_code", sa.String(length=6), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("matches", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", T(), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        _fk("content_warnings", "lesson_id", "lessons"),
        _fk("content_warnings", "class_id", "classes"),
        _fk("content_warnings", "user_id", "users"),
        _fk("content_warnings", "reviewed_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_warnings")),
    )
    for col in ("at", "lesson_id", "class_id", "institution_id", "district_code"):
        _index("content_warnings", col)

    op.create_table(
        "sensitive_words",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", T(), nullable=False),
        _fk("sensitive_words", "created_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensitive_words")),
        sa.UniqueConstraint("word", name=op.f("uq_sensitive_words_word")),
    )

    op.create_table(
        "daily_summaries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        _fk("daily_summaries", "class_id", "classes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_summaries")),
        sa.UniqueConstraint("class_id", "day", name=op.f("uq_daily_summaries_class_id")),
    )
    _index("daily_summaries", "class_id")
    _index("daily_summaries", "institution_id")
    _index("daily_summaries", "district_code")

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("region_prefix", sa.String(length=6), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", T(), nullable=False),
        _fk("webhook_endpoints", "institution_id", "institutions"),
        _fk("webhook_endpoints", "created_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    _index("webhook_endpoints", "institution_id")

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=48), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", T(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("delivered_at", T(), nullable=True),
        _fk("webhook_deliveries", "endpoint_id", "webhook_endpoints"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    _index("webhook_deliveries", "endpoint_id")
    _index("webhook_deliveries", "event_id")
    _index("webhook_deliveries", "status", "next_attempt_at", name="ix_webhook_deliveries_status_next")


def downgrade() -> None:
    for table in ("webhook_deliveries", "webhook_endpoints", "daily_summaries", "sensitive_words",
                  "content_warnings", "spectator_links"):
        op.drop_table(table)
