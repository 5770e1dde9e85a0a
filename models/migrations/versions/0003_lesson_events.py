"""lesson event log, append-only like the audit log (issue 3 §3; ATT-2, SUP-4, SUP-6)

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import models.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lesson_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("at", models.base.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"], name=op.f("fk_lesson_events_lesson_id_lessons")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_lesson_events_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesson_events")),
    )
    with op.batch_alter_table("lesson_events", schema=None) as batch_op:
        batch_op.create_index("ix_lesson_events_lesson_id_id", ["lesson_id", "id"], unique=False)

    # Append-only at the database, exactly as 0002 does for audit_log: even the application
    # cannot rewrite a lesson's history (attendance and supervision are derived from it).
    # TRUNCATE is not a row operation and stays possible for test isolation, as for audit_log.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE OR REPLACE FUNCTION qihang_lesson_events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'lesson_events is append-only (SUP-6)';
            END;
            $$ LANGUAGE plpgsql;
        """)
        op.execute("""
            CREATE TRIGGER lesson_events_append_only BEFORE UPDATE OR DELETE ON lesson_events
            FOR EACH ROW EXECUTE FUNCTION qihang_lesson_events_append_only();
        """)
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER lesson_events_no_{verb.lower()} BEFORE {verb} ON lesson_events
                BEGIN SELECT RAISE(ABORT, 'lesson_events is append-only (SUP-6)'); END;
            """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS lesson_events_append_only ON lesson_events")
        op.execute("DROP FUNCTION IF EXISTS qihang_lesson_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS lesson_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS lesson_events_no_delete")
    with op.batch_alter_table("lesson_events", schema=None) as batch_op:
        batch_op.drop_index("ix_lesson_events_lesson_id_id")
    op.drop_table("lesson_events")
